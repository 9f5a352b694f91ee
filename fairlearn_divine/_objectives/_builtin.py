"""Evaluation functions f: the quantity whose change a training point's score measures.

Every evaluation function is a *cost* (lower is better). It has two faces:

* ``value(y_true, proba, sensitive_features=...)`` -- the number reported to users. For the
  group-fairness objectives it is the *hard* metric, computed from the predicted labels exactly as
  :class:`fairlearn.metrics.MetricFrame` computes it with ``.difference(method="between_groups")``
  (the largest pairwise gap between groups, i.e. ``max_g rate_g - min_g rate_g``).
* ``gradient(y_true, proba, sensitive_features=...)`` -- the derivative, with respect to the
  predicted class probabilities (shape ``(n_samples, n_classes)``), of a *smooth surrogate* of the
  value. Influence-style methods chain it through the model's probabilities to parameters.

Surrogates
----------
Let :math:`p_j = P_\\theta(\\hat y = \\mathrm{pos} \\mid x_j)`, :math:`G_g^{c}` the
evaluation points of group :math:`g` that satisfy the rate's condition :math:`c` (e.g.
:math:`y = \\mathrm{pos}` for the true positive rate) and :math:`q_j` the soft indicator of
the rate's event (:math:`p_j` for a predicted positive, :math:`1 - p_j` for a predicted
negative). The soft group rate is

.. math:: \\tilde r_g = \\frac{1}{|G_g^{c}|} \\sum_{j \\in G_g^{c}} q_j .

For a gap :math:`|r_a - r_b|` between the groups with the largest and the smallest *hard* rate
(ties broken by the soft rate), the surrogate is :math:`\\tilde r_a - \\tilde r_b`, i.e. the
absolute value is differentiated through the sign of the hard gap. Sums of gaps (equal accuracy,
equalized odds) sum the surrogates. ``"log_loss"`` is smooth already (mean negative
log-likelihood); ``"zero_one_loss"`` uses the soft error :math:`1 - \\frac1n\\sum_j p_{j, y_j}`.

Objectives
----------
==========================  ==============================================================
``"log_loss"``              mean :math:`-\\log p_{j, y_j}` (probabilities clipped to
                            ``[eps, 1 - eps]`` as scikit-learn's ``log_loss`` does)
``"zero_one_loss"``         error rate of the predicted labels
``"equal_accuracy"``        :math:`|\\mathrm{TPR\\ gap}| + |\\mathrm{TNR\\ gap}|` in [0, 2]
                            (DIVINE's :math:`f_{unf}`)
``"equal_opportunity"``     :math:`|\\mathrm{TPR\\ gap}|` (fairlearn's
                            ``equal_opportunity_difference``)
``"equalized_odds"``        :math:`|\\mathrm{TPR\\ gap}| + |\\mathrm{FPR\\ gap}|` (DIVINE's
                            Table 4; fairlearn's ``equalized_odds_difference`` is the *max*
                            of the two gaps and is accepted as an objective too)
``"demographic_parity"``    :math:`|\\mathrm{selection\\ rate\\ gap}|` (fairlearn's
                            ``demographic_parity_difference``)
==========================  ==============================================================

Fairness objectives need a binary target; the positive label is ``classes_[1]`` of the
estimator (the larger label, as fairlearn's default ``pos_label=1`` for 0/1 targets).
"""

from __future__ import annotations

import numpy as np

from ._base import EvaluationFunction, clip_proba

__all__ = ["FAIRNESS_OBJECTIVES", "OBJECTIVE_NAMES", "resolve_objective"]


class _LogLoss(EvaluationFunction):
    name = "log_loss"

    def value(self, y_true, proba, *, sensitive_features=None):
        p = clip_proba(proba[np.arange(len(y_true)), y_true])
        return float(-np.mean(np.log(p)))

    def gradient(self, y_true, proba, *, sensitive_features=None):
        n = len(y_true)
        grad = np.zeros_like(proba, dtype=float)
        rows = np.arange(n)
        grad[rows, y_true] = -1.0 / (n * clip_proba(proba[rows, y_true]))
        return grad


