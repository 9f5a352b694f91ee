"""Tests of fairlearn_divine._models: differentiable views against our own numpy objective."""

import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from _refits import (
    fd_hessian,
    lr_objective,
    lr_objective_gradient,
    lr_params,
    make_gaussian_classification,
    tight,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from fairlearn_divine import (
    ApproximationWarning,
    DifferentiableModel,
    training_point_importance,
)
from fairlearn_divine._models import make_view

rng0 = np.random.default_rng(0)
SW = rng0.uniform(0.3, 3.0, size=200)

# name -> (estimator, n_classes, use sample_weight, unbalanced labels)
CASES = {
    "binary": (LogisticRegression(C=0.7), 2, False, False),
    "multinomial": (LogisticRegression(C=0.7), 3, False, False),
    "binary_no_intercept": (LogisticRegression(C=2.0, fit_intercept=False), 2, False, False),
    "multinomial_no_intercept": (LogisticRegression(C=2.0, fit_intercept=False), 3, False, False),
    "binary_sample_weight": (LogisticRegression(C=0.5), 2, True, False),
    "multinomial_sample_weight": (LogisticRegression(C=0.5), 3, True, False),
    "binary_class_weight": (LogisticRegression(class_weight="balanced"), 2, False, True),
    "multinomial_class_weight_dict": (
        LogisticRegression(class_weight={0: 1.0, 1: 3.0, 2: 0.5}),
        3,
        False,
        False,
    ),
    "class_weight_and_sample_weight": (LogisticRegression(class_weight="balanced"), 2, True, True),
    "liblinear_intercept_scaling": (
        LogisticRegression(solver="liblinear", intercept_scaling=3.0, C=0.8),
        2,
        False,
        False,
    ),
    "liblinear_intercept_scaling_small": (
        LogisticRegression(solver="liblinear", intercept_scaling=0.5, C=0.8),
        2,
        False,
        True,
    ),
    "no_penalty_binary": (LogisticRegression(C=np.inf), 2, False, False),
    "no_penalty_multinomial_no_intercept": (
        LogisticRegression(C=np.inf, fit_intercept=False),
        3,
        False,
        False,
    ),
    "newton_cg": (LogisticRegression(solver="newton-cg", C=0.3), 3, False, False),
}


def _case(name):
    est, K, use_sw, unbalanced = CASES[name]
    X, y = make_gaussian_classification(200, 3, K, random_state=len(name))
    if unbalanced:
        y = np.where(np.random.default_rng(1).random(200) < 0.7, 0, y)
    sw = SW if use_sw else None
    m = tight(est)
    m.fit(X, y, sample_weight=sw)
    # our own per-sample weights s_i = sample_weight * class_weight
    s = np.ones(200) if sw is None else sw.copy()
    cw = est.class_weight
    if cw == "balanced":
        # sklearn's balanced weights with sample weights: n_weighted / (K * weighted count)
        base = np.ones(200) if sw is None else sw
        counts = np.bincount(y, weights=base, minlength=K)
        s = s * (base.sum() / (K * counts))[y]
    elif isinstance(cw, dict):
        s = s * np.array([cw[k] for k in range(K)])[y]
    C = float(est.C)
    ip = 0.0
    if est.solver == "liblinear" and est.fit_intercept:
        ip = 1.0 / est.intercept_scaling**2
    kw = {"C": C, "s": s, "fit_intercept": est.fit_intercept, "intercept_penalty": ip}
    return m, X, y, sw, K, kw


def test_own_objective_gradient_is_correct():
    """Self-check of the ground truth: analytic gradient vs finite differences of the value."""
    X, y = make_gaussian_classification(50, 3, 3, random_state=0)
    for K, yy in [(3, y), (2, (y > 0).astype(int))]:
        p = (1 if K == 2 else K) * 4
        theta = np.random.default_rng(2).normal(size=p)
        kw = {"C": 0.9, "s": SW[:50], "fit_intercept": True, "intercept_penalty": 0.3}
        err = scipy.optimize.check_grad(
            lambda t, yy=yy, K=K, kw=kw: lr_objective(t, X, yy, K, **kw),
            lambda t, yy=yy, K=K, kw=kw: lr_objective_gradient(t, X, yy, K, **kw),
            theta,
        )
        assert err < 1e-5 * np.linalg.norm(lr_objective_gradient(theta, X, yy, K, **kw))


@pytest.mark.parametrize("name", list(CASES))
def test_view_objective_gradient_and_hessian(name):
    m, X, y, sw, K, kw = _case(name)
    theta = lr_params(m)
    # 1. sklearn's fit is at the optimum of OUR objective (so our objective is sklearn's)
    g_own = lr_objective_gradient(theta, X, y, K, **kw)
    scale = np.sum(kw["s"]) * (1.0 if np.isinf(kw["C"]) else kw["C"])
    assert np.max(np.abs(g_own)) / scale < 1e-7
    # 2. the view agrees
    if getattr(m, "class_weight", None) == "balanced":
        with pytest.warns(ApproximationWarning, match="class_weight='balanced'"):
            view = make_view(m, X, y, sample_weight=sw)
    else:
        view = make_view(m, X, y, sample_weight=sw)
    np.testing.assert_allclose(view.params, theta, rtol=0, atol=0)
    g_view = view.objective_gradient()
    assert g_view.shape == theta.shape
    assert np.max(np.abs(g_view)) / scale < 1e-7
    mult = 1.0 if np.isinf(kw["C"]) else kw["C"]
    np.testing.assert_allclose(view.objective_weights_, mult * kw["s"], rtol=1e-12)
    # 3. Hessian vs finite differences of our gradient
    H_fd = fd_hessian(lambda t: lr_objective_gradient(t, X, y, K, **kw), theta)
    H = view.hessian()
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-10 * np.abs(H).max())
    np.testing.assert_allclose(H, H_fd, rtol=1e-6, atol=1e-6 * np.abs(H_fd).max())
    # 4. the gradient formula away from the optimum too
    theta2 = theta + np.random.default_rng(3).normal(scale=0.1, size=theta.size)
    np.testing.assert_allclose(
        view.objective_gradient(theta2),
        lr_objective_gradient(theta2, X, y, K, **kw),
        rtol=1e-9,
        atol=1e-9,
    )


