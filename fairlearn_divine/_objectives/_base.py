"""The evaluation-function protocol and user-defined evaluation functions."""

from __future__ import annotations

import numpy as np

__all__ = ["EvaluationFunction", "clip_proba", "make_evaluation_function"]


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
    greater_is_better : bool
        Orientation of the value (default False: a cost). Importance scores keep the package's
        convention either way -- positive = the point helps: for a value where greater is
        better (e.g. a fairlearn ratio) ``scores[i] = f(theta) - f(theta without i)``.
    """

    name = "custom"
    requires_sensitive_features = False
    requires_binary = False
    greater_is_better = False

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


def clip_proba(proba):
    eps = np.finfo(proba.dtype).eps
    return np.clip(proba, eps, 1 - eps)


class _CallableEvaluationFunction(EvaluationFunction):
    def __init__(
        self,
        value,
        gradient,
        name,
        requires_sensitive_features,
        requires_binary,
        greater_is_better=False,
    ):
        self.greater_is_better = bool(greater_is_better)
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


def make_evaluation_function(
    value,
    gradient=None,
    *,
    name=None,
    requires_sensitive_features=False,
    requires_binary=False,
    greater_is_better=False,
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
    greater_is_better : bool, default=False
        Whether higher values are better (scores keep "positive = the point helps").

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
        greater_is_better,
    )
