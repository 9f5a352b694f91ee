"""Plots (matplotlib, the ``plots`` extra)."""

from __future__ import annotations

import re
import warnings

import numpy as np

from ._core.validation import check_integer

__all__ = ["plot_removal_curve", "plot_tradeoff_curve", "plot_training_point_importance"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Plotting needs matplotlib: pip install 'fairlearn-divine[plots]'."
        ) from err
    return plt


def plot_tradeoff_curve(curve, *, ax=None, influence_budget=0.1, annotate=True):
    """Draw the influence-diversity trade-off of a gamma sweep (DIVINE, Figure 3a).

    The x axis is the diversity R(S) relative to the top-m set (in units of the sweep's
    diversity scale), the y axis the fraction of the top-m influence kept. Marked: gamma = 0
    (red, at (0, 1)), the largest gamma within ``influence_budget`` (orange; for a selection made
    with ``gamma="influence_budget"``, its own refined gamma) and the gamma maximising the mean
    pairwise distance (yellow), as in the paper.

    Parameters
    ----------
    curve : Bunch or DiverseSelection
        The result of :func:`~fairlearn_divine.tradeoff_curve`, or a selection that ran a sweep
        (its ``tradeoff`` entry is used).
    ax : matplotlib Axes, optional
    influence_budget : float, default=0.1
    annotate : bool, default=True
        Label the marked points with their (raw) gamma.

    Returns
    -------
    matplotlib Axes
    """
    selection = None
    if "tradeoff" in curve:
        selection, curve = curve, curve["tradeoff"]
    for key in ("relative_diversity", "influence_retained", "gammas_raw", "diversity_scale"):
        if key not in curve:
            raise ValueError(f"curve has no {key!r}: pass the result of tradeoff_curve().")
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    x = (curve["relative_diversity"] - curve["top_relative_diversity"]) / curve["diversity_scale"]
    yv = curve["influence_retained"]
    ax.plot(x, yv, "-", color="black", lw=1.5, label="gamma sweep")
    ax.plot(
        0.0,
        1.0,
        "D",
        color="red",
        markersize=9,
        markeredgecolor="black",
        label="gamma = 0 (top-m)",
    )
    marks = []
    ok = np.flatnonzero(yv >= 1.0 - influence_budget - 1e-12)
    if ok.size:
        marks.append((int(ok[-1]), "orange", f"{influence_budget:.0%} influence budget"))
    marks.append(
        (int(np.argmax(curve["mean_pairwise_distance"])), "gold", "max pairwise distance")
    )
    points = [(x[k], yv[k], curve["gammas_raw"][k], color, label) for k, color, label in marks]
    if selection is not None and selection.get("gamma_strategy") == "influence_budget":
        # the selection's gamma was refined between sweep points: mark where it really is
        sx = (selection["relative_diversity"] - curve["top_relative_diversity"]) / curve[
            "diversity_scale"
        ]
        budget = f"{influence_budget:.0%} influence budget"
        points = [p for p in points if p[4] != budget]
        points.append((sx, selection["influence_retained"], selection["gamma"], "orange", budget))
    for px, py, gamma, color, label in points:
        ax.plot(px, py, "D", color=color, markersize=9, markeredgecolor="black", label=label)
        if annotate:
            ax.annotate(
                f"gamma={gamma:.3g}",
                (px, py),
                textcoords="offset points",
                xytext=(6, -12),
                fontsize=8,
            )
    ax.set_xlabel("diversity gained over top-m (normalised R)")
    ax.set_ylabel("fraction of top-m influence kept")
    ax.set_title(f"Influence-diversity trade-off (m = {curve.get('n_points', '?')})")
    ax.legend(fontsize=8, loc="lower left")
    return ax


_STRATEGY_STYLE = {
    "divine": ("tab:blue", "DIVINE"),
    "random": ("tab:orange", "random"),
    "influence": ("tab:green", "influence"),
    "diversity_only": ("tab:red", "diversity only"),
}


