"""The constrained second-order step of minimal forcing subsets (closed form or cvxpy)."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from .._core.parallel import catch_warnings_locked
from .._warnings import ApproximationWarning

__all__ = ["CvxpyStep", "closed_form_step"]


def closed_form_step(g, chol, a, r, epsilon):
    """KKT solution of min g'D + D'HD/2 s.t. r + a'D >= eps (H = chol)."""
    Hg = scipy.linalg.cho_solve(chol, g)
    Ha = scipy.linalg.cho_solve(chol, a)
    aHa = float(a @ Ha)
    if aHa <= 0:
        return None, -Hg
    lam = max(0.0, (epsilon - r + float(a @ Hg)) / aHa)
    return -Hg + lam * Ha, -Hg


class CvxpyStep:
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
        with catch_warnings_locked(record=True):  # searches may run in threads
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
            return closed_form_step(g, chol, a, r, epsilon)
        return np.asarray(self.D.value, dtype=float), unconstrained
