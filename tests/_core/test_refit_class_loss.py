"""A refit subset that loses a whole class: a clear error from the one refit helper, and what
each caller documents (NaN leave-one-out scores, NaN removal-curve points, an unverifiable
forcing subset) instead of scikit-learn's "needs samples of at least 2 classes" traceback.

Ground truth: ``clone(estimator).fit`` on the kept rows.
"""

import warnings

import numpy as np
import pytest
from _refits import make_gaussian_classification
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from fairlearn_divine import (
    ApproximationWarning,
    minimal_forcing_subset,
    removal_curve,
    training_point_importance,
)
from fairlearn_divine._core.refit import (
    EstimatorRefitter,
    SingleClassRefitError,
    rows_emptying_their_class,
)


def _lonely_positive(n=40, random_state=0):
    """Binary data whose class 1 has a single member (row 3)."""
    X, _ = make_gaussian_classification(n, 3, 2, random_state=random_state)
    y = np.zeros(n, dtype=int)
    y[3] = 1
    X[3] += 2.0
    return X, y


def _log_loss(model, X, y):
    P = model.predict_proba(X)
    idx = np.searchsorted(model.classes_, y)
    return float(-np.mean(np.log(np.clip(P[np.arange(len(y)), idx], 1e-300, None))))


ESTIMATORS = {
    "logistic": LogisticRegression(tol=1e-10, max_iter=10_000),
    "pipeline": make_pipeline(StandardScaler(), LogisticRegression(tol=1e-10, max_iter=10_000)),
    "class_weight": LogisticRegression(class_weight="balanced", tol=1e-10, max_iter=10_000),
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_refitter_names_rows_and_class_left(name):
    X, y = _lonely_positive()
    refitter = EstimatorRefitter(ESTIMATORS[name], X, y)
    with pytest.raises(
        SingleClassRefitError, match=r"39 remaining row\(s\): they hold 1 class \(0\) of the 2"
    ):
        refitter.fit_without([3])
    with pytest.raises(ValueError, match="a classifier needs at least 2 classes"):
        refitter.fit(np.flatnonzero(y == 0))


def test_refitter_fits_a_tree_on_one_class():
    X, y = _lonely_positive()
    model = EstimatorRefitter(DecisionTreeClassifier(random_state=0), X, y).fit_without([3])
    assert model.classes_.tolist() == [0]


def test_rows_emptying_their_class():
    y = np.array([0, 1, 1, 2, 1, 0])
    assert rows_emptying_their_class(y).tolist() == [3]
    assert rows_emptying_their_class(y, [0, 1, 3]).tolist() == [3]


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_loo_reports_the_impossible_refit_as_nan(name):
    X, y = _lonely_positive()
    X0, y0 = X.copy(), y.copy()
    est = clone(ESTIMATORS[name]).fit(X, y)
    rows = [0, 3, 7]
    with pytest.warns(UserWarning, match=r"1 of 3 refits would leave a single class \(rows \[3\]"):
        result = training_point_importance(est, X, y, method="loo", indices=rows)
    assert np.isnan(result.scores[3])
    assert result.single_class_rows.tolist() == [3]
    base = _log_loss(clone(est).fit(X, y), X, y)
    for i in (0, 7):
        keep = np.arange(len(y)) != i
        expected = _log_loss(clone(est).fit(X[keep], y[keep]), X, y) - base
        np.testing.assert_allclose(result.scores[i], expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_counterfactual_refit_flipping_the_last_member_is_nan():
    X, y = _lonely_positive()
    est = LogisticRegression().fit(X, y)
    with pytest.warns(UserWarning, match="would leave a single class"):
        result = training_point_importance(
            est, X, y, method="counterfactual", exact=True, indices=[2, 3]
        )
    assert np.isnan(result.scores[3]) and np.isfinite(result.scores[2])


def test_loo_multiclass_losing_one_of_three_classes_equals_refits():
    """Without the only member of a class the estimator fits a 2-class model: the refit is
    the estimator's (not Newton iterations on the 3-class objective)."""
    X, y = make_gaussian_classification(60, 3, 3, random_state=3)
    y[y == 0] = 1
    y[5] = 0
    est = LogisticRegression(tol=1e-10, max_iter=10_000).fit(X, y)
    X_eval, y_eval = X[y != 0], y[y != 0]  # the 2-class refit has no column for class 0
    result = training_point_importance(
        est, X, y, method="loo", indices=[5, 6], X_eval=X_eval, y_eval=y_eval
    )
    assert result.refit_solver == "estimator"
    base = _log_loss(clone(est).fit(X, y), X_eval, y_eval)
    for i in (5, 6):
        keep = np.arange(len(y)) != i
        expected = _log_loss(clone(est).fit(X[keep], y[keep]), X_eval, y_eval) - base
        np.testing.assert_allclose(result.scores[i], expected, rtol=1e-5, atol=1e-8)


def test_removal_curve_reports_single_class_fractions_as_nan():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = np.zeros(60, dtype=int)
    y[:5] = 1
    X[:5] += 1.5
    sf = np.where(rng.random(60) < 0.5, "a", "b")
    est = LogisticRegression()
    kwargs = {
        "sensitive_features": sf,
        "strategies": ("random",),
        "step": 0.1,
        "max_fraction": 0.9,
        "random_state": 2,  # its permutation has removed every positive by position 40
    }
    with pytest.warns(UserWarning, match=r"leaves a single class.*random: from fraction 0.7"):
        curve = removal_curve(clone(est).fit(X, y), X, y, **kwargs)
    order = curve.orders["random"]
    for k, fraction in enumerate(curve.fractions):
        keep = np.ones(60, dtype=bool)
        keep[order[: int(round(fraction * 60))]] = False
        if len(np.unique(y[keep])) < 2:
            assert np.isnan(curve.accuracy["random"][k])
            assert np.isnan(curve.unfairness["random"][k])
        else:
            model = clone(est).fit(X[keep], y[keep])
            expected = float(np.mean(model.predict(X) == y))
            assert curve.accuracy["random"][k] == pytest.approx(expected)
    assert np.isnan(curve.accuracy["random"]).any()
    assert np.isfinite(curve.accuracy["random"]).any()


@pytest.mark.parametrize("update", ["newton", "retrain"])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_forcing_subset_that_would_take_a_whole_class(name, update):
    """The prediction at x = -5 holds until every point of its class is gone: the search stops
    there with an unverified result and says why, not scikit-learn's traceback."""
    rng = np.random.default_rng(0)
    X = np.r_[[[-3.0], [-2.9], [-2.8]], rng.uniform(1, 3, size=(20, 1))]
    y = np.r_[[0, 0, 0], np.ones(20, dtype=int)]
    X0 = X.copy()
    model = clone(ESTIMATORS[name]).fit(X, y)
    with warnings.catch_warnings():
        # class_weight="balanced": the influence-style model warns that it holds weights fixed
        warnings.simplefilter("ignore", ApproximationWarning)
        result = minimal_forcing_subset(model, X, y, np.array([-5.0]), update=update)
    assert result.message.startswith("Refitting without the subset is impossible")
    assert not result.flipped and not result.verified
    assert sorted(result.indices.tolist()) == [0, 1, 2]
    np.testing.assert_array_equal(X, X0)
