"""Tests of fairlearn_divine._selection (DIVINE selection) against a brute-force greedy.

Expected selections come from tests/_divine_reference.py: a dense RBF kernel and a greedy that
evaluates the full objective I(S u {v}) + gamma R(S u {v}) for every candidate at every step.
"""

import functools
import math

import joblib
import numpy as np
import pandas as pd
import pytest
from _divine_reference import (
    R_FUNCTIONS,
    brute_greedy,
    brute_greedy_diversity_first,
    mean_pairwise_distance,
    objective,
    rbf_dense,
)
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils import Bunch

from fairlearn_divine import (
    DiverseSelection,
    select_diverse,
    select_diverse_influential,
    tradeoff_curve,
    training_point_importance,
)
from fairlearn_divine._core.parallel import run_seed
from fairlearn_divine.datasets import make_divine_synthetic

DIVERSITIES = ["sum_redundancy", "facility_location", "mmd"]
# every (diversity, strategy) pair that is defined: lazy needs a submodular R
VALID_PAIRS = [
    (d, s)
    for d in DIVERSITIES
    for s in ("greedy", "lazy", "stochastic")
    if not (d == "mmd" and s == "lazy")
]
# gammas at which influence and diversity both matter, per diversity (raw scale)
GAMMAS = {
    "sum_redundancy": [0.05, 0.5, 3.0],
    "facility_location": [0.05, 0.3, 2.0],
    "mmd": [0.5, 5.0, 50.0],
}


def _instance(n=30, d=2, seed=0, nonneg=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    scores = rng.normal(size=n)
    if nonneg:
        scores = np.abs(scores)
    return scores, X


def _check_result(result, scores, K, diversity, X):
    S = list(result.indices)
    assert isinstance(result, DiverseSelection)
    assert len(set(S)) == len(S)
    assert result.influence == pytest.approx(float(np.sum(scores[S])), rel=1e-12, abs=1e-12)
    assert result.diversity == pytest.approx(R_FUNCTIONS[diversity](K, S), rel=1e-9, abs=1e-12)
    assert result.mean_pairwise_distance == pytest.approx(mean_pairwise_distance(X, S), rel=1e-9)


# ---------------------------------------------------------------------------------------------
# greedy vs brute force


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("diversity", "gamma"), [(d, g) for d in DIVERSITIES for g in GAMMAS[d]])
def test_greedy_equals_brute_force(diversity, gamma, seed):
    scores, X = _instance(seed=seed)
    K = rbf_dense(X, 1.0)
    result = select_diverse(scores, X, 6, diversity=diversity, gamma=gamma, bandwidth=1.0)
    expected = brute_greedy(scores, K, 6, gamma, diversity)
    assert result.indices.tolist() == expected
    _check_result(result, scores, K, diversity, X)
    assert result.gamma == gamma
    assert result.bandwidth == 1.0
    assert result.strategy == "greedy"
    assert result.diversity_name == diversity


@pytest.mark.parametrize("diversity", DIVERSITIES)
def test_greedy_equals_brute_force_median_bandwidth(diversity):
    scores, X = _instance(n=25, d=3, seed=2)
    result = select_diverse(scores, X, 5, diversity=diversity, gamma=GAMMAS[diversity][1])
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    assert result.bandwidth == pytest.approx(np.median(D[np.triu_indices(25, k=1)]), rel=1e-10)
    K = rbf_dense(X, result.bandwidth)
    assert result.indices.tolist() == brute_greedy(scores, K, 5, GAMMAS[diversity][1], diversity)
    _check_result(result, scores, K, diversity, X)


def test_influence_retained_and_top_influence():
    scores, X = _instance(seed=3)
    result = select_diverse(scores, X, 5, gamma=0.5, bandwidth=1.0)
    top = np.argsort(-scores, kind="stable")[:5]
    assert result.top_influence == pytest.approx(scores[top].sum())
    expected = 1 - (scores[top].sum() - scores[result.indices].sum()) / abs(scores[top].sum())
    assert result.influence_retained == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------
# lazy, gamma = 0, large gamma


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("diversity", "gamma"),
    [(d, g) for d in ["sum_redundancy", "facility_location"] for g in GAMMAS[d]],
)
def test_lazy_equals_greedy(diversity, gamma, seed):
    scores, X = _instance(n=30, seed=seed)
    K = rbf_dense(X, 1.0)
    lazy = select_diverse(
        scores, X, 6, diversity=diversity, gamma=gamma, bandwidth=1.0, strategy="lazy"
    )
    assert lazy.indices.tolist() == brute_greedy(scores, K, 6, gamma, diversity)
    _check_result(lazy, scores, K, diversity, X)


@pytest.mark.parametrize("diversity", ["sum_redundancy", "facility_location"])
def test_lazy_equals_greedy_larger_n(diversity):
    scores, X = _instance(n=400, d=3, seed=4)
    for gamma in GAMMAS[diversity]:
        kw = dict(diversity=diversity, gamma=gamma / 10, bandwidth=0.8)
        greedy = select_diverse(scores, X, 25, strategy="greedy", **kw)
        lazy = select_diverse(scores, X, 25, strategy="lazy", **kw)
        np.testing.assert_array_equal(lazy.indices, greedy.indices)
        assert lazy.diversity == pytest.approx(greedy.diversity)


