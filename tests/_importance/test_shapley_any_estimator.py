"""Data Shapley of estimators refitted by their own ``fit`` (forests, boosted trees, pipelines).

Ground truth is computed here with plain scikit-learn refits and the conventions of the
``_shapley`` module docstring: the marginal of point *i* is f(prefix) - f(prefix + i); a prefix
whose labels are one class (and the empty set) predicts the Laplace-smoothed class frequencies
(w_k + 1) / (W + K) of its rows (the training set for the empty set); f is scikit-learn's
``log_loss`` (clipped to [eps, 1 - eps]) or the error rate of the argmax. Without truncation the
marginals of one permutation telescope to f(empty) - f(D), whatever the estimator.

A previous bug: warm-started refits of ensembles fitted nothing new, so every prefix of a random
forest scored like the first fitted one and the values summed to ~0.02 instead of
f(empty) - f(D).
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from fairlearn_divine import ApproximationWarning, training_point_importance

N, N_EVAL = 25, 15
OBJECTIVES = ["log_loss", "zero_one_loss"]


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    """HistGradientBoosting on 25 rows: OpenMP threads only add overhead (and spin when the
    machine is busy). The results do not depend on the thread count."""
    with threadpool_limits(1, user_api="openmp"):
        yield


def _forest():
    return RandomForestClassifier(n_estimators=5, random_state=0)


def _boosting():
    # min_samples_leaf=3: with the default 20, 25 rows allow no split at all
    return HistGradientBoostingClassifier(max_iter=10, min_samples_leaf=3, random_state=0)


def _column_pipeline():
    return make_pipeline(
        ColumnTransformer(
            [
                ("onehot", OneHotEncoder(handle_unknown="ignore"), ["g"]),
                ("scale", StandardScaler(), ["x0", "x1"]),
            ]
        ),
        LogisticRegression(tol=1e-10, solver="newton-cg"),
    )


ESTIMATORS = {"random_forest": _forest, "hist_gradient_boosting": _boosting}


def _problem(seed=3, frame=False):
    rng = np.random.default_rng(seed)
    n = N + N_EVAL
    X = rng.normal(size=(n, 2))
    z = 3.0 * X[:, 0] - 1.5 * X[:, 1]
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    if frame:
        g = np.array(["a", "b", "c"])[rng.integers(0, 3, n)]
        y = np.where(g == "c", 1, y)
        X = pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "g": g})
        return X.iloc[:N], y[:N], X.iloc[N:], y[N:]
    return X[:N], y[:N], X[N:], y[N:]


def _shapley(model, X, y, Xe, ye, **kw):
    kw.setdefault("objective", OBJECTIVES)
    kw.setdefault("progress", False)
    return training_point_importance(
        model, X, y, method="data_shapley", X_eval=Xe, y_eval=ye, **kw
    )


# ---------------------------------------------------------------------------------------------
# independent ground truth


def _values(P, ye, classes):
    """f for probabilities P on the evaluation set: (log loss, error rate)."""
    return np.array(
        [
            log_loss(ye, y_proba=P, labels=classes),
            float(np.mean(classes[np.argmax(P, axis=1)] != ye)),
        ]
    )


def _constant(y_rows, ye, classes):
    counts = np.array([np.sum(y_rows == c) for c in classes], dtype=float)
    p = (counts + 1.0) / (counts.sum() + len(classes))
    return _values(np.tile(p, (len(ye), 1)), ye, classes)


def _subset_values(est, X, y, rows, Xe, ye):
    """f(S) under the documented conventions."""
    classes = np.unique(y)
    if len(rows) == 0:
        return _constant(y, ye, classes)
    rows = np.sort(rows)
    if len(np.unique(y[rows])) == 1:
        return _constant(y[rows], ye, classes)
    Xr = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
    model = clone(est).fit(Xr, y[rows])
    return _values(model.predict_proba(Xe), ye, classes)


def _documented_permutation(seed, t, n):
    """Sample t of random_state=seed: ``SeedSequence([seed, t])`` (module docstring)."""
    return np.random.default_rng(np.random.SeedSequence([seed, t])).permutation(n)


def _own_marginals(est, X, y, Xe, ye, perm):
    marg = np.zeros((len(perm), 2))
    prev = _subset_values(est, X, y, [], Xe, ye)
    for j, i in enumerate(perm):
        value = _subset_values(est, X, y, perm[: j + 1], Xe, ye)
        marg[i] = prev - value
        prev = value
    return marg.T


# ---------------------------------------------------------------------------------------------
# efficiency without truncation


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_efficiency_every_permutation(name):
    """truncation_tolerance=0: the marginals of every single permutation sum to
    f(empty) - f(D) (one permutation per run, two seeds; then a run of two antithetic
    permutations), with one refit per prefix."""
    est = ESTIMATORS[name]()
    X, y, Xe, ye = _problem()
    classes = np.unique(y)
    f_empty = _constant(y, ye, classes)
    f_full = _values(clone(est).fit(X, y).predict_proba(Xe), ye, classes)
    # the totals are far from the ~0.02 of the old bug
    assert np.all(f_empty - f_full > 0.1), f_empty - f_full
    model = clone(est).fit(X, y)
    runs = [
        dict(n_permutations=1, antithetic=False, random_state=0),
        dict(n_permutations=1, antithetic=False, random_state=1),
        dict(n_permutations=2, antithetic=True, random_state=2),
    ]
    for kw in runs:
        res = _shapley(model, X, y, Xe, ye, truncation_tolerance=0.0, **kw)
        assert res.scores.shape == (2, N)
        assert res.n_permutations == kw["n_permutations"]
        assert res.mean_prefix_evaluations == N  # every prefix refitted, none truncated
        assert_allclose(res.baseline, f_full, rtol=0, atol=1e-12)
        assert_allclose(res.scores.sum(axis=1), f_empty - f_full, rtol=0, atol=1e-9)
        assert np.count_nonzero(res.scores[0]) >= N // 2


@pytest.mark.parametrize("name", list(ESTIMATORS) + ["column_pipeline"])
def test_marginals_of_one_permutation_equal_own_prefix_refits(name):
    """Point by point: the marginals of the documented permutation of sample 0 equal
    f(prefix) - f(prefix + i) from our own ``clone().fit`` of every prefix.

    The column pipeline one-hot encodes a categorical column: a prefix that first meets a
    category has one input column more than the previous prefix, so it cannot be warm-started
    from the previous prefix's coefficients (scikit-learn raises a shape error); a cold fit
    works and must be what the prefix gets.
    """
    frame = name == "column_pipeline"
    est = _column_pipeline() if frame else ESTIMATORS[name]()
    X, y, Xe, ye = _problem(seed=3, frame=frame)
    model = clone(est).fit(X, y)
    res = _shapley(
        model,
        X,
        y,
        Xe,
        ye,
        n_permutations=1,
        antithetic=False,
        truncation_tolerance=0.0,
        random_state=5,
    )
    expected = _own_marginals(est, X, y, Xe, ye, _documented_permutation(5, 0, N))
    if frame:
        assert_allclose(res.scores, expected, rtol=1e-5, atol=1e-6)
    else:
        assert_allclose(res.scores, expected, rtol=0, atol=1e-12)


def test_zero_one_loss_without_truncation_evaluates_every_prefix():
    """The error rate is discrete and often equals f(D) after a few prefixes: with the default
    tolerance the scan truncates there, with truncation_tolerance=0 it must not."""
    X, y, Xe, ye = _problem()
    model = _forest().fit(X, y)
    kw = dict(objective="zero_one_loss", n_permutations=4, random_state=3)
    full = _shapley(model, X, y, Xe, ye, truncation_tolerance=0.0, **kw)
    assert full.n_permutations == 4
    assert full.mean_prefix_evaluations == N
    truncated = _shapley(model, X, y, Xe, ye, truncation_tolerance=0.01, **kw)
    assert truncated.mean_prefix_evaluations < N  # the contrast: truncation does trigger here
    f_empty = _constant(y, ye, np.unique(y))[1]
    assert_allclose(full.scores.sum(), f_empty - full.baseline, rtol=0, atol=1e-9)


def test_same_random_state_same_scores_for_any_n_jobs():
    X, y, Xe, ye = _problem(seed=2)
    model = _forest().fit(X, y)
    kw = dict(objective="log_loss", n_permutations=4, random_state=11)
    serial = _shapley(model, X, y, Xe, ye, n_jobs=1, **kw)
    parallel = _shapley(model, X, y, Xe, ye, n_jobs=2, **kw)
    assert_array_equal(serial.scores, parallel.scores)
    assert_array_equal(serial.scores_stderr, parallel.scores_stderr)
    assert serial.n_permutations == parallel.n_permutations == 4
    assert serial.mean_prefix_evaluations == parallel.mean_prefix_evaluations
    assert np.count_nonzero(serial.scores) > 0


def test_unseeded_random_forest_warns():
    X, y, Xe, ye = _problem()
    model = RandomForestClassifier(n_estimators=3, random_state=None).fit(X, y)
    with pytest.warns(ApproximationWarning, match="random_state"):
        _shapley(model, X, y, Xe, ye, objective="log_loss", n_permutations=2, random_state=0)
