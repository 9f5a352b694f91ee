"""The audit behind ``fairlearn-divine audit``: computation, a self-contained HTML report, JSON.

:func:`run_audit` takes a fitted binary classifier and its training data and computes

* accuracy and fairness by group (a fairlearn ``MetricFrame``: accuracy, selection rate, TPR,
  TNR per group) and the hard value of the fairness objective;
* importance scores of every training point for the log loss and the fairness objective (one
  :func:`~fairlearn_divine.training_point_importance` call with a list of objectives;
  ``scores[i] = f(model without i) - f(model)``, negative = harmful);
* DIVINE points: :func:`~fairlearn_divine.select_diverse_influential` with ``harmful=True``
  for the fairness objective, with its gamma sweep (the influence-diversity trade-off);
* the effect of removing the suggested points (exact refits) and a removal curve
  (:func:`~fairlearn_divine.removal_curve`);
* a 2-D map of the training data (PCA of the model's numeric features).

:func:`render_html` writes all of it into one HTML file with the figures embedded as base64
PNG (matplotlib, Agg) and no external resource: no script, no remote font, stylesheet or image;
a Content-Security-Policy forbids them. Every string that comes from the data (column names,
category values, file names) is escaped with :func:`html.escape`. :func:`audit_to_json` gives
the machine-readable summary.
"""

from __future__ import annotations

import base64
import html
import io
import math
import warnings

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch

from ._core.refit import EstimatorRefitter, predict_proba_aligned
from ._objectives import FAIRNESS_OBJECTIVES, EvalContext, resolve_objective
from ._version import __version__

__all__ = ["audit_to_json", "render_html", "run_audit"]

RATE_NAMES = {
    "accuracy": "accuracy",
    "selection rate": "selection rate",
    "TPR": "true positive rate",
    "TNR": "true negative rate",
}
MAX_TABLE_FEATURES = 30
MAX_MAP_POINTS = 5000


def _noop(message):
    pass


# ---------------------------------------------------------------------------------------------
# computation


def numeric_features(model, X):
    """The numeric inputs of the model's last step: a pipeline's transformed X, or X itself."""
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        Z = model[:-1].transform(X)
    else:
        Z = X
    Z = Z.toarray() if hasattr(Z, "toarray") else Z
    return np.asarray(Z, dtype=float)


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
    proba = predict_proba_aligned(model, ctx.X, ctx.classes)
    return ctx.accuracy(proba), float(ctx.values(proba)[0])


