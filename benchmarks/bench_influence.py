"""Benchmark: fairlearn_divine's influence scores against a minimal numpy closed form.

Problem: binary ``LogisticRegression(C, tol=1e-8, max_iter=100_000)`` on ``n`` Gaussian points
with ``d`` features (seeded), a binary sensitive feature; evaluation set = training set.

Rows of the table (best wall time of ``--repeats`` calls, ``time.perf_counter``):

* ``numpy floor``: the closed form of ``_problem.floor_influence`` (p, H with ``Xt = [X, 1]``,
  g, Cholesky solve, scores) -- the reference for the ratio targets;
* ``numpy floor (tight)``: the same numbers without the ``[X, 1]`` copy and with a syrk for
  ``H`` -- what a fully optimised implementation could reach; information only;
* ``package, 1 objective``: ``training_point_importance(model, X, y, method="influence",
  objective="log_loss")`` (input validation, optimality check and all);
* ``package, 5 objectives``: the same with ``objective=[log_loss, zero_one_loss,
  equal_accuracy, equal_opportunity, demographic_parity]`` and the sensitive feature;
* ``pyDVL DirectInfluence``: when pyDVL is importable here, or run from its own venv with
  ``--pydvl-python``; see bench_pydvl_influence.py.

Targets: package 1 objective <= 1.5x the floor; 5 objectives <= 2x 1 objective.

Usage: ``python benchmarks/bench_influence.py [--n N] [--d D] [--repeats R] [--profile]
[--pydvl-python PATH] [--pydvl-n N]``.
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
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(1, ROOT)  # benchmark the working tree's fairlearn_divine, installed or not
from _problem import (  # noqa: E402
    C_DEFAULT,
    best_of,
    blas_info,
    fit_model,
    floor_influence,
    floor_influence_tight,
    interleaved_best,
    load_average,
    make_problem,
)

OBJECTIVES = [
    "log_loss",
    "zero_one_loss",
    "equal_accuracy",
    "equal_opportunity",
    "demographic_parity",
]
TARGET_FLOOR = 1.5
TARGET_MULTI = 2.0


def _profile(fn, label, top=25):
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(top)
        print(f"\n--- cProfile: {label}, sorted by {key} ---")
        # drop pstats' preamble lines, keep the table
        lines = buf.getvalue().splitlines()
        start = next((i for i, s in enumerate(lines) if "ncalls" in s), 0)
        print("\n".join(lines[start:]))


def _run_pydvl_subprocess(python, n, d, repeats, seed, C, threads):
    cmd = [
        python,
        os.path.join(HERE, "bench_pydvl_influence.py"),
        "--n",
        str(n),
        "--d",
        str(d),
        "--repeats",
        str(repeats),
        "--seed",
        str(seed),
        "--C",
        str(C),
        "--json",
    ]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    print(f"running pyDVL in its own interpreter: {' '.join(cmd)}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"pyDVL run failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        return None
    last = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
    return json.loads(last)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="training points")
    parser.add_argument("--d", type=int, default=100, help="features")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many calls")
    parser.add_argument("--C", type=float, default=C_DEFAULT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile one package call (1 and 5 objectives) after timing",
    )
    parser.add_argument(
        "--pydvl-python",
        default=None,
        help="python of a venv with pyDVL + torch (see benchmarks/README.md)",
    )
    parser.add_argument(
        "--pydvl-n", type=int, default=None, help="n for the pyDVL run (default: --n)"
    )
    parser.add_argument("--no-pydvl", action="store_true")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="cap BLAS/OpenMP threads (threadpoolctl); default: leave as is",
    )
    args = parser.parse_args(argv)

    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)

    import fairlearn_divine
    from fairlearn_divine import training_point_importance

    print("\n".join(blas_info()))
    print(
        f"fairlearn_divine {getattr(fairlearn_divine, '__version__', '?')} from "
        f"{os.path.dirname(fairlearn_divine.__file__)}"
    )
    print(f"n={args.n}, d={args.d}, C={args.C}, best of {args.repeats}")

    X, y, s = make_problem(args.n, args.d, args.seed)
    t0 = time.perf_counter()
    model = fit_model(X, y, args.C)
    print(
        f"LogisticRegression fit: {time.perf_counter() - t0:.2f} s, "
        f"n_iter={int(np.ravel(model.n_iter_)[0])}"
    )
    coef, b, C = model.coef_, float(model.intercept_[0]), args.C

    caught = []

    def pkg1():
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            res = training_point_importance(model, X, y, method="influence", objective="log_loss")
        caught.extend(w)
        return res

    def pkg5():
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            res = training_point_importance(
                model, X, y, method="influence", objective=OBJECTIVES, sensitive_features=s
            )
        caught.extend(w)
        return res

    contenders = {
        "numpy floor": lambda: floor_influence(X, y, coef, b, C),
        "numpy floor (tight, info)": lambda: floor_influence_tight(X, y, coef, b, C),
        "package, 1 objective": pkg1,
        "package, 5 objectives": pkg5,
    }
    print(f"before timing: {load_average()}")
    times, outs = interleaved_best(contenders, args.repeats)
    print(f"after timing:  {load_average()}")
    rows = list(times.items())
    t_floor, t_pkg1, t_pkg5 = (
        times["numpy floor"],
        times["package, 1 objective"],
        times["package, 5 objectives"],
    )
    floor, tight = outs["numpy floor"], outs["numpy floor (tight, info)"]
    res1, res5 = outs["package, 1 objective"], outs["package, 5 objectives"]

    pydvl = None
    if not args.no_pydvl:
        from bench_pydvl_influence import pydvl_available, run_pydvl_benchmark

        n_p = args.pydvl_n or args.n
        if pydvl_available():
            Xp, yp = X, y
            mp = model
            if n_p != args.n:
                Xp, yp, _ = make_problem(n_p, args.d, args.seed)
                mp = fit_model(Xp, yp, C)
            fl_p = (
                floor
                if n_p == args.n
                else floor_influence(Xp, yp, mp.coef_, float(mp.intercept_[0]), C)
            )
            t_fl_p = (
                t_floor
                if n_p == args.n
                else best_of(
                    lambda: floor_influence(Xp, yp, mp.coef_, float(mp.intercept_[0]), C),
                    args.repeats,
                )[0]
            )
            t_p, stages, sc = run_pydvl_benchmark(Xp, yp, mp, C, args.repeats)
            d_abs = float(np.max(np.abs(sc - fl_p)))
            pydvl = {
                "n": n_p,
                "t_pydvl": t_p,
                "t_floor_here": t_fl_p,
                "stages": stages,
                "max_abs_diff": d_abs,
                "rel_diff": d_abs / float(np.max(np.abs(fl_p))),
                "where": "in-process",
            }
        elif args.pydvl_python:
            pydvl = _run_pydvl_subprocess(
                args.pydvl_python, n_p, args.d, args.repeats, args.seed, C, args.threads
            )
            if pydvl is not None:
                pydvl["where"] = f"subprocess ({args.pydvl_python})"
                pydvl["t_floor_here"] = t_floor if n_p == args.n else None
        else:
            print("pyDVL not importable here and no --pydvl-python given: skipped.")

    # ----- checks -----
    diff1 = float(np.max(np.abs(res1.scores - floor)))
    scale = float(np.max(np.abs(floor)))
    diff5 = float(np.max(np.abs(res5.scores[0] - res1.scores)))
    diff_tight = float(np.max(np.abs(tight - floor)))
    print(
        f"\noptimality (scaled gradient norm) = {res1.optimality:.3g}, "
        f"condition number = {res1.condition_number:.3g}"
    )
    print(
        f"max |package - floor|              = {diff1:.3g}  "
        f"(relative to max |floor| {scale:.3g}: {diff1 / scale:.3g})"
    )
    print(f"max |package 5-obj row 0 - 1-obj|  = {diff5:.3g}")
    print(f"max |tight floor - floor|          = {diff_tight:.3g}")
    if caught:
        kinds = sorted({f"{w.category.__name__}: {str(w.message)[:100]}" for w in caught})
        print("warnings raised by the package:\n  " + "\n  ".join(kinds))

    # ----- table -----
    print(f"\n{'':<30}{'time (s)':>10}{'/ floor':>10}{'/ 1-obj':>10}")
    for label, t in rows:
        print(f"{label:<30}{t:>10.4f}{t / t_floor:>10.2f}{t / t_pkg1:>10.2f}")
    if pydvl is not None:
        t_p = pydvl["t_pydvl"]
        label = f"pyDVL DirectInfluence (n={pydvl['n']})"
        if pydvl["n"] == args.n:
            print(f"{label:<30}{t_p:>10.4f}{t_p / t_floor:>10.2f}{t_p / t_pkg1:>10.2f}")
        else:
            print(f"{label:<30}{t_p:>10.4f}{'-':>10}{'-':>10}  (other n: see below)")
        stages = ", ".join(f"{k} {v:.3f} s" for k, v in pydvl["stages"].items())
        print(f"  pyDVL stages: {stages}")
        fl_own = pydvl.get("t_floor") or pydvl.get("t_floor_here")
        if fl_own:
            np_p = pydvl.get("numpy_version", np.__version__)
            print(
                f"  numpy floor in pyDVL's process (numpy {np_p}, n={pydvl['n']}): "
                f"{fl_own:.4f} s -> pyDVL / that floor = {t_p / fl_own:.2f}x"
            )
        print(
            f"  pyDVL ({pydvl['where']}): max |pyDVL/n - floor| = {pydvl['max_abs_diff']:.3g} "
            f"(relative {pydvl['rel_diff']:.3g}; pyDVL regularises the intercept too)"
        )
        if "blas" in pydvl:
            print("  pyDVL process: " + "; ".join(ln.strip() for ln in pydvl["blas"][6:]))
            print(f"  torch {pydvl.get('torch_version')}, {pydvl.get('torch_threads')} threads")

    r1, r5 = t_pkg1 / t_floor, t_pkg5 / t_pkg1
    print(
        f"\npackage 1-objective / floor    = {r1:.2f}x  (target <= {TARGET_FLOOR}x: "
        f"{'OK' if r1 <= TARGET_FLOOR else 'MISSED'})"
    )
    print(
        f"package 5-objective / 1-obj    = {r5:.2f}x  (target <= {TARGET_MULTI}x: "
        f"{'OK' if r5 <= TARGET_MULTI else 'MISSED'})"
    )

    if args.profile:
        _profile(pkg1, "package, 1 objective")
        _profile(pkg5, "package, 5 objectives")


if __name__ == "__main__":
    main()
