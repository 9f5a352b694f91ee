"""Hostile and careless inputs across the library: a clear error, or the right answer.

One parametrised table: each case is a call into a public function or class with one bad (or
unusual but legitimate) input, and what must happen -- an exception of the stated type whose
message names the bad argument or value (matched by a regex), or a result that is right (the
same as for the plain input). Every case also checks that nothing passed in changed: all the
arrays, DataFrames, Series, sparse matrices, estimators (parameters and fitted attributes) and
files of the case are compared with deep copies taken before the call. The command line has
its own table, run through the real console script (``tests/test_cli_safety.py``); feature
names and numpy scalar options have theirs (``tests/_core/test_feature_names.py``,
``tests/_core/test_numpy_scalars.py``), which this one does not repeat.
"""

import copy
import pathlib

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from fairlearn_divine import (
    ApproximationWarning,
    InfluentialPointRemover,
    make_evaluation_function,
    make_metric_frame_objective,
    minimal_forcing_subset,
    minimal_forcing_subsets,
    removal_curve,
    select_diverse,
    select_diverse_influential,
    tradeoff_curve,
    training_point_importance,
)

N = 40
COLUMNS = ["x1", "x2"]


def _lr():
    return LogisticRegression(tol=1e-12, max_iter=1000)


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 2))
    a = np.tile([0, 1], N // 2)
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.7, size=N) > 0).astype(int)
    return X, y, a


@pytest.fixture(scope="module")
def fitted():
    """Estimators fitted once; every case gets deep copies."""
    X, y, _ = _data()
    y3 = np.arange(N) % 3
    return {
        "model": _lr().fit(X, y),
        "model_1": _lr().fit(X[:, :1], y),
        "model_df": _lr().fit(pd.DataFrame(X, columns=COLUMNS), y),
        "model_bool": _lr().fit(X > 0, y),
        "model_sparse": _lr().fit(sp.csr_matrix(X), y),
        "model3": _lr().fit(X, y3),
    }


class Inputs(dict):
    """The inputs of one case, by name (attribute access)."""

    __getattr__ = dict.__getitem__


def _inputs(fitted, tmp_path):
    X, y, a = _data()
    d = Inputs({k: copy.deepcopy(v) for k, v in fitted.items()})
    d.update(X=X, y=y, a=a, sw=np.ones(N), scores=np.linspace(-1.0, 1.0, N))
    d["y3"] = np.arange(N) % 3
    d["unfitted"] = _lr()
    d["df"] = pd.DataFrame(X, columns=COLUMNS, index=np.arange(N) + 100)
    d["df_dup"] = pd.DataFrame(X, columns=["x1", "x1"])
    d["a_series"] = pd.Series(a, name="group")
    d["a_dict_bad"] = {"sex": a, "race": a[:-1]}
    d["X_nan"] = np.where(np.arange(N)[:, None] == 3, np.nan, X)
    d["df_nan"] = pd.DataFrame(d["X_nan"], columns=COLUMNS, index=np.arange(N) + 100)
    d["X_inf"] = np.where(np.arange(N)[:, None] == 3, np.inf, X)
    d["X_str"] = np.full((N, 2), "abc")
    d["X_obj"] = X.astype(object)
    d["X_bool"] = X > 0
    d["X_3d"] = X[:, :, None].copy()
    d["X_1d"] = X[:, 0].copy()
    d["X_sparse"] = sp.csr_matrix(X)
    d["y_nan"] = np.where(np.arange(N) == 2, np.nan, y.astype(float))
    d["y_unseen"] = np.where(np.arange(N) == 2, 5, y)
    d["y_str"] = y.astype(str)
    d["y_one"] = np.zeros(N, dtype=int)
    d["sw_nan"] = np.where(np.arange(N) == 1, np.nan, 1.0)
    d["sw_neg"] = np.where(np.arange(N) == 1, -1.0, 1.0)
    d["sw_str"] = np.full(N, "heavy")
    d["a_nan"] = np.where(np.arange(N) == 0, np.nan, a.astype(float))
    d["a_one"] = np.zeros(N)
    d["checkpoint"] = tmp_path / "notes.txt"
    d["checkpoint"].write_text("my notes, not a checkpoint\n")
    return d


# ---------------------------------------------------------------------------------------------
# expectations


class Raises:
    def __init__(self, error, match):
        self.error, self.match = error, match

    def run(self, call, d):
        with pytest.raises(self.error, match=self.match):
            call(d)


class Works:
    """The call succeeds; ``verify(result, d)`` checks that the result is right."""

    def __init__(self, verify):
        self.verify = verify

    def run(self, call, d):
        self.verify(call(d), d)


class Warns:
    def __init__(self, warning, match):
        self.warning, self.match = warning, match

    def run(self, call, d):
        with pytest.warns(self.warning, match=self.match):
            call(d)


def raises(error, match):
    return Raises(error, match)


def same_as(reference, key="scores", *, rtol=1e-7, atol=1e-10):
    """The result's ``key`` equals that of ``reference(d)`` (the plain input)."""

    def verify(result, d):
        got, want = result[key], reference(d)[key]
        assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol, atol)

    return Works(verify)


def verified(check):
    def verify(result, d):
        assert check(result, d), result

    return Works(verify)


# ---------------------------------------------------------------------------------------------
# the calls


