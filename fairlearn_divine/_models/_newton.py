"""Exact refits of a model's own training objective by warm-started Newton iterations.

Refit-based methods (leave-one-out, label flips, Data Shapley prefixes, the verification of
forcing subsets) refit the *same* objective on a changed data set, starting from a nearby
solution. For a strictly convex objective such as L2-penalised logistic regression,
:math:`\\sum_i w_i c_i l_i(\\theta) + \\frac12 \\sum_j \\rho_j \\theta_j^2`, Newton's method from
the nearby solution converges in a few iterations to machine precision: the result is the
exact refit (to ``tol`` on the scaled gradient), far faster than restarting a solver.

:class:`NewtonRefitter` works on any :class:`~fairlearn_divine.DifferentiableModel` that
implements ``objective_value`` (through ``objective_gradient``, ``hessian`` and
``predict_proba_features`` at given parameters and weights). For scikit-learn estimators,
:func:`use_newton_refits` decides when the result equals what the estimator's own ``fit``
converges to (a bare ``LogisticRegression`` with an L2 penalty and no ``class_weight``).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from .._core.linalg import cholesky_with_null_space, solve_cholesky
from ._factory import make_view
from ._protocol import DifferentiableModel

__all__ = ["REFIT_SOLVERS", "NewtonRefitter", "newton_refit_supported", "use_newton_refits"]

REFIT_SOLVERS = ("auto", "newton", "estimator")


def newton_refit_supported(estimator):
    """Whether refits of ``estimator`` can use :class:`NewtonRefitter` (same answer)."""
    if isinstance(estimator, DifferentiableModel):
        return type(estimator).objective_value is not DifferentiableModel.objective_value
    return (
        type(estimator) is LogisticRegression
        and getattr(estimator, "class_weight", None) is None
        and np.isfinite(estimator.C)
        and getattr(estimator, "solver", "lbfgs") != "liblinear"
        and getattr(estimator, "penalty", "deprecated") in ("deprecated", "l2")
        and (getattr(estimator, "l1_ratio", 0.0) in (0, 0.0, None))
    )


def use_newton_refits(refit_solver, estimator):
    """Resolve a ``refit_solver`` option: True for exact Newton refits, False for ``fit``."""
    if refit_solver not in REFIT_SOLVERS:
        raise ValueError(f"refit_solver must be one of {REFIT_SOLVERS}, got {refit_solver!r}.")
    supported = newton_refit_supported(estimator)
    if isinstance(estimator, DifferentiableModel):
        if refit_solver == "estimator":
            raise ValueError(
                "refit_solver='estimator' refits a scikit-learn estimator; a DifferentiableModel "
                "is refitted by Newton iterations on its objective (refit_solver='newton')."
            )
        if not supported:
            raise TypeError(
                f"{type(estimator).__name__} does not implement objective_value(), which Newton "
                "refits of a DifferentiableModel need (see the DifferentiableModel protocol)."
            )
        return True
    if refit_solver == "newton" and not supported:
        raise ValueError(
            "refit_solver='newton' needs a bare LogisticRegression with an L2 penalty and no "
            f"class_weight, or a DifferentiableModel; got {estimator!r}."
        )
    return refit_solver == "newton" or (refit_solver == "auto" and supported)


class NewtonRefitter:
    """Solve a model's training objective on weighted subsets of its training data.

    Parameters
    ----------
    view : DifferentiableModel
        The differentiable view of the fitted model (training data, objective).
    tol : float
        Stop when every component of the objective gradient is at most ``tol`` times the
        magnitude of the terms it sums (the view's ``objective_gradient_scale``: for a GLM
        :math:`\\sum_i c_i |r_i| |\\tilde x_{ij}| + |\\rho_j \\theta_j|`). The rule is relative
        to the objective's own scale, so it means the same for ``C = 1e-10`` as for
        ``C = 1e12`` (a rule relative to :math:`\\sum_i c_i + 1` stops at once for a tiny ``C``,
        and one relative to :math:`\\sum_i c_i` too early for a huge ``C`` on separable data,
        whose gradient terms are all tiny).
    max_iter : int
        Newton iterations at most per solve.
    """

    def __init__(self, view, *, tol=1e-10, max_iter=100):
        self.view = view
        self.tol = tol
        self.max_iter = max_iter
        self.null_space = view.null_space()
        self.n_newton_steps = 0
        self._factors = hasattr(view, "loss_hessian_factors")
        self._scale_cache = None  # (reference parameters, their gradient scale)

    @classmethod
    def from_estimator(cls, estimator, X, y, *, sample_weight=None, tol=1e-10):
        return cls(make_view(estimator, X, y, sample_weight=sample_weight), tol=tol)

    def _weights(self, rows, weights):
        n = len(self.view.objective_weights_)
        c = np.zeros(n)
        c[rows] = self.view.objective_weights_[rows]
        if weights is not None:
            c[rows] *= weights
        return c

    def solve(self, rows, theta0, *, y=None, weights=None):
        """Minimiser of the objective restricted to ``rows`` (optionally relabelled/weighted).

        Parameters
        ----------
        rows : ndarray of int
            Training rows in the subset.
        theta0 : ndarray
            Start (e.g. the solution of a nearby subset).
        y : ndarray of class indices for ``rows``, optional
            Labels to use (default: the training labels), e.g. with one label flipped.
        weights : ndarray for ``rows``, optional
            Extra multipliers of the objective weights.
        """
        rows = np.asarray(rows)
        model, c = self._subproblem(rows, y, weights)
        theta = np.array(theta0, dtype=float, copy=True)
        f = model.objective_value(theta, c)
        for _ in range(self.max_iter):
            g = model.objective_gradient(theta, c)
            if self._converged(model, g, theta, c):
                break
            factor = cholesky_with_null_space(model.hessian(theta, c), self.null_space)
            step = solve_cholesky(factor, g)
            # backtracking (Armijo) keeps Newton globally convergent on a convex objective
            t = 1.0
            decrease = float(g @ step)
            while t > 1e-8:
                cand = theta - t * step
                f_cand = model.objective_value(cand, c)
                # Armijo, with slack for rounding: near the optimum the predicted decrease is
                # below the rounding error of f and a sound Newton step must not be rejected
                if f_cand <= f - 1e-4 * t * decrease + 1e-12 * abs(f):
                    break
                t *= 0.5
            else:  # no decrease representable in floating point: converged to precision
                break
            theta, f = cand, f_cand
            self.n_newton_steps += 1
        return theta

    def _reference_scale(self, theta):
        """The gradient scale of the full-data objective at ``theta``, computed once per
        reference: a one-point change (a dropped row, a flipped label) changes it by one term
        of its sum, and the stopping rule needs its order of magnitude only."""
        key = np.ascontiguousarray(theta, dtype=float).tobytes()
        cached = self._scale_cache
        if cached is None or cached[0] != key:
            scale = np.asarray(
                _gradient_scale(self.view, theta, self.view.objective_weights_), dtype=float
            )
            cached = (key, scale)
            self._scale_cache = cached
        return cached[1]

    def _converged(self, model, g, theta, c):
        """Every gradient component within ``tol`` of the magnitude of its terms."""
        g = np.abs(g)
        if not np.any(g):
            return True
        scale = np.asarray(_gradient_scale(model, theta, c), dtype=float)
        return bool(np.all(g <= self.tol * scale))

    def _subproblem(self, rows, y, weights):
        """A model whose objective is the one on ``rows``, and its weight vector."""
        view = self.view
        n = len(view.objective_weights_)
        if y is None and len(rows) < n:
            try:
                sub = view.restrict(rows)
            except NotImplementedError:
                sub = None
            if sub is not None:
                c = np.asarray(sub.objective_weights_, dtype=float)
                return sub, c if weights is None else c * weights
        c = self._weights(rows, weights)
        if y is None:
            return view, c
        return _Relabelled(view, rows, y), c

    def reference_factor(self, theta):
        """Cholesky factor of the full-data Hessian at ``theta`` (for :meth:`solve_near`)."""
        return cholesky_with_null_space(self.view.hessian(theta), self.null_space)

    def solve_near(self, theta, factor, *, drop=None, y=None, max_chord=10):
        """Refit after a one-point change (drop row ``drop``, or labels ``y``) from ``theta``.

        Chord iterations reuse the full-data Hessian factor at the reference (for a dropped
        row, updated by Woodbury for the row's curvature when the model gives per-sample
        Hessian factors), so each iteration costs one gradient over the data instead of a
        Hessian. They converge to the same ``tol`` as :meth:`solve`; if they have not after
        ``max_chord`` steps, :meth:`solve` finishes the job.
        """
        view = self.view
        n = len(view.objective_weights_)
        labels = view.y_ if y is None else y
        model = view if y is None else _Relabelled(view, np.arange(n), labels)
        c = view.objective_weights_
        step = None
        if drop is not None:
            c = c.copy()
            c_i = c[drop]
            c[drop] = 0.0
            try:
                F = view.loss_hessian_factors(
                    view.X_[drop : drop + 1], view.y_[drop : drop + 1], theta
                )[0]
            except NotImplementedError:
                F = None
            if F is not None:
                HF = solve_cholesky(factor, F)
                M = np.eye(F.shape[1]) - c_i * (F.T @ HF)

                def step(g):
                    Hg = solve_cholesky(factor, g)
                    return Hg + HF @ np.linalg.solve(M, c_i * (F.T @ Hg))

        if step is None:

            def step(g):
                return solve_cholesky(factor, g)

        theta = np.array(theta, dtype=float, copy=True)
        bound = self.tol * self._reference_scale(theta)
        for _ in range(max_chord):
            g = model.objective_gradient(theta, c)
            if np.all(np.abs(g) <= bound):
                return theta
            theta = theta - step(g)
        rows = np.arange(n) if drop is None else np.delete(np.arange(n), drop)
        return self.solve(rows, theta, y=None if y is None else labels[rows])

    def proba(self, Z_eval, theta):
        """Class probabilities at ``theta`` for feature-space inputs."""
        return self.view.predict_proba_features(Z_eval, theta)


class _Relabelled:
    """The objective of ``view`` with the labels of ``rows`` replaced (label-flip refits).

    Only what the Newton iterations call is provided, always at explicit parameters: the
    protocol's methods evaluated on a shallow copy of the view whose ``y_`` differs.
    """

    def __init__(self, view, rows, y_rows):
        import copy

        self._view = copy.copy(view)
        y_full = np.array(view.y_, copy=True)
        y_full[np.asarray(rows)] = y_rows
        self._view.y_ = y_full  # the protocol's methods read the labels from y_

    def objective_value(self, theta, c):
        return self._view.objective_value(theta, c)

    def objective_gradient(self, theta, c):
        return self._view.objective_gradient(theta, c)

    def hessian(self, theta, c):
        return self._view.hessian(theta, c)

    def objective_gradient_scale(self, theta, c):
        return _gradient_scale(self._view, theta, c)


def _gradient_scale(model, theta, c):
    """``model.objective_gradient_scale`` (the protocol's default for objects without it)."""
    method = getattr(model, "objective_gradient_scale", None)
    if method is None:
        return float(np.sum(np.abs(c)))
    return method(theta, c)