def _refit_without(refitter, X, y, sensitive_features, drop, objective):
    refit = refitter.fit_without(np.asarray(drop, dtype=int))
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
    method="influence",
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
    method : {"influence", "one_step_newton"}
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

    Returns
    -------
    Bunch
        Everything the report shows; see :func:`render_html` and :func:`audit_to_json`.
    """
    from ._importance import training_point_importance
    from ._mitigation import removal_curve
    from ._selection import select_diverse_influential

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
        result = training_point_importance(
            model,
            X,
            y,
            method=method,
            objective=["log_loss", objective],
            sensitive_features=sensitive_features,
            sample_weight=sample_weight,
        )
        scores = np.atleast_2d(np.asarray(result.scores, dtype=float))
        baseline = np.atleast_1d(result.baseline)

        progress(f"selecting {n_points} DIVINE points (harmful for {objective})")
        Z = numeric_features(model, X)
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
            f"without the {n_points} DIVINE points": (
                *_refit_without(refitter, X, y, sensitive_features, selection.indices, objective),
                n_points,
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
        )
    for w in caught:
        msg = f"{w.category.__name__}: {w.message}"
        if msg not in notes:
            notes.append(msg)
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
        top_harmful=top_harmful,
        top_harmful_loss=np.argsort(
            np.where(np.isnan(scores[0]), np.inf, scores[0]), kind="stable"
        )[:top],
        selection=selection,
        top_m_pairwise_distance=_mean_pairwise_distance(Z, top_m),
        effects=effects,
        curve=curve,
        map_coordinates=coords,
        map_axis_labels=axis_labels,
        map_explained_variance=explained,
        n_model_features=int(Z.shape[1]),
        notes=notes,
    )


# ---------------------------------------------------------------------------------------------
# plain-language readings


def _pct(x, digits=1):
    return f"{100 * x:.{digits}f}%"


def _objective_name(objective):
    return FAIRNESS_OBJECTIVES.get(objective, (objective, "", ()))[0]


def _direction(before, after, word):
    digits = 2
    while digits < 5 and f"{before:.{digits}f}" == f"{after:.{digits}f}":
        digits += 1
    a, b = f"{before:.{digits}f}", f"{after:.{digits}f}"
    if a == b:
        return f"leaves {word} at {before:.2f}"
    verb = "lowers" if after < before else "raises"
    return f"{verb} {word} from {a} to {b}"


def _accuracy_cost(before, after):
    d = 100 * (before - after)
    if abs(d) < 0.05:
        return "with no change in accuracy"
    if d > 0:
        return f"at a cost of {d:.1f} points of accuracy"
    return f"and gains {-d:.1f} points of accuracy"


def readings(audit):
    """Plain-language sentences for each section of the report (a dict of lists of str).

    The sentences contain user strings (group names): escape them before putting them in HTML.
    """
    name = _objective_name(audit.objective)
    out = {}
    model = [
        f"The model classifies {_pct(audit.accuracy)} of the training points correctly. "
        f"Its {name} is {audit.unfairness:.2f} "
        f"({FAIRNESS_OBJECTIVES[audit.objective][1]})."
    ]
    gaps = []
    for rate in FAIRNESS_OBJECTIVES[audit.objective][2]:
        vals = [(r[rate], r["group"]) for r in audit.by_group if r[rate] is not None]
        if len(vals) >= 2:
            lo, hi = min(vals), max(vals)
            gaps.append((hi[0] - lo[0], rate, lo, hi))
    if gaps:
        gap, rate, lo, hi = max(gaps)
        model.append(
            f"The largest gap is in the {RATE_NAMES[rate]}: {lo[0]:.2f} for group {lo[1]} "
            f"against {hi[0]:.2f} for group {hi[1]}."
        )
    out["model"] = model

    fair = audit.scores[audit.objective]
    loss = audit.scores["log_loss"]
    n = audit.n_samples
    n_harm = int(np.sum(fair < 0))
    both = int(np.sum((fair < 0) & (loss < 0)))
    out["harmful"] = [
        f"{n_harm} of the {n} training points ({_pct(n_harm / n)}) have a negative score for "
        f"{name}: removing any one of them alone would make the model fairer by this measure. "
        f"{both} of them are also harmful for the log loss.",
        "The table lists the most harmful ones first. Look at what they have in common: "
        "mislabelled points, a subgroup the model treats differently, or outliers.",
    ]
    sel = audit.selection
    m = len(sel.indices)
    if audit.gamma_rule == "influence_budget":
        rule = (
            f"the largest gamma that keeps {_pct(1 - audit.influence_budget, 0)} of the harm "
            f"of the {m} most harmful points"
        )
        marker = "the orange one the selection this report uses (the influence budget)"
    elif audit.gamma_rule == "pairwise_distance":
        rule = "chosen where the mean pairwise distance peaks"
        marker = "the yellow one the selection this report uses (largest mean pairwise distance)"
    else:
        rule = "set by the user"
        marker = "the report's selection is the point for the gamma above"
    not_harmful = int(np.sum(fair[np.asarray(sel.indices, dtype=int)] >= 0))
    divine = [
        f"DIVINE picks {m} points that are harmful and different from each other "
        f"(gamma = {sel.gamma:.3g}, {rule}). Together they carry "
        f"{_pct(sel.influence_retained, 0)} of the harm of the {m} most harmful points, and "
        f"their mean pairwise distance is {sel.mean_pairwise_distance:.3g} against "
        f"{audit.top_m_pairwise_distance:.3g} for the most harmful ones: fewer near-duplicates, "
        "more kinds of problem per point."
    ]
    if not_harmful:
        divine.append(
            f"{not_harmful} of the {m} DIVINE points have a score >= 0 (not harmful): diversity "
            "outweighed their influence. Read them as context, not as suspects."
        )
    out["divine"] = divine
    out["tradeoff"] = [
        "Each point of the curve is a selection for one value of gamma. Moving right buys "
        f"diversity with influence: the red diamond is the plain top-m selection, {marker}."
    ]
    out["map"] = [
        "The training data in two dimensions"
        + (
            " (principal components of the model's numeric features)"
            if audit.map_explained_variance
            else ""
        )
        + ". Red circles mark the most harmful points, black diamonds the DIVINE points. "
        "Harmful points in one cluster suggest one cause; DIVINE spreads its picks over them."
    ]
    c = audit.curve
    fr = c.fractions
    acc0, unf0 = c.baseline_accuracy, c.baseline_unfairness
    inf_unf = c.unfairness["influence"]
    inf_acc = c.accuracy["influence"]
    removal = [
        f"Removing the {_pct(fr[0], 0)} most harmful points "
        f"{_direction(unf0, inf_unf[0], name)} on the training data, "
        f"{_accuracy_cost(acc0, inf_acc[0])}."
    ]
    k = int(np.argmin(inf_unf))
    if k != 0:
        removal.append(
            f"The lowest {name} on the curve, {inf_unf[k]:.2f}, comes after removing "
            f"{_pct(fr[k], 0)} (accuracy {_pct(inf_acc[k])} against {_pct(acc0)})."
        )
    if "random" in c.unfairness:
        removal.append(
            f"Removing {_pct(fr[0], 0)} of the points at random "
            f"{_direction(unf0, c.unfairness['random'][0], name)}: the effect above comes from "
            "which points are removed, not how many."
        )
    removal.append(
        f"{_pct(c.harmful_fraction)} of the points are harmful; past that fraction (the black "
        "diamond on the influence line, if in range) removal takes helpful points too."
    )
    for label, (acc, unf, _) in list(audit.effects.items())[1:]:
        removal.append(
            f"Retraining {label} {_direction(unf0, unf, name)}, {_accuracy_cost(acc0, acc)}."
        )
    removal.append(
        "These numbers are measured on the training data after actual refits. Check them on "
        "held-out data before removing anything, and look at why the points are harmful: "
        "removing data is a diagnosis, not automatically a fix."
    )
    out["removal"] = removal
    return out


# ---------------------------------------------------------------------------------------------
# figures


def _mpl_text(text):
    """Text safe for matplotlib labels: no mathtext."""
    return str(text).replace("$", r"\$")


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figures(audit):
    """Base64 PNGs (or None without matplotlib) of the three figures."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    from .plotting import plot_removal_curve, plot_tradeoff_curve

    # Figure objects (not pyplot): no GUI backend, nothing global is touched
    figs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "tradeoff" in audit.selection:
            fig = Figure(figsize=(5.5, 4.2))
            plot_tradeoff_curve(audit.selection, ax=fig.subplots())
            figs["tradeoff"] = _png(fig)
        figs["map"] = _png(_map_figure(audit))
        fig = Figure(figsize=(6, 6))
        plot_removal_curve(
            audit.curve,
            axes=fig.subplots(2, 1, sharex=True),
            title="Accuracy and unfairness after removing training points",
        )
        figs["removal"] = _png(fig)
    return figs


