"""Bias mitigators side by side: held-out test accuracy and unfairness, configuration chosen on
validation data.

Data sets (the package loaders; the model sees ``X`` exactly as loaded):

* ``compas``: ``load_compas(races=("African-American", "Caucasian"))``, sensitive feature
  ``race`` (not in ``X``). With all six groups the smallest ones (Native American: 11 rows,
  Asian: 31) have no positives or no negatives in some validation/test splits: the remover's
  equalized-odds objective raises ``ValueError`` (a true/false positive rate is undefined) and
  the test EOD is set by 1-3 people (1.0 for the plain model on seed 1).
* ``lsat``: ``load_lsat()``, ``X``/``y`` only (the loader's training file; ``X_test`` unused),
  sensitive feature ``sex`` (also a column of ``X``).
* ``adult``: ``load_adult()``, ``X``/``y`` only (the training file ``adult.data``; ``X_test``
  unused), sensitive feature ``sex`` (also a column of ``X``, as is ``race``).
* ``bank``: ``load_bank_marketing(drop_duration=True)``, sensitive feature ``age_group``
  (``age < 25``; not in ``X``, but ``age`` is).

Splits: for each seed a stratified (by ``y``) 60/20/20 train/validation/test split, as in
``bench_remover_bank.py``. Model for every method: OneHotEncoder(handle_unknown="ignore") for the
non-numeric columns and StandardScaler for the numeric ones, then
``LogisticRegression(tol=TOL, max_iter=3000)``.

Methods (``METHODS``; the remover variants in ``REMOVER_VARIANTS``), each a small grid:

* ``plain``: the model.
* remover variants: ``InfluentialPointRemover(model, objective="equalized_odds", **config)``
  fitted with the validation split (``X_val=...``); ``kept_original_`` and ``fraction_`` are
  recorded. Variants that need a newer package (``mode="reweigh"``, ``target=``) are added only
  when the installed package has them.
* ``eg-eo`` / ``eg-dp``: fairlearn ``ExponentiatedGradient`` with ``EqualizedOdds()`` /
  ``DemographicParity()``, grid over ``eps``. EG turns a DataFrame into an object array without
  column names, so it runs on the LogisticRegression alone, on the training split preprocessed
  by the ColumnTransformer fitted once on it (dense); the preprocessor does not depend on sample
  weights, so this is the pipeline fitted with EG's weights. Randomised ``predict`` with
  ``random_state=seed``.
* ``threshold-eo``: fairlearn ``ThresholdOptimizer(constraints="equalized_odds", prefit=False,
  predict_method="predict_proba")``; ``predict(..., random_state=seed)``. Needs A to predict.
* ``correlation-remover``: one-hot columns of A appended to ``X``, then the ColumnTransformer
  (dense), fairlearn ``CorrelationRemover`` on those columns (grid over ``alpha``), the
  LogisticRegression. Needs A to predict.
* ``kamiran-calders``: reweighing, ``w(a, y) = P(a) P(y) / P(a, y)`` on the training split,
  passed as ``logisticregression__sample_weight``.
* ``random-removal``: a seeded random fraction of the training rows removed, refit.

Metrics (validation for choosing, test for reporting): accuracy, fairlearn's
``equalized_odds_difference`` (EOD), ``equal_opportunity_difference`` (EOpp) and
``demographic_parity_difference`` (DP); fit time (``time.perf_counter``, everything the method
needs before it can predict). Per method and seed the configuration with the lowest validation
EOD among those with validation accuracy >= plain validation accuracy - 0.01 is chosen (else the
one with the highest validation accuracy); its test numbers are reported (mean +- sd over seeds).

Output: markdown on stdout (per data set a table, the best test EOD at <= 1 point accuracy loss,
the Pareto front, the remover check; a summary across data sets), progress on stderr,
``benchmarks/output/mitigation_<dataset>.png`` (test accuracy against test EOD: every
configuration as the mean over seeds, and per method the mean of the per-seed choices) and all
raw results in
``benchmarks/output/mitigation_results.json`` (keyed ``dataset/seed/method/config``; ``--resume``
reuses them).

Run (from the repository root; the script puts its own checkout first on ``sys.path``):

    FAIRLEARN_DIVINE_DATA=../shared/data python benchmarks/bench_mitigation.py

(``--n-jobs 2`` for the measured run below; ``--datasets compas --seeds 0`` for a quick look.)

Options: ``--datasets``, ``--seeds``, ``--methods`` (``plain`` is always run: it is the
reference), ``--n-jobs`` (joblib workers over (data set, seed, method, configuration) jobs),
``--resume`` (reuse the results already in the JSON; failed ones are run again),
``--output-dir``.

Measured 2026-12-01 with ``--n-jobs 2`` on this 2-core machine, package at commit 29d3b4e
(from a ``git archive`` export; the shared working tree was being edited): **2251 s (37.5 min)
wall** for all 252 jobs (4 data sets x 3 seeds x 21 configurations), under a load average of
8-11 from other processes. ExponentiatedGradient is 71% of the job time (on Bank alone 51%,
120-240 s per fit); every fit runs with one BLAS thread (``threadpoolctl``). ``--resume`` with
everything in the JSON only redraws the report and the plots (seconds).
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # measure this checkout's fairlearn_divine, installed or not

from fairlearn.metrics import (  # noqa: E402
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    true_positive_rate,
)
from fairlearn.postprocessing import ThresholdOptimizer  # noqa: E402
from fairlearn.preprocessing import CorrelationRemover  # noqa: E402
from fairlearn.reductions import (  # noqa: E402
    DemographicParity,
    EqualizedOdds,
    ExponentiatedGradient,
)
from joblib import Parallel, delayed  # noqa: E402
from sklearn.compose import ColumnTransformer, make_column_selector  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402
from sklearn.utils import Bunch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import fairlearn_divine  # noqa: E402
import fairlearn_divine._mitigation  # noqa: E402
from fairlearn_divine import InfluentialPointRemover  # noqa: E402
from fairlearn_divine.datasets import (  # noqa: E402
    load_adult,
    load_bank_marketing,
    load_compas,
    load_lsat,
)

try:
    from fairlearn.metrics import equal_opportunity_difference
except ImportError:  # fairlearn < 0.13: the TPR difference between groups

    def equal_opportunity_difference(y_true, y_pred, *, sensitive_features):
        frame = MetricFrame(
            metrics=true_positive_rate,
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=sensitive_features,
        )
        return frame.difference()


# Remover variants: name -> list of InfluentialPointRemover keyword dicts (the grid). One line
# per new mode.
REMOVER_VARIANTS = {
    "remove-auto": [{"mode": "remove", "fraction": "auto"}],
    "downweight-auto": [{"mode": "downweight", "fraction": "auto"}],
    "remove-fixed": [{"mode": "remove", "fraction": f} for f in (0.01, 0.02, 0.05)],
}
if "reweigh" in getattr(fairlearn_divine._mitigation, "MODES", ()):
    REMOVER_VARIANTS["reweigh-auto"] = [{"mode": "reweigh", "fraction": "auto"}]
    REMOVER_VARIANTS["reweigh-fixed"] = [{"mode": "reweigh", "fraction": 0.05}]
if "target" in inspect.signature(InfluentialPointRemover).parameters:
    REMOVER_VARIANTS["remove-auto-target"] = [
        {"mode": "remove", "fraction": "auto", "target": t} for t in (0.05, 0.1)
    ]

TOL = 1e-8  # LogisticRegression tol, the same for every method (as bench_remover_bank.py)
EG_EPS = (0.01, 0.05)
CR_ALPHAS = (0.5, 1.0)
RANDOM_FRACTIONS = (0.01, 0.02, 0.05)
MAX_ACCURACY_LOSS = 0.01  # the selection rule and the "<= 1 point" line
SENSITIVE_PREFIX = "A="  # names of the one-hot sensitive columns for CorrelationRemover

DATASETS = {
    "compas": (lambda: load_compas(races=("African-American", "Caucasian")), "race"),
    "lsat": (load_lsat, "sex"),
    "adult": (load_adult, "sex"),
    "bank": (lambda: load_bank_marketing(drop_duration=True), "age_group"),
}


# ----------------------------------------------------------------------------- data and model


@functools.cache
def load(dataset):
    data = DATASETS[dataset][0]()
    return data.X, np.asarray(data.y), data.sensitive_features


@functools.lru_cache(maxsize=4)
def split(dataset, seed):
    X, y, A = load(dataset)
    X_tr, X_rest, y_tr, y_rest, A_tr, A_rest = train_test_split(
        X, y, A, train_size=0.6, random_state=seed, stratify=y
    )
    X_va, X_te, y_va, y_te, A_va, A_te = train_test_split(
        X_rest, y_rest, A_rest, train_size=0.5, random_state=seed, stratify=y_rest
    )
    return Bunch(
        seed=seed,
        X_tr=X_tr,
        y_tr=y_tr,
        A_tr=A_tr,
        X_va=X_va,
        y_va=y_va,
        A_va=A_va,
        X_te=X_te,
        y_te=y_te,
        A_te=A_te,
    )


def preprocessor():
    categorical = make_column_selector(dtype_exclude="number")
    numeric = make_column_selector(dtype_include="number")
    return ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
            ("num", StandardScaler(), numeric),
        ]
    )


def classifier():
    return LogisticRegression(tol=TOL, max_iter=3000)


def model():
    return make_pipeline(preprocessor(), classifier())


def dense(Z):
    return Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z)


# --------------------------------------------------------------------------------- the methods
# Each fit function takes (config, split) and returns (predict(X, A), extras); everything it
# does is timed as the fit.


def fit_plain(config, s):
    fitted = model().fit(s.X_tr, s.y_tr)
    return (lambda X, A: fitted.predict(X)), {}


def fit_remover(config, s):
    remover = InfluentialPointRemover(
        model(), objective="equalized_odds", random_state=s.seed, **config
    )
    remover.fit(
        s.X_tr,
        s.y_tr,
        sensitive_features=s.A_tr,
        X_val=s.X_va,
        y_val=s.y_va,
        sensitive_features_val=s.A_va,
    )
    extras = {
        "kept_original": bool(remover.kept_original_),
        "fraction_chosen": float(getattr(remover, "fraction_", np.nan)),
        "n_removed": int(len(remover.removed_indices_)),
        "stopped_early": bool(getattr(remover, "stopped_early_", False)),
    }
    if hasattr(remover, "target_reached_"):
        reached = remover.target_reached_
        extras["target_reached"] = None if reached is None else bool(reached)
    return (lambda X, A: remover.predict(X)), extras


def fit_eg(constraints):
    def fit(config, s):
        pre = preprocessor().fit(s.X_tr)
        eg = ExponentiatedGradient(classifier(), constraints(), eps=config["eps"])
        eg.fit(dense(pre.transform(s.X_tr)), s.y_tr, sensitive_features=s.A_tr)
        extras = {"n_predictors": int(np.sum(np.asarray(eg.weights_) > 0))}
        return (lambda X, A: eg.predict(dense(pre.transform(X)), random_state=s.seed)), extras

    return fit


def fit_threshold(config, s):
    post = ThresholdOptimizer(
        estimator=model(),
        constraints="equalized_odds",
        prefit=False,
        predict_method="predict_proba",
    )
    post.fit(s.X_tr, s.y_tr, sensitive_features=s.A_tr)
    return (lambda X, A: post.predict(X, sensitive_features=A, random_state=s.seed)), {}


def with_sensitive_columns(X, A, groups):
    """``X`` and one 0/1 column per group of the training split (``A=<group>``)."""
    a = np.asarray(A, dtype=object)
    return X.assign(**{f"{SENSITIVE_PREFIX}{g}": (a == g).astype(float) for g in groups})


def fit_correlation_remover(config, s):
    groups = sorted(pd.unique(np.asarray(s.A_tr, dtype=object)))
    sensitive = [f"{SENSITIVE_PREFIX}{g}" for g in groups]
    numeric = [c for c in s.X_tr.columns if pd.api.types.is_numeric_dtype(s.X_tr[c])]
    other = [c for c in s.X_tr.columns if c not in numeric]
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), other),
            ("num", StandardScaler(), numeric),
            ("sens", "passthrough", sensitive),
        ]
    ).set_output(transform="pandas")
    remover = CorrelationRemover(
        sensitive_feature_ids=[f"sens__{c}" for c in sensitive], alpha=config["alpha"]
    )
    fitted = make_pipeline(pre, remover, classifier())
    fitted.fit(with_sensitive_columns(s.X_tr, s.A_tr, groups), s.y_tr)
    return (lambda X, A: fitted.predict(with_sensitive_columns(X, A, groups))), {}


def kamiran_calders_weights(y, A):
    """Reweighing (Kamiran & Calders 2012): ``w(a, y) = P(a) P(y) / P(a, y)``, so that ``A`` and
    ``y`` are independent under the weighted empirical distribution."""
    a, y = np.asarray(A, dtype=object), np.asarray(y)
    weights = np.ones(len(y))
    for group in pd.unique(a):
        for label in np.unique(y):
            cell = (a == group) & (y == label)
            if cell.any():
                weights[cell] = np.mean(a == group) * np.mean(y == label) / np.mean(cell)
    return weights


def fit_kamiran_calders(config, s):
    weights = kamiran_calders_weights(s.y_tr, s.A_tr)
    fitted = model().fit(s.X_tr, s.y_tr, logisticregression__sample_weight=weights)
    return (lambda X, A: fitted.predict(X)), {}


def fit_random_removal(config, s):
    n = len(s.y_tr)
    n_removed = int(round(config["fraction"] * n))
    keep = np.sort(np.random.RandomState(s.seed).permutation(n)[n_removed:])
    fitted = model().fit(s.X_tr.iloc[keep], s.y_tr[keep])
    return (lambda X, A: fitted.predict(X)), {"n_removed": n_removed}


# name -> (configurations, uses A at prediction, fit function, relative cost for scheduling)
METHODS = {"plain": ([{}], False, fit_plain, 1)}
for _name, _configs in REMOVER_VARIANTS.items():
    METHODS[_name] = (_configs, False, fit_remover, 10 if "auto" in _name else 4)
METHODS.update(
    {
        "eg-eo": ([{"eps": e} for e in EG_EPS], False, fit_eg(EqualizedOdds), 40),
        "eg-dp": ([{"eps": e} for e in EG_EPS], False, fit_eg(DemographicParity), 40),
        "threshold-eo": ([{}], True, fit_threshold, 2),
        "correlation-remover": (
            [{"alpha": a} for a in CR_ALPHAS],
            True,
            fit_correlation_remover,
            2,
        ),
        "kamiran-calders": ([{}], False, fit_kamiran_calders, 1),
        "random-removal": (
            [{"fraction": f} for f in RANDOM_FRACTIONS],
            False,
            fit_random_removal,
            1,
        ),
    }
)


# ------------------------------------------------------------------------------------- one job


def config_key(config):
    return json.dumps(config, sort_keys=True)


def result_key(dataset, seed, method, config):
    return f"{dataset}/{seed}/{method}/{config_key(config)}"


def measure(y, y_pred, A):
    return {
        "accuracy": float(accuracy_score(y, y_pred)),
        "eod": float(equalized_odds_difference(y, y_pred, sensitive_features=A)),
        "eopp": float(equal_opportunity_difference(y, y_pred, sensitive_features=A)),
        "dp": float(demographic_parity_difference(y, y_pred, sensitive_features=A)),
    }


@functools.cache
def warm_up(dataset, seed):
    """One small throwaway fit and measurement per process and data set, so that the first
    timed fit does not pay for lazy imports and first-call set-up."""
    s = split(dataset, seed)
    rows = np.r_[np.flatnonzero(s.y_tr == 0)[:100], np.flatnonzero(s.y_tr == 1)[:100]]
    fitted = model().fit(s.X_tr.iloc[rows], s.y_tr[rows])
    measure(s.y_tr[rows], fitted.predict(s.X_tr.iloc[rows]), s.A_tr.iloc[rows])


def run_job(dataset, seed, method, config):
    """Fit one configuration on one split; its validation and test metrics (a JSON-able dict)."""
    record = {"dataset": dataset, "seed": seed, "method": method, "config": config}
    start = time.perf_counter()
    try:
        s = split(dataset, seed)
        fit = METHODS[method][2]
        # one BLAS thread per job: on a busy 2-core machine multi-threaded BLAS calls stall
        # (a LogisticRegression fit on Bank took 3-12 s with the default pools, 0.7 s with one)
        with threadpool_limits(limits=1), warnings.catch_warnings(record=True) as caught:
            warm_up(dataset, seed)
            # the remover warns when it keeps the original model; recorded, not shown
            warnings.simplefilter("always", UserWarning)
            t0 = time.perf_counter()
            predict, extras = fit(config, s)
            record["fit_time"] = time.perf_counter() - t0
            record["val"] = measure(s.y_va, predict(s.X_va, s.A_va), s.A_va)
            record["test"] = measure(s.y_te, predict(s.X_te, s.A_te), s.A_te)
        record["extras"] = extras
        messages = sorted({f"{w.category.__name__}: {str(w.message)[:200]}" for w in caught})
        record["warnings"] = messages
    except Exception as exc:  # a method that fails on a data set is reported, not fatal
        record["error"] = f"{type(exc).__name__}: {exc}"
    record["job_time"] = time.perf_counter() - start
    return record


# ---------------------------------------------------------------------------------- the report


def mean_sd(values):
    values = np.asarray(values, dtype=float)
    sd = values.std(ddof=1) if len(values) > 1 else 0.0
    return float(values.mean()), float(sd)


def fmt(values, digits=3):
    m, sd = mean_sd(values)
    return f"{m:.{digits}f} ± {sd:.{digits}f}"


def choose(records, plain):
    """The validation rule: lowest validation EOD among the configurations within
    MAX_ACCURACY_LOSS of plain validation accuracy, else the highest validation accuracy."""
    floor = plain["val"]["accuracy"] - MAX_ACCURACY_LOSS
    ok = [r for r in records if r["val"]["accuracy"] >= floor]
    if ok:
        return min(ok, key=lambda r: r["val"]["eod"])  # ties: the first in grid order
    return max(records, key=lambda r: r["val"]["accuracy"])


def summarize(results, dataset, seeds, methods):
    """Per method: the chosen record of every seed and the means of all configurations."""
    plain = {s: results.get(result_key(dataset, s, "plain", {})) for s in seeds}
    seeds = [s for s in seeds if plain[s] is not None and "error" not in plain[s]]
    out = {}
    for method in methods:
        configs, uses_a = METHODS[method][0], METHODS[method][1]
        chosen, errors, per_config = [], set(), {}
        for seed in seeds:
            records = []
            for config in configs:
                r = results.get(result_key(dataset, seed, method, config))
                if r is None:
                    continue
                if "error" in r:
                    errors.add(r["error"][:300])
                    continue
                records.append(r)
                per_config.setdefault(config_key(config), []).append(r)
            if records:
                chosen.append(choose(records, plain[seed]))
        out[method] = Bunch(
            uses_a=uses_a,
            chosen=chosen,
            errors=sorted(errors),
            per_config=per_config,
            plain={s: plain[s] for s in seeds},
        )
    return seeds, out


def chosen_stats(entry):
    c = entry.chosen
    plain_acc = [entry.plain[r["seed"]]["test"]["accuracy"] for r in c]
    return Bunch(
        acc=[r["test"]["accuracy"] for r in c],
        dacc=[100 * (r["test"]["accuracy"] - p) for r, p in zip(c, plain_acc, strict=True)],
        eod=[r["test"]["eod"] for r in c],
        eopp=[r["test"]["eopp"] for r in c],
        dp=[r["test"]["dp"] for r in c],
        fit=[r["fit_time"] for r in c],
        plain_fit=[entry.plain[r["seed"]]["fit_time"] for r in c],
    )


def describe_choice(method, entry):
    """Which configuration was chosen per seed (and what the remover did)."""
    parts = []
    for r in entry.chosen:
        shown = {k: v for k, v in r["config"].items() if k != "mode"}  # the name says it
        text = ", ".join(f"{k}={v}" for k, v in shown.items()) or "-"
        extras = r.get("extras", {})
        if "fraction_chosen" in extras:
            text += f" → {extras['fraction_chosen']:.3g}"
            if extras.get("kept_original"):
                text += " (kept original)"
        parts.append(text)
    if len(set(parts)) == 1 and parts:
        return parts[0] + (" (all seeds)" if len(parts) > 1 else "")
    return "; ".join(parts)


def pareto_front(points):
    """Names whose (accuracy, EOD) no other point beats in both (>= and <=, one strictly)."""
    front = []
    for name, (acc, eod) in points.items():
        dominated = any(
            a >= acc and e <= eod and (a > acc or e < eod)
            for other, (a, e) in points.items()
            if other != name
        )
        if not dominated:
            front.append(name)
    return sorted(front, key=lambda n: points[n][1])


def report_dataset(results, dataset, seeds, methods, out_dir):
    seeds, summary = summarize(results, dataset, seeds, methods)
    X, y, A = load(dataset)
    in_x = A.name in X.columns
    print(f"\n## {dataset}\n")
    print(
        f"{len(y)} rows, {X.shape[1]} columns, positive rate {np.mean(y):.3f}; sensitive feature "
        f"`{A.name}` ({', '.join(f'{k}: {v}' for k, v in A.value_counts().items())}), "
        f"{'a column of X' if in_x else 'not in X'}; seeds {seeds}.\n"
    )
    if not seeds:
        print("No plain results for these seeds: nothing to report.")
        return None
    print(
        "| method | uses A at prediction | chosen config (per seed) | test accuracy | "
        "Δaccuracy (points) | test EOD | test EOpp diff | test DP diff | fit time (s) | "
        "fit time / plain |"
    )
    print("| --- | --- | --- | ---:| ---:| ---:| ---:| ---:| ---:| ---:|")
    stats = {}
    for method in methods:
        entry = summary[method]
        yes_no = "yes" if entry.uses_a else "no"
        if not entry.chosen:
            reason = "; ".join(entry.errors) or "no results"
            print(f"| {method} | {yes_no} | failed: {reason} | | | | | | | |")
            continue
        st = chosen_stats(entry)
        stats[method] = st
        missing = len(seeds) - len(entry.chosen)
        note = f" ({missing} seed(s) failed: {'; '.join(entry.errors)})" if missing else ""
        ratio = np.mean(st.fit) / np.mean(st.plain_fit)
        print(
            f"| {method} | {yes_no} | {describe_choice(method, entry)}{note} | "
            f"{fmt(st.acc, 4)} | {fmt(st.dacc, 2)} | {fmt(st.eod)} | {fmt(st.eopp)} | "
            f"{fmt(st.dp)} | {np.mean(st.fit):.2f} | {ratio:.1f}x |"
        )

    means = {m: (float(np.mean(st.acc)), float(np.mean(st.eod))) for m, st in stats.items()}
    plain_acc = means["plain"][0] if "plain" in means else np.nan
    within = {m: v for m, v in means.items() if plain_acc - v[0] <= MAX_ACCURACY_LOSS + 1e-12}
    print(f"\nBest test EOD at ≤ {100 * MAX_ACCURACY_LOSS:g} point accuracy loss (means):")
    best = {}
    for label, keep in (
        ("not using A at prediction", lambda m: not METHODS[m][1]),
        ("all methods", lambda m: True),
    ):
        pool = {m: v for m, v in within.items() if keep(m)}
        if pool:
            m = min(pool, key=lambda k: pool[k][1])
            best[label] = m
            print(
                f"* {label}: **{m}** (test EOD {pool[m][1]:.3f}, accuracy "
                f"{100 * (pool[m][0] - plain_acc):+.2f} points)"
            )
    front = pareto_front(means)
    print(f"\nPareto front (mean test accuracy, mean test EOD): {', '.join(front)}.")

    plain_eod = mean_sd(stats["plain"].eod) if "plain" in stats else (np.nan, np.nan)
    remover_methods = [m for m in stats if METHODS[m][2] is fit_remover]
    worse = [m for m in remover_methods if np.mean(stats[m].eod) > plain_eod[0] + plain_eod[1]]
    detail = ", ".join(f"{m} {np.mean(stats[m].eod):.3f}" for m in remover_methods)
    print(
        f"\nRemover never worse than plain beyond the seed spread: "
        f"**{'no' if worse else 'yes'}** (plain EOD {plain_eod[0]:.3f} + sd {plain_eod[1]:.3f} "
        f"= {plain_eod[0] + plain_eod[1]:.3f}; {detail}"
        f"{'; worse: ' + ', '.join(worse) if worse else ''})."
    )
    plot_dataset(dataset, summary, means, out_dir)
    return Bunch(stats=stats, means=means, front=front, best=best, worse=worse)


def plot_dataset(dataset, summary, chosen_means, out_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 6))
    colors = plt.get_cmap("tab10").colors
    markers = "os^DvP<>Xh"
    for i, (method, entry) in enumerate(summary.items()):
        # (color, marker) pairs stay distinct for 20 methods
        style = (colors[i % 10], markers[(i + 5 * (i // 10)) % 10])
        color, marker = ("black", "*") if method == "plain" else style
        pts = [
            (np.mean([r["test"]["eod"] for r in rs]), np.mean([r["test"]["accuracy"] for r in rs]))
            for rs in entry.per_config.values()
        ]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.scatter(xs, ys, s=25, color=color, marker=marker, alpha=0.45)
        if method in chosen_means:
            acc, eod = chosen_means[method]
            size, z = (260, 4) if method == "plain" else (130, 3)
            ax.scatter(
                eod,
                acc,
                s=size,
                color=color,
                marker=marker,
                edgecolor="black",
                zorder=z,
                label=method,
            )
    ax.set_xlabel("test equalized odds difference (mean over seeds)")
    ax.set_ylabel("test accuracy (mean over seeds)")
    ax.set_title(f"{dataset}: each configuration (small), the validation-chosen one (large)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    path = Path(out_dir) / f"mitigation_{dataset}.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"\nPlot: `{path}`.")


def report_summary(reports, methods):
    names = [d for d, r in reports.items() if r is not None]
    if not names:
        return
    print("\n## Summary across data sets\n")
    print(
        "Per data set: Δ test accuracy vs plain (points) / test EOD of the validation-chosen "
        "configuration (means over seeds); **P** = on that data set's Pareto front.\n"
    )
    print("| method | uses A | " + " | ".join(names) + " |")
    print("| --- | --- |" + " ---:|" * len(names))
    for method in methods:
        cells = []
        for d in names:
            r = reports[d]
            if method not in r.stats:
                cells.append("failed")
                continue
            mark = " **P**" if method in r.front else ""
            cells.append(
                f"{np.mean(r.stats[method].dacc):+.2f} / {np.mean(r.stats[method].eod):.3f}{mark}"
            )
        uses_a = "yes" if METHODS[method][1] else "no"
        print(f"| {method} | {uses_a} | " + " | ".join(cells) + " |")
    for label in ("not using A at prediction", "all methods"):
        row = [reports[d].best.get(label, "-") for d in names]
        print(f"| best EOD at ≤ 1 point loss, {label} | | " + " | ".join(row) + " |")
    row = ["no" if reports[d].worse else "yes" for d in names]
    print("| remover never worse than plain beyond the seed spread | | " + " | ".join(row) + " |")


# ----------------------------------------------------------------------------------------- main


def read_results(path):
    if path.exists():
        with open(path) as f:
            return json.load(f)
    return {"meta": {}, "results": {}}


def write_results(path, store):
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        json.dump(store, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def package_state():
    def git(*args):
        try:
            return subprocess.run(
                ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    return {
        "fairlearn_divine_file": fairlearn_divine.__file__,
        "commit": git("rev-parse", "HEAD"),
        "package_changes": git("status", "--porcelain", "fairlearn_divine"),
        "remover_variants": REMOVER_VARIANTS,
        "tol": TOL,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--n-jobs", type=int, default=1, help="joblib workers over jobs")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse results already in the JSON (failed ones are run again)",
    )
    parser.add_argument("--output-dir", type=Path, default=ROOT / "benchmarks" / "output")
    args = parser.parse_args(argv)
    methods = ["plain"] + [m for m in args.methods if m != "plain"]  # plain is the reference
    args.output_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.output_dir / "mitigation_results.json"
    store = read_results(json_path)
    results = store.setdefault("results", {})

    start, load_start = time.perf_counter(), os.getloadavg()
    for dataset in args.datasets:  # fail fast when a data set is missing
        load(dataset)
    jobs = [
        (d, s, m, c)
        for d in args.datasets
        for s in args.seeds
        for m in methods
        for c in METHODS[m][0]
    ]

    def reusable(job):
        record = results.get(result_key(*job))
        return args.resume and record is not None and "error" not in record

    todo = [j for j in jobs if not reusable(j)]
    todo.sort(key=lambda j: -len(load(j[0])[1]) * METHODS[j[2]][3])  # longest first
    print(
        f"{len(jobs)} jobs, {len(jobs) - len(todo)} reused, {len(todo)} to run on "
        f"{args.n_jobs} worker(s); fairlearn_divine from {fairlearn_divine.__file__}",
        file=sys.stderr,
        flush=True,
    )
    parallel = Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")
    for i, record in enumerate(parallel(delayed(run_job)(*j) for j in todo), 1):
        key = result_key(record["dataset"], record["seed"], record["method"], record["config"])
        record["n_jobs"] = args.n_jobs  # how many jobs shared the machine with its fit
        results[key] = record
        write_results(json_path, store)
        status = (
            f"ERROR {record['error'][:120]}"
            if "error" in record
            else (f"fit {record['fit_time']:.2f} s, test EOD {record['test']['eod']:.3f}")
        )
        print(
            f"[{i}/{len(todo)}] {record['dataset']} seed={record['seed']} {record['method']} "
            f"{config_key(record['config'])}: {record['job_time']:.1f} s ({status})",
            file=sys.stderr,
            flush=True,
        )
    wall = time.perf_counter() - start
    runs = store.get("meta", {}).get("runs", [])  # one entry per invocation (--resume pieces)
    runs.append(
        {
            "argv": sys.argv[1:] if argv is None else argv,
            "n_jobs": args.n_jobs,
            "jobs_run": len(todo),
            "wall_seconds": wall,
            "cpu_count": os.cpu_count(),
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
    )
    store["meta"] = {**package_state(), "runs": runs}
    write_results(json_path, store)

    used = [results.get(result_key(*j), {}).get("n_jobs") for j in jobs]
    shared = "/".join(str(n) for n in sorted({n for n in used if n is not None})) or "?"
    print("# Bias mitigators on held-out test data\n")
    print(
        f"Stratified 60/20/20 splits, seeds {args.seeds}; configuration chosen per method and "
        f"seed on validation (lowest EOD within {100 * MAX_ACCURACY_LOSS:g} point of plain "
        f"validation accuracy); mean ± sd over seeds of the test numbers. Δaccuracy is paired "
        f"(per seed, vs plain). Fit time: mean over seeds of the chosen configuration "
        f"(with {shared} job(s) in parallel on {os.cpu_count()} cores). Remover variants: "
        f"{', '.join(REMOVER_VARIANTS)}. fairlearn_divine from `{fairlearn_divine.__file__}`."
    )
    reports = {}
    for dataset in args.datasets:
        reports[dataset] = report_dataset(results, dataset, args.seeds, methods, args.output_dir)
    report_summary(reports, methods)
    print(f"\nRaw results: `{json_path}`.")
    print(
        f"Total wall time: {wall:.0f} s ({len(todo)} jobs run); load average (1, 5, 15 min) "
        f"{load_start} at the start, {os.getloadavg()} at the end.",
        file=sys.stderr,
    )


if __name__ == "__main__":
    # run as the module ``bench_mitigation`` so that joblib's workers import its functions (and
    # their per-process caches) by name instead of unpickling copies of ``__main__``
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_mitigation

    bench_mitigation.main()
