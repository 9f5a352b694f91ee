"""Refits of any scikit-learn classifier equal ``clone(estimator).fit`` on the changed data.

Ground truth is computed here with plain scikit-learn loops: ``clone(est).fit`` without row
*i* (leave-one-out), with row *i*'s label flipped (counterfactual, ``exact=True``), with the
sample weights of the kept rows (routed as ``<laststep>__sample_weight`` for a Pipeline), and
``f`` = scikit-learn's ``log_loss`` with ``labels=`` on a separate evaluation set (it clips the
probabilities to ``[eps, 1 - eps]`` as the package's ``"log_loss"`` does). Estimators with
randomness get an integer ``random_state``: then every refit is deterministic and the package
must give the same numbers (to 1e-12: only the summation order of the log loss differs).
Estimators ending in a ``LogisticRegression`` are compared to the solver tolerance (the package
warm-starts them, or refits a bare one by exact Newton iterations).

A previous bug: warm-started refits of ensembles fitted nothing new, so LOO of a random forest
was all zero; the ensemble cases check that the scores are not.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import log_loss
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from fairlearn_divine import ApproximationWarning, training_point_importance
from fairlearn_divine._core.refit import EstimatorRefitter, warm_start_is_exact

N_TRAIN, N_EVAL = 30, 15
SVC_PROBABILITY = pytest.mark.filterwarnings(
    "ignore:The `probability` parameter was deprecated:FutureWarning"
)


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    """HistGradientBoosting on 30 rows: OpenMP threads only add overhead (and spin when the
    machine is busy: 2-50 x slower). The results do not depend on the thread count."""
    with threadpool_limits(1, user_api="openmp"):
        yield


# ---------------------------------------------------------------------------------------------
# data


def _arrays(seed=0):
    """A binary problem (3 Gaussian features, logistic labels): train and eval arrays."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_EVAL
    X = rng.normal(size=(n, 3))
    z = X @ np.array([1.5, -1.0, 0.5]) + 0.2
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]


def _frames(seed=0, rare_category=False):
    """The same problem as DataFrames with a categorical column ``g`` (every category at least
    three times in the training rows, or with ``rare_category`` one category seen once)."""
    Xtr, ytr, Xe, ye = _arrays(seed)
    cats = np.array(["a", "b", "c"])
    g_tr = cats[np.arange(N_TRAIN) % 3]
    g_tr = g_tr[np.random.default_rng(seed + 1).permutation(N_TRAIN)]
    if rare_category:
        g_tr[4] = "d"
    g_e = cats[np.arange(N_EVAL) % 3]

    def frame(X, g):
        return pd.DataFrame({"x0": X[:, 0] * 3 + 1, "x1": X[:, 1], "x2": X[:, 2], "g": g})

    # the category carries signal, so that the one-hot columns matter
    ytr = np.where(g_tr == "b", 1, ytr)
    return frame(Xtr, g_tr), ytr, frame(Xe, g_e), ye


def _column_pipeline():
    return make_pipeline(
        ColumnTransformer(
            [
                ("onehot", OneHotEncoder(handle_unknown="ignore"), ["g"]),
                ("scale", StandardScaler(), ["x0", "x1", "x2"]),
            ]
        ),
        LogisticRegression(tol=1e-10, solver="newton-cg"),
    )


# id -> (estimator, takes a DataFrame with a categorical column, compares to solver tolerance)
# newton-cg with tol=1e-10: the same optimum as lbfgs, in a fraction of the time.
# HistGradientBoosting gets min_samples_leaf=5: with the default 20, 30 rows allow no split.
CASES = {
    "random_forest": (RandomForestClassifier(n_estimators=5, random_state=0), False, False),
    "extra_trees": (ExtraTreesClassifier(n_estimators=5, random_state=0), False, False),
    "hist_gradient_boosting": (
        HistGradientBoostingClassifier(max_iter=10, min_samples_leaf=5, random_state=0),
        False,
        False,
    ),
    "gradient_boosting": (
        GradientBoostingClassifier(n_estimators=10, random_state=0),
        False,
        False,
    ),
    "svc": (SVC(probability=True, random_state=0), False, False),
    "knn": (KNeighborsClassifier(n_neighbors=3), False, False),
    "logistic": (LogisticRegression(tol=1e-10, solver="newton-cg"), False, True),
    "pipeline": (
        make_pipeline(StandardScaler(), LogisticRegression(tol=1e-10, solver="newton-cg")),
        False,
        True,
    ),
    "column_pipeline": (_column_pipeline(), True, True),
}
ENSEMBLES = {"random_forest", "extra_trees", "hist_gradient_boosting", "gradient_boosting"}


