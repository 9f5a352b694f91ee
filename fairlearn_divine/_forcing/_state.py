"""Parameters, gradient and Hessian of the training objective on the remaining points.

Everything here calls the model through the :class:`~fairlearn_divine.DifferentiableModel`
protocol only (``hessian``/``objective_gradient`` at given parameters and weights,
``predict_proba_features``, and ``loss_hessian_factors`` when the model has them).
"""

from __future__ import annotations

import numpy as np

from .._core.linalg import cholesky_with_null_space, solve_cholesky

__all__ = ["RemainingObjective"]

#: Scaled gradient above which the Newton update refreshes the Hessian at the new parameters.
REFRESH_TOL = 1e-8


class RemainingObjective:
    """The objective :math:`L_S` without the removed points S, at parameters ``theta``.

    Parameters
    ----------
    view : DifferentiableModel
    keep : boolean array of shape (n,)
        Training points still in the objective.
    theta : array, optional
        Parameters to start from (default: the view's fitted parameters).
    """

    def __init__(self, view, keep, theta=None):
        self.view = view
        self.keep = np.array(keep, dtype=bool, copy=True)
        self.theta = view.params if theta is None else np.array(theta, dtype=float, copy=True)
        self.c = view.objective_weights_ * self.keep
        self._gradient = None  # (theta, gradient of the current objective there)
        self._refresh()

    def copy(self):
        """An independent copy (the Hessian and weights copied, the Cholesky factor shared:
        it is replaced, never changed in place): searches from the same start share one
        factorisation of the Hessian instead of recomputing it."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        for name in ("keep", "theta", "c", "H", "H_theta"):
            setattr(new, name, getattr(self, name).copy())
        return new

    def _refresh(self):
        self.H = np.array(self.view.hessian(self.theta, self.c), dtype=float)
        self.H_theta = self.theta.copy()  # the parameters H belongs to
        self.chol = cholesky_with_null_space(self.H, self.view.null_space(), warn_stacklevel=5)

    def objective_gradient(self, theta):
        """Gradient of the current objective at ``theta`` (the last one is remembered: the
        search asks for it at the parameters the update just checked)."""
        last = self._gradient
        if last is not None and last[0] is theta:
            return last[1]
        g = self.view.objective_gradient(theta, self.c)
        self._gradient = (theta, g)
        return g

    def losses(self, theta):
        """Per-sample losses :math:`l_i(\\theta)` on the training data."""
        view = self.view
        P = view.predict_proba_features(view.X_, theta)
        p = P[np.arange(len(view.y_)), view.y_]
        return -np.log(np.clip(p, np.finfo(float).tiny, 1.0))

    def remove(self, i):
        """Remove point i: downdate the Hessian by its curvature and take the Newton step.

        The downdated Hessian belongs to the parameters it was last computed at. While the
        scaled gradient is above ``REFRESH_TOL``, up to three chord steps with that Hessian
        follow; if the iterate still has not converged, the Hessian is recomputed at the current
        parameters for up to three Newton steps. The parameters so track the optimum of the
        remaining objective at the cost of a few gradients per removal (MFS eq. 5 is the
        first step).
        """
        view = self.view
        c_i = self.c[i]
        self._gradient = None  # the objective changes
        self.c[i] = 0.0
        self.keep[i] = False
        curvature = self._curvature(i)
        if curvature is None:  # no per-sample factors: recompute the Hessian without i
            self.H = np.array(view.hessian(self.H_theta, self.c), dtype=float)
        else:
            self.H -= c_i * curvature
        self.chol = cholesky_with_null_space(self.H, view.null_space(), warn_stacklevel=4)
        self.theta = self.theta - solve_cholesky(self.chol, self.objective_gradient(self.theta))
        scale = float(self.c.sum()) or 1.0
        for _ in range(3):  # chord steps: the same (downdated) Hessian, only gradients
            g = self.objective_gradient(self.theta)
            if np.max(np.abs(g)) <= REFRESH_TOL * scale:
                return
            self.theta = self.theta - solve_cholesky(self.chol, g)
        for _ in range(3):
            g = self.objective_gradient(self.theta)
            if np.max(np.abs(g)) <= REFRESH_TOL * scale:
                break
            self._refresh()
            self.theta = self.theta - solve_cholesky(self.chol, g)

    def _curvature(self, i):
        """Hessian of l_i at the parameters H was computed at, from its factors F F^T."""
        view = self.view
        try:
            F = view.loss_hessian_factors(view.X_[i : i + 1], view.y_[i : i + 1], self.H_theta)
        except NotImplementedError:
            return None
        F = np.asarray(F, dtype=float)[0]
        return F @ F.T
