"""Differentiable views of fitted classifiers.

A *view* exposes what influence-style methods need from a fitted model, always for the
estimator's **actual training objective**

.. math:: L(\\theta) = \\sum_i c_i\\, l_i(\\theta) + \\Omega(\\theta),

with :math:`l_i` the per-sample log loss, :math:`c_i` the per-sample objective weights (for
scikit-learn's ``LogisticRegression``: :math:`c_i = C\\, s_i` where :math:`s_i` is
``sample_weight`` times ``class_weight``) and :math:`\\Omega(\\theta) = \\frac12 \\sum_j
\\rho_j \\theta_j^2` the ridge penalty (:math:`\\rho_j = 1` on weights, 0 on an unpenalised
intercept). Removing point *i* moves the optimum by about :math:`H^{-1} c_i \\nabla l_i` with
:math:`H = \\nabla^2 L`.

Supported estimators and their objectives
-----------------------------------------
* ``LogisticRegression`` (lbfgs, newton-cg, newton-cholesky, sag, saga with an L2 penalty or
  none; liblinear for binary targets): :math:`C \\sum_i s_i l_i + \\frac12 \\|w\\|^2`, intercept
  unpenalised (liblinear penalises it as a synthetic feature of value ``intercept_scaling``).
  Binary targets have one coefficient row (sigmoid link), multiclass targets ``n_classes`` rows
  (softmax link; the intercept direction :math:`(1, \\dots, 1)` is a null direction of the
  objective, handled exactly by projecting it out).
* ``LogisticRegressionCV`` (``refit=True``): the same, at the chosen ``C_``.
* ``SGDClassifier(loss="log_loss", penalty="l2")`` for binary targets:
  :math:`\\frac1n \\sum_i s_i l_i + \\frac{\\alpha}2 \\|w\\|^2`, i.e. :math:`C = 1/(n\\alpha)`.
  SGD rarely reaches the optimum; the optimality check will say so.
* ``MLPClassifier``: **last-layer view** (an approximation). Hidden layers are frozen feature
  maps; the output layer is a logistic/softmax regression on the last hidden activations with
  :math:`C = 1/\\alpha`. Influence then describes a retraining of the output layer only.
* ``Pipeline`` whose last step is one of these: earlier steps are fixed feature maps.
* Anything else: subclass :class:`DifferentiableModel`.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_is_fitted

__all__ = ["DifferentiableModel", "SUPPORTED_ESTIMATORS"]

SUPPORTED_ESTIMATORS = (
    "LogisticRegression",
    "LogisticRegressionCV",
    "SGDClassifier(loss='log_loss')",
    "MLPClassifier (last layer)",
    "Pipeline ending in one of these",
    "a DifferentiableModel subclass",
)


class DifferentiableModel(ABC):
    """Protocol for a fitted, twice-differentiable classifier and its training objective.

    Subclass it to plug your own model into the influence-style methods
    (``method="influence"``, ``"one_step_newton"``, ``"counterfactual"``) and pass an instance
    as ``estimator``. The training objective is

    .. math:: L(\\theta) = \\sum_{i=1}^n c_i\\, l(x_i, y_i; \\theta) + \\Omega(\\theta),

    and the methods below are evaluated at the fitted parameters :math:`\\hat\\theta`.

    Required attributes: ``classes_`` (labels, in probability-column order), ``X_`` (training
    features, in the space that :meth:`loss_gradients` takes), ``y_`` (training labels as class
    indices) and ``objective_weights_`` (:math:`c_i`, shape ``(n,)``).

    Optional: :meth:`loss_hessian_factors` enables ``method="one_step_newton"``; :meth:`refit`
    enables refit-based helpers; :meth:`transform` maps raw inputs to the space of ``X_``.
    """

    @property
    @abstractmethod
    def params(self):
        """Fitted parameters :math:`\\hat\\theta`, shape ``(n_params,)``."""

    @abstractmethod
    def predict_proba(self, X, params=None):
        """Class probabilities at ``params`` (default: the fitted ones); raw inputs ``X``."""

    @abstractmethod
    def loss_gradients(self, X, y):
        """Per-sample gradients :math:`\\nabla_\\theta l(x_i, y_i)`, shape ``(n, n_params)``.

        ``X`` is in the space of ``X_`` (already transformed), ``y`` holds class indices.
        """

    @abstractmethod
    def hessian(self):
        """Hessian :math:`\\nabla^2 L(\\hat\\theta)` of the full training objective."""

    @abstractmethod
    def objective_gradient(self):
        """Gradient :math:`\\nabla L(\\hat\\theta)` (about zero at an optimum)."""

    @abstractmethod
    def proba_vjp(self, X, G):
        """:math:`\\nabla_\\theta \\sum_{j,k} G_{jk}\\, P_\\theta(k \\mid x_j)` for raw ``X``."""

    def transform(self, X):
        """Map raw inputs to the feature space of ``X_`` (identity by default)."""
        return X

    def loss_gradient_dot(self, X, y, V):
        """Products of per-sample gradients with the columns of ``V``: shape ``(n, m)``."""
        return self.loss_gradients(X, y) @ V

    def loss_hessian_factors(self, X, y):
        """Factors :math:`F_i` with :math:`\\nabla^2 l_i = F_i F_i^T`, shape ``(n, p, r)``."""
        raise NotImplementedError(
            f"{type(self).__name__} does not provide per-sample Hessian factors, which "
            "method='one_step_newton' needs; use method='influence' or method='loo'."
        )

    def null_space(self):
        """Directions the objective is exactly flat along (shape ``(p, k)``), or ``None``."""
        return None

    def refit(self, sample_weight):
        """Refit on the training data with new sample weights; returns a new view."""
        raise NotImplementedError(f"{type(self).__name__} does not implement refit().")

    @property
    def n_params(self):
        """Number of parameters."""
        return self.params.shape[0]


# ---------------------------------------------------------------------------------------------
# helpers on (possibly sparse) design matrices


def _matmul(X, B):
    out = X @ B
    return np.asarray(out)


def _rmatmul(X, R):
    """X.T @ R for dense or sparse X, returned dense."""
    if sp.issparse(X):
        return np.asarray(X.T @ R)
    return X.T @ R


def _weighted_gram(X, w):
    """X.T @ diag(w) @ X, dense result (a symmetric rank-k update when w >= 0)."""
    if sp.issparse(X):
        return np.asarray((X.T @ X.multiply(w[:, None])).todense())
    if np.all(w >= 0):
        B = X * np.sqrt(w)[:, None]
        return B.T @ B
    return (X * w[:, None]).T @ X


def _expit(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(axis=1, keepdims=True)
    return Z


class _GLMView(DifferentiableModel):
    """Logistic (sigmoid, one output) or multinomial (softmax, K outputs) regression view.

    Parameters are the rows ``[w_k, b_k]`` of the ``(n_outputs, n_features + fit_intercept)``
    matrix, flattened row-major. The per-sample gradient is :math:`r_i \\otimes \\tilde x_i`
    with residual :math:`r_i = p_i - e_{y_i}` and the per-sample Hessian
    :math:`A_i \\otimes \\tilde x_i \\tilde x_i^T` with :math:`A_i = \\mathrm{diag}(p_i) - p_i
    p_i^T` (:math:`p_i(1 - p_i)` for the sigmoid link), :math:`\\tilde x = [x, 1]`.
    """

    def __init__(
        self,
        *,
        coef,
        intercept,
        classes,
        X,
        y,
        objective_weights,
        penalty,
        intercept_penalty,
        transform=None,
        refit_fn=None,
        description="",
    ):
        self.coef = np.asarray(coef, dtype=float)
        self.fit_intercept = intercept is not None
        self.intercept = None if intercept is None else np.asarray(intercept, dtype=float)
        self.classes_ = np.asarray(classes)
        self.X_ = X
        self.y_ = np.asarray(y, dtype=np.intp)
        self.objective_weights_ = np.asarray(objective_weights, dtype=float)
        self.penalty = float(penalty)
        self.intercept_penalty = float(intercept_penalty)
        self._transform = transform
        self._refit_fn = refit_fn
        self.description = description
        self.n_outputs, self.n_features = self.coef.shape
        self.n_cols = self.n_features + int(self.fit_intercept)
        self.link = "sigmoid" if self.n_outputs == 1 else "softmax"
        self._train_cache = None

    # parameters ------------------------------------------------------------------------------
    @property
    def params(self):
        if self.fit_intercept:
            return np.hstack([self.coef, self.intercept[:, None]]).ravel()
        return self.coef.ravel().copy()

    def _split(self, params):
        if params is None:
            return self.coef, self.intercept
        M = np.asarray(params, dtype=float).reshape(self.n_outputs, self.n_cols)
        if self.fit_intercept:
            return M[:, : self.n_features], M[:, self.n_features]
        return M, None

    def _penalty_vector(self):
        rho = np.full((self.n_outputs, self.n_cols), self.penalty)
        if self.fit_intercept:
            rho[:, -1] = self.intercept_penalty
        return rho.ravel()

    def transform(self, X):
        return X if self._transform is None else self._transform(X)

    # forward pass ----------------------------------------------------------------------------
    def _logits(self, Xt, params=None):
        W, b = self._split(params)
        Z = _matmul(Xt, W.T)
        if b is not None:
            Z = Z + b
        return Z

    def _proba_from_logits(self, Z):
        if self.link == "sigmoid":
            p = _expit(Z[:, 0])
            return np.column_stack([1.0 - p, p])
        return _softmax(Z.copy())

    def _proba_t(self, Xt, params=None):
        return self._proba_from_logits(self._logits(Xt, params))

    def predict_proba(self, X, params=None):
        return self._proba_t(self.transform(X), params)

    def _train_proba(self):
        if self._train_cache is None:
            self._train_cache = self._proba_t(self.X_)
        return self._train_cache

    # derivatives -----------------------------------------------------------------------------
    def _residuals(self, P, y):
        """r_i = dl_i/dz_i, shape (n, n_outputs)."""
        if self.link == "sigmoid":
            return (P[:, 1] - (y == 1))[:, None]
        R = P.copy()
        R[np.arange(len(y)), y] -= 1.0
        return R

    def _rmat(self, Xt, R):
        """sum_i R_i (x) x~_i as a flat parameter vector; R shape (n, n_outputs)."""
        G = np.empty((self.n_outputs, self.n_cols))
        G[:, : self.n_features] = _rmatmul(Xt, R).T
        if self.fit_intercept:
            G[:, -1] = R.sum(axis=0)
        return G.ravel()

    def _dot_cols(self, Xt, V):
        """For each column v of V (flat params): x~_i . v_k for every output k -> (n, K, m)."""
        m = V.shape[1]
        Vr = V.reshape(self.n_outputs, self.n_cols, m)
        out = np.empty((Xt.shape[0], self.n_outputs, m))
        for k in range(self.n_outputs):
            out[:, k, :] = _matmul(Xt, Vr[k, : self.n_features, :])
            if self.fit_intercept:
                out[:, k, :] += Vr[k, -1, :]
        return out

    def loss_gradients(self, X, y):
        P = self._proba_t(X)
        R = self._residuals(P, y)
        Xd = X.toarray() if sp.issparse(X) else np.asarray(X)
        Xtil = np.hstack([Xd, np.ones((Xd.shape[0], 1))]) if self.fit_intercept else Xd
        return (R[:, :, None] * Xtil[:, None, :]).reshape(len(y), -1)

    def loss_gradient_dot(self, X, y, V):
        P = self._train_proba() if X is self.X_ else self._proba_t(X)
        R = self._residuals(P, y)
        D = self._dot_cols(X, V)
        return np.einsum("nk,nkm->nm", R, D) if self.n_outputs > 1 else R[:, 0, None] * D[:, 0]

    def _curvature(self, P):
        """A_i, shape (n, K, K)."""
        if self.link == "sigmoid":
            return (P[:, 1] * P[:, 0])[:, None, None]
        return P[:, :, None] * np.eye(P.shape[1])[None] - P[:, :, None] * P[:, None, :]

    def loss_hessian_factors(self, X, y):
        P = self._train_proba() if X is self.X_ else self._proba_t(X)
        A = self._curvature(P)
        if self.link == "sigmoid":
            S = np.sqrt(A)
        else:  # symmetric square root of a PSD matrix, per sample
            vals, vecs = np.linalg.eigh(A)
            S = vecs * np.sqrt(np.clip(vals, 0, None))[:, None, :]
        Xd = X.toarray() if sp.issparse(X) else np.asarray(X)
        Xtil = np.hstack([Xd, np.ones((Xd.shape[0], 1))]) if self.fit_intercept else Xd
        # F_i = S_i (x) x~_i : (K*n_cols, r)
        n, K = Xd.shape[0], self.n_outputs
        F = S[:, :, None, :] * Xtil[:, None, :, None]
        return F.reshape(n, K * self.n_cols, S.shape[2])

    def hessian(self):
        return self._hessian_at(self.X_, self.objective_weights_, self._train_proba())

    def _hessian_at(self, Xt, c, P):
        """Hessian of sum_i c_i l_i + penalty on rows Xt with probabilities P."""
        A = self._curvature(P)
        K, nc, d = self.n_outputs, self.n_cols, self.n_features
        H = np.zeros((K * nc, K * nc))
        for k in range(K):
            for j in range(k, K):
                w = c * A[:, k, j]
                block = np.empty((nc, nc))
                block[:d, :d] = _weighted_gram(Xt, w)
                if self.fit_intercept:
                    xw = _rmatmul(Xt, w)
                    block[:d, d] = xw
                    block[d, :d] = xw
                    block[d, d] = w.sum()
                H[k * nc : (k + 1) * nc, j * nc : (j + 1) * nc] = block
                if j != k:
                    H[j * nc : (j + 1) * nc, k * nc : (k + 1) * nc] = block.T
        H[np.diag_indices_from(H)] += self._penalty_vector()
        return H

    def objective_gradient(self):
        return self._gradient_at(
            self.X_, self.y_, self.objective_weights_, self.params, self._train_proba()
        )

    def _gradient_at(self, Xt, y, c, params, P=None):
        """Gradient of sum_i c_i l_i + penalty at ``params`` (P: the probabilities there)."""
        if P is None:
            P = self._proba_t(Xt, params)
        R = self._residuals(P, y)
        return self._rmat(Xt, R * c[:, None]) + self._penalty_vector() * params

    def proba_vjp(self, X, G):
        Xt = self.transform(X)
        return self._proba_vjp_t(Xt, G)

    def _proba_vjp_t(self, Xt, G, P=None):
        """VJP for G of shape (n, K) -> (p,), or stacked (n, K, m) -> (p, m) in one pass."""
        if P is None:
            P = self._proba_t(Xt)
        G = np.asarray(G, dtype=float)
        stacked = G.ndim == 3
        if not stacked:
            G = G[:, :, None]
        if self.link == "sigmoid":
            dZ = ((G[:, 1] - G[:, 0]) * (P[:, 1] * P[:, 0])[:, None])[:, None, :]
        else:
            dZ = P[:, :, None] * (G - np.sum(P[:, :, None] * G, axis=1, keepdims=True))
        n, K, m = dZ.shape
        out = np.empty((self.n_outputs, self.n_cols, m))
        out[:, : self.n_features, :] = (
            _rmatmul(Xt, dZ.reshape(n, K * m)).reshape(self.n_features, K, m).transpose(1, 0, 2)
        )
        if self.fit_intercept:
            out[:, -1, :] = dZ.sum(axis=0)
        out = out.reshape(-1, m)
        return out if stacked else out[:, 0]

    def null_space(self):
        if self.link == "softmax" and self.fit_intercept and self.intercept_penalty == 0:
            u = np.zeros((self.n_outputs, self.n_cols))
            u[:, -1] = 1.0 / np.sqrt(self.n_outputs)
            return u.reshape(-1, 1)
        return None

    def refit(self, sample_weight):
        if self._refit_fn is None:
            raise NotImplementedError("This view has no refit function.")
        return self._refit_fn(sample_weight)


# ---------------------------------------------------------------------------------------------
# construction from sklearn estimators


def _unsupported(estimator, reason=""):
    name = type(estimator).__name__
    extra = f" ({reason})" if reason else ""
    return TypeError(
        f"No differentiable view for estimator {name}{extra}. Influence-style methods support: "
        f"{', '.join(SUPPORTED_ESTIMATORS)}. method='loo' works for any classifier."
    )


def _lr_penalty(est):
    """C of the L2 penalty (``inf`` for none); raise for non-smooth penalties."""
    cv = isinstance(est, LogisticRegressionCV)
    C = float(np.ravel(est.C_)[0]) if cv else float(est.C)
    penalty = getattr(est, "penalty", "deprecated")
    if penalty == "deprecated":
        if cv:
            l1 = np.ravel(getattr(est, "l1_ratio_", [0.0]))[0]
        else:
            l1 = getattr(est, "l1_ratio", 0.0)
        if l1 is not None and np.isfinite(l1) and l1 > 0:
            raise _unsupported(est, f"an L1 or elastic-net penalty (l1_ratio={l1}) is not smooth")
        return C
    if penalty is None:
        return np.inf
    if penalty == "l2":
        return C
    raise _unsupported(est, f"penalty={penalty!r} is not smooth")


def _sample_weights(est, y_idx, classes, sample_weight, n):
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    cw = getattr(est, "class_weight", None)
    if cw is not None:
        y_labels = classes[y_idx]
        weights = compute_class_weight(
            cw, classes=classes, y=y_labels, sample_weight=sample_weight
        )
        sw = sw * weights[y_idx]
    return sw


def _scale(C):
    """Objective weight multiplier and penalty strength for C (inf = no penalty)."""
    if np.isinf(C):
        return 1.0, 0.0
    return float(C), 1.0


def _check_training_X(X, n_features_in, argname="X"):
    X = check_array(
        X,
        accept_sparse=("csr", "csc"),
        dtype=np.float64,
        ensure_all_finite=True,
        input_name=argname,
    )
    if n_features_in is not None and X.shape[1] != n_features_in:
        raise ValueError(
            f"{argname} has {X.shape[1]} features, but the estimator was fitted with "
            f"{n_features_in} features."
        )
    return X


def _encode_y(y, classes, argname="y"):
    y = np.asarray(y)
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, len(classes) - 1)
    bad = classes[idx] != y
    if np.any(bad):
        unknown = np.unique(y[bad])[:5]
        raise ValueError(
            f"{argname} contains labels {unknown.tolist()} that are not among the estimator's "
            f"classes_ {classes.tolist()}."
        )
    return idx.astype(np.intp)


def _linear_view(est, Xt, y_idx, sample_weight, *, transform, make_refit):
    classes = est.classes_
    coef = np.atleast_2d(est.coef_)
    fit_intercept = bool(getattr(est, "fit_intercept", True))
    intercept = np.atleast_1d(est.intercept_).astype(float) if fit_intercept else None
    n = Xt.shape[0]
    s = _sample_weights(est, y_idx, classes, sample_weight, n)
    intercept_penalty = 0.0
    if isinstance(est, SGDClassifier):
        if est.loss != "log_loss":
            raise _unsupported(est, f"loss={est.loss!r}; only loss='log_loss' is differentiable")
        if est.penalty not in ("l2", None):
            raise _unsupported(est, f"penalty={est.penalty!r} is not smooth")
        if len(classes) > 2:
            raise _unsupported(est, "multiclass SGDClassifier is one-vs-rest")
        C = np.inf if est.penalty is None or est.alpha == 0 else 1.0 / (n * est.alpha)
    else:
        C = _lr_penalty(est)
        if getattr(est, "solver", "lbfgs") == "liblinear":
            if len(classes) > 2:
                raise _unsupported(est, "multiclass liblinear is one-vs-rest")
            if fit_intercept:
                intercept_penalty = 1.0 / est.intercept_scaling**2
        if isinstance(est, LogisticRegressionCV) and not est.refit:
            raise _unsupported(est, "refit=False averages fold models, which is not an optimum")
    mult, penalty = _scale(C)
    return _GLMView(
        coef=coef,
        intercept=intercept,
        classes=classes,
        X=Xt,
        y=y_idx,
        objective_weights=mult * s,
        penalty=penalty,
        intercept_penalty=intercept_penalty * penalty,
        transform=transform,
        refit_fn=make_refit,
        description=type(est).__name__,
    )


_ACTIVATIONS = {
    "identity": lambda a: a,
    "logistic": _expit,
    "tanh": np.tanh,
    "relu": lambda a: np.maximum(a, 0),
}


def _mlp_hidden(mlp, X):
    a = X
    for W, b in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1], strict=True):
        a = _ACTIVATIONS[mlp.activation](np.asarray(a @ W) + b)
    return a


def _compose(first, second):
    if first is None:
        return second
    if second is None:
        return first
    return lambda X: second(first(X))


def make_view(estimator, X, y, *, sample_weight=None):
    """Build the differentiable view of a fitted estimator on its training data.

    Returns a :class:`DifferentiableModel`. ``y`` holds the original labels.
    """
    if isinstance(estimator, DifferentiableModel):
        return estimator
    transform = None
    final = estimator
    Xt = X
    if isinstance(estimator, Pipeline):
        check_is_fitted(estimator)
        final = estimator.steps[-1][1]
        if len(estimator.steps) > 1:
            pre = estimator[:-1]
            transform = pre.transform
            Xt = pre.transform(X)
    if not isinstance(
        final, LogisticRegression | LogisticRegressionCV | SGDClassifier | MLPClassifier
    ):
        raise _unsupported(final)
    check_is_fitted(final)
    classes = final.classes_
    Xt = _check_training_X(Xt, getattr(final, "n_features_in_", None))
    if transform is not None:
        post = _check_transformed
        transform = _compose(transform, post)
    else:
        n_in = getattr(final, "n_features_in_", None)
        transform = lambda Z, n_in=n_in: _check_training_X(Z, n_in, "X_eval")  # noqa: E731
    y_idx = _encode_y(y, classes)

    if isinstance(final, MLPClassifier):
        if final.out_activation_ not in ("logistic", "softmax") or final.n_outputs_ != (
            1 if len(classes) == 2 else len(classes)
        ):
            raise _unsupported(final, "multilabel outputs")
        H = _mlp_hidden(final, Xt)
        feature_map = _compose(transform, lambda Z, m=final: _mlp_hidden(m, Z))
        surrogate = LogisticRegression(
            C=np.inf if final.alpha == 0 else 1.0 / final.alpha, tol=1e-10, max_iter=10_000
        )
        surrogate.classes_ = classes
        surrogate.coef_ = final.coefs_[-1].T
        surrogate.intercept_ = final.intercepts_[-1]
        surrogate.n_features_in_ = H.shape[1]

        def refit_mlp(w, surrogate=surrogate, H=H):
            return _refit_linear(surrogate, H, y_idx, w, feature_map)

        return _linear_view(
            surrogate, H, y_idx, sample_weight, transform=feature_map, make_refit=refit_mlp
        )

    def refit(w, final=final, Xt=Xt):
        return _refit_linear(final, Xt, y_idx, w, transform)

    return _linear_view(final, Xt, y_idx, sample_weight, transform=transform, make_refit=refit)


def _check_transformed(Z):
    return check_array(Z, accept_sparse=("csr", "csc"), dtype=np.float64, input_name="X_eval")


def _refit_linear(est, Xt, y_idx, sample_weight, transform):
    """Refit the final linear model on fixed features with new weights (zero = removed).

    The refit is warm-started from ``est`` where the estimator supports it.
    """
    w = np.asarray(sample_weight, dtype=float)
    keep = w > 0
    new = copy.deepcopy(est)
    if "warm_start" in new.get_params():
        new.set_params(warm_start=True)
    new.fit(Xt[keep], est.classes_[y_idx[keep]], sample_weight=w[keep])
    return _linear_view(
        new,
        Xt,
        y_idx,
        w,
        transform=transform,
        make_refit=lambda w2: _refit_linear(est, Xt, y_idx, w2, transform),
    )
