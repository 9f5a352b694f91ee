"""Training-point importance: influence, one-step Newton, leave-one-out, counterfactual, Shapley.

Sign convention (used everywhere in fairlearn-divine)::

    scores[i] = f(theta without i) - f(theta)

for an evaluation function ``f`` that is a cost (lower is better). A **positive** score means
that removing point *i* makes ``f`` worse: the point helps. A **negative** score means the point
is harmful (for a fairness objective: unfairness-inducing).

Methods
-------
Let :math:`L(\\theta) = \\sum_i c_i l_i(\\theta) + \\Omega(\\theta)` be the estimator's training
objective (see :mod:`fairlearn_divine._models`), :math:`H = \\nabla^2 L(\\hat\\theta)`,
:math:`g_i = \\nabla l_i(\\hat\\theta)` and :math:`v = H^{-1} \\nabla f(\\hat\\theta)`.

``"influence"``
    Removing *i* moves the optimum by :math:`\\Delta_i \\approx H^{-1} c_i g_i` (one Newton step
    from :math:`\\hat\\theta` on the objective without *i*, with the full Hessian), so

    .. math:: I_i = \\nabla f^T \\Delta_i = c_i\\, g_i^T v .

    One factorisation of :math:`H`, one solve per objective, one product with the training
    gradients. **Not for the training log loss on the training data**: that loss is
    stationary at the fit up to the penalty, :math:`\\nabla f = -\\nabla\\Omega / n`, so
    :math:`I_i` is the penalty's term alone while the change on removing *i* is second order
    (measured Pearson with exact LOO on 2,000 Gaussian points: -0.70 at ``C=1``, -0.88 at
    ``C=100``; ``one_step_newton`` 1.000, quadratic or exact;
    ``python benchmarks/bench_training_loss_influence.py``). Influence warns there;
    ``method="auto"`` uses ``one_step_newton``.
``"one_step_newton"``
    The same Newton step but with the Hessian of the objective *without* point *i*,
    :math:`\\Delta_i = (H - c_i \\nabla^2 l_i)^{-1} c_i g_i`. With :math:`\\nabla^2 l_i =
    F_i F_i^T` (rank 1 for a binary GLM, rank ``n_classes`` for softmax) the
    Woodbury/Sherman-Morrison identity gives, with :math:`Q_i = F_i^T H^{-1} F_i`,

    .. math:: \\Delta_i = H^{-1} c_i g_i + H^{-1} F_i (I - c_i Q_i)^{-1} c_i F_i^T H^{-1}
              c_i g_i ,

    which for a binary GLM is the leverage correction :math:`\\Delta_i = H^{-1} c_i g_i /
    (1 - c_i a_i h_i)`, :math:`h_i = \\tilde x_i^T H^{-1} \\tilde x_i`. Cost :math:`O(n p^2)`.
    ``f`` is linearised (``objective_expansion="linear"``, the change of the smooth
    surrogate for a fairness objective), expanded to second order,
    :math:`\\nabla f^T \\Delta_i + \\tfrac12 \\Delta_i^T \\nabla^2 f\\, \\Delta_i`
    (``"quadratic"``, :math:`O(n p^2)`; for ``"log_loss"`` on a GLM, whose Hessian is
    :math:`\\frac1{n_{eval}} \\sum_j A_j \\otimes \\tilde x_j \\tilde x_j^T`), or evaluated
    at :math:`\\hat\\theta + \\Delta_i` (``"exact"``, :math:`O(n\\, n_{eval}\\, p)`: the
    *hard* metric for a fairness objective, which one point rarely moves). The default
    ``"auto"`` is quadratic for the objectives whose Hessian is known and linear for the
    others. At small *n* most of the gap between influence and exact leave-one-out for the
    log loss is its curvature, which the quadratic term captures (measured: Pearson with LOO
    refits -0.48 for influence, 0.9997 for one-step Newton, for a 3-class model at n = 300;
    ``tests/_importance/test_importance.py::test_one_step_newton_beats_influence_on_training_loss``).
``"loo"``
    Exact leave-one-out: the estimator is refitted without each point (any classifier). Refits
    are warm-started from the fitted solution when the estimator has ``warm_start`` and then use
    ``tol=min(tol, refit_tol)``, because a warm start at the full-data optimum would otherwise
    stop at once; the reference :math:`f(\\theta)` is a refit on all the data with the same
    settings, so that solver error cancels.
``"counterfactual"``
    DIVINE's counterfactual prediction (appendix B): the change of ``f`` when point *i*'s label
    is flipped (binary: to the other class; multiclass: to the most probable other class).
    Closed form for differentiable views,
    :math:`\\theta_{flip} \\approx \\hat\\theta - H^{-1} c_i (\\nabla l(x_i, y_i') -
    \\nabla l(x_i, y_i))`; refits with the flipped label for other estimators or with
    ``exact=True``.
``"data_banzhaf"``
    Data Banzhaf (Wang & Jia 2023), :math:`\\phi_i = 2^{1-n} \\sum_{S \\subseteq D \\setminus
    \\{i\\}} [f(S) - f(S \\cup \\{i\\})]`, by maximum sample reuse: ``n_samples`` (default
    2000) random halves :math:`S_k` of the data (each point in with probability 1/2), one
    refit each (any classifier), and :math:`\\hat\\phi_i` = the mean of :math:`f(S_k)` over
    the subsets without *i* minus that over the subsets with *i*, with two-sample standard
    errors (``result.scores_stderr``). Options ``n_samples``, ``min_samples`` (50),
    ``convergence_tolerance`` (0.05), ``max_time``, ``checkpoint``, ``refit_solver``; see
    :mod:`fairlearn_divine._importance._banzhaf`.
``"data_oob"``
    Data-OOB (Kwon & Zou 2023) for a fitted bagging ensemble (random forest, extra trees with
    ``bootstrap=True``, ``BaggingClassifier``; also as a Pipeline's last step), from its own
    bootstrap samples and no refit. For ``"log_loss"`` / ``"zero_one_loss"`` on the training
    data, :math:`d_i` = the mean loss on *i* of the members not trained on it and
    ``scores[i]`` :math:`= (\\bar d - d_i) / (n - 1)`, the change of the mean :math:`\\bar d`
    when *i*'s term is dropped (the paper's value, centred: positive = predicted better than
    the average point; not a leave-one-out estimate of the ensemble's loss); for the other
    objectives, the first-order change of the ensemble's ``f`` when its probabilities become
    those of the members not trained on *i* (``valuation="ensemble_linear"``, the smooth
    surrogate's gradient for fairness objectives) or, for objectives without a gradient, the
    mean of each member's ``f`` over the members not trained on *i* minus its mean over all
    (``"member_difference"``). Option ``valuation``; see :mod:`fairlearn_divine._importance._oob`.
``"tree_influence"``
    Fixed-structure influence for a ``HistGradientBoostingClassifier`` or
    ``GradientBoostingClassifier`` (binary or multiclass; also a Pipeline's last step): the
    splits are kept and every leaf is its Newton step :math:`v_{t,\\ell} = -\\eta
    \\sum_{j\\in\\ell} w_j g_{t,j} / (\\sum_{j\\in\\ell} w_j h_{t,j} + \\lambda)`; the
    first-order change of ``f`` when point *i*'s weight goes to 0, through every later tree
    (``propagation="full"``, one reverse pass, :math:`O(T n)`) or through its own leaves only
    (``"none"``, BoostIn), or with ``exact=True`` every leaf recomputed without *i* (leaf
    refit). See :mod:`fairlearn_divine._importance._trees`.
"""

