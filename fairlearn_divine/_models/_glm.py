"""Logistic and softmax regression views (the GLM family of the model protocol)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.special

from .._core.refit import separation_margins
from ._diagnostics import warn_if_penalty_negligible
from ._protocol import DifferentiableModel

__all__ = ["GLMView"]


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
    return scipy.special.expit(z)  # accurate in both tails, no overflow


def _softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(axis=1, keepdims=True)
    return Z


class GLMView(DifferentiableModel):
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
        self.description = description
        self.n_outputs, self.n_features = self.coef.shape
        self.n_cols = self.n_features + int(self.fit_intercept)
        self.link = "sigmoid" if self.n_outputs == 1 else "softmax"
        self._train_cache = None
        self._rho = None
        self._rows = None
        # probabilities on X_ at the last parameters asked for: Newton iterations evaluate the
        # objective, its gradient and its Hessian at the same parameters
        self._last_proba = None
        self._abs_cache = None  # (X_, |X_|) for objective_gradient_scale
        self._regime_checked = False

    # parameters ------------------------------------------------------------------------------
    @property
    def params(self):
        if self.fit_intercept:
            return np.hstack([self.coef, self.intercept[:, None]]).ravel()
        return self.coef.ravel().copy()

    def coef_intercept(self, params=None):
        """``(coef, intercept)`` arrays of ``params`` (intercept ``None`` without one)."""
        if params is None:
            return self.coef, self.intercept
        M = np.asarray(params, dtype=float).reshape(self.n_outputs, self.n_cols)
        if self.fit_intercept:
            return M[:, : self.n_features], M[:, self.n_features]
        return M, None

    def penalty_vector(self):
        """:math:`\\rho` with :math:`\\Omega(\\theta) = \\frac12 \\sum_j \\rho_j \\theta_j^2`
        (a read-only array)."""
        if self._rho is None:
            rho = np.full((self.n_outputs, self.n_cols), self.penalty)
            if self.fit_intercept:
                rho[:, -1] = self.intercept_penalty
            rho = rho.ravel()
            rho.flags.writeable = False
            self._rho = rho
        return self._rho

    def transform(self, X):
        return X if self._transform is None else self._transform(X)

    def restrict(self, rows):
        rows = np.asarray(rows)
        return GLMView(
            coef=self.coef,
            intercept=self.intercept,
            classes=self.classes_,
            X=self.X_[rows],
            y=self.y_[rows],
            objective_weights=self.objective_weights_[rows],
            penalty=self.penalty,
            intercept_penalty=self.intercept_penalty,
            transform=self._transform,
            description=self.description,
        )

    # forward pass ----------------------------------------------------------------------------
    def _logits(self, Z, params=None):
        W, b = self.coef_intercept(params)
        out = _matmul(Z, W.T)
        if b is not None:
            out = out + b
        return out

    def _proba_from_logits(self, Z):
        if self.link == "sigmoid":
            P = np.empty((Z.shape[0], 2))
            # both from e^-|z|: exact in the tails (1 - expit(z) cancels to 0 for |z| > 37,
            # which would make the residuals and losses of a saturated fit inexact)
            z = Z[:, 0]
            e = np.exp(-np.abs(z))
            large = 1.0 / (1.0 + e)
            small = e * large
            pos = z >= 0
            P[:, 1] = np.where(pos, large, small)
            P[:, 0] = np.where(pos, small, large)
            return P
        return _softmax(Z.copy())

    def predict_proba_features(self, Z, params=None):
        if Z is self.X_:
            return self._train_logits_proba(params)[1]
        return self._proba_from_logits(self._logits(Z, params))

    def _train_logits_proba(self, params=None):
        """(logits, probabilities) on ``X_`` at ``params``, cached (read-only arrays)."""
        if params is None:
            if self._train_cache is None:
                Z = self._logits(self.X_)
                self._train_cache = (Z, self._proba_from_logits(Z))
            return self._train_cache
        key = np.ascontiguousarray(params, dtype=float).tobytes()
        last = self._last_proba  # one read: a consistent (key, logits, proba) triple
        if last is not None and last[0] == key:
            return last[1], last[2]
        Z = self._logits(self.X_, params)
        P = self._proba_from_logits(Z)
        Z.flags.writeable = False
        P.flags.writeable = False
        self._last_proba = (key, Z, P)
        return Z, P

    def predict_proba(self, X, params=None):
        return self.predict_proba_features(self.transform(X), params)

    def _weights(self, weights):
        return self.objective_weights_ if weights is None else np.asarray(weights, dtype=float)

    # derivatives -----------------------------------------------------------------------------
    def _residuals(self, P, y):
        """r_i = dl_i/dz_i, shape (n, n_outputs)."""
        if self.link == "sigmoid":  # p1 - 1 = -p0, without cancelling digits away
            return np.where(y == 1, -P[:, 0], P[:, 1])[:, None]
        R = P.copy()
        R[np.arange(len(y)), y] -= 1.0
        return R

    def _rmat(self, Z, R):
        """sum_i R_i (x) x~_i as a flat parameter vector; R shape (n, n_outputs)."""
        G = np.empty((self.n_outputs, self.n_cols))
        G[:, : self.n_features] = _rmatmul(Z, R).T
        if self.fit_intercept:
            G[:, -1] = R.sum(axis=0)
        return G.ravel()

    def _dot_cols(self, Z, V):
        """For each column v of V (flat params): x~_i . v_k for every output k -> (n, K, m)."""
        m = V.shape[1]
        Vr = V.reshape(self.n_outputs, self.n_cols, m)
        out = np.empty((Z.shape[0], self.n_outputs, m))
        for k in range(self.n_outputs):
            out[:, k, :] = _matmul(Z, Vr[k, : self.n_features, :])
            if self.fit_intercept:
                out[:, k, :] += Vr[k, -1, :]
        return out

    def _augmented(self, Z):
        Zd = Z.toarray() if sp.issparse(Z) else np.asarray(Z)
        return np.hstack([Zd, np.ones((Zd.shape[0], 1))]) if self.fit_intercept else Zd

    def loss_gradients(self, X, y, params=None):
        P = self.predict_proba_features(X, params)
        R = self._residuals(P, y)
        Xtil = self._augmented(X)
        return (R[:, :, None] * Xtil[:, None, :]).reshape(len(y), -1)

    def loss_gradient_dot(self, X, y, V, params=None):
        P = self.predict_proba_features(X, params)
        R = self._residuals(P, y)
        D = self._dot_cols(X, V)
        return np.einsum("nk,nkm->nm", R, D) if self.n_outputs > 1 else R[:, 0, None] * D[:, 0]

    def _curvature(self, P):
        """A_i, shape (n, K, K)."""
        if self.link == "sigmoid":
            return (P[:, 1] * P[:, 0])[:, None, None]
        return P[:, :, None] * np.eye(P.shape[1])[None] - P[:, :, None] * P[:, None, :]

    def loss_hessian_factors(self, X, y, params=None):
        A = self._curvature(self.predict_proba_features(X, params))
        if self.link == "sigmoid":
            S = np.sqrt(A)
        else:  # symmetric square root of a PSD matrix, per sample
            vals, vecs = np.linalg.eigh(A)
            S = vecs * np.sqrt(np.clip(vals, 0, None))[:, None, :]
        Xtil = self._augmented(X)
        # F_i = S_i (x) x~_i : (K*n_cols, r)
        n, K = Xtil.shape[0], self.n_outputs
        F = S[:, :, None, :] * Xtil[:, None, :, None]
        return F.reshape(n, K * self.n_cols, S.shape[2])

    def hessian(self, params=None, weights=None):
        P = self.predict_proba_features(self.X_, params)
        H = self._hessian_at(self.X_, self._weights(weights), P)
        if params is None and weights is None and not self._regime_checked:
            # the Hessian at the fit is what first-order estimates factorise: check once
            # that they hold here (a separating fit with a negligible penalty: they do not)
            self._regime_checked = True
            margins = separation_margins(P, self.y_, self.objective_weights_)
            warn_if_penalty_negligible(
                margins, H, self.penalty_vector(), self.description or "model", stacklevel=6
            )
        return H

    def _hessian_at(self, Z, c, P, *, penalised=True):
        """Hessian of sum_i c_i l_i (+ the penalty) on rows Z with probabilities P."""
        A = self._curvature(P)
        K, nc, d = self.n_outputs, self.n_cols, self.n_features
        H = np.zeros((K * nc, K * nc))
        for k in range(K):
            for j in range(k, K):
                w = c * A[:, k, j]
                block = np.empty((nc, nc))
                block[:d, :d] = _weighted_gram(Z, w)
                if self.fit_intercept:
                    xw = _rmatmul(Z, w)
                    block[:d, d] = xw
                    block[d, :d] = xw
                    block[d, d] = w.sum()
                H[k * nc : (k + 1) * nc, j * nc : (j + 1) * nc] = block
                if j != k:
                    H[j * nc : (j + 1) * nc, k * nc : (k + 1) * nc] = block.T
        if penalised:
            H[np.diag_indices_from(H)] += self.penalty_vector()
        return H

    def log_loss_hessian(self, Z, weights):
        """:math:`\\sum_j w_j A_j \\otimes \\tilde z_j \\tilde z_j^T`, the Hessian of the
        weighted log loss on rows ``Z``; it does not depend on the labels (canonical link)."""
        P = self.predict_proba_features(Z)
        return self._hessian_at(Z, np.asarray(weights, dtype=float), P, penalised=False)

    def objective_gradient(self, params=None, weights=None):
        theta = self.params if params is None else np.asarray(params, dtype=float)
        P = self.predict_proba_features(self.X_, params)
        R = self._residuals(P, self.y_)
        return self._rmat(self.X_, R * self._weights(weights)[:, None]) + (
            self.penalty_vector() * theta
        )

    def objective_gradient_scale(self, params=None, weights=None):
        """:math:`\\sum_i |c_i| |r_i| \\otimes |\\tilde x_i| + |\\rho \\theta|`: the magnitude
        of the terms each gradient component sums (the scale of Newton refits' stopping rule)."""
        theta = self.params if params is None else np.asarray(params, dtype=float)
        P = self.predict_proba_features(self.X_, params)
        R = np.abs(self._residuals(P, self.y_)) * np.abs(self._weights(weights))[:, None]
        return self._rmat(self._abs_X(), R) + np.abs(self.penalty_vector() * theta)

    def _abs_X(self):
        if self._abs_cache is None or self._abs_cache[0] is not self.X_:
            A = abs(self.X_) if sp.issparse(self.X_) else np.abs(self.X_)
            self._abs_cache = (self.X_, A)
        return self._abs_cache[1]

    def objective_value(self, params=None, weights=None):
        theta = self.params if params is None else np.asarray(params, dtype=float)
        Z = self._train_logits_proba(params)[0]
        c = self._weights(weights)
        return float(c @ self._losses(Z) + 0.5 * (self.penalty_vector() @ (theta * theta)))

    def _losses(self, Z):
        """Per-sample log losses from the logits, exact in the tails: log(1 + e^-m) and
        log(1 + sum_k e^(z_k - z_y)), not -log(p), which rounds to 0 (or to -log(tiny))."""
        if self._rows is None or len(self._rows) != len(self.y_):
            self._rows = np.arange(len(self.y_))
        if self.link == "sigmoid":
            signed = np.where(self.y_ == 1, Z[:, 0], -Z[:, 0])
            return np.logaddexp(0.0, -signed)
        D = Z - Z[self._rows, self.y_][:, None]
        D[self._rows, self.y_] = -np.inf
        top = np.max(D, axis=1)
        with np.errstate(under="ignore"):
            rest = np.exp(D - top[:, None]).sum(axis=1)
        # log(1 + e^top * rest) = logaddexp(0, top + log(rest))
        return np.logaddexp(0.0, top + np.log(rest))

    def proba_vjp(self, X, G):
        return self.proba_vjp_features(self.transform(X), G)

    def proba_vjp_features(self, Z, G, params=None):
        P = self.predict_proba_features(Z, params)
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
            _rmatmul(Z, dZ.reshape(n, K * m)).reshape(self.n_features, K, m).transpose(1, 0, 2)
        )
        if self.fit_intercept:
            out[:, -1, :] = dZ.sum(axis=0)
        out = out.reshape(-1, m)
        return out if stacked else out[:, 0]

    def log_odds_gradient(self, Z, c0, c1, params=None):
        # the log-odds of two classes is linear in the parameters: z_c1 - z_c0
        z = self._logits(Z, params)[0]
        x_aug = self._augmented(Z)[0]
        a = np.zeros((self.n_outputs, self.n_cols))
        if self.link == "sigmoid":  # z = log p1 - log p0
            sign = 1.0 if c1 == 1 else -1.0
            a[0] = sign * x_aug
            return a.ravel(), float(sign * z[0])
        a[c1] = x_aug
        a[c0] -= x_aug
        return a.ravel(), float(z[c1] - z[c0])

    def null_space(self):
        if self.link == "softmax" and self.fit_intercept and self.intercept_penalty == 0:
            u = np.zeros((self.n_outputs, self.n_cols))
            u[:, -1] = 1.0 / np.sqrt(self.n_outputs)
            return u.reshape(-1, 1)
        return None
