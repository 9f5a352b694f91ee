"""Per-point weights chosen by a linear program over first-order predictions (Li & Liu 2022).

A training point :math:`i` keeps the weight :math:`w_i = 1 - \\delta_i` of its own weight
:math:`s_i`, :math:`\\delta_i \\in [0, 1]` (:math:`\\delta_i = 1` removes it). To first order
the change of a quantity :math:`q` evaluated on the validation data is linear in
:math:`\\delta`: :math:`q(\\delta) \\approx q_0 + \\sum_i \\delta_i I^q_i`, where
:math:`I^q_i` is point :math:`i`'s importance score for :math:`q` (the predicted change when
it is removed).

For a between-groups difference such as fairlearn's equalized-odds difference, :math:`q`
ranges over the gaps :math:`d_{r,g} = r_g - r_0` of every rate :math:`r` and group
:math:`g` against group 0 (the hard gap at the fitted model plus the first-order change of
its soft surrogate), and the predicted metric is

.. math::

    F(\\delta) = \\operatorname{combine}_r \\Big( \\max_g d_{r,g}(\\delta)
        - \\min_g d_{r,g}(\\delta) \\Big), \\qquad d_{r,0} \\equiv 0,

piecewise linear and convex, so it is modelled exactly by epigraph variables. Unlike a
first-order score of the *absolute* gap, it knows that a gap pushed past zero grows again.
The program is

.. math::

    \\min_{\\delta \\in [0, 1]^n} \\; \\max(F(\\delta) - \\tau, 0)
        + \\varepsilon \\frac{\\sum_i s_i \\delta_i}{\\sum_i s_i}
    \\quad \\text{s.t.} \\quad \\sum_i \\delta_i I^{\\ell}_i \\le \\Delta_{\\ell},
    \\quad \\sum_i s_i \\delta_i \\le B \\sum_i s_i,

with :math:`\\tau` the target (0 by default), :math:`I^{\\ell}` the scores for the
validation log loss and :math:`\\Delta_{\\ell}` its allowed first-order rise (0: the
validation loss is predicted not to rise, Li & Liu's "no utility cost"), :math:`B` the
budget (fraction of the weight that may be removed) and :math:`\\varepsilon = 10^{-3}` a
small price on removed weight, so that of equally fair solutions the one changing least is
chosen. An objective that is not a between-groups difference is modelled by its own linear
prediction :math:`F(\\delta) = f_0 \\pm \\sum_i \\delta_i I^f_i`.

The program is built once (the budget is a ``cvxpy.Parameter``) and solved with HiGHS'
dual simplex through SciPy (shipped with SciPy; Clarabel, shipped with cvxpy, if that
fails). A vertex solution has at most as many fractional :math:`\\delta_i` as there are
constraints besides the box: nearly every point is kept whole or removed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["WeightProgram"]

#: Price of removed weight in the program's objective (a tie-breaker).
REMOVAL_PRICE = 1e-3
#: Removal amounts this close to 0 or 1 are rounded (solver tolerance).
ROUND = 1e-7


class WeightProgram:
    """The linear program above, built once and solved for several budgets.

    Parameters
    ----------
    weights : ndarray of shape (n,)
        The points' own weights :math:`s_i` (positive).
    value_scores : ndarray of shape (n_q, n)
        Importance scores (predicted change when a point is removed) of the gaps
        (``layout`` given) or of the objective itself (``n_q = 1``).
    value_base : ndarray of shape (n_q,)
        The quantities at the fitted model.
    layout : (n_rates, n_groups, combine) or None
        For a between-groups difference: the rows of ``value_scores`` are, rate by rate, the
        gaps of groups ``1 .. n_groups - 1`` against group 0, combined by ``combine``
        (``"max"``, ``"mean"`` or ``"sum"``).
    greater_is_better : bool
        Orientation of the objective (``layout`` None only).
    loss_scores : ndarray of shape (n,) or None
        Scores for the validation log loss.
    max_loss_increase : float
        :math:`\\Delta_{\\ell}`.
    target : float or None
        :math:`\\tau`; None minimises :math:`F` itself.
    """

    def __init__(
        self,
        *,
        weights,
        value_scores,
        value_base,
        layout,
        greater_is_better,
        loss_scores,
        max_loss_increase,
        target,
    ):
        import cvxpy as cp

        weights = np.asarray(weights, dtype=float)
        value_scores = np.atleast_2d(np.asarray(value_scores, dtype=float))
        value_base = np.atleast_1d(np.asarray(value_base, dtype=float))
        n = len(weights)
        total = float(weights.sum())
        self._cp = cp
        self._delta = delta = cp.Variable(n, name="removed")
        self._budget = cp.Parameter(nonneg=True, name="budget")
        constraints = [delta >= 0, delta <= 1, weights @ delta <= self._budget * total]
        if loss_scores is not None:
            constraints.append(np.asarray(loss_scores, dtype=float) @ delta <= max_loss_increase)
        if layout is not None:
            n_rates, n_groups, combine = layout
            spans = []
            for r in range(n_rates):
                rows = slice(r * (n_groups - 1), (r + 1) * (n_groups - 1))
                gaps = value_base[rows] + value_scores[rows] @ delta
                high, low = cp.Variable(), cp.Variable()
                # group 0's gap to itself is 0
                constraints += [gaps <= high, gaps >= low, high >= 0, low <= 0]
                spans.append(high - low)
            spans = cp.hstack(spans)
            if combine == "sum":
                predicted = cp.sum(spans)
            elif combine == "mean":
                predicted = cp.sum(spans) / n_rates
            else:
                predicted = cp.max(spans)
            violation = predicted if target is None else cp.pos(predicted - target)
        else:
            sign = -1.0 if greater_is_better else 1.0
            predicted = value_base[0] + sign * (value_scores[0] @ delta)
            if target is None:
                violation = sign * predicted
            elif greater_is_better:
                violation = cp.pos(target - predicted)
            else:
                violation = cp.pos(predicted - target)
        self._predicted = predicted
        price = REMOVAL_PRICE * (weights @ delta) / total
        self._problem = cp.Problem(cp.Minimize(violation + price), constraints)

    def solve(self, budget):
        """Removal amounts :math:`\\delta` for ``budget`` and the metric they predict.

        Returns
        -------
        delta : ndarray of shape (n,)
            In [0, 1]; values within 1e-7 of 0 or 1 rounded.
        predicted : float
            :math:`F(\\delta)`, the first-order prediction of the metric on validation.
        """
        cp = self._cp
        self._budget.value = float(budget)
        try:
            self._problem.solve(solver=cp.SCIPY, scipy_options={"method": "highs-ds"})
        except cp.error.SolverError:
            self._problem.solve(solver=cp.CLARABEL)
        if self._problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            raise RuntimeError(
                f"The weight program could not be solved (status {self._problem.status!r})."
            )
        delta = np.clip(np.asarray(self._delta.value, dtype=float), 0.0, 1.0)
        delta[delta < ROUND] = 0.0
        delta[delta > 1.0 - ROUND] = 1.0
        return delta, float(self._predicted.value)