from __future__ import annotations

import numpy as np

from .._core.parallel import check_progress
from .._core.results import Result, row_index
from .._core.validation import (
    check_feature_names,
    check_random_state_arg,
    check_sample_weight,
    check_X,
    check_y,
    final_step,
    fitted_classes,
    n_rows,
)
from .._models import has_hessian_factors, is_boosted_trees, is_differentiable_model
from .._objectives import EvalContext, is_log_loss, resolve_objective
from ._banzhaf import data_banzhaf
from ._influence import counterfactual, influence, one_step_newton
from ._oob import BAGGING_ENSEMBLES, data_oob
from ._refits import refit_scores
from ._shapley import data_shapley
from ._trees import tree_influence

__all__ = ["METHODS", "ImportanceResult", "resolve_method", "training_point_importance"]


class ImportanceResult(Result):
    """Result of :func:`training_point_importance`: a dict with attribute access.

    Keys
    ----
    scores : ndarray of shape (n_train,) or (n_objectives, n_train)
        ``scores[i] = f(theta without i) - f(theta)``: positive = point *i* helps (removing it
        makes the cost ``f`` worse), negative = point *i* is harmful. One row per objective when
        a list of objectives was given.
    baseline : float or ndarray of shape (n_objectives,)
        ``f`` at the fitted model (the hard metric for fairness objectives).
    method : str
    objective : str or list of str
        Name(s) of the evaluation function(s).
    index : pandas.Index
        The row labels of ``X`` (its index for a DataFrame, else positions); ``scores`` is by
        position, :meth:`to_frame` by label.

    Notes
    -----
    Extra keys depend on the method: ``optimality`` (scaled gradient norm of the training
    objective at the fitted parameters), ``damping`` and ``condition_number`` for
    influence-style methods; ``n_refits`` and ``refit_solver`` for refit-based ones;
    ``scores_stderr``, ``n_permutations``, ``converged``, ``mean_prefix_evaluations`` and
    ``seed`` (of the permutations) for Data Shapley; ``scores_stderr``, ``n_samples``,
    ``converged`` and ``seed`` for Data Banzhaf; ``valuation`` (per objective),
    ``n_estimators``, ``n_out_of_bag``, ``scores_stderr``, ``data_oob_values`` for Data-OOB;
    ``propagation``, ``exact``, ``n_trees`` and ``leaf_value_gap`` for tree influence.
    """

    def __repr__(self):
        keys = ", ".join(self.keys())
        return f"ImportanceResult(method={self.get('method')!r}, keys=[{keys}])"

    def to_frame(self):
        """The scores as a DataFrame indexed like ``X``: one column per objective (named as
        the objective), and ``<objective>_stderr`` where the method gives standard errors.

        Use the index to look rows up in ``X`` (``X.loc[frame.index[...]]``); ``scores`` and
        every other array of the result are by *position*.
        """
        import pandas as pd

        names = self["objective"] if isinstance(self["objective"], list) else [self["objective"]]
        scores = np.atleast_2d(np.asarray(self["scores"], dtype=float))
        data = {name: scores[k] for k, name in enumerate(names)}
        if "scores_stderr" in self:
            stderr = np.atleast_2d(np.asarray(self["scores_stderr"], dtype=float))
            for k, name in enumerate(names):
                data[f"{name}_stderr"] = stderr[k]
        return pd.DataFrame(data, index=self["index"])


