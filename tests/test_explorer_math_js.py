"""The explorers' JavaScript maths (lessons_lib/explorers/math.js, run under Node) agrees with numpy.

Random inputs, every mask mode, all-masked rows, and scales from far below to far above 1/√d_k.
All cases go to one Node process (js/tests/run_math.mjs) and come back as JSON.
"""

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import lessons_lib as ll
from lessons_lib import online_softmax_steps
from lessons_lib.masks import explorer_mask

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "js" / "tests" / "run_math.mjs"
NODE = shutil.which("node")
RTOL, ATOL = 1e-6, 1e-9
SCALE_FACTORS = [1e-2, 0.1, 1.0, 10.0, 100.0, 1e4]  # × 1/√d_k: the slider spans 1e-2 … 1e2, and beyond


def _need_node():
    if NODE is None:
        if os.environ.get("CI"):
            pytest.fail("node is not installed (CI is set, so this is a failure)")
        pytest.skip("node is not installed")


def run_js(cases):
    """[(fn, args), ...] → the results of math.js's functions, in order."""
    _need_node()

    def encode(x):
        if isinstance(x, np.ndarray):
            return encode(x.tolist())
        if isinstance(x, (list, tuple)):
            return [encode(item) for item in x]
        if isinstance(x, (float, np.floating)) and math.isinf(x):
            return "-Infinity" if x < 0 else "Infinity"
        if isinstance(x, (np.bool_,)):
            return bool(x)
        if isinstance(x, np.integer):
            return int(x)
        if isinstance(x, np.floating):
            return float(x)
        return x

    payload = json.dumps([{"fn": fn, "args": encode(list(args))} for fn, args in cases])
    done = subprocess.run([NODE, str(RUNNER)], input=payload, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

    def decode(x):
        if isinstance(x, list):
            return [decode(item) for item in x]
        if isinstance(x, dict):
            return {key: decode(value) for key, value in x.items()}
        if x == "-Infinity":
            return -math.inf
        if x == "Infinity":
            return math.inf
        return x

    return decode(json.loads(done.stdout))


def close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=RTOL, atol=ATOL)


def test_softmax_matches_numpy_including_minus_infinity_and_huge_scores():
    rng = np.random.default_rng(1)
    vectors = [rng.normal(size=n) * s for n in (1, 2, 7, 40) for s in (1e-3, 1.0, 30.0, 1e4)]
    with_holes = []
    for x in vectors[:8]:
        y = x.copy()
        y[rng.random(y.size) < 0.4] = -np.inf
        y[0] = 0.5  # keep one key visible
        with_holes.append(y)
    cases = [("softmax", [x]) for x in vectors + with_holes] + [("softmax", [[-np.inf, -np.inf]])]
    results = run_js(cases)
    for (_, (x,)), got in zip(cases[:-1], results[:-1]):
        close(got, ll.softmax(np.asarray(x)))
        assert sum(got) == pytest.approx(1.0, abs=1e-12)
    assert results[-1] is None  # every entry masked: no softmax (numpy raises ValueError)
    with pytest.raises(ValueError):
        ll.softmax(np.array([-np.inf, -np.inf]))


def test_entropy_matches_lessons_lib():
    rng = np.random.default_rng(2)
    distributions = [ll.softmax(rng.normal(size=n) * s) for n in (2, 5, 30) for s in (0.1, 1, 10, 300)]
    distributions.append(np.array([0.0, 1.0, 0.0]))
    results = run_js([("entropy", [p]) for p in distributions])
    for p, got in zip(distributions, results):
        close(got, ll.entropy(p))


@pytest.mark.parametrize("seed", range(4))
def test_soft_lookup_matches_numpy(seed):
    rng = np.random.default_rng(10 + seed)
    cases, expected = [], []
    for scale in (0.0, 1e-3, 1.0, 7.5, 50.0, 1e3):
        n, d_v = rng.integers(1, 9), rng.integers(1, 4)
        keys, values, query = rng.normal(size=(n, 2)) * 2, rng.normal(size=(n, d_v)), rng.normal(size=2) * 3
        cases.append(("softLookup", [query, keys, values, scale]))
        expected.append(ll.soft_lookup(query, keys, values, scale=scale))
    for got, (output, weights) in zip(run_js(cases), expected):
        close(got["weights"], weights)
        close(got["output"], output)


def _random_attention_case(rng):
    n = int(rng.integers(2, 13))
    d_k, d_v = int(rng.integers(1, 9)), int(rng.integers(1, 5))
    q, k, v = rng.normal(size=(n, d_k)), rng.normal(size=(n, d_k)), rng.normal(size=(n, d_v))
    return n, d_k, q, k, v


