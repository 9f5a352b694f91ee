"""Mitigation by removing or down-weighting harmful training points (DIVINE section 5.3, D.5).

:class:`InfluentialPointRemover` values every training point with respect to a cost ``f``
(default: equal accuracy), ranks points by *harm* :math:`h_i = -I_i` (the negated importance
score, so the most harmful rank first, as the paper does), removes or down-weights the top
``fraction`` of the training data among the points with :math:`h_i > 0`, and refits the
estimator. Points that are not harmful are never removed: when fewer than the budget are
harmful, it stops early and says so (``n_harmful_``, ``stopped_early_``).

Down-weighting rule (``mode="downweight"``): the same points are selected; a selected point
with harm :math:`h_i` keeps weight :math:`s_i (1 - h_i / h_{max})` where :math:`h_{max}` is the
largest harm among the selected points (so the most harmful gets weight 0, barely harmful ones
keep almost all of theirs); all other points keep their weight :math:`s_i`.

The importance scores are first-order estimates of a *surrogate* of the fairness metric (see
:mod:`fairlearn_divine._objectives`); the model actually fitted is always evaluated with the
hard metric, e.g. by :func:`~fairlearn_divine.removal_curve`.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch, check_array, check_random_state
from sklearn.utils._tags import get_tags
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .._core.parallel import catch_warnings_locked, check_progress, progress_bar, run_seed
from .._core.refit import EstimatorRefitter, predict_proba_aligned
from .._core.results import row_index
from .._core.validation import (
    check_feature_names,
    check_integer,
    check_real,
    feature_names_checked,
    n_rows,
    take,
)
from .._importance import leaf_refit_without, resolve_method, training_point_importance
from .._objectives import (
    EvalContext,
    group_gaps,
    resolve_objective,
    resolve_sensitive_features,
    signed_gaps,
)
from .._selection import diversity_features, select_diverse

__all__ = ["MODES", "InfluentialPointRemover"]

MODES = ("remove", "downweight", "reweigh")
#: Largest number of parameters for which ``newton_value_`` is computed (one p x p solve).
NEWTON_MAX_PARAMS = 2000
#: Prefix sizes at which the fixed-structure leaf refit predicts the metric for boosted trees
#: (``stop_at_predicted_minimum``): each costs one pass over the trees.
TREE_PATH_POINTS = 64
#: The amounts fraction="auto" tries (prefixes of one removal order, or budgets of "reweigh").
AUTO_FRACTIONS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)


def _estimator_has(attr):
    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        return hasattr(self.estimator, attr)

    return check


def _as_indexable(X):
    """Rows of X can be taken with _take: DataFrames, arrays, CSR/CSC; others converted."""
    if hasattr(X, "iloc") or isinstance(X, np.ndarray):
        return X
    if sp.issparse(X):
        return X if X.format in ("csr", "csc") else X.tocsr()
    return np.asarray(X)


def _select_harmful(harm, k, diversity, gamma, X_div, random_state):
    """Up to k indices of harmful points (harm > 0), most harmful / DIVINE order first."""
    candidates = np.flatnonzero(harm > 0)
    k = min(k, len(candidates))
    if k == 0:
        return np.array([], dtype=np.intp)
    if diversity is None:
        order = candidates[np.argsort(-harm[candidates], kind="stable")]
        return order[:k]
    # diverse among the harmful points, the diversity measured against all the data
    sel = select_diverse(
        harm,
        X_div,
        k,
        diversity=diversity,
        gamma=gamma,
        random_state=random_state,
        candidates=candidates,
    )
    return sel.indices


class InfluentialPointRemover(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Refit a classifier without (or with less weight on) its most harmful training points.

    See the module docstring (:mod:`fairlearn_divine._mitigation`) for the rule.

    Parameters
    ----------
    estimator : classifier
        The model to mitigate. Influence-style methods need a differentiable view
        (e.g. ``LogisticRegression`` or a ``Pipeline`` ending in one); ``method="loo"`` works
        for any classifier.
    objective : str, EvaluationFunction or fairlearn metric, default="equal_accuracy"
        The cost ``f`` whose harmful points are removed.
    method : str, default="auto"
        Importance method (see :func:`~fairlearn_divine.training_point_importance`).
        ``"auto"`` is chosen as that function chooses it for ``objective`` alone.
    fraction : float in (0, 1) or "auto", default=0.05
        Fraction of the (scored) training points (of their weight, for ``"reweigh"``) to
        remove at most. ``"auto"`` chooses it on the validation data: the removal order (the
        weight program) is computed once, and of the amounts 0, 0.1, 0.2, 0.5, 1, 2, 5, 10 and
        20% (cut where ``stop_at_predicted_minimum`` stops; for ``"reweigh"``, where a larger
        budget gives the same weights) the one whose refit has the best hard metric on
        validation, among those losing at most ``max_accuracy_loss`` of validation accuracy,
        is kept (``fraction_``, ``auto_path_``); with ``target``, the smallest that reaches it.
        Needs validation data (``X_val`` or ``validation_fraction``).
    diversity : None or str, default=None
        ``None`` removes the most harmful points; a diversity name (``"sum_redundancy"``,
        ``"facility_location"``, ``"mmd"``) removes a diverse harmful set chosen by
        :func:`~fairlearn_divine.select_diverse`.
    gamma : float or str, default="pairwise_distance"
        Trade-off for ``diversity``.
    mode : {"remove", "downweight", "reweigh"}, default="remove"
        ``"remove"`` drops the selected points; ``"downweight"`` lowers their weight by their
        harm (module docstring); ``"reweigh"`` chooses every point's weight in [0, 1] by a
        linear program over first-order predictions on the validation data (Li & Liu 2022,
        see :mod:`fairlearn_divine._mitigation._weights`): the predicted metric (``target``
        and below counting as met) is minimised subject to the predicted validation log loss
        rising by at most ``max_loss_increase`` and at most ``fraction`` of the weight
        removed. The refit with those weights is what ``estimator_`` is.
    recalculate : int, optional
        Re-score after every ``recalculate`` removals (DIVINE appendix D.5.2).
    validation_fraction : float in (0, 1), optional
        Hold out this stratified fraction of the training data to evaluate ``f`` on (appendix
        D.5.1); the held-out rows are used for scoring only, not for fitting. Or pass explicit
        validation data to :meth:`fit` (``X_val``, ``y_val``, ``sensitive_features_val``).
    keep_original_if_worse : bool, default=True
        After the refit, compare the *hard* value of ``f`` (as fairlearn computes it) of the
        refitted and the unmitigated model on the validation data (``X_val``, else the
        held-out ``validation_fraction`` rows, else the training data); if the refit is worse,
        keep the unmitigated model and warn. The scores are first-order estimates of a smooth
        surrogate, so removal can overshoot; this never returns a model that is worse on the
        data it is judged on.
    max_accuracy_loss : float in [0, 1], default=0.01
        For ``fraction="auto"``: the largest drop of validation accuracy (1 = 100 points)
        a chosen amount may cost.
    stop_at_predicted_minimum : bool, default=True
        For a between-groups difference (equal opportunity, equalized odds, demographic parity,
        equal accuracy, a ``difference`` MetricFrame recipe): follow the *signed* gaps behind
        the metric (the rates of the groups with the highest and the lowest rate) and predict
        them, to first order, after removing each prefix of the removal order; stop at the
        prefix with the smallest predicted metric. The absolute gap is not smooth at zero:
        removing past the point where a signed gap crosses zero widens it again, which a fixed
        ``fraction`` used to do. (The prediction ignores other groups overtaking the extreme
        ones; the refit is checked by ``keep_original_if_worse``.) For gradient-boosted trees
        (``method="tree_influence"``) the prediction is the fixed-structure leaf refit of each
        prefix as a whole (every leaf recomputed without it, the hard metric evaluated) at up
        to 64 prefix sizes: the first-order gaps of trees underestimate how many evaluation
        rows cross the threshold, and stop too late.
    target : float, optional
        The value of ``objective`` (as fairlearn computes it) that counts as fair enough.
        With ``stop_at_predicted_minimum``, removal stops at the first prefix predicted to
        reach it; ``mode="reweigh"`` removes only as much weight as it predicts is needed to
        reach it; with ``fraction="auto"``, the *smallest* amount whose refit reaches it on
        the validation data within ``max_accuracy_loss`` is kept (for ``"remove"`` and
        ``"downweight"`` found by bisection on the prefix length, each step verified by a
        refit), else the best amount, with a warning (``target_reached_``).
    max_loss_increase : float >= 0 or None, default=0.0
        For ``mode="reweigh"``: the largest first-order rise of the mean validation log loss
        the weights may cost (0: none, Li & Liu's constraint); None: no constraint. Without
        validation data it is the training log loss, which is stationary at the fit up to the
        penalty: its first-order change is the penalty's term alone, so the constraint is
        weak there; pass ``X_val`` or ``validation_fraction`` for Li & Liu's setting.
    random_state : int, RandomState or None
        For the validation split and the diversity bandwidth sample.
    progress : bool or None, default=None
        A progress bar over the refits of :meth:`fit` (the scoring model, each ``recalculate``
        round, each amount of ``fraction="auto"`` and its bisection, the final refit), and the
        same setting passed to every scoring call (whose refit-based methods, e.g.
        ``method="loo"``, show a bar of their own): ``None`` shows it on a terminal once the
        work has run for two seconds, ``True`` always, ``False`` never. The total is an upper
        bound (removal may stop early). The result does not depend on it.

    Attributes
    ----------
    estimator_ : classifier
        The estimator refitted on the kept rows (with the final weights).
    removed_indices_ : ndarray
        Rows removed (or down-weighted), most harmful / first selected first (positions); for
        ``"reweigh"``, the rows whose weight was lowered, the most lowered first.
    removed_labels_ : pandas.Index
        The same rows by the row labels of ``X`` (its index for a DataFrame).
    sample_indices_ : ndarray
        Rows ``estimator_`` was fitted on.
    sample_weight_ : ndarray
        Weights ``estimator_`` was fitted with (aligned with ``sample_indices_``).
    scores_ : ndarray of shape (n_samples,) or None
        Importance scores of the training rows for ``objective`` (NaN for held-out rows);
        ``None`` when nothing was scored.
    n_harmful_ : int
        Number of scored rows with a negative score (harmful).
    stopped_early_ : bool
        True when fewer harmful points than the budget existed (or a recalculation round found
        the metric undefined on the remaining data).
    stop_reason_ : str or None
        Why it stopped early.
    kept_original_ : bool
        True when the refit was worse on the validation data and the unmitigated model was
        kept (``removed_indices_`` is then empty).
    validation_value_, original_validation_value_ : float or None
        The hard value of ``f`` for the refit and for the unmitigated model on the data named
        by ``validated_on_`` (None when nothing was removed).
    validated_on_ : str
        ``"X_val"``, ``"held-out validation_fraction"`` or ``"training data"``.
    fraction_ : float
        The fraction used (the chosen one for ``fraction="auto"``).
    auto_path_ : list of dict or None
        For ``fraction="auto"``: per amount tried, ``fraction``, ``n_removed`` and the
        validation ``value`` of ``f`` and ``accuracy`` of its refit (and, for
        ``"reweigh"``, the ``predicted`` value of the weight program).
    predicted_path_ : list of float
        With ``stop_at_predicted_minimum``: the metric predicted after each removal of the
        removal order (first order, on the scoring data), up to the budget (empty for
        ``"reweigh"``); for gradient-boosted trees, by the leaf refit at the sizes
        ``predicted_path_sizes_``.
    predicted_path_sizes_ : list of int
        The number of removed rows each entry of ``predicted_path_`` is for (1, 2, 3, ...
        for the first-order path).
    predicted_value_ : float or None
        For ``"reweigh"``: the first-order prediction of ``f`` on the validation data for the
        chosen weights (the weight program's :math:`F(\\delta)`); compare
        ``validation_value_``, the refit's hard value.
    newton_value_ : float or None
        The hard value of ``f`` on the validation data predicted by one Newton step from the
        scored model to the final weights (for the whole set at once, as
        ``method="one_step_newton"`` does for one point), where that is cheap (a linear model
        or MLP with at most 2,000 parameters); None otherwise or when nothing was removed.
        Beside ``validation_value_`` (the refit) it shows how far the refit is from the
        second-order prediction.
    target_reached_ : bool or None
        With ``target``: whether ``estimator_``'s hard value of ``f`` on the validation data
        reaches it.
    classes_, n_features_in_, feature_names_in_ :
        As fitted.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from fairlearn_divine import InfluentialPointRemover
    >>> from fairlearn_divine.datasets import make_divine_synthetic
    >>> data = make_divine_synthetic(random_state=0)
    >>> remover = InfluentialPointRemover(LogisticRegression(), fraction=0.02)
    >>> remover = remover.fit(data.X, data.y, sensitive_features=data.sensitive_features)
    >>> len(remover.removed_indices_) <= 0.02 * len(data.y)
    True
    """

    def __init__(
        self,
        estimator,
        *,
        objective="equal_accuracy",
        method="auto",
        fraction=0.05,
        diversity=None,
        gamma="pairwise_distance",
        mode="remove",
        recalculate=None,
        validation_fraction=None,
        keep_original_if_worse=True,
        stop_at_predicted_minimum=True,
        max_accuracy_loss=0.01,
        target=None,
        max_loss_increase=0.0,
        random_state=None,
        progress=None,
    ):
        self.estimator = estimator
        self.objective = objective
        self.method = method
        self.fraction = fraction
        self.diversity = diversity
        self.gamma = gamma
        self.mode = mode
        self.recalculate = recalculate
        self.validation_fraction = validation_fraction
        self.keep_original_if_worse = keep_original_if_worse
        self.stop_at_predicted_minimum = stop_at_predicted_minimum
        self.max_accuracy_loss = max_accuracy_loss
        self.target = target
        self.max_loss_increase = max_loss_increase
        self.random_state = random_state
        self.progress = progress

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.input_tags.string = inner.input_tags.string
        tags.input_tags.categorical = inner.input_tags.categorical
        return tags

    def get_metadata_routing(self):
        """Metadata routing: ``sample_weight`` (if requested) to the inner estimator's fit."""
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(
                estimator=self.estimator,
                method_mapping=MethodMapping().add(caller="fit", callee="fit"),
            )
        )

    def _check_params(self):
        if not (hasattr(self.estimator, "fit") and hasattr(self.estimator, "get_params")):
            raise TypeError(
                "estimator must be a scikit-learn classifier (with fit and get_params), got "
                f"{self.estimator!r}."
            )
        f = self.fraction
        auto = isinstance(f, str) and f == "auto"
        if not auto and not (
            isinstance(f, numbers.Real) and not isinstance(f, bool) and 0 < f < 1
        ):
            raise ValueError(f"fraction must be a float in (0, 1) or 'auto', got {f!r}.")
        if auto and self.recalculate is not None:
            raise ValueError("fraction='auto' scores once: it does not combine with recalculate.")
        check_real(self.max_accuracy_loss, "max_accuracy_loss", minimum=0, maximum=1)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}.")
        if self.recalculate is not None:
            check_integer(self.recalculate, "recalculate", minimum=1)
        if self.validation_fraction is not None:
            check_real(
                self.validation_fraction,
                "validation_fraction",
                minimum=0,
                maximum=1,
                include_minimum=False,
                include_maximum=False,
            )
        for name in ("keep_original_if_worse", "stop_at_predicted_minimum"):
            value = getattr(self, name)
            if not isinstance(value, bool | np.bool_):
                raise ValueError(f"{name} must be True or False, got {value!r}.")
        for name in ("target", "max_loss_increase"):
            if getattr(self, name) is not None:
                check_real(getattr(self, name), name, minimum=0)
        if self.mode == "reweigh" and self.recalculate is not None:
            raise ValueError("mode='reweigh' solves one program: it does not take recalculate.")
        if self.mode == "reweigh" and self.diversity is not None:
            raise ValueError(
                f"mode='reweigh' chooses weights by a program, not a diverse set: "
                f"diversity={self.diversity!r} must be None."
            )
        check_progress(self.progress)
        resolve_objective(self.objective)  # unknown names fail here

    def fit(
        self,
        X,
        y,
        *,
        sensitive_features=None,
        sample_weight=None,
        X_val=None,
        y_val=None,
        sensitive_features_val=None,
    ):
        """Score, select, and refit without (or down-weighting) the harmful points.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sensitive_features : array-like of shape (n_samples,) or (n_samples, k), optional
            Needed by fairness objectives (a ``ValueError`` without them).
        sample_weight : array-like of shape (n_samples,), optional
            Passed to the inner estimator (through metadata routing when it is enabled).
        X_val, y_val, sensitive_features_val : optional
            Validation data: ``f`` is evaluated there to score the training points, and the
            refitted model is compared there with the unmitigated one (see
            ``keep_original_if_worse``). Routed like ``sensitive_features`` (request them with
            ``set_fit_request``). Not together with ``validation_fraction``.

        Returns
        -------
        self
        """
        self._check_params()
        sensitive_features = resolve_sensitive_features(sensitive_features, X)
        validate_data(self, X, y, skip_check_array=True)
        X = _as_indexable(X)
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if len(np.unique(y)) < 2:
            raise ValueError(
                f"y has a single class, 1 class ({y[0]!r}): a classifier needs at least 2 classes."
            )
        n = n_rows(X)
        if len(y) != n:
            raise ValueError(f"X has {n} rows but y has {len(y)} entries.")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=float)
            if sample_weight.shape != (n,):
                raise ValueError(
                    f"sample_weight must have shape ({n},), got {sample_weight.shape}."
                )
        if X_val is not None and self.validation_fraction is not None:
            raise ValueError(
                "Give either X_val (with y_val) or validation_fraction, not both: "
                f"validation_fraction={self.validation_fraction!r}."
            )
        if self.fraction == "auto" and X_val is None and self.validation_fraction is None:
            raise ValueError(
                "fraction='auto' chooses the amount on validation data: pass X_val, y_val "
                "(and sensitive_features_val) to fit, or set validation_fraction."
            )
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together.")
        if X_val is not None and len(y_val) != n_rows(X_val):
            raise ValueError(f"X_val has {n_rows(X_val)} rows but y_val has {len(y_val)}.")
        sensitive_features_val = resolve_sensitive_features(
            sensitive_features_val, X_val, argname="sensitive_features_val"
        )
        if get_config().get("enable_metadata_routing", False):
            given = {"sample_weight": sample_weight, "sensitive_features": sensitive_features}
            routed = process_routing(
                self, "fit", **{k: v for k, v in given.items() if v is not None}
            )
            # only what the caller passed and the inner estimator requested
            inner_params = {k: v for k, v in routed.estimator.fit.items() if v is not None}
        else:
            inner_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        # the weights the inner estimator is fitted (and scored) with: only what reaches it
        routed_weight = inner_params.get("sample_weight")
        weights = np.ones(n) if routed_weight is None else np.asarray(routed_weight, dtype=float)
        objective = resolve_objective(self.objective)

        self.scores_ = None
        self.n_harmful_ = 0
        self.stopped_early_ = False
        self.stop_reason_ = None
        if sensitive_features is None and objective.requires_sensitive_features:
            raise ValueError(
                f"objective={objective.name!r} compares sensitive groups, but fit() got no "
                "sensitive_features: pass sensitive_features=..., or use an objective that "
                "needs none (e.g. objective='log_loss')."
            )
        if sensitive_features is not None and len(sensitive_features) != n:
            raise ValueError(
                f"sensitive_features has {len(sensitive_features)} rows but X has {n}."
            )
        validation = None
        if X_val is not None:
            check_feature_names(self, X_val, "X_val")
            validation = (X_val, np.asarray(y_val), sensitive_features_val, "X_val")
        # one bar over the refits below (the scoring calls get ``progress`` for their own)
        self._refit_bar = progress_bar(self.progress, None, "InfluentialPointRemover refits")
        try:
            # the inputs are checked here, under the caller's names: not again in each stage
            with feature_names_checked():
                return self._mitigate(
                    X, y, n, sensitive_features, weights, inner_params, validation, objective,
                    run_seed(self.random_state),
                )  # fmt: skip
        finally:
            self._refit_bar.close()
            del self._refit_bar

    def _expect_refits(self, n_refits):
        """Add ``n_refits`` (at most that many) to the total of the bar over the refits."""
        bar = self._refit_bar
        bar.total = (bar.total or 0) + int(n_refits)  # no refresh: it would skip the delay

    def _fit_rows(self, X, y, inner_params, sample_weight, rows):
        """The inner estimator refitted on ``rows`` (see :meth:`_refitter`); one step of the
        bar."""
        model = self._refitter(X, y, inner_params, sample_weight).fit(rows)
        self._refit_bar.update(1)
        return model

    def _newton_value(
        self, original, X, y, fit_rows, weights, final_weights, rows, inner_params, ctx
    ):
        """The hard value of f on the validation data (``ctx``) after one Newton step from the
        scored model towards the final weights, where that is cheap: a differentiable view (linear
        models, MLPs) with at most ``NEWTON_MAX_PARAMS`` parameters; else None.

        With :math:`c'` the objective weights after the removal, :math:`\\theta' = \\hat\\theta
        - H_{c'}^{-1} \\nabla L(\\hat\\theta; c')`, as ``method="one_step_newton"`` for one
        point, here for the whole set at once."""
        from .._core.linalg import HessianSolver
        from .._models import make_view

        fit_rows = np.asarray(fit_rows)
        weighted = "sample_weight" in inner_params
        try:
            view = make_view(
                original,
                take(X, fit_rows),
                y[fit_rows],
                sample_weight=weights[fit_rows] if weighted else None,
            )
        except (TypeError, ValueError):
            return None
        if view.n_params > NEWTON_MAX_PARAMS:
            return None
        share = np.zeros(len(fit_rows))
        kept = np.isin(fit_rows, rows)
        own = weights[fit_rows[kept]]
        # rows the caller gave weight 0 have objective weight 0 already
        share[kept] = np.divide(
            final_weights[fit_rows[kept]], own, out=np.zeros(len(own)), where=own > 0
        )
        c = view.objective_weights_ * share
        theta = view.params
        with catch_warnings_locked():
            # a flat direction after the removal is damped; the step is an estimate either way
            warnings.simplefilter("ignore")
            step = HessianSolver(view.hessian(weights=c), null_space=view.null_space()).solve(
                view.objective_gradient(weights=c)
            )
        return float(ctx.values(view.predict_proba(ctx.X, params=theta - step))[0])

    def _mitigate(
        self, X, y, n, sensitive_features, weights, inner_params, validation, objective, seed
    ):
        """Score, choose the removal (or weights), refit and compare: the body of :meth:`fit`.

        ``seed`` is the one seed drawn from ``random_state`` (for the validation split and the
        diversity selection), so a ``RandomState`` instance is drawn from once."""
        self.fraction_ = self.fraction
        self.auto_path_ = None
        self.predicted_value_ = None
        fitted = None
        if self.mode == "reweigh":
            removed, fit_rows, original, validation, fitted, ctx = self._reweigh(
                X, y, sensitive_features, weights, inner_params, validation, objective, seed
            )
        else:
            removed, fit_rows, original, validation = self._select(
                X, y, sensitive_features, weights, inner_params, validation, seed
            )
            ctx = None  # nothing scored (a budget of 0 rows): built for the refit below
            if original is not None:
                ctx = self._validation_context(objective, original, validation)
            if self.fraction == "auto":
                removed, fitted = self._choose_amount(
                    lambda k: (
                        k / len(fit_rows),
                        removed[:k],
                        self._refit_without(X, y, removed[:k], fit_rows, weights, inner_params),
                    ),
                    sorted(
                        {
                            min(len(removed), int(np.floor(f * len(fit_rows))))
                            for f in AUTO_FRACTIONS
                        }
                    ),
                    objective,
                    original,
                    ctx,
                    bisect=True,
                )
        if fitted is None and not len(removed) and original is not None:
            # nothing removed: the model the points were scored with is that refit already
            fitted = original, np.asarray(fit_rows), weights
        if fitted is None:
            self._expect_refits(1)
            fitted = self._refit_without(X, y, removed, fit_rows, weights, inner_params)
        self.estimator_, rows, final_weights = fitted
        if ctx is None:
            ctx = self._validation_context(objective, self.estimator_, validation)
        self.kept_original_ = False
        self.validation_value_ = self.original_validation_value_ = None
        self.validated_on_ = validation[3]
        if len(removed) and original is not None:
            self._compare_with_original(objective, original, ctx, validation[3])
            if self.kept_original_:
                self.estimator_ = original
                removed = np.array([], dtype=np.intp)
                rows = np.asarray(fit_rows)
                final_weights = weights
        self.newton_value_ = None
        if len(removed) and original is not None and not self.kept_original_:
            self.newton_value_ = self._newton_value(
                original, X, y, fit_rows, weights, final_weights, rows, inner_params, ctx
            )
        self.target_reached_ = None
        if self.target is not None:
            if self.validation_value_ is None:
                self.validation_value_ = float(ctx.measure(self.estimator_)[1][0])
            self.target_reached_ = self._meets(objective, self.validation_value_)
        self.classes_ = self.estimator_.classes_
        self.removed_indices_ = removed
        self.removed_labels_ = row_index(X, n)[removed]
        self.sample_indices_ = rows
        self.sample_weight_ = final_weights[rows]
        return self

    @staticmethod
    def _validation_context(objective, model, validation):
        """The evaluation context of ``f`` on the validation data, for ``model``'s classes."""
        X_v, y_v, sf_v, _ = validation
        return EvalContext([objective], model.classes_, X_v, y_v, sf_v)

    def _meets(self, objective, value):
        """Whether a hard value of the objective reaches ``target``."""
        if getattr(objective, "greater_is_better", False):
            return bool(value >= self.target)
        return bool(value <= self.target)

    def _refit_without(self, X, y, removed, fit_rows, weights, inner_params):
        """The estimator refitted on ``fit_rows`` without (or down-weighting) ``removed``."""
        keep = np.zeros(n_rows(X), dtype=bool)
        keep[fit_rows] = True
        final_weights = weights.copy()
        if self.mode == "remove":
            keep[removed] = False
        elif len(removed):
            harm = -self.scores_[removed]
            final_weights[removed] = weights[removed] * (1.0 - harm / harm.max())
        rows = np.flatnonzero(keep)
        weighted = "sample_weight" in inner_params or (self.mode == "downweight" and len(removed))
        model = self._fit_rows(X, y, inner_params, final_weights if weighted else None, rows)
        return model, rows, final_weights

    def _refit_weighted(self, X, y, fit_rows, weights, inner_params, delta):
        """The estimator refitted on ``fit_rows`` with weights ``weights * (1 - delta)``;
        rows with ``delta = 1`` are left out."""
        final_weights = weights.copy()
        final_weights[fit_rows] = weights[fit_rows] * (1.0 - delta)
        rows = np.asarray(fit_rows)[delta < 1.0]
        weighted = "sample_weight" in inner_params or bool(np.any((delta > 0) & (delta < 1)))
        model = self._fit_rows(X, y, inner_params, final_weights if weighted else None, rows)
        return model, rows, final_weights

    def _choose_amount(self, make, amounts, objective, original, ctx, *, bisect=False):
        """``fraction="auto"``: of the candidate amounts, the one whose refit has the best hard
        metric on the validation data among those losing at most ``max_accuracy_loss`` of
        validation accuracy (the unmitigated model, nothing removed, is a candidate); with
        ``target``, the smallest amount that reaches it (refined by bisection between the
        candidates when ``bisect``: the amounts are then prefix lengths of one order).

        ``make(amount)`` returns ``(fraction, removed, fitted)`` or None (the same solution as
        the previous amount: the scan stops).
        """
        sign = -1.0 if getattr(objective, "greater_is_better", False) else 1.0
        acc0, values0 = ctx.measure(original)
        empty = np.array([], dtype=np.intp)
        path = [{"fraction": 0.0, "n_removed": 0, "value": float(values0[0]), "accuracy": acc0}]
        tried = {0: (path[0], empty, None)}

        def fair_enough(entry):
            return entry["accuracy"] >= acc0 - self.max_accuracy_loss and (
                self.target is not None and self._meets(objective, entry["value"])
            )

        def evaluate(amount):
            made = make(amount)
            if made is None:
                return None
            fraction, removed, fitted = made
            acc, values = ctx.measure(fitted[0])
            entry = {
                "fraction": float(fraction),
                "n_removed": int(len(removed)),
                "value": float(values[0]),
                "accuracy": acc,
            }
            if len(fitted) > 3:
                entry["predicted"] = fitted[3]
            path.append(entry)
            tried[amount] = (entry, np.asarray(removed, dtype=np.intp), fitted[:3])
            return entry

        reached = 0 if fair_enough(path[0]) else None
        below = 0
        self._expect_refits(sum(1 for amount in amounts if amount))
        for amount in amounts:
            if reached is not None:
                break
            if amount == 0 or amount in tried:
                continue
            entry = evaluate(amount)
            if entry is None:
                break
            if fair_enough(entry):
                reached = amount
            else:
                below = amount
        if reached is not None and bisect:
            # the smallest prefix between the last amount that did not reach the target and
            # the first that did, each probe verified by its refit
            if reached - below > 1:
                self._expect_refits(np.ceil(np.log2(reached - below)))
            while reached - below > 1:
                mid = (below + reached) // 2
                if fair_enough(evaluate(mid)):
                    reached = mid
                else:
                    below = mid
        if reached is not None:
            chosen = reached
        else:
            floor = acc0 - self.max_accuracy_loss
            ok = [a for a, (e, _, _) in tried.items() if e["accuracy"] >= floor]
            # the best value; ties keep the smaller amount
            chosen = min(ok, key=lambda a: (sign * tried[a][0]["value"], tried[a][0]["n_removed"]))
            if self.target is not None:
                warnings.warn(
                    f"No amount tried reached target={self.target!r} for {objective.name} on "
                    f"the validation data within max_accuracy_loss={self.max_accuracy_loss!r}; "
                    f"keeping the best one ({tried[chosen][0]['value']:.4g}).",
                    UserWarning,
                    stacklevel=3,
                )
        self.auto_path_ = sorted(path, key=lambda e: (e["fraction"], e["n_removed"]))
        entry, removed, fitted = tried[chosen]
        self.fraction_ = entry["fraction"]
        return removed, fitted

    def _reweigh(
        self, X, y, sensitive_features, weights, inner_params, validation, objective, seed
    ):
        """``mode="reweigh"``: score once, solve the weight program (for the budget, or for
        each candidate budget with ``fraction="auto"``) and refit with the weights."""
        from ._weights import WeightProgram

        sf = None if sensitive_features is None else np.asarray(sensitive_features, dtype=object)
        score_rows, eval_kwargs, validation = self._scoring_split(X, y, sf, validation, seed)
        weighted = "sample_weight" in inner_params
        self._expect_refits(1)
        model = self._fit_rows(X, y, inner_params, weights if weighted else None, score_rows)
        ctx = self._validation_context(objective, model, validation)
        layout = None
        gaps = None
        if objective.requires_sensitive_features:
            found = group_gaps(objective, ctx.groups)
            if found is not None:
                gaps, n_groups = found
                layout = (len(objective.rates), n_groups, objective.combine)
        extra = ["log_loss"] if self.max_loss_increase is not None else []
        with catch_warnings_locked():
            if extra and not eval_kwargs:  # documented under max_loss_increase
                warnings.filterwarnings("ignore", message=".*stationary at the fit")
            result = training_point_importance(
                model,
                take(X, score_rows),
                y[score_rows],
                method=self._scoring_method(objective, eval_kwargs),
                objective=[self.objective, *extra, *(gaps or [])],
                sensitive_features=None if sf is None else sf[score_rows],
                sample_weight=weights[score_rows] if weighted else None,
                progress=self.progress,
                **eval_kwargs,
            )
        all_scores = np.atleast_2d(result.scores)
        base = np.atleast_1d(result.baseline)
        scores = np.full(len(y), np.nan)
        scores[score_rows] = all_scores[0]
        self.scores_ = scores
        self.n_harmful_ = int(np.sum(all_scores[0] < 0))
        first = 1 + len(extra)
        if layout is None:
            value_scores, value_base = all_scores[:1], base[:1]
        else:
            value_scores, value_base = all_scores[first:], base[first:]
        program = WeightProgram(
            weights=weights[score_rows],
            value_scores=value_scores,
            value_base=value_base,
            layout=layout,
            greater_is_better=bool(getattr(objective, "greater_is_better", False)),
            loss_scores=all_scores[1] if extra else None,
            max_loss_increase=self.max_loss_increase,
            target=self.target,
        )
        self.predicted_path_ = []
        last = {}

        def make(budget):
            delta, predicted = program.solve(budget)
            if "delta" in last and np.array_equal(delta, last["delta"]):
                return None  # the budget no longer binds: larger ones give the same weights
            last["delta"] = delta
            order = np.argsort(-delta, kind="stable")
            removed = score_rows[order[delta[order] > 0]]
            if not len(removed):
                return 0.0, removed, (model, np.asarray(score_rows), weights, predicted)
            fitted = self._refit_weighted(X, y, score_rows, weights, inner_params, delta)
            share = float(weights[score_rows] @ delta / weights[score_rows].sum())
            return share, removed, (*fitted, predicted)

        if self.fraction == "auto":
            removed, fitted = self._choose_amount(
                make, list(AUTO_FRACTIONS), objective, model, ctx
            )
            chosen = [e for e in self.auto_path_ if e["fraction"] == self.fraction_]
            self.predicted_value_ = chosen[0].get("predicted") if chosen else None
        else:
            self._expect_refits(1)
            _, removed, fitted = make(self.fraction)
            self.predicted_value_ = fitted[3]
            fitted = fitted[:3]
        if fitted is None:  # nothing removed
            fitted = model, np.asarray(score_rows), weights
        return removed, score_rows, model, validation, fitted, ctx

    def _compare_with_original(self, objective, original, ctx, where):
        """The hard value of f for the refitted and the unmitigated model on the validation data
        (``where``: or the training data); keep the unmitigated one when the refit is worse."""
        new = float(ctx.measure(self.estimator_)[1][0])
        old = float(ctx.measure(original)[1][0])
        self.validation_value_, self.original_validation_value_ = new, old
        worse = new < old if getattr(objective, "greater_is_better", False) else new > old
        if worse and self.keep_original_if_worse:
            self.kept_original_ = True
            warnings.warn(
                f"Removing the selected points made {objective.name} worse on the {where} "
                f"({old:.4g} -> {new:.4g}); keeping the unmitigated model "
                "(keep_original_if_worse=True). A smaller fraction, mode='downweight' or "
                "validation data (X_val=) may help.",
                UserWarning,
                stacklevel=3,
            )

    @staticmethod
    def _scoring_data(X, y, sf, rows, eval_kwargs):
        """The data the points are scored on: the evaluation data, else the fitting rows."""
        if eval_kwargs:
            return tuple(eval_kwargs[k] for k in ("X_eval", "y_eval", "sensitive_features_eval"))
        return take(X, rows), y[rows], None if sf is None else sf[rows]

    def _signed_gaps(self, model, X, y, sf, rows, eval_kwargs):
        """The signed gaps behind the objective at ``model`` on the scoring data, or None."""
        objective = resolve_objective(self.objective)
        if not self.stop_at_predicted_minimum or not objective.requires_sensitive_features:
            return None
        X_e, y_e, sf_e = self._scoring_data(X, y, sf, rows, eval_kwargs)
        ctx = EvalContext([objective], model.classes_, X_e, y_e, sf_e)
        proba = predict_proba_aligned(model, ctx.X, ctx.classes)
        return signed_gaps(objective, ctx.y_idx, proba, ctx.groups)

    def _leaf_refit_path(self, model, X, y, sf, rows, sw, eval_kwargs, picked):
        """For gradient-boosted trees: the hard metric on the scoring data after removing
        prefixes of ``picked`` (positions in ``rows``), each by the fixed-structure leaf refit
        of the whole prefix, at up to ``TREE_PATH_POINTS`` prefix sizes (0 included).

        Returns ``(sizes, values)``; ``values[0]`` is the model's own (recomputed) value."""
        n_points = min(len(picked), TREE_PATH_POINTS)
        sizes = np.unique(np.round(np.linspace(0, len(picked), n_points + 1)).astype(np.intp))
        X_e, y_e, sf_e = self._scoring_data(X, y, sf, rows, eval_kwargs)
        ctx = EvalContext([resolve_objective(self.objective)], model.classes_, X_e, y_e, sf_e)
        values, _ = leaf_refit_without(
            model,
            take(X, rows),
            y[rows],
            sw,
            ctx,
            X_e,
            [picked[:k] for k in sizes],
            eval_is_train=not eval_kwargs,
        )
        return sizes, values[0]

    def _refitter(self, X, y, inner_params, sample_weight):
        """Refits of the inner estimator with the routed fit parameters and these weights.

        Weights the caller passed go where they went (through metadata routing when it is on);
        weights only the remover sets (down-weighting without caller weights) go to a
        Pipeline's last step (see ``fit_estimator``).
        """
        params = {k: v for k, v in inner_params.items() if k != "sample_weight"}
        if sample_weight is not None and "sample_weight" in inner_params:
            # the caller's weights reached the inner estimator through routing: keep routing
            # them (the down-weighted ones too) the same way
            params["sample_weight"] = sample_weight
            sample_weight = None
        return EstimatorRefitter(
            self.estimator, X, y, sample_weight=sample_weight, fit_params=params, warm_start=False
        )

    def _scoring_method(self, objective, eval_kwargs):
        """``method="auto"``: as for ``training_point_importance`` of ``objective`` alone
        (not of the log-loss constraint)."""
        if self.method != "auto":
            return self.method
        return resolve_method([objective], eval_is_train=not eval_kwargs, estimator=self.estimator)

    def _scoring_split(self, X, y, sf, validation, seed):
        """The rows that are scored (and fitted), the evaluation data the scores are taken on
        (``training_point_importance`` keywords) and the validation data, with its name."""
        n = n_rows(X)
        score_rows = np.arange(n)
        if validation is not None:
            eval_kwargs = {
                "X_eval": validation[0],
                "y_eval": validation[1],
                "sensitive_features_eval": validation[2],
            }
            return score_rows, eval_kwargs, validation
        if self.validation_fraction is None:
            return score_rows, {}, (X, y, sf, "training data")
        rng = check_random_state(seed)
        score_rows, val_rows = train_test_split(
            score_rows, test_size=self.validation_fraction, random_state=rng, stratify=y
        )
        score_rows, val_rows = np.sort(score_rows), np.sort(val_rows)
        validation = (
            take(X, val_rows),
            y[val_rows],
            None if sf is None else sf[val_rows],
            "held-out validation_fraction",
        )
        eval_kwargs = {
            "X_eval": validation[0],
            "y_eval": validation[1],
            "sensitive_features_eval": validation[2],
        }
        return score_rows, eval_kwargs, validation

    def _select(self, X, y, sensitive_features, weights, inner_params, validation, seed):
        n = n_rows(X)
        sf = None if sensitive_features is None else np.asarray(sensitive_features, dtype=object)
        score_rows, eval_kwargs, validation = self._scoring_split(X, y, sf, validation, seed)
        method = self._scoring_method(resolve_objective(self.objective), eval_kwargs)
        largest = max(AUTO_FRACTIONS) if self.fraction == "auto" else self.fraction
        budget = int(np.floor(largest * len(score_rows)))
        original = None
        self.predicted_path_ = []
        self.predicted_path_sizes_ = []
        step = budget if self.recalculate is None else self.recalculate
        scores = np.full(n, np.nan)
        removed = []
        alive = np.zeros(n, dtype=bool)
        alive[score_rows] = True
        first = True
        if budget:  # one refit (and scoring) per round; fewer when it stops early
            self._expect_refits(-(-budget // step))
        while len(removed) < budget:
            rows = np.flatnonzero(alive)
            weighted = "sample_weight" in inner_params
            model = self._fit_rows(X, y, inner_params, weights if weighted else None, rows)
            sw = weights[rows] if weighted else None
            try:
                signed = self._signed_gaps(model, X, y, sf, rows, eval_kwargs)
                result = training_point_importance(
                    model,
                    take(X, rows),
                    y[rows],
                    method=method,
                    objective=[self.objective] + ([] if signed is None else signed[0]),
                    sensitive_features=None if sf is None else sf[rows],
                    sample_weight=sw,
                    progress=self.progress,
                    **eval_kwargs,
                )
                gap_scores = np.atleast_2d(result.scores)[1:]
                gap_base = np.atleast_1d(result.baseline)[1:]
                result = Bunch(scores=np.atleast_2d(result.scores)[0])
            except ValueError as err:
                if first:
                    raise
                # a recalculation round can empty a group's positives (or negatives): the metric
                # is then undefined on the remaining data, so stop with what was removed
                self.stopped_early_ = True
                self.stop_reason_ = str(err)
                break
            if first:
                scores[rows] = result.scores
                self.n_harmful_ = int(np.sum(result.scores < 0))
                original = model  # the unmitigated model on the fitting rows
                first = False
            harm = -np.asarray(result.scores)
            X_div = (
                diversity_features(model, take(X, rows)) if self.diversity is not None else None
            )
            k = min(step, budget - len(removed))
            picked = _select_harmful(harm, k, self.diversity, self.gamma, X_div, seed)
            if signed is not None and len(picked):
                # the metric predicted after removing prefixes of the picks: stop at its
                # minimum, before a gap crosses zero and grows again
                if method == "tree_influence":
                    how = "fixed-structure leaf refit"
                    sizes, predicted = self._leaf_refit_path(
                        model, X, y, sf, rows, sw, eval_kwargs, picked
                    )
                else:  # the signed gaps to first order, after each removal
                    how = "first order"
                    path = gap_base[:, None] + np.cumsum(gap_scores[:, picked], axis=1)
                    predicted = signed[1](np.column_stack([gap_base, path]))
                    sizes = np.arange(len(picked) + 1)
                best = int(np.argmin(predicted))
                if self.target is not None and np.any(predicted <= self.target):
                    # the first prefix predicted to reach the target: go no further
                    best = min(best, int(np.argmax(predicted <= self.target)))
                self.predicted_path_.extend(predicted[1:].tolist())
                self.predicted_path_sizes_.extend((len(removed) + sizes[1:]).tolist())
                if sizes[best] < len(picked):
                    picked = picked[: sizes[best]]
                    if self.recalculate is not None:
                        scores[rows[picked]] = result.scores[picked]
                    removed.extend(rows[picked].tolist())
                    self.stopped_early_ = True
                    self.stop_reason_ = (
                        f"removing more points is predicted ({how}) to widen the gap again"
                        if predicted[best] > (self.target if self.target is not None else -1)
                        else f"the target is predicted ({how}) to be reached"
                    )
                    break
            if self.recalculate is not None:
                scores[rows[picked]] = result.scores[picked]  # scores used for the picks
            removed.extend(rows[picked].tolist())
            alive[rows[picked]] = False
            if len(picked) < k:
                self.stopped_early_ = True
                self.stop_reason_ = "no more harmful points"
                break
        self.scores_ = scores
        return np.array(removed, dtype=np.intp), score_rows, original, validation

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        """Predict with the refitted estimator."""
        check_is_fitted(self)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the refitted estimator."""
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities of the refitted estimator."""
        check_is_fitted(self)
        return self.estimator_.predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function of the refitted estimator."""
        check_is_fitted(self)
        return self.estimator_.decision_function(X)
