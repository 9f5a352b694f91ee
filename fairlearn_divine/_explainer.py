"""A SHAP-style explainer whose "features" are the training points.

``DivineExplainer(estimator, X_train, y_train)(X, y)`` returns a plain :class:`shap.Explanation`
with ``values[j, i]`` = importance of training point *i* for the loss (log loss) at sample *j*,
in the package's sign convention (``loss(theta without i) - loss(theta)`` at sample *j*:
positive = point *i* helps sample *j*, negative = it hurts).
:meth:`DivineExplainer.explain_fairness` explains a fairness objective over a set of samples
instead (one row). The fields of the Explanation are set so that shap's plots name what they
show:

``feature_names``
    ``"train point <label>"``, with the index label of the row of ``X_train`` (a DataFrame's
    index, e.g. shuffled by ``train_test_split``; positions for arrays; or ``point_names=``).
``display_data``
    What each training point is: ``"(y=<label>)"``, or ``"(y=<label>, group=<group>)"`` when
    the explainer has sensitive features (``shap.plots.bar(explanation[j])`` shows
    ``(y=1, group=0) = train point 17``; the parentheses keep shap from stripping a trailing
    ``0`` as it does for numbers).
``output_names``
    What the values are, e.g. ``"change of log loss when the training point is removed
    (first-order estimate)"`` (a string, kept by slicing): the axis label that
    :func:`fairlearn_divine.plotting.plot_training_point_importance` puts where shap writes
    "SHAP value".
``base_values``
    The objective at the fitted model: the loss at each sample, or the fairness objective.
``instance_names``
    The row labels of the explained ``X``.
``data``
    ``None``: a training point has no "feature value" at a sample, so shap's beeswarm draws no
    colour bar.

shap hard-codes a few labels (the x axis "SHAP value (impact on model output)", "Sum of N other
features", heatmap's "f(x)" and "Instances"); the plotting helper replaces them.

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

from ._core.results import row_index
from ._core.validation import (
    as_row,
    check_feature_names,
    check_X,
    check_y,
    encode_labels,
    feature_names_checked,
    fitted_classes,
    n_rows,
)
from ._forcing import minimal_forcing_subset
from ._importance import METHODS, training_point_importance
from ._objectives import (
    FAIRNESS_OBJECTIVES,
    EvaluationFunction,
    clip_proba,
    encode_sensitive_features,
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


def _objective_phrase(f):
    """How an axis label names the objective ``f``: "log loss", "equalized odds gap", ..."""
    if isinstance(f, _PointLoss):
        return "log loss"
    name = str(getattr(f, "name", "objective"))
    if name == "log_loss":
        return "log loss"
    if name == "zero_one_loss":
        return "error rate"
    if name in FAIRNESS_OBJECTIVES:
        return f"{FAIRNESS_OBJECTIVES[name][0]} gap"
    return name.replace("_", " ")


def _describe_values(f, method, result):
    """What the values of an Explanation are, for ``output_names`` and axis labels.

    ``"<quantity> (<how it is computed>)"``, e.g. ``"change of log loss when the training point
    is removed (first-order estimate)"``. Scores of greater-is-better objectives are negated by
    :func:`training_point_importance` (positive = helps), so they read "decrease of ...".
    """
    what = _objective_phrase(f)
    change = "decrease" if getattr(f, "greater_is_better", False) else "change"
    refits = "n_refits" in result
    if method == "data_shapley":
        gain = "increase" if getattr(f, "greater_is_better", False) else "reduction"
        return f"{gain} of {what} credited to the training point (Data Shapley estimate)"
    if method == "counterfactual":
        how = "refitted" if refits else "first-order estimate"
        return f"{change} of {what} when the training point's label is flipped ({how})"
    how = {
        "influence": "first-order estimate",
        "one_step_newton": "one-step Newton estimate",
        "loo": "exact, by refitting",
    }.get(method, method)
    return f"{change} of {what} when the training point is removed ({how})"


class DivineExplainer(shap.Explainer):
    """Explain a fitted classifier by its training points (SHAP conventions).

    Parameters
    ----------
    estimator : fitted classifier
        Fitted on ``(X_train, y_train)``.
    X_train, y_train : training data
    sensitive_features : array-like, Series, DataFrame, dict or column name(s) of X_train, \
