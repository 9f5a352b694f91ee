"""Independent ground truth for the fairlearn_divine tests.

Nothing here calls fairlearn_divine: data generators, plain sklearn refit loops, and numpy
implementations of the training objective and the evaluation functions.
"""

import copy
import os

import numpy as np
from sklearn.base import clone


def make_gaussian_classification(n, n_features=4, n_classes=2, *, random_state=0, noise=1.0):
    """Well-spread Gaussian features, labels drawn from a softmax model (not separable)."""
    rng = np.random.default_rng(random_state)
    X = rng.normal(size=(n, n_features))
    W = rng.normal(size=(n_classes, n_features))
    b = rng.normal(scale=0.3, size=n_classes)
    Z = (X @ W.T + b) / noise
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    u = rng.random(n)
    y = (u[:, None] > np.cumsum(P, axis=1)).sum(axis=1)
    y = np.minimum(y, n_classes - 1)
    return X, y


def tight(est):
    """A clone with a tight tolerance and many iterations (so that fits reach the optimum)."""
    est = clone(est)
    params = est.get_params()
    new = {}
    if "tol" in params:
        new["tol"] = 1e-10
    if "max_iter" in params:
        new["max_iter"] = 100_000
    return est.set_params(**new)


def fit(est, X, y, sample_weight=None):
    if sample_weight is None:
        return est.fit(X, y)
    return est.fit(X, y, sample_weight=sample_weight)


def log_loss_value(est, X, y):
    """Mean negative log-likelihood of y (original labels) under est.predict_proba."""
    P = est.predict_proba(X)
    idx = np.searchsorted(est.classes_, y)
    return float(-np.mean(np.log(P[np.arange(len(y)), idx])))


def loo_refits(
    est,
    X,
    y,
    indices,
    value,
    *,
    sample_weight=None,
    X_eval=None,
    y_eval=None,
    full=None,
    warm=False,
):
    """f(theta without i) - f(theta) for each i in indices, by refits of ``est``.

    ``value(fitted_estimator, X_eval, y_eval)`` computes f. ``est`` is refitted as it is (use
    :func:`tight` first). ``full`` is the reference fit on all data (default: refit here).
    ``warm=True`` starts each refit from the full fit (sklearn's own warm_start; only a speed-up
    when the tolerance is tight).
    """
    X_eval = X if X_eval is None else X_eval
    y_eval = y if y_eval is None else y_eval
    if full is None:
        full = fit(clone(est), X, y, sample_weight)
    base = value(full, X_eval, y_eval)
    n = X.shape[0]
    out = np.empty(len(indices))
    for j, i in enumerate(indices):
        keep = np.ones(n, dtype=bool)
        keep[i] = False
        sw = None if sample_weight is None else sample_weight[keep]
        if warm:
            m = copy.deepcopy(full).set_params(warm_start=True)
        else:
            m = clone(est)
        m = fit(m, X[keep], y[keep], sw)
        out[j] = value(m, X_eval, y_eval) - base
    return out


def flip_refits(
    est, X, y, indices, flip_to, value, *, sample_weight=None, X_eval=None, y_eval=None
):
    """f(theta with y_i -> flip_to[i]) - f(theta) by cold refits."""
    X_eval = X if X_eval is None else X_eval
    y_eval = y if y_eval is None else y_eval
    full = fit(clone(est), X, y, sample_weight)
    base = value(full, X_eval, y_eval)
    out = np.empty(len(indices))
    for j, i in enumerate(indices):
        y2 = np.array(y, copy=True)
        y2[i] = flip_to[i]
        m = fit(clone(est), X, y2, sample_weight)
        out[j] = value(m, X_eval, y_eval) - base
    return out


