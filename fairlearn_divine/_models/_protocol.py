"""The one model protocol every fast stage calls: :class:`DifferentiableModel`."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

__all__ = ["DifferentiableModel", "has_hessian_factors", "is_differentiable_model"]


class DifferentiableModel(ABC):
    """Protocol for a fitted, twice-differentiable classifier and its training objective.

    Every fast method calls a model only through this protocol: influence, one-step Newton and
    counterfactual prediction; leave-one-out, label-flip and Data Shapley refits by Newton
    iterations on the objective (``refit_solver="newton"``); minimal forcing subsets. Subclass
    it to plug in your own model and pass an instance as ``estimator``. The training objective
    is

    .. math:: L(\\theta; c) = \\sum_{i=1}^n c_i\\, l(z_i, y_i; \\theta) + \\Omega(\\theta),

    with per-sample losses :math:`l` (the negative log-likelihood of the class probabilities),
    per-sample objective weights :math:`c_i` (``objective_weights_``) and a penalty
    :math:`\\Omega`. Removing point *i* sets :math:`c_i = 0`; ``weights`` arguments below replace
    the vector :math:`c`. Methods take ``params`` (default: the fitted :math:`\\hat\\theta`).

    Required attributes: ``classes_`` (labels, in probability-column order), ``X_`` (training
    features :math:`z_i`, in the feature space the methods take), ``y_`` (training labels as
    class indices) and ``objective_weights_`` (:math:`c`, shape ``(n,)``).

    What each method needs
    ----------------------
    * influence, counterfactual: the abstract methods.
    * one-step Newton: also :meth:`loss_hessian_factors`.
    * Newton refits (``method="loo"``, ``"counterfactual"`` with ``exact=True``,
      ``"data_shapley"``) and :func:`~fairlearn_divine.minimal_forcing_subset` (whose
      verification is then an exact refit of this objective): also :meth:`objective_value`;
      :meth:`loss_hessian_factors` makes them faster, :meth:`objective_gradient_scale` makes
      their stopping rule exact for saturated losses.
    * :meth:`transform` maps raw inputs to the feature space (identity by default);
      :meth:`restrict` and :meth:`proba_vjp_features` with stacked cotangents are optional
      speed-ups.
    """

    # ---- required --------------------------------------------------------------------------
    @property
    @abstractmethod
    def params(self):
        """Fitted parameters :math:`\\hat\\theta`, shape ``(n_params,)``."""

    @abstractmethod
    def predict_proba(self, X, params=None):
        """Class probabilities at ``params`` for raw inputs ``X``, shape ``(n, n_classes)``."""

    @abstractmethod
    def loss_gradients(self, X, y, params=None):
        """Per-sample gradients :math:`\\nabla_\\theta l(z_i, y_i)`, shape ``(n, n_params)``.

        ``X`` is in the feature space of ``X_`` (already transformed), ``y`` holds class
        indices.
        """

    @abstractmethod
    def hessian(self, params=None, weights=None):
        """Hessian :math:`\\nabla^2_\\theta L(\\theta; c)` of the training objective."""

    @abstractmethod
    def objective_gradient(self, params=None, weights=None):
        """Gradient :math:`\\nabla_\\theta L(\\theta; c)` (about zero at the fitted optimum)."""

    @abstractmethod
    def proba_vjp(self, X, G):
        """:math:`\\nabla_\\theta \\sum_{j,k} G_{jk}\\, P_\\theta(k \\mid x_j)` for raw ``X``."""

    # ---- optional, with defaults -----------------------------------------------------------
    def transform(self, X):
        """Map raw inputs to the feature space of ``X_`` (identity by default)."""
        return X

    def predict_proba_features(self, Z, params=None):
        """Class probabilities for inputs already in the feature space of ``X_``.

        The default calls :meth:`predict_proba`, which is right when :meth:`transform` is the
        identity; override it otherwise.
        """
        return self.predict_proba(Z) if params is None else self.predict_proba(Z, params)

    def proba_vjp_features(self, Z, G, params=None):
        """VJP for feature-space inputs; ``G`` of shape ``(n, K)`` -> ``(p,)`` or stacked
        ``(n, K, m)`` -> ``(p, m)``. The default loops :meth:`proba_vjp` (fitted parameters,
        identity :meth:`transform`)."""
        if params is not None:
            raise NotImplementedError(
                f"{type(self).__name__} does not implement proba_vjp_features at other parameters."
            )
        G = np.asarray(G, dtype=float)
        if G.ndim == 2:
            return np.asarray(self.proba_vjp(Z, G), dtype=float)
        return np.column_stack([self.proba_vjp(Z, G[:, :, k]) for k in range(G.shape[2])])

    def loss_gradient_dot(self, X, y, V, params=None):
        """Products of per-sample gradients with the columns of ``V``: shape ``(n, m)``."""
        G = self.loss_gradients(X, y) if params is None else self.loss_gradients(X, y, params)
        return G @ V

    def loss_hessian_factors(self, X, y, params=None):
        """Factors :math:`F_i` with :math:`\\nabla^2 l_i = F_i F_i^T`, shape ``(n, p, r)``."""
        raise NotImplementedError(
            f"{type(self).__name__} does not provide per-sample Hessian factors, which "
            "method='one_step_newton' needs; use method='influence' or method='loo'."
        )

    def log_loss_hessian(self, Z, weights):
        """Hessian in the parameters of :math:`\\sum_j w_j (-\\log p_{j, y_j})` on the
        rows ``Z`` (in :meth:`transform`'s space), shape ``(p, p)``, or ``None`` when it is
        not known in closed form (the default). One-step Newton uses it to expand the log
        loss to second order (``objective_expansion="quadratic"``)."""
        return None

    def objective_value(self, params=None, weights=None):
        """:math:`L(\\theta; c)`, the training objective (Newton refits' line search)."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement objective_value(), which Newton refits "
            "and minimal forcing subsets need."
        )

    def objective_gradient_scale(self, params=None, weights=None):
        """The magnitude of the terms each component of :meth:`objective_gradient` sums,
        shape ``(n_params,)`` or a scalar: Newton refits stop when every gradient component
        is below ``tol`` times it, whatever the scale of the objective (a tiny or huge ``C``).

        The default is :math:`\\sum_i |c_i|` (scikit-learn's convention for ``tol``), which
        is right when the per-sample gradients are of order one; override it with
        :math:`\\sum_i |c_i| |\\nabla l_i| + |\\nabla \\Omega|` (componentwise) when the losses
        can saturate (a separable fit with a weak penalty).
        """
        c = self.objective_weights_ if weights is None else np.asarray(weights, dtype=float)
        return float(np.sum(np.abs(c)))

    def null_space(self):
        """Directions the objective is exactly flat along (shape ``(p, k)``), or ``None``."""
        return None

    def restrict(self, rows):
        """The same model and parameters on the training rows ``rows`` only (optional).

        Newton refits on a small subset (Data Shapley prefixes) then cost in the subset's size;
        without it they use zero weights on the other rows.
        """
        raise NotImplementedError

    def log_odds_gradient(self, Z, c0, c1, params=None):
        """:math:`r = \\log P(c_1 \\mid z) - \\log P(c_0 \\mid z)` at one feature-space row and
        its gradient :math:`a = \\nabla_\\theta r` (the flip constraint of forcing subsets).

        The default derives both from :meth:`predict_proba_features` and
        :meth:`proba_vjp_features`."""
        P = np.asarray(self.predict_proba_features(Z, params), dtype=float)
        p0, p1 = float(P[0, c0]), float(P[0, c1])
        G = np.zeros_like(P)
        G[0, c1] = 1.0 / p1
        G[0, c0] = -1.0 / p0
        a = np.asarray(self.proba_vjp_features(Z, G, params), dtype=float)
        return a, float(np.log(p1) - np.log(p0))

    @property
    def n_params(self):
        """Number of parameters."""
        return self.params.shape[0]


def has_hessian_factors(model):
    """Whether a :class:`DifferentiableModel` implements :meth:`~DifferentiableModel.
    loss_hessian_factors` (one-step Newton needs them)."""
    return type(model).loss_hessian_factors is not DifferentiableModel.loss_hessian_factors


def is_differentiable_model(obj):
    """Whether ``obj`` is a :class:`DifferentiableModel` (a view, not an estimator)."""
    return isinstance(obj, DifferentiableModel)
