"""DIVINE Table 7: how many training points are unfairness-inducing, per method and data set.

A point is unfairness-inducing when its importance score for equal accuracy
(``f_unf = |TPR gap| + |TNR gap|``, on the training data) is negative: removing it (or, for
counterfactual prediction, flipping its label) lowers ``f_unf``. For COMPAS, LSAT, Adult and
Bank (features, model and seeded stratified 70/20/10 split of ``mitigation_figure7.py``) this
prints, per method, the number of such points and how many of them the original model
classifies correctly, beside the paper's Table 7.

Methods: ``influence`` (IF), ``counterfactual`` (CFP, closed form), ``one_step_newton`` (not in
the paper; ``objective_expansion="exact"``, the hard metric at the Newton step, up to 5,000
training rows, else the default linearisation) on every training row; ``loo`` (exact
leave-one-out refits, hard metric) on a seeded random sample of ``--loo-rows`` training rows
(default 200), with the count scaled up to the whole training set (shown as ``~N``) -- a full
LOO is one refit per training row.

Run: ``FAIRLEARN_DIVINE_DATA=/path/to/data python examples/mitigation_table7.py``
(options: ``--datasets``, ``--loo-rows N`` (0 skips LOO), ``--n-jobs N``).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mitigation_figure7 import DATASETS, load_dataset, make_model  # noqa: E402

from fairlearn_divine import training_point_importance  # noqa: E402

# DIVINE Table 7: (number of unfairness-inducing points, of which correctly classified).
PAPER = {
    "Adult": {"loo": (87, 26), "influence": (428, 418), "counterfactual": (432, 379)},
    "Bank": {"loo": (66, 38), "influence": (305, 294), "counterfactual": (375, 325)},
    "COMPAS": {"loo": (614, 325), "influence": (598, 519), "counterfactual": (1116, 775)},
    "LSAT": {"loo": (158, 50), "influence": (72, 70), "counterfactual": (706, 391)},
}
METHODS = ("influence", "loo", "counterfactual", "one_step_newton")
#: one_step_newton evaluates the hard metric at every Newton step up to this many rows.
EXACT_MAX_N = 5000
LABELS = {"influence": "IF", "loo": "LOO", "counterfactual": "CFP", "one_step_newton": "Newton"}


def count_harmful(name, loo_rows=200, n_jobs=2, random_state=0):
    d = load_dataset(name)
    model = make_model(d).fit(d.X_train, d.y_train)
    correct = model.predict(d.X_train) == d.y_train
    n = len(d.y_train)
    rows = []
    for method in METHODS:
        options = {}
        scale = 1.0
        if method == "one_step_newton":
            options["objective_expansion"] = "exact" if n <= EXACT_MAX_N else "linear"
        if method == "loo":
            if not loo_rows:
                continue
            rng = np.random.RandomState(random_state)
            idx = np.sort(rng.choice(n, size=min(loo_rows, n), replace=False))
            options = {"indices": idx, "progress": False}
            scale = n / len(idx)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # approximation notes, shown once below
            result = training_point_importance(
                model,
                d.X_train,
                d.y_train,
                method=method,
                objective="equal_accuracy",
                sensitive_features=d.A_train,
                n_jobs=n_jobs if method == "loo" else None,
                **options,
            )
        seconds = time.perf_counter() - t0
        s = np.asarray(result.scores, dtype=float)
        valued = ~np.isnan(s)
        harmful = valued & (s < 0)
        rows.append(
            dict(
                method=method,
                n_harmful=harmful.sum() * scale,
                n_correct=(harmful & correct).sum() * scale,
                n_zero=(valued & (s == 0)).sum() * scale,
                n_valued=int(valued.sum()),
                estimated=scale != 1.0,
                seconds=seconds,
            )
        )
    return n, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--loo-rows", type=int, default=200)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()

    print(
        "Unfairness-inducing points (score < 0 for equal accuracy on the training data); "
        "'correct' = of those, classified correctly by the original model.\n"
        "~N: LOO valued on a random sample of rows, count scaled to the whole training set.\n"
    )
    header = (
        f"{'data set':<8} {'n_train':>7} {'method':<7} {'paper #':>8} {'paper ok':>9} "
        f"{'ours #':>8} {'ours ok':>8} {'ours %':>7} {'zero':>7} {'time s':>7}"
    )
    print(header)
    print("-" * len(header))
    for name in args.datasets:
        n, rows = count_harmful(name, loo_rows=args.loo_rows, n_jobs=args.n_jobs)
        for r in rows:
            paper = PAPER[name].get(r["method"])
            p_n, p_ok = ("-", "-") if paper is None else paper
            mark = "~" if r["estimated"] else ""
            print(
                f"{name:<8} {n:>7} {LABELS[r['method']]:<7} {p_n:>8} {p_ok:>9} "
                f"{mark + str(round(r['n_harmful'])):>8} {mark + str(round(r['n_correct'])):>8} "
                f"{r['n_harmful'] / n:>7.1%} {mark + str(round(r['n_zero'])):>7} "
                f"{r['seconds']:>7.1f}"
            )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
