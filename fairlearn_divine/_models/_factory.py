"""Differentiable views of fitted classifiers.

A *view* exposes what influence-style methods need from a fitted model, always for the
estimator's **actual training objective**

.. math:: L(\\theta) = \\sum_i c_i\\, l_i(\\theta) + \\Omega(\\theta),

with :math:`l_i` the per-sample log loss, :math:`c_i` the per-sample objective weights (for
scikit-learn's ``LogisticRegression``: :math:`c_i = C\\, s_i` where :math:`s_i` is
``sample_weight`` times ``class_weight``) and :math:`\\Omega(\\theta) = \\frac12 \\sum_j
\\rho_j \\theta_j^2` the ridge penalty (:math:`\\rho_j = 1` on weights, 0 on an unpenalised
intercept). Removing point *i* moves the optimum by about :math:`H^{-1} c_i \\nabla l_i` with
:math:`H = \\nabla^2 L`.

Supported estimators and their objectives
-----------------------------------------
* ``LogisticRegression`` (lbfgs, newton-cg, newton-cholesky, sag, saga with an L2 penalty or
  none; liblinear for binary targets): :math:`C \\sum_i s_i l_i + \\frac12 \\|w\\|^2`, intercept
  unpenalised (liblinear penalises it as a synthetic feature of value ``intercept_scaling``).
  Binary targets have one coefficient row (sigmoid link), multiclass targets ``n_classes`` rows
  (softmax link; the intercept direction :math:`(1, \\dots, 1)` is a null direction of the
  objective, handled exactly by projecting it out).
* ``LogisticRegressionCV`` (``refit=True``): the same, at the chosen ``C_``.
* ``SGDClassifier(loss="log_loss", penalty="l2")`` for binary targets:
  :math:`\\frac1n \\sum_i s_i l_i + \\frac{\\alpha}2 \\|w\\|^2`, i.e. :math:`C = 1/(n\\alpha)`.
  SGD rarely reaches the optimum; the optimality check will say so.
* ``MLPClassifier``: **last-layer view** (an approximation). Hidden layers are frozen feature
  maps; the output layer is a logistic/softmax regression on the last hidden activations with
  :math:`C = 1/\\alpha`. Influence then describes a retraining of the output layer only.
* ``Pipeline`` whose last step is one of these: earlier steps are fixed feature maps.
* Anything else: subclass :class:`DifferentiableModel`.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_is_fitted

from .._core.refit import separation_margins, warn_if_no_optimum
from .._core.validation import encode_labels
from .._warnings import ApproximationWarning
from ._glm import GLMView, _expit
from ._protocol import DifferentiableModel

__all__ = ["SUPPORTED_ESTIMATORS", "make_view"]

SUPPORTED_ESTIMATORS = (
    "LogisticRegression",
    "LogisticRegressionCV",
    "SGDClassifier(loss='log_loss')",
    "MLPClassifier (last layer)",
    "Pipeline ending in one of these",
    "a DifferentiableModel subclass",
)


# ---------------------------------------------------------------------------------------------
# construction from sklearn estimators


def _unsupported(estimator, reason=""):
    name = type(estimator).__name__
    extra = f" ({reason})" if reason else ""
    return TypeError(
        f"No differentiable view for estimator {name}{extra}. Influence-style methods support: "
        f"{', '.join(SUPPORTED_ESTIMATORS)}. Refit methods work for any classifier: "
        "method='loo', 'data_banzhaf' or 'data_shapley' (method='tree_influence' for "
        "gradient-boosted trees, 'data_oob' for bagging ensembles)."
    )


def _lr_penalty(est):
    """C of the L2 penalty (``inf`` for none); raise for non-smooth penalties."""
    cv = isinstance(est, LogisticRegressionCV)
    C = float(np.ravel(est.C_)[0]) if cv else float(est.C)
    penalty = getattr(est, "penalty", "deprecated")
    if penalty == "deprecated":
        if cv:
            l1 = np.ravel(getattr(est, "l1_ratio_", [0.0]))[0]
        else:
            l1 = getattr(est, "l1_ratio", 0.0)
        if l1 is not None and np.isfinite(l1) and l1 > 0:
            raise _unsupported(est, f"an L1 or elastic-net penalty (l1_ratio={l1}) is not smooth")
        return C
    if penalty is None:
        return np.inf
    if penalty == "l2":
        return C
    raise _unsupported(est, f"penalty={penalty!r} is not smooth")


def _sample_weights(est, y_idx, classes, sample_weight, n):
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    cw = getattr(est, "class_weight", None)
    if isinstance(cw, str) and cw == "balanced":
        warnings.warn(
            "class_weight='balanced' re-balances the classes on every fit, so removing a point "
            "also changes every other point's weight; influence-style methods hold the weights "
            "fixed and can rank points poorly here. Use method='loo' for exact scores, or pass "
            "the balanced weights as sample_weight to a model without class_weight.",
            ApproximationWarning,
            stacklevel=4,
        )
    if cw is not None:
        y_labels = classes[y_idx]
        weights = compute_class_weight(
            cw, classes=classes, y=y_labels, sample_weight=sample_weight
        )
        sw = sw * weights[y_idx]
    return sw


def _scale(C):
    """Objective weight multiplier and penalty strength for C (inf = no penalty)."""
    if np.isinf(C):
        return 1.0, 0.0
    return float(C), 1.0


def _check_training_X(X, n_features_in, argname="X", *, transformed=False):
    """The numeric features the final step sees: finite floats (validated here, after a
    Pipeline's transformers, not on the raw input, which may hold categories and NaN)."""
    try:
        X = check_array(
            X,
            accept_sparse=("csr", "csc"),
            dtype=np.float64,
            ensure_all_finite=True,
            input_name=argname,
        )
    except ValueError as err:
        where = "after the Pipeline's transformers" if transformed else "as given to the estimator"
        if "could not convert" in str(err):  # strings or other objects the view cannot use
            raise ValueError(
                f"The features of {argname} {where} must be numeric for the model's "
                f"differentiable view ({err}). Encode them inside the Pipeline (e.g. a "
                "OneHotEncoder), or use a refit-based method (method='loo', 'data_shapley')."
            ) from err
        if "NaN" not in str(err) and "infinity" not in str(err):
            raise
        raise ValueError(
            f"The features of {argname} {where} contain NaN or infinity, which the model's "
            "differentiable view cannot take. Handle missing values inside the Pipeline (e.g. "
            "a SimpleImputer, or OneHotEncoder for categories), or use a refit-based method "
            "(method='loo', 'data_shapley') with an estimator that handles them."
        ) from err
    if n_features_in is not None and X.shape[1] != n_features_in:
        raise ValueError(
            f"{argname} has {X.shape[1]} features, but the estimator was fitted with "
            f"{n_features_in} features."
        )
    return X


def _linear_view(est, Xt, y_idx, sample_weight, *, transform):
    classes = est.classes_
    coef = np.atleast_2d(est.coef_)
    fit_intercept = bool(getattr(est, "fit_intercept", True))
    intercept = np.atleast_1d(est.intercept_).astype(float) if fit_intercept else None
    n = Xt.shape[0]
    s = _sample_weights(est, y_idx, classes, sample_weight, n)
    intercept_penalty = 0.0
    if isinstance(est, SGDClassifier):
        if est.loss != "log_loss":
            raise _unsupported(est, f"loss={est.loss!r}; only loss='log_loss' is differentiable")
        if est.penalty not in ("l2", None):
            raise _unsupported(est, f"penalty={est.penalty!r} is not smooth")
        if len(classes) > 2:
            raise _unsupported(est, "multiclass SGDClassifier is one-vs-rest")
        C = np.inf if est.penalty is None or est.alpha == 0 else 1.0 / (n * est.alpha)
    else:
        C = _lr_penalty(est)
        if getattr(est, "solver", "lbfgs") == "liblinear":
            if len(classes) > 2:
                raise _unsupported(est, "multiclass liblinear is one-vs-rest")
            if fit_intercept:
                intercept_penalty = 1.0 / est.intercept_scaling**2
        if isinstance(est, LogisticRegressionCV) and not est.refit:
            raise _unsupported(est, "refit=False averages fold models, which is not an optimum")
    mult, penalty = _scale(C)
    return GLMView(
        coef=coef,
        intercept=intercept,
        classes=classes,
        X=Xt,
        y=y_idx,
        objective_weights=mult * s,
        penalty=penalty,
        intercept_penalty=intercept_penalty * penalty,
        transform=transform,
        description=type(est).__name__,
    )


_ACTIVATIONS = {
    "identity": lambda a: a,
    "logistic": _expit,
    "tanh": np.tanh,
    "relu": lambda a: np.maximum(a, 0),
}


def _mlp_hidden(mlp, X):
    a = X
    for W, b in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1], strict=True):
        a = _ACTIVATIONS[mlp.activation](np.asarray(a @ W) + b)
    return a


