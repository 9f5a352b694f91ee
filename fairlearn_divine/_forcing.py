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

With ``verify=True`` the estimator is then refitted without S. If the prediction has not
flipped the loop continues from the refit; once it flips, S is made prefix-minimal: while
refitting without ``S[:-1]`` also flips, the last point is dropped. Every ``flipped=True`` is a
fact checked by a real refit.
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch

from ._importance import _check_sample_weight, _check_X, _check_y, _fit, _n_rows, _take
from ._models import DifferentiableModel, _GLMView, make_view
from ._refit import NewtonRefitter, newton_refit_supported
from ._warnings import ApproximationWarning

__all__ = ["ForcingSubset", "minimal_forcing_subset", "minimal_forcing_subsets"]

UPDATES = ("newton", "retrain")
#: Scaled gradient above which the Newton update refreshes the Hessian at the new parameters.
_REFRESH_TOL = 1e-8
#: Absolute tolerance on the loss gap (cvxpy solvers return +-1e-18 for an inactive constraint).
_GAP_TOL = 1e-10


class ForcingSubset(Bunch):
    """Result of :func:`minimal_forcing_subset` (a dict with attribute access).

    Keys: ``indices`` (pick order), ``flipped`` (checked by a refit when ``verified``),
    ``verified``, ``size``, ``predicted_class`` (:math:`c_0`), ``target_class`` (:math:`c_1`),
    ``trace`` (per step: ``p_c0``, ``p_c1`` at the current parameters, ``loss_gap``, ``index``),
    ``n_refits``, ``message``, ``positive_support`` / ``negative_support`` (points of S whose
    label is / is not the predicted class), ``final_proba`` (probabilities at x* after the last
    refit or update).
    """

    def __repr__(self):
        return (
            f"ForcingSubset(size={self.size}, flipped={self.flipped}, "
            f"indices={np.asarray(self.indices).tolist()}, message={self.message!r})"
        )

    def __dir__(self):
        return list(self.keys())


# ---------------------------------------------------------------------------------------------
# the constrained step


def _closed_form_step(g, chol, a, r, epsilon):
    """KKT solution of min g'D + D'HD/2 s.t. r + a'D >= eps (H = chol)."""
    Hg = scipy.linalg.cho_solve(chol, g)
    Ha = scipy.linalg.cho_solve(chol, a)
    aHa = float(a @ Ha)
    if aHa <= 0:
        return None, -Hg
    lam = max(0.0, (epsilon - r + float(a @ Hg)) / aHa)
    return -Hg + lam * Ha, -Hg