@pytest.mark.parametrize("mode", ["none", "causal", "padding", "custom"])
@pytest.mark.parametrize("seed", range(3))
def test_attention_row_every_step_matches_numpy(mode, seed):
    rng = np.random.default_rng(100 * seed + len(mode))
    mask_cases, cases, expected = [], [], []
    for factor in SCALE_FACTORS:
        n, d_k, q, k, v = _random_attention_case(rng)
        scale = factor / math.sqrt(d_k)
        padding_length = int(rng.integers(1, n + 1))
        cells = [(int(i), int(j)) for i, j in zip(*np.nonzero(rng.random((n, n)) < 0.3))]
        allowed = explorer_mask(mode, n, padding_length, cells)
        mask_cases.append((("maskMatrix", [mode, n, padding_length, cells]), allowed))
        for i in range(n):
            cases.append(("attentionRow", [q[i], k, v, scale, allowed[i]]))
            expected.append((q, k, v, scale, allowed, i))
    results = run_js([case for case, _ in mask_cases] + cases)
    for allowed_js, (_, allowed) in zip(results, mask_cases):
        assert np.array_equal(np.array(allowed_js), allowed), "maskMatrix disagrees with lessons_lib's masks"
    for got, (q, k, v, scale, allowed, i) in zip(results[len(mask_cases):], expected):
        scores = k @ q[i]
        close(got["scores"], scores)
        close(got["scaled"], scale * scores)
        masked = np.where(allowed[i], scale * scores, -np.inf)
        assert [m == -math.inf for m in got["masked"]] == list(~allowed[i])
        close(np.where(allowed[i], got["masked"], 0), np.where(allowed[i], masked, 0))
        if not allowed[i].any():
            assert got["weights"] is None and got["output"] is None and got["entropy"] is None
            with pytest.raises(ValueError, match="every key is masked"):
                ll.scaled_dot_product_attention(q, k, v, mask=allowed, scale=scale)
            continue
        row_mask = np.zeros_like(allowed)
        row_mask[:] = True
        row_mask[i] = allowed[i]  # other rows may be all-masked in custom mode; check this row alone
        output, weights = ll.scaled_dot_product_attention(q, k, v, mask=row_mask, scale=scale)
        close(got["weights"], weights[i])
        close(got["output"], output[i])
        close(got["entropy"], ll.entropy(weights[i]))
        assert all(w == 0 for w, a in zip(got["weights"], allowed[i]) if not a)


def test_attention_weights_matrix_matches_numpy():
    rng = np.random.default_rng(5)
    cases, expected = [], []
    for mode in ("none", "causal", "padding"):
        for factor in SCALE_FACTORS:
            n, d_k, q, k, v = _random_attention_case(rng)
            scale = factor / math.sqrt(d_k)
            allowed = explorer_mask(mode, n, max(1, n - 2))
            cases.append(("attentionWeights", [q, k, scale, allowed]))
            expected.append(ll.scaled_dot_product_attention(q, k, v, mask=allowed, scale=scale)[1])
    for got, weights in zip(run_js(cases), expected):
        close(got, weights)


def test_extreme_scales_saturate_like_numpy():
    """Far above 1/√d_k the row is one-hot on the best key; far below it is uniform — in both languages."""
    rng = np.random.default_rng(6)
    n, d_k, q, k, v = 8, 4, rng.normal(size=(8, 4)), rng.normal(size=(8, 4)), rng.normal(size=(8, 2))
    tiny, huge = run_js([("attentionRow", [q[0], k, v, 1e-8, None]), ("attentionRow", [q[0], k, v, 1e6, None])])
    close(tiny["weights"], np.full(n, 1 / n))
    close(tiny["entropy"], math.log(n))
    one_hot = np.eye(n)[np.argmax(k @ q[0])]
    close(huge["weights"], one_hot)
    close(huge["weights"], ll.scaled_dot_product_attention(q, k, v, scale=1e6)[1][0])
    assert huge["entropy"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_online_softmax_matches_numpy_step_by_step(seed):
    rng = np.random.default_rng(40 + seed)
    cases, expected = [], []
    for block_size in (1, 2, 3, 5, 16):
        n, d, d_v = int(rng.integers(block_size, 20)), int(rng.integers(1, 6)), int(rng.integers(1, 4))
        q, k, v = rng.normal(size=d), rng.normal(size=(n, d)) * 4, rng.normal(size=(n, d_v))
        scale = float(rng.choice([0.01, 1 / math.sqrt(d), 20.0]))
        cases.append(("onlineSoftmax", [q, k, v, block_size, scale]))
        expected.append((online_softmax_steps(q, k, v, block_size, scale), ll.scaled_dot_product_attention(q[None], k, v, scale=scale)[0][0]))
    for got, (steps, exact) in zip(run_js(cases), expected):
        assert len(got["steps"]) == len(steps)
        for js, py in zip(got["steps"], steps):
            assert (js["start"], js["end"]) == (py["start"], py["end"])
            for key_js, key_py in (("blockMax", "block_max"), ("m", "m"), ("correction", "correction"), ("l", "l"), ("acc", "acc"), ("output", "output")):
                close(js[key_js], py[key_py])
        close(got["steps"][-1]["output"], exact)


def test_node_property_tests_pass():
    """js/tests/math.test.mjs: properties that need no reference (softmax shift invariance, causal zeros, ...)."""
    _need_node()
    done = subprocess.run([NODE, "--test", str(ROOT / "js" / "tests" / "math.test.mjs")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout
