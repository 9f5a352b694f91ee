"""A user's own model, written only against the documented DifferentiableModel protocol, gets
every method: influence, one-step Newton, leave-one-out and label flips by Newton refits, Data
Shapley, and a verified minimal forcing subset.

The model below is an L2-penalised binary logistic regression with an unpenalised intercept,
parameterised as ``[b, w]`` (intercept first, unlike the package's own view) and fitted with
scipy. Every expected value is an independent scipy refit of its objective.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from sklearn.datasets import make_classification

from fairlearn_divine import (
    DifferentiableModel,
    minimal_forcing_subset,
    training_point_importance,
)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class UserLogistic(DifferentiableModel):
    """Objective: C * sum_i c_i l_i + 0.5 * ||w||^2, parameters theta = [b, w]."""

    def __init__(self, X, y, C=1.0, theta=None):
        self.X_ = np.asarray(X, dtype=float)
        self.y_ = np.asarray(y, dtype=np.intp)
        self.classes_ = np.array([0, 1])
        self.C = C
        self.objective_weights_ = np.full(len(self.y_), float(C))
        self.theta = fit_objective(self, self.objective_weights_) if theta is None else theta

    # required ------------------------------------------------------------------------------
    @property
    def params(self):
        return np.array(self.theta, dtype=float, copy=True)

    def _p(self, Z, params):
        t = self.theta if params is None else np.asarray(params, dtype=float)
        return _sigmoid(t[0] + np.asarray(Z, dtype=float) @ t[1:])

    def _aug(self, Z):
        Z = np.asarray(Z, dtype=float)
        return np.hstack([np.ones((len(Z), 1)), Z])

    def predict_proba(self, X, params=None):
        p = self._p(X, params)
        return np.column_stack([1.0 - p, p])

    def loss_gradients(self, X, y, params=None):
        return (self._p(X, params) - y)[:, None] * self._aug(X)

    def hessian(self, params=None, weights=None):
        c = self.objective_weights_ if weights is None else weights
        p = self._p(self.X_, params)
        A = self._aug(self.X_)
        H = (A * (c * p * (1 - p))[:, None]).T @ A
        H[1:, 1:] += np.eye(A.shape[1] - 1)
        return H

    def objective_gradient(self, params=None, weights=None):
        c = self.objective_weights_ if weights is None else weights
        t = self.params if params is None else np.asarray(params, dtype=float)
        g = (c[:, None] * self.loss_gradients(self.X_, self.y_, t)).sum(axis=0)
        g[1:] += t[1:]
        return g

    def proba_vjp(self, X, G):
        return self.proba_vjp_features(X, G)

    # optional --------------------------------------------------------------------------------
    def proba_vjp_features(self, Z, G, params=None):
        p = self._p(Z, params)
        G = np.asarray(G, dtype=float)
        if G.ndim == 3:
            return np.column_stack(
                [self.proba_vjp_features(Z, G[:, :, k], params) for k in range(G.shape[2])]
            )
        return ((G[:, 1] - G[:, 0]) * p * (1 - p)) @ self._aug(Z)

    def loss_hessian_factors(self, X, y, params=None):
        p = self._p(X, params)
        return (np.sqrt(p * (1 - p))[:, None] * self._aug(X))[:, :, None]

    def objective_value(self, params=None, weights=None):
        c = self.objective_weights_ if weights is None else weights
        t = self.params if params is None else np.asarray(params, dtype=float)
        p = np.clip(self._p(self.X_, t), 1e-300, 1 - 1e-16)
        loss = -(self.y_ * np.log(p) + (1 - self.y_) * np.log1p(-p))
        return float(c @ loss + 0.5 * t[1:] @ t[1:])


def fit_objective(model, c, y=None):
    """Independent optimum of the objective with weights c (and labels y) by scipy."""
    saved = model.y_
    if y is not None:
        model.y_ = np.asarray(y, dtype=np.intp)
    try:
        theta = scipy.optimize.minimize(
            lambda t: model.objective_value(t, c),
            np.zeros(model.X_.shape[1] + 1),
            jac=lambda t: model.objective_gradient(t, c),
            hess=lambda t: model.hessian(t, c),
            method="trust-exact",
            options={"gtol": 1e-12},
        ).x
        # trust-exact can stop at a gradient of 1e-7 ("bad approximation"): finish with
        # MINPACK's root finder on the gradient
        theta = scipy.optimize.root(
            lambda t: model.objective_gradient(t, c),
            theta,
            jac=lambda t: model.hessian(t, c),
            tol=1e-14,
        ).x
        assert np.max(np.abs(model.objective_gradient(theta, c))) < 1e-9
    finally:
        model.y_ = saved
    return theta


def log_loss(model, theta, X, y):
    p = np.clip(model._p(X, theta), 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


@pytest.fixture(scope="module")
def problem():
    X, y = make_classification(
        n_samples=90, n_features=3, n_informative=3, n_redundant=0, random_state=4
    )
    Xtr, ytr, Xe, ye = X[:60], y[:60], X[60:], y[60:]
    return UserLogistic(Xtr, ytr, C=0.7), Xtr, ytr, Xe, ye


def _loo_expected(model, Xe, ye, rows, flip=False):
    c = model.objective_weights_
    base = log_loss(model, fit_objective(model, c), Xe, ye)
    out = []
    for i in rows:
        if flip:
            y_new = model.y_.copy()
            y_new[i] = 1 - y_new[i]
            theta = fit_objective(model, c, y_new)
        else:
            c_i = c.copy()
            c_i[i] = 0.0
            theta = fit_objective(model, c_i)
        out.append(log_loss(model, theta, Xe, ye) - base)
    return np.array(out)


def test_influence_is_the_closed_form(problem):
    model, Xtr, ytr, Xe, ye = problem
    res = training_point_importance(model, Xtr, ytr, X_eval=Xe, y_eval=ye)
    theta = model.params
    p_e = model._p(Xe, theta)
    grad_f = ((p_e - ye) @ model._aug(Xe)) / len(ye)
    v = np.linalg.solve(model.hessian(), grad_f)
    expected = model.C * model.loss_gradients(Xtr, ytr) @ v
    np.testing.assert_allclose(res.scores, expected, rtol=1e-9, atol=1e-12)


def test_loo_by_newton_refits_equals_scipy_refits(problem):
    model, Xtr, ytr, Xe, ye = problem
    res = training_point_importance(
        model, Xtr, ytr, method="loo", X_eval=Xe, y_eval=ye, refit_tol=1e-12
    )
    assert res.refit_solver == "newton"
    rows = np.arange(0, 60, 7)
    expected = _loo_expected(model, Xe, ye, rows)
    np.testing.assert_allclose(res.scores[rows], expected, rtol=1e-8, atol=1e-12)
    # the default refit_tol (1e-8 on the scaled gradient) is within 1e-5 of the exact scores
    default = training_point_importance(model, Xtr, ytr, method="loo", X_eval=Xe, y_eval=ye)
    np.testing.assert_allclose(default.scores[rows], expected, rtol=1e-5, atol=1e-9)
    # one-step Newton is the leverage-corrected first step of the same refits
    osn = training_point_importance(
        model, Xtr, ytr, method="one_step_newton", X_eval=Xe, y_eval=ye
    )
    assert np.corrcoef(osn.scores, res.scores)[0, 1] > 0.99


def test_label_flips_by_newton_refits_equal_scipy_refits(problem):
    model, Xtr, ytr, Xe, ye = problem
    res = training_point_importance(
        model,
        Xtr,
        ytr,
        method="counterfactual",
        exact=True,
        X_eval=Xe,
        y_eval=ye,
        refit_tol=1e-12,
    )
    rows = np.arange(3, 60, 11)
    np.testing.assert_allclose(
        res.scores[rows], _loo_expected(model, Xe, ye, rows, flip=True), rtol=1e-8, atol=1e-12
    )


def test_data_shapley_is_efficient(problem):
    model, Xtr, ytr, Xe, ye = problem
    small = UserLogistic(Xtr[:12], ytr[:12], C=0.7)
    res = training_point_importance(
        small,
        Xtr[:12],
        ytr[:12],
        method="data_shapley",
        X_eval=Xe,
        y_eval=ye,
        n_permutations=4,
        truncation_tolerance=0,
        random_state=0,
    )
    assert res.refit_solver == "newton"
    assert res.mean_prefix_evaluations == 12
    # marginals telescope to f(empty) - f(D), f(empty) the smoothed constant predictor
    counts = np.bincount(ytr[:12], minlength=2)
    p1 = (counts[1] + 1) / (12 + 2)
    p = np.clip(np.full(len(ye), p1), 1e-15, 1 - 1e-15)
    f_empty = float(-np.mean(ye * np.log(p) + (1 - ye) * np.log1p(-p)))
    f_full = log_loss(small, fit_objective(small, small.objective_weights_), Xe, ye)
    np.testing.assert_allclose(res.scores.sum(), f_empty - f_full, rtol=1e-7)


def test_verified_minimal_forcing_subset(problem):
    model, Xtr, ytr, Xe, ye = problem
    margin = np.abs(model._p(Xe, None) - 0.5)
    j = int(np.argsort(margin)[3])  # a point near the boundary
    x = Xe[j]
    result = minimal_forcing_subset(model, None, None, x)
    assert result.flipped and result.verified
    S = result.indices
    c0 = int(model._p(x[None], None)[0] > 0.5)
    assert result.predicted_class == c0

    def predicts_without(drop):
        c = model.objective_weights_.copy()
        c[drop] = 0.0
        return int(model._p(x[None], fit_objective(model, c))[0] > 0.5)

    assert predicts_without(S) != c0  # the flip, checked by an independent refit
    if len(S) > 1:
        assert predicts_without(S[:-1]) == c0  # prefix-minimal


def test_missing_objective_value_is_a_clear_error(problem):
    model, Xtr, ytr, Xe, ye = problem

    class NoObjective(UserLogistic):
        objective_value = DifferentiableModel.objective_value

    bare = NoObjective(Xtr, ytr, C=0.7, theta=model.params)
    training_point_importance(bare, Xtr, ytr, X_eval=Xe, y_eval=ye)  # influence still works
    with pytest.raises(TypeError, match="objective_value"):
        training_point_importance(bare, Xtr, ytr, method="loo", X_eval=Xe, y_eval=ye)
    with pytest.raises(TypeError, match="objective_value"):
        minimal_forcing_subset(bare, None, None, Xe[0])