def test_lazy_with_mmd_raises():
    scores, X = _instance()
    with pytest.raises(ValueError, match="lazy.*submodular"):
        select_diverse(scores, X, 4, diversity="mmd", gamma=1.0, strategy="lazy")
    with pytest.raises(ValueError, match="lazy.*submodular"):
        select_diverse(scores, X, 4, diversity="mmd", strategy="lazy", random_state=0)
    with pytest.raises(ValueError, match="lazy.*submodular"):
        tradeoff_curve(scores, X, 4, diversity="mmd", strategy="lazy")


def test_lazy_with_mmd_raises_whatever_gamma():
    """An invalid combination is rejected up front, not only when a gamma > 0 is run.

    (With groups/min_per_group the same call already raises: the answer should not depend on
    whether a quota is passed.)
    """
    scores, X = _instance()
    groups = np.arange(30) % 2
    with pytest.raises(ValueError, match="lazy"):
        select_diverse(
            scores,
            X,
            4,
            diversity="mmd",
            gamma=0.0,
            strategy="lazy",
            groups=groups,
            min_per_group=0,
        )
    with pytest.raises(ValueError, match="lazy"):
        select_diverse(scores, X, 4, diversity="mmd", gamma=0.0, strategy="lazy")


@pytest.mark.parametrize(("diversity", "strategy"), VALID_PAIRS)
def test_gamma_zero_is_top_m(diversity, strategy):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 2))
    scores = rng.integers(0, 6, size=40).astype(float)  # many ties: stable order decides
    result = select_diverse(
        scores, X, 7, diversity=diversity, gamma=0.0, strategy=strategy, random_state=0
    )
    np.testing.assert_array_equal(result.indices, np.argsort(-scores, kind="stable")[:7])
    assert result.influence_retained == pytest.approx(1.0)


@pytest.mark.parametrize("diversity", DIVERSITIES)
def test_large_gamma_is_diversity_only(diversity):
    scores, X = _instance(n=30, seed=6)
    K = rbf_dense(X, 1.0)
    result = select_diverse(scores, X, 6, diversity=diversity, gamma=1e7, bandwidth=1.0)
    expected = brute_greedy_diversity_first(scores, K, 6, diversity)
    assert result.indices.tolist() == expected
    R = R_FUNCTIONS[diversity]
    top = np.argsort(-scores, kind="stable")[:6]
    assert R(K, result.indices) > R(K, top)
    if diversity != "sum_redundancy":
        # no ties in R at any step: exactly the greedy on R alone (scores ignored)
        assert expected == brute_greedy(np.zeros(30), K, 6, 1.0, diversity)


@pytest.mark.parametrize("diversity", ["sum_redundancy", "facility_location"])
def test_large_gamma_lazy_is_diversity_only(diversity):
    scores, X = _instance(n=30, seed=7)
    K = rbf_dense(X, 1.0)
    result = select_diverse(
        scores, X, 6, diversity=diversity, gamma=1e7, bandwidth=1.0, strategy="lazy"
    )
    assert result.indices.tolist() == brute_greedy_diversity_first(scores, K, 6, diversity)


# ---------------------------------------------------------------------------------------------
# stochastic greedy


def test_stochastic_is_seeded():
    scores, X = _instance(n=300, seed=8, nonneg=True)
    kw = dict(diversity="facility_location", gamma=0.05, bandwidth=1.0, strategy="stochastic")
    kw["epsilon"] = 0.3
    a = select_diverse(scores, X, 10, random_state=0, **kw)
    b = select_diverse(scores, X, 10, random_state=0, **kw)
    np.testing.assert_array_equal(a.indices, b.indices)
    rs = np.random.RandomState(1)
    c = select_diverse(scores, X, 10, random_state=np.random.RandomState(1), **kw)
    d = select_diverse(scores, X, 10, random_state=rs, **kw)
    np.testing.assert_array_equal(c.indices, d.indices)
    others = {
        tuple(select_diverse(scores, X, 10, random_state=s, **kw).indices) for s in range(1, 6)
    }
    others.add(tuple(a.indices))
    assert len(others) > 1


