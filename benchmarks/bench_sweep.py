"""Benchmark: the default gamma sweep against one selection at a single gamma, at Adult size.

Data: the package's Adult loader (``FAIRLEARN_DIVINE_DATA``), a stratified 80 % training split
of ``adult.data`` (``random_state=0``: 26,048 rows), encoded as the other Adult benchmarks do
(one-hot categories, standardised numbers: 108 dense features); scores: influence of every
training point on the log loss of a ``LogisticRegression(max_iter=3000)`` fitted on them
(``training_point_importance``). For each diversity function, m = 20 points:

* ``sweep``: ``select_diverse(scores, Z, 20, diversity=..., strategy=..., random_state=0)``,
  the default ``gamma="pairwise_distance"`` over the default 37-point sweep (plus the
  diversity-only run of its normalisation);
* ``single``: ``select_diverse(scores, Z, 20, ..., gamma=g, random_state=0)`` with g the
  raw gamma the sweep chose (a fresh call: nothing is shared with the sweep); its selection must
  equal the sweep's.

Strategies: sum-redundancy and MMD ``"greedy"`` (the default), facility location ``"lazy"``.
Reported (after a warm-up call on 300 rows): process CPU time (best of ``--repeats``, default
3) and the ratio sweep / single, and the
``tracemalloc`` peak of one sweep when ``--trace`` is given.

Usage: ``FAIRLEARN_DIVINE_DATA=../shared/data python benchmarks/bench_sweep.py [--threads T]
[--repeats R] [--diversities sum_redundancy,facility_location,mmd] [--n-jobs J] [--trace]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # benchmark the working tree's fairlearn_divine

M = 20
STRATEGY = {"sum_redundancy": "greedy", "facility_location": "lazy", "mmd": "greedy"}


def adult_problem():
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from fairlearn_divine import training_point_importance
    from fairlearn_divine.datasets import load_adult

    data = load_adult()
    X_tr, _, y_tr, _ = train_test_split(
        data.X, data.y, test_size=0.2, random_state=0, stratify=data.y
    )
    encode = ColumnTransformer(
        [
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                make_column_selector(dtype_exclude="number"),
            ),
            ("num", StandardScaler(), make_column_selector(dtype_include="number")),
        ]
    )
    Z = encode.fit_transform(X_tr)
    model = LogisticRegression(max_iter=3000).fit(Z, y_tr)
    scores = training_point_importance(model, Z, y_tr, objective="log_loss").scores
    return np.asarray(Z, dtype=float), np.asarray(scores, dtype=float)


def timed(call, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        c0 = time.process_time()
        out = call()
        best = min(best, time.process_time() - c0)
    return best, out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="cap BLAS threads")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--diversities", default="sum_redundancy,facility_location,mmd")
    p.add_argument("--n-jobs", type=int, default=None)
    p.add_argument("--trace", action="store_true", help="tracemalloc peak of one sweep")
    args = p.parse_args(argv)
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    from fairlearn_divine import select_diverse

    t0 = time.perf_counter()
    Z, scores = adult_problem()
    print(
        f"Adult: {Z.shape[0]} rows x {Z.shape[1]} encoded features, scores in "
        f"{time.perf_counter() - t0:.1f} s; m={M}, threads={args.threads or 'default'}, "
        f"repeats={args.repeats}, n_jobs={args.n_jobs}, load average {os.getloadavg()[0]:.2f}"
    )
    rows = []
    for name in [d.strip() for d in args.diversities.split(",") if d.strip()]:
        kw = {"diversity": name, "strategy": STRATEGY[name]}
        select_diverse(scores[:300], Z[:300], M, random_state=0, **kw)  # warm-up (first use)
        t_sweep, sweep = timed(
            lambda kw=kw: select_diverse(scores, Z, M, random_state=0, n_jobs=args.n_jobs, **kw),
            args.repeats,
        )
        t_single, single = timed(
            lambda kw=kw, g=sweep.gamma: select_diverse(
                scores, Z, M, gamma=g, random_state=0, **kw
            ),
            args.repeats,
        )
        same = single.indices.tolist() == sweep.indices.tolist()
        peak = None
        if args.trace:
            import tracemalloc

            tracemalloc.start()
            select_diverse(scores, Z, M, random_state=0, **kw)
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        rows.append((name, kw["strategy"], t_sweep, t_single, sweep, same, peak))
        print(
            f"{name} ({kw['strategy']}): sweep {t_sweep:.2f} s CPU, single gamma {t_single:.2f} s "
            f"CPU, ratio {t_sweep / t_single:.2f}x; gamma {sweep.gamma:.4g} (normalised "
            f"{sweep.gamma_normalized:.4g}); same selection: {same}"
            + ("" if peak is None else f"; sweep traced peak {peak:.0f} MB")
        )
        sys.stdout.flush()
    print()
    print(
        "| diversity | strategy | sweep CPU (s) | single gamma CPU (s) | sweep / single | "
        "chosen gamma (normalised) | same selection |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for name, strategy, ts, t1, sweep, same, _peak in rows:
        print(
            f"| {name} | {strategy} | {ts:.2f} | {t1:.2f} | {ts / t1:.2f}x | "
            f"{sweep.gamma_normalized:.4g} | {same} |"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