def tpi(d, **kw):
    kw.setdefault("estimator", d.model)
    kw.setdefault("X", d.X)
    kw.setdefault("y", d.y)
    return training_point_importance(kw.pop("estimator"), kw.pop("X"), kw.pop("y"), **kw)


def fair(d, **kw):
    return tpi(d, objective="equal_accuracy", **kw)


def sd(d, n_points=3, **kw):
    kw.setdefault("scores", d.scores)
    kw.setdefault("X", d.X)
    return select_diverse(kw.pop("scores"), kw.pop("X"), n_points, **kw)


def tc(d, n_points=3, **kw):
    kw.setdefault("scores", d.scores)
    kw.setdefault("X", d.X)
    kw.setdefault("gammas", [0.0, 1.0, 10.0])
    return tradeoff_curve(kw.pop("scores"), kw.pop("X"), n_points, **kw)


def sdi(d, n_points=3, **kw):
    kw.setdefault("estimator", d.model)
    kw.setdefault("X", d.X)
    kw.setdefault("y", d.y)
    return select_diverse_influential(
        kw.pop("estimator"), kw.pop("X"), kw.pop("y"), n_points, **kw
    )


def mfs(d, x=None, **kw):
    kw.setdefault("estimator", d.model)
    kw.setdefault("X", d.X)
    kw.setdefault("y", d.y)
    kw.setdefault("verify", False)
    x = d.X[0] if x is None else x
    return minimal_forcing_subset(kw.pop("estimator"), kw.pop("X"), kw.pop("y"), x, **kw)


def mfss(d, X_points, **kw):
    kw.setdefault("verify", False)
    return minimal_forcing_subsets(d.model, d.X, d.y, X_points, **kw)


def ipr(d, estimator=None, *, fit=None, **params):
    est = InfluentialPointRemover(d.unfitted if estimator is None else estimator, **params)
    fit = {"sensitive_features": d.a} if fit is None else fit
    kw = dict(fit)
    return est.fit(kw.pop("X", d.X), kw.pop("y", d.y), **kw)


def rc(d, **kw):
    kw.setdefault("sensitive_features", d.a)
    kw.setdefault("strategies", ("influence", "random"))
    kw.setdefault("step", 0.1)
    kw.setdefault("max_fraction", 0.2)
    kw.setdefault("random_state", 0)
    kw.setdefault("X", d.X)
    kw.setdefault("y", d.y)
    return removal_curve(d.model, kw.pop("X"), kw.pop("y"), **kw)


def de(d, **kw):
    from fairlearn_divine import DivineExplainer

    kw.setdefault("estimator", d.model)
    kw.setdefault("X_train", d.X)
    kw.setdefault("y_train", d.y)
    return DivineExplainer(kw.pop("estimator"), kw.pop("X_train"), kw.pop("y_train"), **kw)


def _value(y_true, proba, *, sensitive_features=None):
    return float(np.mean(proba[np.arange(len(y_true)), y_true]))


P = pytest.param
V = ValueError
T = TypeError