@pytest.mark.parametrize("name", ["binary", "multinomial", "binary_sample_weight"])
def test_view_per_sample_quantities(name):
    m, X, y, sw, K, kw = _case(name)
    view = make_view(m, X, y, sample_weight=sw)
    theta = view.params
    # probabilities equal sklearn's, at the fitted and at other parameters
    np.testing.assert_allclose(view.predict_proba(X), m.predict_proba(X), rtol=1e-10)
    # per-sample loss gradients: grad of our objective with one point, C=1, no penalty
    G = view.loss_gradients(view.X_, view.y_)
    for i in (0, 7, 123):
        one = {"C": np.inf, "s": np.eye(len(y))[i], "fit_intercept": True}
        np.testing.assert_allclose(
            G[i], lr_objective_gradient(theta, X, y, K, **one), rtol=1e-9, atol=1e-12
        )
        # per-sample Hessian factors: F_i F_i^T = FD Hessian of l_i
        F = view.loss_hessian_factors(view.X_[i : i + 1], view.y_[i : i + 1])[0]
        Hi = fd_hessian(lambda t, one=one: lr_objective_gradient(t, X, y, K, **one), theta)
        np.testing.assert_allclose(F @ F.T, Hi, rtol=1e-5, atol=1e-7)
    # V-products
    V = np.random.default_rng(0).normal(size=(theta.size, 2))
    np.testing.assert_allclose(view.loss_gradient_dot(view.X_, view.y_, V), G @ V, rtol=1e-10)
    # proba_vjp vs finite differences of sum_jk Gm_jk P(k|x_j)
    Gm = np.random.default_rng(1).normal(size=(20, K))
    Xe = X[:20]
    vjp = view.proba_vjp(Xe, Gm)
    h = 1e-6
    fd = np.array(
        [
            (
                np.sum(Gm * view.predict_proba(Xe, theta + h * e))
                - np.sum(Gm * view.predict_proba(Xe, theta - h * e))
            )
            / (2 * h)
            for e in np.eye(theta.size)
        ]
    )
    np.testing.assert_allclose(vjp, fd, rtol=1e-6, atol=1e-8)


def test_multinomial_null_space_is_intercept_shift():
    m, X, y, sw, K, kw = _case("multinomial")
    view = make_view(m, X, y)
    N = view.null_space()
    assert N.shape == (view.n_params, 1)
    np.testing.assert_allclose(N.T @ N, [[1.0]])
    # H N = 0 (the objective is flat along a common shift of the intercepts)
    H = view.hessian()
    assert np.max(np.abs(H @ N)) < 1e-10 * np.abs(H).max()
    # and our own objective is constant along it
    theta = lr_params(m)
    for t in (0.3, -2.0):
        assert lr_objective(theta + t * N[:, 0], X, y, K, **kw) == pytest.approx(
            lr_objective(theta, X, y, K, **kw), rel=1e-10
        )
    assert make_view(*_case("binary")[:3]).null_space() is None
    assert make_view(*_case("multinomial_no_intercept")[:3]).null_space() is None