@pytest.mark.parametrize("diversity", ["facility_location", "sum_redundancy", "mmd"])
def test_stochastic_random_state_is_the_seed_drawn_from_it(diversity):
    """The package's seed rule (_core.parallel.run_seed): one integer seed drawn up front, the
    bandwidth sample (n > 1000) and every run's samples derived from it. A RandomState gives
    the result of the seed drawn from it, the sweep's rows are independent calls with that
    seed, on threads too; an int seed picks as before the rule (pinned)."""
    scores, X = _instance(n=1200, seed=8, nonneg=True)
    kw = dict(diversity=diversity, strategy="stochastic", epsilon=0.3)
    gammas = np.logspace(-2, 2, 5)
    seed = run_seed(np.random.RandomState(5))
    by_state = select_diverse(
        scores, X, 8, gammas=gammas, random_state=np.random.RandomState(5), **kw
    )
    by_seed = select_diverse(scores, X, 8, gammas=gammas, random_state=seed, **kw)
    assert by_state.bandwidth == by_seed.bandwidth
    assert by_state.indices.tolist() == by_seed.indices.tolist()
    for a, b in zip(by_state.tradeoff.indices, by_seed.tradeoff.indices, strict=True):
        assert np.asarray(a).tolist() == np.asarray(b).tolist()
    for g, idx in zip(by_seed.tradeoff.gammas_raw, by_seed.tradeoff.indices, strict=True):
        alone = select_diverse(scores, X, 8, gamma=float(g), random_state=seed, **kw)
        assert alone.indices.tolist() == np.asarray(idx).tolist()
    with joblib.parallel_config(backend="threading"):
        threads = select_diverse(scores, X, 8, gammas=gammas, random_state=seed, n_jobs=2, **kw)
    for a, b in zip(threads.tradeoff.indices, by_seed.tradeoff.indices, strict=True):
        assert np.asarray(a).tolist() == np.asarray(b).tolist()
    pinned = {  # select_diverse(..., gamma=0.5, random_state=0) before the rule
        "facility_location": [52, 214, 504, 998, 411, 76, 801, 1014],
        "sum_redundancy": [184, 488, 998, 96, 737, 202, 398, 1173],
        "mmd": [184, 625, 492, 737, 333, 1184, 488, 603],
    }
    picks = select_diverse(scores, X, 8, gamma=0.5, random_state=0, **kw).indices.tolist()
    assert picks == pinned[diversity]


@pytest.mark.parametrize("seed", range(4))
def test_stochastic_within_guarantee(seed):
    scores, X = _instance(n=240, d=2, seed=10 + seed, nonneg=True)
    K = rbf_dense(X, 0.7)
    gamma, m, eps = 0.05, 8, 0.2
    kw = dict(diversity="facility_location", gamma=gamma, bandwidth=0.7)
    greedy = select_diverse(scores, X, m, **kw)
    F_greedy = objective(scores, K, greedy.indices, gamma, "facility_location")
    for rs in range(3):
        stoch = select_diverse(
            scores, X, m, strategy="stochastic", epsilon=eps, random_state=rs, **kw
        )
        F = objective(scores, K, stoch.indices, gamma, "facility_location")
        assert F >= (1 - 1 / math.e - eps) * F_greedy
        _check_result(stoch, scores, K, "facility_location", X)


def test_stochastic_samples_the_documented_pool_size():
    """epsilon small enough that the pool covers all candidates: stochastic == greedy."""
    scores, X = _instance(n=40, seed=14, nonneg=True)
    kw = dict(diversity="facility_location", gamma=0.3, bandwidth=1.0)
    # ceil(40 / 4 * log(1 / 0.01)) = 47 >= 40
    a = select_diverse(scores, X, 4, strategy="stochastic", epsilon=0.01, random_state=0, **kw)
    b = select_diverse(scores, X, 4, **kw)
    np.testing.assert_array_equal(a.indices, b.indices)


# ---------------------------------------------------------------------------------------------
# bad input


def _bad_cases():
    scores, X = _instance(n=10)
    nan_scores = scores.copy()
    nan_scores[3] = np.nan
    return [
        ((scores, X, 11), {}, ValueError, "n_points"),
        ((scores, X, 0), {}, ValueError, "n_points"),
        ((scores, X, -2), {}, ValueError, "n_points"),
        ((scores, X, 2.5), {}, TypeError, "n_points"),
        ((scores, X, 3), {"gamma": -0.1}, ValueError, "gamma"),
        ((scores, X, 3), {"gamma": np.nan}, (ValueError, TypeError), "gamma"),
        ((scores, X, 3), {"gamma": "best"}, ValueError, "gamma"),
        ((scores, X, 3), {"gamma": True}, TypeError, "gamma"),
        ((scores, X, True), {}, TypeError, "n_points"),
        ((scores, X[:9], 3), {}, ValueError, "scores"),
        ((scores[:9], X, 3), {}, ValueError, "X"),
        ((nan_scores, X, 3), {}, ValueError, "scores"),
        ((scores, X, 3), {"bandwidth": 0.0}, ValueError, "bandwidth"),
        ((scores, X, 3), {"bandwidth": -1.0}, ValueError, "bandwidth"),
        ((scores, X, 3), {"bandwidth": np.inf}, ValueError, "bandwidth"),
        ((scores, X, 3), {"bandwidth": "scott"}, ValueError, "bandwidth"),
        ((scores, X, 3), {"diversity": "entropy"}, ValueError, "diversity"),
        ((scores, X, 3), {"diversity": 3}, TypeError, "diversity"),
        ((scores, X, 3), {"strategy": "fast"}, ValueError, "strategy"),
        ((scores, X, 3), {"epsilon": 0.0}, ValueError, "epsilon"),
        ((scores, X, 3), {"influence_budget": 1.5}, ValueError, "influence_budget"),
        ((scores, X, 3), {"gammas": [-1.0, 1.0]}, ValueError, "gammas"),
        ((scores, X, 3), {"gammas": []}, ValueError, "gammas"),
        ((scores, X, 3), {"kernel": "laplace"}, ValueError, "kernel"),
        ((scores, X, 3), {"kernel": 3}, TypeError, "kernel"),
        ((scores[:, None], X, 3), {}, ValueError, "scores"),
        ((scores, None, 3), {}, ValueError, "X"),
    ]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    _bad_cases(),
    ids=[f"{c[3]}-{i}" for i, c in enumerate(_bad_cases())],
)
def test_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        select_diverse(*args, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [c for c in _bad_cases() if "gamma" not in c[1] and "influence_budget" not in c[1]],
)
def test_bad_input_tradeoff_curve(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        tradeoff_curve(*args, **kwargs)


def test_bad_values_are_named_in_the_message():
    scores, X = _instance(n=10)
    with pytest.raises(ValueError, match="got 11"):
        select_diverse(scores, X, 11)
    with pytest.raises(ValueError, match="-0.1"):
        select_diverse(scores, X, 3, gamma=-0.1)
    with pytest.raises(ValueError, match="'fast'"):
        select_diverse(scores, X, 3, strategy="fast")
    with pytest.raises(ValueError, match="'entropy'"):
        select_diverse(scores, X, 3, diversity="entropy")
    with pytest.raises(ValueError, match="-1"):
        select_diverse(scores, X, 3, bandwidth=-1.0)


def test_X_with_nan_rejected():
    scores, X = _instance(n=10)
    X = X.copy()
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match="X"):
        select_diverse(scores, X, 3, gamma=1.0)