class _CvxpyStep:
    """The same QP in cvxpy, compiled once (DPP); parameters updated between steps."""

    def __init__(self, p, solver):
        import cvxpy as cp

        self.cp = cp
        self.solver = solver
        self.D = cp.Variable(p)
        self.Lt = cp.Parameter((p, p))
        self.g = cp.Parameter(p)
        self.a = cp.Parameter(p)
        self.rhs = cp.Parameter()
        objective = cp.Minimize(self.g @ self.D + 0.5 * cp.sum_squares(self.Lt @ self.D))
        self.problem = cp.Problem(objective, [self.a @ self.D >= self.rhs])
        if not self.problem.is_dpp():  # pragma: no cover - structural guarantee
            raise RuntimeError("internal error: the MFS step is not DPP")

    def __call__(self, g, chol, a, r, epsilon):
        L = np.tril(chol[0]) if chol[1] else np.triu(chol[0]).T
        self.Lt.value = L.T
        self.g.value = g
        self.a.value = a
        self.rhs.value = float(epsilon - r)
        options = {}
        if self.solver.upper() == "CLARABEL":
            options = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
        elif self.solver.upper() == "OSQP":
            options = {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iter": 200_000, "polishing": True}
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")  # "Solution may be inaccurate" is handled below
            try:
                self.problem.solve(solver=self.solver, **options)
                status = self.problem.status
            except self.cp.error.SolverError as err:
                status = f"solver error: {err}"
        unconstrained = -scipy.linalg.cho_solve(chol, g)
        if status in ("infeasible", "infeasible_inaccurate"):
            return None, unconstrained
        if status != "optimal":
            warnings.warn(
                f"cvxpy solver {self.solver} ended with status {status!r}; using the closed-form "
                "KKT solution of this step instead.",
                ApproximationWarning,
                stacklevel=3,
            )
            return _closed_form_step(g, chol, a, r, epsilon)
        return np.asarray(self.D.value, dtype=float), unconstrained


# ---------------------------------------------------------------------------------------------
# model state on the remaining training points


class _State:
    """Parameters, gradient and Hessian of the objective on the remaining points."""

    def __init__(self, view, keep):
        self.view = view
        self.keep = keep
        self.theta = view.params
        c = view.objective_weights_ * keep
        self.c = c
        self.H = view._hessian_at(view.X_, c, view._proba_t(view.X_, self.theta))
        self.H_theta = self.theta.copy()  # the parameters H belongs to
        self.chol = _factor(self.H, view)

    def objective_gradient(self, theta):
        return self.view._gradient_at(self.view.X_, self.view.y_, self.c, theta)

    def losses(self, theta):
        view = self.view
        P = view._proba_t(view.X_, theta)
        p = P[np.arange(len(view.y_)), view.y_]
        return -np.log(np.clip(p, np.finfo(float).tiny, 1.0))

    def remove(self, i):
        """Downdate the Hessian by point i's curvature and take the Newton step (MFS eq. 5).

        The downdated Hessian belongs to the parameters it was last computed at. While the
        scaled gradient is above ``_REFRESH_TOL``, up to three chord steps with that Hessian
        follow; if the iterate still has not converged, the Hessian is recomputed at the current
        parameters for up to three Newton steps. The parameters so track the optimum of the
        remaining objective at the cost of a few gradients per removal.
        """
        view = self.view
        self.H -= self.c[i] * self._curvature(i)
        self.c[i] = 0.0
        self.keep[i] = False
        self.chol = _factor(self.H, view)
        self.theta = self.theta - _solve(self.chol, self.objective_gradient(self.theta))
        scale = float(self.c.sum()) or 1.0
        # chord steps: the same (downdated) Hessian, only gradients; cheap, and enough unless
        # the parameters have moved far from where the Hessian was computed
        for _ in range(3):
            g = self.objective_gradient(self.theta)
            if np.max(np.abs(g)) <= _REFRESH_TOL * scale:
                return
            self.theta = self.theta - _solve(self.chol, g)
        for _ in range(3):
            g = self.objective_gradient(self.theta)
            if np.max(np.abs(g)) <= _REFRESH_TOL * scale:
                break
            P = view._proba_t(view.X_, self.theta)
            self.H = view._hessian_at(view.X_, self.c, P)
            self.H_theta = self.theta.copy()
            self.chol = _factor(self.H, view)
            self.theta = self.theta - _solve(self.chol, g)

    def _curvature(self, i):
        """Hessian of l_i at the parameters H was computed at: A_i (x) x~ x~^T."""
        view = self.view
        row = view.X_[i : i + 1]
        A = view._curvature(view._proba_t(row, self.H_theta))[0]
        x = np.asarray(row.toarray() if sp.issparse(row) else row)[0]
        if view.fit_intercept:
            x = np.append(x, 1.0)
        return np.kron(A, np.outer(x, x))


def _factor(H, view):
    Hn = H.copy()
    N = view.null_space()
    if N is not None:
        Hn += float(np.mean(np.abs(np.diag(H)))) * (N @ N.T)
    try:
        return scipy.linalg.cho_factor(Hn, lower=True)
    except np.linalg.LinAlgError:
        damping = 1e-8 * (float(np.mean(np.abs(np.diag(Hn)))) or 1.0)
        warnings.warn(
            f"The Hessian of the remaining training objective is not positive definite; adding "
            f"damping {damping:.3g} * I.",
            ApproximationWarning,
            stacklevel=4,
        )
        return scipy.linalg.cho_factor(Hn + damping * np.eye(len(Hn)), lower=True)


def _solve(chol, b):
    return scipy.linalg.cho_solve(chol, b)


# ---------------------------------------------------------------------------------------------
# refits


def _refit(estimator, X, y, sample_weight, keep):
    """Refit the whole estimator without the removed rows (warm-started where possible)."""
    if "warm_start" in estimator.get_params():
        model = copy.deepcopy(estimator)
        model.set_params(warm_start=True)
    else:
        model = clone(estimator)
    sw = None if sample_weight is None else sample_weight[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _fit(model, _take(X, keep), y[keep], sw)
    return model


class _Refits:
    """Refit without removed rows: exact Newton refits for a bare LogisticRegression
    (warm-started from the last refit), otherwise the estimator's own fit."""

    def __init__(self, estimator, X, y, sample_weight):
        self.estimator = estimator
        self.X, self.y, self.sample_weight = X, y, sample_weight
        self.refitter = None
        if newton_refit_supported(estimator):
            self.refitter = NewtonRefitter.from_estimator(
                estimator, X, y, sample_weight=sample_weight, tol=1e-10
            )
            self.theta = self.refitter.view.params

    def __call__(self, keep):
        if self.refitter is None:
            return _refit(self.estimator, self.X, self.y, self.sample_weight, keep)
        theta = self.refitter.solve(np.flatnonzero(keep), self.theta)
        self.theta = theta
        model = copy.deepcopy(self.estimator)
        W, b = self.refitter.view._split(theta)
        model.coef_ = np.array(W, copy=True)
        if b is not None:
            model.intercept_ = np.array(b, copy=True)
        return model


def _predicts(model, x_row, classes):
    return classes.tolist().index(model.predict(x_row)[0])


# ---------------------------------------------------------------------------------------------


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
    estimator : fitted classifier with a differentiable view
        ``LogisticRegression`` (binary or multinomial), ``LogisticRegressionCV``,
        ``SGDClassifier(loss="log_loss")``, ``MLPClassifier`` (last layer), or a ``Pipeline``
        ending in one of these; fitted on ``(X, y)``.
    X, y : training data the estimator was fitted on.
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
    if update not in UPDATES:
        raise ValueError(f"update must be one of {UPDATES}, got {update!r}.")
    for name, value in (("epsilon", epsilon), ("delta", delta)):
        if not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative float, got {value!r}.")
    if isinstance(estimator, DifferentiableModel):
        raise TypeError(
            "minimal_forcing_subset refits the estimator; pass the fitted scikit-learn "
            "estimator, not a DifferentiableModel."
        )
    X = _check_X(X, "X")
    y = _check_y(y, "y")
    n = _n_rows(X)
    if n != len(y):
        raise ValueError(f"X has {n} rows but y has {len(y)} entries.")
    sample_weight = _check_sample_weight(sample_weight, n)
    if max_size is None:
        max_size = n - 1
    if not isinstance(max_size, numbers.Integral) or isinstance(max_size, bool) or max_size < 1:
        raise ValueError(f"max_size must be a positive integer, got {max_size!r}.")
    view = make_view(estimator, X, y, sample_weight=sample_weight)
    if not isinstance(view, _GLMView):  # pragma: no cover - make_view only builds GLM views
        raise TypeError("minimal_forcing_subset needs a logistic/softmax differentiable view.")
    x_row = _as_row(x, X)
    xt = view.transform(x_row)
    classes = view.classes_
    proba = view._proba_t(xt)[0]
    order = np.argsort(-proba, kind="stable")
    c0, c1 = int(order[0]), int(order[1])
    step_fn = _closed_form_step if solver is None else _CvxpyStep(view.n_params, solver)

    keep = np.ones(n, dtype=bool)
    state = _State(view, keep.copy())
    selected = []
    trace = []
    n_refits = 0
    flipped = False
    verified = False
    message = ""
    model = estimator
    bar = _bar(progress, max_size)
    n_before = -1
    stalled = False
    refit = _Refits(estimator, X, y, sample_weight)
    while True:
        # ---- approximate loop until the model predicts a flip (or max_size) ----
        while len(selected) < max_size:
            theta = state.theta
            a, r = _constraint(view, xt, theta, c0, c1)
            g = state.objective_gradient(theta)
            D, D_unc = step_fn(g, state.chol, a, r, epsilon)
            p_now = view._proba_t(xt, theta)[0]
            if D is None or not np.any(a):
                message = (
                    "The flip constraint is infeasible: the log-odds of the two classes at x do "
                    "not depend on the parameters (e.g. x is zero and there is no intercept)."
                )
                break
            gap = _model_value(g, state.H, D) - _model_value(g, state.H, D_unc)
            trace.append(
                {
                    "p_c0": float(p_now[c0]),
                    "p_c1": float(p_now[c1]),
                    "loss_gap": float(gap),
                    "index": None,
                }
            )
            if gap <= delta + _GAP_TOL:  # an inactive constraint costs 0 (up to solver noise)
                break
            # losses under the constraint vs at the model's unconstrained optimum
            gain = state.c * (state.losses(theta + D) - state.losses(theta + D_unc))
            gain[~state.keep] = -np.inf
            i = int(np.argmax(gain))
            if not np.isfinite(gain[i]) or gain[i] <= 0:
                stalled = True  # nothing more to pick on the model: let a refit decide
                break
            trace[-1]["index"] = i
            selected.append(i)
            keep[i] = False
            bar.update(1)
            if update == "newton":
                state.remove(i)
            else:
                model = refit(keep)
                n_refits += 1
                view = make_view(model, X, y, sample_weight=sample_weight)
                xt = view.transform(x_row)  # a refitted pipeline transforms x anew
                state = _State(view, keep.copy())
        if message or not verify:
            break
        if len(selected) == n_before:
            message = (
                "Refitting does not flip the prediction and the model offers no further point "
                "whose removal helps the flip."
            )
            break
        n_before = len(selected)
        if not selected:
            message = "The prediction at x already has the target class under the constraint."
            break
        # ---- verification by refit ----
        stalled = False
        model = refit(keep)
        n_refits += 1
        if _predicts(model, x_row, classes) != c0:
            flipped = True
            verified = True
            # prefix-minimal: drop the last point while the shorter prefix flips too
            while len(selected) > 1:
                shorter = np.ones(n, dtype=bool)
                shorter[selected[:-1]] = False
                candidate = refit(shorter)
                n_refits += 1
                if _predicts(candidate, x_row, classes) == c0:
                    break
                selected.pop()
                keep = shorter
                model = candidate
            message = "Refitting without the subset flips the prediction."
            break
        if len(selected) >= max_size:
            message = f"The prediction did not flip within max_size={max_size} points."
            break
        # continue from the refit
        view = make_view(model, X, y, sample_weight=sample_weight)
        xt = view.transform(x_row)  # a refitted pipeline transforms x anew
        state = _State(view, keep.copy())
    bar.close()
    if not verify and not message and stalled:
        message = "No remaining point's loss increases under the flip constraint."
    if not verify and not message:
        p_final = view._proba_t(xt, state.theta)[0]
        flipped = int(np.argmax(p_final)) != c0
        message = (
            "Not verified by a refit; the approximate model predicts a flip."
            if flipped
            else f"The approximate model does not predict a flip within max_size={max_size}."
        )
    if not message:
        message = f"The prediction did not flip within max_size={max_size} points."
    final = _final_proba(model, x_row, classes) if verify else view._proba_t(xt, state.theta)[0]
    idx = np.array(selected, dtype=np.intp)
    y_idx = view.y_
    return ForcingSubset(
        indices=idx,
        flipped=bool(flipped),
        verified=bool(verified),
        size=len(idx),
        predicted_class=classes[c0],
        target_class=classes[c1],
        trace=trace,
        n_refits=n_refits,
        message=message,
        positive_support=idx[y_idx[idx] == c0] if len(idx) else idx,
        negative_support=idx[y_idx[idx] != c0] if len(idx) else idx,
        final_proba=np.asarray(final, dtype=float),
        update=update,
    )


def _final_proba(model, x_row, classes):
    from ._importance import _predict_proba

    return _predict_proba(model, x_row, classes)[0]


def _model_value(g, H, D):
    return float(g @ D + 0.5 * D @ H @ D)


def _constraint(view, xt, theta, c0, c1):
    """r(theta) = z_c1 - z_c0 at x (log-odds of c1 vs c0) and its gradient a."""
    z = view._logits(xt, theta)[0]
    K, nc = view.n_outputs, view.n_cols
    xrow = np.asarray(xt.toarray() if hasattr(xt, "toarray") else xt)[0]
    xt_aug = np.append(xrow, 1.0) if view.fit_intercept else xrow
    a = np.zeros((K, nc))
    if view.link == "sigmoid":  # z = log p1 - log p0
        sign = 1.0 if c1 == 1 else -1.0
        a[0] = sign * xt_aug
        return a.ravel(), float(sign * z[0])
    a[c1] = xt_aug
    a[c0] -= xt_aug
    return a.ravel(), float(z[c1] - z[c0])


def _as_row(x, X):
    if hasattr(X, "iloc"):
        import pandas as pd

        row = (
            x if isinstance(x, pd.DataFrame) else pd.DataFrame([np.asarray(x)], columns=X.columns)
        )
        if row.shape != (1, X.shape[1]):
            raise ValueError(
                f"x must be one row with {X.shape[1]} features, got shape {row.shape}."
            )
        return row
    if sp.issparse(x):
        if x.shape != (1, X.shape[1]):
            raise ValueError(
                f"x must have shape (1, {X.shape[1]}) to match X, got a sparse {x.shape}."
            )
        return x.tocsr()
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] != 1 or arr.shape[1] != X.shape[1]:
        raise ValueError(
            f"x must have shape ({X.shape[1]},) or (1, {X.shape[1]}) to match X, got "
            f"{np.shape(x)}."
        )
    if arr.dtype.kind in "fiub" and not np.all(np.isfinite(arr.astype(float))):
        raise ValueError("x contains NaN or infinity.")
    return arr


def _bar(progress, total):
    from tqdm.auto import tqdm

    disable = (not progress) if progress is not None else None
    return tqdm(total=total, desc="forcing subsets", disable=disable, leave=False)


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
    """
    from joblib import Parallel, delayed

    if hasattr(X_points, "iloc"):
        rows = [X_points.iloc[[j]] for j in range(len(X_points))]
    else:
        points = np.asarray(X_points)
        if points.ndim != 2:
            raise ValueError(f"X_points must be 2-D, got an array of shape {points.shape}.")
        rows = list(points)
    bar = _bar(
        progress if progress is not None else (None if len(rows) >= 10 else False), len(rows)
    )
    out = []
    for result in Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(minimal_forcing_subset)(estimator, X, y, row, progress=False, **options)
        for row in rows
    ):
        out.append(result)
        bar.update(1)
    bar.close()
    return out
