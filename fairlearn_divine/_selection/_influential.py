"""Score a fitted model's training points and select DIVINE points in one call."""

from __future__ import annotations

import numpy as np

from .._core.parallel import check_progress, progress_bar, run_seed
from .._core.refit import EstimatorRefitter
from .._core.results import row_index
from .._core.validation import check_integer, check_random_state_arg, n_rows, take
from .._importance import training_point_importance
from .._objectives import encode_sensitive_features, resolve_sensitive_features
from ._features import diversity_features
from ._select import DiverseSelection, Problem, select_diverse

__all__ = ["select_diverse_influential"]


def select_diverse_influential(
    estimator,
    X,
    y,
    n_points,
    *,
    objective="log_loss",
    method="auto",
    harmful=False,
    recalculate=False,
    X_diversity=None,
    sensitive_features=None,
    X_eval=None,
    y_eval=None,
    sensitive_features_eval=None,
    sample_weight=None,
    diversity="sum_redundancy",
    gamma="pairwise_distance",
    random_state=None,
    progress=None,
    **selection_options,
):
    """Score the training points of a fitted model and select DIVINE points in one call.

    Runs :func:`~fairlearn_divine.training_point_importance` and :func:`select_diverse`. With
    ``recalculate=True`` it follows the DIVINE paper's recalculation mode (appendix D): select
    the best point, refit the estimator without the points selected so far, re-score the
    remaining points, and select the next point greedily for
    :math:`I'(v) + \\gamma (R(S \\cup \\{v\\}) - R(S))` with the fresh scores :math:`I'`.
    A gamma strategy is resolved once, on the initial scores.

    Parameters
    ----------
    estimator : fitted classifier
        Fitted on ``(X, y)``; refitted (cloned) on subsets when ``recalculate=True``.
    X, y : training data
    n_points : int
    objective, method : see :func:`~fairlearn_divine.training_point_importance`
    harmful : bool, default=False
        Select *harmful* points (negative scores) instead of helpful ones (positive scores).
        Only points on that side are candidates; when fewer exist than ``n_points``, all of
        them are returned.
    recalculate : bool, default=False
    X_diversity : array-like of shape (n, d), optional
        Numeric inputs the diversity kernel compares. Default: the features the model's final
        step sees -- a Pipeline's transformed ``X`` (so a DataFrame with categories and
        missing values works as it is) -- or ``X`` itself when it is numeric.
    sensitive_features, X_eval, y_eval, sensitive_features_eval, sample_weight :
        Passed to :func:`~fairlearn_divine.training_point_importance` (subset to the remaining
        training rows on recalculation).
    diversity, gamma, random_state, **selection_options :
        Passed to :func:`select_diverse`.
    progress : bool or None
        Progress bars (the package's rule: ``None`` shows one on a terminal once the work has
        run for two seconds) for the scoring, the selection and, with ``recalculate=True``,
        the refits of the recalculation (the re-scorings then show none of their own).

    Returns
    -------
    DiverseSelection
        With ``scores`` (the initial importance scores, sign convention of
        ``training_point_importance``) and ``recalculated``.
    """
    n_points = check_integer(n_points, "n_points", minimum=1)
    # one seed for the selection and the recalculation's problem (the package's seed rule):
    # a RandomState drawn from twice would give them different bandwidth samples
    random_state = run_seed(check_random_state_arg(random_state))
    check_progress(progress)
    for name, value in (("harmful", harmful), ("recalculate", recalculate)):
        if not isinstance(value, bool | np.bool_):
            raise TypeError(f"{name} must be True or False, got {value!r}.")
    sensitive_features = resolve_sensitive_features(sensitive_features, X)
    if sensitive_features is not None:  # checked under its own name, before any scoring
        encode_sensitive_features(
            sensitive_features, X.shape[0] if hasattr(X, "shape") else len(X)
        )
    sensitive_features_eval = resolve_sensitive_features(
        sensitive_features_eval, X_eval, argname="sensitive_features_eval"
    )
    kwargs = {
        "method": method,
        "objective": objective,
        "X_eval": X_eval,
        "y_eval": y_eval,
        "sensitive_features_eval": sensitive_features_eval,
    }
    result = training_point_importance(
        estimator,
        X,
        y,
        sensitive_features=sensitive_features,
        sample_weight=sample_weight,
        progress=progress,
        **kwargs,
    )
    sign = -1.0 if harmful else 1.0
    Z = diversity_features(estimator, X, X_diversity)
    # only points on the asked-for side are candidates (harmful: negative scores; else
    # positive), so diversity cannot pull in points of the other kind
    wanted = sign * np.asarray(result.scores) > 0
    if not wanted.any():
        kind = "harmful (negative" if harmful else "helpful (positive"
        raise ValueError(f"No training point is {kind} score) for objective {objective!r}.")
    n_points = min(n_points, int(wanted.sum()))
    selection = select_diverse(
        sign * result.scores,
        Z,
        n_points,
        diversity=diversity,
        gamma=gamma,
        random_state=random_state,
        candidates=wanted,
        progress=progress,
        **selection_options,
    )
    selection["scores"] = result.scores
    selection["labels"] = row_index(X)[np.asarray(selection.indices, dtype=np.intp)]
    selection["recalculated"] = False
    selection["n_candidates"] = int(wanted.sum())
    if not recalculate:
        return selection

    y = np.asarray(y)
    n = n_rows(X)
    refitter = EstimatorRefitter(estimator, X, y, sample_weight=sample_weight)
    problem = Problem(
        sign * result.scores,
        Z,
        n_points,
        diversity,
        selection_options.get("kernel", "rbf"),
        selection_options.get("bandwidth", "median"),
        "greedy",
        selection_options.get("epsilon", 0.01),
        selection_options.get("groups"),
        selection_options.get("min_per_group"),
        random_state,
        wanted,
    )
    gamma_raw = selection.gamma
    div = problem.div
    div.reset()
    current = sign * result.scores
    keep = np.ones(n, dtype=bool)
    sf = None if sensitive_features is None else np.asarray(sensitive_features, dtype=object)
    with progress_bar(progress, n_points - 1, "recalculation refits") as bar:
        for _ in range(n_points):
            cand = np.flatnonzero(problem.quota.allowed(div.selected, keep) & (current > 0))
            if not cand.size:  # re-scoring left no point on the asked-for side
                break
            total = current[cand] + gamma_raw * div.gains(cand) if gamma_raw else current[cand]
            v = int(cand[int(np.argmax(total))])
            div.add(v)
            keep[v] = False
            if len(div.selected) == n_points:
                break
            model = refitter.fit(keep)
            sw = None if sample_weight is None else np.asarray(sample_weight)[keep]
            fresh = training_point_importance(
                model,
                take(X, keep),
                y[keep],
                sensitive_features=None if sf is None else sf[keep],
                sample_weight=sw,
                progress=False,
                **kwargs,
            )
            current = np.full(n, -np.inf)
            current[keep] = sign * fresh.scores
            bar.update(1)
    idx = np.array(div.selected, dtype=np.intp)
    out = problem.describe(idx, gamma_raw)
    out.pop("relative_diversity")
    return DiverseSelection(
        **out,
        gamma_normalized=selection.gamma_normalized,
        gamma_strategy=selection.gamma_strategy,
        diversity_name=problem.diversity_name,
        bandwidth=problem.bandwidth,
        strategy="greedy",
        scores=result.scores,
        recalculated=True,
        labels=row_index(X)[idx],
    )
