"""Group-rate objectives: fairlearn's disparity metrics, valued exactly, with soft-rate gradients.

A *rate* is the fraction of the evaluation rows that satisfy a condition on the true label
(none, ``y = pos`` or ``y = neg``) whose prediction has an event (predicted positive, predicted
negative, correct). The per-group hard rate :math:`r_g` is computed from the predicted labels
exactly as :class:`fairlearn.metrics.MetricFrame` computes ``by_group``; the overall rate
:math:`r` over all rows as ``overall``. The soft rate :math:`\\tilde r_g` replaces the event
indicator by its predicted probability (see the package's objectives module).

Aggregations (fairlearn's, per rate)
------------------------------------
* ``"difference"`` (lower is better): ``between_groups`` :math:`\\max_g r_g - \\min_g r_g`,
  ``to_overall`` :math:`\\max_g |r_g - r|`;
* ``"ratio"`` (higher is better): ``between_groups`` :math:`\\min_g r_g / \\max_g r_g`,
  ``to_overall`` :math:`\\min_g \\min(r_g / r,\\, r / r_g)`;
* ``"group_max"``, ``"group_min"``: :math:`\\max_g r_g`, :math:`\\min_g r_g` (oriented as the
  rate: higher is better for TPR, TNR and accuracy, lower for FPR, FNR and the error rate).

Several rates combine by ``"max"`` (fairlearn's ``agg="worst_case"``; for ratios, where higher
is better, the worst case is the *min*), ``"mean"`` or ``"sum"`` (DIVINE's equal accuracy).

Surrogate gradients differentiate the aggregation at its *active* groups (those attaining the
max / min of the hard rates, ties broken by the soft rate) and the *active* rate of a worst case:
e.g. the between-groups difference has the surrogate :math:`\\tilde r_a - \\tilde r_b`, the
ratio :math:`\\tilde r_b / r_a - r_b \\tilde r_a / r_a^2` (linearised at the hard rates).
"""

from __future__ import annotations

import numpy as np

from ._base import EvaluationFunction

__all__ = [
    "RATES",
    "AGGREGATES",
    "Rate",
    "RateObjective",
    "SignedGap",
    "group_gaps",
    "signed_gaps",
]


class Rate:
    """A group rate: condition on the true label, event on the prediction.

    Parameters
    ----------
    key : str
        Short name (``"TPR"``).
    condition : {None, 0, 1}
        Rows counted: all, ``y = neg`` or ``y = pos``.
    event : {0, 1, "correct", "wrong"}
        What is counted: a predicted negative / positive, a correct / wrong prediction.
    description : str
    higher_is_better : bool or None
        Orientation of the rate itself (for ``group_max`` / ``group_min``); ``None`` when it
        has none (the selection rate).
    """

    def __init__(self, key, condition, event, description, higher_is_better):
        self.key = key
        self.condition = condition
        self.event = event
        self.description = description
        self.higher_is_better = higher_is_better

    def __repr__(self):
        return f"Rate({self.key!r})"


RATES = {
    "TPR": Rate("TPR", 1, 1, "true positive rate", True),
    "FNR": Rate("FNR", 1, 0, "false negative rate", False),
    "TNR": Rate("TNR", 0, 0, "true negative rate", True),
    "FPR": Rate("FPR", 0, 1, "false positive rate", False),
    "selection_rate": Rate("selection_rate", None, 1, "selection rate", None),
    "accuracy": Rate("accuracy", None, "correct", "accuracy", True),
    "error_rate": Rate("error_rate", None, "wrong", "error rate", False),
}
AGGREGATES = ("difference", "ratio", "group_max", "group_min")
METHODS = ("between_groups", "to_overall")
COMBINES = ("max", "mean", "sum")


def _event_hard_soft(rate, y_true, proba):
    """Per-row hard indicator and soft probability of the rate's event."""
    pred = np.argmax(proba, axis=1)
    if rate.event in (0, 1):
        return (pred == rate.event).astype(float), proba[:, rate.event]
    p_true = proba[np.arange(len(y_true)), y_true]
    correct = (pred == y_true).astype(float)
    if rate.event == "correct":
        return correct, p_true
    return 1.0 - correct, 1.0 - p_true