class _ZeroOneLoss(EvaluationFunction):
    name = "zero_one_loss"

    def value(self, y_true, proba, *, sensitive_features=None):
        return float(np.mean(np.argmax(proba, axis=1) != y_true))

    def gradient(self, y_true, proba, *, sensitive_features=None):
        n = len(y_true)
        grad = np.zeros_like(proba, dtype=float)
        grad[np.arange(n), y_true] = -1.0 / n
        return grad


# A rate component: (condition on the true label, event on the predicted label, description).
# Labels are class indices in a binary problem: 1 = positive, 0 = negative, None = no condition.
_TPR = (1, 1, "true positive rate")
_TNR = (0, 0, "true negative rate")
_FPR = (0, 1, "false positive rate")
_SELECTION = (None, 1, "selection rate")


class _GroupRateGap(EvaluationFunction):
    """Sum (or max) over rate components of the between-groups difference of that rate."""

    requires_sensitive_features = True
    requires_binary = True

    def __init__(self, name, components, *, agg="sum"):
        self.name = name
        self.components = components
        self.agg = agg

    def _members(self, y_true, groups, condition, description):
        """Per group, the evaluation rows that satisfy the rate's condition on y."""
        n_groups = int(groups.max()) + 1 if len(groups) else 0
        if n_groups < 2:
            raise ValueError(
                f"Objective {self.name!r} compares sensitive groups, but the evaluation data "
                f"holds {n_groups} group(s); at least two are needed."
            )
        cond = np.ones(len(y_true), dtype=bool) if condition is None else y_true == condition
        counts = np.bincount(groups[cond], minlength=n_groups)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            what = (
                "samples"
                if condition is None
                else f"samples with y={'pos' if condition else 'neg'}"
            )
            raise ValueError(
                f"Objective {self.name!r}: sensitive group(s) with code(s) {empty.tolist()} have "
                f"no {what} in the evaluation data, so the {description} is undefined for them."
            )
        return cond, counts, n_groups

    def _parts(self, y_true, proba, groups):
        """Per component: (gap, cond, counts, hard_rate, soft_rate, event)."""
        pred = np.argmax(proba, axis=1)
        parts = []
        for condition, event, description in self.components:
            cond, counts, n_groups = self._members(y_true, groups, condition, description)
            g = groups[cond]
            hard = (pred[cond] == event).astype(float)
            hard_rate = np.bincount(g, weights=hard, minlength=n_groups) / counts
            soft_rate = np.bincount(g, weights=proba[cond, event], minlength=n_groups) / counts
            gap = hard_rate.max() - hard_rate.min()
            parts.append((gap, cond, counts, hard_rate, soft_rate, event))
        return parts

    def _value(self, parts):
        gaps = [part[0] for part in parts]
        return float(np.sum(gaps) if self.agg == "sum" else np.max(gaps))

    def _gradient(self, proba, groups, parts):
        grad = np.zeros_like(proba, dtype=float)
        if self.agg == "max":
            parts = [parts[int(np.argmax([part[0] for part in parts]))]]
        for _, cond, counts, hard_rate, soft_rate, event in parts:
            order = np.lexsort((soft_rate, hard_rate))  # ascending by hard, then soft rate
            low, high = order[0], order[-1]
            weight = np.zeros(len(counts))
            weight[high] += 1.0 / counts[high]
            weight[low] -= 1.0 / counts[low]
            grad[:, event] += np.where(cond, weight[groups], 0.0)
        return grad

    def value(self, y_true, proba, *, sensitive_features=None):
        return self._value(self._parts(y_true, proba, sensitive_features))

    def gradient(self, y_true, proba, *, sensitive_features=None):
        parts = self._parts(y_true, proba, sensitive_features)
        return self._gradient(proba, sensitive_features, parts)

    def value_and_gradient(self, y_true, proba, *, sensitive_features=None):
        parts = self._parts(y_true, proba, sensitive_features)
        return self._value(parts), self._gradient(proba, sensitive_features, parts)