def plot_removal_curve(curve, *, axes=None, title=None):
    """Draw a removal curve in the layout of DIVINE's Figure 7.

    Top: accuracy; bottom: the (hard) unfairness metric, against the fraction of training points
    removed, one line per strategy, the original model in grey, and a diamond on the influence
    line where the harmful points run out (after it, removal takes helpful points).

    Parameters
    ----------
    curve : Bunch
        The result of :func:`~fairlearn_divine.removal_curve`.
    axes : array of two matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    ndarray of matplotlib Axes
    """
    plt = _pyplot()
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(4, 5), sharex=True)
    fr = curve["fractions"]
    for row, key, label in (
        (0, "accuracy", "accuracy"),
        (1, "unfairness", f"unfairness ({curve['objective']})"),
    ):
        ax = axes[row]
        base = curve[f"baseline_{key}"]
        ax.axhline(base, color="grey", lw=1, ls="--", label="original model")
        for name, values in curve[key].items():
            color, text = _STRATEGY_STYLE.get(name, (None, name))
            ax.plot(fr, values, "-o", ms=3, color=color, label=text)
        if "influence" in curve[key] and curve["harmful_fraction"] <= fr[-1]:
            k = int(np.argmin(np.abs(fr - curve["harmful_fraction"])))
            ax.plot(fr[k], curve[key]["influence"][k], "D", color="black", ms=7)
        ax.set_ylabel(label)
    axes[1].set_xlabel("fraction of training points removed")
    axes[0].legend(fontsize=7)
    if title:
        axes[0].set_title(title)
    return axes


_IMPORTANCE_KINDS = ("bar", "beeswarm", "heatmap")
_HELPS = "positive = the point helps"


def _shap():
    with warnings.catch_warnings():
        # shap's import touches matplotlib APIs that warn about their own future deprecations
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap
    return shap


def _split_description(explanation):
    """(quantity, how it was computed) from the ``output_names`` DivineExplainer sets."""
    desc = getattr(explanation, "output_names", None)
    if not isinstance(desc, str) or not desc.strip():
        return "importance of the training point", ""
    match = re.fullmatch(r"(.*\S)\s*\(([^()]*)\)", desc.strip())
    return (match.group(1), match.group(2)) if match else (desc.strip(), "")


def _point_descriptions(explanation, n):
    """``display_data`` per training point (column), or None."""
    dd = getattr(explanation, "display_data", None)
    if dd is None:
        return None
    dd = np.asarray(dd, dtype=object)
    dd = dd[0] if dd.ndim == 2 else dd
    if dd.ndim != 1 or len(dd) != n:
        return None
    return [str(v).strip() for v in dd]


def _colour_values(color_by, descriptions, n):
    """(values per training point, legend title) for ``color_by``."""
    if isinstance(color_by, str):
        if color_by not in ("label", "group"):
            raise ValueError(
                f"color_by={color_by!r}: use 'label', 'group' or one value per training point."
            )
        key = "y" if color_by == "label" else "group"
        parsed = []
        for d in descriptions or []:
            d = d[1:-1] if d.startswith("(") and d.endswith(")") else d
            # "y=<label>" or "y=<label>, group=<group>" (a group may be a tuple with commas)
            match = re.fullmatch(r"y=(.*?)(?:, group=(.*))?", d)
            parsed.append(None if match is None else match.group(1 if key == "y" else 2))
        if not parsed or any(v is None for v in parsed):
            raise ValueError(
                f"color_by={color_by!r} needs the {key}=... descriptions of a DivineExplainer "
                "explanation (display_data)"
                + (" made with sensitive_features=." if color_by == "group" else ".")
            )
        return np.array(parsed, dtype=object), f"training point's {color_by}"
    title = getattr(color_by, "name", None)
    values = np.asarray(color_by, dtype=object)
    if values.ndim != 1 or len(values) != n:
        raise ValueError(
            f"color_by must have one value per training point ({n}), got shape {values.shape}."
        )
    return values, str(title) if title is not None else "training point"


def _value_label(quantity, how, *, ops=(), n_samples=None):
    """The axis label: what the plotted values are."""
    label = quantity
    for op in ops:
        if op == "abs":
            label = f"|{label}|"
        elif op == "mean":
            label = f"mean {label}"
        else:
            label = f"{op}({label})"
    if n_samples is not None:
        return f"mean |{quantity}|\nover {n_samples} samples" + (f" ({how})" if how else "")
    notes = [how] if how else []
    if "abs" not in ops:
        notes.append(_HELPS)
    return label + (f"\n({'; '.join(notes)})" if notes else "")


