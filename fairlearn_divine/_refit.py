"""Exact refits of logistic regression by warm-started Newton iterations.

Refit-based methods (leave-one-out, label flips, Data Shapley prefixes) refit the *same*
objective on a changed data set, starting from a nearby solution. For a bare
``LogisticRegression`` with an L2 penalty the objective
:math:`\\sum_i w_i c_i l_i(\\theta) + \\frac12 \\sum_j \\rho_j \\theta_j^2` is smooth and strongly
convex, so Newton's method from the nearby solution converges in a few iterations to machine
precision: the result is the exact refit (to ``tol`` on the scaled gradient), far faster than
restarting scikit-learn's solver. Other estimators are refitted with scikit-learn.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from sklearn.linear_model import LogisticRegression

from ._models import _GLMView, make_view


def newton_refit_supported(estimator):
    """Whether refits of ``estimator`` can use :class:`NewtonRefitter` (same answer)."""
    return (
        type(estimator) is LogisticRegression
        and getattr(estimator, "class_weight", None) is None
        and np.isfinite(estimator.C)
        and getattr(estimator, "solver", "lbfgs") != "liblinear"
        and getattr(estimator, "penalty", "deprecated") in ("deprecated", "l2")
        and (getattr(estimator, "l1_ratio", 0.0) in (0, 0.0, None))
    )


REFIT_SOLVERS = ("auto", "newton", "estimator")


def use_newton_refits(refit_solver, estimator):
    """Resolve a ``refit_solver`` option: True for exact Newton refits, False for ``fit``."""
    if refit_solver not in REFIT_SOLVERS:
        raise ValueError(f"refit_solver must be one of {REFIT_SOLVERS}, got {refit_solver!r}.")
    supported = newton_refit_supported(estimator)
    if refit_solver == "newton" and not supported:
        raise ValueError(
            "refit_solver='newton' needs a bare LogisticRegression with an L2 penalty and no "
            f"class_weight; got {estimator!r}."
        )
    return refit_solver == "newton" or (refit_solver == "auto" and supported)


class NewtonRefitter:
    """Solve the estimator's objective on weighted subsets of its training data.

    Parameters
    ----------
    view : _GLMView
        The differentiable view of the fitted estimator (training data, C, penalty).
    tol : float
        Stop when the max-norm of the objective gradient, divided by the total objective
        weight, is below ``tol`` (scikit-learn's convention for ``tol``).
    """

    def __init__(self, view, *, tol=1e-10, max_iter=100):
        self.view = view
        self.tol = tol
        self.max_iter = max_iter
        self._rho = view._penalty_vector()
        N = view.null_space()
        self._null = None if N is None else N @ N.T
        self.n_newton_steps = 0

    @classmethod
    def from_estimator(cls, estimator, X, y, *, sample_weight=None, tol=1e-10):
        view = make_view(estimator, X, y, sample_weight=sample_weight)
        if not isinstance(view, _GLMView):  # pragma: no cover - guarded by the caller
            raise TypeError("NewtonRefitter needs a logistic regression view.")
        return cls(view, tol=tol)

    def _objective(self, P, yr, c, theta):
        p = np.clip(P[np.arange(len(yr)), yr], np.finfo(float).tiny, 1.0)
        return float(-(c * np.log(p)).sum() + 0.5 * (self._rho * theta**2).sum())

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
        view = self.view
        Xt = view.X_[rows]
        yr = view.y_[rows] if y is None else y
        c = view.objective_weights_[rows]
        if weights is not None:
            c = c * weights
        scale = float(c.sum()) + 1.0
        theta = np.array(theta0, dtype=float, copy=True)
        P = view._proba_t(Xt, theta)
        f = self._objective(P, yr, c, theta)
        for _ in range(self.max_iter):
            g = view._gradient_at(Xt, yr, c, theta, P)
            if np.max(np.abs(g)) <= self.tol * scale:
                break
            H = view._hessian_at(Xt, c, P)
            if self._null is not None:
                H = H + (float(np.mean(np.abs(np.diag(H)))) or 1.0) * self._null
            try:
                step = scipy.linalg.cho_solve(
                    scipy.linalg.cho_factor(H, lower=True, check_finite=False),
                    g,
                    check_finite=False,
                )
            except np.linalg.LinAlgError:
                step = np.linalg.lstsq(H, g, rcond=None)[0]
            # backtracking (Armijo) keeps Newton globally convergent on this convex objective;
            # the probabilities at the accepted point serve the next gradient
            t = 1.0
            decrease = float(g @ step)
            while t > 1e-8:
                cand = theta - t * step
                P_cand = view._proba_t(Xt, cand)
                f_cand = self._objective(P_cand, yr, c, cand)
                # Armijo, with slack for rounding: near the optimum the predicted decrease is
                # below the rounding error of f and a sound Newton step must not be rejected
                if f_cand <= f - 1e-4 * t * decrease + 1e-12 * max(1.0, abs(f)):
                    break
                t *= 0.5
            else:  # no decrease representable in floating point: converged to precision
                break
            theta, P, f = cand, P_cand, f_cand
            self.n_newton_steps += 1
        return theta

    def reference_factor(self, theta):
        """Cholesky factor of the full-data Hessian at ``theta`` (for :meth:`solve_near`)."""
        view = self.view
        P = view._proba_t(view.X_, theta)
        H = view._hessian_at(view.X_, view.objective_weights_, P)
        if self._null is not None:
            H = H + (float(np.mean(np.abs(np.diag(H)))) or 1.0) * self._null
        return scipy.linalg.cho_factor(H, lower=True, check_finite=False)

    def solve_near(self, theta, factor, *, drop=None, y=None, max_chord=10):
        """Refit after a one-point change (drop row ``drop``, or labels ``y``) from ``theta``.

        Chord iterations reuse the full-data Hessian factor at the reference (for a dropped
        row, updated by Woodbury for the row's curvature), so each iteration costs one gradient
        over the data instead of a Hessian. They converge to the same ``tol`` as :meth:`solve`;
        if they have not after ``max_chord`` steps, :meth:`solve` finishes the job.
        """
        view = self.view
        X = view.X_
        labels = view.y_ if y is None else y
        c = view.objective_weights_
        if drop is not None:
            c = c.copy()
            c_i = c[drop]
            c[drop] = 0.0
            F = view.loss_hessian_factors(X[drop : drop + 1], view.y_[drop : drop + 1])[0]
            HF = scipy.linalg.cho_solve(factor, F, check_finite=False)
            M = np.eye(F.shape[1]) - c_i * (F.T @ HF)

            def step(g):
                Hg = scipy.linalg.cho_solve(factor, g, check_finite=False)
                return Hg + HF @ np.linalg.solve(M, c_i * (F.T @ Hg))

        else:

            def step(g):
                return scipy.linalg.cho_solve(factor, g, check_finite=False)

        scale = float(c.sum()) + 1.0
        theta = np.array(theta, dtype=float, copy=True)
        for _ in range(max_chord):
            g = view._gradient_at(X, labels, c, theta)
            if np.max(np.abs(g)) <= self.tol * scale:
                return theta
            theta = theta - step(g)
        rows = np.arange(len(c)) if drop is None else np.delete(np.arange(len(c)), drop)
        return self.solve(rows, theta, y=None if y is None else labels[rows])

    def proba(self, Xt_eval, theta):
        return self.view._proba_t(Xt_eval, theta)