# ---------------------------------------------------------------------------------------------
# inputs: not mutated, pandas, integer types


def test_inputs_not_mutated_and_pandas_accepted():
    scores, X = _instance(n=30, seed=15)
    s0, X0 = scores.copy(), X.copy()
    a = select_diverse(scores, X, 5, gamma=0.5, bandwidth=1.0)
    np.testing.assert_array_equal(scores, s0)
    np.testing.assert_array_equal(X, X0)
    b = select_diverse(
        pd.Series(scores, index=np.arange(100, 130)),
        pd.DataFrame(X, columns=["a", "b"]),
        np.int64(5),
        gamma=0.5,
        bandwidth=1.0,
    )
    np.testing.assert_array_equal(a.indices, b.indices)
    assert "DiverseSelection(indices=" in repr(b)
    assert b["indices"] is b.indices


# ---------------------------------------------------------------------------------------------
# quotas


def _quota_instance():
    rng = np.random.default_rng(16)
    X = rng.normal(size=(36, 2))
    groups = np.repeat(["a", "b", "c"], 12)
    scores = rng.normal(size=36) + np.repeat([2.0, 1.0, -2.0], 12)  # group c rarely wins
    return scores, X, groups


@pytest.mark.parametrize(("diversity", "strategy"), VALID_PAIRS)
@pytest.mark.parametrize("gamma", [0.0, "mid"])
def test_min_per_group_is_met(diversity, strategy, gamma):
    scores, X, groups = _quota_instance()
    gamma = GAMMAS[diversity][0] if gamma == "mid" else gamma
    unconstrained = select_diverse(scores, X, 7, diversity=diversity, gamma=gamma, bandwidth=1.0)
    assert np.sum(groups[unconstrained.indices] == "c") < 2  # the quota has to act
    result = select_diverse(
        scores,
        X,
        7,
        diversity=diversity,
        gamma=gamma,
        bandwidth=1.0,
        strategy=strategy,
        groups=groups,
        min_per_group=2,
        random_state=0,
        epsilon=0.2,
    )
    counts = pd.Series(groups[result.indices]).value_counts()
    assert all(counts.get(g, 0) >= 2 for g in "abc")
    assert len(set(result.indices.tolist())) == 7
    if strategy != "stochastic":
        K = rbf_dense(X, 1.0)
        need = {"a": 2, "b": 2, "c": 2}
        expected = brute_greedy(scores, K, 7, gamma, diversity, groups=groups, need=need)
        assert result.indices.tolist() == expected