CASES = [
    # --- training_point_importance -----------------------------------------------------------
    P(lambda d: tpi(d, X=d.X_nan), raises(V, r"features of X .*NaN"), id="tpi-X-nan"),
    P(lambda d: tpi(d, X=d.X_inf), raises(V, r"X contains infinity"), id="tpi-X-inf"),
    P(
        lambda d: tpi(d, X=d.X_str),
        raises(V, r"features of X .*numeric.*'abc'"),
        id="tpi-X-strings",
    ),
    P(lambda d: tpi(d, X=d.X[:0], y=d.y[:0]), raises(V, r"^X .*0 rows"), id="tpi-X-empty"),
    P(lambda d: tpi(d, X=d.X_3d), raises(V, r"^X must be 2-D.*\(40, 2, 1\)"), id="tpi-X-3d"),
    P(lambda d: tpi(d, X=d.X_1d), raises(V, r"^X must be 2-D.*\(40,\)"), id="tpi-X-1d"),
    P(
        lambda d: tpi(d, X=d.X_obj),
        same_as(lambda d: tpi(d), rtol=0, atol=0),
        id="tpi-X-object-dtype-numbers",
    ),
    P(
        lambda d: tpi(d, estimator=d.model_bool, X=d.X_bool),
        same_as(
            lambda d: tpi(d, estimator=d.model_bool, X=d.X_bool.astype(float)), rtol=0, atol=0
        ),
        id="tpi-X-bool",
    ),
    P(
        lambda d: tpi(d, estimator=d.model_sparse, X=d.X_sparse),
        same_as(lambda d: tpi(d, estimator=d.model_sparse, X=d.X)),
        id="tpi-X-sparse",
    ),
    P(
        lambda d: tpi(d, X=d.X.tolist(), y=d.y.tolist()),
        same_as(lambda d: tpi(d), rtol=0, atol=0),
        id="tpi-X-y-lists",
    ),
    P(lambda d: tpi(d, y=d.y_nan), raises(V, r"^y contains NaN"), id="tpi-y-nan"),
    P(lambda d: tpi(d, y=d.y[:-1]), raises(V, r"^X has 40 rows but y has 39"), id="tpi-y-short"),
    P(lambda d: tpi(d, y=np.c_[d.y, d.y]), raises(V, r"^y must be 1-D.*\(40, 2\)"), id="tpi-y-2d"),
    P(
        lambda d: tpi(d, y=d.y_unseen),
        raises(V, r"^y contains labels \[5\]"),
        id="tpi-y-label-not-seen-at-fit",
    ),
    P(
        lambda d: tpi(d, y=d.y.astype(bool)),
        same_as(lambda d: tpi(d), rtol=0, atol=0),
        id="tpi-y-bool-for-0-1",
    ),
    P(
        lambda d: tpi(d, y=d.y_one),
        Warns(ApproximationWarning, r"not at an optimum.*optimality_tol"),
        id="tpi-y-one-class-model-not-fitted-on-it",
    ),
    P(
        lambda d: tpi(d, sample_weight=d.sw_nan),
        raises(V, r"^sample_weight must be finite"),
        id="tpi-sw-nan",
    ),
    P(
        lambda d: tpi(d, sample_weight=d.sw_neg),
        raises(V, r"^sample_weight .*non-negative"),
        id="tpi-sw-negative",
    ),
    P(
        lambda d: tpi(d, sample_weight=np.zeros(N)),
        raises(V, r"^sample_weight .*all zero"),
        id="tpi-sw-all-zero",
    ),
    P(
        lambda d: tpi(d, sample_weight=d.sw[:-1]),
        raises(V, r"^sample_weight .*\(40,\), got \(39,\)"),
        id="tpi-sw-short",
    ),
    P(
        lambda d: tpi(d, sample_weight=d.sw_str),
        raises(V, r"^sample_weight .*numeric.*'heavy'"),
        id="tpi-sw-strings",
    ),
    P(
        lambda d: tpi(d, estimator=d.unfitted),
        raises(
            NotFittedError,
            r"LogisticRegression .*not "
            r"fitted",
        ),
        id="tpi-unfitted",
    ),
    P(
        lambda d: tpi(d, estimator="abc"),
        raises(T, r"'?abc'? is not an estimator"),
        id="tpi-estimator-a-string",
    ),
    P(
        lambda d: tpi(d, X_eval=d.X[:, :1], y_eval=d.y),
        raises(
            V,
            r"^X_eval has 1 features, but "
            r"LogisticRegression was fitted with 2",
        ),
        id="tpi-X_eval-other-n-features",
    ),
    P(
        lambda d: tpi(d, X_eval=d.X[:10], y_eval=d.y[:9]),
        raises(
            V,
            r"^X_eval has 10 rows but "
            r"y_eval has 9",
        ),
        id="tpi-X_eval-y_eval-lengths",
    ),
    P(
        lambda d: tpi(d, X_eval=d.X_inf, y_eval=d.y),
        raises(V, r"X_eval contains infinity"),
        id="tpi-X_eval-inf",
    ),
    P(
        lambda d: tpi(d, X_eval=d.X, y_eval=d.y_unseen),
        raises(
            V,
            r"^y_eval contains labels "
            r"\[5\]",
        ),
        id="tpi-y_eval-label-not-seen-at-fit",
    ),
    P(
        lambda d: tpi(d, X_eval=d.X, y_eval=d.y_str),
        raises(
            V,
            r"^y_eval contains labels "
            r"\['0', '1'\].*classes_ \[0, 1\]",
        ),
        id="tpi-y_eval-strings-for-int-classes",
    ),
    P(
        lambda d: tpi(d, y_eval=d.y),
        raises(V, r"y_eval .*without X_eval"),
        id="tpi-y_eval-without-X_eval",
    ),
    P(lambda d: tpi(d, method="fast"), raises(V, r"Unknown method 'fast'"), id="tpi-method"),
    P(
        lambda d: tpi(d, objective="fairness"),
        raises(V, r"Unknown objective 'fairness'"),
        id="tpi-objective-name",
    ),
    P(
        lambda d: tpi(d, objective=3),
        raises(T, r"^objective must be .*got int: 3"),
        id="tpi-objective-int",
    ),
    P(
        lambda d: tpi(d, objective=[]),
        raises(V, r"^objective must not be an empty list"),
        id="tpi-objective-empty-list",
    ),
    P(
        lambda d: tpi(d, n_permutation=10),
        raises(T, r"Unknown option.*\['n_permutation'\]"),
        id="tpi-misspelled-option",
    ),
    P(
        lambda d: tpi(d, method="loo", indices=[0, 40]),
        raises(V, r"^indices must lie in \[0, 40\)"),
        id="tpi-loo-indices-out-of-range",
    ),
    P(
        lambda d: tpi(
            d, method="data_shapley", n_permutations=2, progress=False, checkpoint=d.checkpoint
        ),
        raises(V, r"checkpoint|notes\.txt"),
        id="tpi-shapley-checkpoint-a-foreign-file",
    ),
    P(
        lambda d: fair(d, sensitive_features=d.a_one),
        raises(V, r"single group: 0\.0"),
        id="tpi-sf-single-group",
    ),
    P(
        lambda d: fair(d, sensitive_features=d.a[:-1]),
        raises(
            V,
            r"^sensitive_features has 39 "
            r"rows",
        ),
        id="tpi-sf-short",
    ),
    P(
        lambda d: fair(d, sensitive_features=d.a_nan),
        raises(
            V,
            r"^sensitive_features contains "
            r"missing",
        ),
        id="tpi-sf-nan",
    ),
    P(
        lambda d: fair(d, X_eval=d.X[:10], y_eval=d.y[:10], sensitive_features_eval=d.a[:9]),
        raises(V, r"^sensitive_features_eval has 9 rows"),
        id="tpi-sf_eval-short",
    ),
    P(
        lambda d: fair(d, sensitive_features=d.a_series),
        same_as(lambda d: fair(d, sensitive_features=d.a), rtol=0, atol=0),
        id="tpi-sf-series",
    ),
    P(
        lambda d: fair(d, estimator=d.model_df, X=d.df, sensitive_features="group"),
        raises(V, r"sensitive_features names column\(s\) \['group'\]"),
        id="tpi-sf-unknown-column",
    ),
    P(
        lambda d: tpi(d, estimator=d.model_df, X=d.df_nan),
        raises(V, r"features of X .*NaN"),
        id="tpi-dataframe-with-nan",
    ),
    P(
        lambda d: tpi(d, estimator=d.model_df, X=d.df_dup),
        raises(V, r"^X lacks columns .*\['x2'\]"),
        id="tpi-dataframe-duplicated-columns",
    ),
    # the default method shows no bar: the progress rule is checked all the same
    P(
        lambda d: tpi(d, progress="yes"),
        raises(T, r"^progress must be True, False or None, got 'yes'"),
        id="tpi-progress-string",
    ),
    P(
        lambda d: tpi(d, progress=1),
        raises(T, r"^progress must be True, False or None, got 1\."),
        id="tpi-progress-int",
    ),
    # --- select_diverse ----------------------------------------------------------------------
    P(
        lambda d: sd(d, scores=np.r_[np.nan, d.scores[1:]]),
        raises(
            V,
            r"^scores contains NaN .*"
            r"\[0\]",
        ),
        id="sd-scores-nan",
    ),
    P(
        lambda d: sd(d, scores=d.scores[:, None]),
        raises(V, r"^scores must be 1-D"),
        id="sd-scores-2d",
    ),
    P(
        lambda d: sd(d, scores=np.full(N, "high")),
        raises(V, r"^scores .*numeric.*'high'"),
        id="sd-scores-strings",
    ),
    P(
        lambda d: sd(d, scores=d.scores[:-1]),
        raises(V, r"^scores has 39 entries but X has 40"),
        id="sd-scores-X-lengths",
    ),
    P(lambda d: sd(d, 0), raises(V, r"^n_points must be in \[1, 40\].*got 0"), id="sd-n-0"),
    P(lambda d: sd(d, -2), raises(V, r"^n_points must be in \[1, 40\].*got -2"), id="sd-n-neg"),
    P(lambda d: sd(d, 41), raises(V, r"^n_points must be in \[1, 40\].*got 41"), id="sd-n-over"),
    P(lambda d: sd(d, True), raises(T, r"^n_points must be an integer, got True"), id="sd-n-bool"),
    P(
        lambda d: sd(d, N, gamma=0.0),
        verified(lambda r, d: sorted(r.indices) == list(range(N))),
        id="sd-n-all",
    ),
    P(
        lambda d: sd(d, gamma=-1.0),
        raises(V, r"^gamma must be .*non-negative.*-1\.0"),
        id="sd-gamma-negative",
    ),
    P(
        lambda d: sd(d, gamma=np.inf),
        raises(V, r"^gamma must be .*finite.*inf"),
        id="sd-gamma-inf",
    ),
    P(
        lambda d: sd(d, gamma="auto"),
        raises(V, r"^gamma must be .*got 'auto'"),
        id="sd-gamma-unknown-name",
    ),
    P(
        lambda d: sd(d, diversity="entropy"),
        raises(V, r"Unknown diversity 'entropy'"),
        id="sd-diversity",
    ),
    P(
        lambda d: sd(d, strategy="best"),
        raises(V, r"^strategy must be one of .*'best'"),
        id="sd-strategy",
    ),
    P(lambda d: sd(d, kernel="linear"), raises(V, r"^kernel must be .*'linear'"), id="sd-kernel"),
    P(
        lambda d: sd(d, bandwidth="mean"),
        raises(V, r"^bandwidth must be .*'mean'"),
        id="sd-bandwidth-name",
    ),
    P(lambda d: sd(d, X=d.X_nan), raises(V, r"X is not numeric and finite.*NaN"), id="sd-X-nan"),
    P(lambda d: sd(d, X=d.X_str), raises(V, r"X is not numeric"), id="sd-X-strings"),
    P(
        lambda d: sd(d, X=d.X_3d),
        raises(V, r"X is not numeric.*dim 3|^X must be 2-D"),
        id="sd-X-3d",
    ),
    P(
        lambda d: sd(d, X=d.X_sparse),
        same_as(lambda d: sd(d), "indices", rtol=0, atol=0),
        id="sd-X-sparse",
    ),
    P(
        lambda d: sd(d, X=d.df),
        same_as(lambda d: sd(d), "indices", rtol=0, atol=0),
        id="sd-X-dataframe",
    ),
    P(
        lambda d: sd(d, X=None),
        raises(V, r"^X is required for diversity='sum_redundancy'"),
        id="sd-X-none",
    ),
    P(
        lambda d: sd(d, groups=d.a[:-1], min_per_group=1),
        raises(
            V,
            r"^groups must have shape "
            r"\(40,\), got \(39,\)",
        ),
        id="sd-groups-short",
    ),
    P(
        lambda d: sd(d, groups=d.a_nan, min_per_group=1),
        raises(V, r"^groups contains NaN"),
        id="sd-groups-nan",
    ),
    P(
        lambda d: sd(d, groups=d.a, min_per_group=2),
        raises(
            V,
            r"min_per_group asks for 4 points "
            r"in total but n_points=3",
        ),
        id="sd-min-per-group-too-many",
    ),
    P(
        lambda d: sd(d, candidates=[0, 1, 40]),
        raises(
            V,
            r"^candidates holds indices outside "
            r"\[0, 40\)",
        ),
        id="sd-candidates-out-of-range",
    ),
    P(
        lambda d: sd(d, gamma="pairwise_distance", gammas=[]),
        raises(
            V,
            r"^gammas must be a "
            r"non-empty",
        ),
        id="sd-gammas-empty",
    ),
    # --- tradeoff_curve ----------------------------------------------------------------------
    P(lambda d: tc(d, 0), raises(V, r"^n_points must be in \[1, 40\].*got 0"), id="tc-n-0"),
    P(
        lambda d: tc(d, np.uint8(3)),
        same_as(lambda d: tc(d, 3), "influence", rtol=0, atol=0),
        id="tc-n-numpy-uint8",
    ),
    P(lambda d: tc(d, gammas="many"), raises(V, r"^gammas must be .*'many'"), id="tc-gammas-str"),
    P(
        lambda d: tc(d, gammas=[1.0, -1.0]),
        raises(V, r"^gammas must be .*-1\.0"),
        id="tc-gammas-negative",
    ),
    P(lambda d: tc(d, gammas=[np.nan]), raises(V, r"^gammas must be .*nan"), id="tc-gammas-nan"),
    P(
        lambda d: tc(d, diversity="variety"),
        raises(V, r"Unknown diversity 'variety'"),
        id="tc-diversity",
    ),
    P(
        lambda d: tc(d, X=d.X[:-1]),
        raises(V, r"^scores has 40 entries but X has 39"),
        id="tc-X-short",
    ),
    # --- select_diverse_influential ----------------------------------------------------------
    P(
        lambda d: sdi(d, 41, gamma=0.0),
        verified(
            lambda r, d: len(r.indices) == r.n_candidates and np.all(r.scores[r.indices] > 0)
        ),
        id="sdi-n-over-returns-all-candidates",
    ),
    P(
        lambda d: sdi(d, 0),
        raises(V, r"^n_points must be a positive integer, got 0"),
        id="sdi-n-0",
    ),
    P(
        lambda d: sdi(d, X=d.X, y=d.y[:-1]),
        raises(V, r"^X has 40 rows but y has 39"),
        id="sdi-y-short",
    ),
    P(
        lambda d: sdi(d, estimator=d.unfitted),
        raises(NotFittedError, r"not fitted"),
        id="sdi-unfitted",
    ),
    P(
        lambda d: sdi(d, X_diversity=d.X[:-1]),
        raises(V, r"^X_diversity has 39 rows but X has 40"),
        id="sdi-X_diversity-short",
    ),
    P(
        lambda d: sdi(d, X_diversity=d.X_nan),
        raises(V, r"X_diversity is not numeric and finite"),
        id="sdi-X_diversity-nan",
    ),
    P(
        lambda d: sdi(d, X_diversity=d.X_sparse),
        same_as(lambda d: sdi(d, X_diversity=d.X), "indices", rtol=0, atol=0),
        id="sdi-X_diversity-sparse",
    ),
    P(
        lambda d: sdi(d, harmful="yes"),
        raises(T, r"^harmful must be True or False, got 'yes'"),
        id="sdi-harmful-string",
    ),
    P(
        lambda d: sdi(d, recalculate="no"),
        raises(
            T,
            r"^recalculate must be True or False, got "
            r"'no'",
        ),
        id="sdi-recalculate-string",
    ),
    P(
        lambda d: sdi(
            d, estimator=d.model_df, X=d.df, objective="equal_accuracy", sensitive_features="group"
        ),
        raises(V, r"^sensitive_features names column\(s\) \['group'\]"),
        id="sdi-sf-unknown-column",
    ),
    P(
        lambda d: sdi(d, objective="equal_accuracy", sensitive_features=d.a_dict_bad),
        raises(V, r"^sensitive_features .*lengths.*'race': 39"),
        id="sdi-sf-dict-mismatched-lengths",
    ),
    P(
        lambda d: sdi(d, objective="equal_accuracy", sensitive_features=d.a[:-1]),
        raises(V, r"^sensitive_features has 39 rows"),
        id="sdi-sf-short",
    ),
    P(
        lambda d: sdi(d, strategy="fastest"),
        raises(V, r"^strategy must be one of .*'fastest'"),
        id="sdi-strategy",
    ),
    P(
        lambda d: sdi(d, kernal="rbf"),
        raises(T, r"unexpected keyword argument 'kernal'"),
        id="sdi-misspelled-option",
    ),
    # --- minimal_forcing_subset(s) -----------------------------------------------------------
    P(
        lambda d: mfs(d, d.X[0, :1]),
        raises(V, r"^x must have shape \(2,\) or \(1, 2\).*\(1,\)"),
        id="mfs-x-wrong-n-features",
    ),
    P(
        lambda d: mfs(d, d.X[:2]),
        raises(V, r"^x must have shape .*got \(2, 2\)"),
        id="mfs-x-two-rows",
    ),
    P(lambda d: mfs(d, d.X_nan[3]), raises(V, r"^x contains NaN"), id="mfs-x-nan"),
    P(
        lambda d: mfs(d, np.array(["a", "b"])),
        raises(V, r"^x must be numeric like X.*'a'"),
        id="mfs-x-strings",
    ),
    P(
        lambda d: mfs(d, update="exact"),
        raises(V, r"^update must be one of .*'exact'"),
        id="mfs-update",
    ),
    P(
        lambda d: mfs(d, solver="NOPE"),
        Warns(ApproximationWarning, r"solver NOPE .*not installed"),
        id="mfs-solver",
    ),
    P(
        lambda d: mfs(d, max_size=0),
        raises(V, r"^max_size must be a positive integer, got 0"),
        id="mfs-max-size-0",
    ),
    P(
        lambda d: mfs(d, epsilon=-0.1),
        raises(V, r"^epsilon must be .*non-negative.*-0\.1"),
        id="mfs-epsilon-negative",
    ),
    P(lambda d: mfs(d, y=d.y[:-1]), raises(V, r"^X has 40 rows but y has 39"), id="mfs-y-short"),
    P(
        lambda d: mfs(d, estimator=d.unfitted),
        raises(NotFittedError, r"not fitted"),
        id="mfs-unfitted",
    ),
    P(
        lambda d: mfs(d, estimator=d.model_1),
        raises(
            V,
            r"^X has 2 features, but "
            r"LogisticRegression was fitted with 1",
        ),
        id="mfs-other-n-features",
    ),
    P(
        lambda d: mfs(d, sample_weight=d.sw_neg),
        raises(V, r"^sample_weight .*non-negative"),
        id="mfs-sw-negative",
    ),
    P(
        lambda d: mfs(d, verify="no"),
        raises(T, r"^verify must be True or False, got 'no'"),
        id="mfs-verify-string",
    ),
    P(
        lambda d: mfs(d, d.X_sparse[0], estimator=d.model_sparse, X=d.X_sparse),
        same_as(lambda d: mfs(d, estimator=d.model_sparse), "indices", rtol=0, atol=0),
        id="mfs-X-sparse",
    ),
    P(
        lambda d: mfs(d, d.X_sparse[:1, :1]),
        raises(V, r"^x must have shape \(1, 2\) to match X, got a sparse \(1, 1\)"),
        id="mfs-x-sparse-wrong-shape",
    ),
    P(
        lambda d: mfss(d, d.X[:2, :1]),
        raises(
            V,
            r"^X_points has 1 features, but "
            r"LogisticRegression was fitted with 2",
        ),
        id="mfss-X_points-wrong-n-features",
    ),
    P(
        lambda d: mfss(d, d.X[0]),
        raises(V, r"^X_points must be 2-D.*\(2,\)"),
        id="mfss-X_points-1d",
    ),
    P(
        lambda d: mfss(d, d.X_nan[2:5]),
        raises(V, r"^X_points contains NaN"),
        id="mfss-X_points-nan",
    ),
    P(lambda d: mfss(d, d.X[:0]), verified(lambda r, d: r == []), id="mfss-X_points-empty"),
    P(
        lambda d: mfss(d, d.X[:2], epsilonn=0.1),
        raises(
            T,
            r"unexpected keyword argument "
            r"'epsilonn'",
        ),
        id="mfss-misspelled-option",
    ),
    # --- InfluentialPointRemover -------------------------------------------------------------
    P(
        lambda d: ipr(d, fraction=0.0),
        raises(V, r"^fraction must be .*\(0, 1\).*got 0\.0"),
        id="ipr-fraction-0",
    ),
    P(
        lambda d: ipr(d, fraction=1.0),
        raises(V, r"^fraction must be .*got 1\.0"),
        id="ipr-fraction-1",
    ),
    P(
        lambda d: ipr(d, fraction=1.5),
        raises(V, r"^fraction must be .*got 1\.5"),
        id="ipr-fraction-over-1",
    ),
    P(
        lambda d: ipr(d, fraction=np.nan),
        raises(V, r"^fraction must be .*got nan"),
        id="ipr-fraction-nan",
    ),
    P(
        lambda d: ipr(d, fraction="0.1"),
        raises(V, r"^fraction must be .*got '0\.1'"),
        id="ipr-fraction-string",
    ),
    P(
        lambda d: ipr(d, mode="delete"),
        raises(V, r"^mode must be one of .*'delete'"),
        id="ipr-mode",
    ),
    P(
        lambda d: ipr(d, target=-0.1),
        raises(V, r"^target must be .*non-negative.*-0\.1"),
        id="ipr-target-negative",
    ),
    P(
        lambda d: ipr(d, objective="unfair"),
        raises(V, r"Unknown objective 'unfair'"),
        id="ipr-objective",
    ),
    P(lambda d: ipr(d, method="quick"), raises(V, r"Unknown method 'quick'"), id="ipr-method"),
    P(
        lambda d: ipr(d, diversity="breadth"),
        raises(V, r"Unknown diversity 'breadth'"),
        id="ipr-diversity",
    ),
    P(lambda d: ipr(d, fit={}), raises(V, r"got no sensitive_features"), id="ipr-no-sf"),
    P(
        lambda d: ipr(d, fit={"sensitive_features": d.a[:-1]}),
        raises(
            V,
            r"^sensitive_features "
            r"has 39 rows but X has 40",
        ),
        id="ipr-sf-short",
    ),
    P(
        lambda d: ipr(d, fit={"sensitive_features": d.a, "y": d.y_one}),
        raises(
            V,
            r"^y has a "
            r"single class",
        ),
        id="ipr-y-one-class",
    ),
    P(
        lambda d: ipr(d, fit={"sensitive_features": d.a, "sample_weight": d.sw_nan}),
        raises(V, r"sample_weight .*(NaN|finite)"),
        id="ipr-sw-nan",
    ),
    P(
        lambda d: ipr(d, fit={"sensitive_features": d.a, "X_val": d.X}),
        raises(V, r"^X_val and y_val must be given together"),
        id="ipr-X_val-without-y_val",
    ),
    P(
        lambda d: ipr(d, "logistic"),
        raises(T, r"^estimator must be .*'logistic'"),
        id="ipr-estimator-a-string",
    ),
    P(
        lambda d: ipr(d, progress="yes"),
        raises(T, r"^progress must be True, False or None, got 'yes'"),
        id="ipr-progress-string",
    ),
    P(
        lambda d: ipr(d, progress=1),
        raises(T, r"^progress must be True, False or None, got 1\."),
        id="ipr-progress-int",
    ),
    P(
        lambda d: InfluentialPointRemover(d.unfitted).predict(d.X),
        raises(NotFittedError, r"InfluentialPointRemover instance is not fitted"),
        id="ipr-predict-before-fit",
    ),
    # --- removal_curve -----------------------------------------------------------------------
    P(lambda d: rc(d, step=0), raises(V, r"^step must be in \(0, 1\), got 0"), id="rc-step-0"),
    P(lambda d: rc(d, step=-0.1), raises(V, r"^step must be .*-0\.1"), id="rc-step-negative"),
    P(
        lambda d: rc(d, max_fraction=1.5),
        raises(V, r"^max_fraction must be .*1\.5"),
        id="rc-max-fraction-over-1",
    ),
    P(
        lambda d: rc(d, strategies=("influence", "greedy")),
        raises(
            V,
            r"Unknown strategies "
            r"\['greedy'\]",
        ),
        id="rc-strategy",
    ),
    P(
        lambda d: rc(d, strategies=()),
        raises(V, r"^strategies must not be empty"),
        id="rc-strategies-empty",
    ),
    P(
        lambda d: rc(d, strategies="random"),
        verified(lambda r, d: list(r.accuracy) == ["random"]),
        id="rc-strategies-one-name",
    ),
    P(lambda d: rc(d, y=d.y[:-1]), raises(V, r"^X has 40 rows but y has 39"), id="rc-y-short"),
    P(
        lambda d: rc(d, sensitive_features=d.a[:-1]),
        raises(V, r"^sensitive_features has 39 rows"),
        id="rc-sf-short",
    ),
    P(
        lambda d: rc(d, X_measure=d.X),
        raises(V, r"X_measure.*y_measure"),
        id="rc-X_measure-without-y_measure",
    ),
    # --- DivineExplainer ---------------------------------------------------------------------
    P(
        lambda d: de(d, y_train=d.y[:-1]),
        raises(V, r"^X_train has 40 rows but y_train has 39"),
        id="de-y_train-short",
    ),
    P(lambda d: de(d, X_train=d.X_3d), raises(V, r"^X_train must be 2-D"), id="de-X_train-3d"),
    P(
        lambda d: de(d, estimator=d.unfitted),
        raises(NotFittedError, r"not fitted"),
        id="de-unfitted",
    ),
    P(
        lambda d: de(d, estimator=d.model_1),
        raises(
            V,
            r"^X_train has 2 features, but "
            r"LogisticRegression was fitted with 1",
        ),
        id="de-other-n-features",
    ),
    P(lambda d: de(d, method="magic"), raises(V, r"Unknown method 'magic'"), id="de-method"),
    P(
        lambda d: de(d, sensitive_features=d.a[:-1]),
        raises(V, r"^sensitive_features has 39 rows"),
        id="de-sf-short",
    ),
    P(
        lambda d: de(d, sensitive_features=d.a_dict_bad),
        raises(
            V,
            r"^sensitive_features .*"
            r"lengths",
        ),
        id="de-sf-dict-mismatched-lengths",
    ),
    P(
        lambda d: de(d, point_names=["a", "b"]),
        raises(
            V,
            r"^point_names has 2 entries; X_train "
            r"has 40 rows",
        ),
        id="de-point-names-short",
    ),
    P(
        lambda d: de(d)(d.X[:3], d.y[:2]),
        raises(V, r"^X has 3 rows but y has 2"),
        id="de-call-y-short",
    ),
    P(
        lambda d: de(d).explain_local(d.X[0], d.y[0], n_points=0),
        raises(
            V,
            r"^n_points must be a "
            r"positive integer, got 0",
        ),
        id="de-local-n-0",
    ),
    P(
        lambda d: de(d).explain_local(d.X[0, :1], d.y[0]),
        raises(V, r"^x must have shape \(2,\)"),
        id="de-local-x-wrong-shape",
    ),
    P(
        lambda d: de(d).explain_local(d.X[0], 7),
        raises(V, r"^y contains labels \[7\]"),
        id="de-local-y-unseen",
    ),
    P(
        lambda d: de(d).explain_local(d.X[0], d.y[:2]),
        raises(V, r"^y must be the one label of x.*\(2,\)"),
        id="de-local-y-two-labels",
    ),
    P(
        lambda d: de(d).explain_fairness(d.X[:8], d.y[:8], sensitive_features=d.a[:7]),
        raises(V, r"^sensitive_features has 7 rows"),
        id="de-fairness-sf-short",
    ),
    P(
        lambda d: de(d).forcing_subset(d.X[0, :1]),
        raises(V, r"^x must have shape \(2,\)"),
        id="de-forcing-x-wrong-shape",
    ),
    # --- objectives --------------------------------------------------------------------------
    P(
        lambda d: make_evaluation_function(3),
        raises(T, r"^value must be callable, got int"),
        id="mef-value-not-callable",
    ),
    P(
        lambda d: make_evaluation_function(_value, gradient="auto"),
        raises(
            T,
            r"^gradient must be "
            r"callable or None, got str",
        ),
        id="mef-gradient-not-callable",
    ),
    P(
        lambda d: make_metric_frame_objective({"acc": _value}, aggregate="mean"),
        raises(V, r"^aggregate must be one of .*'mean'"),
        id="mmfo-aggregate",
    ),
]