class _FairlearnMetric(EvaluationFunction):
    """Adapter for a fairlearn-style metric ``metric(y_true, y_pred, *, sensitive_features)``.

    The value is the metric itself, called on 0/1 labels (1 = ``classes_[1]``, fairlearn's default
    ``pos_label``) and the group codes. A gradient exists only when
    the metric is one fairlearn ships whose surrogate we know.
    """

    requires_sensitive_features = True
    requires_binary = True

    def __init__(self, metric, surrogate=None):
        self.metric = metric
        self.surrogate = surrogate
        self.name = getattr(metric, "__name__", type(metric).__name__)

    def value(self, y_true, proba, *, sensitive_features=None):
        # binary targets as 0/1 with 1 = classes_[1], fairlearn's default pos_label
        y_pred = np.argmax(proba, axis=1)
        return float(self.metric(y_true, y_pred, sensitive_features=sensitive_features))

    def gradient(self, y_true, proba, *, sensitive_features=None):
        if self.surrogate is None:
            return super().gradient(y_true, proba, sensitive_features=sensitive_features)
        return self.surrogate.gradient(y_true, proba, sensitive_features=sensitive_features)

    @property
    def has_gradient(self):
        return self.surrogate is not None


#: The named objectives, in one place: name -> (factory, label, description, rates shown).
#: ``rates`` are the per-group rates a report shows for a fairness objective.
_REGISTRY = {
    "log_loss": (_LogLoss, "log loss", "mean negative log-likelihood of the labels", ()),
    "zero_one_loss": (_ZeroOneLoss, "error rate", "fraction of wrong predictions", ()),
    "equal_accuracy": (
        lambda: _GroupRateGap("equal_accuracy", [_TPR, _TNR]),
        "equal accuracy",
        "|TPR gap| + |TNR gap| between the groups (0 = equal, at most 2)",
        ("TPR", "TNR"),
    ),
    "equal_opportunity": (
        lambda: _GroupRateGap("equal_opportunity", [_TPR]),
        "equal opportunity",
        "|TPR gap| between the groups (0 = equal, at most 1)",
        ("TPR",),
    ),
    "equalized_odds": (
        lambda: _GroupRateGap("equalized_odds", [_TPR, _FPR]),
        "equalized odds",
        "|TPR gap| + |FPR gap| between the groups (0 = equal, at most 2)",
        ("TPR", "TNR"),
    ),
    "demographic_parity": (
        lambda: _GroupRateGap("demographic_parity", [_SELECTION]),
        "demographic parity",
        "|selection-rate gap| between the groups (0 = equal, at most 1)",
        ("selection rate",),
    ),
}

#: Names of the built-in objectives.
OBJECTIVE_NAMES = tuple(_REGISTRY)
#: The fairness objectives: name -> (label, description, rates shown).
FAIRNESS_OBJECTIVES = {
    name: entry[1:]
    for name, entry in _REGISTRY.items()
    if name not in ("log_loss", "zero_one_loss")
}


def _fairlearn_surrogates():
    from fairlearn import metrics as flm

    return {
        flm.demographic_parity_difference: _GroupRateGap("demographic_parity", [_SELECTION]),
        flm.equal_opportunity_difference: _GroupRateGap("equal_opportunity", [_TPR]),
        flm.equalized_odds_difference: _GroupRateGap(
            "equalized_odds_difference", [_TPR, _FPR], agg="max"
        ),
    }


def resolve_objective(objective):
    """Turn a name, an EvaluationFunction or a fairlearn metric into an EvaluationFunction."""
    if isinstance(objective, EvaluationFunction):
        return objective
    if isinstance(objective, str):
        if objective not in _REGISTRY:
            raise ValueError(
                f"Unknown objective {objective!r}. Valid names: {', '.join(OBJECTIVE_NAMES)}; "
                "or pass an EvaluationFunction, or a fairlearn metric such as "
                "fairlearn.metrics.equalized_odds_difference."
            )
        return _REGISTRY[objective][0]()
    if callable(objective):
        surrogate = _fairlearn_surrogates().get(objective)
        return _FairlearnMetric(objective, surrogate)
    raise TypeError(
        "objective must be a name, an EvaluationFunction, a fairlearn metric callable or a list "
        f"of those; got {type(objective).__name__}: {objective!r}"
    )
