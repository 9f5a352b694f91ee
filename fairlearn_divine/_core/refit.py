"""One refit helper for every stage: what ``clone(estimator).fit(X[keep], y[keep])`` gives.

Every refit-based computation (leave-one-out, label flips, Data Shapley prefixes, removal
curves, the remover, the audit report, the verification of forcing subsets) refits through
:class:`EstimatorRefitter`. Its answer is that of a fresh ``clone(estimator).fit`` on the kept
rows, with the sample weights and fit parameters of the original fit subset to those rows.

Warm starts
-----------
A warm start is used only where it is known to give the same answer as a cold fit: a final
step that is a scikit-learn ``LogisticRegression`` with a strictly convex objective (an L2
penalty with finite ``C``, a solver with ``warm_start``), whose optimum is unique, so that any
start reaches it. The refit then runs with ``tol = min(tol, refit_tol)`` (a start at a nearby
optimum would otherwise stop at once) and is *checked*: if it reports as many iterations as
``max_iter`` allows, raises (a Pipeline whose one-hot encoding of the kept rows has other
columns than the start), or the subset lost a class, the refit is repeated cold. Ensembles
(random forests, boosted trees), stochastic solvers (``SGDClassifier``, ``MLPClassifier``),
unpenalised or non-smooth models are never warm-started: a warm-started forest with unchanged
``n_estimators`` fits nothing new, and a warm-started SGD or MLP continues from another point
of a different path.
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np
from sklearn import config_context, get_config
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline

from .._warnings import ApproximationWarning
from .parallel import catch_warnings_locked
from .validation import encode_labels, final_step, n_rows, take

__all__ = [
    "EstimatorRefitter",
    "SingleClassRefitError",
    "fit_estimator",
    "is_unpenalised",
    "predict_proba_aligned",
    "rows_emptying_their_class",
    "separates",
    "separation_margins",
    "single_class_error",
    "warm_start_is_exact",
    "warn_if_no_optimum",
]

_WARM_SOLVERS = ("lbfgs", "newton-cg", "newton-cholesky", "sag", "saga")


def warm_start_is_exact(estimator):
    """Whether a warm-started refit of ``estimator`` reaches the same optimum as a cold one.

    True only for a (Pipeline ending in a) ``LogisticRegression`` whose objective is strictly
    convex: L2 penalty with finite ``C``, a solver that supports ``warm_start``.
    """
    final = final_step(estimator)
    if not isinstance(final, LogisticRegression):
        return False
    params = final.get_params()
    penalty = params.get("penalty", "deprecated")
    l1_ratio = params.get("l1_ratio", 0.0)
    C = params.get("C", 1.0)
    return (
        params.get("solver", "lbfgs") in _WARM_SOLVERS
        and penalty in ("l2", "deprecated")
        and (l1_ratio in (None, 0, 0.0))
        and isinstance(C, numbers.Real)
        and np.isfinite(C)
        and C > 0
    )


class SingleClassRefitError(ValueError):
    """A refit on rows that hold fewer than two classes, which a classifier cannot fit.

    Attributes
    ----------
    n_rows : int
        Rows the refit would have had.
    classes : ndarray
        The classes among them (one or none).
    """

    def __init__(self, estimator_name, n_rows, classes, n_fitted_classes):
        self.n_rows = int(n_rows)
        self.classes = np.asarray(classes)
        held = "0 classes" if len(self.classes) == 0 else f"1 class ({self.classes.tolist()[0]!r})"
        super().__init__(
            f"Cannot refit {estimator_name} on the {self.n_rows} remaining row(s): they hold "
            f"{held} of the {n_fitted_classes} it was fitted with, and a classifier needs at "
            "least 2 classes. Remove fewer rows of that class."
        )


def single_class_error(estimator, labels, n_fitted_classes):
    """The :class:`SingleClassRefitError` for a refit on rows with ``labels``, or ``None``
    when they hold two classes or more."""
    present = np.unique(labels)
    if len(present) >= 2:
        return None
    name = type(final_step(estimator)).__name__ if estimator is not None else "the model"
    return SingleClassRefitError(name, len(labels), present, n_fitted_classes)


def rows_emptying_their_class(y, rows=None):
    """The rows among ``rows`` (default: all) that are the only member of their class in
    ``y``: removing (or relabelling) one of them leaves a refit without that class."""
    labels, codes, counts = np.unique(np.asarray(y), return_inverse=True, return_counts=True)
    rows = np.arange(len(codes)) if rows is None else np.asarray(rows, dtype=np.intp)
    return rows[counts[codes.reshape(-1)[rows]] == 1]


def _sample_weight_params(estimator, sample_weight):
    if sample_weight is None:
        return {}
    if isinstance(estimator, Pipeline):
        return {f"{estimator.steps[-1][0]}__sample_weight": sample_weight}
    return {"sample_weight": sample_weight}


def fit_estimator(estimator, X, y, sample_weight=None, fit_params=None):
    """``estimator.fit(X, y, ...)`` with ``sample_weight`` routed to a Pipeline's last step.

    With scikit-learn's metadata routing enabled a Pipeline only takes metadata its steps
    requested; weights the package itself adds (a refit with the original fit's weights, the
    remover's down-weighting) go to the last step as they do without routing, so the Pipeline
    is fitted with routing switched off for that call (other fit parameters are then an error).
    """
    params = dict(fit_params or {})
    if (
        sample_weight is not None
        and isinstance(estimator, Pipeline)
        and get_config().get("enable_metadata_routing", False)
    ):
        if params:
            raise ValueError(
                "Refitting a Pipeline with sample weights and further fit parameters under "
                "metadata routing needs the weights routed too: pass them as a fit parameter "
                f"the Pipeline's steps request; got fit parameters {sorted(params)}."
            )
        with config_context(enable_metadata_routing=False):
            return estimator.fit(X, y, **_sample_weight_params(estimator, sample_weight))
    params.update(_sample_weight_params(estimator, sample_weight))
    return estimator.fit(X, y, **params)


def predict_proba_aligned(estimator, X, classes):
    """Probabilities in the columns of ``classes``, even if a refit saw fewer classes.

    Estimators without ``predict_proba`` (or with one that raises, as ``SVC(probability=False)``)
    give one-hot rows of their predictions.
    """
    proba = None
    if hasattr(estimator, "predict_proba"):
        try:
            proba = np.asarray(estimator.predict_proba(X), dtype=float)
        except AttributeError:  # e.g. SVC(probability=False) exposes the method but raises
            proba = None
    if proba is None:
        pred = np.asarray(estimator.predict(X))
        return (pred[:, None] == classes[None, :]).astype(float)
    fitted = np.asarray(getattr(estimator, "classes_", classes))
    if len(fitted) == len(classes) and np.array_equal(fitted, classes):
        return proba
    out = np.zeros((proba.shape[0], len(classes)))
    out[:, np.searchsorted(classes, fitted)] = proba
    return out


def _row_aligned(value, n):
    """A fit parameter with one entry per row (array, Series, list), as scikit-learn subsets."""
    if isinstance(value, str | bytes | dict):
        return False
    if isinstance(value, list | tuple):
        return len(value) == n
    return hasattr(value, "shape") and len(getattr(value, "shape", ())) > 0 and len(value) == n


def _take_param(value, rows):
    if isinstance(value, list | tuple):
        return [value[i] for i in rows]
    return take(value, rows)


def separation_margins(P, y_idx, weights=None):
    """Log-odds margins :math:`\\log p_{i, y_i} - \\max_{k \\ne y_i} \\log p_{ik}` of the rows
    with a non-zero weight (``inf`` where the other classes' probabilities underflow)."""
    P = np.asarray(P, dtype=float)
    y_idx = np.asarray(y_idx, dtype=np.intp)
    if weights is not None:
        rows = np.flatnonzero(np.asarray(weights, dtype=float) != 0)
        P, y_idx = P[rows], y_idx[rows]
    if P.shape[0] == 0:
        return np.empty(0)
    own = P[np.arange(len(y_idx)), y_idx]
    other = P.copy()
    other[np.arange(len(y_idx)), y_idx] = -np.inf
    with np.errstate(divide="ignore"):
        return np.log(own) - np.log(np.max(other, axis=1))


def separates(margins):
    """Whether every margin is positive (the model separates those rows)."""
    return margins.size > 0 and bool(np.all(margins > 0))


def warn_if_no_optimum(margins, description, *, stacklevel=3):
    """Warn that an unpenalised model separating its training data has no optimum.

    Returns whether it warned. ``margins`` from :func:`separation_margins`.
    """
    if not separates(margins):
        return False
    warnings.warn(
        f"The fitted {description} has no penalty and separates its training data (every "
        f"row on its own side, smallest log-odds margin {float(np.min(margins)):.3g}): its "
        "training objective has no minimum, the coefficients are wherever the solver "
        "stopped, and so are those of every refit. Influence scores (then about 0) and "
        "refit-based scores (leave-one-out, Shapley; then often exactly 0) describe that "
        "stopping point, not the data. Add a penalty: a finite C (e.g. the default C=1.0) "
        "for LogisticRegression, alpha > 0 for MLPClassifier or SGDClassifier.",
        ApproximationWarning,
        stacklevel=stacklevel,
    )
    return True


def is_unpenalised(final):
    """Whether a scikit-learn final step is a log-loss model without any penalty."""
    if not isinstance(final, LogisticRegression | SGDClassifier | MLPClassifier):
        return False  # LogisticRegressionCV included: it picks C among finite Cs
    params = final.get_params(deep=False)
    if isinstance(final, MLPClassifier):
        return params.get("alpha") == 0
    if isinstance(final, SGDClassifier):
        return params.get("loss") == "log_loss" and (
            params.get("penalty") is None or params.get("alpha") == 0
        )
    C = params.get("C", 1.0)
    return params.get("penalty") is None or (isinstance(C, numbers.Real) and np.isinf(C))


class EstimatorRefitter:
    """Refits of a scikit-learn classifier on subsets of its training data.

    Parameters
    ----------
    estimator : classifier
        The (fitted or unfitted) estimator; refits start from ``clone(estimator)``.
    X, y : training data
    sample_weight : array of shape (n,), optional
        Weights of the original fit (routed to a Pipeline's last step).
    fit_params : dict, optional
        Further fit parameters; array-likes with one entry per row are subset with the rows.
    warm_start : bool, default=True
        Use warm starts where :func:`warm_start_is_exact` holds (checked, see the module
        docstring); never elsewhere.
    refit_tol : float, default=1e-8
        ``tol`` of warm-started refits (``min(tol, refit_tol)``).

    Attributes
    ----------
    warm : bool
        Whether refits are warm-started.
    n_refits, n_unconverged, n_cold_retries : int
        Counters (refits made; refits that raised ``ConvergenceWarning``; warm refits repeated
        cold).

    Notes
    -----
    A refit whose rows hold fewer than two classes, which the estimator refuses (scikit-learn's
    "needs samples of at least 2 classes"), raises :class:`SingleClassRefitError` (a
    ``ValueError`` naming how many rows and which class remain); callers report such refits
    as they document (NaN scores, NaN curve points, an unverifiable forcing subset).
    Estimators that do fit a single class (trees, nearest neighbours) are refitted as usual.

    A fitted estimator without a penalty that separates ``(X, y)`` has no optimum, and neither
    has any refit: an :class:`~fairlearn_divine.ApproximationWarning` says so once, here.
    """

    def __init__(
        self,
        estimator,
        X,
        y,
        *,
        sample_weight=None,
        fit_params=None,
        warm_start=True,
        refit_tol=1e-8,
    ):
        self.estimator = estimator
        self.X = X
        self.y = np.asarray(y)
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight, float)
        self.fit_params = dict(fit_params or {})
        self.n = n_rows(X)
        self.warm = bool(warm_start) and warm_start_is_exact(estimator)
        self._template = clone(estimator)
        if self.warm:
            final = final_step(self._template)
            new = {"warm_start": True}
            tol = final.get_params().get("tol")
            if isinstance(tol, numbers.Real):
                new["tol"] = min(tol, refit_tol)
            final.set_params(**new)
        self.n_refits = 0
        self.n_unconverged = 0
        self.n_cold_retries = 0
        self.n_classes = len(np.unique(self.y))
        self._check_optimum()

    def _check_optimum(self):
        """Warn when the (fitted) estimator has no penalty and separates its training data."""
        final = final_step(self.estimator)
        if not is_unpenalised(final) or not hasattr(final, "classes_"):
            return
        classes = np.asarray(final.classes_)
        try:
            P = predict_proba_aligned(self.estimator, self.X, classes)
            y_idx = encode_labels(self.y, classes)
        except (ValueError, TypeError, AttributeError):  # not fitted on these data
            return
        margins = separation_margins(P, y_idx, self.sample_weight)
        warn_if_no_optimum(margins, type(final).__name__, stacklevel=5)

    def _params_for(self, rows, sample_weight):
        params = {}
        for key, value in self.fit_params.items():
            params[key] = _take_param(value, rows) if _row_aligned(value, self.n) else value
        sw = self.sample_weight if sample_weight is None else sample_weight
        if sw is not None:
            sw = np.asarray(sw, dtype=float)[rows]
        return params, sw

    def _fit(self, model, rows, y, sample_weight):
        params, sw = self._params_for(rows, sample_weight)
        X_rows = (
            self.X
            if len(rows) == self.n and np.all(rows == np.arange(self.n))
            else take(self.X, rows)
        )
        with catch_warnings_locked(record=True) as caught:  # refits may run in threads
            warnings.simplefilter("always", ConvergenceWarning)
            fit_estimator(model, X_rows, y[rows], sw, params)
        unconverged = False
        for w in caught:
            if issubclass(w.category, ConvergenceWarning):
                unconverged = True
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return unconverged

    def fit(self, keep=None, *, y=None, sample_weight=None, warm_from=None):
        """The estimator refitted on the rows ``keep`` (mask or positions; default: all).

        Parameters
        ----------
        keep : boolean mask of shape (n,) or integer positions, optional
        y : array of shape (n,), optional
            Labels to fit with (e.g. one label flipped); default: the training labels.
        sample_weight : array of shape (n,), optional
            Weights to fit with instead of the original ones (zero weights are kept rows).
        warm_from : fitted estimator, optional
            A previous refit to warm-start from. Used only when :attr:`warm` and the kept rows
            have the same classes as ``warm_from``; the warm refit is checked (see the module
            docstring) and repeated cold if it hit ``max_iter``.

        Returns
        -------
        estimator
            A new fitted estimator; ``clone(estimator).fit`` on those rows up to the solver's
            tolerance.
        """
        rows = np.arange(self.n) if keep is None else np.asarray(keep)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        labels = self.y if y is None else np.asarray(y)
        self.n_refits += 1
        if self.warm and warm_from is not None:
            start_classes = getattr(final_step(warm_from), "classes_", None)
            if start_classes is not None and np.array_equal(
                start_classes, np.unique(labels[rows])
            ):
                model = copy.deepcopy(warm_from)
                try:
                    unconverged = self._fit(model, rows, labels, sample_weight)
                except ValueError:
                    # e.g. a one-hot encoding of these rows has other columns than the start:
                    # the start does not fit, a cold refit does
                    unconverged = None
                if unconverged is False:
                    n_iter = np.max(np.atleast_1d(getattr(final_step(model), "n_iter_", 0)))
                    max_iter = final_step(model).get_params().get("max_iter", np.inf)
                    if n_iter < max_iter:
                        return model
                self.n_cold_retries += 1
        model = clone(self._template)
        try:
            unconverged = self._fit(model, rows, labels, sample_weight)
        except ValueError as err:
            # e.g. "This solver needs samples of at least 2 classes": say which rows remain
            error = single_class_error(self.estimator, labels[rows], self.n_classes)
            if error is not None:
                raise error from err
            raise
        if unconverged:
            self.n_unconverged += 1
        return model

    def start_from(self, coef, intercept, classes):
        """A ``warm_from`` start for :meth:`fit`: an unfitted copy of the refit template whose
        final step holds ``coef``, ``intercept`` and ``classes`` (e.g. an optimum computed
        another way). Only meaningful when :attr:`warm`; the refit from it is checked as any
        warm refit (see the module docstring)."""
        model = clone(self._template)
        final = final_step(model)
        final.coef_ = np.array(coef, dtype=float, copy=True)
        final.intercept_ = np.array(intercept, dtype=float, copy=True)
        final.classes_ = np.asarray(classes)
        return model

    def fit_without(self, drop, **kwargs):
        """The estimator refitted without the rows ``drop`` (positions)."""
        keep = np.ones(self.n, dtype=bool)
        keep[np.asarray(drop, dtype=np.intp)] = False
        return self.fit(keep, **kwargs)