def plot_training_point_importance(
    explanation, kind="bar", *, ax=None, max_display=10, color_by=None
):
    """Plot a :class:`~fairlearn_divine.DivineExplainer` Explanation with labels that say
    what its values are.

    Calls shap's ``bar``, ``beeswarm`` or ``heatmap`` plot (``show=False``) and replaces the
    labels shap writes for feature attributions: the value axis (and heatmap's colour bar) reads
    the Explanation's ``output_names``, e.g. "change of log loss when the training point is
    removed (first-order estimate; positive = the point helps)"; the rows are
    "train point <label> (y=<label>, group=<group>)" and the last row "Sum of N other
    training points"; the numbers on the bars get two significant digits instead of shap's two
    decimals (which print influence values as "+0").

    Parameters
    ----------
    explanation : shap.Explanation
        From :class:`~fairlearn_divine.DivineExplainer` (``explainer(X, y)``,
        :meth:`~fairlearn_divine.DivineExplainer.explain_fairness`), or a slice of one:
        values of shape (n_samples, n_train) or (n_train,).
    kind : {"bar", "beeswarm", "heatmap"}, default="bar"
        ``"bar"``: the mean absolute value per training point over the samples (shap's
        default); for a single row (one sample ``explanation[j]``, or a fairness
        explanation) the signed values, so harmful points (negative) and helpful ones are
        told apart. ``"beeswarm"``: one dot per sample and training point. ``"heatmap"``:
        samples (ordered by shap's hierarchical clustering of their values) against training
        points; the line on top is the sum over all training points (scaled), the bars on
        the right the mean absolute value. Rows are the ``max_display - 1`` training points
        with the largest mean absolute value, then the sum of all the others.
    ax : matplotlib Axes, optional
        Default: a new figure, sized by shap.
    max_display : int, default=10
        Number of rows, including the "Sum of N other training points" row.
    color_by : "label", "group" or array-like of shape (n_train,), optional
        Beeswarm only: colour each training point's row by its label, its sensitive group
        (both from the Explanation's ``display_data``) or any value per training point (e.g.
        a column of ``X_train``), with a legend; the summed row is grey. Default: one colour
        and no colour bar (shap's colour bar would show "feature values", which training
        points do not have).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.linear_model import LogisticRegression
    >>> from fairlearn_divine import DivineExplainer
    >>> from fairlearn_divine.datasets import make_divine_synthetic
    >>> from fairlearn_divine.plotting import plot_training_point_importance
    >>> data = make_divine_synthetic(n_samples=200, n_outliers=5, random_state=0)
    >>> model = LogisticRegression().fit(data.X, data.y)
    >>> explanation = DivineExplainer(model, data.X, data.y)(data.X[:20], data.y[:20])
    >>> ax = plot_training_point_importance(explanation, kind="beeswarm", color_by="label")
    >>> print(ax.get_xlabel())
    change of log loss when the training point is removed
    (first-order estimate; positive = the point helps)
    """
    shap = _shap()
    if not isinstance(explanation, shap.Explanation):
        raise TypeError(
            "explanation must be a shap.Explanation from DivineExplainer, got "
            f"{type(explanation).__name__}."
        )
    if kind not in _IMPORTANCE_KINDS:
        raise ValueError(f"kind={kind!r}: use one of {', '.join(map(repr, _IMPORTANCE_KINDS))}.")
    max_display = check_integer(max_display, "max_display", minimum=1)
    values = np.asarray(explanation.values, dtype=float)
    if values.ndim not in (1, 2) or values.shape[-1] == 0:
        raise ValueError(
            "explanation must have values of shape (n_samples, n_train) or (n_train,), got "
            f"{values.shape}."
        )
    if values.ndim == 1 and kind != "bar":
        raise ValueError(
            f"kind={kind!r} needs several samples (values of shape (n_samples, n_train)); "
            "for one sample use kind='bar'."
        )
    if color_by is not None and kind != "beeswarm":
        raise ValueError("color_by applies to kind='beeswarm' only.")
    rows = np.atleast_2d(values)
    n_samples, n = rows.shape
    names = explanation.feature_names
    if names is None:
        names = [f"train point {i}" for i in range(n)]
    names = [str(v) for v in np.atleast_1d(np.asarray(names, dtype=object))]
    if len(names) != n:
        raise ValueError(f"explanation has {len(names)} feature_names for {n} columns.")
    descriptions = _point_descriptions(explanation, n)
    colours = None if color_by is None else _colour_values(color_by, descriptions, n)
    quantity, how = _split_description(explanation)
    ops = [op.name for op in getattr(explanation, "op_history", []) if op.name != "__getitem__"]

    order = np.argsort(-np.abs(rows).mean(0), kind="stable")
    k = min(max_display, n)
    grouped = k < n
    labels = [names[i] + (f" {descriptions[i]}" if descriptions else "") for i in order[:k]]
    if grouped:
        labels[-1] = f"Sum of {n - k + 1} other training points"

    plt = _pyplot()
    if ax is None:
        plt.figure()  # shap sizes the current figure when it is given no Axes
    target = ax
    if kind == "bar":
        signed = n_samples == 1
        plain = shap.Explanation(values=rows[0] if signed else rows, feature_names=names)
        n_texts = 0 if ax is None else len(ax.texts)
        ax = shap.plots.bar(plain, max_display=k, order=order, ax=target, show=False)
        shown = rows[0] if signed else np.abs(rows).mean(0)
        bar_values = list(shown[order[:k]])
        if grouped:
            bar_values[-1] = shown[order[k - 1 :]].sum()
        texts = ax.texts[n_texts:]
        for text, value in zip(texts, bar_values, strict=False):
            text.set_text(f"{value:+.2g}" if signed else f"{value:.2g}")
        ax.set_yticks(np.arange(k, 0, -1), labels, fontsize=11)
        for tick in ax.get_yticklabels():
            tick.set_color("#333333")  # shap greys its "value = name" labels
        _fit_texts(ax, texts)
        if signed:
            xlabel = _value_label(quantity, how, ops=ops)
        else:
            xlabel = _value_label(quantity, how, n_samples=n_samples)
        ax.set_xlabel(xlabel, fontsize=11)
    elif kind == "beeswarm":
        plain = shap.Explanation(values=rows, feature_names=names)
        n_collections = 0 if ax is None else len(ax.collections)
        ax = shap.plots.beeswarm(
            plain,
            max_display=k,
            order=order,
            ax=target,
            show=False,
            color_bar=False,
            plot_size="auto" if target is None else None,
        )
        ax.set_yticks(range(k), list(reversed(labels)), fontsize=11)
        ax.set_xlabel(_value_label(quantity, how, ops=ops), fontsize=11)
        if colours is not None:
            _colour_beeswarm(ax, ax.collections[n_collections:], order[:k], grouped, *colours)
    else:
        plain = shap.Explanation(values=rows, feature_names=names)
        fig = plt.gcf() if target is None else target.figure
        before = list(fig.axes)
        clustered = n_samples > 2
        options = {} if clustered else {"instance_order": np.arange(n_samples)}
        ax = shap.plots.heatmap(
            plain, feature_order=order, max_display=k, ax=target, show=False, **options
        )
        ax.yaxis.set_ticks([-1.5, *range(k)], ["sum over all training points", *labels])
        ax.tick_params(axis="y", labelsize=11)
        ax.yaxis.get_ticklines()[0].set_visible(False)
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # samples are counted
        ax.set_xlabel(
            "explained samples"
            + (" (ordered by hierarchical clustering of their values)" if clustered else "")
        )
        for cbar_ax in (a for a in fig.axes if a not in before and a is not ax):
            cbar_ax.set_ylabel(_value_label(quantity, how, ops=ops), size=10, labelpad=4)
    return ax