def test_view_sparse_equals_dense():
    X, y = make_gaussian_classification(150, 4, 3, random_state=5)
    X[np.abs(X) < 0.7] = 0.0
    dense = tight(LogisticRegression(C=0.5)).fit(X, y)
    vd = make_view(dense, X, y)
    vs = make_view(dense, sp.csr_matrix(X), y)
    np.testing.assert_allclose(vs.hessian(), vd.hessian(), rtol=1e-12)
    np.testing.assert_allclose(vs.objective_gradient(), vd.objective_gradient(), atol=1e-12)
    a = training_point_importance(dense, X, y).scores
    b = training_point_importance(dense, sp.csr_matrix(X), y).scores
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-14)


def test_pipeline_view_uses_transformed_features():
    X, y = make_gaussian_classification(150, 3, 2, random_state=6)
    X = X * 5 + 3
    pipe = make_pipeline(StandardScaler(), tight(LogisticRegression())).fit(X, y)
    view = make_view(pipe, X, y)
    Xt = pipe[0].transform(X)
    np.testing.assert_allclose(view.X_, Xt)
    np.testing.assert_allclose(view.predict_proba(X[:5]), pipe.predict_proba(X[:5]), rtol=1e-12)
    kw = {"C": 1.0, "fit_intercept": True}
    H_fd = fd_hessian(lambda t: lr_objective_gradient(t, Xt, y, 2, **kw), view.params)
    np.testing.assert_allclose(view.hessian(), H_fd, rtol=1e-6, atol=1e-6)


