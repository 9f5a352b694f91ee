"""fairlearn metrics as objectives: functions, partials, derived metrics, MetricFrame recipes.

An objective built from fairlearn is valued exactly as fairlearn values it. When its base
metrics are rates the package knows (:data:`~fairlearn_divine._objectives._rates.RATES`:
``true_positive_rate``, ``false_positive_rate``, ``true_negative_rate``,
``false_negative_rate``, ``selection_rate``, scikit-learn's ``accuracy_score``,
``recall_score`` and ``zero_one_loss``) it is a
:class:`~fairlearn_divine._objectives._rates.RateObjective` with a soft-rate gradient;
otherwise it is valued by fairlearn's ``MetricFrame`` on every call and has no gradient
(refit-based methods only).
"""

from __future__ import annotations

import functools

import numpy as np

from ._base import EvaluationFunction
from ._rates import AGGREGATES, RATES, RateObjective

__all__ = ["fairlearn_objective", "make_metric_frame_objective"]

# keyword arguments of a partial that do not change what a base rate computes
_NEUTRAL_KWARGS = {"pos_label": 1, "zero_division": None}


def _base_rates():
    from fairlearn import metrics as flm
    from sklearn import metrics as skm

    return {
        flm.true_positive_rate: "TPR",
        flm.false_positive_rate: "FPR",
        flm.true_negative_rate: "TNR",
        flm.false_negative_rate: "FNR",
        flm.selection_rate: "selection_rate",
        skm.accuracy_score: "accuracy",
        skm.recall_score: "TPR",
        skm.zero_one_loss: "error_rate",
    }


def _rate_of(metric):
    """The known rate a base metric (function or neutral partial) computes, or None."""
    kwargs = {}
    while isinstance(metric, functools.partial):
        if metric.args:
            return None
        kwargs.update(metric.keywords)
        metric = metric.func
    for key, value in kwargs.items():
        if key == "pos_label" and value == 1:
            continue
        if key == "zero_division":
            continue
        return None
    return _base_rates().get(metric)


def _disparity_functions():
    from fairlearn import metrics as flm

    # name -> (rates, aggregate, combine by default)
    return {
        flm.demographic_parity_difference: (["selection_rate"], "difference"),
        flm.demographic_parity_ratio: (["selection_rate"], "ratio"),
        flm.equal_opportunity_difference: (["TPR"], "difference"),
        flm.equal_opportunity_ratio: (["TPR"], "ratio"),
        flm.equalized_odds_difference: (["TPR", "FPR"], "difference"),
        flm.equalized_odds_ratio: (["TPR", "FPR"], "ratio"),
    }


class _MetricFrameValue(EvaluationFunction):
    """Exact value of a MetricFrame recipe through fairlearn itself (no gradient)."""

    requires_sensitive_features = True
    requires_binary = True

    def __init__(
        self, name, metrics, aggregate, method, combine, greater_is_better, control_features=None
    ):
        self.control_features = None if control_features is None else tuple(control_features)
        self.name = name
        self.metrics = metrics
        self.aggregate = aggregate
        self.method = method
        self.combine = combine
        self.greater_is_better = bool(greater_is_better)

    def value(self, y_true, proba, *, sensitive_features=None):
        from fairlearn.metrics import MetricFrame

        y_pred = np.argmax(proba, axis=1)
        codes = np.asarray(sensitive_features)
        control = None
        if codes.ndim == 2:  # (control level, sensitive group)
            control, codes = codes[:, 0], codes[:, 1]
        mf = MetricFrame(
            metrics=self.metrics,
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=codes,
            control_features=control,
        )
        if self.aggregate in ("difference", "ratio"):
            result = getattr(mf, self.aggregate)(method=self.method)
        else:
            result = getattr(mf, self.aggregate)()
        # one row per control level (a single row without control features), one column per
        # metric: combine the metrics, then take the worst level
        values = np.asarray(result, dtype=float)
        values = values.reshape(-1, 1) if control is not None and values.ndim == 1 else values
        values = np.atleast_2d(values)
        if self.combine == "sum":
            per_level = values.sum(axis=1)
        elif self.combine == "mean":
            per_level = values.mean(axis=1)
        else:
            per_level = values.min(axis=1) if self.greater_is_better else values.max(axis=1)
        return float(per_level.min() if self.greater_is_better else per_level.max())

    def gradient(self, y_true, proba, *, sensitive_features=None):
        raise NotImplementedError(
            f"Objective {self.name!r} is built on base metrics without a known soft-rate "
            "surrogate, so influence-style methods cannot use it. Use a refit-based method "
            "(method='loo' or 'data_shapley'), or build it from rates the package knows "
            "(true_positive_rate, false_positive_rate, true_negative_rate, false_negative_rate, "
            "selection_rate, accuracy_score, recall_score, zero_one_loss), or give your own "
            "gradient with make_evaluation_function."
        )

    @property
    def has_gradient(self):
        return False


