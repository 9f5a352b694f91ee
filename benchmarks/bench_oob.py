"""Data-OOB for a random forest on COMPAS (or Adult): group removal against refits, and time.

::

    FAIRLEARN_DIVINE_DATA=../shared/data python benchmarks/bench_oob.py [--dataset compas]
        [--seeds 0 1 2] [--n-estimators 100]

The data are split 60/20/20 into train, validation and test (stratified, split seed 0); for
each forest seed a ``RandomForestClassifier(n_estimators, min_samples_leaf=5)`` is fitted on
the training rows and valued with ``method="data_oob"``:

* log loss on the training data (Data-OOB): the lowest-scored 1% and 5% of the rows and 3
  random sets of the same size are removed and the forest is refitted (same random_state).
  Reported: the change the scores predict for the cost they are changes of (the mean member
  out-of-bag log loss, ``result.member_baseline``; sum of the removed scores times
  ``(n - 1) / (n - k)``) beside the refit's, and the refit's change of the held-out test log
  loss and accuracy.
* equalized odds on the validation data (``valuation="ensemble_linear"``, the default, and
  ``"member_difference"``): the lowest-scored (most harmful) 1% and 5% and 3 random sets
  removed, refitted; predicted (sum of the removed scores) and refit change of the
  validation EOD, and the refit's change of the test EOD. Then the rank check: the training
  rows in 10 deciles of the scores, each removed in turn and refitted; Spearman correlation of
  the deciles' predicted and refit changes of the validation EOD.
* time of ``data_oob`` for each objective against one forest fit.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split

from fairlearn_divine import ApproximationWarning, training_point_importance
from fairlearn_divine._objectives import EvalContext, resolve_objective
from fairlearn_divine.datasets import load_adult, load_compas


def load(name):
    if name == "compas":
        data = load_compas(races=("African-American", "Caucasian"))
    else:
        data = load_adult()
    X = pd.get_dummies(data.X, drop_first=True, dtype=float).to_numpy()
    return X, np.asarray(data.y), np.asarray(data.sensitive_features)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["compas", "adult"], default="compas")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.05])
    parser.add_argument(
        "--refit-seeds",
        type=int,
        default=3,
        help="forests (random_state seed + 1000 r) averaged for every measured refit",
    )
    args = parser.parse_args()

    X, y, s = load(args.dataset)
    X_tr, X_rest, y_tr, y_rest, s_tr, s_rest = train_test_split(
        X, y, s, test_size=0.4, random_state=0, stratify=y
    )
    X_val, X_te, y_val, y_te, s_val, s_te = train_test_split(
        X_rest, y_rest, s_rest, test_size=0.5, random_state=0, stratify=y_rest
    )
    n = len(y_tr)
    print(
        f"{args.dataset}: {n} train, {len(y_val)} validation, {len(y_te)} test rows, "
        f"{X.shape[1]} features; RandomForestClassifier(n_estimators={args.n_estimators}, "
        "min_samples_leaf=5)"
    )
    eod = resolve_objective("equalized_odds")
    classes = np.unique(y_tr)
    val_ctx = EvalContext([eod], classes, X_val, y_val, s_val)
    test_ctx = EvalContext([eod], classes, X_te, y_te, s_te)
    everything = np.arange(n)

    rows = []
    beyond = {"data_oob": [], "ensemble_linear": [], "member_difference": []}
    times = []
    ranks = []
    for seed in args.seeds:

        def fit(keep, seed=seed, r=0):
            forest = RandomForestClassifier(
                args.n_estimators, min_samples_leaf=5, random_state=seed + 1000 * r, n_jobs=1
            )
            return forest.fit(X_tr[keep], y_tr[keep])

        def measure(keep):
            """Mean over --refit-seeds forests fitted on the kept rows (the first has the
            scored forest's random_state): member OOB log loss, test log loss and accuracy,
            validation and test EOD."""
            out = []
            for r in range(args.refit_seeds):
                model = fit(keep, r=r)
                res = training_point_importance(model, X_tr[keep], y_tr[keep], method="data_oob")
                p_te = model.predict_proba(X_te)
                out.append(
                    (
                        res.member_baseline[0],
                        log_loss(y_te, p_te),
                        accuracy_score(y_te, p_te.argmax(axis=1)),
                        val_ctx.values(model.predict_proba(X_val))[0],
                        test_ctx.values(p_te)[0],
                    )
                )
            return np.mean(out, axis=0)

        t0 = time.perf_counter()
        forest = fit(everything)
        t_fit = time.perf_counter() - t0

        t0 = time.perf_counter()
        dob = training_point_importance(forest, X_tr, y_tr, method="data_oob")
        t_dob = time.perf_counter() - t0
        fair = {}
        t_fair = {}
        for valuation in ("ensemble_linear", "member_difference"):
            t0 = time.perf_counter()
            with warnings.catch_warnings():  # "within noise": reported below instead
                warnings.simplefilter("ignore", ApproximationWarning)
                fair[valuation] = training_point_importance(
                    forest,
                    X_tr,
                    y_tr,
                    method="data_oob",
                    objective="equalized_odds",
                    X_eval=X_val,
                    y_eval=y_val,
                    sensitive_features_eval=s_val,
                    valuation=valuation,
                )
            t_fair[valuation] = time.perf_counter() - t0
            with np.errstate(divide="ignore", invalid="ignore"):
                z = np.abs(fair[valuation].scores) / fair[valuation].scores_stderr
            beyond[valuation].append(np.mean(z[np.isfinite(z)] > 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.abs(dob.scores) / dob.scores_stderr  # a zero spread over O_i: infinite
        beyond["data_oob"].append(np.mean(z[~np.isnan(z)] > 2))
        times.append((t_fit, t_dob, t_fair["ensemble_linear"], t_fair["member_difference"]))
        base = measure(everything)
        if seed == args.seeds[0]:
            labels = ["member OOB log loss", "test log loss", "test accuracy", "val EOD"]
            labels.append("test EOD")
            values = ", ".join(f"{k} {v:.4f}" for k, v in zip(labels, base, strict=True))
            print(f"seed {seed}, full data (mean of the refit seeds): {values}")

        for frac in args.fractions:
            k = max(1, int(round(frac * n)))
            random_sets = [
                np.random.RandomState(1000 * seed + r).choice(n, k, replace=False)
                for r in range(3)
            ]
            random_changes = [measure(np.setdiff1d(everything, r)) - base for r in random_sets]
            lowest = {"log_loss (data_oob)": np.argsort(dob.scores)[:k]}
            scores = {"log_loss (data_oob)": dob.scores * (n - 1) / (n - k)}
            for valuation, result in fair.items():
                lowest[f"equalized_odds ({valuation})"] = np.argsort(result.scores)[:k]
                scores[f"equalized_odds ({valuation})"] = result.scores
            for objective, removed in lowest.items():
                sets = [("lowest", removed, measure(np.setdiff1d(everything, removed)) - base)]
                sets += [
                    ("random", r, c) for r, c in zip(random_sets, random_changes, strict=True)
                ]
                for name, rows_removed, change in sets:
                    row = {
                        "seed": seed,
                        "objective": objective,
                        "fraction": frac,
                        "removed": name,
                        "predicted": scores[objective][rows_removed].sum(),
                    }
                    if objective.startswith("log_loss"):
                        row.update(
                            refit=change[0], test_log_loss=change[1], test_accuracy=change[2]
                        )
                    else:
                        row.update(refit=change[3], test_eod=change[4])
                    rows.append(row)
        for valuation, result in fair.items():
            deciles = np.array_split(np.argsort(result.scores), 10)
            predicted = [result.scores[d].sum() for d in deciles]
            refit = [measure(np.setdiff1d(everything, d))[3] - base[3] for d in deciles]
            ranks.append((seed, valuation, spearmanr(predicted, refit)[0], refit))
        print(f"seed {seed} done", flush=True)

    frame = pd.DataFrame(rows)
    pd.set_option("display.width", 160)
    print("\nGroup removal: mean (sd) over seeds (and over the 3 random sets), refits")
    cols = [c for c in ("predicted", "refit", "test_log_loss", "test_accuracy", "test_eod")]
    summary = frame.groupby(["objective", "fraction", "removed"])[cols].agg(["mean", "std"])
    print(summary.dropna(axis=1, how="all").round(4).to_string())
    print("\nDeciles of the EOD scores, removed one at a time: Spearman(predicted, refit)")
    for seed, valuation, rho, refit in ranks:
        print(f"  seed {seed} {valuation:<18} {rho:+.2f}  refit changes {np.round(refit, 3)}")
    print("\nPoints with |score| > 2 standard errors (pure noise: 4.6%), mean over seeds:")
    for valuation, fractions in beyond.items():
        print(f"  {valuation:<18} {np.mean(fractions):.1%}")
    t = np.array(times)
    print(
        f"\nTime (mean over seeds): one forest fit {t[:, 0].mean():.2f} s; data_oob log loss "
        f"{t[:, 1].mean():.2f} s, EOD ensemble_linear {t[:, 2].mean():.2f} s, EOD "
        f"member_difference {t[:, 3].mean():.2f} s"
    )


if __name__ == "__main__":
    main()
