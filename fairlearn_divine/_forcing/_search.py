"""Minimal forcing subsets (MFS, Han & Ghosh): training points whose removal flips a prediction.

For a fitted classifier with differentiable view (training objective
:math:`L_S(\\theta) = \\sum_{i \\notin S} c_i l_i(\\theta) + \\Omega(\\theta)` on the training set
without S) and a test point :math:`x^*` predicted as :math:`c_0` (runner-up class :math:`c_1`),
each step of the algorithm

1. solves the constrained problem on the second-order model of :math:`L_S` at the current
   parameters :math:`\\theta` (gradient :math:`g`, Hessian :math:`H`):

   .. math:: \\theta_c = \\theta + \\arg\\min_\\Delta\\; g^T\\Delta + \\tfrac12 \\Delta^T H \\Delta
             \\quad\\text{s.t.}\\quad r(\\theta) + a^T \\Delta \\ge \\epsilon ,

   where :math:`r(\\theta) = \\log p(c_1 \\mid x^*) - \\log p(c_0 \\mid x^*)` and
   :math:`a = \\nabla r` (for logistic and softmax regression :math:`r` is linear in
   :math:`\\theta`: :math:`r = z_{c_1} - z_{c_0}`, so the constraint is exact). With one linear
   constraint the KKT conditions give the closed form (the default fast path)

   .. math:: \\Delta = -H^{-1} g + \\lambda H^{-1} a, \\qquad
             \\lambda = \\max\\Bigl(0,\\; \\frac{\\epsilon - r(\\theta) + a^T H^{-1} g}
             {a^T H^{-1} a}\\Bigr);

   ``solver="CLARABEL"`` (or another cvxpy solver) solves the same problem as a DPP
   problem compiled once (``g^T D + 0.5 * sum_squares(L^T D)`` with ``H = L L^T``), its
   parameters updated between steps;
2. selects :math:`i^* = \\arg\\max_{i \\notin S} \\max(c_i (l_i(\\theta_c) - l_i(\\theta)), 0)`:
   the point whose loss the flip hurts most (not :math:`|\\Delta l|`, and the constraint is built
   from the *prediction*, not the true label);
3. removes it and updates :math:`\\theta` by one Newton step on :math:`L_{S \\cup \\{i^*\\}}`,
   :math:`\\theta \\leftarrow \\theta - H_{S\\cup i^*}^{-1} \\nabla L_{S\\cup i^*}(\\theta)`, which
   is :math:`\\theta + H^{-1} c_{i^*} \\nabla l_{i^*}(\\theta)` at an optimum (MFS eq. 5;
   ``update="newton"``; the Hessian is downdated by the removed point's curvature), or by an
   exact refit (``update="retrain"``);
4. stops when the constraint costs nothing on the model,
   :math:`f(\\theta_c) - f(\\theta - H^{-1} g) \\le \\delta` (the "loss gap"), or at ``max_size``.

With ``verify=True`` the estimator is then refitted without S, as ``clone(estimator).fit`` on
the kept rows (:mod:`._verify`): by exact Newton refits of the objective, warm-started from the
search's parameters, for a bare ``LogisticRegression``, a ``Pipeline`` ending in one (its
transformers refitted on the kept rows as ``Pipeline.fit`` does) or a
:class:`~fairlearn_divine.DifferentiableModel`; by the package's refit helper, warm-started from
the fit, for any other estimator. If the prediction has not flipped the loop continues from the
refit; once it flips, S is made prefix-minimal: while refitting without ``S[:-1]`` also flips,
the last point is dropped, and a scikit-learn estimator's own ``fit`` without S (through the
refit helper) must flip too. Every ``flipped=True`` is a fact checked by a real refit.

:func:`minimal_forcing_subsets` validates the data, builds the view and factorises the Hessian
at the fit once; each point's search starts from a copy of that objective (the same result as a
separate call).
"""

from __future__ import annotations

import warnings

import numpy as np