def test_sgd_view_objective():
    """SGD: (1/n) sum l_i + alpha/2 ||w||^2 -> objective weights 1/(n alpha) per point."""
    X, y = make_gaussian_classification(120, 3, 2, random_state=7)
    sgd = SGDClassifier(loss="log_loss", alpha=0.05, max_iter=3, tol=None, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sgd.fit(X, y)
    view = make_view(sgd, X, y)
    C = 1.0 / (len(y) * 0.05)
    np.testing.assert_allclose(view.objective_weights_, np.full(len(y), C))
    kw = {"C": C, "fit_intercept": True}
    theta = np.append(sgd.coef_.ravel(), sgd.intercept_)
    np.testing.assert_allclose(
        view.objective_gradient(), lr_objective_gradient(theta, X, y, 2, **kw), rtol=1e-9
    )


def test_mlp_view_is_logistic_regression_on_hidden_layer():
    X, y = make_gaussian_classification(150, 3, 3, random_state=8)
    mlp = MLPClassifier(
        hidden_layer_sizes=(5,),
        activation="tanh",
        alpha=0.2,
        solver="lbfgs",
        max_iter=3000,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)
    Hh = np.tanh(X @ mlp.coefs_[0] + mlp.intercepts_[0])
    view = make_view(mlp, X, y)
    np.testing.assert_allclose(view.X_, Hh, rtol=1e-12)
    np.testing.assert_allclose(view.predict_proba(X), mlp.predict_proba(X), rtol=1e-9)
    theta = np.hstack([mlp.coefs_[-1].T, mlp.intercepts_[-1][:, None]]).ravel()
    np.testing.assert_allclose(view.params, theta)
    kw = {"C": 1 / 0.2, "fit_intercept": True}
    np.testing.assert_allclose(
        view.objective_gradient(), lr_objective_gradient(theta, Hh, y, 3, **kw), atol=1e-9
    )
    H_fd = fd_hessian(lambda t: lr_objective_gradient(t, Hh, y, 3, **kw), theta)
    np.testing.assert_allclose(view.hessian(), H_fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "est, match",
    [
        (LinearSVC(), "LinearSVC"),
        (SGDClassifier(loss="hinge", max_iter=5, tol=None), "hinge"),
        (LogisticRegression(solver="saga", l1_ratio=0.5, max_iter=50), r"l1_ratio|smooth"),
        (SGDClassifier(loss="log_loss", max_iter=5, tol=None), "one-vs-rest"),
    ],
)
def test_make_view_unsupported(est, match):
    X, y = make_gaussian_classification(90, 3, 3, random_state=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    with pytest.raises(TypeError, match=match):
        make_view(est, X, y)


# ---------------------------------------------------------------------------------------------
# a user-defined DifferentiableModel


class NumpyLogistic(DifferentiableModel):
    """Binary logistic regression without intercept, objective C sum l_i + 0.5 ||w||^2."""

    def __init__(self, X, y, C, w=None):
        self.X_ = np.asarray(X, float)
        self.y_ = np.asarray(y, np.intp)
        self.C = C
        self.classes_ = np.array([0, 1])
        self.objective_weights_ = np.full(len(y), C)
        if w is None:
            res = scipy.optimize.minimize(
                lambda t: lr_objective(t, self.X_, self.y_, 2, C=C, fit_intercept=False),
                np.zeros(self.X_.shape[1]),
                jac=lambda t: lr_objective_gradient(
                    t, self.X_, self.y_, 2, C=C, fit_intercept=False
                ),
                method="BFGS",
                options={"gtol": 1e-11},
            )
            w = res.x
        self.w = np.asarray(w, float)

    @property
    def params(self):
        return self.w.copy()

    def _p(self, X, params=None):
        w = self.w if params is None else params
        return 1 / (1 + np.exp(-(np.asarray(X) @ w)))

    def predict_proba(self, X, params=None):
        p = self._p(X, params)
        return np.column_stack([1 - p, p])

    def loss_gradients(self, X, y):
        return (self._p(X) - y)[:, None] * np.asarray(X)

    def hessian(self):
        p = self._p(self.X_)
        a = self.C * p * (1 - p)
        return (self.X_ * a[:, None]).T @ self.X_ + np.eye(self.X_.shape[1])

    def objective_gradient(self):
        return self.C * self.loss_gradients(self.X_, self.y_).sum(axis=0) + self.w

    def proba_vjp(self, X, G):
        p = self._p(X)
        return ((G[:, 1] - G[:, 0]) * p * (1 - p)) @ np.asarray(X)


def test_user_defined_model_influence_formula():
    X, y = make_gaussian_classification(250, 3, 2, random_state=10)
    Xtr, ytr, Xe, ye = X[:200], y[:200], X[200:], y[200:]
    C = 0.8
    model = NumpyLogistic(Xtr, ytr, C)
    res = training_point_importance(model, Xtr, ytr, X_eval=Xe, y_eval=ye)
    # our own formula: I_i = C g_i^T H^{-1} grad f, f = mean log loss on (Xe, ye)
    w = model.w
    p_tr = 1 / (1 + np.exp(-Xtr @ w))
    p_e = 1 / (1 + np.exp(-Xe @ w))
    g = (p_tr - ytr)[:, None] * Xtr
    H = (Xtr * (C * p_tr * (1 - p_tr))[:, None]).T @ Xtr + np.eye(3)
    grad_f = ((p_e - ye)[:, None] * Xe).mean(axis=0)
    expected = C * g @ np.linalg.solve(H, grad_f)
    np.testing.assert_allclose(res.scores, expected, rtol=1e-8, atol=1e-14)
    assert res.baseline == pytest.approx(
        -np.mean(ye * np.log(p_e) + (1 - ye) * np.log(1 - p_e)), rel=1e-12
    )
    # it agrees with sklearn's LogisticRegression without intercept
    lr = tight(LogisticRegression(C=C, fit_intercept=False)).fit(Xtr, ytr)
    np.testing.assert_allclose(lr.coef_[0], w, rtol=1e-6)
    ref = training_point_importance(lr, Xtr, ytr, X_eval=Xe, y_eval=ye).scores
    np.testing.assert_allclose(res.scores, ref, rtol=1e-4, atol=1e-10)


def test_user_defined_model_limits():
    X, y = make_gaussian_classification(100, 3, 2, random_state=11)
    model = NumpyLogistic(X, y, 1.0)
    with pytest.raises(NotImplementedError, match="one_step_newton"):
        training_point_importance(model, X, y, method="one_step_newton")
    with pytest.raises(TypeError, match="DifferentiableModel"):
        training_point_importance(model, X, y, method="loo")
    # not at the optimum: a clear warning
    off = NumpyLogistic(X, y, 1.0, w=model.w + 0.5)
    with pytest.warns(ApproximationWarning, match="optimum"):
        training_point_importance(off, X, y, objective="zero_one_loss")
    # method="auto" for the training log loss: one-step Newton needs the Hessian factors this
    # model lacks, so it is influence, which says that it is degenerate there
    with pytest.warns(ApproximationWarning, match="stationary at the fit"):
        result = training_point_importance(model, X, y)
    assert result.method == "influence"