class RateObjective(EvaluationFunction):
    """An aggregation of group rates, valued as fairlearn values it.

    Parameters
    ----------
    name : str
    rates : list of Rate
    aggregate : {"difference", "ratio", "group_max", "group_min"}
    method : {"between_groups", "to_overall"}
        For ``"difference"`` and ``"ratio"``.
    combine : {"max", "mean", "sum"}
        How several rates combine (``"max"`` is the worst case: the min for ratios).
    greater_is_better : bool, optional
        Orientation of the value (default: lower is better, except for ratios and for
        ``group_max`` / ``group_min`` of rates where higher is better).
    control_features : sequence of column names (or positions), optional
        Columns of the sensitive features that are MetricFrame's ``control_features``: the
        aggregate is taken within each control level (as ``MetricFrame(...,
        control_features=...)`` does) and the value is the worst level's.

    Notes
    -----
    A group without rows for a rate's condition makes the rate undefined there: a clear
    ``ValueError`` instead of fairlearn's warning and NaN. A ratio whose rate is 0 in every
    group is NaN, as in fairlearn (and has no gradient).
    """

    requires_sensitive_features = True
    requires_binary = True

    def __init__(
        self,
        name,
        rates,
        *,
        aggregate="difference",
        method="between_groups",
        combine="max",
        greater_is_better=None,
        control_features=None,
    ):
        self.control_features = None if control_features is None else tuple(control_features)
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}.")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
        if combine not in COMBINES:
            raise ValueError(f"combine must be one of {COMBINES}, got {combine!r}.")
        self.name = name
        self.rates = list(rates)
        self.aggregate = aggregate
        self.method = method
        self.combine = combine
        if greater_is_better is None:
            if aggregate == "ratio":
                greater_is_better = True
            elif aggregate == "difference":
                greater_is_better = False
            else:
                orientation = {r.higher_is_better for r in self.rates}
                if len(orientation) != 1 or None in orientation:
                    raise ValueError(
                        f"{aggregate} of {[r.description for r in self.rates]} has no "
                        "orientation: pass greater_is_better=True or False."
                    )
                greater_is_better = orientation.pop()
        self.greater_is_better = bool(greater_is_better)

    # per rate ---------------------------------------------------------------------------------
    def _rate_parts(self, rate, y_true, proba, groups):
        n_groups = int(groups.max()) + 1 if len(groups) else 0
        if n_groups < 2:
            raise ValueError(
                f"Objective {self.name!r} compares sensitive groups, but the evaluation data "
                f"holds {n_groups} group(s); at least two are needed."
            )
        if rate.condition is None:
            cond = np.ones(len(y_true), dtype=bool)
        else:
            cond = y_true == rate.condition
        counts = np.bincount(groups[cond], minlength=n_groups)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            what = (
                "samples"
                if rate.condition is None
                else f"samples with y={'pos' if rate.condition else 'neg'}"
            )
            raise ValueError(
                f"Objective {self.name!r}: sensitive group(s) with code(s) {empty.tolist()} have "
                f"no {what} in the evaluation data, so the {rate.description} is undefined for "
                "them."
            )
        hard, soft = _event_hard_soft(rate, y_true, proba)
        g = groups[cond]
        hard_rate = np.bincount(g, weights=hard[cond], minlength=n_groups) / counts
        soft_rate = np.bincount(g, weights=soft[cond], minlength=n_groups) / counts
        overall = float(hard[cond].mean())
        value, weights = self._aggregate(hard_rate, soft_rate, overall, counts, cond.sum())
        return value, cond, groups, weights, rate

    def _aggregate(self, r, s, overall, counts, n_cond):
        """Value of the aggregation and the surrogate's weights.

        The weights are ``(w_g per group, w_overall)``: the surrogate's derivative with respect
        to a row's soft event is ``w_g / counts[g] + w_overall / n_cond`` for a counted row.
        """
        n = len(r)
        w = np.zeros(n)
        w_all = 0.0
        order = np.lexsort((s, r))  # ascending by hard, then soft rate
        low, high = order[0], order[-1]
        if self.aggregate == "group_max":
            w[high] = 1.0
            return float(r[high]), (w, w_all)
        if self.aggregate == "group_min":
            w[low] = 1.0
            return float(r[low]), (w, w_all)
        if self.aggregate == "difference":
            if self.method == "between_groups":
                w[high] += 1.0
                w[low] -= 1.0
                return float(r[high] - r[low]), (w, w_all)
            dev = np.abs(r - overall)
            g = int(np.lexsort((np.abs(s - overall), dev))[-1])
            sign = 1.0 if r[g] >= overall else -1.0
            w[g] += sign
            w_all -= sign
            return float(dev[g]), (w, w_all)
        # ratio: undefined (NaN, as fairlearn) when the rate is 0 in every group
        if r[high] == 0:
            return float("nan"), None
        if self.method == "between_groups":
            w[low] += 1.0 / r[high]
            w[high] -= r[low] / r[high] ** 2
            return float(r[low] / r[high]), (w, w_all)
        ratios = np.where(r > 0, np.minimum(r / overall, overall / np.where(r > 0, r, 1)), 0.0)
        soft = np.where(s > 0, np.minimum(s / overall, overall / np.where(s > 0, s, 1)), 0.0)
        g = int(np.lexsort((soft, ratios))[0])  # the smallest ratio; ties by the soft rate
        if r[g] <= overall:  # r_g / r
            w[g] += 1.0 / overall
            w_all -= r[g] / overall**2
        else:  # r / r_g
            w_all += 1.0 / r[g]
            w[g] -= overall / r[g] ** 2
        return float(ratios[g]), (w, w_all)

    def _parts(self, y_true, proba, groups):
        return [self._rate_parts(rate, y_true, proba, groups) for rate in self.rates]

    def _combine_index(self, values):
        worst = np.argmin(values) if self.greater_is_better else np.argmax(values)
        return int(worst)

    def _value(self, parts):
        values = np.array([p[0] for p in parts])
        if self.combine == "sum":
            return float(values.sum())
        if self.combine == "mean":
            return float(values.mean())
        return float(values[self._combine_index(values)])

    def _gradient(self, y_true, proba, parts):
        grad = np.zeros_like(proba, dtype=float)
        values = np.array([p[0] for p in parts])
        if self.combine == "max":
            chosen = [parts[self._combine_index(values)]]
            scale = 1.0
        else:
            chosen = parts
            scale = 1.0 if self.combine == "sum" else 1.0 / len(parts)
        for _, cond, groups, weights, rate in chosen:
            if weights is None:
                raise ValueError(
                    f"Objective {self.name!r}: the {rate.description} is 0 in every group, so "
                    "the ratio is undefined (NaN, as in fairlearn) and has no gradient."
                )
            w, w_all = weights
            counts = np.bincount(groups[cond], minlength=len(w))
            per_row = np.where(cond, w[groups] / np.maximum(counts[groups], 1), 0.0)
            per_row = per_row + np.where(cond, w_all / max(int(cond.sum()), 1), 0.0)
            per_row *= scale
            if rate.event in (0, 1):
                grad[:, rate.event] += per_row
            else:  # d p_{j, y_j}: correct (+), wrong (-)
                sign = 1.0 if rate.event == "correct" else -1.0
                grad[np.arange(len(y_true)), y_true] += sign * per_row
        return grad

    def value(self, y_true, proba, *, sensitive_features=None):
        if np.ndim(sensitive_features) == 2:
            return self._controlled(y_true, proba, sensitive_features, gradient=False)[0]
        return self._value(self._parts(y_true, proba, sensitive_features))

    def gradient(self, y_true, proba, *, sensitive_features=None):
        return self.value_and_gradient(y_true, proba, sensitive_features=sensitive_features)[1]

    def value_and_gradient(self, y_true, proba, *, sensitive_features=None):
        if np.ndim(sensitive_features) == 2:
            return self._controlled(y_true, proba, sensitive_features, gradient=True)
        parts = self._parts(y_true, proba, sensitive_features)
        return self._value(parts), self._gradient(y_true, proba, parts)

    def _controlled(self, y_true, proba, codes, *, gradient):
        """With control features (``codes`` = (control level, group) per row): the value
        within each control level, as MetricFrame's per-level aggregate, and the worst level."""
        control, groups = codes[:, 0], codes[:, 1]
        levels = []
        for level in np.unique(control):
            rows = control == level
            _, g = np.unique(groups[rows], return_inverse=True)
            parts = self._parts(y_true[rows], proba[rows], g)
            levels.append((self._value(parts), rows, parts))
        values = np.array([v for v, _, _ in levels])
        k = int(np.argmin(values) if self.greater_is_better else np.argmax(values))
        if not gradient:
            return float(values[k]), None
        _, rows, parts = levels[k]
        grad = np.zeros_like(proba, dtype=float)
        grad[rows] = self._gradient(y_true[rows], proba[rows], parts)
        return float(values[k]), grad


