"""Scores of the training log loss on the training data against exact leave-one-out refits.

The training log loss is stationary at the fit up to the penalty, so first-order influence is
degenerate for it; this script measures by how much, and how the second-order methods do::

    python benchmarks/bench_training_loss_influence.py [--n 2000] [--d 20]

Prints, for each C, the Pearson and Spearman correlation with exact LOO (Newton refits) of
``influence``, ``one_step_newton`` with ``objective_expansion="quadratic"`` and ``"exact"``,
and of the default ``method="auto"``, with the time of each (seconds, same process).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.linear_model import LogisticRegression

from fairlearn_divine import training_point_importance


def gaussian(n, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    y = (X @ w / np.sqrt(d) + rng.normal(size=n) > 0).astype(int)
    return X, y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--C", type=float, nargs="+", default=[1.0, 100.0, 1e4])
    args = parser.parse_args()
    X, y = gaussian(args.n, args.d, args.seed)
    print(f"n={args.n} d={args.d} seed={args.seed}; correlation with exact LOO refits")
    print(f"{'C':>8} {'method':<28} {'pearson':>8} {'spearman':>9} {'seconds':>8}")
    for C in args.C:
        model = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
        t0 = time.perf_counter()
        loo = training_point_importance(model, X, y, method="loo").scores
        t_loo = time.perf_counter() - t0
        print(f"{C:>8g} {'loo (reference)':<28} {1.0:>8.3f} {1.0:>9.3f} {t_loo:>8.2f}")
        runs = [
            ("influence", {"method": "influence"}),
            (
                "one_step_newton quadratic",
                {"method": "one_step_newton", "objective_expansion": "quadratic"},
            ),
            (
                "one_step_newton exact",
                {"method": "one_step_newton", "objective_expansion": "exact"},
            ),
            ("auto (default)", {}),
        ]
        for name, kw in runs:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # influence warns here, as it should
                result = training_point_importance(model, X, y, **kw)
            seconds = time.perf_counter() - t0
            r = pearsonr(result.scores, loo)[0]
            rho = spearmanr(result.scores, loo)[0]
            label = name if kw else f"auto -> {result.method}"
            print(f"{C:>8g} {label:<28} {r:>8.3f} {rho:>9.3f} {seconds:>8.2f}")


if __name__ == "__main__":
    main()