def _map_figure(audit):
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    xy = audit.map_coordinates
    n = len(xy)
    rng = np.random.default_rng(0)
    shown = np.arange(n) if n <= MAX_MAP_POINTS else np.sort(rng.choice(n, MAX_MAP_POINTS, False))
    fig = Figure(figsize=(8.5, 5))
    ax = fig.subplots()
    groups = audit.groups
    uniq = sorted(set(groups))
    positive = audit.y == audit.positive_label
    cmap = colormaps["tab10"]
    colors = {g: cmap(k) for k, g in enumerate(uniq[:10])}
    point_colors = [colors.get(g, (0.6, 0.6, 0.6, 1.0)) for g in groups[shown]]
    point_colors = np.array(point_colors)
    for is_pos, marker in ((True, "o"), (False, "^")):
        sel = positive[shown] == is_pos
        ax.scatter(
            xy[shown[sel], 0],
            xy[shown[sel], 1],
            s=9,
            marker=marker,
            c=point_colors[sel],
            alpha=0.35,
            linewidths=0,
        )
    harm = audit.top_harmful
    ax.scatter(xy[harm, 0], xy[harm, 1], s=90, facecolors="none", edgecolors="red", linewidths=1.8)
    div = np.asarray(audit.selection.indices)
    ax.scatter(
        xy[div, 0], xy[div, 1], s=70, marker="D", color="black", edgecolors="white", linewidths=1
    )
    handles = [
        Line2D([], [], ls="", marker="s", color=c, label=_mpl_text(f"group {g}")[:40])
        for g, c in colors.items()
    ]
    if len(uniq) > 10:
        handles.append(Line2D([], [], ls="", marker="s", color="grey", label="other groups"))
    pos, neg = (str(v)[:20] for v in _display_classes(audit))
    handles += [
        Line2D([], [], ls="", marker="o", color="grey", label=_mpl_text(f"y = {pos}")),
        Line2D([], [], ls="", marker="^", color="grey", label=_mpl_text(f"y = {neg}")),
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            mfc="none",
            mec="red",
            mew=1.8,
            ms=9,
            label=f"{len(harm)} most harmful",
        ),
        Line2D([], [], ls="", marker="D", color="black", ms=7, label=f"{len(div)} DIVINE points"),
    ]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.set_xlabel(_mpl_text(audit.map_axis_labels[0])[:80])
    ax.set_ylabel(_mpl_text(audit.map_axis_labels[1])[:80])
    ax.set_title("Training data with the selected points")
    if n > MAX_MAP_POINTS:
        ax.set_title(f"{MAX_MAP_POINTS} of {n} points shown", loc="right", fontsize=7)
    return fig


