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
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from .validation import final_step, n_rows, take

__all__ = [
    "EstimatorRefitter",
    "fit_estimator",
    "predict_proba_aligned",
    "warm_start_is_exact",
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
        with warnings.catch_warnings(record=True) as caught:
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
        if self._fit(model, rows, labels, sample_weight):
            self.n_unconverged += 1
        return model

    def fit_without(self, drop, **kwargs):
        """The estimator refitted without the rows ``drop`` (positions)."""
        keep = np.ones(self.n, dtype=bool)
        keep[np.asarray(drop, dtype=np.intp)] = False
        return self.fit(keep, **kwargs)
