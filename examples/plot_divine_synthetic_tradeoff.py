"""DIVINE's influence-diversity trade-off on the synthetic data (paper Fig. 3; D.1, Figs 11-13).

Fits ``LogisticRegression(tol=1e-8, max_iter=1000)`` on ``make_divine_synthetic(random_state=0)``,
scores every training point with influence functions for the log loss on the training data
(``scores[i] = f(without i) - f``: positive = helpful, the paper's "influential"), and selects
m = 5 DIVINE points with :func:`~fairlearn_divine.select_diverse`:

* gamma = 0: the top-5 points by influence alone (red diamond of the trade-off curve);
* ``gamma="influence_budget"`` (10 %): the largest gamma of the sweep whose selection keeps at
  least 90 % of the top-5 influence (orange);
* ``gamma="pairwise_distance"``: the gamma of the sweep whose selection has the largest mean
  pairwise distance (yellow; the package default).

Figure 1 (``examples/output/divine_synthetic_tradeoff_sr.png``): sum-redundancy, the trade-off
curve (:func:`~fairlearn_divine.plotting.plot_tradeoff_curve`) and the three selections, like
the paper's Figure 3. Figure 2 (``divine_synthetic_tradeoff_fl_mmd.png``): the same for
facility location (row 1, paper Fig. 12) and MMD (row 2, paper Fig. 13).

Run: ``python examples/plot_divine_synthetic_tradeoff.py``
"""

from pathlib import Path

from sklearn.linear_model import LogisticRegression

from fairlearn_divine import select_diverse, tradeoff_curve, training_point_importance
from fairlearn_divine.datasets import make_divine_synthetic

M = 5
OUT = Path(__file__).resolve().parent / "output"
# the paper's gammas (their own normalisation; not comparable number for number)
PAPER_GAMMAS = {
    "sum_redundancy": (161, 434),
    "facility_location": (0.526, 0.628),
    "mmd": (201, 614),
}

data = make_divine_synthetic(random_state=0)
X, y, outlier = data.X, data.y, data.is_outlier
model = LogisticRegression(tol=1e-8, max_iter=1000).fit(X, y)
scores = training_point_importance(model, X, y, objective="log_loss").scores

print(
    f"n = {len(y)} training points ({int(outlier.sum())} outliers), "
    f"training accuracy {model.score(X, y):.4f}"
)
print(
    f"influence scores (log loss on the training data): min {scores.min():.3e}, "
    f"max {scores.max():.3e}"
)

results = {}
for diversity in ("sum_redundancy", "facility_location", "mmd"):
    curve = tradeoff_curve(scores, X, M, diversity=diversity, random_state=0)
    picks = {
        "gamma = 0 (IF alone)": select_diverse(
            scores, X, M, diversity=diversity, gamma=0.0, random_state=0
        ),
        "influence budget 10%": select_diverse(
            scores, X, M, diversity=diversity, gamma="influence_budget", random_state=0
        ),
        "max pairwise distance": select_diverse(scores, X, M, diversity=diversity, random_state=0),
    }
    results[diversity] = (curve, picks)
    print(
        f"\n== R = {diversity} (m = {M}; bandwidth {picks['gamma = 0 (IF alone)'].bandwidth:.3f};"
        f" paper's gammas {PAPER_GAMMAS[diversity][0]} / {PAPER_GAMMAS[diversity][1]})"
    )
    print(
        f"{'selection':<24}{'gamma raw':>11}{'gamma norm':>11}{'infl kept':>10}"
        f"{'mean dist':>10}{'outliers':>9}  indices"
    )
    for name, sel in picks.items():
        idx = sel.indices
        print(
            f"{name:<24}{sel.gamma:>11.4g}{sel.gamma_normalized:>11.4g}"
            f"{sel.influence_retained:>10.3f}{sel.mean_pairwise_distance:>10.3f}"
            f"{int(outlier[idx].sum()):>6}/{M}  {idx.tolist()}"
        )

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("\nmatplotlib is not installed: no figures.")
    raise SystemExit(0) from None

from fairlearn_divine.plotting import plot_tradeoff_curve  # noqa: E402

COLORS = {
    "gamma = 0 (IF alone)": "red",
    "influence budget 10%": "orange",
    "max pairwise distance": "gold",
}


def scatter(ax, sel, name):
    for label, color in [(0, "tab:blue"), (1, "tab:green")]:
        mask = y == label
        ax.scatter(X[mask, 0], X[mask, 1], s=6, c=color, alpha=0.25, lw=0, label=f"y = {label}")
    idx = sel.indices
    ax.scatter(
        X[idx, 0],
        X[idx, 1],
        s=140,
        c=COLORS[name],
        edgecolors="black",
        lw=1.2,
        zorder=3,
        label="selected",
    )
    gamma = "0" if sel.gamma == 0 else f"{sel.gamma:.3g}"
    ax.set_title(
        f"{name}\ngamma = {gamma}, mean dist {sel.mean_pairwise_distance:.2f}", fontsize=9
    )
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")


def row(axes, diversity):
    curve, picks = results[diversity]
    plot_tradeoff_curve(curve, ax=axes[0])
    axes[0].set_title(f"{diversity}: trade-off (m = {M})", fontsize=9)
    for ax, (name, sel) in zip(axes[1:], picks.items(), strict=True):
        scatter(ax, sel, name)
    axes[1].legend(fontsize=7, loc="lower right")


OUT.mkdir(exist_ok=True)
fig, axes = plt.subplots(1, 4, figsize=(19, 4.6))
row(axes, "sum_redundancy")
fig.suptitle("DIVINE on synthetic data, IF with log loss + sum-redundancy (paper Figure 3)")
fig.tight_layout()
path1 = OUT / "divine_synthetic_tradeoff_sr.png"
fig.savefig(path1, dpi=110)

fig, axes = plt.subplots(2, 4, figsize=(19, 9))
row(axes[0], "facility_location")
row(axes[1], "mmd")
fig.suptitle("DIVINE with facility location (top, paper Fig. 12) and MMD (bottom, paper Fig. 13)")
fig.tight_layout()
path2 = OUT / "divine_synthetic_tradeoff_fl_mmd.png"
fig.savefig(path2, dpi=110)
print(f"\nsaved {path1}\nsaved {path2}")
