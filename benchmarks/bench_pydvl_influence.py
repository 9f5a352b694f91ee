"""pyDVL's direct influence on the benchmark problem, against the numpy floor (same process).

pyDVL (0.10.0) pins ``numpy<2`` and its influence module needs torch, so it cannot share an
environment with fairlearn-divine's numpy 2.x stack; run this script from its own venv (see
benchmarks/README.md). ``bench_influence.py --pydvl-python VENV/bin/python`` runs it for you
and puts its numbers in the same table; it is also imported in-process when pyDVL is importable
there.

What is timed (``pydvl total``):

1. ``DirectInfluence(model, loss, regularization=1/(C n)).fit(loader)``: the Hessian of the
   mean training loss by ``torch.func.hessian`` over mini-batches;
2. ``influence_factors`` on the evaluation set (= training set), in chunks, averaged:
   ``H^-1 grad f`` for f = mean log loss (averaging per-sample factors is the cheap way to get
   the factor of a mean; ``influences(x_test, y_test, x, y)`` would build the n x n matrix);
3. ``influences_from_factors(u, x, y, mode=Up)``: the product with every training gradient.

pyDVL's Hessian is that of the *mean* loss plus ``regularization * I``. With
``regularization = 1/(C n)`` it equals ``H / (C n)`` for sklearn's objective
``C sum_i l_i + ||w||^2 / 2``, except that pyDVL also regularises the intercept (relative
change about 1/(C n)), so its scores divided by ``n`` match the floor's up to ~1e-5.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _problem import (  # noqa: E402
    C_DEFAULT,
    best_of,
    blas_info,
    fit_model,
    floor_influence,
    make_problem,
)


def pydvl_available():
    try:
        import pydvl.influence.torch  # noqa: F401
        import torch  # noqa: F401
    except Exception:  # ImportError, or a broken install (e.g. numpy ABI mismatch)
        return False
    return True


def make_pydvl_runner(X, y, model, C, *, batch_size=4096, chunk=20_000):
    """Return ``run() -> (scores on the floor's scale, {stage: seconds})``."""
    import time

    import torch
    import torch.nn.functional as F
    from pydvl.influence import InfluenceMode
    from pydvl.influence.torch import DirectInfluence
    from torch.utils.data import DataLoader, TensorDataset

    n, d = X.shape
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float64))
    yt = torch.from_numpy(np.asarray(y, dtype=np.float64))
    lin = torch.nn.Linear(d, 1).double()
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(np.asarray(model.coef_, dtype=np.float64)))
        lin.bias.copy_(torch.from_numpy(np.asarray(model.intercept_, dtype=np.float64)))
    lin.eval()

    def loss(out, target):
        return F.binary_cross_entropy_with_logits(out.squeeze(-1), target)

    def run():
        stages = {}
        t0 = time.perf_counter()
        inf = DirectInfluence(lin, loss, regularization=1.0 / (C * n))
        inf.fit(DataLoader(TensorDataset(Xt, yt), batch_size=batch_size))
        t1 = time.perf_counter()
        u = None
        for start in range(0, n, chunk):
            part = inf.influence_factors(Xt[start : start + chunk], yt[start : start + chunk])
            part = part.sum(dim=0)
            u = part if u is None else u + part
        u = (u / n)[None, :]
        t2 = time.perf_counter()
        s = inf.influences_from_factors(u, Xt, yt, mode=InfluenceMode.Up)
        t3 = time.perf_counter()
        stages.update(hessian_fit=t1 - t0, factors=t2 - t1, products=t3 - t2)
        return s.reshape(-1).numpy() / n, stages

    return run


def run_pydvl_benchmark(X, y, model, C, repeats, **kwargs):
    """Best-of-``repeats`` time of pyDVL and its scores (floor scale)."""
    runner = make_pydvl_runner(X, y, model, C, **kwargs)
    best = np.inf
    best_stages = None
    scores = None
    import time

    for _ in range(repeats):
        t0 = time.perf_counter()
        scores, stages = runner()
        elapsed = time.perf_counter() - t0
        if elapsed < best:
            best, best_stages = elapsed, stages
    return best, best_stages, scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--C", type=float, default=C_DEFAULT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--json", action="store_true", help="print one JSON line only")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="cap BLAS/OpenMP and torch threads; default: leave as is",
    )
    args = parser.parse_args(argv)

    import pydvl
    import torch

    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        torch.set_num_threads(args.threads)

    X, y, _ = make_problem(args.n, args.d, args.seed)
    model = fit_model(X, y, args.C)
    coef, b = model.coef_, float(model.intercept_[0])
    t_floor, floor = best_of(lambda: floor_influence(X, y, coef, b, args.C), args.repeats)
    t_pydvl, stages, scores = run_pydvl_benchmark(
        X, y, model, args.C, args.repeats, batch_size=args.batch_size
    )
    diff = float(np.max(np.abs(scores - floor)))
    rel = diff / float(np.max(np.abs(floor)))
    out = {
        "n": args.n,
        "d": args.d,
        "repeats": args.repeats,
        "pydvl_version": pydvl.__version__,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy_version": np.__version__,
        "t_floor": t_floor,
        "t_pydvl": t_pydvl,
        "stages": stages,
        "max_abs_diff": diff,
        "rel_diff": rel,
        "blas": blas_info(),
    }
    if args.json:
        print(json.dumps(out))
        return
    print("\n".join(out["blas"]))
    print(
        f"pyDVL {out['pydvl_version']}, torch {out['torch_version']} "
        f"({out['torch_threads']} threads); n={args.n}, d={args.d}, best of {args.repeats}"
    )
    print(f"{'numpy floor':<28}{t_floor:>10.4f} s")
    print(
        f"{'pyDVL DirectInfluence':<28}{t_pydvl:>10.4f} s   ratio to floor "
        f"{t_pydvl / t_floor:6.2f}x"
    )
    for k, v in stages.items():
        print(f"  {k:<26}{v:>10.4f} s")
    print(f"max |pyDVL - floor| = {diff:.3g} (relative to max |floor|: {rel:.3g})")


if __name__ == "__main__":
    main()
