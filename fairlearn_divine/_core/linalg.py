"""Factorised solves with the Hessian of a training objective."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from .._warnings import ApproximationWarning

#: Condition number above which influence estimates are flagged as unreliable.
ILL_CONDITIONED = 1e10


class HessianSolver:
    """Cholesky factorisation of ``H`` reused for many right-hand sides.

    Exact null directions of the objective (``null_space``, orthonormal columns ``N``) are
    removed by factorising ``H + s N N^T``: for right-hand sides orthogonal to ``N`` (all
    gradients of such a model are), this returns the pseudo-inverse solution without damping.
    Otherwise, if ``H`` is singular or indefinite, a damping ``lambda I`` (the smallest of 1e-8,
    1e-6, ... times the mean absolute diagonal that leaves every eigenvalue at least
    ``lambda / 2``) is added with an :class:`ApproximationWarning`.

    Attributes
    ----------
    damping : float
        The damping added (0 when none was needed).
    condition_number : float
        Condition number of the matrix factorised.
    """

    def __init__(self, H, *, null_space=None, check_condition=True):
        H = np.array(H, dtype=float, copy=True)
        if H.ndim != 2 or H.shape[0] != H.shape[1]:
            raise ValueError(f"Hessian must be square, got shape {H.shape}.")
        if not np.all(np.isfinite(H)):
            raise ValueError("Hessian contains NaN or infinite values.")
        scale = float(np.mean(np.abs(np.diag(H)))) or 1.0
        if null_space is not None:
            H += scale * (null_space @ null_space.T)
        self.damping = 0.0
        self.condition_number = np.nan
        if check_condition:
            eig = scipy.linalg.eigvalsh(H)
            lo, hi = eig[0], eig[-1]
            self.condition_number = hi / lo if lo > 0 else np.inf
            if lo <= 1e-12 * hi:
                # smallest of 1e-8, 1e-6, ... times the mean diagonal that leaves every
                # eigenvalue >= damping / 2 (so the damped matrix is well conditioned)
                self.damping = 1e-8 * scale
                while lo < -0.5 * self.damping:
                    self.damping *= 100.0
                warnings.warn(
                    f"The Hessian of the training objective is singular or nearly so (smallest "
                    f"eigenvalue {lo:.3g}, largest {hi:.3g}); adding damping {self.damping:.3g} "
                    "* I. Influence estimates are approximate along flat directions (e.g. an "
                    "unpenalised model on separable or collinear data).",
                    ApproximationWarning,
                    stacklevel=3,
                )
                H[np.diag_indices_from(H)] += self.damping
                self.condition_number = (hi + self.damping) / (lo + self.damping)
            elif self.condition_number > ILL_CONDITIONED:
                warnings.warn(
                    f"The Hessian of the training objective is ill-conditioned (condition "
                    f"number {self.condition_number:.3g}); influence estimates may be "
                    "inaccurate. Standardising features or a stronger penalty helps.",
                    ApproximationWarning,
                    stacklevel=3,
                )
        damping = self.damping
        while True:
            try:
                self._factor = scipy.linalg.cho_factor(H, lower=True, check_finite=False)
                break
            except np.linalg.LinAlgError:
                step = max(damping * 10, 1e-8 * scale)
                H[np.diag_indices_from(H)] += step - damping
                damping = step
                if damping > scale:
                    raise
        if damping != self.damping:
            warnings.warn(
                f"Cholesky factorisation of the Hessian failed; added damping {damping:.3g} * I.",
                ApproximationWarning,
                stacklevel=3,
            )
            self.damping = damping
        self.matrix = H

    def solve(self, B):
        """Return ``H^{-1} B``."""
        return scipy.linalg.cho_solve(self._factor, B, check_finite=False)

    def half_solve(self, B):
        """Return ``L^{-1} B`` where ``H = L L^T``, so ``(L^{-1}a)^T (L^{-1}b) = a^T H^{-1} b``."""
        L = self._factor[0]
        return scipy.linalg.solve_triangular(L, B, lower=True, check_finite=False)


def cholesky_with_null_space(H, null_space=None, *, warn_stacklevel=3):
    """Cholesky factor (``scipy.linalg.cho_factor``) of ``H + s N N^T``.

    ``N`` holds exact null directions of the objective (orthonormal columns, e.g. the softmax
    intercept direction), ``s`` the mean absolute diagonal of ``H``. If ``H`` is not positive
    definite on the rest, ``1e-8 s I`` is added with an :class:`ApproximationWarning`.
    """
    Hn = np.asarray(H, dtype=float)
    if null_space is not None:
        scale = float(np.mean(np.abs(np.diag(Hn)))) or 1.0
        Hn = Hn + scale * (null_space @ null_space.T)
    # LAPACK's potrf directly (what cho_factor calls, without its per-call overhead, which
    # dominates for the small Hessians of Newton refits); it works on a copy: H is unchanged
    c, info = _potrf(Hn, lower=1, overwrite_a=0, clean=0)
    if info == 0:
        return c, True
    try:
        if info < 0:  # pragma: no cover - an invalid argument: let scipy say which
            return scipy.linalg.cho_factor(Hn, lower=True, check_finite=False)
        raise np.linalg.LinAlgError("not positive definite")
    except np.linalg.LinAlgError:
        Hn = np.array(Hn, dtype=float, copy=True)
        damping = 1e-8 * (float(np.mean(np.abs(np.diag(Hn)))) or 1.0)
        warnings.warn(
            f"The Hessian of the training objective is not positive definite; adding damping "
            f"{damping:.3g} * I.",
            ApproximationWarning,
            stacklevel=warn_stacklevel,
        )
        Hn[np.diag_indices_from(Hn)] += damping
        return scipy.linalg.cho_factor(Hn, lower=True, check_finite=False)


def solve_cholesky(factor, B):
    """``H^{-1} B`` from a ``cho_factor`` result (LAPACK potrs, as ``cho_solve``)."""
    c, lower = factor
    x, info = _potrs(c, B, lower=int(lower))
    if info != 0:  # pragma: no cover - shapes are checked by the callers
        return scipy.linalg.cho_solve(factor, B, check_finite=False)
    return x


_potrf, _potrs = scipy.linalg.lapack.get_lapack_funcs(("potrf", "potrs"), dtype=np.float64)
