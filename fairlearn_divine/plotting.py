"""Plots (matplotlib, the ``plots`` extra)."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_removal_curve", "plot_tradeoff_curve"]


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