class SignedGap(EvaluationFunction):
    """The signed gap :math:`r_a - r_b` of one rate between two fixed groups ``a`` and ``b``.

    Its value is the hard signed gap, its gradient that of the soft gap :math:`\\tilde r_a -
    \\tilde r_b`. The first-order change it predicts for a removal can cross zero, where the
    absolute gap the fairness metric reports starts to grow again (see
    :meth:`RateObjective.signed_gaps`).
    """

    requires_sensitive_features = True
    requires_binary = True

    def __init__(self, rate, high, low):
        self.rate, self.high, self.low = rate, int(high), int(low)
        self.name = f"{rate.key}[{self.high}] - {rate.key}[{self.low}]"

    def _rates(self, y_true, proba, groups):
        if self.rate.condition is None:
            cond = np.ones(len(y_true), dtype=bool)
        else:
            cond = y_true == self.rate.condition
        hard, soft = _event_hard_soft(self.rate, y_true, proba)
        out = []
        for g in (self.high, self.low):
            rows = cond & (groups == g)
            if not rows.any():
                raise ValueError(
                    f"{self.name}: group code {g} has no rows for the {self.rate.description}."
                )
            out.append((hard[rows].mean(), rows, rows.sum()))
        return out

    def value(self, y_true, proba, *, sensitive_features=None):
        (ra, _, _), (rb, _, _) = self._rates(y_true, proba, sensitive_features)
        return float(ra - rb)

    def gradient(self, y_true, proba, *, sensitive_features=None):
        (_, rows_a, na), (_, rows_b, nb) = self._rates(y_true, proba, sensitive_features)
        per_row = rows_a / na - rows_b / nb
        grad = np.zeros_like(proba, dtype=float)
        if self.rate.event in (0, 1):
            grad[:, self.rate.event] = per_row
        else:
            sign = 1.0 if self.rate.event == "correct" else -1.0
            grad[np.arange(len(y_true)), y_true] = sign * per_row
        return grad