def pearson(a, b):
    """Pearson correlation; logged to $DIVINE_TEST_LOG (if set) to report measured numbers."""
    r = float(np.corrcoef(np.asarray(a, float), np.asarray(b, float))[0, 1])
    log = os.environ.get("DIVINE_TEST_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(f"{os.environ.get('PYTEST_CURRENT_TEST', '?')}\t{r:.5f}\n")
    return r


# ---------------------------------------------------------------------------------------------
# numpy training objective of sklearn's LogisticRegression


def lr_objective(
    theta, X, y_idx, n_classes, *, C, s=None, fit_intercept=True, intercept_penalty=0.0
):
    """C * sum_i s_i l_i + 0.5 * ||w||^2 (+ 0.5 * intercept_penalty * b^2).

    Parameter layout: rows [w_k, b_k] flattened (one row for a binary target, sigmoid link;
    n_classes rows otherwise, softmax). ``C=np.inf`` means no penalty (objective sum_i s_i l_i).
    """
    n, d = X.shape
    s = np.ones(n) if s is None else s
    K = 1 if n_classes == 2 else n_classes
    cols = d + int(fit_intercept)
    M = theta.reshape(K, cols)
    W = M[:, :d]
    Z = X @ W.T
    if fit_intercept:
        Z = Z + M[:, d]
    if K == 1:
        z = Z[:, 0]
        t = (y_idx == 1).astype(float)
        loss = np.logaddexp(0.0, z) - t * z
    else:
        zmax = Z.max(axis=1, keepdims=True)
        lse = zmax[:, 0] + np.log(np.exp(Z - zmax).sum(axis=1))
        loss = lse - Z[np.arange(n), y_idx]
    pen = 0.5 * np.sum(W**2)
    if fit_intercept:
        pen += 0.5 * intercept_penalty * np.sum(M[:, d] ** 2)
    if np.isinf(C):
        return float(np.sum(s * loss))
    return float(C * np.sum(s * loss) + pen)


def lr_objective_gradient(
    theta, X, y_idx, n_classes, *, C, s=None, fit_intercept=True, intercept_penalty=0.0
):
    """Analytic gradient of :func:`lr_objective` (own derivation)."""
    n, d = X.shape
    s = np.ones(n) if s is None else s
    K = 1 if n_classes == 2 else n_classes
    cols = d + int(fit_intercept)
    M = theta.reshape(K, cols)
    Z = X @ M[:, :d].T
    if fit_intercept:
        Z = Z + M[:, d]
    if K == 1:
        R = (1.0 / (1.0 + np.exp(-Z[:, 0])) - (y_idx == 1))[:, None]
    else:
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        R = P
        R[np.arange(n), y_idx] -= 1.0
    mult = 1.0 if np.isinf(C) else C
    R = R * (mult * s)[:, None]
    G = np.zeros((K, cols))
    G[:, :d] = R.T @ X
    if fit_intercept:
        G[:, d] = R.sum(axis=0)
    if not np.isinf(C):
        G[:, :d] += M[:, :d]
        if fit_intercept:
            G[:, d] += intercept_penalty * M[:, d]
    return G.ravel()


def lr_params(est):
    """sklearn LogisticRegression coefficients in the [w_k, b_k] row layout."""
    coef = np.atleast_2d(est.coef_)
    if est.fit_intercept:
        return np.hstack([coef, np.atleast_1d(est.intercept_)[:, None]]).ravel()
    return coef.ravel().copy()


def fd_hessian(grad, theta, h=1e-5):
    """Central finite-difference Jacobian of a gradient function, symmetrised."""
    p = theta.size
    H = np.empty((p, p))
    for j in range(p):
        e = np.zeros(p)
        e[j] = h
        H[:, j] = (grad(theta + e) - grad(theta - e)) / (2 * h)
    return 0.5 * (H + H.T)


# ---------------------------------------------------------------------------------------------
# fairness: soft-rate surrogate written from the description in DESIGN.md


def soft_gap_surrogate(
    y_idx, proba, groups, components, *, order=None, return_order=False, hard=False
):
    """Soft group rates; |gap| differentiated through the sign of the hard gap.

    ``components`` lists (condition on y or None, event) pairs, e.g. TPR = (1, 1),
    TNR = (0, 0), FPR = (0, 1), selection rate = (None, 1). For each component, the groups with
    the largest and the smallest hard rate (ties broken by the soft rate) are a and b, and the
    surrogate is soft_rate_a - soft_rate_b; components are summed. ``order`` fixes the (a, b)
    group codes per component (e.g. those chosen at the full-data model); ``hard=True`` returns
    the hard metric (sum of max - min hard rates) instead.
    """
    hard_pred = np.argmax(proba, axis=1)
    codes = np.unique(groups)
    total = 0.0
    chosen = []
    for k, (cond, event) in enumerate(components):
        mask = np.ones(len(y_idx), bool) if cond is None else (y_idx == cond)
        hard_r = {}
        soft_r = {}
        for g in codes:
            m = mask & (groups == g)
            hard_r[g] = np.mean(hard_pred[m] == event)
            soft_r[g] = np.mean(proba[m, event])
        if hard:
            total += max(hard_r.values()) - min(hard_r.values())
            continue
        if order is None:
            ranked = sorted(codes, key=lambda g: (hard_r[g], soft_r[g]))
            hi, lo = ranked[-1], ranked[0]
        else:
            hi, lo = order[k]
        chosen.append((hi, lo))
        total += soft_r[hi] - soft_r[lo]
    if return_order:
        return total, chosen
    return total