def _display_classes(audit):
    """(positive, negative) target values as the user knows them."""
    positive = audit.y == audit.positive_label
    pos = audit.display_positive
    neg = audit.y_display[~positive][0] if (~positive).any() else "other"
    return pos, neg


# ---------------------------------------------------------------------------------------------
# HTML


def _e(value):
    return html.escape(str(value), quote=True)


def _fmt(value, digits=3):
    if value is None:
        return "–"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return "–"
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.4g}"
    return str(value)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:0;color:#1d1d1f;background:#fafafa;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:1.5rem 2rem 3rem;background:#fff}
h1{font-size:1.7rem;margin:.2rem 0 .4rem}h2{font-size:1.25rem;margin-top:2.2rem;
border-bottom:2px solid #e4e4e7;padding-bottom:.2rem}
.meta{color:#555;font-size:.92rem}.meta dt{font-weight:600;float:left;clear:left;width:11rem}
.meta dd{margin:0 0 .15rem 11.5rem}
nav ol{columns:2;font-size:.92rem}
.reading{background:#f3f6fb;border-left:4px solid #3b6fb6;padding:.6rem 1rem;margin:.8rem 0}
.reading p{margin:.3rem 0}
.findings li{margin:.25rem 0}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.86rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#f0f0f3}td.text,th.text{text-align:left}
tr.summary td{background:#fafafa;font-weight:600}
td.neg{color:#b00020}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.86rem;color:#555}
.note{font-size:.85rem;color:#555}
code{background:#f0f0f3;padding:0 .2rem;border-radius:3px}
"""


def _table(headers, rows, *, text_cols=(), summary_rows=(), classes=None):
    head = "".join(
        f'<th class="text">{_e(h)}</th>' if k in text_cols else f"<th>{_e(h)}</th>"
        for k, h in enumerate(headers)
    )
    body = []
    for r, row in enumerate(rows):
        cls = ' class="summary"' if r in summary_rows else ""
        cells = []
        for k, cell in enumerate(row):
            klass = []
            if k in text_cols:
                klass.append("text")
            if classes and classes.get((r, k)):
                klass.append(classes[(r, k)])
            attr = f' class="{" ".join(klass)}"' if klass else ""
            cells.append(f"<td{attr}>{_e(_fmt(cell))}</td>")
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _reading(sentences):
    return '<div class="reading">' + "".join(f"<p>{_e(s)}</p>" for s in sentences) + "</div>"


def _figure(png, alt, caption):
    if png is None:
        return (
            '<p class="note">Figure not drawn: it needs matplotlib '
            "(<code>pip install 'fairlearn-divine[plots]'</code>).</p>"
        )
    return (
        f'<figure><img src="data:image/png;base64,{png}" alt="{_e(alt)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _points_table(audit, indices):
    X = audit.X
    objective = audit.objective
    feats = list(X.columns)[:MAX_TABLE_FEATURES] if hasattr(X, "columns") else []
    headers = ["rank", "row", f"score ({objective})", "score (log loss)", "label", "group"]
    headers += [str(f) for f in feats]
    rows, classes = [], {}
    fair, loss = audit.scores[objective], audit.scores["log_loss"]
    for r, i in enumerate(indices):
        i = int(i)
        row_label = X.index[i] if hasattr(X, "index") else i
        values = [X.iloc[i][f] for f in feats]
        rows.append(
            [r + 1, row_label, float(fair[i]), float(loss[i]), audit.y_display[i], audit.groups[i]]
            + values
        )
        for k, s in ((2, fair[i]), (3, loss[i])):
            if s < 0:
                classes[(r, k)] = "neg"
    text_cols = {4, 5} | {6 + k for k, f in enumerate(feats) if not _is_numeric(X[f])}
    table = _table(headers, rows, text_cols=text_cols, classes=classes)
    if hasattr(X, "columns") and X.shape[1] > MAX_TABLE_FEATURES:
        table += (
            f'<p class="note">First {MAX_TABLE_FEATURES} of {X.shape[1]} features shown; the '
            "JSON output has them all.</p>"
        )
    return table


def _is_numeric(series):
    from pandas.api.types import is_numeric_dtype

    return is_numeric_dtype(series)


def _findings(audit, read):
    return [
        read["model"][0],
        read["harmful"][0].split(":")[0] + ".",
        read["removal"][0],
        read["divine"][0].split(" (gamma")[0] + ".",
    ]


def render_html(audit, *, figures=True):
    """The audit as one self-contained HTML page (str)."""
    info = audit.info
    name = _objective_name(audit.objective)
    read = readings(audit)
    figs = _figures(audit) if figures else None
    figs = figs or {}
    title = f"fairlearn-divine audit: {info.get('data', 'training data')}"

    meta_items = [
        ("Data", info.get("data", "")),
        ("Source", info.get("source", "")),
        ("Training points", f"{audit.n_samples}"),
        ("Target", f"{info.get('target', 'y')} (positive class: {audit.display_positive})"),
        ("Sensitive feature(s)", info.get("sensitive", "")),
        ("Model", info.get("model", "")),
        ("Fairness objective", f"{name}: {FAIRNESS_OBJECTIVES[audit.objective][1]}"),
        ("Scoring method", f"{audit.method} (training_point_importance)"),
        ("fairlearn-divine", audit.version),
    ]
    meta = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta_items if v != "")

    # model table
    headers = ["group", "count", "accuracy", "selection rate", "TPR", "TNR"]
    keys = headers[1:]
    rows = [[r["group"]] + [r[k] for k in keys] for r in audit.by_group]
    rows.append(["overall"] + [audit.overall[k] for k in keys])
    rows.append(["difference (max − min)", None] + [audit.difference[k] for k in keys[1:]])
    summary = {len(rows) - 2, len(rows) - 1}
    model_table = _table(headers, rows, text_cols={0}, summary_rows=summary)
    hard = (
        f"<p><strong>{_e(name)}</strong> (hard metric, as fairlearn computes it): "
        f"<strong>{audit.unfairness:.4f}</strong>; log loss {audit.log_loss:.4f}; "
        f"accuracy {audit.accuracy:.4f}.</p>"
    )

    # removal effects
    eff_rows = [[label, k, acc, unf] for label, (acc, unf, k) in audit.effects.items()]
    eff_table = _table(
        ["model retrained", "points removed", "accuracy", name], eff_rows, text_cols={0}
    )
    c = audit.curve
    curve_headers = ["fraction removed"] + [
        f"{s}: {m}" for s in c.accuracy for m in ("accuracy", name)
    ]
    curve_rows = [
        [f"{f:.0%}"] + [v for s in c.accuracy for v in (c.accuracy[s][k], c.unfairness[s][k])]
        for k, f in enumerate(c.fractions)
    ]
    curve_table = _table(curve_headers, curve_rows, text_cols={0})

    notes = "".join(f"<li>{_e(n)}</li>" for n in audit.notes)
    sections = [
        (
            "findings",
            "Key findings",
            '<ul class="findings">'
            + "".join(f"<li>{_e(s)}</li>" for s in _findings(audit, read))
            + "</ul>",
        ),
        (
            "model",
            "Accuracy and fairness by group",
            _reading(read["model"])
            + model_table
            + hard
            + '<p class="note">fairlearn MetricFrame on the training data; TPR = true positive '
            "rate (recall of the positive class), TNR = true negative rate, selection rate = "
            "share predicted positive.</p>",
        ),
        (
            "harmful",
            f"Most harmful training points for {name}",
            _reading(read["harmful"])
            + _points_table(audit, audit.top_harmful)
            + '<p class="note">score = f(model without the point) − f(model): negative (red) '
            "means removing the point lowers f, i.e. the point is harmful. "
            "row = row of the input data (0-based, header excluded).</p>",
        ),
        (
            "divine",
            "DIVINE points: diverse and harmful",
            _reading(read["divine"]) + _points_table(audit, audit.selection.indices),
        ),
        (
            "tradeoff",
            "Influence–diversity trade-off",
            _reading(read["tradeoff"])
            + _figure(
                figs.get("tradeoff"),
                "Trade-off curve of the DIVINE gamma sweep",
                "Fraction of the top-m harm kept against the diversity gained, one point per "
                "gamma.",
            ),
        ),
        (
            "map",
            "Map of the training data",
            _reading(read["map"])
            + _figure(
                figs.get("map"),
                "2-D map of the training data with the selected points highlighted",
                "Colour: sensitive group; circle: positive target, triangle: negative target.",
            ),
        ),
        (
            "removal",
            "What removing points would do",
            _reading(read["removal"])
            + eff_table
            + _figure(
                figs.get("removal"),
                "Removal curve: accuracy and unfairness against the fraction removed",
                "Top: accuracy; bottom: the hard fairness metric, after refitting without the "
                "first points of each ordering (grey: original model).",
            )
            + curve_table,
        ),
        (
            "notes",
            "Method and notes",
            "<p>Importance scores follow <code>scores[i] = f(model without i) − f(model)</code> "
            "(influence functions: a first-order approximation of exact leave-one-out). The "
            "gradient of the fairness metric uses a smooth surrogate (soft group rates); every "
            "reported metric value is the hard metric after an actual refit. DIVINE (Bhatt et "
            "al.) selects points maximising harm + gamma × diversity (sum-redundancy over an "
            "RBF kernel).</p>" + (f"<ul>{notes}</ul>" if notes else ""),
        ),
    ]
    nav = (
        "<nav><ol>"
        + "".join(f'<li><a href="#{sid}">{_e(h)}</a></li>' for sid, h, _ in sections)
        + "</ol></nav>"
    )
    body = "".join(
        f'<section id="{sid}"><h2>{_e(h)}</h2>{content}</section>' for sid, h, content in sections
    )
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><main><header><h1>Training-data audit</h1>"
        f'<dl class="meta">{meta}</dl></header>{nav}{body}'
        f'<footer class="note"><p>Generated by fairlearn-divine {_e(audit.version)}. '
        "This file is self-contained: it loads nothing from the network.</p></footer>"
        "</main></body></html>\n"
    )


# ---------------------------------------------------------------------------------------------
# JSON


def _py(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _point(audit, i, rank):
    X = audit.X
    i = int(i)
    features = (
        {str(k): _py(v) for k, v in X.iloc[i].items()}
        if hasattr(X, "iloc")
        else {f"x{k}": _py(v) for k, v in enumerate(np.asarray(X)[i])}
    )
    return {
        "rank": rank,
        "index": i,
        "row": _py(X.index[i]) if hasattr(X, "index") else i,
        "scores": {k: _py(float(v[i])) for k, v in audit.scores.items()},
        "label": _py(audit.y_display[i]),
        "group": _py(audit.groups[i]),
        "features": features,
    }


def _summary(scores):
    s = scores[np.isfinite(scores)]
    q = np.quantile(s, [0.01, 0.25, 0.5, 0.75, 0.99]) if len(s) else [np.nan] * 5
    return {
        "n": int(len(scores)),
        "n_harmful": int(np.sum(s < 0)),
        "min": _py(float(s.min())) if len(s) else None,
        "max": _py(float(s.max())) if len(s) else None,
        "mean": _py(float(s.mean())) if len(s) else None,
        "quantiles": {
            k: _py(float(v)) for k, v in zip(("1%", "25%", "50%", "75%", "99%"), q, strict=True)
        },
    }


def audit_to_json(audit):
    """The audit's results as a JSON-serialisable dict."""
    sel = audit.selection
    c = audit.curve
    return {
        "version": audit.version,
        "info": {k: _py(v) for k, v in audit.info.items()},
        "objective": audit.objective,
        "method": audit.method,
        "n_samples": audit.n_samples,
        "positive_label": _py(audit.display_positive),
        "sign_convention": "scores[i] = f(model without i) - f(model); negative = harmful",
        "metrics": {
            "accuracy": audit.accuracy,
            "log_loss": audit.log_loss,
            audit.objective: audit.unfairness,
            "by_group": audit.by_group,
            "overall": audit.overall,
            "difference": audit.difference,
        },
        "scores": {k: _summary(v) for k, v in audit.scores.items()},
        "most_harmful": {
            audit.objective: [_point(audit, i, r + 1) for r, i in enumerate(audit.top_harmful)],
            "log_loss": [_point(audit, i, r + 1) for r, i in enumerate(audit.top_harmful_loss)],
        },
        "divine": {
            "points": [_point(audit, i, r + 1) for r, i in enumerate(sel.indices)],
            "gamma": _py(float(sel.gamma)),
            "influence_retained": _py(float(sel.influence_retained)),
            "mean_pairwise_distance": _py(float(sel.mean_pairwise_distance)),
            "top_mean_pairwise_distance": audit.top_m_pairwise_distance,
        },
        "removal": {
            "effects": [
                {"model": label, "n_removed": k, "accuracy": acc, audit.objective: unf}
                for label, (acc, unf, k) in audit.effects.items()
            ],
            "curve": {
                "fractions": [float(f) for f in c.fractions],
                "accuracy": {s: [float(v) for v in a] for s, a in c.accuracy.items()},
                "unfairness": {s: [float(v) for v in a] for s, a in c.unfairness.items()},
                "baseline_accuracy": float(c.baseline_accuracy),
                "baseline_unfairness": float(c.baseline_unfairness),
                "harmful_fraction": float(c.harmful_fraction),
            },
        },
        "notes": list(audit.notes),
    }
