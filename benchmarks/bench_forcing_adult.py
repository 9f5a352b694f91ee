"""Benchmark: verified minimal forcing subsets on Adult through the practitioner's pipeline.

Problem: the UCI Adult training file through the package's loader (``load_adult``, 32,561
rows, raw DataFrame with categories and missing values) and the pipeline of
``examples/adult_audit_workflow.py``: ``make_pipeline(ColumnTransformer([one-hot of the
categorical columns (handle_unknown="ignore"), StandardScaler of the numeric ones]),
LogisticRegression(tol=1e-8, max_iter=5000))`` fitted on all of it. Targets are rows of
``adult.test`` drawn at random (seed ``--seed``) among those with confidence in
``(0.5, --max-confidence)``; the first ``--n-points`` whose subset is verified and has
``|S| <= --max-size`` are the headline set (the others are printed as skipped).

Every subset is ``minimal_forcing_subset(model, X, y, x)`` with the defaults (Newton updates,
closed-form step, ``verify=True``): ``flipped=True`` means a refit of the whole pipeline without
S predicts the other class, and the estimator's own fit (through the package's refit helper)
agrees. ``--check`` refits ``clone(model).fit`` cold without S and without ``S[:-1]`` for every
headline point (outside the timings) and reports whether the flip and prefix-minimality hold.

Baseline: with ``--baseline-src DIR`` (a checkout of the package before the speed-up, e.g.
``git archive 6427072 fairlearn_divine | tar -x -C /tmp/base``) the same points are searched
again by that code, in a subprocess of this run, on the same machine and thread limit; the
table gives both times, their ratio and whether both found the same S.

``--shared`` also runs ``minimal_forcing_subsets`` on the headline points (``n_jobs=1``: the
data checks, the view and the factorised Hessian at the fit are built once for all points) and
checks that it returns the same subsets as the separate calls.

BLAS/OpenMP pools are capped at ``--threads`` (default 1: one core for the headline number).

Usage: ``FAIRLEARN_DIVINE_DATA=../shared/data python benchmarks/bench_forcing_adult.py
[--n-points 20] [--baseline-src /tmp/base] [--shared] [--check] [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if "--worker-src" in sys.argv:  # the baseline subprocess imports the package from there
    sys.path.insert(0, sys.argv[sys.argv.index("--worker-src") + 1])
else:
    sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.compose import ColumnTransformer, make_column_selector  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import fairlearn_divine  # noqa: E402
from fairlearn_divine import minimal_forcing_subset  # noqa: E402
from fairlearn_divine.datasets import load_adult  # noqa: E402


def build_problem(kind="pipeline"):
    """The practitioner's pipeline on the raw DataFrame, or (``kind="bare"``) the same
    transformers fitted once and a bare LogisticRegression on the transformed array."""
    data = load_adult()
    pre = ColumnTransformer(
        [
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore"),
                make_column_selector(dtype_exclude="number"),
            ),
            ("num", StandardScaler(), make_column_selector(dtype_include="number")),
        ]
    )
    X, y, X_test = data.X, np.asarray(data.y), data.X_test
    if kind == "bare":
        X = pre.fit_transform(X)
        X_test = _Rows(pre.transform(X_test))
        model = LogisticRegression(tol=1e-8, max_iter=5000)
    else:
        model = make_pipeline(pre, LogisticRegression(tol=1e-8, max_iter=5000))
    t = time.perf_counter()
    model.fit(X, y)
    return X, y, X_test, model, time.perf_counter() - t


class _Rows:
    """``.iloc[[j]]`` row access to an array or sparse matrix (as the DataFrame has)."""

    def __init__(self, Z):
        self.Z = Z
        self.iloc = self

    def __getitem__(self, rows):
        return self.Z[rows]

    def __len__(self):
        return self.Z.shape[0]


def candidates(model, X_test, max_confidence, seed):
    p = model.predict_proba(X_test.Z if isinstance(X_test, _Rows) else X_test)[:, 1]
    conf = np.maximum(p, 1 - p)
    rows = np.flatnonzero(conf < max_confidence)
    return np.random.default_rng(seed).permutation(rows), conf


def timed_subset(model, X, y, X_test, row):
    x = X_test.iloc[[row]]
    t = time.perf_counter()
    r = minimal_forcing_subset(model, X, y, x)
    return r, time.perf_counter() - t


def worker(args):
    """The baseline: search the rows read from stdin (one per line) with the package found on
    sys.path; one JSON line per row on stdout."""
    with threadpool_limits(args.threads):
        X, y, X_test, model, _ = build_problem(args.model)
        print("ready", flush=True)
        for line in sys.stdin:
            row = int(line)
            r, dt = timed_subset(model, X, y, X_test, row)
            rec = {
                "row": row,
                "size": int(r.size),
                "flipped": bool(r.flipped),
                "time": dt,
                "indices": np.asarray(r.indices).tolist(),
            }
            print(json.dumps(rec), flush=True)


class Baseline:
    """The baseline worker, asked for one point at a time (interleaved with this code's runs,
    so that both see the same machine load)."""

    def __init__(self, src, threads, model):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker-src", os.path.abspath(src)]
        cmd += ["--worker-rows", "stdin", "--threads", str(threads), "--model", model]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the baseline worker did not start")

    def run(self, row):
        self.proc.stdin.write(f"{row}\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def independent_check(model, X, y, x, indices):
    """Cold clone().fit without S and without S[:-1]: (flips, prefix-minimal)."""
    original = model.predict(x)[0]

    def refit_predicts(drop):
        keep = np.ones(len(y), dtype=bool)
        keep[np.asarray(drop, dtype=int)] = False
        return clone(model).fit(X[keep], y[keep]).predict(x)[0]

    flips = refit_predicts(indices) != original
    minimal = len(indices) == 1 or refit_predicts(indices[:-1]) == original
    return bool(flips), bool(minimal)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-points", type=int, default=20)
    ap.add_argument("--max-size", type=int, default=100)
    ap.add_argument("--max-confidence", type=float, default=0.65)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-candidates", type=int, default=40)
    ap.add_argument("--baseline-src", default=None)
    ap.add_argument(
        "--model",
        choices=("pipeline", "bare"),
        default="pipeline",
        help="the practitioner's pipeline (default) or a bare LogisticRegression on the "
        "transformed array (as bench_forcing.py)",
    )
    ap.add_argument("--shared", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--worker-src", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--worker-rows", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker_rows is not None:
        return worker(args)

    with threadpool_limits(args.threads):
        X, y, X_test, model, fit_time = build_problem(args.model)
        n_params = model[-1].coef_.size + 1 if args.model == "pipeline" else model.coef_.size + 1
        what = "pipeline" if args.model == "pipeline" else "bare LogisticRegression"
        print(
            f"Adult (load_adult): n = {len(y)}, one-hot + scaling -> "
            f"LogisticRegression(tol=1e-8), {n_params} parameters ({what}); threads = "
            f"{args.threads}; one fit: {fit_time:.2f} s; fairlearn_divine from "
            f"{os.path.dirname(fairlearn_divine.__file__)}"
        )
        order, conf = candidates(model, X_test, args.max_confidence, args.seed)
        baseline = None
        if args.baseline_src is not None:
            baseline = Baseline(args.baseline_src, args.threads, args.model)
        headline, skipped, results, base = [], [], {}, {}
        print("\n== minimal_forcing_subset (Newton updates, verified by refits), this code ==")
        head = f"{'test row':>8} {'conf':>5} {'|S|':>4} {'verified':>8} {'refits':>6} {'time':>7}"
        if baseline is not None:
            head += f" {'before':>7} {'ratio':>6} {'same S':>6}"
        print(head)
        for row in order[: args.max_candidates]:
            row = int(row)
            r, dt = timed_subset(model, X, y, X_test, row)
            ok = r.flipped and r.verified and r.size <= args.max_size
            line = (
                f"{row:>8d} {conf[row]:>5.3f} {r.size:>4d} {str(r.flipped and r.verified):>8} "
                f"{r.n_refits:>6d} {dt:>6.2f}s"
            )
            if ok and baseline is not None:  # the same point by the old code, right after
                b = base[row] = baseline.run(row)
                same = b["indices"] == np.asarray(r.indices).tolist() and b["flipped"]
                line += f" {b['time']:>6.2f}s {b['time'] / dt:>5.1f}x {str(same):>6}"
            if not ok:
                line += "  (skipped: " + ("|S| > max" if r.flipped else r.message) + ")"
            print(line, flush=True)
            (headline if ok else skipped).append(row)
            results[row] = (r, dt)
            if len(headline) == args.n_points:
                break
        if baseline is not None:
            baseline.close()
        times = np.array([results[row][1] for row in headline])
        print(
            f"\nheadline: {len(headline)} verified subsets with |S| <= {args.max_size} "
            f"(sizes {min(results[r][0].size for r in headline)}-"
            f"{max(results[r][0].size for r in headline)}); median {np.median(times):.2f} s, "
            f"mean {times.mean():.2f} s, max {times.max():.2f} s per subset "
            f"(target: median < 5 s on one core); {len(skipped)} skipped"
        )

        if args.check:
            print("\n== independent cold clone(model).fit without S and without S[:-1] ==")
            bad = 0
            for row in headline:
                r = results[row][0]
                flips, minimal = independent_check(model, X, y, X_test.iloc[[row]], r.indices)
                bad += not (flips and minimal)
                print(f"{row:>8d} |S|={r.size:>3d} flips={flips} prefix-minimal={minimal}")
            print(f"{len(headline) - bad}/{len(headline)} confirmed")

        if args.shared:
            from fairlearn_divine import minimal_forcing_subsets

            t = time.perf_counter()
            many = minimal_forcing_subsets(model, X, y, X_test.iloc[headline], n_jobs=1)
            dt = time.perf_counter() - t
            same = all(
                np.array_equal(m.indices, results[row][0].indices)
                and m.flipped == results[row][0].flipped
                for m, row in zip(many, headline, strict=True)
            )
            print(
                f"\n== minimal_forcing_subsets on the {len(headline)} points (n_jobs=1, shared "
                f"view and factorisation) ==\ntotal {dt:.2f} s ({dt / len(headline):.2f} s per "
                f"point) vs {times.sum():.2f} s for separate calls; same subsets: {same}"
            )

        if args.profile:
            row = headline[int(np.argsort(times)[len(times) // 2])]
            prof = cProfile.Profile()
            prof.enable()
            minimal_forcing_subset(model, X, y, X_test.iloc[[row]])
            prof.disable()
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(30)
            print(f"\n== profile: minimal_forcing_subset on test row {row} ==")
            print(s.getvalue())

    if base:
        before = np.array([base[row]["time"] for row in headline])
        same = sum(
            base[row]["indices"] == np.asarray(results[row][0].indices).tolist()
            for row in headline
        )
        print(
            f"\nbaseline ({args.baseline_src}, interleaved point by point): median "
            f"{np.median(before):.2f} s before vs {np.median(times):.2f} s now: "
            f"{np.median(before) / np.median(times):.1f}x; total {before.sum():.1f} s vs "
            f"{times.sum():.1f} s: {before.sum() / times.sum():.1f}x; same S for "
            f"{same}/{len(headline)} points"
        )


if __name__ == "__main__":
    main()
