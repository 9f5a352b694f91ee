"""Tests of the facility-location engine (fairlearn_divine._selection._facility).

The engine must return plain greedy's picks whatever it caches, however it brings gains up
to date (incrementally over the changed rows, in full, or in one symmetric pass), and in a
gamma sweep that shares gains across gamma values.
"""

import numpy as np
import pytest
from _divine_reference import brute_greedy, rbf_dense

from fairlearn_divine import select_diverse, tradeoff_curve
from fairlearn_divine._selection import _facility, _kernels
from fairlearn_divine._selection._diversity import FacilityLocation
from fairlearn_divine._selection._kernels import BlockKernel, median_pairwise_distance
from fairlearn_divine._selection._select import _greedy, _Quota, _stochastic

FL = "facility_location"


def _data(n, d=5, kind="gaussian", seed=0):
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        X = rng.standard_normal((n, d))
    else:
        centers = 4.0 * rng.standard_normal((12, d))
        X = centers[rng.integers(12, size=n)] + rng.standard_normal((n, d))
    return X, rng.standard_normal(n)


def _fl(X, bandwidth):
    return FacilityLocation(BlockKernel(X, bandwidth=bandwidth))


@pytest.mark.parametrize("kind", ["gaussian", "clustered"])
@pytest.mark.parametrize("gamma", [1e-4, 1e-3, 1.0])
def test_lazy_equals_greedy_float32(kind, gamma):
    """n > FLOAT32_ABOVE: float32 tiles; the certified picks are greedy's."""
    X, scores = _data(6000, kind=kind, seed=3)
    bw = median_pairwise_distance(X, random_state=0)
    q = _Quota(None, None, len(scores), 6)
    greedy = _greedy(scores, _fl(X, bw), gamma, 6, q)
    lazy = _facility.lazy_facility_location(scores, _fl(X, bw), gamma, 6, q)
    assert lazy.tolist() == greedy.tolist()


@pytest.mark.parametrize(
    "settings",
    [
        {"ROW_COST": np.inf},  # every update over all rows (the groups in one call)
        {"ROW_COST": 0.0, "INCREMENTAL_COST": 0.0, "ALL_COST": np.inf},  # every one incremental
        {"ROW_COST": 40.0, "INCREMENTAL_COST": 0.5},  # small groups in full, large incremental
        {"ALL_COST": 0.0},  # a symmetric pass whenever anything is stale
        {"FIRST_BATCH": 1, "MAX_BATCH": 2, "SNAPSHOT_BYTES": 0},  # tiny batches, 2 snapshots
    ],
)
def test_update_paths_give_greedy_picks(monkeypatch, settings):
    for key, value in settings.items():
        monkeypatch.setattr(_facility, key, value)
    monkeypatch.setattr(_kernels, "ROW_TILE", 64)
    monkeypatch.setattr(_kernels, "COL_TILE", 32)
    X, scores = _data(300, d=3, seed=1)
    for gamma in (0.003, 0.05, 1.0):
        q = _Quota(None, None, len(scores), 12)
        greedy = _greedy(scores, _fl(X, 1.0), gamma, 12, q)
        lazy = _facility.lazy_facility_location(scores, _fl(X, 1.0), gamma, 12, q)
        assert lazy.tolist() == greedy.tolist()
        K = rbf_dense(X, 1.0)
        assert lazy.tolist() == brute_greedy(scores, K, 12, gamma, FL)


def test_cache_from_other_gammas_changes_nothing():
    """A state that ran other gammas first (its cache full of their gains) picks as a fresh
    one; so does a state whose cache may hold nothing."""
    X, scores = _data(800, d=4, seed=2)
    q = _Quota(None, None, len(scores), 10)
    shared = _fl(X, 1.5)
    for gamma in (1e-3, 0.01, 0.03, 0.1, 1.0):
        shared.reset()
        warm = _facility.lazy_facility_location(scores, shared, gamma, 10, q)
        cold = _facility.lazy_facility_location(scores, _fl(X, 1.5), gamma, 10, q)
        empty = _fl(X, 1.5)
        empty.gain_cache.max_bytes = 0
        none = _facility.lazy_facility_location(scores, empty, gamma, 10, q)
        greedy = _greedy(scores, _fl(X, 1.5), gamma, 10, q)
        assert warm.tolist() == cold.tolist() == none.tolist() == greedy.tolist()
    assert len(shared.gain_cache.nodes) > 10