from .._core.parallel import parallel_map, progress_bar
from .._core.refit import SingleClassRefitError
from .._core.results import Result, row_index
from .._core.validation import (
    as_row,
    check_feature_names,
    check_positive_int,
    check_real,
    check_sample_weight,
    check_X,
    check_y,
    feature_names_checked,
    final_step,
    n_rows,
)
from .._models import is_differentiable_model, make_view, newton_refit_supported
from .._warnings import ApproximationWarning
from ._state import RemainingObjective
from ._step import CvxpyStep, closed_form_step
from ._verify import Verifier

__all__ = ["ForcingSubset", "minimal_forcing_subset", "minimal_forcing_subsets"]

UPDATES = ("newton", "retrain")
#: Absolute tolerance on the loss gap (cvxpy solvers return +-1e-18 for an inactive constraint).
_GAP_TOL = 1e-10

# how the approximate phase ended
_GAP_CLOSED = "gap_closed"  # the constraint costs nothing on the quadratic model
_STALLED = "stalled"  # no remaining point's loss increases under the constraint
_INFEASIBLE = "infeasible"  # the log-odds at x do not depend on the parameters
_MAX_SIZE = "max_size"

_MESSAGES = {
    "flipped": "Refitting without the subset flips the prediction.",
    "no_progress": (
        "Refitting does not flip the prediction and the model offers no further point whose "
        "removal helps the flip."
    ),
    "already": "The prediction at x already has the target class under the constraint.",
    _INFEASIBLE: (
        "The flip constraint is infeasible: the log-odds of the two classes at x do not depend "
        "on the parameters (e.g. x is zero and there is no intercept)."
    ),
    "unverified_flip": "Not verified by a refit; the approximate model predicts a flip.",
    "estimator_disagrees": (
        "The exact optimum without the subset flips the prediction, but the estimator's own fit "
        "(its tol and max_iter) does not: the flip is within the estimator's tolerance."
    ),
    "unverified_stalled": "No remaining point's loss increases under the flip constraint.",
    "single_class": (
        "Refitting without the subset is impossible: the remaining training rows hold a "
        "single class, and the estimator needs two. The flip is not verified."
    ),
}


class ForcingSubset(Result):
    """Result of :func:`minimal_forcing_subset` (a dict with attribute access).

    Keys: ``indices`` (pick order, positions in ``X``), ``labels`` (the same rows by the row
    labels of ``X``: its index for a DataFrame), ``flipped`` (checked by a refit when
    ``verified``),
    ``verified``, ``size``, ``predicted_class`` (:math:`c_0`), ``target_class`` (:math:`c_1`),
    ``trace`` (per step: ``p_c0``, ``p_c1`` at the current parameters, ``loss_gap``, ``index``),
    ``n_refits``, ``message``, ``positive_support`` / ``negative_support`` (points of S whose
    label is / is not the predicted class), ``final_proba`` (probabilities at x* after the last
    refit or update), ``estimator_proba`` (where verification refits were exact Newton refits of
    a scikit-learn estimator, a bare ``LogisticRegression`` or a ``Pipeline`` ending in one: the
    probabilities at x* from the estimator's *own* fit without S, with its own ``tol`` and
    ``max_iter``, through the refit helper: warm-started from the exact solution when ``tol``
    is at most 1e-8, cold for a looser ``tol``; ``flipped`` requires that fit to flip too).

    When the search reaches a subset whose removal leaves a single class in the training data
    (a scikit-learn classifier cannot be refitted on it), it stops there: ``flipped`` and
    ``verified`` are False and ``message`` says why; ``indices`` holds the subset so far.
    """

    def to_frame(self):
        """The subset in pick order, indexed by the row labels of ``X``: ``position`` and
        whether the row's label is the predicted class (``supports_prediction``)."""
        import pandas as pd

        idx = np.asarray(self["indices"], dtype=np.intp)
        frame = pd.DataFrame(
            {
                "position": idx,
                "supports_prediction": np.isin(idx, self["positive_support"]),
            },
            index=self.get("labels", pd.RangeIndex(len(idx))),
        )
        frame.index.name = "label"
        return frame

    def __repr__(self):
        return (
            f"ForcingSubset(size={self.size}, flipped={self.flipped}, "
            f"indices={np.asarray(self.indices).tolist()}, message={self.message!r})"
        )