def _compose(first, second):
    if first is None:
        return second
    if second is None:
        return first
    return lambda X: second(first(X))


def make_view(estimator, X, y, *, sample_weight=None, check_fit=True):
    """Build the differentiable view of a fitted estimator on its training data.

    Returns a :class:`DifferentiableModel`. ``y`` holds the original labels. With
    ``check_fit`` (default), an unpenalised model that separates its training data (whose
    objective has no minimum) gets an :class:`ApproximationWarning`; see
    :mod:`fairlearn_divine._models._diagnostics`.
    """
    if isinstance(estimator, DifferentiableModel):
        return estimator
    transform = None
    final = estimator
    Xt = X
    if isinstance(estimator, Pipeline):
        check_is_fitted(estimator)
        final = estimator.steps[-1][1]
        if len(estimator.steps) > 1:
            pre = estimator[:-1]
            transform = pre.transform
            Xt = pre.transform(X)
    if not isinstance(
        final, LogisticRegression | LogisticRegressionCV | SGDClassifier | MLPClassifier
    ):
        raise _unsupported(final)
    check_is_fitted(final)
    classes = final.classes_
    Xt = _check_training_X(
        Xt, getattr(final, "n_features_in_", None), transformed=transform is not None
    )
    if transform is not None:
        post = _check_transformed
        transform = _compose(transform, post)
    else:
        n_in = getattr(final, "n_features_in_", None)
        transform = lambda Z, n_in=n_in: _check_training_X(Z, n_in, "X_eval")  # noqa: E731
    y_idx = encode_labels(y, classes)

    if isinstance(final, MLPClassifier):
        if final.out_activation_ not in ("logistic", "softmax") or final.n_outputs_ != (
            1 if len(classes) == 2 else len(classes)
        ):
            raise _unsupported(final, "multilabel outputs")
        H = _mlp_hidden(final, Xt)
        feature_map = _compose(transform, lambda Z, m=final: _mlp_hidden(m, Z))
        surrogate = LogisticRegression(
            C=np.inf if final.alpha == 0 else 1.0 / final.alpha, tol=1e-10, max_iter=10_000
        )
        surrogate.classes_ = classes
        surrogate.coef_ = final.coefs_[-1].T
        surrogate.intercept_ = final.intercepts_[-1]
        surrogate.n_features_in_ = H.shape[1]

        view = _linear_view(surrogate, H, y_idx, sample_weight, transform=feature_map)
        description = "MLPClassifier (last layer)"
    else:
        view = _linear_view(final, Xt, y_idx, sample_weight, transform=transform)
        description = type(final).__name__
    if check_fit and view.penalty == 0:
        margins = separation_margins(
            view.predict_proba_features(view.X_), view.y_, view.objective_weights_
        )
        warn_if_no_optimum(margins, description, stacklevel=4)
    return view


def _check_transformed(Z):
    return _check_training_X(Z, None, "X_eval", transformed=True)
