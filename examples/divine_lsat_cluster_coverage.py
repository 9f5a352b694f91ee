"""Do the top-m points cover every cluster of the data? IF alone vs DIVINE on LSAT (Figure 6).

The DIVINE paper (section 5.2, Figure 6) clusters the law school (LSAT) training data with
KMeans into k clusters and reports the smallest m at which the top-m points of IF alone, and of
DIVINE, contain at least one point of every cluster (the lower bound is m = k). DIVINE needs a
smaller m.

Here: features UGPA, LSAT and sex (0/1), standardised; ``LogisticRegression(tol=1e-8,
max_iter=1000)``; influence scores for two evaluation functions on the training data:

* ``log_loss``: the most influential (helpful, largest) scores are selected;
* ``equal_accuracy`` (sensitive feature = sex): the most *unfairness-inducing* points, i.e. the
  largest ``-scores`` (as in the paper's section 5.2).

For k = 3..8 (``KMeans(k, n_init=10, random_state=0)`` on the standardised features) and
m = 1..50 the script checks the cluster coverage of

* IF: the top-m scores (``gamma=0``);
* DIVINE: ``select_diverse(s, X, m)`` with sum-redundancy and the pairwise-distance gamma, run
  for each m (its own gamma sweep per m);
* IF alone, uncapped: the smallest m over all m <= n for the IF ranking;
* DIVINE prefix: the first m picks of the single m = 50 DIVINE selection (greedy pick order).

Needs the data: ``FAIRLEARN_DIVINE_DATA=/path/to/shared/data python
examples/divine_lsat_cluster_coverage.py``. Saves
``examples/output/divine_lsat_cluster_coverage.png``.
"""

import os
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from fairlearn_divine import select_diverse, training_point_importance
from fairlearn_divine.datasets import load_law_school

M_MAX = 50
KS = range(3, 9)
OUT = Path(__file__).resolve().parent / "output"

if "FAIRLEARN_DIVINE_DATA" not in os.environ:
    print("set FAIRLEARN_DIVINE_DATA to the directory holding law_school/ (e.g. ../shared/data)")
data = load_law_school()
sex = (np.asarray(data.X["sex"]) == "male").astype(float)
features = np.column_stack([data.X["UGPA"].to_numpy(float), data.X["LSAT"].to_numpy(float), sex])
X = StandardScaler().fit_transform(features)
y = data.y
A = np.asarray(data.sensitive_features)
model = LogisticRegression(tol=1e-8, max_iter=1000).fit(X, y)
res = training_point_importance(
    model, X, y, objective=["log_loss", "equal_accuracy"], sensitive_features=A
)
print(
    f"LSAT: n = {len(y)}, training accuracy {model.score(X, y):.4f}, "
    f"equal accuracy {res.baseline[1]:.4f}"
)

selected_scores = {"log_loss": res.scores[0], "equal_accuracy": -res.scores[1]}
clusterings = {k: KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(X) for k in KS}


def if_full_cover(order, labels, k):
    """Smallest m such that the IF top-m covers all k clusters (no cap: IF is a ranking)."""
    first_rank = np.full(k, len(order))
    np.minimum.at(first_rank, labels[order], np.arange(len(order)))
    return int(first_rank.max()) + 1


def first_full_cover(orders, labels, k):
    """Smallest m such that the m-th selection covers all k clusters (None if none <= M_MAX)."""
    for m, idx in enumerate(orders, start=1):
        if len(np.unique(labels[idx])) == k:
            return m
    return None


table = {}
for f, s in selected_scores.items():
    if_order = np.argsort(-s, kind="stable")
    if_sets = [if_order[:m] for m in range(1, M_MAX + 1)]
    div_sets, gammas = [], []
    for m in range(1, M_MAX + 1):
        sel = select_diverse(s, X, m, random_state=0)
        div_sets.append(sel.indices)
        gammas.append(sel.gamma_normalized)
    full = select_diverse(s, X, M_MAX, random_state=0)
    prefix_sets = [full.indices[:m] for m in range(1, M_MAX + 1)]
    print(
        f"\nf = {f}: DIVINE at m = {M_MAX}: gamma {full.gamma:.4g} (normalised "
        f"{full.gamma_normalized:.4g}), influence kept {full.influence_retained:.3f}, mean "
        f"pairwise distance {full.mean_pairwise_distance:.3f} vs IF "
        f"{select_diverse(s, X, M_MAX, gamma=0.0).mean_pairwise_distance:.3f}"
    )
    for k in KS:
        labels = clusterings[k]
        table[f, k] = (
            first_full_cover(if_sets, labels, k),
            first_full_cover(div_sets, labels, k),
            first_full_cover(prefix_sets, labels, k),
            if_full_cover(if_order, labels, k),
        )

fmt = lambda v: f">{M_MAX}" if v is None else str(v)  # noqa: E731
print("\nSmallest m whose top-m points cover all k KMeans clusters (lower bound m = k)")
print(
    "| f | k | IF alone | IF alone (uncapped) | DIVINE (SR, per-m gamma) | "
    "DIVINE (prefix of m=50) |"
)
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for (f, k), (a, b, c, a_full) in table.items():
    print(f"| {f} | {k} | {fmt(a)} | {a_full} | {fmt(b)} | {fmt(c)} |")

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("\nmatplotlib is not installed: no figure.")
    raise SystemExit(0) from None

OUT.mkdir(exist_ok=True)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
cap = M_MAX + 5
for ax, f in zip(axes, selected_scores, strict=True):
    ks = list(KS)
    for j, (name, style) in enumerate(
        [("IF alone", "o-r"), ("DIVINE (per-m gamma)", "s-b"), ("DIVINE (prefix)", "^--g")]
    ):
        vals = [table[f, k][j] for k in ks]
        ax.plot(ks, [cap if v is None else v for v in vals], style, label=name)
    ax.plot(ks, ks, "k-", lw=1, label="lower bound m = k")
    ax.set_title(f"f = {f}" + (" (harmful points)" if f == "equal_accuracy" else ""))
    ax.set_xlabel("number of clusters k")
axes[0].set_ylabel(f"smallest m covering all clusters ({cap} = not within {M_MAX})")
axes[0].legend(fontsize=8)
fig.suptitle("LSAT: cluster coverage of the top-m points (paper Figure 6)")
fig.tight_layout()
path = OUT / "divine_lsat_cluster_coverage.png"
fig.savefig(path, dpi=110)
print(f"\nsaved {path}")