class _Search:
    """The state of one search: phases below share it instead of passing messages."""

    def __init__(self, objective, zx, c0, c1, step_fn, epsilon, delta, max_size, bar):
        self.view, self.zx = objective.view, zx
        self.c0, self.c1 = c0, c1
        self.step_fn, self.epsilon, self.delta, self.max_size = step_fn, epsilon, delta, max_size
        self.objective = objective
        self.keep = objective.keep.copy()
        self.selected = []
        self.trace = []
        self.bar = bar

    def restart(self, view, zx, theta):
        self.view, self.zx = view, zx
        self.objective = RemainingObjective(view, self.keep, theta)

    def approximate(self, update, verifier):
        """Pick points on the quadratic model until the constraint costs nothing (phase 1).

        Returns how it ended: ``_GAP_CLOSED``, ``_STALLED``, ``_INFEASIBLE`` or ``_MAX_SIZE``.
        """
        while len(self.selected) < self.max_size:
            obj = self.objective
            theta = obj.theta
            a, r = self.view.log_odds_gradient(self.zx, self.c0, self.c1, theta)
            g = obj.objective_gradient(theta)
            D, D_unc = self.step_fn(g, obj.chol, a, r, self.epsilon)
            if D is None or not np.any(a):
                return _INFEASIBLE
            p_now = self.view.predict_proba_features(self.zx, theta)[0]
            gap = _model_value(g, obj.H, D) - _model_value(g, obj.H, D_unc)
            self.trace.append(
                {
                    "p_c0": float(p_now[self.c0]),
                    "p_c1": float(p_now[self.c1]),
                    "loss_gap": float(gap),
                    "index": None,
                }
            )
            if gap <= self.delta + _GAP_TOL:  # an inactive constraint costs 0 (solver noise)
                return _GAP_CLOSED
            # losses under the constraint vs at the model's unconstrained optimum
            gain = obj.c * (obj.losses(theta + D) - obj.losses(theta + D_unc))
            gain[~obj.keep] = -np.inf
            i = int(np.argmax(gain))
            if not np.isfinite(gain[i]) or gain[i] <= 0:
                return _STALLED
            self.trace[-1]["index"] = i
            self.selected.append(i)
            self.keep[i] = False
            self.bar.update(1)
            if update == "newton":
                obj.remove(i)
            else:
                self.restart(*verifier.refit(self.keep).restart())
        return _MAX_SIZE

    def trim(self, verifier, refit):
        """Make S prefix-minimal: drop the last point while the shorter prefix flips too.

        Returns the refit without the final S."""
        while len(self.selected) > 1:
            shorter = np.ones(len(self.keep), dtype=bool)
            shorter[self.selected[:-1]] = False
            candidate = verifier.refit(shorter)
            if int(np.argmax(candidate.proba)) == self.c0:
                break
            self.selected.pop()
            self.keep = shorter
            refit = candidate
        return refit

    def model_proba(self):
        return self.view.predict_proba_features(self.zx, self.objective.theta)[0]


#: Scaled gradient norm of the fitted objective above which forcing subsets warn.
_OPTIMALITY_TOL = 1e-6


def _warn_if_not_optimal(estimator, view):
    """Flips by a hair are decided by the optimum: warn when the fit is far from it."""
    scale = float(np.sum(view.objective_weights_)) or 1.0
    value = float(np.max(np.abs(view.objective_gradient()))) / scale
    if value <= _OPTIMALITY_TOL:
        return
    settings = ""
    if not is_differentiable_model(estimator):
        params = final_step(estimator).get_params()
        named = {k: params[k] for k in ("tol", "max_iter") if k in params}
        settings = f" ({', '.join(f'{k}={v!r}' for k, v in named.items())})"
    warnings.warn(
        f"The fitted model is not at the optimum of its training objective (scaled gradient "
        f"{value:.2g} > {_OPTIMALITY_TOL:g}){settings}. Forcing subsets follow the optimum, and "
        "near the decision boundary the estimator's tolerance can decide a flip: fit with a "
        "smaller tol (e.g. tol=1e-8) for subsets that hold.",
        ApproximationWarning,
        stacklevel=4,
    )


