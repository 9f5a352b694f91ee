"""Most harmful training points for the log loss and for equal accuracy, on synthetic data.

Fits a logistic regression on the DIVINE paper's synthetic data (two Gaussian classes, a cluster
of positive outliers, a sensitive attribute correlated with the label), scores every training
point with influence functions for two evaluation functions, and prints the points whose removal
would lower each cost the most (the most negative scores: ``scores[i] = f(without i) - f``).

With matplotlib installed, a scatter plot marking the (up to 10) most harmful points per
objective is saved to ``examples/output/synthetic_harmful_points.png``.

Run: ``python examples/synthetic_harmful_points.py``
"""

from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from fairlearn_divine import training_point_importance
from fairlearn_divine.datasets import make_divine_synthetic

TOP = 10

data = make_divine_synthetic(random_state=0)
X, y, A = data.X, data.y, data.sensitive_features
model = LogisticRegression(tol=1e-8, max_iter=1000).fit(X, y)

objectives = ["log_loss", "equal_accuracy"]
result = training_point_importance(model, X, y, objective=objectives, sensitive_features=A)
# result.scores has shape (2, n): one row per objective. With the default method="auto" a list
# holding the training log loss is scored by one-step Newton (first-order influence is
# degenerate for that loss); result.method says so.
print(f"method: {result.method}")

print(f"training accuracy: {model.score(X, y):.4f}")
print(f"equal accuracy (|TPR gap| + |TNR gap|): {result.baseline[1]:.4f}")
top = {}
for name, scores in zip(objectives, result.scores, strict=True):
    harmful = np.flatnonzero(scores < 0)
    top[name] = harmful[np.argsort(scores[harmful])][:TOP]
    print(
        f"\n{len(harmful)} points have a negative score (harmful) for {name}; the "
        f"{len(top[name])} most harmful, most negative score first:"
    )
    print(f"{'index':>6} {'score':>12} {'x1':>7} {'x2':>7} {'y':>2} {'A':>2} outlier")
    for i in top[name]:
        print(
            f"{i:>6} {scores[i]:>12.4e} {X[i, 0]:>7.2f} {X[i, 1]:>7.2f} {y[i]:>2} {A[i]:>2} "
            f"{bool(data.is_outlier[i])}"
        )

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("\nmatplotlib is not installed: no plot.")
else:
    out_dir = Path(__file__).resolve().parent / "output"
    out_dir.mkdir(exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), sharex=True, sharey=True)
    for ax, name in zip(axes, objectives, strict=True):
        for label, marker in [(0, "o"), (1, "s")]:
            for group, color in [(0, "tab:blue"), (1, "tab:orange")]:
                m = (y == label) & (A == group)
                ax.scatter(
                    X[m, 0],
                    X[m, 1],
                    s=8,
                    alpha=0.35,
                    marker=marker,
                    color=color,
                    label=f"y={label}, A={group}",
                )
        idx = top[name]
        ax.scatter(
            X[idx, 0],
            X[idx, 1],
            s=120,
            facecolors="none",
            edgecolors="red",
            linewidths=1.8,
            label=f"{len(top[name])} most harmful",
        )
        # decision boundary w.x + b = 0
        w, b = model.coef_[0], model.intercept_[0]
        xs = np.linspace(X[:, 0].min(), X[:, 0].max(), 2)
        ax.plot(xs, -(w[0] * xs + b) / w[1], "k--", linewidth=1)
        ax.set_ylim(X[:, 1].min() - 0.5, X[:, 1].max() + 0.5)
        ax.set_title(f"most harmful for {name}")
        ax.set_xlabel("x1")
    axes[0].set_ylabel("x2")
    axes[0].legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    path = out_dir / "synthetic_harmful_points.png"
    fig.savefig(path, dpi=120)
    print(f"\nplot saved to {path}")