def _loo(estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options, runtime):
    return refit_scores(
        estimator, X, y, sample_weight, ctx, options, runtime, kind="remove", method="loo"
    )


#: Importance methods by name.
METHODS = {
    "influence": influence,
    "one_step_newton": one_step_newton,
    "loo": _loo,
    "counterfactual": counterfactual,
    "data_shapley": data_shapley,
    "data_banzhaf": data_banzhaf,
    "data_oob": data_oob,
    "tree_influence": tree_influence,
}


def resolve_method(objectives, eval_is_train, estimator=None):
    """The method ``method="auto"`` stands for (see :func:`training_point_importance`):
    ``"tree_influence"`` for gradient-boosted trees, ``"data_oob"`` for bagging ensembles,
    else one-step Newton for the log loss on the training data (unless ``estimator`` is a
    :class:`DifferentiableModel` without Hessian factors) and influence otherwise."""
    if estimator is not None and is_boosted_trees(estimator):
        return "tree_influence"
    if estimator is not None and isinstance(final_step(estimator), BAGGING_ENSEMBLES):
        return "data_oob"
    if not (eval_is_train and any(is_log_loss(f) for f in objectives)):
        return "influence"
    if is_differentiable_model(estimator) and not has_hessian_factors(estimator):
        return "influence"  # which warns that it is degenerate here
    return "one_step_newton"


