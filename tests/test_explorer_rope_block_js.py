"""The pure maths of RopeExplorer (rope.js) and BlockPathExplorer (block_path.js), run under Node, agree with numpy."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import lessons_lib as ll
from lessons_lib.block import transformer_block_stages

EXPLORERS = Path(__file__).resolve().parents[1] / "lessons_lib" / "explorers"
NODE = shutil.which("node")


def run_js(module: str, cases):
    """[(fn, args), ...] → the results of ``module``'s exported functions (module imports ui.js, which Node can load)."""
    if NODE is None:
        if os.environ.get("CI"):
            pytest.fail("node is not installed (CI is set, so this is a failure)")
        pytest.skip("node is not installed")
    script = (
        f'import * as m from "{(EXPLORERS / module).as_uri()}"; import {{ readFileSync }} from "node:fs";'
        "const cases = JSON.parse(readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(cases.map(({fn, args}) => m[fn](...args))));"
    )
    payload = json.dumps([{"fn": fn, "args": args} for fn, args in cases])
    done = subprocess.run([NODE, "--input-type=module", "-e", script], input=payload, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_rope_js_matches_lessons_lib_rope():
    rng = np.random.default_rng(0)
    cases, expected = [], []
    for d, base in ((2, 10000.0), (8, 10000.0), (16, 100.0)):
        q, k = rng.normal(size=d), rng.normal(size=d)
        for m, n in ((0, 0), (5, 2), (2, 5), (63, 17), (400, 399)):
            cases.append(("ropeScore", [q.tolist(), k.tolist(), m, n, base]))
            q_rot, k_rot = ll.rope(q[None], [m], base)[0], ll.rope(k[None], [n], base)[0]
            expected.append((q_rot, k_rot, float(q_rot @ k_rot)))
    for result, (q_rot, k_rot, score) in zip(run_js("rope.js", cases), expected):
        np.testing.assert_allclose(result["qRot"], q_rot, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(result["kRot"], k_rot, rtol=1e-9, atol=1e-12)
        assert result["score"] == pytest.approx(score, rel=1e-9, abs=1e-12)
        assert sum(result["contributions"]) == pytest.approx(score, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("norm_first", [True, False])
def test_block_path_js_matches_numpy(norm_first):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 8))
    params = ll.init_block_params(8, 2, 12, seed=2)
    _, stages, weights = transformer_block_stages(x, params, 2, norm_first=norm_first)
    cases = [("tokenPath", [stages.tolist(), weights.tolist(), t]) for t in range(5)]
    for t, result in enumerate(run_js("block_path.js", cases)):
        np.testing.assert_allclose(result["norms"], np.linalg.norm(stages[:, t], axis=-1), rtol=1e-12)
        np.testing.assert_allclose(result["attention"], weights[:, t], rtol=1e-12)


def test_explorers_python_side_checks_and_numpy_answers():
    from lessons_lib.explorers import BlockPathExplorer, ExplorerValueError, RopeExplorer

    rng = np.random.default_rng(3)
    q, k = rng.normal(size=8), rng.normal(size=8)
    explorer = RopeExplorer(q, k, 7, 3, max_position=20)
    score = explorer.score()
    explorer.query_position, explorer.key_position = 17, 13
    assert explorer.score() == pytest.approx(score, abs=1e-12)  # same offset, same score
    for bad in (dict(q=q[:7], k=k[:7]), dict(q=q, k=k[:6]), dict(q=q, k=k, max_position=0), dict(q=q, k=k, base=1.0)):
        with pytest.raises(ExplorerValueError):
            RopeExplorer(**bad)
    with pytest.raises(ExplorerValueError, match="query_position"):
        explorer.query_position = 21

    x = rng.normal(size=(4, 8))
    params = ll.init_block_params(8, 2, 12)
    path = BlockPathExplorer(list("abcd"), x, params, 2, token_index=2)
    names, norms, attention = path.path()
    out, weights = ll.transformer_block(x, params, 2)
    assert names[0] == "x (input)" and len(names) == 7
    assert norms[-1] == pytest.approx(np.linalg.norm(out[2]))
    np.testing.assert_allclose(attention, weights[:, 2])
    path.norm_first = False
    post, _ = ll.transformer_block(x, params, 2, norm_first=False)
    assert path.path()[1][-1] == pytest.approx(np.linalg.norm(post[2]))
    with pytest.raises(ExplorerValueError):
        BlockPathExplorer(list("abc"), x, params, 2)
    with pytest.raises(ExplorerValueError, match="must divide"):
        BlockPathExplorer(list("abcd"), x, params, 3)


def test_explorers_refuse_new_data_from_the_page_and_have_a_static_picture():
    from lessons_lib.explorers import BlockPathExplorer, ExplorerValueError, RopeExplorer

    rope_explorer = RopeExplorer(np.ones(4), np.ones(4), 2, 1)
    with pytest.raises(ExplorerValueError, match="fixed"):
        rope_explorer.q = [0.0, 0.0, 0.0, 0.0]
    with pytest.raises(ExplorerValueError, match="limit"):
        RopeExplorer(np.ones(66), np.ones(66))
    assert "score" in rope_explorer._summary() and rope_explorer._fallback_svg().startswith("<svg")
    params = ll.init_block_params(8, 2, 12)
    path = BlockPathExplorer(list("abcd"), np.ones((4, 8)) * np.arange(8), params, 2)
    with pytest.raises(ExplorerValueError, match="fixed"):
        path.tokens = ["w", "x", "y", "z"]
    with pytest.raises(ExplorerValueError, match="limit"):
        BlockPathExplorer([f"t{i}" for i in range(33)], np.ones((33, 8)), params, 2)
    assert "post-norm" in (path.set_trait("norm_first", False) or path._summary())
    assert "<svg" in path._fallback_svg()
