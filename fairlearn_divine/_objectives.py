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
import pandas as pd

__all__ = ["EvaluationFunction", "make_evaluation_function"]


class EvaluationFunction:
    """Base class for evaluation functions (costs: lower is better).

    Subclass it and implement :meth:`value` and, for influence-style methods, :meth:`gradient`.
    Both receive

    * ``y_true`` -- integer class indices of shape ``(n_samples,)``: position of each label in
      the estimator's ``classes_``;
    * ``proba`` -- predicted probabilities of shape ``(n_samples, n_classes)``, columns in
      ``classes_`` order;
    * ``sensitive_features`` -- integer group codes of shape ``(n_samples,)`` (columns of a
      multi-column input are merged into one group per combination, as fairlearn does), or
      ``None`` when the function does not need them.

    Attributes
    ----------
    name : str
        Name used in results.
    requires_sensitive_features : bool
        Whether ``sensitive_features`` must be given.
    requires_binary : bool
        Whether the target must have exactly two classes.
    """

    name = "custom"
    requires_sensitive_features = False
    requires_binary = False

    def value(self, y_true, proba, *, sensitive_features=None):
        """Value of the cost (the number reported to users)."""
        raise NotImplementedError

    def gradient(self, y_true, proba, *, sensitive_features=None):
        """Derivative of (a smooth surrogate of) the cost with respect to ``proba``."""
        raise NotImplementedError(
            f"Evaluation function {self.name!r} has no gradient, so it can only be valued by "
            "refitting: use method='loo' (or another refit-based method)."
        )

    def value_and_gradient(self, y_true, proba, *, sensitive_features=None):
        """Both at once (override when they share work)."""
        return (
            self.value(y_true, proba, sensitive_features=sensitive_features),
            self.gradient(y_true, proba, sensitive_features=sensitive_features),
        )

    @property
    def has_gradient(self):
        """Whether :meth:`gradient` is implemented."""
        return type(self).gradient is not EvaluationFunction.gradient

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


def _clip(proba):
    eps = np.finfo(proba.dtype).eps
    return np.clip(proba, eps, 1 - eps)


class _LogLoss(EvaluationFunction):
    name = "log_loss"

    def value(self, y_true, proba, *, sensitive_features=None):
        p = _clip(proba[np.arange(len(y_true)), y_true])
        return float(-np.mean(np.log(p)))

    def gradient(self, y_true, proba, *, sensitive_features=None):
        n = len(y_true)
        grad = np.zeros_like(proba, dtype=float)
        rows = np.arange(n)
        grad[rows, y_true] = -1.0 / (n * _clip(proba[rows, y_true]))
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


class _CallableEvaluationFunction(EvaluationFunction):
    def __init__(self, value, gradient, name, requires_sensitive_features, requires_binary):
        self._value = value
        self._gradient = gradient
        self.name = name
        self.requires_sensitive_features = requires_sensitive_features
        self.requires_binary = requires_binary

    def value(self, y_true, proba, *, sensitive_features=None):
        if self.requires_sensitive_features:
            return float(self._value(y_true, proba, sensitive_features=sensitive_features))
        return float(self._value(y_true, proba))

    def gradient(self, y_true, proba, *, sensitive_features=None):
        if self._gradient is None:
            return super().gradient(y_true, proba, sensitive_features=sensitive_features)
        if self.requires_sensitive_features:
            out = self._gradient(y_true, proba, sensitive_features=sensitive_features)
        else:
            out = self._gradient(y_true, proba)
        return np.asarray(out, dtype=float)

    @property
    def has_gradient(self):
        return self._gradient is not None


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


def _builtin(name):
    if name == "log_loss":
        return _LogLoss()
    if name == "zero_one_loss":
        return _ZeroOneLoss()
    if name == "equal_accuracy":
        return _GroupRateGap("equal_accuracy", [_TPR, _TNR])
    if name == "equal_opportunity":
        return _GroupRateGap("equal_opportunity", [_TPR])
    if name == "equalized_odds":
        return _GroupRateGap("equalized_odds", [_TPR, _FPR])
    if name == "demographic_parity":
        return _GroupRateGap("demographic_parity", [_SELECTION])
    return None


OBJECTIVE_NAMES = (
    "log_loss",
    "zero_one_loss",
    "equal_accuracy",
    "equal_opportunity",
    "equalized_odds",
    "demographic_parity",
)


def _fairlearn_surrogates():
    from fairlearn import metrics as flm

    return {
        flm.demographic_parity_difference: _GroupRateGap("demographic_parity", [_SELECTION]),
        flm.equal_opportunity_difference: _GroupRateGap("equal_opportunity", [_TPR]),
        flm.equalized_odds_difference: _GroupRateGap(
            "equalized_odds_difference", [_TPR, _FPR], agg="max"
        ),
    }


