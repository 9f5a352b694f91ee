"""Data Shapley (TMC) permutations per second and exact leave-one-out, against naive loops.

Rows (one worker each, timed round by round so that load from other processes hits every row):

* **package TMC**: ``training_point_importance(model, X, y, method="data_shapley",
  X_eval=..., y_eval=..., n_permutations=P, convergence_tolerance=0, random_state=0,
  n_jobs=1)``; everything else at its default (``truncation_tolerance=0.01``, antithetic pairs,
  ``refit_solver="auto"`` = warm-started exact Newton refits for a bare LogisticRegression).
* **naive TMC loop**: the textbook loop in this process: for each prefix of a random
  permutation, ``clone(model).fit(X[prefix], y[prefix])`` and the log loss on the evaluation
  set; no warm start, no truncation. A couple of permutations are timed and the rate
  extrapolated.
* **pyDVL TMC**: ``pydvl.value.permutation_montecarlo_shapley(Utility(LogisticRegression(),
  Dataset(...), Scorer("neg_log_loss")), done=MaxUpdates(k), truncation=RelativeTruncation(u,
  rtol=0.01), n_jobs=1)`` run in pyDVL's own venv (``--pydvl-python``; pyDVL 0.10 pins
  numpy<2) on the same data; the same script is the worker (``--pydvl-worker``). Also its
  bare per-permutation step without the executor (``pyDVL one-step``).
* **LOO**: ``method="loo"`` for every training point (warm-started exact Newton refits) vs a
  naive loop ``clone(model).fit`` without point i, for each i (timed on a subset of points and
  extrapolated when ``--naive-loo-points`` < n).

Run from the repository root::

    python benchmarks/bench_shapley.py --pydvl-python /tmp/venv-pydvl/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from _problem import load_average, make_problem  # noqa: E402

EPS = np.finfo(float).eps


def make_data(n, d, n_eval, seed):
    X, y, _ = make_problem(n + n_eval, d, seed)
    return X[:n], y[:n], X[n:], y[n:]


def log_loss(P, y):
    p = np.clip(P[np.arange(len(y)), y], EPS, 1 - EPS)
    return float(-np.mean(np.log(p)))


def naive_permutation(model, X, y, Xe, ye, rng):
    """Marginals along one permutation by cold sklearn refits of every prefix (no truncation)."""
    n = len(y)
    perm = rng.permutation(n)
    marg = np.zeros(n)
    majority = int(np.bincount(y, minlength=2).argmax())
    prev = log_loss(np.eye(2)[np.full(len(ye), majority)], ye)
    for j in range(n):
        rows = perm[: j + 1]
        if len(np.unique(y[rows])) < 2:
            val = log_loss(np.eye(2)[np.full(len(ye), y[rows[0]])], ye)
        else:
            m = clone(model).fit(X[rows], y[rows])
            val = log_loss(m.predict_proba(Xe), ye)
        marg[perm[j]] = prev - val
        prev = val
    return marg


def naive_loo(model, X, y, Xe, ye, points):
    full = clone(model).fit(X, y)
    base = log_loss(full.predict_proba(Xe), ye)
    out = np.empty(len(points))
    for k, i in enumerate(points):
        keep = np.ones(len(y), dtype=bool)
        keep[i] = False
        m = clone(model).fit(X[keep], y[keep])
        out[k] = log_loss(m.predict_proba(Xe), ye) - base
    return out


# ---------------------------------------------------------------------------------------------
# pyDVL worker (runs inside pyDVL's venv)


def pydvl_worker(args):
    import pydvl
    from pydvl.utils import Dataset, Scorer, Utility
    from pydvl.value import MaxUpdates
    from pydvl.value.shapley.montecarlo import (
        _permutation_montecarlo_one_step,
        permutation_montecarlo_shapley,
    )
    from pydvl.value.shapley.truncated import RelativeTruncation
    from threadpoolctl import threadpool_limits

    class CountingLR(LogisticRegression):
        n_fits = 0

        def fit(self, X, y, sample_weight=None):
            CountingLR.n_fits += 1
            return super().fit(X, y, sample_weight=sample_weight)

    threadpool_limits(1)
    X, y, Xe, ye = make_data(args.n, args.d, args.n_eval, args.seed)
    data = Dataset(X, y, Xe, ye)
    out = {"pydvl_version": pydvl.__version__, "numpy_version": np.__version__}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = Utility(
            LogisticRegression(), data, Scorer("neg_log_loss", default=-36.0), catch_errors=True
        )
        trunc = RelativeTruncation(u, rtol=0.01)
        t0 = time.perf_counter()
        res = permutation_montecarlo_shapley(
            u, done=MaxUpdates(args.pydvl_permutations), truncation=trunc, n_jobs=1, seed=0
        )
        t = time.perf_counter() - t0
        n_perm = int(np.max(res.counts))
        out.update(t_api=t, permutations_api=n_perm)
        seeds = np.random.SeedSequence(1).spawn(args.pydvl_permutations)
        t0 = time.perf_counter()
        for s in seeds:
            _permutation_montecarlo_one_step(u, trunc, "tmc", seed=s)
        out.update(t_step=time.perf_counter() - t0, permutations_step=len(seeds))
        # the same steps again, counting the fits (prefixes evaluated per permutation)
        u_count = Utility(
            CountingLR(), data, Scorer("neg_log_loss", default=-36.0), catch_errors=True
        )
        trunc_count = RelativeTruncation(u_count, rtol=0.01)
        CountingLR.n_fits = 0
        for s in seeds:
            _permutation_montecarlo_one_step(u_count, trunc_count, "tmc", seed=s)
        out["prefixes_step"] = CountingLR.n_fits / len(seeds)
    print(json.dumps(out))


def run_pydvl(python, args):
    cmd = [
        python,
        os.path.abspath(__file__),
        "--pydvl-worker",
        "--n",
        str(args.n),
        "--d",
        str(args.d),
        "--n-eval",
        str(args.n_eval),
        "--seed",
        str(args.seed),
        "--pydvl-permutations",
        str(args.pydvl_permutations),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        print(f"pyDVL run failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        return None
    return json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--d", type=int, default=8)
    parser.add_argument("--n-eval", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--permutations", type=int, default=20, help="package TMC")
    parser.add_argument("--naive-permutations", type=int, default=2)
    parser.add_argument("--pydvl-permutations", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--loo-n", type=int, nargs="*", default=[500, 2000])
    parser.add_argument("--naive-loo-points", type=int, default=300)
    parser.add_argument("--pydvl-python", default=None)
    parser.add_argument("--pydvl-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pydvl_worker:
        return pydvl_worker(args)

    sys.path.insert(1, ROOT)
    from threadpoolctl import threadpool_limits

    import fairlearn_divine
    from fairlearn_divine import training_point_importance

    print(
        f"fairlearn_divine {getattr(fairlearn_divine, '__version__', '?')} from "
        f"{os.path.dirname(fairlearn_divine.__file__)}"
    )
    threadpool_limits(1)  # one worker, one BLAS thread, for every row
    print(load_average(), "(before)")
    X, y, Xe, ye = make_data(args.n, args.d, args.n_eval, args.seed)
    model = LogisticRegression().fit(X, y)
    rates = {
        "package TMC": [],
        "naive TMC loop": [],
        "pyDVL TMC (API)": [],
        "pyDVL TMC (one-step)": [],
    }
    extra = {}
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        res = training_point_importance(
            model,
            X,
            y,
            method="data_shapley",
            X_eval=Xe,
            y_eval=ye,
            n_permutations=args.permutations,
            convergence_tolerance=0.0,
            random_state=0,
            n_jobs=1,
            progress=False,
        )
        t = time.perf_counter() - t0
        rates["package TMC"].append(res.n_permutations / t)
        extra["package TMC"] = f"{res.mean_prefix_evaluations:.0f} prefixes/perm"
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(args.naive_permutations):
                naive_permutation(model, X, y, Xe, ye, rng)
        rates["naive TMC loop"].append(args.naive_permutations / (time.perf_counter() - t0))
        extra["naive TMC loop"] = f"{args.n} prefixes/perm"
        if args.pydvl_python:
            out = run_pydvl(args.pydvl_python, args)
            if out is not None:
                rates["pyDVL TMC (API)"].append(out["permutations_api"] / out["t_api"])
                rates["pyDVL TMC (one-step)"].append(out["permutations_step"] / out["t_step"])
                extra["pyDVL TMC (API)"] = f"pyDVL {out['pydvl_version']}"
                extra["pyDVL TMC (one-step)"] = f"{out['prefixes_step']:.0f} prefixes/perm"
    print(
        f"\nData Shapley, n={args.n}, d={args.d}, n_eval={args.n_eval}, binary "
        f"LogisticRegression, 1 worker, best of {args.rounds} interleaved rounds"
    )
    print(f"| {'row':<22} | {'permutations/s':>14} | {'package speed-up':>16} | note |")
    print(f"| {'-' * 22} | {'-' * 14}:| {'-' * 16}:| --- |")
    best = {k: max(v) for k, v in rates.items() if v}
    for k, r in best.items():
        print(f"| {k:<22} | {r:>14.3f} | {best['package TMC'] / r:>15.1f}x | {extra.get(k, '')} |")

    print("\nExact leave-one-out for every training point (log loss on the evaluation set)")
    print(
        f"| {'n':>5} | {'package loo (s)':>15} | {'naive loop (s)':>14} | speed-up "
        "| max abs diff | note |"
    )
    print("| ----:| ---------------:| --------------:| --------:| ------------:| --- |")
    for n in args.loo_n:
        X, y, Xe, ye = make_data(n, args.d, args.n_eval, args.seed)
        model = LogisticRegression().fit(X, y)
        k = min(n, args.naive_loo_points)
        points = np.random.default_rng(1).choice(n, size=k, replace=False)
        t_pkg, t_naive = np.inf, np.inf
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            res = training_point_importance(
                model, X, y, method="loo", X_eval=Xe, y_eval=ye, n_jobs=1, progress=False
            )
            t_pkg = min(t_pkg, time.perf_counter() - t0)
            t0 = time.perf_counter()
            naive = naive_loo(model, X, y, Xe, ye, points)
            t_naive = min(t_naive, (time.perf_counter() - t0) * n / k)
        diff = float(np.max(np.abs(res.scores[points] - naive)))
        note = "" if k == n else f"naive: {k} points, extrapolated"
        print(
            f"| {n:>5} | {t_pkg:>15.3f} | {t_naive:>14.3f} | {t_naive / t_pkg:>7.1f}x "
            f"| {diff:>12.2g} | {note} |"
        )
    print()
    print(load_average(), "(after)")


if __name__ == "__main__":
    main()