# ---------------------------------------------------------------------------------------------
# nothing passed in changes


def _snapshot(d):
    files = {}
    for value in d.values():
        if isinstance(value, pathlib.Path):
            files[value] = value.read_bytes()
            files[value.parent] = sorted(p.name for p in value.parent.iterdir())
    return copy.deepcopy(dict(d)), files


def _assert_same(name, got, want):
    if isinstance(want, BaseEstimator):
        assert type(got) is type(want), name
        got_params = {k: repr(v) for k, v in got.get_params().items()}
        assert got_params == {k: repr(v) for k, v in want.get_params().items()}, name
        assert sorted(vars(got)) == sorted(vars(want)), f"{name}: attributes changed"
        for attr, value in vars(want).items():
            if isinstance(value, np.ndarray):
                assert_array_equal(getattr(got, attr), value, err_msg=f"{name}.{attr}")
        if hasattr(want, "coef_"):
            assert_array_equal(got.coef_, want.coef_, err_msg=f"{name}.coef_")
    elif isinstance(want, pd.DataFrame):
        pd.testing.assert_frame_equal(got, want)
    elif isinstance(want, pd.Series):
        pd.testing.assert_series_equal(got, want)
    elif sp.issparse(want):
        assert type(got) is type(want) and got.shape == want.shape, name
        assert_array_equal(got.toarray(), want.toarray(), err_msg=name)
    elif isinstance(want, np.ndarray):
        assert got.dtype == want.dtype, name
        assert_array_equal(got, want, err_msg=name)  # NaN equals NaN here
    elif isinstance(want, dict):
        assert sorted(got) == sorted(want), name
        for key in want:
            _assert_same(f"{name}[{key!r}]", got[key], want[key])
    else:
        assert got == want, name


