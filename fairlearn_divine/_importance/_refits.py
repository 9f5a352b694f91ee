"""Refit-based importance: exact leave-one-out and label-flip (counterfactual) refits.

Scores are ``f(model refitted with the change) - f(reference)``. Scikit-learn estimators are
refitted through :class:`~fairlearn_divine._core.refit.EstimatorRefitter` (what
``clone(estimator).fit`` on the changed data gives; warm starts only where that is exact), or
by exact Newton iterations on the objective for a bare ``LogisticRegression`` or a
:class:`~fairlearn_divine.DifferentiableModel`. The reference ``f`` comes from a refit on all
the data with the same settings, so that solver error cancels.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning

from .._core.parallel import parallel_map
from .._core.refit import (
    EstimatorRefitter,
    SingleClassRefitError,
    predict_proba_aligned,
    rows_emptying_their_class,
)
from .._core.validation import check_indices, check_real, encode_labels, final_step, n_rows
from .._models import NewtonRefitter, is_differentiable_model, make_view, use_newton_refits
from .._warnings import ApproximationWarning

__all__ = [
    "check_refit_estimator",
    "flipped_labels",
    "no_options",
    "refit_scores",
    "warn_if_random_refits",
]

_DETERMINISTIC_LR_SOLVERS = ("lbfgs", "newton-cg", "newton-cholesky")


def no_options(options, method):
    """Raise for options a method does not know."""
    if options:
        raise TypeError(f"Unknown option(s) for method={method!r}: {sorted(options)}.")


def flipped_labels(P_train, y_idx):
    """Binary: the other class. Multiclass: the most probable other class."""
    Pm = P_train.copy()
    Pm[np.arange(len(y_idx)), y_idx] = -np.inf
    return np.argmax(Pm, axis=1)


def check_refit_estimator(estimator, method):
    """A refit-based method needs a scikit-learn classifier (or a Newton-refittable view)."""
    if is_differentiable_model(estimator):
        return
    if not is_classifier(estimator):
        raise TypeError(f"estimator must be a fitted classifier, got {type(estimator).__name__}.")


def warn_if_random_refits(estimator, method, stacklevel=4):
    """Warn when refits draw new randomness (``random_state=None`` of a randomised fit)."""
    if is_differentiable_model(estimator):
        return
    final = final_step(estimator)
    params = estimator.get_params(deep=True)
    unseeded = [k for k, v in params.items() if k.endswith("random_state") and v is None]
    if not unseeded:
        return
    if type(final).__name__ == "LogisticRegression" and (
        final.get_params().get("solver", "lbfgs") in _DETERMINISTIC_LR_SOLVERS
    ):
        return
    if not any(k.split("__")[-1] == "random_state" for k in unseeded):
        return
    names = ", ".join(sorted(unseeded)[:3])
    warnings.warn(
        f"method={method!r} refits {type(estimator).__name__} with {names}=None: every refit "
        "draws new randomness, so the scores mix the effect of each change with refit noise. "
        "Set random_state to an integer for reproducible, comparable refits.",
        ApproximationWarning,
        stacklevel=stacklevel,
    )


def _estimator_task(refitter, reference, ctx, kind, flip_to):
    def run(rows):
        before = refitter.n_unconverged
        out = np.empty((len(rows), len(ctx.objectives)))
        single_class = []  # refits the estimator cannot make: one class left
        for j, i in enumerate(rows):
            try:
                if kind == "remove":
                    model = refitter.fit_without([i], warm_from=reference)
                else:
                    y_new = refitter.y.copy()
                    y_new[i] = flip_to[i]
                    model = refitter.fit(y=y_new, warm_from=reference)
            except SingleClassRefitError:
                out[j] = np.nan
                single_class.append(int(i))
                continue
            out[j] = ctx.values(predict_proba_aligned(model, ctx.X, ctx.classes))
        return out, refitter.n_unconverged - before, single_class

    return run


def _newton_task(refitter, theta_ref, Z_eval, ctx, kind, flip_idx):
    def run(rows):
        factor = refitter.reference_factor(theta_ref)
        out = np.empty((len(rows), len(ctx.objectives)))
        for j, i in enumerate(rows):
            if kind == "remove":
                theta = refitter.solve_near(theta_ref, factor, drop=i)
            else:
                y_new = refitter.view.y_.copy()
                y_new[i] = flip_idx[i]
                theta = refitter.solve_near(theta_ref, factor, y=y_new)
            out[j] = ctx.values(refitter.proba(Z_eval, theta))
        return out, 0, []

    return run


def refit_scores(estimator, X, y, sample_weight, ctx, options, runtime, *, kind, method):
    """Scores by refitting once per row: ``kind="remove"`` (LOO) or ``"flip"`` (labels)."""
    warm_start = options.pop("warm_start", True)
    refit_tol = check_real(
        options.pop("refit_tol", 1e-8), "refit_tol", minimum=0, include_minimum=False
    )
    indices = options.pop("indices", None)
    refit_solver = options.pop("refit_solver", "auto")
    no_options(options, method)
    check_refit_estimator(estimator, method)
    n = n_rows(X)
    rows = np.arange(n) if indices is None else check_indices(indices, n)
    classes = ctx.classes
    newton = use_newton_refits(refit_solver, estimator)
    if newton and refit_solver == "auto" and not is_differentiable_model(estimator):
        # without the only member of a class the estimator fits a model of fewer classes,
        # which Newton iterations on this objective are not: refit the estimator itself
        newton = not len(rows_emptying_their_class(y, rows))
    flip_to = None
    if newton:
        view = make_view(estimator, X, y, sample_weight=sample_weight)
        refitter = NewtonRefitter(view, tol=refit_tol)
        theta_ref = refitter.solve(np.arange(n), view.params)  # polished full-data optimum
        Z_eval = view.X_ if ctx.X is X else view.transform(ctx.X)
        base = ctx.values(refitter.proba(Z_eval, theta_ref))
        if kind == "flip":
            flip_idx = flipped_labels(view.predict_proba_features(view.X_), view.y_)
            flip_to = classes[flip_idx]
        else:
            flip_idx = None
        task = _newton_task(refitter, theta_ref, Z_eval, ctx, kind, flip_idx)
        info = {"warm_start": True, "refit_solver": "newton"}
    else:
        warn_if_random_refits(estimator, method)
        refitter = EstimatorRefitter(
            estimator,
            X,
            y,
            sample_weight=sample_weight,
            warm_start=warm_start,
            refit_tol=refit_tol,
        )
        reference = refitter.fit()
        base = ctx.values(predict_proba_aligned(reference, ctx.X, classes))
        if kind == "flip":
            y_idx = encode_labels(y, classes)
            P_train = predict_proba_aligned(estimator, X, classes)
            flip_to = classes[flipped_labels(P_train, y_idx)]
        task = _estimator_task(refitter, reference, ctx, kind, flip_to)
        info = {"warm_start": refitter.warm, "refit_solver": "estimator"}
    results, chunks = parallel_map(
        task,
        rows,
        n_jobs=runtime["n_jobs"],
        progress=runtime["progress"],
        desc=f"{method} refits",
        min_chunk=20,
    )
    values = np.concatenate([r[0] for r in results]) if results else np.empty((0, 1))
    n_unconverged = sum(r[1] for r in results)
    single_class = [i for r in results for i in r[2]]
    if single_class:
        warnings.warn(
            f"{len(single_class)} of {len(rows)} refits would leave a single class (rows "
            f"{single_class[:10]}), which {type(final_step(estimator)).__name__} cannot be "
            "fitted on; their scores are NaN (see result.single_class_rows).",
            UserWarning,
            stacklevel=3,
        )
    if n_unconverged:
        warnings.warn(
            f"{n_unconverged} of {len(rows)} refits did not converge (ConvergenceWarning); "
            "raise max_iter or loosen refit_tol.",
            ConvergenceWarning,
            stacklevel=3,
        )
    scores = np.full((len(ctx.objectives), n), np.nan)
    if len(rows):
        scores[:, rows] = (values - base).T
    info["n_refits"] = len(rows) + 1
    info["single_class_rows"] = np.array(single_class, dtype=np.intp)
    if kind == "flip":
        info["flipped_labels"] = flip_to
    return scores, base, info
