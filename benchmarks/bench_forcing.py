"""Benchmark: minimal forcing subsets (MFS) on an Adult-size logistic regression (MFS Table I).

Problem: UCI Adult training file (``load_adult``, 32,561 rows). A ``ColumnTransformer``
(one-hot for the categorical attributes, missing values as their own category; standardised
numeric attributes) is fitted once, outside every timing, and the estimator is a plain
``LogisticRegression(tol=1e-8, max_iter=5000)`` on the transformed dense array (about 100
parameters). Targets are rows of ``adult.test``: the ``--n-boundary`` test points with
confidence spread over 0.52-0.60 ("boundary") and ``--n-confident`` points spread over confidences
0.75-0.95 ("confident").

Rows:

* ``mfs newton (verified)``: ``minimal_forcing_subset(model, X, y, x)`` with the defaults
  (``update="newton"``, closed-form KKT step, ``verify=True``); target < 1 s per point;
* ``mfs retrain (verified)``: ``update="retrain"`` (an exact refit per removed point), on the
  first ``--retrain-points`` boundary points (``--retrain-max-size`` caps the subset);
* ``step: closed form / CLARABEL / OSQP``: the first ``--step-max-size`` steps of the same
  search (first boundary and last confident target) with ``verify=False`` and
  ``solver=None`` / ``"CLARABEL"`` / ``"OSQP"``: wall time per step and the agreement of the
  selected indices with the closed form (same sequence; length of the common prefix);
* ``greedy exact LOO``: a brute-force baseline. At each step, refit without each candidate
  and remove the one whose removal lowers p(c0 | x) the most, until a refit flips the
  prediction. Candidates are restricted to the top ``--loo-candidates`` (default 50) points by
  influence on the log loss of the predicted class at x (recomputed on the current model at
  every step), so each step costs 50 warm-started refits instead of ~32,000; at most
  ``--loo-max-steps`` steps, on ``--loo-points`` boundary points.

BLAS/OpenMP pools are capped at ``--threads`` (default 1: the benchmark machine is shared, and
multi-threaded OpenBLAS under contention made scipy's L-BFGS-B ~40x slower in our runs).

Usage: ``FAIRLEARN_DIVINE_DATA=../shared/data python benchmarks/bench_forcing.py
[--n-boundary 3] [--n-confident 3] [--threads 1] [--loo-points 2] [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
import warnings

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from fairlearn_divine import minimal_forcing_subset, training_point_importance  # noqa: E402
from fairlearn_divine.datasets import load_adult  # noqa: E402


def build_problem():
    data = load_adult()
    categorical = [c for c in data.X.columns if not pd.api.types.is_numeric_dtype(data.X[c].dtype)]
    numeric = [c for c in data.X.columns if c not in categorical]
    pre = ColumnTransformer(
        [
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                categorical,
            ),
            ("num", StandardScaler(), numeric),
        ]
    )
    X = pre.fit_transform(data.X)
    X_test = pre.transform(data.X_test)
    y = np.asarray(data.y)
    t = time.perf_counter()
    model = LogisticRegression(tol=1e-8, max_iter=5000).fit(X, y)
    fit_time = time.perf_counter() - t
    return X, y, X_test, model, fit_time


def pick_targets(model, X_test, n_boundary, n_confident):
    p = model.predict_proba(X_test)[:, 1]
    conf = np.maximum(p, 1 - p)
    near = np.flatnonzero((conf > 0.52) & (conf < 0.6))
    near = near[np.argsort(conf[near], kind="stable")]
    boundary = near[np.linspace(0, len(near) - 1, n_boundary).round().astype(int)]
    mid = np.flatnonzero((conf > 0.75) & (conf < 0.95))
    mid = mid[np.argsort(conf[mid], kind="stable")]
    confident = mid[np.linspace(0, len(mid) - 1, n_confident).round().astype(int)]
    return boundary, confident, conf


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def _refit(model, X, y, keep):
    m = LogisticRegression(**{**model.get_params(), "warm_start": True})
    m.coef_, m.intercept_, m.classes_ = model.coef_.copy(), model.intercept_.copy(), model.classes_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return m.fit(X[keep], y[keep])


def greedy_exact_loo(model, X, y, x, n_candidates=50, max_steps=40):
    """Greedy brute force: remove the candidate whose exact removal lowers p(c0|x) most."""
    c0 = int(model.predict(x[None])[0])
    keep = np.ones(len(y), dtype=bool)
    current = model
    removed, n_refits = [], 0
    for _ in range(max_steps):
        idx = np.flatnonzero(keep)
        inf = training_point_importance(
            current, X[keep], y[keep], X_eval=x[None], y_eval=np.array([c0])
        )
        # scores = loss(without i) - loss: the largest scores support c0 the most
        candidates = idx[np.argsort(-inf.scores, kind="stable")[:n_candidates]]
        best, best_p, best_model = None, np.inf, None
        for i in candidates:
            trial = keep.copy()
            trial[i] = False
            m = _refit(current, X, y, trial)
            n_refits += 1
            p = m.predict_proba(x[None])[0, c0]
            if p < best_p:
                best, best_p, best_model = i, p, m
        keep[best] = False
        removed.append(int(best))
        current = best_model
        if best_p < 0.5:
            return removed, True, n_refits
    return removed, False, n_refits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-boundary", type=int, default=3)
    ap.add_argument("--n-confident", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--retrain-max-size", type=int, default=30)
    ap.add_argument("--retrain-points", type=int, default=1)
    ap.add_argument("--step-max-size", type=int, default=20)
    ap.add_argument("--loo-points", type=int, default=1)
    ap.add_argument("--loo-max-steps", type=int, default=10)
    ap.add_argument("--loo-candidates", type=int, default=50)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument(
        "--sections",
        default="newton,retrain,step,loo",
        help="comma-separated subset of newton,retrain,step,loo",
    )
    args = ap.parse_args()

    with threadpool_limits(args.threads):
        X, y, X_test, model, fit_time = build_problem()
        n, p = X.shape
        print(
            f"Adult: n = {n}, {p} features after one-hot + scaling ({p + 1} parameters); "
            f"threads = {args.threads}; one LogisticRegression fit: {fit_time:.2f} s"
        )
        boundary, confident, conf = pick_targets(model, X_test, args.n_boundary, args.n_confident)
        targets = [("boundary", t) for t in boundary] + [("confident", t) for t in confident]

        sections = set(args.sections.split(","))
        newton = {}
        if "newton" not in sections:  # the other sections compare with these runs
            targets_run = [(k, t) for k, t in targets if t in boundary[:1]]
        else:
            targets_run = targets
        print("\n== MFS, newton updates, closed-form step, verified by refits ==")
        print(
            f"{'kind':>9} {'test row':>8} {'conf':>5} {'|S|':>4} {'flipped':>7} "
            f"{'steps':>5} {'refits':>6} {'time':>7}"
        )
        for kind, t in targets_run:
            r, dt = timed(minimal_forcing_subset, model, X, y, X_test[t])
            newton[t] = (r, dt)
            print(
                f"{kind:>9} {t:>8d} {conf[t]:>5.3f} {r.size:>4d} {str(r.flipped):>7} "
                f"{len(r.trace):>5d} {r.n_refits:>6d} {dt:>6.2f}s"
            )
        times = np.array([dt for _, dt in newton.values()])
        print(f"mean {times.mean():.2f} s, max {times.max():.2f} s per point (target < 1 s)")

        print("\n== MFS, retrain updates (exact refit per removal), verified ==")
        print(
            f"{'test row':>8} {'|S| retrain':>11} {'|S| newton':>10} {'flipped':>7} "
            f"{'refits':>6} {'time':>7} {'vs newton':>9}"
        )
        for t in boundary[: args.retrain_points] if "retrain" in sections else []:
            r, dt = timed(
                minimal_forcing_subset,
                model,
                X,
                y,
                X_test[t],
                update="retrain",
                max_size=args.retrain_max_size,
            )
            rn, dtn = newton[t]
            print(
                f"{t:>8d} {r.size:>11d} {rn.size:>10d} {str(r.flipped):>7} {r.n_refits:>6d} "
                f"{dt:>6.2f}s {dt / dtn:>8.1f}x"
            )

        print("\n== the constrained step: closed form vs cvxpy (verify=False, newton) ==")
        print(
            f"{'test row':>8} {'solver':>9} {'steps':>5} {'ms/step':>8} {'ratio':>6} "
            f"{'same S':>6} {'common prefix':>13}"
        )
        for _, t in (targets[:1] + targets[-1:]) if "step" in sections else []:
            ref, dt_ref = timed(
                minimal_forcing_subset,
                model,
                X,
                y,
                X_test[t],
                verify=False,
                max_size=args.step_max_size,
            )
            per_ref = dt_ref / max(len(ref.trace), 1)
            print(
                f"{t:>8d} {'None':>9} {len(ref.trace):>5d} {1e3 * per_ref:>8.1f} "
                f"{1.0:>6.1f} {'-':>6} {'-':>13}"
            )
            for solver in ("CLARABEL", "OSQP"):
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        r, dt = timed(
                            minimal_forcing_subset,
                            model,
                            X,
                            y,
                            X_test[t],
                            verify=False,
                            solver=solver,
                            max_size=args.step_max_size,
                        )
                except RuntimeError as exc:
                    print(f"{t:>8d} {solver:>9} failed: {exc}")
                    continue
                for w in caught:
                    print(f"{'':>8} {solver:>9} warning: {str(w.message)[:80]}")
                per = dt / max(len(r.trace), 1)
                a, b = ref.indices.tolist(), r.indices.tolist()
                prefix = next(
                    (k for k, (u, v) in enumerate(zip(a, b, strict=False)) if u != v),
                    min(len(a), len(b)),
                )
                print(
                    f"{t:>8d} {solver:>9} {len(r.trace):>5d} {1e3 * per:>8.1f} "
                    f"{per / per_ref:>6.1f} {str(a == b):>6} {prefix:>6d}/{len(a):<6d}"
                )

        print(
            f"\n== greedy exact leave-one-out baseline (top-{args.loo_candidates} "
            "candidates by influence per step) =="
        )
        print(
            f"{'test row':>8} {'|S| greedy':>10} {'flipped':>7} {'refits':>6} {'time':>8} "
            f"{'s/step':>7} {'|S| MFS':>7} {'MFS time':>8} {'ratio':>7}"
        )
        for t in boundary[: args.loo_points] if "loo" in sections else []:
            (S, flipped, n_refits), dt = timed(
                greedy_exact_loo,
                model,
                X,
                y,
                X_test[t],
                n_candidates=args.loo_candidates,
                max_steps=args.loo_max_steps,
            )
            rn, dtn = newton[t]
            print(
                f"{t:>8d} {len(S):>10d} {str(flipped):>7} {n_refits:>6d} {dt:>7.1f}s "
                f"{dt / len(S):>6.1f}s {rn.size:>7d} {dtn:>7.2f}s {dt / dtn:>6.0f}x"
            )
            if not flipped:
                print(
                    f"  (stopped at --loo-max-steps={args.loo_max_steps}; reaching the MFS "
                    f"size would take about {dt / len(S) * rn.size:.0f} s)"
                )

        if args.profile:
            t = confident[0] if len(confident) else boundary[0]
            prof = cProfile.Profile()
            prof.enable()
            minimal_forcing_subset(model, X, y, X_test[t])
            prof.disable()
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(15)
            print(f"\n== profile: minimal_forcing_subset on test row {t} ==")
            print(s.getvalue())


if __name__ == "__main__":
    main()
