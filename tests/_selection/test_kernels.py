"""Tests of fairlearn_divine._selection._kernels (BlockKernel) against dense numpy kernels."""

import tracemalloc

import numpy as np
import pytest
from _divine_reference import pairwise_distances, rbf_dense

from fairlearn_divine._selection import _kernels
from fairlearn_divine._selection._kernels import BlockKernel, median_pairwise_distance


def _points(n, d=3, seed=0, loc=0.0):
    return np.random.default_rng(seed).normal(loc=loc, size=(n, d))


def laplacian(A, B):
    return np.exp(-np.abs(A[:, None, :] - B[None, :, :]).sum(axis=-1))


@pytest.fixture
def small_tiles(monkeypatch):
    """Tiny tiles, so that small n exercises the tiled code paths (ragged last tiles too)."""
    monkeypatch.setattr(_kernels, "ROW_TILE", 7)
    monkeypatch.setattr(_kernels, "COL_TILE", 3)


@pytest.mark.parametrize("bandwidth", [0.3, 1.0, 4.0])
def test_block_equals_dense_rbf(bandwidth):
    X = _points(40)
    K = rbf_dense(X, bandwidth)
    bk = BlockKernel(X, bandwidth=bandwidth)
    assert bk.dtype == np.float64
    np.testing.assert_allclose(bk.block(slice(None), slice(None)), K, rtol=1e-12, atol=1e-14)
    rows, cols = np.array([3, 0, 39, 3]), np.array([5, 5, 1])
    np.testing.assert_allclose(bk.block(rows, cols), K[np.ix_(rows, cols)], rtol=1e-12)
    np.testing.assert_allclose(bk.block(slice(10, 17), cols), K[10:17][:, cols], rtol=1e-12)


def test_block_does_not_mutate_input():
    X = _points(30)
    X_copy = X.copy()
    bk = BlockKernel(X, bandwidth=1.0)
    bk.column_sums()
    bk.columns([1, 2])
    np.testing.assert_array_equal(X, X_copy)


@pytest.mark.parametrize("tiles", ["default", "small"])
def test_column_sums_equal_dense(tiles, request):
    if tiles == "small":
        request.getfixturevalue("small_tiles")
    X = _points(53, d=4, seed=1)
    K = rbf_dense(X, 1.3)
    bk = BlockKernel(X, bandwidth=1.3)
    np.testing.assert_allclose(bk.column_sums(), K.sum(axis=0), rtol=1e-12)
    assert bk.column_sums() is bk.column_sums()  # computed once


def test_column_sums_several_default_tiles():
    # more than one ROW_TILE (2048) and several COL_TILEs (512), still float64
    X = _points(2600, d=2, seed=2)
    bk = BlockKernel(X, bandwidth=0.7)
    assert bk.dtype == np.float64
    cols = np.random.default_rng(0).choice(2600, size=40, replace=False)
    expected = np.exp(-((X[:, None, :] - X[None, cols, :]) ** 2).sum(-1) / (2 * 0.7**2)).sum(
        axis=0
    )
    np.testing.assert_allclose(bk.column_sums()[cols], expected, rtol=1e-11)


@pytest.mark.parametrize("tiles", ["default", "small"])
def test_columns_equal_dense_and_cache(tiles, request):
    if tiles == "small":
        request.getfixturevalue("small_tiles")
    X = _points(29, seed=3)
    K = rbf_dense(X, 0.9)
    bk = BlockKernel(X, bandwidth=0.9)
    cols = [4, 0, 28, 4]
    np.testing.assert_allclose(bk.columns(cols), K[:, cols], rtol=1e-12)
    np.testing.assert_allclose(bk.column(7), K[:, 7], rtol=1e-12)
    before = bk.n_column_evaluations
    np.testing.assert_allclose(bk.column(7), K[:, 7], rtol=1e-12)  # from the cache
    assert bk.n_column_evaluations == before
    assert bk.columns([1]).dtype == np.float64


@pytest.mark.parametrize("tiles", ["default", "small"])
def test_reduce_columns_equals_dense(tiles, request):
    if tiles == "small":
        request.getfixturevalue("small_tiles")
    X = _points(31, seed=4)
    K = rbf_dense(X, 1.1)
    bk = BlockKernel(X, bandwidth=1.1)
    cols = np.array([30, 2, 2, 17, 9])
    w = np.linspace(-1, 1, 31)
    out = bk.reduce_columns(cols, lambda tile, rows: (w[rows, None] * tile).sum(axis=0))
    np.testing.assert_allclose(out, w @ K[:, cols], rtol=1e-12, atol=1e-14)


def test_diagonal():
    X = _points(12)
    np.testing.assert_array_equal(BlockKernel(X, bandwidth=2.0).diagonal(), np.ones(12))
    bk = BlockKernel(X, kernel=lambda A, B: 3.0 * laplacian(A, B))
    np.testing.assert_allclose(bk.diagonal(), np.full(12, 3.0))
    np.testing.assert_allclose(bk.diagonal([2, 5]), [3.0, 3.0])