def _warn_tolerance(estimator, exact, own, c0, c1):
    params = final_step(estimator).get_params()
    warnings.warn(
        f"Refitting {type(final_step(estimator)).__name__}(tol={params.get('tol')!r}) without "
        f"the forcing subset predicts the original class (p={own[c0]:.4f}), while the exact "
        f"optimum flips it (p={exact[c1]:.4f} for the target class): the estimator's tolerance "
        "is too loose for this flip. Fit with a smaller tol, or ask for a margin (epsilon).",
        ApproximationWarning,
        stacklevel=4,
    )


def _check_options(update, epsilon, delta):
    if update not in UPDATES:
        raise ValueError(f"update must be one of {UPDATES}, got {update!r}.")
    return check_real(epsilon, "epsilon", minimum=0), check_real(delta, "delta", minimum=0)


class _Problem:
    """What the searches for every test point share: the validated training data, the view,
    and the objective at the fit with its factorised Hessian (computed once, copied per
    point)."""

    def __init__(self, estimator, X, y, sample_weight):
        self.estimator = estimator
        self.view = self.objective = None
        if is_differentiable_model(estimator):
            view = estimator
            if not newton_refit_supported(view):
                raise TypeError(
                    f"minimal_forcing_subset on {type(view).__name__} needs objective_value() "
                    "(its verification is an exact Newton refit of the model's objective)."
                )
            self.X = view.X_ if X is None else X
            self.y = np.asarray(view.classes_[view.y_] if y is None else y)
            self.n, self.sample_weight, self.view = len(view.y_), sample_weight, view
            return
        X = check_X(X, "X")
        check_feature_names(estimator, X, "X")
        y = check_y(y, "y")
        n = n_rows(X)
        if n != len(y):
            raise ValueError(f"X has {n} rows but y has {len(y)} entries.")
        self.X, self.y, self.n = X, y, n
        self.sample_weight = check_sample_weight(sample_weight, n)

    def row(self, x):
        """The test point as one row of raw input (validated)."""
        if is_differentiable_model(self.estimator):
            return x if np.ndim(x) == 2 or hasattr(x, "iloc") else np.asarray(x)[None, :]
        if hasattr(x, "iloc"):  # a DataFrame or Series carries names: check them as given
            check_feature_names(self.estimator, x, "x")
        return as_row(x, self.X)

    def prepare(self):
        """The view, the optimality check and the factorised objective at the fit (once)."""
        if self.view is None:
            self.view = make_view(self.estimator, self.X, self.y, sample_weight=self.sample_weight)
        if self.objective is None:
            _warn_if_not_optimal(self.estimator, self.view)
            self.objective = RemainingObjective(self.view, np.ones(self.n, dtype=bool))
        return self


def minimal_forcing_subset(
    estimator,
    X,
    y,
    x,
    *,
    update="newton",
    epsilon=1e-3,
    delta=0.0,
    max_size=None,
    solver=None,
    verify=True,
    sample_weight=None,
    progress=None,
):
    """Find a small ordered set of training points whose removal flips the prediction at ``x``.

    See the module docstring for the algorithm (MFS, Han & Ghosh, Algorithm 1 with eq. 5).

    Parameters
    ----------
    estimator : fitted classifier with a differentiable view, or a DifferentiableModel
        ``LogisticRegression`` (binary or multinomial), ``LogisticRegressionCV``,
        ``SGDClassifier(loss="log_loss")``, ``MLPClassifier`` (last layer), or a ``Pipeline``
        ending in one of these, fitted on ``(X, y)``; or a
        :class:`~fairlearn_divine.DifferentiableModel` that implements ``objective_value``
        (verification is then an exact Newton refit of its objective).
    X, y : training data the estimator was fitted on.
        For a DifferentiableModel they may be ``None`` (its ``X_`` and labels are used).
    x : array-like of shape (n_features,) or (1, n_features)
        The test point (raw input, as the estimator takes it).
    update : {"newton", "retrain"}, default="newton"
        How parameters follow the removal of a point: one Newton step, or an exact refit.
    epsilon : float, default=1e-3
        Margin of the flip constraint :math:`\\log p(c_1|x) - \\log p(c_0|x) \\ge \\epsilon`.
    delta : float, default=0.0
        Stop when the constraint's cost on the quadratic model is at most ``delta``.
    max_size : int, optional
        Largest subset tried (default: ``n_train - 1``).
    solver : None or str
        ``None``: the closed-form KKT step. A cvxpy solver name (``"CLARABEL"``, ``"OSQP"``,
        ...): the DPP QP solved by cvxpy with tight tolerances.
    verify : bool, default=True
        Refit without S to check the flip (and continue from the refit if it did not flip), and
        make S prefix-minimal.
    sample_weight : array-like of shape (n_train,), optional
        Weights the estimator was fitted with.
    progress : bool or None
        Progress bar over steps (``None``: only on a terminal).

    Returns
    -------
    ForcingSubset

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from sklearn.linear_model import LogisticRegression
    >>> from fairlearn_divine import minimal_forcing_subset
    >>> X, y = make_moons(100, noise=0.1, random_state=0)
    >>> model = LogisticRegression().fit(X, y)
    >>> result = minimal_forcing_subset(model, X, y, X[0])
    >>> result.flipped
    True
    """
    settings = _settings(update, epsilon, delta, max_size, solver, verify)
    problem = _Problem(estimator, X, y, sample_weight)
    x_row = problem.row(x)
    settings = _with_max_size(settings, problem.n)
    return _search_point(problem.prepare(), x_row, progress=progress, **settings)