def _assert_unchanged(d, snapshot):
    values, files = snapshot
    assert sorted(d) == sorted(values)
    for name, want in values.items():
        _assert_same(name, d[name], want)
    for path, content in files.items():
        if path.is_dir():
            assert sorted(p.name for p in path.iterdir()) == content, "files added or removed"
        else:
            assert path.read_bytes() == content, f"{path} changed"


@pytest.mark.parametrize(("call", "expect"), CASES)
def test_hostile_input(fitted, tmp_path, call, expect):
    d = _inputs(fitted, tmp_path)
    snapshot = _snapshot(d)
    expect.run(call, d)
    _assert_unchanged(d, snapshot)


def test_the_table_is_large_and_covers_every_entry_point():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 70
    prefixes = {i.split("-")[0] for i in ids}
    assert {"tpi", "sd", "tc", "sdi", "mfs", "mfss", "ipr", "rc", "de", "mef"} <= prefixes


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.X.__setitem__((0, 0), 99.0),
        lambda d: d.X_nan.__setitem__((3, 0), 0.0),
        lambda d: d.df.iloc.__setitem__((0, 0), 99.0),
        lambda d: d.a_series.__setitem__(0, 5),
        lambda d: d.model.set_params(C=2.0),
        lambda d: d.model.coef_.__setitem__((0, 0), 9.0),
        lambda d: d.unfitted.fit(d.X, d.y),
        lambda d: d.a_dict_bad["sex"].__setitem__(0, 7),
        lambda d: d.X_sparse.data.__setitem__(0, 9.0),
        lambda d: d.checkpoint.write_text("overwritten"),
        lambda d: (d.checkpoint.parent / "new.tmp").write_text(""),
    ],
    ids=[
        "array",
        "nan-array",
        "dataframe",
        "series",
        "params",
        "coef",
        "fitted",
        "dict",
        "sparse",
        "file",
        "new-file",
    ],
)
def test_the_unchanged_check_catches_a_mutation(fitted, tmp_path, mutate):
    d = _inputs(fitted, tmp_path)
    snapshot = _snapshot(d)
    mutate(d)
    with pytest.raises(AssertionError):
        _assert_unchanged(d, snapshot)
