"""Adult, equal opportunity, at no more than half a point of accuracy: Li & Liu's setting.

Li & Liu, "Achieving Fairness at No Utility Cost via Data Reweighing with Influence" (ICML
2022), report Adult's equal-opportunity difference (the TPR gap between women and men) going
from about 0.09 to about 0 at unchanged accuracy. This script measures, on the official split
(``adult.data`` for training and validation, ``adult.test``, 16,281 rows, for test; 3 seeds of
a stratified 75/25 train/validation split of ``adult.data``), with the same
``LogisticRegression`` pipeline for every method:

* ``plain``: the pipeline fitted on the training split;
* ``remover remove/auto`` and ``remover reweigh/auto``: ``InfluentialPointRemover`` with
  ``objective="equal_opportunity"``, ``fraction="auto"`` and ``max_accuracy_loss=0.005``,
  given the validation split;
* ``ExponentiatedGradient(TruePositiveRateParity)``: fairlearn's reduction for the same
  constraint, ``eps`` chosen on validation among (0.005, 0.01, 0.02) as the lowest validation
  equal-opportunity difference within half a point of the plain validation accuracy.

Reported on test: accuracy, fairlearn's ``equal_opportunity_difference`` and fit time (wall
clock; the ratio is to the plain fit in the same run).

Run: ``FAIRLEARN_DIVINE_DATA=../shared/data python benchmarks/bench_adult_equal_opportunity.py``
"""

from __future__ import annotations

import time
import warnings

import numpy as np

# the encoder of the side-by-side benchmark (importing it also puts this checkout first on
# sys.path, as that script does)
from bench_mitigation import dense, preprocessor
from fairlearn.metrics import equal_opportunity_difference
from fairlearn.reductions import ExponentiatedGradient, TruePositiveRateParity
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from fairlearn_divine import InfluentialPointRemover
from fairlearn_divine.datasets import load_adult

EPS = (0.005, 0.01, 0.02)
MAX_LOSS = 0.005


def model():
    return make_pipeline(preprocessor(), LogisticRegression(max_iter=3000))


def measure(predict, X, y, A):
    pred = predict(X)
    return float(np.mean(pred == y)), float(
        equal_opportunity_difference(y, pred, sensitive_features=A)
    )


def main():
    data = load_adult()
    X_te, y_te, A_te = data.X_test, data.y_test, data.sensitive_features_test
    rows = []
    for seed in (0, 1, 2):
        X_tr, X_va, y_tr, y_va, A_tr, A_va = train_test_split(
            data.X, data.y, data.sensitive_features, test_size=0.25, random_state=seed,
            stratify=data.y,
        )  # fmt: skip
        t0 = time.perf_counter()
        plain = model().fit(X_tr, y_tr)
        t_plain = time.perf_counter() - t0
        acc_va0, _ = measure(plain.predict, X_va, y_va, A_va)
        rows.append((seed, "plain", t_plain, *measure(plain.predict, X_te, y_te, A_te), ""))
        for mode in ("remove", "reweigh"):
            remover = InfluentialPointRemover(
                model(),
                objective="equal_opportunity",
                mode=mode,
                fraction="auto",
                max_accuracy_loss=MAX_LOSS,
            )
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                remover.fit(
                    X_tr, y_tr, sensitive_features=A_tr,
                    X_val=X_va, y_val=y_va, sensitive_features_val=A_va,
                )  # fmt: skip
            t = time.perf_counter() - t0
            note = f"fraction_={remover.fraction_:.4f}, kept_original_={remover.kept_original_}"
            rows.append(
                (
                    seed,
                    f"remover {mode}/auto",
                    t,
                    *measure(remover.predict, X_te, y_te, A_te),
                    note,
                )
            )
        # ExponentiatedGradient on the encoded features (the pipeline's encoder, fitted on the
        # training split), eps chosen on validation
        pre = preprocessor().fit(X_tr)
        # (dense: the reductions refuse sparse input)
        Z_tr, Z_va, Z_te = (dense(pre.transform(Z)) for Z in (X_tr, X_va, X_te))
        best = None
        for eps in EPS:
            t0 = time.perf_counter()
            eg = ExponentiatedGradient(
                LogisticRegression(max_iter=3000), TruePositiveRateParity(), eps=eps
            )
            eg.fit(Z_tr, y_tr, sensitive_features=A_tr)
            t = time.perf_counter() - t0

            def predict(Z, eg=eg, seed=seed):
                return eg.predict(Z, random_state=seed)

            acc, eo = measure(predict, Z_va, y_va, A_va)
            key = (acc < acc_va0 - MAX_LOSS, eo if acc >= acc_va0 - MAX_LOSS else -acc)
            if best is None or key < best[0]:
                best = (key, eps, t, predict)
        _, eps, t, predict = best
        rows.append(
            (seed, "ExponentiatedGradient(TPR parity)", t, *measure(predict, Z_te, y_te, A_te),
             f"eps={eps}")
        )  # fmt: skip
    print("| seed | method | test accuracy | test EOpp difference | fit (s) | chosen |")
    print("| ---:| --- | ---:| ---:| ---:| --- |")
    for seed, name, t, acc, eo, note in rows:
        print(f"| {seed} | {name} | {acc:.4f} | {eo:.4f} | {t:.1f} | {note} |")
    print()
    print(
        "| method | test accuracy (mean) | Δ accuracy vs plain (points) | test EOpp (mean ± sd) |"
    )
    print("| --- | ---:| ---:| ---:|")
    names = list(dict.fromkeys(r[1] for r in rows))
    base = np.mean([r[3] for r in rows if r[1] == "plain"])
    for name in names:
        acc = np.array([r[3] for r in rows if r[1] == name])
        eo = np.array([r[4] for r in rows if r[1] == name])
        print(
            f"| {name} | {acc.mean():.4f} | {100 * (acc.mean() - base):+.2f} | "
            f"{eo.mean():.4f} ± {eo.std(ddof=1):.4f} |"
        )


if __name__ == "__main__":
    main()