def test_min_per_group_dict_and_sweep():
    scores, X, groups = _quota_instance()
    result = select_diverse(
        scores, X, 5, groups=groups, min_per_group={"c": 3}, random_state=0, bandwidth=1.0
    )
    assert np.sum(groups[result.indices] == "c") >= 3
    for idx in result.tradeoff.indices:
        assert np.sum(groups[idx] == "c") >= 3
    assert np.sum(groups[result.tradeoff.top_indices] == "c") >= 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_per_group": 13}, "min_per_group"),  # groups have 12 points
        ({"min_per_group": 3}, "min_per_group"),  # 9 > n_points = 7
        ({"min_per_group": {"d": 1}}, "min_per_group"),
        ({"min_per_group": -1}, "min_per_group"),
        ({"min_per_group": 1.5}, "min_per_group"),
        ({"groups": np.zeros(35)}, "groups"),
        ({"groups": None}, "groups"),
        ({"min_per_group": None}, "min_per_group"),
    ],
)
def test_impossible_quotas(kwargs, match):
    scores, X, groups = _quota_instance()
    full = {"groups": groups, "min_per_group": 2, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        select_diverse(scores, X, 7, gamma=0.5, **full)


# ---------------------------------------------------------------------------------------------
# gamma strategies and the sweep


@functools.cache
def _sweep_instance(diversity):
    scores, X = _instance(n=60, d=2, seed=17)
    gammas = np.logspace(-3, 3, 13)
    by_budget = select_diverse(
        scores,
        X,
        6,
        diversity=diversity,
        gamma="influence_budget",
        influence_budget=0.2,
        gammas=gammas,
        bandwidth=1.0,
    )
    by_distance = select_diverse(
        scores, X, 6, diversity=diversity, gamma="pairwise_distance", gammas=gammas, bandwidth=1.0
    )
    return scores, X, gammas, by_budget, by_distance


@pytest.mark.parametrize("diversity", DIVERSITIES)
def test_influence_budget_rule(diversity):
    scores, X, gammas, result, _ = _sweep_instance(diversity)
    curve = result.tradeoff
    np.testing.assert_allclose(curve.gammas, gammas)
    top = np.argsort(-scores, kind="stable")[:6]
    I_top = scores[top].sum()
    retained = np.array([1 - (I_top - scores[idx].sum()) / abs(I_top) for idx in curve.indices])
    np.testing.assert_allclose(curve.influence_retained, retained, rtol=1e-12, atol=1e-12)
    ok = np.flatnonzero(retained >= 1 - 0.2 - 1e-12)
    assert ok.size
    k = ok[-1]
    assert 0 < k < len(gammas) - 1  # the rule is really exercised on this instance
    # the largest sweep point within budget, refined by bisection towards the next one
    assert curve.gammas_raw[k] <= result.gamma < curve.gammas_raw[k + 1]
    assert result.gamma_normalized == pytest.approx(
        result.gamma * gammas[k] / curve.gammas_raw[k], rel=1e-12
    )
    assert result.influence_retained >= 0.8 - 1e-12
    assert result.influence_retained <= curve.influence_retained[k] + 1e-12
    assert result.gamma_strategy == "influence_budget"
    again = select_diverse(scores, X, 6, diversity=diversity, gamma=result.gamma, bandwidth=1.0)
    np.testing.assert_array_equal(again.indices, result.indices)


@pytest.mark.parametrize("diversity", DIVERSITIES)
def test_pairwise_distance_rule(diversity):
    scores, X, gammas, _, result = _sweep_instance(diversity)
    curve = result.tradeoff
    mpd = np.array([mean_pairwise_distance(X, idx) for idx in curve.indices])
    np.testing.assert_allclose(curve.mean_pairwise_distance, mpd, rtol=1e-9)
    k = int(np.argmax(mpd))
    np.testing.assert_array_equal(result.indices, curve.indices[k])
    assert result.mean_pairwise_distance == pytest.approx(mpd.max(), rel=1e-12)
    assert result.gamma == curve.gammas_raw[k]


@pytest.mark.parametrize("rule", ["by_budget", "by_distance"])
@pytest.mark.parametrize("diversity", DIVERSITIES)
def test_raw_gamma_reproduces_selection(diversity, rule):
    scores, X, gammas, by_budget, by_distance = _sweep_instance(diversity)
    result = by_budget if rule == "by_budget" else by_distance
    again = select_diverse(scores, X, 6, diversity=diversity, gamma=result.gamma, bandwidth=1.0)
    np.testing.assert_array_equal(again.indices, result.indices)
    assert again.diversity == pytest.approx(result.diversity)


@pytest.mark.parametrize("diversity", DIVERSITIES)
def test_tradeoff_curve_rows_against_brute_force(diversity):
    scores, X, gammas, _, result = _sweep_instance(diversity)
    K = rbf_dense(X, 1.0)
    R = R_FUNCTIONS[diversity]
    curve = tradeoff_curve(scores, X, 6, diversity=diversity, gammas=gammas, bandwidth=1.0)
    for key in ("gammas_raw", "influence", "diversity", "mean_pairwise_distance"):
        np.testing.assert_allclose(curve[key], result.tradeoff[key], rtol=1e-12)
    # normalisation: gamma_raw = gamma * s_I / s_R (module docstring)
    top = np.argsort(-scores, kind="stable")[:6]
    s_I = np.abs(scores[top]).sum()
    r_only = brute_greedy(np.zeros(len(scores)), K, 6, 1.0, diversity)
    s_R = abs(R(K, r_only) - R(K, top))
    assert curve.influence_scale == pytest.approx(s_I)
    assert curve.diversity_scale == pytest.approx(s_R, rel=1e-9)
    np.testing.assert_allclose(curve.gammas_raw, gammas * s_I / s_R, rtol=1e-9)
    np.testing.assert_array_equal(curve.top_indices, top)
    for k in (0, 5, 12):
        idx = curve.indices[k]
        assert idx.tolist() == brute_greedy(scores, K, 6, curve.gammas_raw[k], diversity)
        assert curve.diversity[k] == pytest.approx(R(K, idx), rel=1e-9)
        assert curve.influence[k] == pytest.approx(scores[idx].sum())


def test_sweep_unsorted_duplicate_gammas():
    scores, X = _instance(n=30, seed=18)
    curve = tradeoff_curve(scores, X, 4, gammas=[10.0, 0.1, 1.0, 0.1], bandwidth=1.0)
    np.testing.assert_array_equal(curve.gammas, [0.1, 1.0, 10.0])


# ---------------------------------------------------------------------------------------------
# callable kernel, user diversity


def laplacian(A, B):
    return np.exp(-np.abs(A[:, None, :] - B[None, :, :]).sum(axis=-1))


@pytest.mark.parametrize(
    ("diversity", "strategy"), [p for p in VALID_PAIRS if p[1] != "stochastic"]
)
def test_callable_kernel(diversity, strategy):
    scores, X = _instance(n=25, seed=19)
    K = laplacian(X, X)
    gamma = GAMMAS[diversity][1]
    result = select_diverse(
        scores, X, 5, diversity=diversity, gamma=gamma, kernel=laplacian, strategy=strategy
    )
    assert result.indices.tolist() == brute_greedy(scores, K, 5, gamma, diversity)
    _check_result(result, scores, K, diversity, X)


class DenseFacilityLocation:
    """A user diversity: facility location on a precomputed similarity matrix."""

    def __init__(self, K):
        self.K = K
        self.calls = 0

    def value(self, selected):
        return float(self.K[:, selected].max(axis=1).sum()) if selected else 0.0

    def marginal_gains(self, selected, candidates):
        self.calls += 1
        cur = self.K[:, selected].max(axis=1) if selected else np.zeros(len(self.K))
        return np.maximum(self.K[:, candidates] - cur[:, None], 0).sum(axis=0)


class Dispersion:
    """Not submodular: gain = min distance to the selected points (0 for the first)."""

    is_submodular = False

    def __init__(self, X):
        self.D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))

    def marginal_gains(self, selected, candidates):
        if not selected:
            return np.zeros(len(candidates))
        return self.D[np.ix_(candidates, selected)].min(axis=1)


