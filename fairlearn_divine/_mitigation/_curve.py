"""Accuracy and hard unfairness after removing growing fractions of the training data
(DIVINE Figure 7)."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.utils import check_random_state

from .._core.parallel import check_progress, parallel_map
from .._core.refit import EstimatorRefitter, SingleClassRefitError
from .._core.results import Result, row_index
from .._core.validation import (
    check_feature_names,
    check_X,
    check_y,
    feature_names_checked,
    n_rows,
)
from .._importance import training_point_importance
from .._objectives import (
    EvalContext,
    encode_sensitive_features,
    resolve_objective,
    resolve_sensitive_features,
)
from .._selection import diversity_features, select_diverse

__all__ = ["STRATEGIES", "RemovalCurve", "removal_curve"]

STRATEGIES = ("influence", "divine", "diversity_only", "random")


class RemovalCurve(Result):
    """Result of :func:`removal_curve` (see its Returns section)."""

    _summary = ("objective", "baseline_accuracy", "baseline_unfairness", "harmful_fraction")

    def to_frame(self):
        """Per training row, indexed like ``X``: its ``score`` and, per strategy, its rank in
        that strategy's removal order (``<strategy>_rank``, 0 = removed first; missing when
        the row is beyond the curve's largest fraction)."""
        import pandas as pd

        n = len(self["scores"])
        data = {"score": np.asarray(self["scores"], dtype=float)}
        for name, order in self["orders"].items():
            rank = np.full(n, np.nan)
            rank[np.asarray(order, dtype=np.intp)] = np.arange(len(order))
            data[f"{name}_rank"] = pd.array(
                np.where(np.isnan(rank), -1, rank).astype(int), dtype="Int64"
            )
            data[f"{name}_rank"][np.isnan(rank)] = pd.NA
        return pd.DataFrame(data, index=self["index"])


def _refit_and_measure(refitter, drop, ctx):
    """Accuracy and unfairness of the refit without ``drop``; NaN for both when the kept rows
    hold a single class (the estimator cannot be refitted)."""
    try:
        model = refitter.fit_without(drop)
    except SingleClassRefitError:
        return np.nan, np.nan
    accuracy, values = ctx.measure(model)
    return accuracy, float(values[0])