def test_callable_kernel_equals_dense(small_tiles):
    X = _points(25, seed=5)
    K = laplacian(X, X)
    bk = BlockKernel(X, kernel=laplacian)
    np.testing.assert_allclose(bk.block(slice(None), slice(None)), K, rtol=1e-12)
    np.testing.assert_allclose(bk.column_sums(), K.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bk.columns([3, 1]), K[:, [3, 1]], rtol=1e-12)
    kappa, exact = bk.total_sum()
    assert exact
    assert kappa == pytest.approx(K.sum(), rel=1e-12)


def test_total_sum_exact_small_n():
    X = _points(120, seed=6)
    K = rbf_dense(X, 0.8)
    kappa, exact = BlockKernel(X, bandwidth=0.8).total_sum()
    assert exact
    assert kappa == pytest.approx(K.sum(), rel=1e-12)


def test_total_sum_sampled_estimate_and_seeded():
    X = _points(600, d=2, seed=7)
    K = rbf_dense(X, 1.0)
    kappa, exact = BlockKernel(X, bandwidth=1.0).total_sum(max_exact=100, random_state=0)
    assert not exact
    assert kappa == pytest.approx(K.sum(), rel=0.02)
    again, _ = BlockKernel(X, bandwidth=1.0).total_sum(max_exact=100, random_state=0)
    assert again == kappa


def test_median_pairwise_distance_small_n_is_exact():
    X = _points(200, seed=8)
    D = pairwise_distances(X)
    expected = np.median(D[np.triu_indices(200, k=1)])
    assert median_pairwise_distance(X) == pytest.approx(expected, rel=1e-10)


def test_median_pairwise_distance_sampled_is_seeded():
    X = _points(1500, d=2, seed=9)
    a = median_pairwise_distance(X, random_state=3)
    assert a == median_pairwise_distance(X, random_state=3)
    D = pairwise_distances(X)
    assert a == pytest.approx(np.median(D[np.triu_indices(len(D), k=1)]), rel=0.03)


def test_float32_threshold():
    assert _kernels.FLOAT32_ABOVE == 5000
    assert BlockKernel(_points(5000, d=2), bandwidth=1.0).dtype == np.float64
    bk = BlockKernel(_points(5001, d=2), bandwidth=1.0)
    assert bk.dtype == np.float32
    assert bk.column(0).dtype == np.float64


def _dense_column_sums(X, cols, bandwidth):
    X = np.asarray(X, dtype=np.float64)
    d2 = ((X[:, None, :] - X[None, cols, :]) ** 2).sum(-1)
    return np.exp(-d2 / (2 * bandwidth**2)).sum(axis=0)


@pytest.mark.parametrize("loc", [0.0, 10.0, 100.0])
def test_float32_relative_error_above_threshold(loc):
    """n > 5000 runs in float32; kernel values must stay within 1e-5 of float64.

    The RBF kernel is translation invariant, so features with a non-zero mean (raw,
    unstandardised inputs such as ages or incomes) must be as accurate as centred ones.
    """
    n = 6000
    X = _points(n, d=5, seed=10, loc=loc)
    bk = BlockKernel(X, bandwidth=2.0)
    assert bk.dtype == np.float32
    rng = np.random.default_rng(0)
    cols = rng.choice(n, size=30, replace=False)
    rows = rng.choice(n, size=200, replace=False)
    expected_block = np.exp(-((X[rows, None] - X[None, cols]) ** 2).sum(-1) / (2 * 2.0**2))
    mask = expected_block > 1e-3  # relative error of the entries that matter
    rel = np.abs(bk.block(rows, cols) - expected_block)[mask] / expected_block[mask]
    assert rel.max() < 1e-5
    expected = _dense_column_sums(X, cols, 2.0)
    np.testing.assert_allclose(bk.column_sums()[cols], expected, rtol=1e-5)
    full = np.exp(-((X[:, None] - X[None, cols[:3]]) ** 2).sum(-1) / (2 * 2.0**2))
    np.testing.assert_allclose(bk.columns(cols[:3]), full, rtol=1e-5, atol=1e-7)


def test_column_sums_memory_large_n():
    """n = 20000: an n x n float64 kernel would be 3.2 GB; tiles keep the peak far below."""
    n = 20_000
    X = _points(n, d=5, seed=11)
    tracemalloc.start()
    try:
        bk = BlockKernel(X, bandwidth=1.5)
        sums = bk.column_sums()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20
    assert sums.shape == (n,)
    cols = np.random.default_rng(1).choice(n, size=20, replace=False)
    np.testing.assert_allclose(sums[cols], _dense_column_sums(X, cols, 1.5), rtol=1e-5)