@pytest.mark.parametrize("strategy", ["greedy", "lazy"])
def test_user_diversity_object(strategy):
    scores, X = _instance(n=30, seed=20)
    K = rbf_dense(X, 0.5)
    obj = DenseFacilityLocation(K)
    result = select_diverse(scores, X, 6, diversity=obj, gamma=0.3, strategy=strategy)
    assert result.indices.tolist() == brute_greedy(scores, K, 6, 0.3, "facility_location")
    assert result.diversity == pytest.approx(obj.value(result.indices.tolist()))
    assert obj.calls > 0
    assert result.diversity_name == "DenseFacilityLocation"


def test_user_diversity_without_X():
    scores, X = _instance(n=30, seed=21)
    K = rbf_dense(X, 0.5)
    result = select_diverse(scores, None, 6, diversity=DenseFacilityLocation(K), gamma=0.3)
    assert result.indices.tolist() == brute_greedy(scores, K, 6, 0.3, "facility_location")


def test_user_diversity_not_submodular():
    scores, X = _instance(n=20, seed=22)
    obj = Dispersion(X)
    result = select_diverse(scores, X, 4, diversity=obj, gamma=0.7)
    S = []
    for _ in range(4):
        rest = [v for v in range(20) if v not in S]
        S.append(max(rest, key=lambda v: scores[v] + 0.7 * obj.marginal_gains(S, [v])[0]))
    assert result.indices.tolist() == S
    expected_value = sum(obj.marginal_gains(S[:i], [S[i]])[0] for i in range(4))
    assert result.diversity == pytest.approx(expected_value)
    with pytest.raises(ValueError, match="lazy"):
        select_diverse(scores, X, 4, diversity=obj, gamma=0.7, strategy="lazy")


# ---------------------------------------------------------------------------------------------
# select_diverse_influential


@functools.cache
def _fitted():
    data = make_divine_synthetic(n_samples=300, n_outliers=10, random_state=0)
    est = LogisticRegression().fit(data.X, data.y)
    scores = training_point_importance(est, data.X, data.y).scores
    return data, est, scores


