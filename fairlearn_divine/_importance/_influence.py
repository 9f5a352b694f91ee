"""Influence-style importance: influence, one-step Newton, counterfactual closed form.

Every function here calls the model only through the
:class:`~fairlearn_divine.DifferentiableModel` protocol; see
:mod:`fairlearn_divine._importance._api` for the math.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._core.linalg import HessianSolver
from .._core.validation import check_real
from .._models import make_view
from .._objectives import is_log_loss
from .._warnings import ApproximationWarning
from ._refits import flipped_labels, no_options, refit_scores

__all__ = ["counterfactual", "influence", "one_step_newton"]

_BLOCK = 4096
_EXPANSIONS = ("auto", "linear", "quadratic", "exact")


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


def warn_if_stationary(ctx, eval_is_train, what, remedy=None):
    """Warn that a first-order estimate of the log loss on the training data itself is
    degenerate: that loss is (up to the penalty) stationary at the fit, so its first-order
    change is the penalty's alone and the leave-one-out change is second order."""
    if eval_is_train and any(is_log_loss(f) for f in ctx.objectives):
        if remedy is None:
            remedy = (
                "Use method='one_step_newton' (second order for this objective; the default "
                "method='auto' picks it) or evaluate on held-out data (X_eval=...)."
            )
        warnings.warn(
            f"{what} is first order, and the log loss on the training data is stationary at "
            "the fit up to the penalty: its first-order change is the penalty's term alone, "
            "while the change on removing a point is second order. Its scores do not track "
            "leave-one-out (measured Pearson with exact refits on 2,000 Gaussian points: "
            "-0.70 at C=1, -0.88 at C=100; benchmarks/bench_training_loss_influence.py). "
            + remedy,
            ApproximationWarning,
            stacklevel=4,
        )


def _log_loss_hessians(view, ctx, Z):
    """Per objective, the Hessian of f in the parameters where it is known in closed form
    (the built-in log loss on a view that provides ``log_loss_hessian``), else ``None``;
    ``Z``: the evaluation data in the view's features."""
    hessians = []
    H = None
    for f in ctx.objectives:
        if is_log_loss(f):
            if H is None:
                n_eval = len(ctx.y_idx)
                H = view.log_loss_hessian(Z, np.full(n_eval, 1.0 / n_eval))
                if H is None:  # not known for this view
                    return [None] * len(ctx.objectives)
            hessians.append(H)
        else:
            hessians.append(None)
    return hessians


def _objective_gradients(view, ctx, Z):
    """f values at the fitted model and the columns grad_theta f, shape (n_params, m), on the
    evaluation data ``Z`` (in the view's features)."""
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
    Z_eval = view.X_ if eval_is_train else view.transform(X_eval)  # transformed once
    base, grad_f = _objective_gradients(view, ctx, Z_eval)
    solver = HessianSolver(view.hessian(), null_space=view.null_space())
    V = solver.solve(grad_f)
    info = {
        "optimality": optimality,
        "damping": solver.damping,
        "condition_number": solver.condition_number,
    }
    return view, Z_eval, base, V, solver, info


def influence(estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options, runtime):
    view, _, base, V, _, info = _prepare_influence(
        estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options
    )
    no_options(options, "influence")
    warn_if_stationary(ctx, eval_is_train, "Influence")
    c = view.objective_weights_
    S = view.loss_gradient_dot(view.X_, view.y_, V)
    scores = (S * c[:, None]).T
    return scores, base, info


def one_step_newton(estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options, runtime):
    expansion = options.pop("objective_expansion", "auto")
    if expansion not in _EXPANSIONS:
        raise ValueError(
            f"objective_expansion must be one of {', '.join(map(repr, _EXPANSIONS))}, "
            f"got {expansion!r}."
        )
    view, Z_eval, base, V, solver, info = _prepare_influence(
        estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options
    )
    no_options(options, "one_step_newton")
    c = view.objective_weights_
    n = len(c)
    m = V.shape[1]
    scores = np.empty((m, n))
    n_unstable = 0
    theta = view.params
    hessians = [None] * m
    if expansion in ("auto", "quadratic"):
        hessians = _log_loss_hessians(view, ctx, Z_eval)
        known = [Hf is not None for Hf in hessians]
        if expansion == "quadratic" and not all(known):
            missing = [f.name for f, ok in zip(ctx.objectives, known, strict=True) if not ok]
            raise ValueError(
                "objective_expansion='quadratic' needs the Hessian of every objective in the "
                "model's parameters, known only for 'log_loss' on a view that provides "
                f"log_loss_hessian (GLMs do); not for {missing} with {type(view).__name__}. "
                "Use 'exact' or 'linear' (or 'auto': quadratic where the Hessian is known, "
                "linear elsewhere)."
            )
        if expansion == "auto":  # per objective
            expansion = "quadratic" if any(known) else "linear"
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
            if expansion == "quadratic":
                # f(theta + Delta_i) - f(theta) = grad f^T Delta_i + 1/2 Delta_i^T H_f Delta_i
                # + O(3), with grad f^T Delta_i = v^T (c g_i + F_i z_i), v = H^-1 grad f
                scores[:, rows] = V.T @ rhs
                for k, Hf in enumerate(hessians):
                    if Hf is not None:
                        scores[k, rows] += 0.5 * np.sum(Delta * (Hf @ Delta), axis=0)
            else:
                for j in range(b):
                    proba = view.predict_proba_features(Z_eval, theta + Delta[:, j])
                    scores[:, start + j] = ctx.values(proba) - base
    if expansion == "linear":
        warn_if_stationary(
            ctx,
            eval_is_train,
            "One-step Newton with objective_expansion='linear'",
            remedy="Use objective_expansion='quadratic' (for a GLM) or 'exact'.",
        )
    if n_unstable:
        warnings.warn(
            f"{n_unstable} point(s) have leverage so high that the Hessian without them is not "
            "positive definite; their one-step Newton scores fall back to first-order influence.",
            ApproximationWarning,
            stacklevel=2,
        )
    if expansion == "quadratic" and not all(Hf is not None for Hf in hessians):
        # 'auto' with objectives of both kinds: second order where f's Hessian is known
        expansion = ["quadratic" if Hf is not None else "linear" for Hf in hessians]
    info["objective_expansion"] = expansion
    return scores, base, info


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
    view, _, base, V, _, info = _prepare_influence(
        estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options, view=view
    )
    no_options(options, "counterfactual")
    warn_if_stationary(ctx, eval_is_train, "The counterfactual closed form")
    c = view.objective_weights_
    y_flip = flipped_labels(view.predict_proba_features(view.X_), view.y_)
    diff = view.loss_gradient_dot(view.X_, y_flip, V) - view.loss_gradient_dot(view.X_, view.y_, V)
    scores = -(diff * c[:, None]).T
    info["flipped_labels"] = view.classes_[y_flip]
    return scores, base, info