def _is_between_groups_difference(objective):
    """A :class:`RateObjective` that is a difference between groups (fairlearn's
    ``difference(method="between_groups")``)."""
    return (
        isinstance(objective, RateObjective)
        and objective.aggregate == "difference"
        and objective.method == "between_groups"
    )


def signed_gaps(objective, y_true, proba, groups):
    """The signed gaps behind a between-groups difference objective, and how they combine.

    Returns ``(gaps, combine)``: one :class:`SignedGap` per rate, between the groups with the
    highest and the lowest hard rate at ``proba`` (ties by the soft rate), and a function that
    maps the signed gap values to the objective's value (``combine(|g|)``); ``None`` for
    objectives that are not a difference between groups.
    """
    if not _is_between_groups_difference(objective):
        return None
    gaps = []
    for rate in objective.rates:
        _, cond, g, _, _ = objective._rate_parts(rate, y_true, proba, groups)
        hard, soft = _event_hard_soft(rate, y_true, proba)
        n_groups = int(groups.max()) + 1
        counts = np.bincount(g[cond], minlength=n_groups)
        r = np.bincount(g[cond], weights=hard[cond], minlength=n_groups) / counts
        s = np.bincount(g[cond], weights=soft[cond], minlength=n_groups) / counts
        order = np.lexsort((s, r))
        gaps.append(SignedGap(rate, order[-1], order[0]))

    def combine(values):
        a = np.abs(np.asarray(values, dtype=float))
        if objective.combine == "sum":
            return a.sum(axis=0)
        if objective.combine == "mean":
            return a.mean(axis=0)
        return a.max(axis=0)

    return gaps, combine


def group_gaps(objective, groups):
    """Every group's rate relative to group 0, for a between-groups difference objective.

    For each rate :math:`r` of ``objective`` and each group code :math:`g = 1, \\dots, K-1`
    of ``groups`` (the encoded sensitive features of the evaluation data), the
    :class:`SignedGap` :math:`r_g - r_0`. Every pairwise gap is a difference of two of them
    (:math:`r_g - r_h = (r_g - r_0) - (r_h - r_0)`), so a first-order prediction of these
    :math:`K - 1` gaps per rate predicts the objective exactly as fairlearn aggregates it:
    :math:`\\max_g r_g - \\min_g r_g` per rate, combined by ``objective.combine``.

    Returns
    -------
    (gaps, n_groups) or None
        ``gaps`` lists the ``len(objective.rates) * (n_groups - 1)`` signed gaps, rate by rate;
        ``None`` for an objective that is not a between-groups difference of rates (or has
        control features).
    """
    if not _is_between_groups_difference(objective) or objective.control_features is not None:
        return None
    n_groups = int(np.max(groups)) + 1
    gaps = [SignedGap(rate, g, 0) for rate in objective.rates for g in range(1, n_groups)]
    return gaps, n_groups