@pytest.mark.parametrize("gamma", [1e-4, "pairwise_distance", "influence_budget"])
@pytest.mark.parametrize("harmful", [False, True])
def test_select_diverse_influential_without_recalculation(harmful, gamma):
    data, est, scores = _fitted()
    sign = -1.0 if harmful else 1.0
    wanted = sign * scores > 0  # only points on the asked-for side are candidates
    if not wanted.any():
        with pytest.raises(ValueError, match="No training point is"):
            select_diverse_influential(
                est, data.X, data.y, 4, harmful=harmful, gamma=gamma, random_state=0
            )
        return
    result = select_diverse_influential(
        est, data.X, data.y, 4, harmful=harmful, gamma=gamma, random_state=0
    )
    m = min(4, int(wanted.sum()))
    expected = select_diverse(
        sign * scores, data.X, m, gamma=gamma, random_state=0, candidates=wanted
    )
    assert np.all(sign * scores[result.indices] > 0)
    np.testing.assert_array_equal(result.indices, expected.indices)
    np.testing.assert_allclose(result.scores, scores)
    assert result.gamma == expected.gamma
    assert result.influence == pytest.approx(expected.influence)
    assert not result.recalculated


def test_select_diverse_influential_options_passed_on():
    data, est, scores = _fitted()
    Z = data.X * [1.0, 3.0]
    result = select_diverse_influential(
        est,
        data.X,
        data.y,
        5,
        X_diversity=Z,
        diversity="facility_location",
        gamma=2e-6,
        bandwidth=0.5,
        strategy="lazy",
    )
    expected = select_diverse(
        scores, Z, 5, diversity="facility_location", gamma=2e-6, bandwidth=0.5
    )
    np.testing.assert_array_equal(result.indices, expected.indices)
    assert result.bandwidth == 0.5


@functools.cache
def _fitted_noisy():
    """The same data with 15 labels flipped, scored for the zero-one loss (its surrogate):
    harmful points. (For the training log loss every exact LOO score is positive here, as
    one-step Newton finds; only first-order influence claimed harmful points.)"""
    data = make_divine_synthetic(n_samples=300, n_outliers=10, random_state=0)
    y = data.y.copy()
    flip = np.random.default_rng(0).choice(len(y), 15, replace=False)
    y[flip] = 1 - y[flip]
    data = Bunch(X=data.X, y=y)
    est = LogisticRegression().fit(data.X, y)
    return data, est, training_point_importance(est, data.X, y, objective=NOISY_OBJECTIVE).scores


NOISY_OBJECTIVE = "zero_one_loss"


def _own_recalculation(est, X, y, m, gamma, K, diversity, sign=1.0, objective="log_loss"):
    """DIVINE appendix D: pick, refit without the picks, re-score the rest, repeat."""
    n = len(y)
    R = R_FUNCTIONS[diversity]
    current = sign * training_point_importance(est, X, y, objective=objective).scores
    S = []
    keep = np.ones(n, dtype=bool)
    for step in range(m):
        rest = np.flatnonzero(keep & (current > 0))  # only points on the asked-for side
        if not rest.size:
            break
        totals = [current[v] + gamma * (R(K, [*S, v]) - R(K, S)) for v in rest]
        v = int(rest[int(np.argmax(totals))])
        S.append(v)
        keep[v] = False
        if step == m - 1:
            break
        model = clone(est).fit(X[keep], y[keep])
        fresh = training_point_importance(model, X[keep], y[keep], objective=objective).scores
        current = np.full(n, -np.inf)
        current[keep] = sign * fresh
    return S


@pytest.mark.parametrize(("diversity", "gamma"), [("sum_redundancy", 1e-4), ("mmd", 1e-3)])
@pytest.mark.parametrize("harmful", [False, True])
def test_select_diverse_influential_recalculation(diversity, gamma, harmful):
    data, est, scores = _fitted_noisy() if harmful else _fitted()
    sign = -1.0 if harmful else 1.0
    objective = NOISY_OBJECTIVE if harmful else "log_loss"
    assert np.any(sign * scores > 0)
    result = select_diverse_influential(
        est,
        data.X,
        data.y,
        3,
        objective=objective,
        recalculate=True,
        harmful=harmful,
        diversity=diversity,
        gamma=gamma,
        bandwidth=1.0,
    )
    K = rbf_dense(data.X, 1.0)
    expected = _own_recalculation(
        est, data.X, data.y, 3, gamma, K, diversity, sign, objective=objective
    )
    assert result.indices.tolist() == expected
    assert result.recalculated
    assert result.gamma == gamma
    np.testing.assert_allclose(result.scores, scores)
    assert result.diversity == pytest.approx(R_FUNCTIONS[diversity](K, expected), rel=1e-9)


