"""Benchmark: fixed-structure tree influence (``method="tree_influence"``) on Adult and COMPAS.

Problem: Adult (``fairlearn_divine.datasets.load_adult``), its training file split 80/20
(seeded) into 26,048 training and 6,513 validation rows; the official test file is a second
held-out set. ``HistGradientBoostingClassifier(max_iter=100, early_stopping=False,
categorical_features="from_dtype", random_state=0)`` on the raw columns (strings as pandas
categories); with ``--library lightgbm`` ``lightgbm.LGBMClassifier(n_estimators=100,
random_state=0, verbose=-1)`` (defaults otherwise: 31 leaves, learning rate 0.1, pandas
categories as LightGBM categoricals), with ``--library xgboost``
``xgboost.XGBClassifier(n_estimators=100, tree_method="hist", enable_categorical=True,
random_state=0)``. Sensitive feature: ``sex``. With ``--dataset compas``: COMPAS
(``load_compas(races=("African-American", "Caucasian"))``, 5,278 rows) split 60/20/20
(stratified, seeded) into training, validation and test rows; sensitive feature ``race``.

Measured:

1. **Time**: ``training_point_importance(..., method="tree_influence",
   objective="equalized_odds")`` for every training point on the validation set, against one
   fit of the model (best of ``--repeats`` interleaved rounds; ratio printed, requirement
   <= 10x).
2. **Agreement** with the exact leaf refit (``exact=True``) on ``--n-exact`` random training
   points, for the validation log loss (Spearman and Pearson).
3. **True leave-one-out** on the first ``--n-loo`` of those points: the model refitted
   without each (splits and bins free to change), against the first-order scores and the leaf
   refit.
4. **Group removal**: for ``log_loss`` and ``equalized_odds`` on the validation set, remove the
   1% and 5% most harmful training points (most negative scores), refit the same model and
   report the change of the hard metric (fairlearn's ``equalized_odds_difference``; log loss)
   on the validation and test sets, against removing as many random points (3 seeds). Two
   predictions of the change stand beside the refit: the sum of the removed points' scores
   (first order, of the smooth surrogate for equalized odds) and the fixed-structure leaf
   refit of the whole removed set (``leaf_refit_without``: every leaf recomputed without the
   set, the hard metric evaluated). At 5% a second removal order is measured: five rounds of
   ``InfluentialPointRemover(..., recalculate=k/5, stop_at_predicted_minimum=False,
   keep_original_if_worse=False)``, which refits (splits free) and re-scores after each fifth,
   and the remover's defaults (``InfluentialPointRemover(..., fraction=0.05)``: for equalized
   odds it stops where the leaf refit of the removal prefixes predicts the smallest metric).

Usage: ``FAIRLEARN_DIVINE_DATA=/work/shared/data python benchmarks/bench_tree_influence.py
[--dataset adult|compas] [--repeats R] [--n-exact N] [--max-iter T] [--threads N] [--n-loo N]
[--sections time,agreement,loo,removal] [--library sklearn|lightgbm|xgboost]``. Fit and
influence are timed in interleaved rounds (the timing table is always printed); ``--threads 1``
caps both to one thread (the histogram fit is multithreaded, the influence mostly not).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)  # benchmark the working tree's fairlearn_divine

from fairlearn.metrics import (  # noqa: E402
    MetricFrame,
    equalized_odds_difference,
    false_positive_rate,
    true_positive_rate,
)
from scipy.stats import pearsonr, spearmanr  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.metrics import log_loss  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from fairlearn_divine import InfluentialPointRemover, training_point_importance  # noqa: E402
from fairlearn_divine._importance import leaf_refit_without  # noqa: E402
from fairlearn_divine._objectives import EvalContext, resolve_objective  # noqa: E402
from fairlearn_divine.datasets import load_adult, load_compas  # noqa: E402


def _categorical(X, categories=None):
    X = X.copy()
    for col in X.columns:
        if not pd.api.types.is_numeric_dtype(X[col]):
            X[col] = pd.Categorical(
                X[col], categories=None if categories is None else categories[col]
            )
    return X


def load(args):
    """Training, validation and test splits (X, y, sensitive features) of ``--dataset``."""
    if args.dataset == "compas":
        data = load_compas(races=("African-American", "Caucasian"))
        X = _categorical(data.X)
        sf = np.asarray(data.sensitive_features)
        X_tr, X_rest, y_tr, y_rest, sf_tr, sf_rest = train_test_split(
            X, data.y, sf, test_size=0.4, random_state=args.seed, stratify=data.y
        )
        X_val, X_test, y_val, y_test, sf_val, sf_test = train_test_split(
            X_rest, y_rest, sf_rest, test_size=0.5, random_state=args.seed, stratify=y_rest
        )
    else:
        data = load_adult()
        X_all = _categorical(data.X)
        cats = {c: X_all[c].cat.categories for c in X_all.columns if X_all[c].dtype == "category"}
        X_test = _categorical(data.X_test, cats)
        y_test, sf_test = data.y_test, np.asarray(data.sensitive_features_test)
        X_tr, X_val, y_tr, y_val, sf_tr, sf_val = train_test_split(
            X_all,
            data.y,
            np.asarray(data.sensitive_features),
            test_size=0.2,
            random_state=args.seed,
        )
    reset = [X.reset_index(drop=True) for X in (X_tr, X_val, X_test)]
    arrays = [np.asarray(a) for a in (y_tr, y_val, y_test, sf_tr, sf_val, sf_test)]
    return (*reset, *arrays)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-exact", type=int, default=256)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-loo", type=int, default=40)
    parser.add_argument(
        "--sections",
        default="time,agreement,loo,removal",
        help="comma-separated subset of time,agreement,loo,removal",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="cap BLAS/OpenMP threads (0: no cap)"
    )
    parser.add_argument(
        "--dataset",
        choices=("adult", "compas"),
        default="adult",
        help="Adult (80/20 split of adult.data; adult.test as the test set) or COMPAS (two "
        "races, 60/20/20 stratified)",
    )
    parser.add_argument(
        "--library",
        choices=("sklearn", "lightgbm", "xgboost"),
        default="sklearn",
        help="HistGradientBoostingClassifier (sklearn), LGBMClassifier or XGBClassifier",
    )
    args = parser.parse_args()

    X_tr, X_val, X_test, y_tr, y_val, y_test, sf_tr, sf_val, sf_test = load(args)
    n = len(y_tr)
    print(
        f"{args.dataset}: {n} training, {len(y_val)} validation, {len(y_test)} test rows; "
        f"library {args.library}"
    )

    def make():
        if args.library == "lightgbm":
            import lightgbm

            return lightgbm.LGBMClassifier(
                n_estimators=args.max_iter,
                random_state=0,
                verbose=-1,
                n_jobs=args.threads if args.threads else -1,
            )
        if args.library == "xgboost":
            import xgboost

            return xgboost.XGBClassifier(
                n_estimators=args.max_iter,
                tree_method="hist",
                enable_categorical=True,
                random_state=0,
                n_jobs=args.threads if args.threads else None,
            )
        return HistGradientBoostingClassifier(
            max_iter=args.max_iter,
            early_stopping=False,
            categorical_features="from_dtype",
            random_state=0,
        )

    def fit(rows=None):
        rows = np.arange(n) if rows is None else rows
        return make().fit(X_tr.iloc[rows], y_tr[rows])

    kw = dict(method="tree_influence", X_eval=X_val, y_eval=y_val, sensitive_features_eval=sf_val)
    limits = threadpool_limits(args.threads) if args.threads else contextlib.nullcontext()
    fit_times, inf_times = [], []
    with limits:
        for _ in range(args.repeats):  # interleaved, so that load from other processes hits both
            t0 = time.perf_counter()
            model = fit()
            fit_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            res_eo = training_point_importance(model, X_tr, y_tr, objective="equalized_odds", **kw)
            inf_times.append(time.perf_counter() - t0)
    t_fit, t_inf = min(fit_times), min(inf_times)
    threads = f"{args.threads} thread(s)" if args.threads else "threads uncapped"
    print(f"\n## Time ({args.max_iter} trees, best of {args.repeats}, {threads})\n")
    print("| step | seconds |\n| --- | --- |")
    print(f"| one fit | {t_fit:.2f} |")
    print(f"| tree_influence, all {n} points, equalized_odds on validation | {t_inf:.2f} |")
    print(f"| ratio | {t_inf / t_fit:.2f}x (requirement <= 10x) |")
    sections = set(args.sections.split(","))

    res_ll = training_point_importance(model, X_tr, y_tr, objective="log_loss", **kw)
    res_none = training_point_importance(
        model, X_tr, y_tr, objective="log_loss", propagation="none", **kw
    )
    rows = np.sort(np.random.default_rng(args.seed).choice(n, args.n_exact, replace=False))
    if sections & {"agreement", "loo"}:
        t0 = time.perf_counter()
        exact = training_point_importance(
            model, X_tr, y_tr, objective="log_loss", exact=True, indices=rows, **kw
        )
        t_exact = time.perf_counter() - t0
    if "agreement" in sections:
        print(
            f"\n## Agreement with the exact leaf refit ({args.n_exact} random points, "
            f"validation log loss; leaf refit {t_exact / args.n_exact * 1e3:.1f} ms/point)\n"
        )
        print("| estimate | Spearman | Pearson |\n| --- | --- | --- |")
        for name, s in (
            ("propagation='full'", res_ll.scores),
            ("propagation='none'", res_none.scores),
        ):
            print(
                f"| {name} | {spearmanr(s[rows], exact.scores[rows])[0]:.4f} | "
                f"{pearsonr(s[rows], exact.scores[rows])[0]:.4f} |"
            )
    everything = np.arange(n)
    if "loo" in sections:
        # true leave-one-out: the model refitted without the point (splits and bins may change)
        loo_rows = rows[: args.n_loo]
        base_ll = log_loss(y_val, model.predict_proba(X_val))
        loo = np.array(
            [
                log_loss(y_val, fit(np.delete(everything, i)).predict_proba(X_val)) - base_ll
                for i in loo_rows
            ]
        )
        print(
            f"\n## True leave-one-out refits ({len(loo_rows)} of the random points; the "
            "splits may change)\n"
        )
        print("| against LOO refits | Spearman | Pearson |\n| --- | --- | --- |")
        for name, s in (
            ("tree_influence (first order)", res_ll.scores[loo_rows]),
            ("exact leaf refit", exact.scores[loo_rows]),
        ):
            print(f"| {name} | {spearmanr(s, loo)[0]:.4f} | {pearsonr(s, loo)[0]:.4f} |")
        print(
            f"\nmedian |change|: LOO refit {np.median(np.abs(loo)):.2e}, leaf refit "
            f"{np.median(np.abs(exact.scores[loo_rows])):.2e}, first order "
            f"{np.median(np.abs(res_ll.scores[loo_rows])):.2e}; LOO refits that leave the "
            f"validation log loss unchanged: {int(np.sum(loo == 0))}"
        )
    if "removal" not in sections:
        return

    def metrics(m):
        out = {}
        for name, X_, y_, s_ in (("val", X_val, y_val, sf_val), ("test", X_test, y_test, sf_test)):
            out[f"ll_{name}"] = log_loss(y_, m.predict_proba(X_))
            out[f"eo_{name}"] = equalized_odds_difference(y_, m.predict(X_), sensitive_features=s_)
            out[f"acc_{name}"] = float(np.mean(m.predict(X_) == y_))
        frame = MetricFrame(
            metrics={"TPR": true_positive_rate, "FPR": false_positive_rate},
            y_true=y_val,
            y_pred=m.predict(X_val),
            sensitive_features=sf_val,
        ).by_group
        out["rates_val"] = [
            (g, tuple(row)) for g, row in zip(frame.index, frame.to_numpy(), strict=True)
        ]
        return out

    base = metrics(model)
    print("\n## Group removal (refit the same model without the removed rows)\n")
    print(
        f"Full model: validation log loss {base['ll_val']:.4f}, EOD {base['eo_val']:.4f}, "
        f"accuracy {base['acc_val']:.4f}; test log loss {base['ll_test']:.4f}, "
        f"EOD {base['eo_test']:.4f}, accuracy {base['acc_test']:.4f}\n"
    )
    print(
        "| objective | removed | order | predicted: sum of scores | predicted: leaf refit of "
        "the set | refit change val | random change val (3 seeds) | refit change test | "
        "random change test | accuracy change val / test |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rates_after = []
    for obj, res, key in (("log_loss", res_ll, "ll"), ("equalized_odds", res_eo, "eo")):
        ctx = EvalContext([resolve_objective(obj)], model.classes_, X_val, y_val, sf_val)
        for frac in (0.01, 0.05):
            k = int(round(frac * n))
            rand = []
            for seed in range(3):
                drop = np.random.default_rng(100 + seed).choice(n, k, replace=False)
                rand.append(metrics(fit(np.setdiff1d(everything, drop))))
            orders = [("one shot", np.argsort(res.scores)[:k], res.scores, None)]
            round_size = int(np.ceil(k / 5))
            if frac > 0.01:
                # five rounds: refit (splits free) and re-score after each (recalculate)
                remover = InfluentialPointRemover(
                    make(),
                    objective=obj,
                    fraction=frac,
                    recalculate=round_size,
                    stop_at_predicted_minimum=False,
                    keep_original_if_worse=False,
                ).fit(
                    X_tr, y_tr, sensitive_features=sf_tr, X_val=X_val, y_val=y_val,
                    sensitive_features_val=sf_val,
                )  # fmt: skip
                rounds = remover.removed_indices_
                label = f"{int(np.ceil(len(rounds) / round_size))} rounds"
                orders.append((label, rounds, remover.scores_, remover.estimator_))
                # the remover's defaults: one scoring, stop where the leaf refit of the
                # prefixes predicts the smallest metric (equalized odds), refit compared
                stopped = InfluentialPointRemover(make(), objective=obj, fraction=frac).fit(
                    X_tr, y_tr, sensitive_features=sf_tr, X_val=X_val, y_val=y_val,
                    sensitive_features_val=sf_val,
                )  # fmt: skip
                label = "remover defaults" + (" (kept original)" if stopped.kept_original_ else "")
                orders.append(
                    (label, stopped.removed_indices_, stopped.scores_, stopped.estimator_)
                )
            for label, harmful, scores, refitted in orders:
                predicted = float(np.sum(scores[harmful]))
                values, reference = leaf_refit_without(
                    model, X_tr, y_tr, None, ctx, X_val, [harmful]
                )
                set_refit = float(values[0, 0] - reference[0])
                after = metrics(
                    fit(np.setdiff1d(everything, harmful)) if refitted is None else refitted
                )

                def fmt(split, after=after, rand=rand, key=key):
                    r = [m[f"{key}_{split}"] - base[f"{key}_{split}"] for m in rand]
                    return after[f"{key}_{split}"] - base[f"{key}_{split}"], r

                d_val, r_val = fmt("val")
                d_test, r_test = fmt("test")
                acc = (after["acc_val"] - base["acc_val"], after["acc_test"] - base["acc_test"])
                print(
                    f"| {obj} | {frac:.0%} ({len(harmful)}) | {label} | {predicted:+.4f} | "
                    f"{set_refit:+.4f} | {d_val:+.4f} | "
                    f"{np.mean(r_val):+.4f} [{', '.join(f'{v:+.4f}' for v in r_val)}] | "
                    f"{d_test:+.4f} | {np.mean(r_test):+.4f} "
                    f"[{', '.join(f'{v:+.4f}' for v in r_test)}] | "
                    f"{acc[0]:+.4f} / {acc[1]:+.4f} |",
                    flush=True,
                )
                if key == "eo":
                    rates_after.append((f"{frac:.0%} {label}", after["rates_val"]))
    print("\nValidation TPR / FPR by group after the equalized-odds removals:\n")
    for label, rates in [("full model", base["rates_val"]), *rates_after]:
        print(f"- {label}: " + "; ".join(f"{g}: {r[0]:.3f} / {r[1]:.3f}" for g, r in rates))


if __name__ == "__main__":
    main()