optional
        Sensitive features of the training rows (for :meth:`explain_global` and the
        descriptions of the points).
    method : str, default="auto"
        Importance method of :func:`~fairlearn_divine.training_point_importance`.
    sample_weight : array-like, optional
        The weights the estimator was fitted with.
    point_names : sequence, optional
        Labels of the training points. Default: the index labels of ``X_train`` when it is a
        DataFrame (so that a shuffled split keeps its row labels), else positions ``0..n-1``.
        The Explanation's ``feature_names`` are ``"train point <label>"``.
    **method_options
        Passed to :func:`~fairlearn_divine.training_point_importance`.

    Attributes
    ----------
    point_names : list of str
        The labels of the training points, by position.
    point_index : pandas.Index
        The index of ``X_train`` (positions for arrays): ``X_train.loc[point_index[i]]`` is
        the training point of column *i* of an Explanation.
    point_descriptions : ndarray of str
        ``"y=<label>"`` (and ``", group=<group>"``) per training point; the Explanation's
        ``display_data`` puts them in parentheses.

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
    >>> explanation.feature_names[:2]
    ['train point 0', 'train point 1']
    """

    def __init__(
        self,
        estimator,
        X_train,
        y_train,
        *,
        sensitive_features=None,
        method="auto",
        sample_weight=None,
        point_names=None,
        **method_options,
    ):
        fitted_classes(estimator)  # a fitted classifier (NotFittedError otherwise), up front
        if method != "auto" and method not in METHODS:
            raise ValueError(
                f"Unknown method {method!r}. Valid methods: 'auto', "
                f"{', '.join(map(repr, METHODS))}."
            )
        # masker=None: the training data is kept here, in full (a matrix masker would
        # silently subsample it to 100 rows)
        super().__init__(estimator.predict_proba, masker=None)
        self.estimator = estimator
        self.X_train = check_X(X_train, "X_train")
        check_feature_names(estimator, self.X_train, "X_train")
        self.y_train = check_y(y_train, "y_train")
        n = n_rows(self.X_train)
        if len(self.y_train) != n:
            raise ValueError(f"X_train has {n} rows but y_train has {len(self.y_train)} entries.")
        sensitive_features = resolve_sensitive_features(sensitive_features, self.X_train)
        groups = None
        if sensitive_features is not None:
            # validates the length (the error names sensitive_features); several columns merge
            # into one group per combination, named like "(a, b)"
            codes, group_names = encode_sensitive_features(sensitive_features, n)
            shown = [
                "(" + ", ".join(map(str, g)) + ")" if isinstance(g, tuple) else str(g)
                for g in group_names
            ]
            groups = [shown[c] for c in codes]
        self.sensitive_features = sensitive_features
        self.method = method
        self.sample_weight = sample_weight
        self.method_options = method_options
        self.point_index = row_index(self.X_train, n)
        if point_names is None:
            point_names = list(self.point_index)
        elif isinstance(point_names, str):
            raise TypeError("point_names must be a sequence of names, one per training point.")
        point_names = [str(p) for p in point_names]
        if len(point_names) != n:
            raise ValueError(f"point_names has {len(point_names)} entries; X_train has {n} rows.")
        self.point_names = point_names
        self.point_descriptions = np.array(
            [
                f"y={self.y_train[i]}" + ("" if groups is None else f", group={groups[i]}")
                for i in range(n)
            ],
            dtype=object,
        )

    def __call__(self, X, y=None, *, progress=None):
        """Importance of every training point for the loss at each sample of ``X``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            The samples to explain.
        y : array-like of shape (n_samples,), optional
            Their labels. Default: the model's predictions ``estimator.predict(X)``; the values
            then explain the loss of the model's *own* prediction at each sample (how much each
            training point supports the predicted label), not its loss on the true label.
        progress : bool, optional
            Progress bar for refit-based methods.

        Returns
        -------
        shap.Explanation
            ``values`` of shape (n_samples, n_train): ``values[j, i]`` is the change of the log
            loss at sample *j* when training point *i* is removed (positive = the point helps);
            ``base_values`` the loss at each sample; ``feature_names``, ``display_data``,
            ``output_names`` and ``instance_names`` as described in the module notes. Plot it
            with :func:`fairlearn_divine.plotting.plot_training_point_importance`.
        """
        X, y, m = self._check_samples(X, y)
        points = [_PointLoss(j) for j in range(m)]
        result = self._importance(points, X, y, None, progress)
        return self._explanation(
            np.atleast_2d(result.scores),
            np.asarray(result.baseline, dtype=float),
            _describe_values(points[0], result["method"], result),
            row_index(X, m),
        )

    def explain_fairness(
        self, X, y, *, sensitive_features, objective="equalized_odds", progress=None
    ):
        """Importance of every training point for a fairness objective over the samples ``X``.

        The objective is evaluated once over all the given samples (a test or validation set),
        so the Explanation has a single row: ``values[0, i]`` is the change of the objective
        when training point *i* is removed -- **negative = the point is unfairness-inducing**
        (removing it lowers the gap), positive = it helps fairness. This equals
        ``training_point_importance(estimator, X_train, y_train, objective=objective,
        X_eval=X, y_eval=y, sensitive_features_eval=sensitive_features).scores``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            True labels (fairness objectives compare error rates, so predictions would not do).
        sensitive_features : array-like, Series, DataFrame, dict or column name(s) of X
            The groups of the rows of ``X``, as fairlearn takes them. Required (keyword-only);
            ``None`` only for objectives that do not compare groups.
        objective : str, EvaluationFunction or fairlearn metric, default="equalized_odds"
            One objective of :func:`~fairlearn_divine.training_point_importance` (for several,
            call this once per objective).
        progress : bool, optional
            Progress bar for refit-based methods.

        Returns
        -------
        shap.Explanation
            ``values`` of shape (1, n_train), ``base_values`` of shape (1,) with the objective
            at the fitted model (the hard metric), fields as in :meth:`__call__`. Use
            ``explanation[0]`` for shap's signed single-row plots (``shap.plots.bar``), or
            :func:`fairlearn_divine.plotting.plot_training_point_importance` (which does).

        Examples
        --------
        >>> from sklearn.linear_model import LogisticRegression
        >>> from fairlearn_divine import DivineExplainer
        >>> from fairlearn_divine.datasets import make_divine_synthetic
        >>> data = make_divine_synthetic(n_samples=200, n_outliers=5, random_state=0)
        >>> model = LogisticRegression().fit(data.X, data.y)
        >>> explainer = DivineExplainer(model, data.X, data.y)
        >>> e = explainer.explain_fairness(
        ...     data.X, data.y, sensitive_features=data.sensitive_features)
        >>> e.values.shape
        (1, 205)
        >>> e.output_names
        'change of equalized odds gap when the training point is removed (first-order estimate)'
        """
        if isinstance(objective, list | tuple):
            raise TypeError(
                "objective must be a single objective; call explain_fairness once per objective."
            )
        f = resolve_objective(objective)
        X, y, m = self._check_samples(X, y, required=True)
        if sensitive_features is None:
            if f.requires_sensitive_features:
                raise ValueError(
                    f"objective {f.name!r} compares groups: pass sensitive_features= for the "
                    "rows of X."
                )
        else:
            sensitive_features = resolve_sensitive_features(sensitive_features, X)
            encode_sensitive_features(sensitive_features, m)  # the length, named
        result = self._importance(f, X, y, sensitive_features, progress)
        return self._explanation(
            np.atleast_2d(result.scores),
            np.atleast_1d(np.asarray(result.baseline, dtype=float)),
            _describe_values(f, result["method"], result),
            [f"{_objective_phrase(f)} over {m} samples"],
        )

    def _check_samples(self, X, y, *, required=False):
        """Validate the samples to explain; ``y=None`` becomes the model's predictions."""
        if (X.shape[0] if hasattr(X, "shape") else len(X)) == 0:
            raise ValueError("X has no rows: pass at least one sample to explain.")
        X = check_X(X, "X")
        check_feature_names(self.estimator, X, "X")
        m = n_rows(X)
        if y is None:
            if required:
                raise ValueError("y is required: the true labels of the rows of X.")
            y = np.asarray(self.estimator.predict(X))
        y = check_y(y, "y")
        if len(y) != m:
            raise ValueError(f"X has {m} rows but y has {len(y)} entries.")
        classes = fitted_classes(self.estimator)
        unknown = np.setdiff1d(np.unique(y), classes)
        if unknown.size:
            raise ValueError(
                f"y has labels {unknown.tolist()[:10]} the estimator was not fitted on "
                f"(classes_: {classes.tolist()})."
            )
        return X, y, m

    def _explanation(self, values, base_values, description, instance_names):
        m = values.shape[0]
        return shap.Explanation(
            values=values,
            base_values=base_values,
            data=None,
            # in parentheses: shap.plots.bar strips trailing zeros off the value it shows, so
            # "y=1, group=0" would read "y=1, group="
            display_data=np.tile(
                np.array([f"({d})" for d in self.point_descriptions], dtype=object), (m, 1)
            ),
            feature_names=[f"train point {p}" for p in self.point_names],
            output_names=description,
            instance_names=[str(v) for v in instance_names],
        )

    def _importance(self, objective, X, y, sensitive_features, progress):
        """Importance of the training points for ``objective`` evaluated on ``(X, y)``."""
        with feature_names_checked():  # X_train and X were checked under their own names
            return training_point_importance(
                self.estimator,
                self.X_train,
                self.y_train,
                method=self.method,
                objective=objective,
                X_eval=X,
                y_eval=y,
                sensitive_features_eval=sensitive_features,
                sample_weight=self.sample_weight,
                progress=progress,
                **self.method_options,
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
        :class:`~fairlearn_divine.DiverseSelection` (a few diverse points); for every training
        point's importance for a fairness objective as a ``shap.Explanation``, use
        :meth:`explain_fairness`.
        """
        f = resolve_objective(objective)
        if harmful is None:
            harmful = bool(f.requires_sensitive_features)
        if X_eval is not None:
            check_feature_names(self.estimator, check_X(X_eval, "X_eval"), "X_eval")
        with feature_names_checked():
            return self._select(
                n_points,
                objective=objective,
                harmful=harmful,
                sensitive_features=self.sensitive_features,
                X_eval=X_eval,
                y_eval=y_eval,
                sensitive_features_eval=sensitive_features_eval,
                diversity=diversity,
                **options,
            )

    def _select(self, n_points, **kwargs):
        """:func:`select_diverse_influential` on the training data (inputs checked)."""
        return select_diverse_influential(
            self.estimator,
            self.X_train,
            self.y_train,
            n_points,
            method=self.method,
            sample_weight=self.sample_weight,
            **kwargs,
        )

    def explain_local(self, x, y, *, n_points=5, diversity="sum_redundancy", **options):
        """DIVINE points for the loss at one sample ``x`` with label ``y``."""
        X_eval = self._one_row(x)
        y = np.atleast_1d(y)
        if y.shape != (1,):
            raise ValueError(f"y must be the one label of x, got an array of shape {y.shape}.")
        encode_labels(y, fitted_classes(self.estimator), "y")  # named y, not y_eval
        with feature_names_checked():
            return self._select(
                n_points,
                objective="log_loss",
                X_eval=X_eval,
                y_eval=y,
                diversity=diversity,
                **options,
            )

    def forcing_subset(self, x, **options):
        """Minimal forcing subset of the prediction at ``x`` (verified by refits)."""
        x = self._one_row(x)
        with feature_names_checked():
            return minimal_forcing_subset(
                self.estimator,
                self.X_train,
                self.y_train,
                x,
                sample_weight=self.sample_weight,
                **options,
            )

    def _one_row(self, x):
        """``x`` as one row like ``X_train``; a DataFrame or Series has its names checked."""
        if hasattr(x, "iloc"):
            check_feature_names(self.estimator, x, "x")
        return as_row(x, self.X_train, "x")