def make_metric_frame_objective(
    metrics,
    *,
    aggregate="difference",
    method="between_groups",
    combine="max",
    greater_is_better=None,
    control_features=None,
    name=None,
):
    """An objective from a fairlearn ``MetricFrame`` recipe: base metrics and an aggregation.

    The value on evaluation data is what
    ``MetricFrame(metrics=metrics, y_true=y, y_pred=model.predict(X),
    sensitive_features=A).<aggregate>(...)`` gives, several metrics combined by ``combine``.

    Parameters
    ----------
    metrics : callable or dict of str to callable
        Base metrics ``metric(y_true, y_pred)`` as a ``MetricFrame`` takes them, e.g.
        ``fairlearn.metrics.true_positive_rate``, ``functools.partial(recall_score,
        pos_label=1)``.
    aggregate : {"difference", "ratio", "group_max", "group_min"}, default="difference"
        The ``MetricFrame`` method applied per metric.
    method : {"between_groups", "to_overall"}, default="between_groups"
        For ``"difference"`` and ``"ratio"``.
    combine : {"max", "mean", "sum"}, default="max"
        How several metrics combine: ``"max"`` is the worst case (fairlearn's
        ``agg="worst_case"``; for a ratio the smallest), ``"mean"`` fairlearn's ``agg="mean"``.
    greater_is_better : bool, optional
        Orientation of the value. Default: False for differences, True for ratios; for
        ``group_max`` / ``group_min`` inferred from the rates (True for TPR, TNR, accuracy) and
        required when it cannot be (selection rate, unknown metrics).
    control_features : str or list of str (or int positions), optional
        Columns of the sensitive features (pass them together, e.g. as a DataFrame or column
        names of X) that are MetricFrame's ``control_features``: the aggregate is computed
        within each control level, as ``MetricFrame(..., control_features=...)`` does, and the
        objective is the worst level's value (the largest cost, or the smallest ratio).
    name : str, optional

    Returns
    -------
    EvaluationFunction
        With a soft-rate gradient when every base metric is a rate the package knows
        (see the module docstring); otherwise valued by fairlearn and usable by refit-based
        methods only. Importance scores keep the package's convention -- positive = the point
        helps -- whatever the orientation: for ``greater_is_better=True`` the score is
        ``f(theta) - f(theta without i)``.

    Examples
    --------
    >>> from fairlearn.metrics import false_positive_rate, true_positive_rate
    >>> from fairlearn_divine import make_metric_frame_objective
    >>> f = make_metric_frame_objective(
    ...     {"tpr": true_positive_rate, "fpr": false_positive_rate}, aggregate="difference")
    >>> f.has_gradient
    True
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}.")
    if callable(metrics):
        named = {getattr(metrics, "__name__", "metric"): metrics}
    elif isinstance(metrics, dict) and metrics and all(callable(m) for m in metrics.values()):
        named = dict(metrics)
    else:
        raise TypeError(
            "metrics must be a callable metric(y_true, y_pred) or a non-empty dict of them, got "
            f"{type(metrics).__name__}: {metrics!r}"
        )
    if name is None:
        name = f"{'+'.join(named)}_{aggregate}"
    if isinstance(control_features, str | int):
        control_features = [control_features]
    keys = [_rate_of(m) for m in named.values()]
    if all(k is not None for k in keys):
        return RateObjective(
            name,
            [RATES[k] for k in keys],
            aggregate=aggregate,
            method=method,
            combine=combine,
            greater_is_better=greater_is_better,
            control_features=control_features,
        )
    if greater_is_better is None:
        if aggregate in ("difference", "ratio"):
            greater_is_better = aggregate == "ratio"
        else:
            raise ValueError(
                f"aggregate={aggregate!r} of metrics the package does not know needs "
                "greater_is_better=True or False."
            )
    return _MetricFrameValue(
        name,
        metrics if callable(metrics) else named,
        aggregate,
        method,
        combine,
        greater_is_better,
        control_features,
    )


def fairlearn_objective(metric):
    """The objective for a fairlearn metric callable (function, partial or derived metric).

    Returns ``None`` when ``metric`` is not one the package recognises.
    """
    kwargs = {}
    func = metric
    while isinstance(func, functools.partial):
        if func.args:
            return None
        kwargs = {**func.keywords, **kwargs}
        func = func.func
    known = _disparity_functions().get(func)
    if known is not None:
        rates, aggregate = known
        method = kwargs.pop("method", "between_groups")
        agg = kwargs.pop("agg", "worst_case")
        if kwargs:
            return None
        combine = {"worst_case": "max", "mean": "mean"}.get(agg)
        if combine is None:
            raise ValueError(f"agg must be one of 'worst_case' or 'mean', got {agg!r}.")
        name = getattr(func, "__name__", "metric")
        return RateObjective(
            name, [RATES[r] for r in rates], aggregate=aggregate, method=method, combine=combine
        )
    # make_derived_metric(metric=..., transform=...): fairlearn keeps the recipe in attributes
    base = getattr(func, "_metric_fn", None)
    transform = getattr(func, "_transform", None)
    if base is not None and transform in AGGREGATES:
        method = kwargs.pop("method", "between_groups")
        if kwargs:
            return None
        key = _rate_of(base)
        name = f"{getattr(base, '__name__', 'metric')}_{transform}"
        if key is None:
            greater = transform == "ratio" if transform in ("difference", "ratio") else None
            if greater is None:
                return None
            return _MetricFrameValue(name, base, transform, method, "max", greater)
        return RateObjective(name, [RATES[key]], aggregate=transform, method=method)
    return None
