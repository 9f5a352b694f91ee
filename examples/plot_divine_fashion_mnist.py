"""DIVINE paper, Figure 1b/c: influential vs DIVINE training images on Fashion-MNIST.

An ``MLPClassifier`` (one hidden layer) separates coats from shirts. Its *last-layer view*
(hidden layer frozen; an approximation documented in ``fairlearn_divine._models``) gives
influence scores for the log loss:

* global: on the training data, the top-4 helpful images by influence alone vs 4 DIVINE images
  (sum-redundancy on the hidden representation, pairwise-distance gamma);
* local: for one misclassified test image, the top-4 by influence vs DIVINE.

The paper reports, for 10% less influence, 50% more diversity in R_SR, and DIVINE local
explanations with about twice the mean pairwise distance of the influence ones.

Run: ``FAIRLEARN_DIVINE_DATA=../shared/data python examples/plot_divine_fashion_mnist.py``
(about a minute; the figure goes to ``examples/output/fashion_mnist_divine.png``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

from fairlearn_divine import select_diverse, training_point_importance  # noqa: E402
from fairlearn_divine._models._factory import _mlp_hidden  # noqa: E402
from fairlearn_divine.datasets import load_fashion_mnist  # noqa: E402

COAT, SHIRT = 4, 6
N_TRAIN = 3000


def main():
    data = load_fashion_mnist(classes=(COAT, SHIRT))
    rng = np.random.default_rng(0)
    idx = rng.choice(len(data.y), size=N_TRAIN, replace=False)
    X, y = data.X[idx], data.y[idx]
    images = data.images[idx]
    model = MLPClassifier(
        hidden_layer_sizes=(32,), alpha=1e-2, solver="lbfgs", max_iter=400, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    test_acc = model.score(data.X_test, data.y_test)
    print(f"MLP on {N_TRAIN} coats/shirts: test accuracy {test_acc:.3f}")
    H = _mlp_hidden(model, X)  # the representation the last-layer view works in

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the lbfgs-trained MLP is near, not at, an optimum
        glob = training_point_importance(model, X, y, objective="log_loss")
    top = select_diverse(glob.scores, H, 4, gamma=0.0)
    div = select_diverse(glob.scores, H, 4, random_state=0)
    budget = select_diverse(glob.scores, H, 4, gamma="influence_budget", random_state=0)
    print(
        f"global: DIVINE keeps {div.influence_retained:.0%} of the top-4 influence; mean "
        f"pairwise distance (hidden layer) DIVINE {div.mean_pairwise_distance:.2f} vs influence "
        f"{top.mean_pairwise_distance:.2f}; the 10%-influence-budget selection keeps "
        f"{budget.influence_retained:.0%} at distance {budget.mean_pairwise_distance:.2f}"
    )

    wrong = np.flatnonzero(model.predict(data.X_test) != data.y_test)
    j = int(wrong[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loc = training_point_importance(
            model, X, y, X_eval=data.X_test[j : j + 1], y_eval=data.y_test[j : j + 1]
        )
    # points that explain the mistake: those pushing toward the wrong label (harmful for the
    # loss at the test image)
    harm = -loc.scores
    ltop = select_diverse(harm, X, 4, gamma=0.0)
    ldiv = select_diverse(harm, X, 4, random_state=0)
    ratio = ldiv.mean_pairwise_distance / ltop.mean_pairwise_distance
    print(
        f"local (test image {j}, label {data.target_names[data.y_test[j]]}): mean pairwise "
        f"pixel distance DIVINE {ldiv.mean_pairwise_distance:.2f} vs influence "
        f"{ltop.mean_pairwise_distance:.2f} ({ratio:.2f}x)"
    )

    fig, axes = plt.subplots(4, 5, figsize=(9, 8))
    rows = [
        ("global: influence", top.indices, None),
        ("global: DIVINE", div.indices, None),
        ("local: influence", ltop.indices, j),
        ("local: DIVINE", ldiv.indices, j),
    ]
    for r, (title, chosen, test_index) in enumerate(rows):
        ax = axes[r, 0]
        if test_index is not None:
            ax.imshow(data.images_test[test_index], cmap="gray_r")
            ax.set_title("test image", fontsize=8)
        ax.set_ylabel(title, fontsize=8)
        for c, i in enumerate(chosen):
            axes[r, c + 1].imshow(images[i], cmap="gray_r")
            axes[r, c + 1].set_title(data.target_names[y[i]], fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    out = Path(__file__).parent / "output"
    out.mkdir(exist_ok=True)
    fig.tight_layout()
    fig.savefig(out / "fashion_mnist_divine.png", dpi=100)
    print(f"saved {out / 'fashion_mnist_divine.png'}")


if __name__ == "__main__":
    main()