def make_evaluation_function(
    value, gradient=None, *, name=None, requires_sensitive_features=False, requires_binary=False
):
    """Build an :class:`EvaluationFunction` from a value callable and an optional gradient.

    Parameters
    ----------
    value : callable
        ``value(y_true, proba)`` -> float, or ``value(y_true, proba, sensitive_features=codes)``
        when ``requires_sensitive_features=True``. ``y_true`` holds class indices, ``proba``
        the predicted probabilities (see :class:`EvaluationFunction`). Lower is better.
    gradient : callable, optional
        Same signature, returns an array shaped like ``proba``: the derivative of (a smooth
        surrogate of) the value. Without it only refit-based methods (``method="loo"``) apply.
    name : str, optional
        Name for results; defaults to ``value.__name__``.
    requires_sensitive_features, requires_binary : bool, default=False
        Declare what the function needs so that inputs are checked up front.

    Returns
    -------
    EvaluationFunction

    Examples
    --------
    >>> import numpy as np
    >>> from fairlearn_divine import make_evaluation_function
    >>> def brier(y, p):
    ...     return np.mean(np.sum((p - np.eye(p.shape[1])[y]) ** 2, axis=1))
    >>> def brier_grad(y, p):
    ...     return 2 * (p - np.eye(p.shape[1])[y]) / len(y)
    >>> f = make_evaluation_function(brier, brier_grad, name="brier")
    >>> round(f.value(np.array([0, 1]), np.array([[0.8, 0.2], [0.4, 0.6]])), 3)
    0.2
    """
    if not callable(value):
        raise TypeError(f"value must be callable, got {type(value).__name__}: {value!r}")
    if gradient is not None and not callable(gradient):
        raise TypeError(f"gradient must be callable or None, got {type(gradient).__name__}")
    return _CallableEvaluationFunction(
        value,
        gradient,
        name or getattr(value, "__name__", "custom"),
        requires_sensitive_features,
        requires_binary,
    )


def resolve_objective(objective):
    """Turn a name, an EvaluationFunction or a fairlearn metric into an EvaluationFunction."""
    if isinstance(objective, EvaluationFunction):
        return objective
    if isinstance(objective, str):
        builtin = _builtin(objective)
        if builtin is None:
            raise ValueError(
                f"Unknown objective {objective!r}. Valid names: {', '.join(OBJECTIVE_NAMES)}; "
                "or pass an EvaluationFunction, or a fairlearn metric such as "
                "fairlearn.metrics.equalized_odds_difference."
            )
        return builtin
    if callable(objective):
        surrogate = _fairlearn_surrogates().get(objective)
        return _FairlearnMetric(objective, surrogate)
    raise TypeError(
        "objective must be a name, an EvaluationFunction, a fairlearn metric callable or a list "
        f"of those; got {type(objective).__name__}: {objective!r}"
    )


def encode_sensitive_features(sensitive_features, n_samples, *, argname="sensitive_features"):
    """Merge sensitive feature columns into integer group codes, as fairlearn does.

    Returns ``(codes, names)`` where ``codes`` has shape ``(n_samples,)`` and ``names`` lists
    the group of each code (a tuple for several columns).
    """
    if isinstance(sensitive_features, pd.DataFrame):
        frame = sensitive_features.reset_index(drop=True)
    elif isinstance(sensitive_features, pd.Series):
        frame = sensitive_features.reset_index(drop=True).to_frame()
    else:
        arr = np.asarray(sensitive_features)
        if arr.ndim == 0 or arr.ndim > 2:
            raise ValueError(
                f"{argname} must be 1-D or 2-D array-like, got an array of shape {arr.shape}."
            )
        arr = arr.reshape(len(arr), -1)
        frame = pd.DataFrame({k: arr[:, k] for k in range(arr.shape[1])})
    if len(frame) != n_samples:
        raise ValueError(
            f"{argname} has {len(frame)} rows but the data it describes has {n_samples}."
        )
    if frame.shape[1] == 0:
        raise ValueError(f"{argname} has no columns.")
    codes = []
    uniques = []
    for col in frame.columns:
        c, u = pd.factorize(frame[col], sort=True)
        if (c < 0).any():
            raise ValueError(f"{argname} contains missing values (column {col!r}).")
        codes.append(c)
        uniques.append(u)
    if len(codes) == 1:
        return codes[0].astype(np.intp), list(uniques[0])
    # merge columns: one code per observed combination, in lexicographic order
    flat = np.ravel_multi_index(tuple(codes), tuple(len(u) for u in uniques))
    combos, group = np.unique(flat, return_inverse=True)
    rows = np.unravel_index(combos, tuple(len(u) for u in uniques))
    names = [
        tuple(uniques[k][rows[k][j]] for k in range(len(uniques))) for j in range(len(combos))
    ]
    return group.astype(np.intp), names