def test_recalculation_draws_one_seed_from_a_random_state():
    """The selection and the recalculation's own problem take one seed: above 1,000 rows the
    median bandwidth comes from a seeded sample, so drawing twice from a RandomState gave the
    recalculation another bandwidth than the gamma was resolved with."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1200, 3))
    y = (X[:, 0] + rng.normal(size=1200) > 0).astype(int)
    est = LogisticRegression().fit(X, y)
    kw = dict(recalculate=True, gamma=0.5)
    seed = run_seed(np.random.RandomState(7))
    by_state = select_diverse_influential(
        est, X, y, 3, random_state=np.random.RandomState(7), **kw
    )
    by_seed = select_diverse_influential(est, X, y, 3, random_state=seed, **kw)
    plain = select_diverse(est.predict_proba(X)[:, 1], X, 3, gamma=0.5, random_state=seed)
    assert by_state.bandwidth == by_seed.bandwidth == plain.bandwidth
    assert by_state.indices.tolist() == by_seed.indices.tolist()


def test_recalculation_respects_quotas():
    """groups/min_per_group are selection options; recalculation must not drop them."""
    data, est, scores = _fitted()
    groups = data.is_outlier.astype(int)
    plain = select_diverse_influential(
        est, data.X, data.y, 3, recalculate=True, gamma=0.0, bandwidth=1.0
    )
    assert not np.any(data.is_outlier[plain.indices])  # the quota has to act
    result = select_diverse_influential(
        est,
        data.X,
        data.y,
        3,
        recalculate=True,
        gamma=0.0,
        bandwidth=1.0,
        groups=groups,
        min_per_group={1: 1},
    )
    assert np.sum(data.is_outlier[result.indices]) >= 1


# ---------------------------------------------------------------------------------------------
# edge cases and scale


@pytest.mark.parametrize("strategy", ["greedy", "lazy"])
@pytest.mark.parametrize("diversity", ["sum_redundancy", "facility_location"])
def test_lazy_equals_greedy_with_ties(diversity, strategy):
    """Duplicated points and integer scores: exact ties everywhere, lowest index wins."""
    rng = np.random.default_rng(23)
    base = rng.normal(size=(10, 2))
    X = np.vstack([base, base, base[:5]])
    scores = rng.integers(0, 3, size=len(X)).astype(float)
    K = rbf_dense(X, 1.0)
    result = select_diverse(
        scores, X, 8, diversity=diversity, gamma=0.5, bandwidth=1.0, strategy=strategy
    )
    assert result.indices.tolist() == brute_greedy(scores, K, 8, 0.5, diversity)


@pytest.mark.parametrize("diversity", DIVERSITIES)
def test_select_all_points_and_single_point(diversity):
    scores, X = _instance(n=12, seed=24)
    K = rbf_dense(X, 1.0)
    everything = select_diverse(scores, X, 12, diversity=diversity, gamma=0.5, bandwidth=1.0)
    assert sorted(everything.indices.tolist()) == list(range(12))
    assert everything.indices.tolist() == brute_greedy(scores, K, 12, 0.5, diversity)
    swept = select_diverse(scores, X, 12, diversity=diversity, random_state=0)
    assert sorted(swept.indices.tolist()) == list(range(12))
    one = select_diverse(scores[:1], X[:1], 1, diversity=diversity, random_state=0)
    assert one.indices.tolist() == [0]


@pytest.mark.parametrize(
    ("n", "kwargs"),
    [
        (20_000, {"diversity": "sum_redundancy", "gamma": 0.01}),
        (20_000, {"diversity": "sum_redundancy", "gammas": [0.01, 1.0, 100.0]}),
        (8_000, {"diversity": "mmd", "gamma": 1.0}),  # column sums: O(n^2) time
    ],
)
def test_large_n_selection_memory(n, kwargs):
    """No n x n kernel (3.2 GB at n = 20000, 512 MB at 8000) anywhere in a selection."""
    import tracemalloc

    rng = np.random.default_rng(25)
    X = rng.normal(size=(n, 5))
    scores = rng.normal(size=n)
    tracemalloc.start()
    try:
        result = select_diverse(scores, X, 8, random_state=0, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < min(200 * 2**20, n * n * 8 / 2)
    assert len(set(result.indices.tolist())) == 8


def test_sweep_in_parallel_equals_serial():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 3))
    scores = rng.normal(size=400)
    serial = select_diverse(scores, X, 6, random_state=0)
    parallel = select_diverse(scores, X, 6, random_state=0, n_jobs=2)
    np.testing.assert_array_equal(serial.indices, parallel.indices)
    for key in ("gammas_raw", "influence", "diversity", "mean_pairwise_distance"):
        np.testing.assert_array_equal(serial.tradeoff[key], parallel.tradeoff[key])


def test_candidates_restrict_the_selection_but_not_the_diversity():
    scores, X = _instance(n=40, d=2, seed=31)
    mask = scores < 0  # select among the negative-score points only
    result = select_diverse(-scores, X, 4, gamma=0.3, bandwidth=1.0, candidates=mask)
    assert np.all(mask[result.indices])
    # brute-force greedy over the candidates, R measured on all of X
    K = rbf_dense(X, 1.0)
    S = []
    for _ in range(4):
        rest = [v for v in np.flatnonzero(mask) if v not in S]
        S.append(
            max(
                rest,
                key=lambda v: (
                    -scores[[*S, v]].sum() + 0.3 * R_FUNCTIONS["sum_redundancy"](K, [*S, v])
                ),
            )
        )
    assert result.indices.tolist() == S
    same = select_diverse(-scores, X, 4, gamma=0.3, bandwidth=1.0, candidates=np.flatnonzero(mask))
    np.testing.assert_array_equal(same.indices, result.indices)
    with pytest.raises(ValueError, match="candidates"):
        select_diverse(-scores, X, int(mask.sum()) + 1, gamma=0.3, candidates=mask)