def _case(name, marks=()):
    marks = list(marks) + ([SVC_PROBABILITY] if name == "svc" else [])
    return pytest.param(name, id=name, marks=marks)


ALL_CASES = [_case(name) for name in CASES]
WEIGHTED_CASES = [
    _case(name)
    for name in (
        "random_forest",
        "logistic",
        "pipeline",
        "column_pipeline",
    )
]


def _problem(name):
    est, frame, tolerant = CASES[name]
    Xtr, ytr, Xe, ye = _frames() if frame else _arrays()
    return clone(est), Xtr, ytr, Xe, ye, tolerant


def _weights(n, seed=3):
    return np.random.default_rng(seed).uniform(0.2, 3.0, size=n)


# ---------------------------------------------------------------------------------------------
# independent ground truth: clone().fit loops


def _rows(X, keep):
    return X.iloc[keep] if hasattr(X, "iloc") else X[keep]


def _fit(est, X, y, sample_weight=None):
    model = clone(est)
    if sample_weight is None:
        return model.fit(X, y)
    key = (
        f"{model.steps[-1][0]}__sample_weight" if isinstance(model, Pipeline) else "sample_weight"
    )
    return model.fit(X, y, **{key: sample_weight})


def _f(model, X_eval, y_eval, classes):
    return log_loss(y_eval, y_proba=model.predict_proba(X_eval), labels=classes)


def _own_loo(est, X, y, X_eval, y_eval, sample_weight=None):
    classes = np.unique(y)
    base = _f(_fit(est, X, y, sample_weight), X_eval, y_eval, classes)
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        sw = None if sample_weight is None else sample_weight[keep]
        model = _fit(est, _rows(X, keep), y[keep], sw)
        out[i] = _f(model, X_eval, y_eval, classes) - base
    return out, base


def _own_flips(est, X, y, X_eval, y_eval, sample_weight=None):
    classes = np.unique(y)
    base = _f(_fit(est, X, y, sample_weight), X_eval, y_eval, classes)
    out = np.empty(len(y))
    for i in range(len(y)):
        y2 = y.copy()
        y2[i] = classes[1] if y[i] == classes[0] else classes[0]
        out[i] = _f(_fit(est, X, y2, sample_weight), X_eval, y_eval, classes) - base
    return out