def training_point_importance(
    estimator,
    X,
    y,
    *,
    method="auto",
    objective="log_loss",
    sensitive_features=None,
    X_eval=None,
    y_eval=None,
    sensitive_features_eval=None,
    sample_weight=None,
    n_jobs=None,
    random_state=None,
    progress=None,
    **method_options,
):
    """Importance of every training point for an evaluation function f.

    ``scores[i] = f(theta without i) - f(theta)``: **positive** = point *i* helps (removing it
    makes the cost ``f`` worse), **negative** = point *i* is harmful (e.g. unfairness-inducing
    for a fairness objective). See the module docstring for the math of each method.

    Parameters
    ----------
    estimator : fitted classifier or DifferentiableModel
        Fitted on ``(X, y)`` (with ``sample_weight`` if given). Influence-style methods need a
        differentiable view (``LogisticRegression``, ``LogisticRegressionCV``,
        ``SGDClassifier(loss="log_loss")``, ``MLPClassifier`` last layer, a ``Pipeline`` ending
        in one of these, or a :class:`DifferentiableModel`); ``method="loo"`` works for any
        classifier.
    X : array-like or sparse matrix of shape (n_train, n_features)
        Training inputs (a DataFrame is passed on to the estimator as it is). Its columns are
        checked against the estimator's ``feature_names_in_`` (names and order; a warning for
        an array when the estimator was fitted on a DataFrame, or the reverse), as are those
        of ``X_eval``.
    y : array-like of shape (n_train,)
        Training labels.
    method : {"auto", "influence", "one_step_newton", "loo", "counterfactual", \
"data_shapley", "data_banzhaf", "data_oob", "tree_influence"}, default="auto"
        See the module docstring of :mod:`fairlearn_divine._importance` (and
        :mod:`fairlearn_divine._shapley` for ``"data_shapley"``,
        :mod:`fairlearn_divine._importance._banzhaf` for ``"data_banzhaf"``). ``"auto"`` is
        ``"tree_influence"`` for a gradient-boosted classifier (``HistGradientBoosting``,
        ``GradientBoosting``, LightGBM's ``LGBMClassifier``, XGBoost's ``XGBClassifier``),
        ``"data_oob"`` for a bagging ensemble (random forest, extra trees,
        ``BaggingClassifier``), and for a differentiable model ``"one_step_newton"``
        when an objective is ``"log_loss"`` evaluated on the training data (stationary at the
        fit, so influence's first-order change is degenerate there), else ``"influence"``;
        ``result.method`` names the method used. Other classifiers (SVC, k-NN, ...) need an
        explicit refit method: ``"loo"``, ``"data_banzhaf"`` or ``"data_shapley"``.
    objective : str, EvaluationFunction, fairlearn metric, or list of those, default="log_loss"
        ``"log_loss"``, ``"zero_one_loss"``, ``"equal_accuracy"``, ``"equal_opportunity"``,
        ``"equalized_odds"``, ``"demographic_parity"``; see :mod:`fairlearn_divine._objectives`.
        With a list, ``scores`` has one row per objective and influence-style methods reuse one
        factorisation.
    sensitive_features : array-like, Series, DataFrame, dict, or column name(s) of X, optional
        Needed by fairness objectives evaluated on the training data; as fairlearn takes
        them (several columns are merged into one group per combination). Rows match ``X`` by
        position.
    X_eval, y_eval, sensitive_features_eval : optional
        Data ``f`` is evaluated on (a validation set, or one test point for a local
        explanation). Default: the training data.
    sample_weight : array-like of shape (n_train,), optional
        The weights the estimator was fitted with.
    n_jobs : int, optional
        Parallel refits (joblib; a ``joblib.parallel_config`` backend such as dask or ray is
        honoured).
    random_state : int, RandomState, Generator or None
        Seeds Data Shapley's permutations (the other methods are deterministic); numpy integers
        are accepted. One seed is drawn from it up front (a ``RandomState`` or ``Generator`` is
        drawn from once) and every permutation derives its own from it, so the result is the
        same for any ``n_jobs`` and joblib backend. Data Shapley reports the seed it used as
        ``result.seed``.
    progress : bool or None
        Progress bar for refit-based methods: ``None`` shows it on a terminal once the work
        has run for two seconds, ``True`` always, ``False`` never; anything else is a
        ``TypeError`` (for every method).
    **method_options
        ``optimality_tol`` (influence-style, default 1e-3): warn when the scaled gradient norm
        of the training objective exceeds it. ``objective_expansion`` (one_step_newton):
        ``"auto"`` (default), ``"linear"``, ``"quadratic"`` (``"log_loss"`` on a GLM only)
        or ``"exact"``. ``warm_start`` (default True),
        ``refit_tol`` (default 1e-8) and ``indices`` (rows to value; others get NaN) for
        refit-based methods; ``refit_solver`` (``"auto"``: exact Newton refits for a bare
        ``LogisticRegression``, else the estimator's own ``fit``). ``exact`` (counterfactual):
        refit with the flipped label instead of the closed form. Data Shapley:
        ``n_permutations`` (default 1000, the most sampled), ``max_time`` (seconds),
        ``truncation_tolerance`` (0.01), ``convergence_tolerance`` (0.05), ``min_permutations``
        (20), ``antithetic`` (True), ``checkpoint`` (a file path to save to and resume
        from: versioned and checksummed; a damaged or foreign file is a ValueError; the seed
        is stored in it, so ``random_state=None`` resumes), ``refit_solver``. Data Banzhaf:
        ``n_samples`` (default 2000 random subsets, each one refit), ``min_samples`` (50),
        ``convergence_tolerance`` (0.05), ``max_time``, ``checkpoint``, ``refit_solver``.
        Data-OOB: ``valuation`` (``"auto"``, ``"data_oob"``, ``"ensemble_linear"`` or
        ``"member_difference"``). Tree influence: ``propagation`` (``"full"``, default, or
        BoostIn's ``"none"``), ``exact`` (the fixed-structure leaf refit), ``indices`` (with
        ``exact``), ``leaf_value_tol`` (1e-4), ``structure_update`` (``"fixed"`` only).

    Returns
    -------
    ImportanceResult
        ``scores``, ``baseline``, ``method``, ``objective`` and method details.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from fairlearn_divine import training_point_importance
    >>> from fairlearn_divine.datasets import make_divine_synthetic
    >>> data = make_divine_synthetic(random_state=0)
    >>> model = LogisticRegression().fit(data.X, data.y)
    >>> result = training_point_importance(
    ...     model, data.X, data.y, objective="equal_accuracy",
    ...     sensitive_features=data.sensitive_features)
    >>> result.scores.shape
    (2050,)
    """
    if method != "auto" and method not in METHODS:
        raise ValueError(
            f"Unknown method {method!r}. Valid methods: 'auto', {', '.join(map(repr, METHODS))}."
        )
    check_progress(progress)  # also for the methods that show no bar
    single = not isinstance(objective, list | tuple)
    objectives = [resolve_objective(o) for o in ([objective] if single else objective)]
    if not objectives:
        raise ValueError("objective must not be an empty list.")

    X = check_X(X, "X")
    check_feature_names(estimator, X, "X")
    y = check_y(y, "y")
    if n_rows(X) != len(y):
        raise ValueError(f"X has {n_rows(X)} rows but y has {len(y)} entries.")
    n = n_rows(X)
    sample_weight = check_sample_weight(sample_weight, n)
    classes = fitted_classes(estimator)

    eval_is_train = X_eval is None
    if eval_is_train:
        if y_eval is not None or sensitive_features_eval is not None:
            raise ValueError("y_eval / sensitive_features_eval were given without X_eval.")
        X_eval, y_eval, sf_eval = X, y, sensitive_features  # encoded once, in _EvalContext
    else:
        if y_eval is None:
            raise ValueError("X_eval was given without y_eval.")
        X_eval = check_X(X_eval, "X_eval")
        check_feature_names(estimator, X_eval, "X_eval")
        y_eval = check_y(y_eval, "y_eval")
        if n_rows(X_eval) != len(y_eval):
            raise ValueError(
                f"X_eval has {n_rows(X_eval)} rows but y_eval has {len(y_eval)} entries."
            )
        sf_eval = sensitive_features_eval
    names = ("y", "sensitive_features") if eval_is_train else ("y_eval", "sensitive_features_eval")
    ctx = EvalContext(objectives, classes, X_eval, y_eval, sf_eval, names=names)
    if not isinstance(random_state, np.random.Generator):  # a Generator is drawn from once too
        random_state = check_random_state_arg(random_state)

    if method == "auto":
        method = resolve_method(objectives, eval_is_train, estimator)
    runtime = {"n_jobs": n_jobs, "progress": progress, "random_state": random_state}
    scores, base, info = METHODS[method](
        estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, dict(method_options), runtime
    )
    # scores keep "positive = the point helps" for values where greater is better
    signs = np.array([-1.0 if getattr(f, "greater_is_better", False) else 1.0 for f in objectives])
    scores = np.asarray(scores) * signs[:, None]
    names = [f.name for f in objectives]
    result = ImportanceResult(
        scores=scores[0] if single else scores,
        baseline=float(base[0]) if single else np.asarray(base, dtype=float),
        method=method,
        objective=names[0] if single else names,
    )
    result.update(info)
    result["index"] = row_index(X, n)
    return result
