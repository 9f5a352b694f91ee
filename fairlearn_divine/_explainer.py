"""A SHAP-style explainer whose "features" are the training points.

``DivineExplainer(estimator, X_train, y_train)(X, y)`` returns a plain :class:`shap.Explanation`
with ``values[j, i]`` = importance of training point *i* for the loss (log loss) at sample *j*,
in the package's sign convention (``loss(theta without i) - loss(theta)`` at sample *j*:
positive = point *i* helps sample *j*, negative = it hurts). ``base_values[j]`` is the loss at
sample *j*, ``feature_names`` name the training points and ``display_data`` describes each (label
and group). It works with ``shap.plots.bar``, ``heatmap``, ``beeswarm`` and
``shap.plots.group_difference`` (which training points drive the loss gap between two groups of
test samples).

Additivity: ``base_values + values.sum(1)`` is *not* the loss of any model for influence or
leave-one-out scores (removing two points is not the sum of removing each); waterfall-style
readings hold only for Data Shapley, whose values sum to :math:`f(\\emptyset) - f(D)` by the
efficiency axiom.
"""

from __future__ import annotations

import warnings

import numpy as np

with warnings.catch_warnings():
    # shap's import touches matplotlib APIs that warn about their own future deprecations
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    import shap

from ._core.validation import check_X, check_y, n_rows
from ._forcing import minimal_forcing_subset
from ._importance import training_point_importance
from ._objectives import (
    EvaluationFunction,
    clip_proba,
    resolve_objective,
    resolve_sensitive_features,
)
from ._selection import select_diverse_influential

__all__ = ["DivineExplainer"]


class _PointLoss(EvaluationFunction):
    """Log loss at one evaluation row (used to explain many samples in one call)."""

    def __init__(self, row):
        self.row = row
        self.name = f"log_loss[{row}]"

    def value(self, y_true, proba, *, sensitive_features=None):
        return float(-np.log(clip_proba(proba[self.row, y_true[self.row]])))

    def gradient(self, y_true, proba, *, sensitive_features=None):
        grad = np.zeros_like(proba, dtype=float)
        grad[self.row, y_true[self.row]] = -1.0 / clip_proba(proba[self.row, y_true[self.row]])
        return grad


