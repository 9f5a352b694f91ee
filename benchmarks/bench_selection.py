"""Benchmark: DIVINE selection (``select_diverse``) time and peak memory, against apricot-select.

Every case runs in its **own subprocess**, so that peak memory of one case does not pollute the
next. In the child: the data are generated (seeded Gaussian, or a seeded mixture of 50
Gaussians), the call is warmed up on a tiny input (imports, numba JIT for apricot), then

* ``time``: best wall time of ``--repeats`` calls (``time.perf_counter``); ``CPU``: the
  smallest process CPU time (``time.process_time``) of those calls, which on a loaded machine
  with ``--threads 1`` is the better measure of the work done;
* ``dRSS``: the increase of the process's peak resident set size (``ru_maxrss``) over its value
  just before the timed calls, i.e. the peak memory the call adds on top of the data;
* ``traced``: the ``tracemalloc`` peak of one further call (Python and numpy allocations; numba's
  own allocations are not traced, so for apricot ``dRSS`` is the number to read).

Peers: apricot-select 0.6.1 (``FacilityLocationSelection``, ``SumRedundancySelection``). If
apricot imports in this interpreter it runs here (still one subprocess per case); otherwise in
the interpreter of ``--apricot-python`` (default ``/tmp/apvenv/bin/python`` or
``/tmp/venv-apricot/bin/python``, the first that exists), on
the same data: the child regenerates them with the same ``numpy.random.default_rng`` seed, so
the inputs are bit-identical. The child of a peer never imports fairlearn_divine.

Cases (m = 20, d = 20):

* (a) sum-redundancy, default gamma sweep, ``select_diverse(scores, X, 20, random_state=0)`` at
  n = 100_000 (target < 2 s, < 1 GB); apricot cannot run at 100_000 (it builds the n x n
  similarity: 80 GB in float64), so both also run at n = 20_000, ours with the sweep and with
  one float gamma.
* (b) facility location, ``select_diverse(scores, X, 20, diversity="facility_location",
  gamma=1.0, strategy="lazy")`` vs ``FacilityLocationSelection(20, metric="euclidean",
  optimizer="lazy")`` at n = 20_000, on Gaussian and on clustered data (target: at most 1/3
  of apricot's CPU time, <= 0.6 GB; the picks are plain greedy's, see
  tests/_selection/test_facility.py).
* (c) MMD at n = 20_000, float gamma and the default sweep (time and memory).
* check: at n = 2_000, the facility-location selection with zero scores (pure R_FL, RBF kernel
  of a fixed bandwidth) against apricot's on the same precomputed RBF kernel: the picks must
  agree.

Usage: ``python benchmarks/bench_selection.py [--repeats R] [--cases a,b,c,check]
[--apricot-python PATH | --no-apricot] [--threads T]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
APRICOT_PYTHONS = ("/tmp/apvenv/bin/python", "/tmp/venv-apricot/bin/python")
M = 20
D = 20
SEED = 0
CHECK_N = 2_000
CHECK_BANDWIDTH = 5.0


# ---------------------------------------------------------------------------------------------
# data (identical in every interpreter: numpy's PCG64 stream is stable across versions)


def make_data(n, d, kind, seed=SEED):
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        X = rng.standard_normal((n, d))
    elif kind == "clustered":
        centers = 4.0 * rng.standard_normal((50, d))
        labels = rng.integers(50, size=n)
        X = centers[labels] + rng.standard_normal((n, d))
    else:
        raise ValueError(kind)
    scores = rng.standard_normal(n)
    return X, scores


# ---------------------------------------------------------------------------------------------
# the calls (run in a child process)


def _ours(spec):
    sys.path.insert(0, ROOT)  # benchmark the working tree's fairlearn_divine
    from fairlearn_divine import select_diverse

    kw = dict(spec["kwargs"])

    def call(scores, X):
        return select_diverse(scores, X, M, **kw).indices

    return call


def _apricot(spec):
    import apricot

    cls = getattr(apricot, spec["selector"])
    kw = dict(spec["kwargs"])

    def call(scores, X):
        if kw.get("metric") == "precomputed":
            sq = np.einsum("ij,ij->i", X, X)
            D2 = np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0)
            K = np.exp(-D2 / (2 * CHECK_BANDWIDTH**2))
            return np.asarray(cls(M, **kw).fit(K).ranking)
        return np.asarray(cls(M, **kw).fit(X).ranking)

    return call


def _maxrss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def child(spec):
    if spec.get("threads"):
        from threadpoolctl import threadpool_limits

        threadpool_limits(spec["threads"])
    call = (_ours if spec["impl"] == "ours" else _apricot)(spec)
    warm_X, warm_s = make_data(200, spec["d"], spec["data"], seed=1)
    call(warm_s, warm_X)  # imports, numba JIT
    X, scores = make_data(spec["n"], spec["d"], spec["data"])
    if spec.get("zero_scores"):
        scores = np.zeros_like(scores)
    rss0 = _maxrss_mb()
    times, cpus = [], []
    for _ in range(spec["repeats"]):
        c0, t0 = time.process_time(), time.perf_counter()
        idx = call(scores, X)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    rss1 = _maxrss_mb()
    traced = None
    if spec.get("trace", True):
        import tracemalloc

        tracemalloc.start()
        call(scores, X)
        traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    out = {
        "time": min(times),
        "times": times,
        "cpu": min(cpus),
        "rss_before_mb": rss0,
        "rss_peak_mb": rss1,
        "drss_mb": rss1 - rss0,
        "traced_mb": traced,
        "indices": [int(i) for i in idx],
    }
    print("RESULT " + json.dumps(out))


# ---------------------------------------------------------------------------------------------
# parent


def run_child(python, spec, timeout=3600):
    cmd = [python, os.path.abspath(__file__), "--child", json.dumps(spec)]
    env = dict(os.environ)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"error": " | ".join(tail) or f"exit code {proc.returncode}"}


def apricot_here():
    try:
        import apricot  # noqa: F401
    except ImportError:
        return False
    return True


def build_cases(selected):
    cases = []

    def ours(label, n, data, **kwargs):
        return {"label": label, "impl": "ours", "n": n, "d": D, "data": data, "kwargs": kwargs}

    def peer(label, n, data, selector, **kwargs):
        return {
            "label": label,
            "impl": "apricot",
            "n": n,
            "d": D,
            "data": data,
            "selector": selector,
            "kwargs": kwargs,
        }

    if "a" in selected:
        cases.append(
            (
                "a",
                ours("SR, gamma sweep, n=100k", 100_000, "gaussian", random_state=0),
                None,
                "apricot SumRedundancySelection not run at n=100_000: it builds the n x n "
                "similarity matrix (80 GB in float64).",
            )
        )
        cases.append(
            (
                "a",
                ours("SR, gamma sweep, n=20k", 20_000, "gaussian", random_state=0),
                peer(
                    "apricot SR (two-stage)",
                    20_000,
                    "gaussian",
                    "SumRedundancySelection",
                    metric="euclidean",
                ),
                None,
            )
        )
        cases.append(
            (
                "a",
                ours("SR, gamma=1.0, n=20k", 20_000, "gaussian", gamma=1.0, random_state=0),
                peer(
                    "apricot SR (two-stage)",
                    20_000,
                    "gaussian",
                    "SumRedundancySelection",
                    metric="euclidean",
                ),
                None,
            )
        )
    if "b" in selected:
        for data in ("gaussian", "clustered"):
            cases.append(
                (
                    "b",
                    ours(
                        f"FL lazy, gamma=1.0, n=20k, {data}",
                        20_000,
                        data,
                        diversity="facility_location",
                        gamma=1.0,
                        strategy="lazy",
                    ),
                    peer(
                        "apricot FL (lazy)",
                        20_000,
                        data,
                        "FacilityLocationSelection",
                        metric="euclidean",
                        optimizer="lazy",
                    ),
                    None,
                )
            )
    if "c" in selected:
        cases.append(
            (
                "c",
                ours("MMD, gamma=1.0, n=20k", 20_000, "gaussian", diversity="mmd", gamma=1.0),
                None,
                None,
            )
        )
        cases.append(
            (
                "c",
                ours(
                    "MMD, gamma sweep, n=20k", 20_000, "gaussian", diversity="mmd", random_state=0
                ),
                None,
                None,
            )
        )
    if "check" in selected:
        # apricot has no modular term: ours runs with zero scores, i.e. pure R_FL
        mine = ours(
            "check: pure FL, RBF sigma=5, n=2k",
            CHECK_N,
            "gaussian",
            diversity="facility_location",
            gamma=1.0,
            bandwidth=CHECK_BANDWIDTH,
            strategy="lazy",
        )
        mine["zero_scores"] = True
        cases.append(
            (
                "check",
                mine,
                peer(
                    "apricot FL, precomputed RBF",
                    CHECK_N,
                    "gaussian",
                    "FacilityLocationSelection",
                    metric="precomputed",
                    optimizer="lazy",
                ),
                None,
            )
        )
    return cases


def fmt_mb(x):
    return "-" if x is None else f"{x:,.0f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cases", default="a,b,c,check")
    p.add_argument("--apricot-python", default=None)
    p.add_argument("--no-apricot", action="store_true")
    p.add_argument("--threads", type=int, default=None, help="cap BLAS threads (threadpoolctl)")
    args = p.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return

    ours_python = sys.executable
    if args.no_apricot:
        peer_python = None
    elif apricot_here():
        peer_python = sys.executable
    else:
        peer_python = args.apricot_python or next(
            (p for p in APRICOT_PYTHONS if os.path.exists(p)), None
        )
    import platform

    import numpy

    print(
        f"python {platform.python_version()}, numpy {numpy.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"apricot: {peer_python or 'not available'}; repeats={args.repeats}; "
        f"threads={args.threads or 'default'}; m={M}, d={D}"
    )
    rows = []
    notes = []
    selected = {c.strip() for c in args.cases.split(",")}
    for case, spec, peer_spec, note in build_cases(selected):
        for s in (spec, peer_spec):
            if s is not None:
                s["repeats"] = args.repeats if case != "check" else 1
                s["threads"] = args.threads
        r = run_child(ours_python, spec)
        rp = None
        if peer_spec is not None and peer_python is not None:
            rp = run_child(peer_python, peer_spec)
        rows.append((case, spec, r, peer_spec, rp))
        if note:
            notes.append(note)
        _print_row(case, spec, r, peer_spec, rp)
    print()
    print(
        "| case | ours | time (s) | CPU (s) | dRSS (MB) | traced (MB) | peer | peer time (s) | "
        "peer CPU (s) | peer dRSS (MB) | peer / ours time | peer / ours CPU | "
        "peer / ours dRSS |"
    )
    print(
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for case, spec, r, peer_spec, rp in rows:
        ok = "error" not in r
        t, c = (f"{r['time']:.3f}", f"{r['cpu']:.3f}") if ok else ("error", "-")
        if rp is not None and "error" not in rp:
            peer = (
                peer_spec["label"],
                f"{rp['time']:.3f}",
                f"{rp['cpu']:.3f}",
                fmt_mb(rp["drss_mb"]),
                f"{rp['time'] / r['time']:.2f}x" if ok else "-",
                f"{rp['cpu'] / r['cpu']:.2f}x" if ok else "-",
                f"{rp['drss_mb'] / max(r['drss_mb'], 1.0):.0f}x" if ok else "-",
            )
        elif rp is not None:
            peer = (peer_spec["label"], "error", "-", "-", "-", "-", "-")
        else:
            peer = ("-",) * 7
        print(
            f"| {case} | {spec['label']} | {t} | {c} | {fmt_mb(r.get('drss_mb'))} | "
            f"{fmt_mb(r.get('traced_mb'))} | " + " | ".join(peer) + " |"
        )
    for case, _spec, r, _peer_spec, rp in rows:
        if case == "check" and rp is not None and "error" not in rp and "error" not in r:
            same = r["indices"] == rp["indices"]
            print(
                f"\ncheck: pure facility location, n={CHECK_N}: fairlearn_divine and apricot "
                f"picks {'AGREE' if same else 'DIFFER'}"
            )
            if not same:
                print("  ours   ", r["indices"])
                print("  apricot", rp["indices"])
    for note in notes:
        print("note:", note)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def _print_row(case, spec, r, peer_spec, rp):
    if "error" in r:
        print(f"[{case}] {spec['label']}: ERROR {r['error']}")
    else:
        print(
            f"[{case}] {spec['label']}: best {r['time']:.3f} s, CPU {r['cpu']:.3f} s (all: "
            f"{', '.join(f'{t:.2f}' for t in r['times'])}), dRSS {r['drss_mb']:.0f} MB, "
            f"peak RSS {r['rss_peak_mb']:.0f} MB, traced {fmt_mb(r['traced_mb'])} MB"
        )
    if rp is not None:
        if "error" in rp:
            print(f"      {peer_spec['label']}: ERROR {rp['error']}")
        else:
            print(
                f"      {peer_spec['label']}: best {rp['time']:.3f} s, CPU {rp['cpu']:.3f} s, "
                f"dRSS {rp['drss_mb']:.0f} MB, peak RSS {rp['rss_peak_mb']:.0f} MB, "
                f"traced {fmt_mb(rp['traced_mb'])} MB"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
