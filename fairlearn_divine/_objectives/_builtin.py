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
absolute value is differentiated through the sign of the hard gap. Sums of gaps (equal accuracy)
sum the surrogates; a worst case (equalized odds) takes the surrogate of the active gap.
``"log_loss"`` is smooth already (mean negative log-likelihood); ``"zero_one_loss"`` uses the
soft error :math:`1 - \\frac1n\\sum_j p_{j, y_j}`.

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
``"equalized_odds"``        :math:`\\max(|\\mathrm{TPR\\ gap}|, |\\mathrm{FPR\\ gap}|)`
                            (fairlearn's ``equalized_odds_difference``, ``agg="worst_case"``)
``"demographic_parity"``    :math:`|\\mathrm{selection\\ rate\\ gap}|` (fairlearn's
                            ``demographic_parity_difference``)
``"..._ratio"``             fairlearn's ``demographic_parity_ratio``,
                            ``equal_opportunity_ratio``, ``equalized_odds_ratio`` (higher is
                            better; scores keep "positive = the point helps")
==========================  ==============================================================

fairlearn's metric functions (with ``functools.partial`` for ``method=`` / ``agg=``), its
``make_derived_metric`` results and :func:`make_metric_frame_objective` recipes are accepted
as objectives too (:mod:`fairlearn_divine._objectives._fairlearn`); worst cases and
aggregations are differentiated at their active rate and groups
(:mod:`fairlearn_divine._objectives._rates`).

Fairness objectives need a binary target; the positive label is ``classes_[1]`` of the
estimator (the larger label, as fairlearn's default ``pos_label=1`` for 0/1 targets).
"""

from __future__ import annotations

import numpy as np

from ._base import EvaluationFunction, clip_proba
from ._fairlearn import fairlearn_objective
from ._rates import RATES, RateObjective

__all__ = [
    "FAIRNESS_OBJECTIVES",
    "OBJECTIVE_NAMES",
    "is_log_loss",
    "is_zero_one_loss",
    "resolve_objective",
]


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


class _FairlearnMetric(EvaluationFunction):
    """Adapter for a metric ``metric(y_true, y_pred, *, sensitive_features)`` the package does
    not recognise: valued exactly by calling it (on 0/1 labels, 1 = ``classes_[1]``, fairlearn's
    default ``pos_label``), taken as a cost (lower is better), without a gradient."""

    requires_sensitive_features = True
    requires_binary = True

    def __init__(self, metric):
        self.metric = metric
        self.name = getattr(metric, "__name__", type(metric).__name__)

    def value(self, y_true, proba, *, sensitive_features=None):
        y_pred = np.argmax(proba, axis=1)
        return float(self.metric(y_true, y_pred, sensitive_features=sensitive_features))


def _rates(name, keys, **kwargs):
    return lambda: RateObjective(name, [RATES[k] for k in keys], **kwargs)


#: The named objectives, in one place: name -> (factory, label, description, rates shown).
#: ``rates`` are the per-group rates a report shows for a fairness objective.
_REGISTRY = {
    "log_loss": (_LogLoss, "log loss", "mean negative log-likelihood of the labels", ()),
    "zero_one_loss": (_ZeroOneLoss, "error rate", "fraction of wrong predictions", ()),
    "equal_accuracy": (
        _rates("equal_accuracy", ["TPR", "TNR"], combine="sum"),
        "equal accuracy",
        "|TPR gap| + |TNR gap| between the groups (0 = equal, at most 2)",
        ("TPR", "TNR"),
    ),
    "equal_opportunity": (
        _rates("equal_opportunity", ["TPR"]),
        "equal opportunity",
        "|TPR gap| between the groups, fairlearn's equal_opportunity_difference (0 = equal, at "
        "most 1)",
        ("TPR",),
    ),
    "equalized_odds": (
        _rates("equalized_odds", ["TPR", "FPR"], combine="max"),
        "equalized odds",
        "the larger of the |TPR gap| and the |FPR gap| between the groups, fairlearn's "
        "equalized_odds_difference (0 = equal, at most 1)",
        ("TPR", "TNR"),
    ),
    "demographic_parity": (
        _rates("demographic_parity", ["selection_rate"]),
        "demographic parity",
        "|selection-rate gap| between the groups, fairlearn's demographic_parity_difference "
        "(0 = equal, at most 1)",
        ("selection rate",),
    ),
}
_RATIOS = {
    "equal_opportunity_ratio": ["TPR"],
    "equalized_odds_ratio": ["TPR", "FPR"],
    "demographic_parity_ratio": ["selection_rate"],
}

#: Names of the built-in objectives.
OBJECTIVE_NAMES = tuple(_REGISTRY) + tuple(_RATIOS)
#: The fairness objectives (costs): name -> (label, description, rates shown).
FAIRNESS_OBJECTIVES = {
    name: entry[1:]
    for name, entry in _REGISTRY.items()
    if name not in ("log_loss", "zero_one_loss")
}


def is_log_loss(f):
    """Whether ``f`` is the built-in ``"log_loss"`` (whose Hessian in a GLM's parameters is
    known in closed form, and which is stationary at the fit on the training data)."""
    return isinstance(f, _LogLoss)


def is_zero_one_loss(f):
    """Whether ``f`` is the built-in ``"zero_one_loss"``."""
    return isinstance(f, _ZeroOneLoss)


def resolve_objective(objective):
    """Turn a name, an EvaluationFunction or a fairlearn metric into an EvaluationFunction."""
    if isinstance(objective, EvaluationFunction):
        return objective
    if isinstance(objective, str):
        if objective in _RATIOS:
            return RateObjective(
                objective, [RATES[k] for k in _RATIOS[objective]], aggregate="ratio"
            )
        if objective not in _REGISTRY:
            raise ValueError(
                f"Unknown objective {objective!r}. Valid names: {', '.join(OBJECTIVE_NAMES)}; "
                "or pass an EvaluationFunction, or a fairlearn metric such as "
                "fairlearn.metrics.equalized_odds_difference."
            )
        return _REGISTRY[objective][0]()
    if type(objective).__name__ == "MetricFrame":
        raise TypeError(
            "objective must be a recipe, not a computed MetricFrame (its values belong to one "
            "set of predictions): pass make_metric_frame_objective(metrics, aggregate="
            "'difference') with the MetricFrame's metrics, or a fairlearn metric function."
        )
    if callable(objective):
        known = fairlearn_objective(objective)
        if known is not None:
            return known
        return _FairlearnMetric(objective)
    raise TypeError(
        "objective must be a name, an EvaluationFunction, a fairlearn metric callable or a list "
        f"of those; got {type(objective).__name__}: {objective!r}"
    )
