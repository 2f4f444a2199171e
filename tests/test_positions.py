"""Tests of lessons_lib.positions: sinusoidal positions, RoPE (against transformers' rotary code) and ALiBi."""

import math

import numpy as np
import pytest

import lessons_lib as ll


# ---------------------------------------------------------------- sinusoidal positions


def test_sinusoidal_layout_is_interleaved_sin_cos():
    table = ll.sinusoidal_positions(7, 6, base=100.0)
    assert table.shape == (7, 6) and table.dtype == np.float64
    for pos in range(7):
        for i in range(3):
            angle = pos / 100.0 ** (2 * i / 6)
            assert table[pos, 2 * i] == pytest.approx(math.sin(angle), abs=1e-15)
            assert table[pos, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-15)
    np.testing.assert_array_equal(table[0, 0::2], 0.0)
    np.testing.assert_array_equal(table[0, 1::2], 1.0)


def test_sinusoidal_dot_product_depends_only_on_distance():
    table = ll.sinusoidal_positions(64, 32)
    gram = table @ table.T
    for offset in range(-20, 21):
        diagonal = np.diagonal(gram, offset)
        np.testing.assert_allclose(diagonal, diagonal[0], atol=1e-12)
    np.testing.assert_allclose(gram, gram.T, atol=1e-12)  # and on |i - j| only: symmetric


@pytest.mark.parametrize(
    "args, error, message",
    [
        ((5, 7), ValueError, "d must be even"),
        ((0, 4), ValueError, "n must be positive"),
        ((5, 0), ValueError, "d must be positive"),
        ((5.0, 4), TypeError, "n must be an integer"),
        ((True, 4), TypeError, "n must be an integer"),
        ((5, 4, 1.0), ValueError, "base must be a finite number greater than 1"),
        ((5, 4, float("inf")), ValueError, "base"),
        ((5, 4, "10000"), TypeError, "base must be a real number"),
    ],
)
def test_sinusoidal_rejects_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        ll.sinusoidal_positions(*args)


# ---------------------------------------------------------------- RoPE


def test_rope_keeps_shape_dtype_and_norm_and_is_identity_at_position_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 5, 8)).astype(np.float32)
    y = ll.rope(x)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5)
    np.testing.assert_array_equal(y[..., 0, :], x[..., 0, :])
    assert ll.rope(x.astype(np.float64)).dtype == np.float64


def test_rope_pairs_dimension_i_with_i_plus_half():
    d = 6
    x = np.zeros((1, d))
    x[0, 1] = 1.0  # a unit vector in dimension 1 rotates in the (1, 4) plane only
    angle = 3 * 10000.0 ** (-2 * 1 / d)
    y = ll.rope(x, positions=[3])
    expected = np.zeros(d)
    expected[1], expected[4] = math.cos(angle), math.sin(angle)
    np.testing.assert_allclose(y[0], expected, atol=1e-15)


def test_rope_score_depends_only_on_the_offset():
    rng = np.random.default_rng(1)
    q, k = rng.normal(size=(1, 16)), rng.normal(size=(1, 16))
    scores = {}
    for m in range(0, 40, 3):
        for n in range(0, 40, 5):
            score = float((ll.rope(q, [m]) @ ll.rope(k, [n]).T)[0, 0])
            scores.setdefault(m - n, []).append(score)
    for offset, values in scores.items():
        np.testing.assert_allclose(values, values[0], atol=1e-10, err_msg=f"offset {offset}")
    assert len({round(v[0], 6) for v in scores.values()}) > 10  # ...but it does depend on the offset


def test_rope_default_positions_and_float_positions():
    x = np.random.default_rng(2).normal(size=(4, 6))
    np.testing.assert_array_equal(ll.rope(x), ll.rope(x, positions=np.arange(4)))
    np.testing.assert_allclose(ll.rope(x, positions=[0.5, 1.5, 2.5, 3.5])[1], ll.rope(x[1:2], positions=[1.5])[0])


