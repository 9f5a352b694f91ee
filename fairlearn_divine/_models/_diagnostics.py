"""Degenerate fits: separated training data with no penalty, or one too weak to matter.

A logistic (or softmax) model *separates* its training data when every row's own class has
the largest logit: every margin :math:`m_i = z_{i, y_i} - \\max_{k \\ne y_i} z_{ik}` (for a
sigmoid link :math:`m_i = (2 y_i - 1) z_i`) is positive. Two regimes follow.

* **No penalty** (``C=np.inf``, ``penalty=None``, an ``MLPClassifier`` with ``alpha=0``): the
  training objective has no minimum. Scaling the coefficients up always lowers it, so the
  fitted coefficients are wherever the solver stopped, and so is every refit. Influence-style
  scores are derivatives at that arbitrary point (typically 1e-18 .. 1e-11) and refit-based
  ones (leave-one-out, Shapley) compare arbitrary stopping points (often exactly 0). No number
  is right; we warn (rather than refuse, because the fit itself was the user's choice and
  the ranking of refit-based scores can still be of use) and name the fix: a penalty.
* **A negligible penalty** (the penalty makes less than :data:`NEGLIGIBLE_PENALTY_SHARE` of
  the trace of the Hessian, e.g. ``C=1e12``): the optimum exists, but it is held by the
  penalty alone along the separating direction, where the loss is almost flat. Removing a
  supporting point moves the optimum far beyond where the quadratic model of the objective
  holds, so first-order estimates (influence, one-step Newton, the counterfactual closed form)
  can even have the wrong sign (measured: Pearson -0.7 .. 0.4 against exact leave-one-out).
  The Hessian is *not* ill-conditioned here (condition numbers of 1e3 .. 1e4), which is why
  the condition-number rule of :class:`~fairlearn_divine._core.linalg.HessianSolver` cannot
  see it. Exact refits (``method="loo"``) are right; the warning is raised where the
  first-order methods factorise the Hessian at the fitted parameters.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._core.refit import separates
from .._warnings import ApproximationWarning

__all__ = ["NEGLIGIBLE_PENALTY_SHARE", "warn_if_penalty_negligible"]

#: Penalty share of the Hessian's trace below which a separating fit's penalty is negligible.
NEGLIGIBLE_PENALTY_SHARE = 1e-2


def warn_if_penalty_negligible(margins, H, penalty_vector, description, *, stacklevel=3):
    """Warn that first-order estimates fail for a separating fit with a negligible penalty.

    ``H`` is the Hessian of the training objective at the fitted parameters, ``penalty_vector``
    its penalty part (:math:`\\rho`). Returns whether it warned.
    """
    rho = np.asarray(penalty_vector, dtype=float)
    if not np.any(rho > 0) or not separates(margins):
        return False  # no penalty: warn_if_no_optimum's case
    trace = float(np.trace(H))
    share = float(rho.sum()) / trace if trace > 0 else 1.0
    if share >= NEGLIGIBLE_PENALTY_SHARE:
        return False
    warnings.warn(
        f"The fitted {description} separates its training data (smallest log-odds margin "
        f"{float(np.min(margins)):.3g}) and its penalty is negligible (it makes {share:.2g} "
        f"of the Hessian's trace, below {NEGLIGIBLE_PENALTY_SHARE:g}): the optimum is held "
        "by the penalty alone along the separating direction, so first-order estimates "
        "(influence, one_step_newton, the counterfactual closed form) can be far off, even "
        "of the wrong sign. Use method='loo' (exact refits), or a stronger penalty (a "
        "smaller C).",
        ApproximationWarning,
        stacklevel=stacklevel,
    )
    return True