def _settings(update="newton", epsilon=1e-3, delta=0.0, max_size=None, solver=None, verify=True):
    """The validated options of one search (the keywords of minimal_forcing_subset)."""
    epsilon, delta = _check_options(update, epsilon, delta)
    if not isinstance(verify, bool | np.bool_):
        raise TypeError(f"verify must be True or False, got {verify!r}.")
    return {
        "update": update,
        "epsilon": epsilon,
        "delta": delta,
        "max_size": max_size,
        "solver": solver,
        "verify": verify,
    }


def _with_max_size(settings, n):
    max_size = n - 1 if settings["max_size"] is None else settings["max_size"]
    return {**settings, "max_size": check_positive_int(max_size, "max_size")}


def _search_point(problem, x_row, *, update, epsilon, delta, max_size, solver, verify, progress):
    """The search for one test point (phases 1-3 of the module docstring)."""
    estimator, X, n, view = problem.estimator, problem.X, problem.n, problem.view
    zx = view.transform(x_row)
    classes = view.classes_
    proba = view.predict_proba_features(zx)[0]
    order = np.argsort(-proba, kind="stable")
    c0, c1 = int(order[0]), int(order[1])
    step_fn = closed_form_step if solver is None else CvxpyStep(view.n_params, solver)
    bar = progress_bar(progress, max_size, "forcing subsets")
    objective = problem.objective.copy()  # the factorised Hessian at the fit, shared
    search = _Search(objective, zx, c0, c1, step_fn, epsilon, delta, max_size, bar)
    verifier = Verifier(estimator, X, problem.y, problem.sample_weight, view, x_row)
    flipped = verified = False
    estimator_proba = None
    reason = None
    last_proba = proba
    n_before = -1
    outcome = None
    try:
        while True:
            outcome = search.approximate(update, verifier)
            if outcome == _INFEASIBLE:
                reason = _INFEASIBLE
                break
            if not verify:
                break
            if len(search.selected) == n_before:
                reason = "no_progress"
                break
            n_before = len(search.selected)
            if not search.selected:
                reason = "already"
                break
            # verification by refit (phase 2), warm-started from the search's parameters
            refit = verifier.refit(search.keep, start=search.objective.theta)
            last_proba = refit.proba
            if int(np.argmax(last_proba)) != c0:
                flipped = verified = True
                refit = search.trim(verifier, refit)  # phase 3
                last_proba = refit.proba
                reason = "flipped"
                estimator_proba = verifier.own_fit(search.keep, refit.solution)
                if estimator_proba is not None and int(np.argmax(estimator_proba)) == c0:
                    flipped = False
                    reason = "estimator_disagrees"
                    _warn_tolerance(estimator, last_proba, estimator_proba, c0, c1)
                break
            if len(search.selected) >= max_size:
                reason = _MAX_SIZE
                break
            search.restart(*refit.restart())  # continue from the refit
    except SingleClassRefitError:
        # the subset (or the search's next pick) takes every remaining row of a class: no
        # refit can check the flip (documented: flipped=False, verified=False)
        flipped = verified = False
        reason = "single_class"
    finally:
        bar.close()
    if not verify:
        last_proba = search.model_proba()
        if reason is None and outcome == _STALLED:
            reason = "unverified_stalled"
        elif reason is None:
            flipped = int(np.argmax(last_proba)) != c0
            reason = "unverified_flip" if flipped else "unverified_no_flip"
    message = _MESSAGES.get(reason) or (
        f"The approximate model does not predict a flip within max_size={max_size}."
        if reason == "unverified_no_flip"
        else f"The prediction did not flip within max_size={max_size} points."
    )
    idx = np.array(search.selected, dtype=np.intp)
    y_idx = view.y_
    return ForcingSubset(
        indices=idx,
        flipped=bool(flipped),
        verified=bool(verified),
        size=len(idx),
        predicted_class=classes[c0],
        target_class=classes[c1],
        trace=search.trace,
        n_refits=verifier.n_refits,
        message=message,
        positive_support=idx[y_idx[idx] == c0] if len(idx) else idx,
        negative_support=idx[y_idx[idx] != c0] if len(idx) else idx,
        final_proba=np.asarray(last_proba, dtype=float),
        estimator_proba=None if estimator_proba is None else np.asarray(estimator_proba, float),
        update=update,
        labels=row_index(X, n)[idx],
    )