def removal_curve(
    estimator,
    X,
    y,
    *,
    sensitive_features,
    objective="equal_accuracy",
    strategies=STRATEGIES,
    step=0.05,
    max_fraction=0.6,
    X_eval=None,
    y_eval=None,
    sensitive_features_eval=None,
    method="auto",
    diversity="sum_redundancy",
    gamma="pairwise_distance",
    sample_weight=None,
    random_state=None,
    n_jobs=None,
    X_measure=None,
    y_measure=None,
    sensitive_features_measure=None,
    progress=None,
):
    """Accuracy and hard unfairness after removing growing fractions of the training data.

    Reproduces the layout of DIVINE's Figure 7. Points are ranked once, on the model fitted to
    all data, by each strategy:

    * ``"influence"``: by harm :math:`-I_i` (importance for ``objective``), most harmful first;
    * ``"divine"``: the greedy DIVINE order of the harmful points (harm with ``diversity``, the
      diversity measured on all the data, a gamma chosen by the ``gamma`` rule on the first
      step's set size), then the remaining points by harm;
    * ``"diversity_only"``: the greedy order of the diversity function alone;
    * ``"random"``: a seeded permutation.

    After removing the first ``round(fraction * n)`` points of each order the estimator is
    refitted and measured on the evaluation data (default: the training data, as the paper's
    Figure 7): accuracy and the *hard* fairness metric (as fairlearn computes it). A removal
    that leaves a single class in the kept rows (e.g. the influence order removing every
    positive of a small data set at a large ``max_fraction``), which the estimator cannot be
    refitted on, is reported as NaN accuracy and unfairness at that fraction (a gap in a
    plot), with a warning naming the strategies and fractions; estimators that fit a single
    class (trees) are refitted as usual. With
    ``X_measure``, ``y_measure`` and ``sensitive_features_measure`` the refits are measured
    there instead, so that points can be scored on a validation split (``X_eval``) and the
    refits judged on a test split (DIVINE appendix D.5.1). ``progress`` (bool or None): a bar
    over the refits (``None``: on a terminal, once they have run for two seconds), passed on
    to the scoring (a bar of its own for refit-based methods) and the DIVINE order's gamma
    sweep.

    Returns
    -------
    RemovalCurve
        A dict with attribute access: ``fractions``, ``accuracy`` and ``unfairness`` (dicts:
        strategy -> array), ``baseline_accuracy``, ``baseline_unfairness``,
        ``harmful_fraction`` (the fraction at which the harmful points run out: beyond it,
        influence removal takes helpful points), ``orders`` (strategy -> removal order, by
        position), ``scores``, ``objective``, ``index`` (the row labels of ``X``);
        ``to_frame()`` gives the per-row scores and removal ranks indexed like ``X``.
    """
    sensitive_features = resolve_sensitive_features(sensitive_features, X)
    sensitive_features_eval = resolve_sensitive_features(
        sensitive_features_eval, X_eval, argname="sensitive_features_eval"
    )
    sensitive_features_measure = resolve_sensitive_features(
        sensitive_features_measure, X_measure, argname="sensitive_features_measure"
    )
    if isinstance(strategies, str):  # one strategy by name
        strategies = (strategies,)
    strategies = tuple(strategies)
    if not strategies:
        raise ValueError(f"strategies must not be empty; choose from {STRATEGIES}.")
    unknown = set(strategies) - set(STRATEGIES)
    if unknown:
        raise ValueError(f"Unknown strategies {sorted(unknown)}; valid: {STRATEGIES}.")
    if not (isinstance(step, numbers.Real) and 0 < step < 1):
        raise ValueError(f"step must be in (0, 1), got {step!r}.")
    if not (isinstance(max_fraction, numbers.Real) and step <= max_fraction < 1):
        raise ValueError(f"max_fraction must be in [step, 1), got {max_fraction!r}.")
    check_progress(progress)  # before the scoring, which gets it too
    X = check_X(X, "X")
    y = check_y(y, "y")
    n = n_rows(X)
    if n != len(y):
        raise ValueError(f"X has {n} rows but y has {len(y)} entries.")
    if sensitive_features is not None:  # checked under its own name, before any fit
        encode_sensitive_features(sensitive_features, n)
    pairs = (
        ("X_eval", X_eval, "y_eval", y_eval),
        ("X_measure", X_measure, "y_measure", y_measure),
    )
    for name, value, other, other_value in pairs:
        if (value is None) != (other_value is None):
            raise ValueError(f"{name} and {other} must be given together.")
    if X_measure is None and sensitive_features_measure is not None:
        raise ValueError("sensitive_features_measure was given without X_measure.")
    refitter = EstimatorRefitter(estimator, X, y, sample_weight=sample_weight)
    model = refitter.fit()
    for value, name in ((X_eval, "X_eval"), (X_measure, "X_measure")):
        if value is not None:
            check_feature_names(model, value, name)
    eval_kwargs = {}
    if X_eval is not None:
        eval_kwargs = {
            "X_eval": X_eval,
            "y_eval": y_eval,
            "sensitive_features_eval": sensitive_features_eval,
        }
    with feature_names_checked():  # checked above under the caller's names
        result = training_point_importance(
            model,
            X,
            y,
            method=method,
            objective=objective,
            sensitive_features=sensitive_features,
            sample_weight=sample_weight,
            n_jobs=n_jobs,
            progress=progress,
            **eval_kwargs,
        )
    harm = -np.asarray(result.scores, dtype=float)
    fractions = np.round(np.arange(step, max_fraction + 1e-9, step), 10)
    n_max = int(round(fractions[-1] * n))
    orders = {}
    rng = check_random_state(random_state)
    if "influence" in strategies:
        orders["influence"] = np.argsort(-harm, kind="stable")[:n_max]
    if "divine" in strategies or "diversity_only" in strategies:
        Z = diversity_features(model, X)
    if "divine" in strategies:
        # DIVINE order over the harmful points (diversity measured on all the data), then the
        # rest by harm, as the influence order continues once the harmful points run out
        wanted = harm > 0
        k = min(n_max, int(wanted.sum()))
        first = np.array([], dtype=np.intp)
        if k:
            m = min(k, max(1, int(round(step * n))))
            g = select_diverse(
                harm,
                Z,
                m,
                diversity=diversity,
                gamma=gamma,
                random_state=random_state,  # the seed of the call below: the same bandwidth
                candidates=wanted,
                progress=progress,
            ).gamma
            first = select_diverse(
                harm,
                Z,
                k,
                diversity=diversity,
                gamma=g,
                random_state=random_state,
                candidates=wanted,
                progress=progress,
            ).indices
        rest = np.argsort(-harm, kind="stable")
        rest = rest[~np.isin(rest, first)][: n_max - len(first)]
        orders["divine"] = np.concatenate([first, rest]).astype(np.intp)
    if "diversity_only" in strategies:
        orders["diversity_only"] = select_diverse(
            np.zeros(n),
            Z,
            n_max,
            diversity=diversity,
            gamma=1.0,
            random_state=random_state,
            progress=progress,
        ).indices
    if "random" in strategies:
        orders["random"] = rng.permutation(n)[:n_max]

    if X_measure is not None:  # e.g. score on validation, measure on test (appendix D.5.1)
        X_eval, y_eval, sensitive_features_eval = X_measure, y_measure, sensitive_features_measure
    elif X_eval is None:
        X_eval, y_eval, sensitive_features_eval = X, y, sensitive_features
    ctx = EvalContext(
        [resolve_objective(objective)], model.classes_, X_eval, y_eval, sensitive_features_eval
    )
    base_acc, base_values = ctx.measure(model)
    base_unf = float(base_values[0])
    jobs = [(s, k) for s in orders for k in range(len(fractions))]
    results, _ = parallel_map(
        lambda part: [
            _refit_and_measure(refitter, orders[s][: int(round(fractions[k] * n))], ctx)
            for s, k in part
        ],
        np.array(jobs, dtype=object).reshape(-1, 2) if jobs else np.empty((0, 2), dtype=object),
        n_jobs=n_jobs,
        progress=progress,
        desc="removal curve refits",
        per_worker=1,
    )
    values = [v for part in results for v in part]
    accuracy = {s: np.empty(len(fractions)) for s in orders}
    unfairness = {s: np.empty(len(fractions)) for s in orders}
    for (s, k), (acc, unf) in zip(jobs, values, strict=True):
        accuracy[s][k] = acc
        unfairness[s][k] = unf
    lost = {s: fractions[np.isnan(accuracy[s])] for s in orders if np.isnan(accuracy[s]).any()}
    if lost:
        where = "; ".join(f"{s}: from fraction {f.min():g}" for s, f in lost.items())
        warnings.warn(
            f"Removing the first points of some orders leaves a single class, which "
            f"{type(refitter.estimator).__name__} cannot be refitted on ({where}); accuracy and "
            "unfairness are NaN there. Lower max_fraction to stay within the curve.",
            UserWarning,
            stacklevel=2,
        )
    return RemovalCurve(
        fractions=fractions,
        accuracy=accuracy,
        unfairness=unfairness,
        baseline_accuracy=base_acc,
        baseline_unfairness=base_unf,
        harmful_fraction=float(np.sum(harm > 0) / n),
        orders=orders,
        scores=np.asarray(result.scores),
        objective=result.objective,
        index=row_index(X, n),
    )
