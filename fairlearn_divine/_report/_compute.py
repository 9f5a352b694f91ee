"""The computation of the audit: :func:`run_audit` and the helpers it needs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch

from .._core.refit import EstimatorRefitter, SingleClassRefitError
from .._objectives import EvalContext, resolve_objective
from .._selection import diversity_features
from .._version import __version__

__all__ = ["run_audit"]


def _noop(message):
    pass


def _group_labels(sensitive_features):
    """One label per row (several sensitive columns joined by ', ')."""
    if isinstance(sensitive_features, pd.DataFrame):
        if sensitive_features.shape[1] == 1:
            return sensitive_features.iloc[:, 0].astype(str).to_numpy()
        return (
            sensitive_features.astype(str).agg(", ".join, axis=1).to_numpy()  # one label
        )
    return np.asarray(pd.Series(np.asarray(sensitive_features)).astype(str))


def _metric_frame(y01, pred01, sensitive_features):
    from fairlearn.metrics import (
        MetricFrame,
        count,
        selection_rate,
        true_negative_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    metrics = {
        "count": count,
        "accuracy": accuracy_score,
        "selection rate": selection_rate,
        "TPR": true_positive_rate,
        "TNR": true_negative_rate,
    }
    mf = MetricFrame(
        metrics=metrics, y_true=y01, y_pred=pred01, sensitive_features=sensitive_features
    )
    by_group = mf.by_group
    rows = []
    for key, values in by_group.iterrows():
        label = ", ".join(map(str, key)) if isinstance(key, tuple) else str(key)
        row = {"group": label, **{k: _num(values[k]) for k in metrics}}
        row["count"] = int(row["count"])
        rows.append(row)
    rows.sort(key=lambda r: r["group"])
    overall = {k: _num(v) for k, v in mf.overall.items()}
    overall["count"] = int(overall["count"])
    rates = [k for k in metrics if k != "count"]
    difference = {k: _num(v) for k, v in mf.difference()[rates].items()}
    return rows, overall, difference


def _num(value):
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _hard_metric(model, X, y, sensitive_features, objective):
    """(accuracy, hard value of the objective) of a fitted model on (X, y), as the package."""
    ctx = EvalContext([resolve_objective(objective)], model.classes_, X, y, sensitive_features)
    accuracy, values = ctx.measure(model)
    return accuracy, float(values[0])


def _refit_without(refitter, X, y, sensitive_features, drop, objective):
    """(accuracy, hard metric) of the refit without the rows ``drop``; NaN for both when the
    remaining rows hold a single class (no classifier can be fitted on them)."""
    try:
        refit = refitter.fit_without(np.asarray(drop, dtype=int))
    except SingleClassRefitError:
        return math.nan, math.nan
    return _hard_metric(refit, X, y, sensitive_features, objective)


def _mean_pairwise_distance(Z, idx):
    from scipy.spatial.distance import pdist

    idx = np.asarray(idx, dtype=int)
    return float(np.mean(pdist(Z[idx]))) if len(idx) > 1 else 0.0


def _model_feature_names(model, X, Z):
    try:
        if isinstance(model, Pipeline) and len(model.steps) > 1:
            return [str(c) for c in model[:-1].get_feature_names_out()]
        if hasattr(X, "columns"):
            return [str(c) for c in X.columns]
    except (AttributeError, ValueError, TypeError):
        pass
    return [f"feature {k + 1}" for k in range(Z.shape[1])]


def _map_coordinates(Z, feature_names):
    if Z.shape[1] == 1:
        return np.column_stack([Z[:, 0], np.zeros(len(Z))]), [feature_names[0], ""], None
    if Z.shape[1] == 2:
        return Z, list(feature_names[:2]), None
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=0).fit(Z)
    ratio = pca.explained_variance_ratio_
    labels = [f"PC{k + 1} ({ratio[k]:.0%} of the variance)" for k in range(2)]
    return pca.transform(Z), labels, [float(r) for r in ratio]


def run_audit(
    model,
    X,
    y,
    sensitive_features,
    *,
    objective="equal_accuracy",
    n_points=5,
    gamma="influence_budget",
    influence_budget=0.1,
    method="auto",
    top=10,
    step=0.05,
    max_fraction=0.3,
    divine_curve_max_n=5000,
    y_display=None,
    display_positive=None,
    random_state=0,
    info=None,
    progress=None,
    sample_weight=None,
    progress_bars=None,
):
    """Audit a fitted binary classifier on its training data.

    Parameters
    ----------
    model : fitted classifier
        Fitted on ``(X, y)``: a model the influence methods support (see
        :func:`~fairlearn_divine.training_point_importance`).
    X : DataFrame of shape (n, d)
    y : array-like of shape (n,)
        Two classes; ``model.classes_[1]`` is the positive one.
    sensitive_features : Series or DataFrame
    objective : {"equal_accuracy", "equal_opportunity", "equalized_odds", "demographic_parity"}
    n_points : int, default=5
        Number of DIVINE points.
    gamma : {"influence_budget", "pairwise_distance"} or float, default="influence_budget"
        How DIVINE picks gamma: the most diverse selection that keeps ``1 - influence_budget``
        of the harm of the top-m points (default: the DIVINE points stay strongly harmful), or
        the one with the largest mean pairwise distance (may include points that are not
        harmful).
    method : {"auto", "influence", "one_step_newton"}, default="auto"
        Importance method of the scores, the DIVINE selection and the removal curve.
        ``"auto"`` (see :func:`~fairlearn_divine.training_point_importance`) scores the
        fairness objective by influence and the log loss on the training data by one-step
        Newton (for which first-order influence is degenerate); ``audit.method`` and
        ``audit.loss_method`` name the methods used.
    top : int, default=10
        Number of most harmful points listed per objective.
    step, max_fraction : float
        Grid of the removal curve.
    divine_curve_max_n : int, default=5000
        The removal curve includes the DIVINE strategy up to this many training points.
    y_display, display_positive : optional
        Target values and positive class to show instead of ``y`` and ``model.classes_[1]``
        (when the model was fitted on an encoded target).
    info : dict, optional
        Descriptions for the report (``data``, ``source``, ``model``, ``target``, ...).
    progress : callable, optional
        Called with a short message before each long step.
    sample_weight : array-like of shape (n,), optional
        The weights the model was fitted with (every score and refit uses them).
    progress_bars : bool or None, default=None
        ``progress=`` of every long call inside (the scoring, the DIVINE selection, the
        removal curve's refits), under the package's progress rule: ``None`` shows their bars
        on a terminal once a call has run for two seconds, ``True`` always, ``False`` never.

    Returns
    -------
    Bunch
        Everything the report shows; see :func:`render_html` and :func:`audit_to_json`.
    """
    from .._importance import training_point_importance
    from .._mitigation import removal_curve
    from .._selection import select_diverse_influential

    refitter = EstimatorRefitter(model, X, y, sample_weight=sample_weight)

    progress = progress or _noop
    info = dict(info or {})
    y = np.asarray(y)
    n = len(y)
    classes = list(model.classes_)
    positive = classes[1]
    y01 = (y == positive).astype(int)
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        pred01 = (np.asarray(model.predict(X)) == positive).astype(int)
        by_group, overall, difference = _metric_frame(y01, pred01, sensitive_features)

        progress(f"scoring {n} training points for log loss and {objective}")
        # one call per objective: method="auto" resolves differently for the two
        results = [
            training_point_importance(
                model,
                X,
                y,
                method=method,
                objective=f,
                sensitive_features=sensitive_features,
                sample_weight=sample_weight,
                progress=progress_bars,
            )
            for f in ("log_loss", objective)
        ]
        loss_method, method = results[0].method, results[1].method
        scores = np.array([r.scores for r in results], dtype=float)
        baseline = np.array([r.baseline for r in results], dtype=float)
        result = results[1]

        progress(f"selecting {n_points} DIVINE points (harmful for {objective})")
        Z = diversity_features(model, X, argname="X")  # the model's own numeric features
        selection = select_diverse_influential(
            model,
            X,
            y,
            n_points,
            objective=objective,
            method=method,
            harmful=True,
            X_diversity=Z,
            sensitive_features=sensitive_features,
            sample_weight=sample_weight,
            gamma=gamma,
            influence_budget=influence_budget,
            random_state=random_state,
            progress=progress_bars,
        )
        fair = scores[1]
        order = np.argsort(np.where(np.isnan(fair), np.inf, fair), kind="stable")
        top_harmful = order[:top]
        top_m = order[:n_points]
        acc0, unf0 = _hard_metric(model, X, y, sensitive_features, objective)
        effects = {
            "original model": (acc0, unf0, 0),
            f"without the {n_points} most harmful points": (
                *_refit_without(refitter, X, y, sensitive_features, top_m, objective),
                n_points,
            ),
            # DIVINE picks fewer points when fewer are harmful: say how many it removed
            f"without the {len(selection.indices)} DIVINE points": (
                *_refit_without(refitter, X, y, sensitive_features, selection.indices, objective),
                len(selection.indices),
            ),
        }

        strategies = ("influence", "random")
        if n <= divine_curve_max_n:
            strategies = ("influence", "divine", "random")
        n_fracs = len(np.arange(step, max_fraction + 1e-9, step))
        progress(
            f"computing the removal curve ({len(strategies)} strategies x {n_fracs} fractions, "
            "refits)"
        )
        curve = removal_curve(
            model,
            X,
            y,
            sensitive_features=sensitive_features,
            objective=objective,
            strategies=strategies,
            step=step,
            max_fraction=max_fraction,
            method=method,
            gamma=gamma,
            sample_weight=sample_weight,
            random_state=random_state,
            progress=progress_bars,
        )
    for w in caught:
        msg = f"{w.category.__name__}: {w.message}"
        if msg not in notes:
            notes.append(msg)
    for label, (acc, _, k) in effects.items():  # k points removed
        if math.isnan(acc):
            notes.append(
                f"The model retrained {label} is not measured: the training points left "
                f"({n - k}) hold a single class."
            )
    if n > divine_curve_max_n:
        notes.append(
            f"The removal curve leaves out the DIVINE strategy above {divine_curve_max_n} "
            f"training points (this data set has {n})."
        )

    coords, axis_labels, explained = _map_coordinates(Z, _model_feature_names(model, X, Z))
    return Bunch(
        version=__version__,
        info=info,
        objective=objective,
        method=method,
        loss_method=loss_method,
        n_samples=n,
        n_points=n_points,
        gamma_rule=gamma,
        influence_budget=influence_budget,
        classes=classes,
        positive_label=positive,
        display_positive=positive if display_positive is None else display_positive,
        X=X,
        y=y,
        y_display=y if y_display is None else np.asarray(y_display),
        groups=_group_labels(sensitive_features),
        accuracy=float(np.mean(pred01 == y01)),
        log_loss=float(baseline[0]),
        unfairness=float(baseline[1]),
        by_group=by_group,
        overall=overall,
        difference=difference,
        scores={"log_loss": scores[0], objective: scores[1]},
        score_expansion=result.get("objective_expansion"),
        top_harmful=top_harmful,
        top_harmful_loss=np.argsort(
            np.where(np.isnan(scores[0]), np.inf, scores[0]), kind="stable"
        )[:top],
        selection=selection,
        top_m=top_m,
        top_m_pairwise_distance=_mean_pairwise_distance(Z, top_m),
        effects=effects,
        curve=curve,
        map_coordinates=coords,
        map_axis_labels=axis_labels,
        map_explained_variance=explained,
        n_model_features=int(Z.shape[1]),
        notes=notes,
    )