def _model_value(g, H, D):
    return float(g @ D + 0.5 * D @ H @ D)


def minimal_forcing_subsets(estimator, X, y, X_points, *, n_jobs=None, progress=None, **options):
    """:func:`minimal_forcing_subset` for every row of ``X_points``, in parallel.

    Parameters
    ----------
    estimator, X, y : as for :func:`minimal_forcing_subset`
    X_points : array-like or DataFrame of shape (n_points, n_features)
        The test points, one subset each.
    n_jobs : int, optional
        joblib workers (a ``joblib.parallel_config`` backend such as dask is honoured); the
        results do not depend on it.
    progress : bool or None
        Progress bar over the points.
    **options
        Passed to :func:`minimal_forcing_subset`.

    Returns
    -------
    list of ForcingSubset
        Each identical to :func:`minimal_forcing_subset` on that row. The checks of the
        training data, the model's view and the factorised Hessian at the fit are computed once
        and shared by every point (copied into each worker by process backends).
    """
    if hasattr(X_points, "iloc"):
        if X_points.ndim != 2:
            raise ValueError(
                f"X_points must be 2-D (a DataFrame), got a {type(X_points).__name__}."
            )
        rows = [X_points.iloc[[j]] for j in range(len(X_points))]
        points = X_points
    else:
        points = np.asarray(X_points)
        if points.ndim != 2:
            raise ValueError(f"X_points must be 2-D, got an array of shape {points.shape}.")
        rows = list(points)
        if points.dtype.kind in "fiub" and not np.all(np.isfinite(points)):
            bad = np.flatnonzero(~np.all(np.isfinite(points), axis=1))[:5].tolist()
            raise ValueError(f"X_points contains NaN or infinity (in rows {bad}).")
    if X is not None:
        check_feature_names(estimator, check_X(X, "X"), "X")
    check_feature_names(estimator, points, "X_points")

    sample_weight = options.pop("sample_weight", None)
    settings = _settings(**options)
    # validated data, view, optimality check and the factorised Hessian at the fit: once for
    # every point (each search starts from a copy of the same objective)
    problem = _Problem(estimator, X, y, sample_weight)
    settings = _with_max_size(settings, problem.n)
    problem.prepare()

    def run(idx):
        with feature_names_checked():  # checked above, under the names the caller used
            return [
                _search_point(problem, problem.row(rows[j]), progress=False, **settings)
                for j in idx
            ]

    results, _ = parallel_map(
        run,
        np.arange(len(rows)),
        n_jobs=n_jobs,
        progress=progress,
        desc="forcing subsets",
        per_worker=1,
    )
    return [r for part in results for r in part]
