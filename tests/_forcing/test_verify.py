"""Verification refits of forcing subsets and the work shared between test points.

Ground truth is a fresh ``clone(estimator).fit`` on the kept rows (never the package's refits);
the shared-factorisation path is checked against separate ``minimal_forcing_subset`` calls.
"""

import functools

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_blobs, make_moons
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from fairlearn_divine import minimal_forcing_subset, minimal_forcing_subsets
from fairlearn_divine._forcing._state import RemainingObjective
from fairlearn_divine._forcing._verify import Verifier, _scatter_rows
from fairlearn_divine._models import make_view


@functools.cache
def _frame_pipeline():
    """Numeric and categorical columns; category "rare" is held by one row only (row 7)."""
    X, y = make_moons(120, noise=0.2, random_state=0)
    rng = np.random.default_rng(0)
    cat = rng.choice(["a", "b", "c"], size=len(y))
    cat[7] = "rare"
    df = pd.DataFrame({"u": X[:, 0] * 10 + 3, "v": X[:, 1], "k": cat})
    pipe = make_pipeline(
        ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["k"]),
                ("num", StandardScaler(), ["u", "v"]),
            ]
        ),
        LogisticRegression(tol=1e-10, max_iter=10_000),
    ).fit(df, y)
    return df, y, pipe


def _verifier(estimator, X, y, j):
    x = X.iloc[[j]] if hasattr(X, "iloc") else X[j : j + 1]
    view = make_view(estimator, X, y)
    return Verifier(estimator, X, y, None, view, x), x


def _cold_proba(estimator, X, y, keep, x):
    Xk = X[keep] if not hasattr(X, "iloc") else X.iloc[np.flatnonzero(keep)]
    return clone(estimator).fit(Xk, y[keep]).predict_proba(x)[0]


@pytest.mark.parametrize("drop", [[0, 3, 11], [7], [7, 20, 21, 40]])
def test_pipeline_newton_refit_equals_clone_fit(drop):
    """Transformers refitted on the kept rows (one-hot columns lost with row 7 included)."""
    df, y, pipe = _frame_pipeline()
    verifier, x = _verifier(pipe, df, y, 5)
    assert verifier.mode == "pipeline"
    keep = np.ones(len(y), dtype=bool)
    keep[drop] = False
    refit = verifier.refit(keep, start=make_view(pipe, df, y).params)
    np.testing.assert_allclose(refit.proba, _cold_proba(pipe, df, y, keep, x), rtol=1e-7)
    view, zx, theta = refit.restart()
    assert view.n_params == (6 if 7 in drop else 7)  # "rare" has no column without row 7
    np.testing.assert_allclose(view.predict_proba_features(zx, theta)[0], refit.proba)
    # the estimator's own fit without the rows, warm-started from the Newton solution
    own = verifier.own_fit(keep, refit.solution)
    np.testing.assert_allclose(own, _cold_proba(pipe, df, y, keep, x), rtol=1e-7)


def test_pipeline_refits_in_sequence_warm_start_from_the_last():
    df, y, pipe = _frame_pipeline()
    verifier, x = _verifier(pipe, df, y, 5)
    keep = np.ones(len(y), dtype=bool)
    for i in (3, 7, 9):
        keep[i] = False
        refit = verifier.refit(keep)
        np.testing.assert_allclose(refit.proba, _cold_proba(pipe, df, y, keep, x), rtol=1e-7)
    assert verifier.n_refits == 3


def test_own_fit_of_a_loose_tolerance_is_cold():
    """tol > 1e-8: the estimator's own fit starts from scratch (its tol can decide a flip)."""
    X, y = make_moons(100, noise=0.1, random_state=0)
    model = LogisticRegression(tol=1e-3).fit(X, y)
    verifier, x = _verifier(model, X, y, 3)
    keep = np.ones(len(y), dtype=bool)
    keep[[1, 2]] = False
    refit = verifier.refit(keep)
    own = verifier.own_fit(keep, refit.solution)
    np.testing.assert_array_equal(own, _cold_proba(model, X, y, keep, x))


def test_estimator_refits_start_warm_from_the_fitted_solution():
    """class_weight: no Newton refits; the refit helper warm-starts from the fit."""
    X, y = make_moons(100, noise=0.1, random_state=0)
    model = LogisticRegression(class_weight={0: 1.0, 1: 2.0}, tol=1e-10).fit(X, y)
    verifier, x = _verifier(model, X, y, 3)
    assert verifier.mode == "estimator" and verifier.model is not None
    np.testing.assert_array_equal(verifier.model.coef_, model.coef_)
    keep = np.ones(len(y), dtype=bool)
    keep[[1, 2]] = False
    refit = verifier.refit(keep)
    np.testing.assert_allclose(refit.proba, _cold_proba(model, X, y, keep, x), rtol=1e-7)
    assert verifier.own_fit(keep, refit.solution) is None  # refits were the estimator's own
    result = minimal_forcing_subset(model, X, y, X[3])
    keep = np.ones(len(y), dtype=bool)
    keep[result.indices] = False
    assert result.flipped
    assert np.argmax(_cold_proba(model, X, y, keep, X[3:4])) != np.argmax(
        model.predict_proba(X[3:4])[0]
    )


