"""Data Banzhaf (maximum sample reuse): refits per second against pyDVL, and dask scaling.

Same data, same model, same number of subsets for every row; each row is one worker unless
it says otherwise, BLAS/OpenMP capped at one thread (``--threads``) for every row alike.

* **ours**: ``training_point_importance(model, X, y, method="data_banzhaf", X_eval=Xe,
  y_eval=ye, objective="log_loss", n_samples=m, convergence_tolerance=0, random_state=0)``,
  ``refit_solver="auto"`` (exact Newton refits for a bare LogisticRegression, the
  estimator's own ``fit`` otherwise) and, for LogisticRegression, also
  ``refit_solver="estimator"`` (``clone(model).fit`` on each subset, like pyDVL).
* **pyDVL**: ``MSRBanzhafValuation(ModelUtility(model, SupervisedScorer(neg_log_loss,
  test_data)), is_done=MaxSamples(sampler, m))`` with ``.fit(train_data)`` under
  ``joblib.parallel_config(n_jobs=1)``: pyDVL's MSR Banzhaf, in the same process (pyDVL 0.10
  pins numpy<2: run the script with the pyDVL venv's python, where fairlearn-divine is
  installed too; without pyDVL the rows are skipped). Its refits are counted by the scorer.
* **dask**: ours on a ``distributed.LocalCluster(n_workers=k, threads_per_worker=1,
  processes=True)`` under ``joblib.parallel_config(backend="dask")`` with ``n_jobs=k``, k = 2,
  against the serial run (the one-worker case: on a one-worker cluster joblib's dask backend
  reports one job, and the package then runs in this process), interleaved (the scores are
  identical, which the script checks). ``busy`` is the workers' compute time from dask's task
  stream over k times the wall time: near 1 means the workers never wait for work, so a
  speed-up below k comes from the CPUs they share with other processes, not from the dispatch.

Throughput = refits / wall time (best of ``--repeats``, rows interleaved so that load from
other processes hits all of them). The agreement of ours and pyDVL's values (different random
subsets) is reported as a Pearson correlation next to that of two of our runs with different
seeds (the noise floor at this m).

Run from the repository root::

    /tmp/venv-pydvl/bin/python benchmarks/bench_banzhaf.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import joblib
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from threadpoolctl import threadpool_limits

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)  # the checked-out fairlearn_divine
from _problem import load_average, make_problem  # noqa: E402

from fairlearn_divine import training_point_importance  # noqa: E402


def make_data(n, d, n_eval, seed):
    X, y, _ = make_problem(n + n_eval, d, seed=seed)
    return X[:n], y[:n], X[n:], y[n:]


MODELS = {
    "logistic": lambda: LogisticRegression(),
    "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(
        max_iter=20, max_leaf_nodes=15, early_stopping=False, random_state=0
    ),
}


def ours(model, X, y, Xe, ye, m, *, seed=0, n_jobs=None, **kw):
    def run():
        return training_point_importance(
            model,
            X,
            y,
            method="data_banzhaf",
            X_eval=Xe,
            y_eval=ye,
            n_samples=m,
            convergence_tolerance=0.0,
            random_state=seed,
            n_jobs=n_jobs,
            progress=False,
            **kw,
        )

    return run


def pydvl_available():
    try:
        from pydvl.valuation.methods.banzhaf import MSRBanzhafValuation  # noqa: F401
    except Exception:  # ImportError, or a broken install (numpy ABI)
        return False
    return True


def pydvl_runner(model, X, y, Xe, ye, m):
    """``run() -> (values, refits)`` of pyDVL's MSR Banzhaf on one worker."""
    from pydvl.valuation.dataset import Dataset
    from pydvl.valuation.methods.banzhaf import MSRBanzhafValuation
    from pydvl.valuation.scorers import SupervisedScorer
    from pydvl.valuation.stopping import MaxSamples
    from pydvl.valuation.utility import ModelUtility

    train, test = Dataset(X, y), Dataset(Xe, ye)
    calls = [0]

    def neg_log_loss(fitted, X_test, y_test):
        calls[0] += 1
        return -log_loss(y_test, fitted.predict_proba(X_test), labels=[0, 1])

    def run():
        calls[0] = 0
        utility = ModelUtility(model, SupervisedScorer(neg_log_loss, test, default=-36.0))
        valuation = MSRBanzhafValuation(utility, is_done=MaxSamples(None, m), seed=0)
        valuation.is_done = MaxSamples(valuation.sampler, m)
        with warnings.catch_warnings(), joblib.parallel_config(n_jobs=1):
            warnings.simplefilter("ignore")
            valuation.fit(train)
        # pyDVL's values are of the utility u = -log loss: u(with i) - u(without i), the
        # same sign as ours for the cost log loss
        return np.asarray(valuation.result.values, dtype=float), calls[0]

    return run