def _fit_texts(ax, texts):
    """Widen the x limits so that the value texts next to the bars stay inside the axes."""
    if not texts:
        return
    fig = ax.figure
    for _ in range(3):  # the data width of a text depends on the limits being set
        fig.draw_without_rendering()
        to_data = ax.transData.inverted()
        lo, hi = ax.get_xlim()
        xs = [
            x for t in texts for x in to_data.transform(t.get_window_extent().get_points())[:, 0]
        ]
        pad = 0.02 * (hi - lo)
        new_lo, new_hi = min(lo, min(xs) - pad), max(hi, max(xs) + pad)
        if (new_lo, new_hi) == (lo, hi):
            return
        ax.set_xlim(new_lo, new_hi)


def _colour_beeswarm(ax, collections, shown, grouped, values, title):
    """Colour the beeswarm rows by one value per training point, with a legend."""
    from matplotlib.lines import Line2D

    k = len(shown)
    if len(collections) != k:  # pragma: no cover - shap draws one scatter per row
        raise RuntimeError("unexpected beeswarm layout: cannot colour its rows.")
    row_columns = list(reversed(list(shown)))  # row 0 is at the bottom
    used = [values[c] for p, c in enumerate(row_columns) if not (grouped and p == 0)]
    try:
        categories = sorted(set(used))
    except TypeError:
        categories = list(dict.fromkeys(used))
    palette = _pyplot().get_cmap("tab10")
    colour = {v: palette(i % 10) for i, v in enumerate(categories)}
    for p, (collection, c) in enumerate(zip(collections, row_columns, strict=True)):
        if grouped and p == 0:
            collection.set_color("#999999")
        else:
            collection.set_color(colour[values[c]])
    handles = [
        Line2D([], [], marker="o", ls="", color=colour[v], label=str(v)) for v in categories
    ]
    if grouped:
        handles.append(Line2D([], [], marker="o", ls="", color="#999999", label="mixed (sum)"))
    ax.legend(handles=handles, title=title, fontsize=9, title_fontsize=9, loc="best")
