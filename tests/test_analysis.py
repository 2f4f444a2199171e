"""Tests of lessons_lib.analysis: entropy, the softmax Jacobian and dot-product statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lessons_lib as ll
from lessons_lib.analysis import (
    entropy,
    expected_dot_product_variance,
    sample_dot_products,
    softmax_jacobian,
)


def finite_difference_jacobian(x, h=1e-6):
    """Central differences of softmax over the last axis of a 1-D x: column j is ∂p/∂x_j."""
    cols = [(ll.softmax(x + h * e) - ll.softmax(x - h * e)) / (2 * h) for e in np.eye(x.shape[-1])]
    return np.stack(cols, axis=-1)


# ---------- entropy ----------

@pytest.mark.parametrize("n", [1, 2, 5, 64])
def test_entropy_of_uniform_is_log_n(n):
    assert entropy(np.full(n, 1.0 / n)) == pytest.approx(math.log(n), abs=1e-12)


def test_entropy_of_one_hot_is_zero_and_not_negative():
    h = entropy(np.array([0.0, 1.0, 0.0, 0.0]))
    assert h == 0.0 and not np.signbit(h)


def test_entropy_known_value_and_bits():
    p = np.array([0.5, 0.25, 0.25])
    assert entropy(p) == pytest.approx(1.5 * math.log(2), abs=1e-12)
    assert entropy(p, base=2) == pytest.approx(1.5, abs=1e-12)
    assert entropy(np.full(10, 0.1), base=10) == pytest.approx(1.0, abs=1e-12)


def test_entropy_axis_and_shape():
    rng = np.random.default_rng(1)
    w = ll.softmax(rng.normal(size=(3, 4, 5)), axis=1)
    h = entropy(w, axis=1)
    assert h.shape == (3, 5)
    manual = -(w * np.log(w)).sum(axis=1)
    np.testing.assert_allclose(h, manual, rtol=1e-12)
    np.testing.assert_allclose(entropy(np.moveaxis(w, 1, -1)), manual, rtol=1e-12)


def test_entropy_is_at_most_log_n_and_keeps_float32():
    rng = np.random.default_rng(2)
    w = ll.softmax(rng.normal(scale=3.0, size=(200, 7))).astype(np.float32)
    h = entropy(w)
    assert h.dtype == np.float32
    assert (h >= 0).all() and (h <= math.log(7) + 1e-6).all()


@pytest.mark.parametrize(
    "bad, kwargs, exc, words",
    [
        ([0.5, 0.6], {}, ValueError, "sum to 1"),
        ([1.2, -0.2], {}, ValueError, "non-negative"),
        ([0.5, np.nan], {}, ValueError, "non-finite"),
        (0.5, {}, ValueError, "at least 1"),
        (np.zeros((2, 0)), {}, ValueError, "empty"),
        ("abc", {}, TypeError, "weights"),
        ([[0.5, 0.5]], {"axis": 2}, ValueError, "out of range"),
        ([[0.5, 0.5]], {"axis": 1.0}, TypeError, "axis"),
        ([0.5, 0.5], {"base": 1}, ValueError, "base"),
        ([0.5, 0.5], {"base": -2}, ValueError, "positive"),
        ([0.5, 0.5], {"base": "e"}, TypeError, "base"),
    ],
)
def test_entropy_bad_input(bad, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        entropy(bad, **kwargs)


# ---------- softmax_jacobian ----------

def test_jacobian_matches_finite_differences():
    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 12):
        x = rng.normal(scale=2.0, size=n)
        np.testing.assert_allclose(softmax_jacobian(x), finite_difference_jacobian(x), atol=1e-8)


def test_jacobian_known_answer_for_equal_scores():
    n = 4
    expected = np.eye(n) / n - np.full((n, n), 1.0 / n**2)
    np.testing.assert_allclose(softmax_jacobian(np.zeros(n)), expected, atol=1e-15)


def test_jacobian_rows_and_columns_sum_to_zero_and_it_is_symmetric():
    rng = np.random.default_rng(4)
    x = rng.normal(scale=3.0, size=(2, 3, 6))
    jac = softmax_jacobian(x)
    assert jac.shape == (2, 3, 6, 6)
    np.testing.assert_allclose(jac.sum(axis=-1), 0.0, atol=1e-15)
    np.testing.assert_allclose(jac.sum(axis=-2), 0.0, atol=1e-15)
    np.testing.assert_allclose(jac, np.swapaxes(jac, -1, -2), atol=1e-15)
    for idx in np.ndindex(2, 3):
        np.testing.assert_allclose(jac[idx], finite_difference_jacobian(x[idx]), atol=1e-8)


def test_jacobian_vanishes_when_softmax_saturates():
    small = np.linalg.norm(softmax_jacobian(np.array([0.0, 1.0, 2.0])))
    large = np.linalg.norm(softmax_jacobian(np.array([0.0, 100.0, 200.0])))
    assert large < 1e-30 < small


def test_jacobian_masked_entry_has_zero_row_and_column_and_no_overflow():
    jac = softmax_jacobian(np.array([1e4, -np.inf, 1e4 - 1.0]))
    assert np.isfinite(jac).all()
    assert (jac[1] == 0).all() and (jac[:, 1] == 0).all()


def test_jacobian_keeps_float32():
    assert softmax_jacobian(np.zeros(3, dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize(
    "bad, exc, words",
    [
        (1.0, ValueError, "at least 1"),
        ([np.nan, 0.0], ValueError, "NaN"),
        ([np.inf, 0.0], ValueError, r"\+inf"),
        ([-np.inf, -np.inf], ValueError, "entirely -inf"),
        (np.zeros((3, 0)), ValueError, "empty"),
        ("x", TypeError, "x must be"),
        ([1 + 1j, 0], TypeError, "real"),
    ],
)
def test_jacobian_bad_input(bad, exc, words):
    with pytest.raises(exc, match=words):
        softmax_jacobian(bad)


# ---------- dot-product statistics ----------

def test_expected_variance_formula():
    assert expected_dot_product_variance(64) == 64.0
    assert expected_dot_product_variance(10, std=2.0) == 160.0
    assert expected_dot_product_variance(3, std=1.0, mean=1.0) == 9.0


@pytest.mark.parametrize("d_k, std, mean", [(1, 1.0, 0.0), (16, 1.0, 0.0), (256, 1.0, 0.0), (32, 2.0, 0.0), (8, 0.5, 1.0)])
def test_sampled_variance_matches_the_formula(d_k, std, mean):
    n = 20_000
    s = sample_dot_products(d_k, n, std=std, mean=mean, seed=5)
    assert s.shape == (n,)
    expected = expected_dot_product_variance(d_k, std=std, mean=mean)
    # Sample variance has relative standard error about sqrt((kurtosis - 1) / n) <= sqrt(10 / n) here.
    assert abs(s.var() / expected - 1) < 5 * math.sqrt(10 / n)
    assert abs(s.mean() - d_k * mean**2) < 5 * math.sqrt(expected / n)


def test_samples_are_deterministic_and_chunking_does_not_change_the_distribution():
    a = sample_dot_products(8, 1000, seed=11)
    np.testing.assert_array_equal(a, sample_dot_products(8, 1000, seed=11))
    assert not np.array_equal(a, sample_dot_products(8, 1000, seed=12))
    big = sample_dot_products(300_000, 20, seed=0)  # many chunks of one row
    assert big.shape == (20,) and abs(big.var() / 300_000 - 1) < 1.0


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"d_k": 0, "n_samples": 5}, ValueError, "d_k must be positive"),
        ({"d_k": 2.5, "n_samples": 5}, TypeError, "d_k"),
        ({"d_k": 4, "n_samples": 0}, ValueError, "n_samples"),
        ({"d_k": 4, "n_samples": 5, "std": -1.0}, ValueError, "std"),
        ({"d_k": 4, "n_samples": 5, "std": np.inf}, ValueError, "std"),
        ({"d_k": 4, "n_samples": 5, "mean": "0"}, TypeError, "mean"),
        ({"d_k": 4, "n_samples": 5, "seed": 1.5}, TypeError, "seed"),
        ({"d_k": 4, "n_samples": 5, "seed": -1}, ValueError, "seed must be at least 0, got -1"),
        ({"d_k": 4, "n_samples": 5, "std": 1e200}, ValueError, "std=1e.200 and mean=0 are too large for d_k=4"),
        ({"d_k": 4, "n_samples": 5, "std": 1.0, "mean": 1e160}, ValueError, "mean=1e.160 are too large"),
    ],
)
def test_sample_dot_products_bad_input(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        sample_dot_products(**kwargs)


def test_expected_variance_bad_input():
    with pytest.raises(ValueError, match="d_k"):
        expected_dot_product_variance(-3)
    with pytest.raises(ValueError, match="std=1e.155 and mean=0 are too large for d_k=3: the variance of q·k"):
        expected_dot_product_variance(3, std=1e155)
    with pytest.raises(ValueError, match="mean=1e.300 are too large"):
        expected_dot_product_variance(3, std=1.0, mean=1e300)
    with pytest.raises(TypeError, match="std"):
        expected_dot_product_variance(3, std=None)


def test_a_large_but_safe_std_is_still_accepted():
    # Only sizes whose dot products would overflow are refused: std = 1e100 gives |q·k| near 1e200.
    assert np.isfinite(sample_dot_products(4, 10, std=1e100)).all()
    assert np.isfinite(expected_dot_product_variance(4, std=1e70))