def pearson(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def interleaved(fns, repeats):
    best, out = {k: np.inf for k in fns}, {}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            out[k] = fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best, out


def bench_pydvl(args, data):
    X, y, Xe, ye = data
    print(f"\n## one worker: ours vs pyDVL (n={args.n}, d={args.d}, n_eval={args.n_eval})")
    have_pydvl = pydvl_available()
    if have_pydvl:
        import pydvl

        print(f"pyDVL {pydvl.__version__}, numpy {np.__version__}")
    else:
        print("pyDVL not importable here: its rows are skipped (see the module docstring)")
    print(
        f"{'model':<24}{'m':>6}{'row':>22}{'refits':>8}{'seconds':>10}{'refits/s':>10}"
        f"{'vs pyDVL':>10}"
    )
    for name, m in (("logistic", args.m_logistic), ("hist_gradient_boosting", args.m_hgb)):
        model = MODELS[name]().fit(X, y)
        fns = {"ours": ours(model, X, y, Xe, ye, m)}
        if name == "logistic":
            fns["ours (estimator fit)"] = ours(model, X, y, Xe, ye, m, refit_solver="estimator")
        if have_pydvl:
            fns["pyDVL MSR"] = pydvl_runner(model, X, y, Xe, ye, m)
        times, outs = interleaved(fns, args.repeats)
        refits = {
            k: (outs[k][1] if k == "pyDVL MSR" else outs[k].n_refits - 1) for k in fns
        }  # subset refits (ours: without the one full-data fit)
        rate = {k: refits[k] / times[k] for k in fns}
        for k in fns:
            ratio = rate[k] / rate["pyDVL MSR"] if have_pydvl else float("nan")
            print(
                f"{name:<24}{m:>6}{k:>22}{refits[k]:>8}{times[k]:>10.3f}{rate[k]:>10.1f}"
                f"{ratio:>9.2f}x"
            )
        other = ours(model, X, y, Xe, ye, m, seed=1)()
        line = f"  Pearson: ours seed 0 vs seed 1 {pearson(outs['ours'].scores, other.scores):.3f}"
        if have_pydvl:
            line += f", ours vs pyDVL {pearson(outs['ours'].scores, outs['pyDVL MSR'][0]):.3f}"
        print(line)


def dask_runner(client, run, k, busy):
    """``run`` on the dask cluster; appends the workers' busy fraction of the wall time."""
    import distributed

    def on_dask():
        with distributed.get_task_stream(client) as stream:
            t0 = time.perf_counter()
            out = run()
            wall = time.perf_counter() - t0
        compute = sum(
            s["stop"] - s["start"]
            for task in stream.data
            for s in task["startstops"]
            if s["action"] == "compute"
        )
        busy.append(compute / (k * wall))
        return out

    return on_dask


def bench_dask(args, data):
    import distributed

    X, y, Xe, ye = data
    print(f"\n## dask scaling (ours, n={args.n}, LocalCluster processes, 1 thread per worker)")
    print("serial and dask runs interleaved (best of --repeats each); busy = the workers' compute")
    print("time (dask task stream) / (workers x wall time)")
    print(
        f"{'model':<24}{'m':>6}{'workers':>8}{'serial s':>10}{'dask s':>9}{'refits/s':>10}"
        f"{'speed-up':>10}{'busy':>7}"
    )
    for name, m in (
        ("logistic", args.m_dask_logistic),
        ("hist_gradient_boosting", args.m_dask_hgb),
    ):
        model = MODELS[name]().fit(X, y)
        for k in (2,):  # on one worker joblib's dask backend reports 1 job: a serial run
            with (
                distributed.LocalCluster(
                    n_workers=k,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=40,
                ) as cluster,
                distributed.Client(cluster) as client,
                joblib.parallel_config(backend="dask"),
            ):
                ours(model, X, y, Xe, ye, 16, n_jobs=k)()  # warm the workers up
                busy = []
                on_dask = dask_runner(client, ours(model, X, y, Xe, ye, m, n_jobs=k), k, busy)
                times, outs = interleaved(
                    {"serial": ours(model, X, y, Xe, ye, m), "dask": on_dask}, args.repeats
                )
            serial, out = outs["serial"], outs["dask"]
            assert np.array_equal(out.scores, serial.scores), "dask result differs from serial"
            refits = serial.n_refits - 1
            t_s, t_d = times["serial"], times["dask"]
            print(
                f"{name:<24}{m:>6}{k:>8}{t_s:>10.3f}{t_d:>9.3f}{refits / t_d:>10.1f}"
                f"{t_s / t_d:>9.2f}x{max(busy):>7.2f}"
            )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--d", type=int, default=10)
    parser.add_argument("--n-eval", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--m-logistic", type=int, default=300, help="subsets, LogisticRegression")
    parser.add_argument("--m-hgb", type=int, default=64, help="subsets, HistGradientBoosting")
    parser.add_argument("--m-dask-logistic", type=int, default=8192)
    parser.add_argument("--m-dask-hgb", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads")
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--no-pydvl", action="store_true")
    args = parser.parse_args(argv)
    print(f"# bench_banzhaf: {load_average()}, cpus {os.cpu_count()}, threads {args.threads}")
    data = make_data(args.n, args.d, args.n_eval, args.seed)
    with threadpool_limits(args.threads):
        if not args.no_pydvl:
            bench_pydvl(args, data)
        if not args.no_dask:
            bench_dask(args, data)
    print(f"# done: {load_average()}")


if __name__ == "__main__":
    main()