def test_rope_matches_transformers_llama_rotary():
    torch = pytest.importorskip("torch")
    llama = pytest.importorskip("transformers.models.llama.modeling_llama")
    rng = np.random.default_rng(3)
    batch, heads, n, d, base = 2, 3, 9, 16, 500.0
    q, k = rng.normal(size=(batch, heads, n, d)), rng.normal(size=(batch, heads, n, d))
    positions = np.array([0, 1, 2, 5, 6, 7, 20, 21, 100])
    inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))  # as LlamaRotaryEmbedding
    freqs = torch.tensor(positions, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)[None]  # (1, n, d)
    q_t, k_t = llama.apply_rotary_pos_emb(torch.tensor(q), torch.tensor(k), emb.cos(), emb.sin())
    np.testing.assert_allclose(ll.rope(q, positions, base=base), q_t.numpy(), atol=1e-12)
    np.testing.assert_allclose(ll.rope(k, positions, base=base), k_t.numpy(), atol=1e-12)
    half = torch.tensor(q)
    np.testing.assert_allclose(llama.rotate_half(half).numpy(), np.concatenate([-q[..., d // 2:], q[..., : d // 2]], -1))


@pytest.mark.parametrize(
    "x, kwargs, error, message",
    [
        (np.ones((3, 5)), {}, ValueError, "even"),
        (np.ones(4), {}, ValueError, "at least 2 dimensions"),
        (np.ones((0, 4)), {}, ValueError, "empty sequence"),
        (np.ones((3, 4)), {"positions": [0, 1]}, ValueError, r"one position per row of x \(n=3\)"),
        (np.ones((3, 4)), {"positions": [[0, 1, 2]]}, ValueError, "1-D"),
        (np.ones((3, 4)), {"positions": [0, 1, np.nan]}, ValueError, "non-finite"),
        (np.ones((3, 4)), {"positions": [True, False, True]}, TypeError, "booleans"),
        (np.ones((3, 4)), {"positions": "abc"}, TypeError, "positions"),
        (np.ones((3, 4)), {"base": 0.5}, ValueError, "base"),
        (np.array([[1.0, np.inf]]), {}, ValueError, "x contains non-finite"),
        ("text", {}, TypeError, "x must be a numeric array"),
    ],
)
def test_rope_rejects_bad_input(x, kwargs, error, message):
    with pytest.raises(error, match=message):
        ll.rope(x, **kwargs)


# ---------------------------------------------------------------- ALiBi


def test_alibi_slopes_powers_of_two_and_the_papers_rule_otherwise():
    np.testing.assert_allclose(ll.alibi_slopes(8), [2.0 ** -(h) for h in range(1, 9)])
    np.testing.assert_allclose(ll.alibi_slopes(4), [2.0 ** (-2 * h) for h in range(1, 5)])
    # 6 heads: the 4 slopes of 4 heads, then slopes 1 and 3 (0-based 0 and 2) of 8 heads
    np.testing.assert_allclose(ll.alibi_slopes(6), [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3])
    assert ll.alibi_slopes(12).shape == (12,)


def test_alibi_bias_matches_its_definition_and_aligns_to_the_last_key():
    bias = ll.alibi_bias(4, 3, 5)
    assert bias.shape == (4, 3, 5)
    slopes = ll.alibi_slopes(4)
    for h in range(4):
        for i in range(3):
            for j in range(5):
                assert bias[h, i, j] == -slopes[h] * abs((i + 2) - j)
    np.testing.assert_array_equal(np.diagonal(bias, offset=2, axis1=1, axis2=2), 0.0)  # each query at its own key
    np.testing.assert_array_equal(ll.alibi_bias(2, 4), ll.alibi_bias(2, 4, 4))
    assert (ll.alibi_bias(2, 4) <= 0).all()


@pytest.mark.parametrize(
    "args, error, message",
    [((0, 3), ValueError, "num_heads"), ((2, 0), ValueError, "n_q"), ((2, 3, 0), ValueError, "n_k"),
     ((2.0, 3), TypeError, "num_heads must be an integer"), ((2, 3, 1.5), TypeError, "n_k")],
)
def test_alibi_rejects_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        ll.alibi_bias(*args)