class DivineExplainer(shap.Explainer):
    """Explain a fitted classifier by its training points (SHAP conventions).

    Parameters
    ----------
    estimator : fitted classifier
        Fitted on ``(X_train, y_train)``.
    X_train, y_train : training data
    sensitive_features : array-like, optional
        Sensitive features of the training rows (for fairness objectives and descriptions).
    method : str, default="influence"
        Importance method of :func:`~fairlearn_divine.training_point_importance`.
    sample_weight : array-like, optional
        The weights the estimator was fitted with.
    point_names : sequence of str, optional
        Names of the training points (default: their row index).
    **method_options
        Passed to :func:`~fairlearn_divine.training_point_importance`.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from fairlearn_divine import DivineExplainer
    >>> from fairlearn_divine.datasets import make_divine_synthetic
    >>> data = make_divine_synthetic(n_samples=200, n_outliers=5, random_state=0)
    >>> model = LogisticRegression().fit(data.X, data.y)
    >>> explainer = DivineExplainer(model, data.X, data.y)
    >>> explanation = explainer(data.X[:3], data.y[:3])
    >>> explanation.values.shape
    (3, 205)
    """

    def __init__(
        self,
        estimator,
        X_train,
        y_train,
        *,
        sensitive_features=None,
        method="influence",
        sample_weight=None,
        point_names=None,
        **method_options,
    ):
        # masker=None: the training data is kept here, in full (a matrix masker would
        # silently subsample it to 100 rows)
        super().__init__(estimator.predict_proba, masker=None)
        self.estimator = estimator
        self.X_train = check_X(X_train, "X_train")
        self.y_train = check_y(y_train, "y_train")
        n = n_rows(self.X_train)
        if len(self.y_train) != n:
            raise ValueError(f"X_train has {n} rows but y_train has {len(self.y_train)} entries.")
        sensitive_features = resolve_sensitive_features(sensitive_features, self.X_train)
        self.sensitive_features = sensitive_features
        self.method = method
        self.sample_weight = sample_weight
        self.method_options = method_options
        if point_names is None:
            point_names = [str(i) for i in range(n)]
        point_names = [str(p) for p in point_names]
        if len(point_names) != n:
            raise ValueError(f"point_names has {len(point_names)} entries; X_train has {n} rows.")
        self.point_names = point_names
        groups = None
        if sensitive_features is not None:
            sf = np.asarray(sensitive_features, dtype=object)
            groups = sf if sf.ndim == 1 else np.array([tuple(r) for r in sf], dtype=object)
        self.point_descriptions = np.array(
            [
                f"y={self.y_train[i]}" + ("" if groups is None else f", group={groups[i]}")
                for i in range(n)
            ],
            dtype=object,
        )

    def __call__(self, X, y, *, progress=None):
        """Importance of every training point for the loss at each sample of ``X``.

        Returns
        -------
        shap.Explanation
            ``values`` of shape (n_samples, n_train); ``base_values`` the per-sample loss.
        """
        X = check_X(X, "X")
        y = check_y(y, "y")
        m = n_rows(X)
        if len(y) != m:
            raise ValueError(f"X has {m} rows but y has {len(y)} entries.")
        result = training_point_importance(
            self.estimator,
            self.X_train,
            self.y_train,
            method=self.method,
            objective=[_PointLoss(j) for j in range(m)],
            X_eval=X,
            y_eval=y,
            sample_weight=self.sample_weight,
            progress=progress,
            **self.method_options,
        )
        values = np.atleast_2d(result.scores)
        display = np.tile(self.point_descriptions, (m, 1))
        return shap.Explanation(
            values=values,
            base_values=np.asarray(result.baseline, dtype=float),
            data=np.zeros_like(values),
            display_data=display,
            feature_names=list(self.point_names),
        )

    def explain_global(
        self,
        *,
        objective="equal_accuracy",
        n_points=5,
        diversity="sum_redundancy",
        harmful=None,
        X_eval=None,
        y_eval=None,
        sensitive_features_eval=None,
        **options,
    ):
        """DIVINE points for ``objective`` over the training (or evaluation) data.

        ``harmful=None`` selects harmful points (negative scores) for fairness objectives and
        helpful ones (positive scores) for losses. Returns a
        :class:`~fairlearn_divine.DiverseSelection`.
        """
        f = resolve_objective(objective)
        if harmful is None:
            harmful = bool(f.requires_sensitive_features)
        return select_diverse_influential(
            self.estimator,
            self.X_train,
            self.y_train,
            n_points,
            objective=objective,
            method=self.method,
            harmful=harmful,
            sensitive_features=self.sensitive_features,
            X_eval=X_eval,
            y_eval=y_eval,
            sensitive_features_eval=sensitive_features_eval,
            sample_weight=self.sample_weight,
            diversity=diversity,
            **options,
        )

    def explain_local(self, x, y, *, n_points=5, diversity="sum_redundancy", **options):
        """DIVINE points for the loss at one sample ``x`` with label ``y``."""
        X_eval = _one_row(x, self.X_train)
        return select_diverse_influential(
            self.estimator,
            self.X_train,
            self.y_train,
            n_points,
            objective="log_loss",
            method=self.method,
            X_eval=X_eval,
            y_eval=np.atleast_1d(y),
            sample_weight=self.sample_weight,
            diversity=diversity,
            **options,
        )

    def forcing_subset(self, x, **options):
        """Minimal forcing subset of the prediction at ``x`` (verified by refits)."""
        return minimal_forcing_subset(
            self.estimator,
            self.X_train,
            self.y_train,
            x,
            sample_weight=self.sample_weight,
            **options,
        )


def _one_row(x, X_train):
    if hasattr(X_train, "iloc"):
        import pandas as pd

        return x if isinstance(x, pd.DataFrame) else pd.DataFrame([x], columns=X_train.columns)
    arr = np.asarray(x)
    return arr[None, :] if arr.ndim == 1 else arr
