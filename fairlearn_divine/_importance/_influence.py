"""Influence-style importance: influence, one-step Newton, counterfactual closed form.

Every function here calls the model only through the
:class:`~fairlearn_divine.DifferentiableModel` protocol; see
:mod:`fairlearn_divine._importance._api` for the math.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._core.linalg import HessianSolver
from .._core.validation import check_real, n_rows
from .._models import make_view
from .._warnings import ApproximationWarning
from ._refits import flipped_labels, no_options, refit_scores

__all__ = ["counterfactual", "influence", "one_step_newton"]

_BLOCK = 4096
#: one_step_newton evaluates f exactly at the Newton step when n * n_eval * n_params is below it.
_EXACT_BUDGET = 2e8


def _optimality(view, tol):
    grad = view.objective_gradient()
    scale = float(np.sum(view.objective_weights_)) or 1.0
    value = float(np.max(np.abs(grad)) / scale) if grad.size else 0.0
    if value > tol:
        warnings.warn(
            f"The fitted model is not at an optimum of its training objective: scaled gradient "
            f"norm {value:.3g} > optimality_tol={tol:g}. Influence estimates assume an optimum; "
            "fit with a tighter tol / more iterations, or use method='loo'.",
            ApproximationWarning,
            stacklevel=3,
        )
    return value


def _objective_gradients(view, ctx, X_eval, eval_is_train):
    """f values at the fitted model and the columns grad_theta f, shape (n_params, m)."""
    Z = view.X_ if eval_is_train else view.transform(X_eval)
    P = view.predict_proba_features(Z)
    values, G = ctx.values_and_gradients(P)
    return values, np.asarray(view.proba_vjp_features(Z, np.stack(G, axis=-1)), dtype=float)


def _prepare_influence(
    estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options, view=None
):
    for f in ctx.objectives:
        if not f.has_gradient:
            raise ValueError(
                f"Objective {f.name!r} has no gradient, so influence-style methods cannot use "
                "it; use method='loo', or give it a gradient (make_evaluation_function)."
            )
    if view is None:
        view = make_view(estimator, X, y, sample_weight=sample_weight)
    tol = options.pop("optimality_tol", 1e-3)
    optimality = _optimality(view, check_real(tol, "optimality_tol", minimum=0, allow_inf=True))
    base, grad_f = _objective_gradients(view, ctx, X_eval, eval_is_train)
    solver = HessianSolver(view.hessian(), null_space=view.null_space())
    V = solver.solve(grad_f)
    info = {
        "optimality": optimality,
        "damping": solver.damping,
        "condition_number": solver.condition_number,
    }
    return view, base, V, solver, info


def influence(estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options, runtime):
    view, base, V, _, info = _prepare_influence(
        estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options
    )
    no_options(options, "influence")
    c = view.objective_weights_
    S = view.loss_gradient_dot(view.X_, view.y_, V)
    scores = (S * c[:, None]).T
    return scores, base, info


def one_step_newton(estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options, runtime):
    expansion = options.pop("objective_expansion", "auto")
    if expansion not in ("auto", "linear", "exact"):
        raise ValueError(
            f"objective_expansion must be 'auto', 'linear' or 'exact', got {expansion!r}."
        )
    view, base, V, solver, info = _prepare_influence(
        estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options
    )
    no_options(options, "one_step_newton")
    c = view.objective_weights_
    n = len(c)
    m = V.shape[1]
    scores = np.empty((m, n))
    n_unstable = 0
    theta = view.params
    n_eval = n_rows(X_eval)
    if expansion == "auto":
        expansion = "exact" if n * n_eval * view.n_params <= _EXACT_BUDGET else "linear"
    if expansion == "exact":
        proba_at = _proba_function(view, X_eval)
    for start in range(0, n, _BLOCK):
        rows = slice(start, min(start + _BLOCK, n))
        Xb = view.X_[rows]
        yb = view.y_[rows]
        cb = c[rows]
        G = view.loss_gradients(Xb, yb) * cb[:, None]  # (b, p): c_i g_i
        F = view.loss_hessian_factors(Xb, yb)  # (b, p, r)
        b, p, r = F.shape
        # half solves: a^T H^-1 b = (L^-1 a)^T (L^-1 b)
        LG = solver.half_solve(G.T)  # (p, b)
        LF = solver.half_solve(F.transpose(1, 0, 2).reshape(p, b * r)).reshape(p, b, r)
        Q = np.einsum("pbr,pbs->brs", LF, LF)  # F^T H^-1 F
        u = np.einsum("pbr,pb->br", LF, LG)  # F^T H^-1 (c g)
        M = np.eye(r)[None] - cb[:, None, None] * Q
        det_ok = np.linalg.eigvalsh(0.5 * (M + M.transpose(0, 2, 1)))[:, 0] > 1e-10
        n_unstable += int(np.sum(~det_ok))
        M[~det_ok] = np.eye(r)
        z = np.linalg.solve(M, (cb[:, None] * u)[:, :, None])[:, :, 0]  # (b, r)
        if expansion == "linear":
            FV = np.einsum("bpr,pm->brm", F, V)  # F^T v
            scores[:, rows] = (G @ V).T + np.einsum("brm,br->mb", FV, z)
        else:
            # Delta_i = H^-1 (c g_i + F_i z_i)
            rhs = G.T + np.einsum("bpr,br->pb", F, z)
            Delta = solver.solve(rhs)  # (p, b)
            for j in range(b):
                scores[:, start + j] = ctx.values(proba_at(theta + Delta[:, j])) - base
    if n_unstable:
        warnings.warn(
            f"{n_unstable} point(s) have leverage so high that the Hessian without them is not "
            "positive definite; their one-step Newton scores fall back to first-order influence.",
            ApproximationWarning,
            stacklevel=2,
        )
    info["objective_expansion"] = expansion
    return scores, base, info


def _proba_function(view, X_eval):
    """``params -> proba on X_eval``, transforming X_eval once."""
    Z = view.transform(X_eval)
    return lambda params: view.predict_proba_features(Z, params)


def counterfactual(estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options, runtime):
    exact = options.pop("exact", False)
    view = None
    if not exact:
        try:
            view = make_view(estimator, X, y, sample_weight=sample_weight)
        except TypeError:
            exact = True
    if exact:
        return refit_scores(
            estimator,
            X,
            y,
            sample_weight,
            ctx,
            options,
            runtime,
            kind="flip",
            method="counterfactual",
        )
    view, base, V, _, info = _prepare_influence(
        estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options, view=view
    )
    no_options(options, "counterfactual")
    c = view.objective_weights_
    y_flip = flipped_labels(view.predict_proba_features(view.X_), view.y_)
    diff = view.loss_gradient_dot(view.X_, y_flip, V) - view.loss_gradient_dot(view.X_, view.y_, V)
    scores = -(diff * c[:, None]).T
    info["flipped_labels"] = view.classes_[y_flip]
    return scores, base, info
