"""Degenerate fits warn or are right: separated data without (or with a negligible) penalty,
and leave-one-out by Newton refits for tiny and huge C (the stopping rule is scale-correct).

Ground truth: ``clone(estimator).fit`` on the kept rows (newton-cholesky, tight tol).
"""

import warnings

import numpy as np
import pytest
from _refits import make_gaussian_classification
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from fairlearn_divine import ApproximationWarning, training_point_importance
from fairlearn_divine._models import NewtonRefitter, make_view


def _separable(n=80, random_state=0):
    rng = np.random.default_rng(random_state)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    return X, y


def _log_loss(model, X, y):
    P = model.predict_proba(X)
    return float(-np.mean(np.log(P[np.arange(len(y)), y])))


def _loo_by_refits(est, X, y, X_eval, y_eval, rows):
    base = _log_loss(clone(est).fit(X, y), X_eval, y_eval)
    out = []
    for i in rows:
        keep = np.arange(len(y)) != i
        out.append(_log_loss(clone(est).fit(X[keep], y[keep]), X_eval, y_eval) - base)
    return np.array(out)


@pytest.mark.parametrize("method", ["influence", "one_step_newton", "loo"])
def test_unpenalised_separable_fit_warns_no_optimum(method):
    X, y = _separable()
    X0, y0 = X.copy(), y.copy()
    est = LogisticRegression(C=np.inf, max_iter=10_000).fit(X, y)
    with pytest.warns(ApproximationWarning, match="no penalty and separates its training data"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ApproximationWarning)  # the others, if any
            warnings.filterwarnings(
                "always", message=".*no penalty and separates", category=ApproximationWarning
            )
            options = {"indices": [0, 1]} if method == "loo" else {}
            training_point_importance(est, X, y, method=method, **options)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_unpenalised_warning_names_the_fix():
    X, y = _separable()
    est = LogisticRegression(C=np.inf, max_iter=10_000).fit(X, y)
    with pytest.warns(ApproximationWarning, match=r"Add a penalty: a finite C"):
        make_view(est, X, y)


def test_unpenalised_overlapping_data_does_not_warn():
    X, y = make_gaussian_classification(150, 3, 2, random_state=3)
    est = LogisticRegression(C=np.inf, max_iter=10_000).fit(X, y)
    training_point_importance(est, X, y)  # warnings are errors


def test_negligible_penalty_on_separable_data_warns_for_first_order_methods():
    X, y = _separable()
    rng = np.random.default_rng(1)
    X_eval = rng.normal(size=(60, 3))
    y_eval = (X_eval[:, 0] + 0.3 * X_eval[:, 1] > 0).astype(int)
    est = LogisticRegression(C=1e12, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    est.fit(X, y)
    for method in ("influence", "one_step_newton", "counterfactual"):
        with pytest.warns(ApproximationWarning, match="its penalty is negligible"):
            training_point_importance(est, X, y, method=method, X_eval=X_eval, y_eval=y_eval)
    # exact leave-one-out is right there, and says nothing
    rows = [0, 7, 21, 40]
    loo = training_point_importance(
        est, X, y, method="loo", X_eval=X_eval, y_eval=y_eval, indices=rows, refit_tol=1e-12
    )
    truth = _loo_by_refits(est, X, y, X_eval, y_eval, rows)
    assert np.abs(truth[0]) > 1e-3  # a supporting point (the old stopping rule gave 0)
    # scikit-learn's own fits reach a scaled gradient of ~1e-8 only at C = 1e12
    np.testing.assert_allclose(loo.scores[rows], truth, rtol=1e-3, atol=5e-6)


def test_large_C_on_overlapping_data_does_not_warn():
    X, y = make_gaussian_classification(150, 3, 2, random_state=3)
    X_eval, y_eval = make_gaussian_classification(50, 3, 2, random_state=4)
    est = LogisticRegression(C=1e12, max_iter=10_000).fit(X, y)
    training_point_importance(est, X, y, X_eval=X_eval, y_eval=y_eval)  # warnings are errors


def test_moderate_penalty_on_separable_data_does_not_warn():
    X, y = _separable()
    est = LogisticRegression(C=1.0).fit(X, y)
    training_point_importance(est, X, y)  # the default penalty holds the optimum


@pytest.mark.parametrize("C", [1e-10, 1e-8, 1.0, 1e4])
def test_loo_by_newton_refits_equals_refits_for_any_C(C):
    X, y = make_gaussian_classification(90, 3, 2, random_state=1)
    X_eval, y_eval = make_gaussian_classification(60, 3, 2, random_state=2)
    X0 = X.copy()
    est = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    est.fit(X, y)
    rows = [0, 5, 17, 40]
    result = training_point_importance(
        est, X, y, method="loo", X_eval=X_eval, y_eval=y_eval, indices=rows, refit_tol=1e-10
    )
    assert result.refit_solver == "newton"
    truth = _loo_by_refits(est, X, y, X_eval, y_eval, rows)
    assert np.all(np.abs(truth) > 1e-7)  # removing a point changes f, even for a tiny C
    np.testing.assert_allclose(result.scores[rows], truth, rtol=1e-5)
    np.testing.assert_array_equal(X, X0)


def test_newton_stopping_rule_moves_a_tiny_C_fit():
    """With C = 1e-10 the gradient after dropping rows is ~1e-10: a rule relative to
    sum(c) + 1 stopped at the start; a rule relative to the terms' size does not."""
    X, y = make_gaussian_classification(60, 3, 2, random_state=5)
    est = LogisticRegression(C=1e-10, solver="newton-cholesky", tol=1e-12).fit(X, y)
    view = make_view(est, X, y)
    refitter = NewtonRefitter(view, tol=1e-10)
    rows = np.arange(10, 60)
    theta = refitter.solve(rows, view.params)
    truth = clone(est).fit(X[rows], y[rows])
    expected = np.r_[truth.coef_.ravel(), truth.intercept_]
    assert not np.allclose(theta, view.params, rtol=1e-6, atol=0)
    np.testing.assert_allclose(theta, expected, rtol=1e-6, atol=1e-20)