@pytest.mark.parametrize("sparse", [False, True])
def test_scatter_rows_puts_rows_back_with_zeros_elsewhere(sparse):
    rng = np.random.default_rng(0)
    Zk = rng.normal(size=(4, 3))
    Zk[1, 2] = 0.0
    rows = np.array([0, 2, 3, 6])
    Z = _scatter_rows(sp.csr_matrix(Zk) if sparse else Zk, rows, 8)
    assert sp.issparse(Z) == sparse
    dense = Z.toarray() if sparse else Z
    np.testing.assert_array_equal(dense[rows], Zk)
    np.testing.assert_array_equal(dense[[1, 4, 5, 7]], 0.0)


def test_objective_copy_is_independent():
    X, y = make_moons(60, noise=0.1, random_state=0)
    view = make_view(LogisticRegression(tol=1e-10).fit(X, y), X, y)
    obj = RemainingObjective(view, np.ones(len(y), dtype=bool))
    H, theta, c = obj.H.copy(), obj.theta.copy(), obj.c.copy()
    other = obj.copy()
    other.remove(4)
    np.testing.assert_array_equal(obj.H, H)
    np.testing.assert_array_equal(obj.theta, theta)
    np.testing.assert_array_equal(obj.c, c)
    assert obj.keep.all() and not other.keep[4]
    fresh = RemainingObjective(view, np.ones(len(y), dtype=bool))
    fresh.remove(4)
    np.testing.assert_array_equal(other.theta, fresh.theta)
    np.testing.assert_array_equal(other.H, fresh.H)


def _same(a, b):
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.flipped == b.flipped and a.verified == b.verified and a.message == b.message
    np.testing.assert_array_equal(a.final_proba, b.final_proba)
    assert [t["index"] for t in a.trace] == [t["index"] for t in b.trace]
    np.testing.assert_array_equal(
        [t["loss_gap"] for t in a.trace], [t["loss_gap"] for t in b.trace]
    )


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("kind", ["moons", "blobs", "pipeline"])
def test_shared_factorisation_gives_the_subsets_of_separate_calls(kind, n_jobs):
    """minimal_forcing_subsets builds the view and factorises the Hessian once; every point's
    result is identical to a separate minimal_forcing_subset call."""
    if kind == "pipeline":
        X, y, model = (*_frame_pipeline()[:2], _frame_pipeline()[2])
        points = X.iloc[[5, 9, 30]]
        rows = [points.iloc[[j]] for j in range(3)]
    else:
        if kind == "moons":
            X, y = make_moons(100, noise=0.1, random_state=0)
        else:
            X, y = make_blobs(150, centers=3, cluster_std=2.0, random_state=0)
        model = LogisticRegression(tol=1e-10).fit(X, y)
        points = X[[0, 2, 5]]
        rows = list(points)
    many = minimal_forcing_subsets(model, X, y, points, n_jobs=n_jobs)
    for row, result in zip(rows, many, strict=True):
        _same(minimal_forcing_subset(model, X, y, row), result)


def test_shared_factorisation_with_options_and_sample_weight():
    X, y = make_moons(100, noise=0.1, random_state=0)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))
    model = LogisticRegression(tol=1e-10).fit(X, y, sample_weight=sw)
    options = {"update": "retrain", "epsilon": 1e-2, "max_size": 30, "sample_weight": sw}
    many = minimal_forcing_subsets(model, X, y, X[[0, 5]], **options)
    for row, result in zip(X[[0, 5]], many, strict=True):
        _same(minimal_forcing_subset(model, X, y, row, **options), result)
    with pytest.raises(ValueError, match="update"):
        minimal_forcing_subsets(model, X, y, X[[0]], update="bogus")


def _assert_flip_holds(estimator, X, y, x, result, fit_params=None):
    """Independent cold refits: without S the prediction flips, without S[:-1] it does not."""
    original = estimator.predict(x)[0]
    assert result.flipped and result.verified, result.message

    def predicts(drop):
        keep = np.ones(len(y), dtype=bool)
        keep[np.asarray(drop, dtype=int)] = False
        Xk = X.iloc[np.flatnonzero(keep)] if hasattr(X, "iloc") else X[keep]
        params = {k: v[keep] for k, v in (fit_params or {}).items()}
        return clone(estimator).fit(Xk, y[keep], **params).predict(x)[0]

    assert predicts(result.indices) != original
    assert len(result.indices) == 1 or predicts(result.indices[:-1]) == original


def test_pipeline_with_sample_weight_multiclass_and_pandas_output():
    X, y = make_blobs(150, centers=3, cluster_std=2.5, random_state=1)
    X = X * [20.0, 1.0]
    sw = np.random.default_rng(1).uniform(0.5, 2.0, size=len(y))
    pipe = make_pipeline(StandardScaler(), LogisticRegression(tol=1e-10, max_iter=10_000))
    pipe.set_output(transform="pandas")
    pipe.fit(X, y, logisticregression__sample_weight=sw)
    for j in (0, 4):
        result = minimal_forcing_subset(pipe, X, y, X[j], sample_weight=sw)
        assert result.estimator_proba is not None
        _assert_flip_holds(
            pipe, X, y, X[j : j + 1], result, {"logisticregression__sample_weight": sw}
        )


@pytest.mark.parametrize("update", ["newton", "retrain"])
def test_pipeline_with_categories_flip_holds(update):
    df, y, pipe = _frame_pipeline()
    for j in (5, 9):
        result = minimal_forcing_subset(pipe, df, y, df.iloc[[j]], update=update)
        _assert_flip_holds(pipe, df, y, df.iloc[[j]], result)
