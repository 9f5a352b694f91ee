"""Verification refits of forcing subsets: the estimator refitted without the subset.

Three ways, all giving what ``clone(estimator).fit`` gives on the kept rows:

* a bare ``LogisticRegression`` (L2, no ``class_weight``) or a
  :class:`~fairlearn_divine.DifferentiableModel` with ``objective_value``: exact Newton refits
  of the training objective (:class:`~fairlearn_divine._models.NewtonRefitter`), warm-started
  from a nearby solution (the search's parameters, or the previous refit);
* a ``Pipeline`` whose last step is such a ``LogisticRegression``: the transformers are
  refitted on the kept rows exactly as ``Pipeline.fit`` fits them (``fit_transform`` of a
  clone), and the last step's objective on those features is solved by the same Newton refits.
  The features of removed rows are not computed (their weight is 0; the view holds zeros);
* any other estimator: the package's refit helper
  (:class:`~fairlearn_divine._core.refit.EstimatorRefitter`), warm-started from the fitted
  estimator and then from the previous refit where its warm starts are exact.

Where the refits were Newton refits of a scikit-learn estimator, the final subset is refitted
once more by the estimator's *own* ``fit`` through the refit helper (:func:`Verifier.own_fit`):
warm-started from the Newton solution when the estimator's ``tol`` is at most the helper's
``refit_tol`` (the warm refit then runs with the estimator's own ``tol`` and ``max_iter``, and
stops at once at the optimum), cold otherwise (a loose ``tol`` can decide a flip, and a cold
fit shows whether it does).
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

from .._core.parallel import catch_warnings_locked
from .._core.refit import EstimatorRefitter, predict_proba_aligned, single_class_error
from .._core.validation import final_step, take
from .._models import NewtonRefitter, is_differentiable_model, make_view, newton_refit_supported

__all__ = ["Verifier"]

#: ``refit_tol`` of the refit helper: an estimator with ``tol`` at most this is checked by a
#: warm-started fit (see the module docstring).
REFIT_TOL = 1e-8
#: Tolerance of the Newton refits (relative to the gradient's own scale).
NEWTON_TOL = 1e-10


def pipeline_newton_supported(estimator):
    """A Pipeline of transformers ending in a step :class:`NewtonRefitter` refits exactly."""
    return (
        isinstance(estimator, Pipeline)
        and len(estimator.steps) > 1
        and newton_refit_supported(final_step(estimator))
    )


class Refit:
    """One verification refit: ``proba`` at x, and the solution it came from.

    ``restart()`` gives ``(view, x in its feature space, parameters or None)`` to continue the
    search from (built only when asked for).
    """

    def __init__(self, proba, restart, solution=None):
        self.proba = proba
        self.restart = restart
        self.solution = solution  # (view, theta) for Newton refits


class Verifier:
    """Refits without the removed rows and the prediction at x after them (module docstring).

    Parameters
    ----------
    estimator, X, y, sample_weight : the fitted estimator and its training data
    view : DifferentiableModel
        The estimator's view on ``(X, y)``.
    x_row : the test point as one row of raw input
    """

    def __init__(self, estimator, X, y, sample_weight, view, x_row):
        self.estimator, self.X, self.y = estimator, X, np.asarray(y)
        self.sample_weight = sample_weight
        self.x_row = x_row
        self.classes = view.classes_
        self.n_classes = len(np.unique(self.y))
        self.n_refits = 0
        self.theta = view.params  # the last Newton solution (a start for the next refit)
        if newton_refit_supported(estimator):
            self.mode = "newton"
            self.refitter = NewtonRefitter(view, tol=NEWTON_TOL)
            self.zx = view.transform(x_row)
        elif pipeline_newton_supported(estimator):
            self.mode = "pipeline"
            self.transformers = estimator[:-1]
            self.final = final_step(estimator)
        else:
            self.mode = "estimator"
            self.refitter = EstimatorRefitter(estimator, X, y, sample_weight=sample_weight)
            self.model = None
            if self.refitter.warm:  # start from the fitted solution, not from scratch
                final = final_step(estimator)
                self.model = self.refitter.start_from(final.coef_, final.intercept_, self.classes)

    @property
    def newton(self):
        """Whether the refits are Newton refits of the objective."""
        return self.mode != "estimator"

    def refit(self, keep, start=None):
        """Refit without the removed rows; ``start``: parameters to warm-start Newton from."""
        if not is_differentiable_model(self.estimator):
            # scikit-learn refuses a single class; Newton iterations would diverge on it
            error = single_class_error(self.estimator, self.y[keep], self.n_classes)
            if error is not None:
                raise error
        self.n_refits += 1
        if self.mode == "newton":
            start = self.theta if start is None or len(start) != len(self.theta) else start
            theta = self.refitter.solve(np.flatnonzero(keep), start)
            self.theta = theta
            view, zx = self.refitter.view, self.zx
            proba = view.predict_proba_features(zx, theta)[0]
            return Refit(proba, lambda: (view, zx, theta), (view, theta))
        if self.mode == "pipeline":
            return self._refit_pipeline(keep, start)
        with catch_warnings_locked():  # searches may run in threads
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = self.refitter.fit(keep, warm_from=self.model)
        self.model = model
        proba = predict_proba_aligned(model, self.x_row, self.classes)[0]

        def restart(model=model):
            view = make_view(
                model, self.X, self.y, sample_weight=self.sample_weight, check_fit=False
            )
            return view, view.transform(self.x_row), None  # a refitted pipeline maps x anew

        return Refit(proba, restart)

    def _refit_pipeline(self, keep, start):
        rows = np.flatnonzero(keep)
        transformers = clone(self.transformers)
        # what Pipeline.fit gives the last step: fit_transform of the kept rows
        Zk = transformers.fit_transform(take(self.X, rows), self.y[rows])
        Z = _scatter_rows(Zk, rows, len(self.y))
        final = copy.copy(self.final)  # a shell with the fitted classes; coefficients below
        n_out = np.atleast_2d(self.final.coef_).shape[0]
        final.coef_ = np.zeros((n_out, Z.shape[1]))
        final.intercept_ = np.zeros(n_out) if self.final.fit_intercept else 0.0
        final.n_features_in_ = Z.shape[1]
        if "feature_names_in_" in vars(final):
            del final.feature_names_in_
        view = make_view(final, Z, self.y, sample_weight=self.sample_weight, check_fit=False)
        if start is None or len(start) != view.n_params:
            start = self.theta
        if len(start) != view.n_params:  # the encoding of the kept rows has other columns
            start = np.zeros(view.n_params)
        theta = NewtonRefitter(view, tol=NEWTON_TOL).solve(rows, start)
        self.theta = theta
        zx = view.transform(transformers.transform(self.x_row))
        proba = view.predict_proba_features(zx, theta)[0]
        return Refit(proba, lambda: (view, zx, theta), (view, theta))

    def own_fit(self, keep, solution):
        """Probabilities at x from the estimator's own fit without the subset (its own
        settings), through the refit helper; ``None`` where the refits were the estimator's
        own already. ``solution``: the Newton refit ``(view, theta)`` of these rows."""
        if self.mode == "estimator" or is_differentiable_model(self.estimator):
            return None
        final = final_step(self.estimator)
        tol = final.get_params().get("tol")
        warm = isinstance(tol, numbers.Real) and tol <= REFIT_TOL and solution is not None
        refitter = EstimatorRefitter(
            self.estimator, self.X, self.y, sample_weight=self.sample_weight, warm_start=warm
        )
        start = None
        if warm and refitter.warm:
            view, theta = solution
            coef, intercept = view.coef_intercept(theta)
            if intercept is None:
                intercept = final.intercept_
            start = refitter.start_from(coef, intercept, self.classes)
        with catch_warnings_locked():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = refitter.fit(keep, warm_from=start)
        self.n_refits += 1
        return predict_proba_aligned(model, self.x_row, self.classes)[0]


def _scatter_rows(Zk, rows, n):
    """An ``(n, d)`` feature matrix with ``Zk`` in ``rows`` and zeros elsewhere."""
    if sp.issparse(Zk):
        Zk = sp.csr_matrix(Zk, dtype=float)
        counts = np.zeros(n, dtype=Zk.indptr.dtype)
        counts[rows] = np.diff(Zk.indptr)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(Zk.indptr.dtype)
        return sp.csr_matrix((Zk.data, Zk.indices, indptr), shape=(n, Zk.shape[1]))
    Zk = np.asarray(Zk, dtype=float)
    Z = np.zeros((n, Zk.shape[1]))
    Z[rows] = Zk
    return Z