def _assert_scores(actual, expected, tolerant):
    if tolerant:
        assert_allclose(actual, expected, rtol=1e-4, atol=1e-6)
    else:
        assert_allclose(actual, expected, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# (a) leave-one-out, (b) label flips, (c) sample weights, (d) DataFrame index


@pytest.mark.parametrize("name", ALL_CASES)
def test_loo_equals_own_refits(name):
    est, Xtr, ytr, Xe, ye, tolerant = _problem(name)
    fitted = clone(est).fit(Xtr, ytr)
    res = training_point_importance(fitted, Xtr, ytr, X_eval=Xe, y_eval=ye, method="loo")
    expected, base = _own_loo(est, Xtr, ytr, Xe, ye)
    _assert_scores(res.scores, expected, tolerant)
    assert res.baseline == pytest.approx(base, rel=1e-6 if tolerant else 1e-12)
    assert res.n_refits == N_TRAIN + 1
    if name in ENSEMBLES:
        # the old warm-start bug left every refit equal to the reference: all scores 0
        assert np.count_nonzero(res.scores) >= N_TRAIN // 3, res.scores


def test_loo_logistic_through_estimator_refits_equals_own_refits():
    """refit_solver="estimator": a bare LogisticRegression through the (warm-started, checked)
    refit helper instead of Newton iterations."""
    est, Xtr, ytr, Xe, ye, _ = _problem("logistic")
    fitted = clone(est).fit(Xtr, ytr)
    res = training_point_importance(
        fitted, Xtr, ytr, X_eval=Xe, y_eval=ye, method="loo", refit_solver="estimator"
    )
    assert res.refit_solver == "estimator" and res.warm_start
    expected, _ = _own_loo(est, Xtr, ytr, Xe, ye)
    _assert_scores(res.scores, expected, tolerant=True)


@pytest.mark.parametrize("name", ALL_CASES)
def test_counterfactual_exact_equals_own_flip_refits(name):
    est, Xtr, ytr, Xe, ye, tolerant = _problem(name)
    fitted = clone(est).fit(Xtr, ytr)
    res = training_point_importance(
        fitted, Xtr, ytr, X_eval=Xe, y_eval=ye, method="counterfactual", exact=True
    )
    assert_array_equal(res.flipped_labels, 1 - ytr)
    _assert_scores(res.scores, _own_flips(est, Xtr, ytr, Xe, ye), tolerant)
    if name in ENSEMBLES:
        assert np.count_nonzero(res.scores) >= N_TRAIN // 3, res.scores


@pytest.mark.parametrize("name", WEIGHTED_CASES)
def test_loo_sample_weight_equals_own_weighted_refits(name):
    est, Xtr, ytr, Xe, ye, tolerant = _problem(name)
    sw = _weights(N_TRAIN)
    fitted = _fit(est, Xtr, ytr, sw)
    res = training_point_importance(
        fitted, Xtr, ytr, X_eval=Xe, y_eval=ye, method="loo", sample_weight=sw
    )
    expected, base = _own_loo(est, Xtr, ytr, Xe, ye, sample_weight=sw)
    _assert_scores(res.scores, expected, tolerant)
    assert res.baseline == pytest.approx(base, rel=1e-6 if tolerant else 1e-12)
    # the weights matter: the unweighted fit has another f
    assert abs(base - _f(_fit(est, Xtr, ytr), Xe, ye, np.unique(ytr))) > 1e-3


@pytest.mark.parametrize("name", [_case(n) for n in ("random_forest", "column_pipeline")])
def test_shuffled_dataframe_index_equals_reset_index(name):
    """As train_test_split leaves them: DataFrames (and a Series y / weights) whose integer
    index is shuffled. Rows are taken by position, so the scores equal those of the reset
    index (which equal our own refits, see the tests above)."""
    est, Xtr, ytr, Xe, ye, tolerant = _problem(name)
    Xtr = pd.DataFrame(Xtr).add_prefix("c") if not hasattr(Xtr, "iloc") else Xtr
    Xe = pd.DataFrame(Xe).add_prefix("c") if not hasattr(Xe, "iloc") else Xe
    sw = _weights(N_TRAIN, seed=4)
    rng = np.random.default_rng(7)
    idx_tr = rng.permutation(N_TRAIN + N_EVAL)[:N_TRAIN]
    idx_e = rng.permutation(N_EVAL) + 1000
    Xs, Xes = Xtr.set_axis(idx_tr), Xe.set_axis(idx_e)
    ys, sws = pd.Series(ytr, index=idx_tr), pd.Series(sw, index=idx_tr)
    yes = pd.Series(ye, index=idx_e)
    shuffled = training_point_importance(
        _fit(est, Xs, ys, sw), Xs, ys, X_eval=Xes, y_eval=yes, sample_weight=sws, method="loo"
    )
    reset = training_point_importance(
        _fit(est, Xtr, ytr, sw), Xtr, ytr, X_eval=Xe, y_eval=ye, sample_weight=sw, method="loo"
    )
    assert_array_equal(shuffled.scores, reset.scores)
    assert shuffled.baseline == reset.baseline
    assert np.count_nonzero(reset.scores) >= N_TRAIN // 3


def test_loo_column_pipeline_category_seen_once():
    """Removing the only row of a category shrinks the one-hot encoding by a column. A cold
    ``clone().fit`` handles that; a refit warm-started from the full-data coefficients (one
    column more) must not fail or be used."""
    est = _column_pipeline()
    Xtr, ytr, Xe, ye = _frames(rare_category=True)
    fitted = clone(est).fit(Xtr, ytr)
    res = training_point_importance(fitted, Xtr, ytr, X_eval=Xe, y_eval=ye, method="loo")
    expected, _ = _own_loo(est, Xtr, ytr, Xe, ye)
    _assert_scores(res.scores, expected, tolerant=True)


def test_unseeded_random_forest_warns():
    """random_state=None: every refit draws new randomness (by design a warning)."""
    Xtr, ytr, Xe, ye = _arrays()
    model = RandomForestClassifier(n_estimators=3, random_state=None).fit(Xtr, ytr)
    with pytest.warns(ApproximationWarning, match="random_state"):
        training_point_importance(model, Xtr, ytr, method="loo", indices=[0, 1])
    with pytest.warns(ApproximationWarning, match="random_state"):
        training_point_importance(
            model, Xtr, ytr, method="counterfactual", exact=True, indices=[0]
        )


# ---------------------------------------------------------------------------------------------
# EstimatorRefitter


WARM_START_CASES = {
    "lbfgs": (LogisticRegression(), True),
    "newton_cholesky": (LogisticRegression(C=0.1, solver="newton-cholesky"), True),
    "newton_cg": (LogisticRegression(solver="newton-cg"), True),
    "saga_l2": (LogisticRegression(solver="saga", random_state=0), True),
    "pipeline": (make_pipeline(StandardScaler(), LogisticRegression()), True),
    "column_pipeline": (_column_pipeline(), True),
    "unpenalised": (LogisticRegression(C=np.inf), False),
    "l1": (LogisticRegression(l1_ratio=1.0, solver="saga"), False),
    "elasticnet": (LogisticRegression(l1_ratio=0.5, solver="saga"), False),
    "liblinear": (LogisticRegression(solver="liblinear"), False),
    "pipeline_unpenalised": (make_pipeline(StandardScaler(), LogisticRegression(C=np.inf)), False),
    "random_forest": (RandomForestClassifier(random_state=0), False),
    "hist_gradient_boosting": (HistGradientBoostingClassifier(random_state=0), False),
    "gradient_boosting": (GradientBoostingClassifier(random_state=0), False),
    "sgd": (SGDClassifier(loss="log_loss", random_state=0), False),
    "mlp": (MLPClassifier(random_state=0), False),
    "knn": (KNeighborsClassifier(), False),
    "pipeline_forest": (
        make_pipeline(StandardScaler(), RandomForestClassifier(random_state=0)),
        False,
    ),
}


@pytest.mark.parametrize("name", list(WARM_START_CASES))
def test_warm_start_is_exact(name):
    est, expected = WARM_START_CASES[name]
    assert warm_start_is_exact(est) == expected
    Xtr, ytr, _, _ = _arrays()
    refitter = EstimatorRefitter(est, Xtr, ytr)
    assert refitter.warm == expected
    assert EstimatorRefitter(est, Xtr, ytr, warm_start=False).warm is False
    # the template is a clone: the user's estimator is not touched
    assert est.get_params().get("warm_start", False) in (False, None)


@pytest.mark.parametrize(
    "est",
    [
        LogisticRegression(tol=1e-10),
        make_pipeline(StandardScaler(), LogisticRegression(C=0.5, tol=1e-10)),
    ],
    ids=["logistic", "pipeline"],
)
def test_warm_logistic_refit_equals_cold_refit(est):
    Xtr, ytr, Xe, _ = _arrays(seed=1)
    refitter = EstimatorRefitter(est, Xtr, ytr)
    assert refitter.warm
    reference = refitter.fit()
    reference_coef = reference[-1].coef_.copy() if isinstance(est, Pipeline) else None
    for drop in ([3], [0, 11, 17]):
        keep = np.setdiff1d(np.arange(N_TRAIN), drop)
        warm = refitter.fit_without(drop, warm_from=reference)
        cold = clone(est).fit(Xtr[keep], ytr[keep])
        lr_warm = warm[-1] if isinstance(est, Pipeline) else warm
        lr_cold = cold[-1] if isinstance(est, Pipeline) else cold
        assert lr_warm is not (reference[-1] if isinstance(est, Pipeline) else reference)
        assert lr_warm.warm_start  # really the warm path
        assert_allclose(lr_warm.coef_, lr_cold.coef_, rtol=1e-6, atol=1e-8)
        assert_allclose(lr_warm.intercept_, lr_cold.intercept_, rtol=1e-6, atol=1e-8)
        assert_allclose(warm.predict_proba(Xe), cold.predict_proba(Xe), rtol=0, atol=1e-6)
    assert refitter.n_cold_retries == 0 and refitter.n_unconverged == 0
    assert refitter.n_refits == 3
    if reference_coef is not None:  # warm_from was copied, not refitted in place
        assert_array_equal(reference[-1].coef_, reference_coef)


def test_warm_refit_that_loses_a_class_is_cold():
    """A subset with one class fewer cannot start from the full-data coefficients."""
    Xtr, ytr, Xe, _ = _arrays(seed=1)
    y3 = ytr.copy()
    y3[5] = 2
    est = LogisticRegression(tol=1e-10)
    refitter = EstimatorRefitter(est, Xtr, y3)
    reference = refitter.fit()
    model = refitter.fit_without([5], warm_from=reference)
    cold = clone(est).fit(np.delete(Xtr, 5, axis=0), np.delete(y3, 5))
    assert_array_equal(model.classes_, [0, 1])
    assert_allclose(model.predict_proba(Xe), cold.predict_proba(Xe), atol=1e-8)


@pytest.mark.parametrize(
    "est",
    [
        RandomForestClassifier(n_estimators=5, random_state=0),
        ExtraTreesClassifier(n_estimators=5, random_state=0),
        HistGradientBoostingClassifier(max_iter=10, min_samples_leaf=5, random_state=0),
        GradientBoostingClassifier(n_estimators=10, random_state=0),
    ],
    ids=["random_forest", "extra_trees", "hist_gradient_boosting", "gradient_boosting"],
)
def test_fit_without_ensemble_equals_clone_fit_exactly(est):
    Xtr, ytr, Xe, _ = _arrays(seed=2)
    sw = _weights(N_TRAIN)
    for weights in (None, sw):
        refitter = EstimatorRefitter(est, Xtr, ytr, sample_weight=weights)
        assert not refitter.warm
        reference = refitter.fit()
        assert_array_equal(
            reference.predict_proba(Xe), _fit(est, Xtr, ytr, weights).predict_proba(Xe)
        )
        changed = 0
        for drop in ([0], [7], [3, 20]):
            keep = np.setdiff1d(np.arange(N_TRAIN), drop)
            # warm_from is given as the refit tasks give it: it must be ignored for ensembles
            model = refitter.fit_without(drop, warm_from=reference)
            own = _fit(est, Xtr[keep], ytr[keep], None if weights is None else weights[keep])
            assert_array_equal(model.predict_proba(Xe), own.predict_proba(Xe))
            assert model is not reference
            changed += not np.array_equal(model.predict_proba(Xe), reference.predict_proba(Xe))
        assert changed >= 2  # something new was fitted


def test_fit_mask_positions_and_labels():
    est = RandomForestClassifier(n_estimators=5, random_state=0)
    Xtr, ytr, Xe, _ = _arrays(seed=2)
    refitter = EstimatorRefitter(est, Xtr, ytr)
    mask = np.arange(N_TRAIN) % 4 != 1
    by_mask = refitter.fit(mask)
    by_positions = refitter.fit(np.flatnonzero(mask))
    own = clone(est).fit(Xtr[mask], ytr[mask])
    assert_array_equal(by_mask.predict_proba(Xe), own.predict_proba(Xe))
    assert_array_equal(by_positions.predict_proba(Xe), own.predict_proba(Xe))
    y2 = ytr.copy()
    y2[4] = 1 - y2[4]
    flipped = refitter.fit(y=y2)
    assert_array_equal(flipped.predict_proba(Xe), clone(est).fit(Xtr, y2).predict_proba(Xe))
    assert_array_equal(refitter.y, ytr)  # labels of the refitter unchanged


class _RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Records the fit parameters it was given."""

    def fit(self, X, y, sample_weight=None, groups=None, offsets=None, scale=None, tag=None):
        self.n_rows_ = len(X)
        self.kwargs_ = {
            "sample_weight": sample_weight,
            "groups": groups,
            "offsets": offsets,
            "scale": scale,
            "tag": tag,
        }
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


def test_row_aligned_fit_params_are_subset():
    Xtr, ytr, _, _ = _arrays()
    groups = np.arange(N_TRAIN) * 10
    index = np.random.default_rng(0).permutation(N_TRAIN) + 50  # a shuffled Series index
    offsets = pd.Series(np.arange(N_TRAIN) + 0.5, index=index)
    sw = _weights(N_TRAIN)
    tag = "t" * N_TRAIN  # a string of length n is not row-aligned
    refitter = EstimatorRefitter(
        _RecordingClassifier(),
        Xtr,
        ytr,
        sample_weight=sw,
        fit_params={"groups": groups, "offsets": offsets, "scale": 2.5, "tag": tag},
    )
    model = refitter.fit_without([3, 7])
    keep = np.setdiff1d(np.arange(N_TRAIN), [3, 7])
    got = model.kwargs_
    assert model.n_rows_ == N_TRAIN - 2
    assert_array_equal(got["groups"], groups[keep])
    assert_array_equal(np.asarray(got["offsets"]), offsets.to_numpy()[keep])  # by position
    assert_array_equal(got["sample_weight"], sw[keep])
    assert got["scale"] == 2.5 and got["tag"] == tag
    # sample_weight given to fit() replaces the original weights, subset alike
    other = _weights(N_TRAIN, seed=9)
    assert_array_equal(
        refitter.fit([0, 1, 2], sample_weight=other).kwargs_["sample_weight"], other[:3]
    )
    # the full fit passes everything unchanged
    full = refitter.fit().kwargs_
    assert_array_equal(full["groups"], groups)
    assert_array_equal(full["sample_weight"], sw)


def test_row_aligned_fit_params_list_is_subset_like_sklearn():
    """scikit-learn subsets any array-like fit parameter with one entry per sample, lists too
    (``sklearn.utils.validation._check_method_params``); so must a refit."""
    Xtr, ytr, _, _ = _arrays()
    groups = list(range(N_TRAIN))
    refitter = EstimatorRefitter(_RecordingClassifier(), Xtr, ytr, fit_params={"groups": groups})
    model = refitter.fit_without([3])
    assert list(model.kwargs_["groups"]) == [g for g in groups if g != 3]


def test_fit_params_sample_weight_on_random_forest():
    """Row-aligned fit parameters of a real estimator: weights given as a fit parameter."""
    est = RandomForestClassifier(n_estimators=5, random_state=0)
    Xtr, ytr, Xe, _ = _arrays(seed=2)
    sw = _weights(N_TRAIN)
    refitter = EstimatorRefitter(est, Xtr, ytr, fit_params={"sample_weight": sw})
    keep = np.arange(N_TRAIN) != 5
    own = clone(est).fit(Xtr[keep], ytr[keep], sample_weight=sw[keep])
    assert_array_equal(refitter.fit_without([5]).predict_proba(Xe), own.predict_proba(Xe))


def test_weighted_pipeline_refits_under_metadata_routing():
    """With routing on, a Pipeline only takes metadata its steps requested; the weights the
    package passes (the original fit's) still reach its last step, as without routing."""
    from sklearn import config_context

    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] + 0.5 * rng.normal(size=40) > 0).astype(int)
    w = rng.uniform(0.5, 2.0, size=40)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(tol=1e-10))
    fitted = clone(pipe).fit(X, y, logisticregression__sample_weight=w)
    plain = training_point_importance(
        fitted, X, y, method="loo", sample_weight=w, indices=[0, 1, 2]
    )
    with config_context(enable_metadata_routing=True):
        routed = training_point_importance(
            fitted, X, y, method="loo", sample_weight=w, indices=[0, 1, 2]
        )
    np.testing.assert_allclose(routed.scores, plain.scores, rtol=1e-12, equal_nan=True)