def test_sweep_with_reuse_equals_independent_selections():
    """Every row of the sweep (which shares gains across gamma) is the selection of an
    independent call at that raw gamma, and the chosen gamma is the same as choosing from
    the independent rows."""
    X, scores = _data(1500, d=4, kind="clustered", seed=4)
    gammas = np.logspace(-3, 2, 11)
    curve = tradeoff_curve(
        scores, X, 8, diversity=FL, strategy="lazy", gammas=gammas, random_state=0
    )
    distances = []
    for g, idx in zip(curve.gammas_raw, curve.indices, strict=True):
        alone = select_diverse(
            scores, X, 8, diversity=FL, strategy="lazy", gamma=float(g), random_state=0
        )
        assert alone.indices.tolist() == np.asarray(idx).tolist()
        distances.append(alone.mean_pairwise_distance)
    sel = select_diverse(
        scores, X, 8, diversity=FL, strategy="lazy", gammas=gammas, random_state=0
    )
    assert sel.gamma == curve.gammas_raw[int(np.argmax(distances))]
    greedy = tradeoff_curve(
        scores, X, 8, diversity=FL, strategy="greedy", gammas=gammas, random_state=0
    )
    for a, b in zip(curve.indices, greedy.indices, strict=True):
        assert np.asarray(a).tolist() == np.asarray(b).tolist()


@pytest.mark.parametrize("epsilon", [0.05, 0.3])
def test_stochastic_through_the_engine_equals_sampled_greedy(epsilon):
    """strategy='stochastic' for facility location: the same seeded samples and the same
    picks as evaluating every sampled candidate."""
    X, scores = _data(700, d=3, seed=5)
    q = _Quota(None, None, len(scores), 9)
    for gamma in (0.01, 0.3):
        fast = select_diverse(
            scores,
            X,
            9,
            diversity=FL,
            strategy="stochastic",
            gamma=gamma,
            epsilon=epsilon,
            bandwidth=1.0,
            random_state=7,
        )
        plain = _stochastic(scores, _fl(X, 1.0), gamma, 9, q, epsilon, np.random.RandomState(7))
        assert fast.indices.tolist() == plain.tolist()


def test_coverage_gains_equal_dense(monkeypatch):
    monkeypatch.setattr(_kernels, "COL_TILE", 7)
    monkeypatch.setattr(_kernels, "SUM_CHUNK", 3)
    X, _ = _data(50, d=3, seed=6)
    K = rbf_dense(X, 1.2)
    cov = K[:, [3, 17]].max(axis=1)
    bk = BlockKernel(X, bandwidth=1.2)
    np.testing.assert_allclose(bk.coverage_gains(None), K.sum(axis=0), rtol=1e-12)
    expected = np.maximum(K - cov[:, None], 0).sum(axis=0)
    np.testing.assert_allclose(bk.coverage_gains(cov), expected, rtol=1e-12, atol=1e-12)
    # several coverages from one pass over the kernel
    covs = np.array([cov, K[:, 5], np.zeros(len(X))])
    both = bk.coverage_gains(covs)
    assert both.shape == (3, len(X))
    for c, got in zip(covs, both, strict=True):
        want = np.maximum(K - c[:, None], 0).sum(axis=0)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_prefilled_first_picks_change_nothing():
    """The sweep caches the gains after each distinct first pick; a run started from them
    picks as a run without them."""
    X, scores = _data(900, d=4, kind="clustered", seed=9)
    q = _Quota(None, None, len(scores), 7)
    warm = _fl(X, 2.0)
    picks = [int(np.argmax(scores)), int(np.argmax(warm.initial_gains())), 5]
    _facility.prefill_first_picks(warm, picks)
    assert all(len(warm.gain_cache.nodes[frozenset([p])].idx[0]) == len(X) for p in picks)
    for gamma in (1e-3, 0.02, 0.5):
        warm.reset()
        a = _facility.lazy_facility_location(scores, warm, gamma, 7, q)
        b = _greedy(scores, _fl(X, 2.0), gamma, 7, q)
        assert a.tolist() == b.tolist()


def test_duplicates_and_ties_with_quota():
    """Exact ties (duplicated rows, integer scores) under a quota: lowest index, as greedy."""
    rng = np.random.default_rng(8)
    base = rng.normal(size=(40, 2))
    X = np.vstack([base, base, base[:10]])
    scores = rng.integers(0, 3, size=len(X)).astype(float)
    groups = np.arange(len(X)) % 3
    kw = dict(diversity=FL, gamma=0.2, bandwidth=1.0, groups=groups, min_per_group=2)
    lazy = select_diverse(scores, X, 9, strategy="lazy", **kw)
    greedy = select_diverse(scores, X, 9, strategy="greedy", **kw)
    assert lazy.indices.tolist() == greedy.indices.tolist()


def test_hull_holds_the_first_pick_of_every_gamma():
    """The sweep computes the gains after the vertices of the (column sum, score) hull in one
    pass: every gamma's first pick is one of them."""
    from fairlearn_divine._selection._select import Problem

    X, scores = _data(1200, d=3, kind="clustered", seed=10)
    problem = Problem(scores, X, 5, FL, "rbf", 1.5, "lazy", 0.01, None, None, 0)
    problem._prefill_hull()
    filled = {next(iter(k)) for k in problem.div.gain_cache.nodes if len(k) == 1}
    colsums = problem.div.initial_gains()
    for g in np.logspace(-8, 8, 400):
        assert int(np.argmax(scores + g * colsums)) in filled
    assert int(np.argmax(colsums)) in filled
