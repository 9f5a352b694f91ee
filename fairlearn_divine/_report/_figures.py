"""The figures of the audit report (matplotlib, Agg), as base64-encoded PNG."""

from __future__ import annotations

import base64
import io
import warnings

import numpy as np

MAX_MAP_POINTS = 5000


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
    from ..plotting import plot_removal_curve, plot_tradeoff_curve

    # Figure objects (not pyplot): no GUI backend, nothing global is touched
    figs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "tradeoff" in audit.selection:
            fig = Figure(figsize=(5.5, 4.2))
            plot_tradeoff_curve(
                audit.selection, ax=fig.subplots(), influence_budget=audit.influence_budget
            )
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
