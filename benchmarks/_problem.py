"""Shared problem and numpy baselines for the influence benchmarks.

Depends only on numpy, scipy and scikit-learn (not on fairlearn_divine), so that the pyDVL
benchmark can import it from its own virtual environment.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np
import scipy.linalg
from sklearn.linear_model import LogisticRegression

C_DEFAULT = 1.0


def make_problem(n, d, seed=0):
    """Gaussian features, a logistic ground truth and a binary sensitive feature.

    The sensitive feature is correlated with feature 0 and shifts the logit, so that the
    fairness objectives have non-trivial gradients.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = 2.0 * rng.standard_normal(d) / np.sqrt(d)
    s = (X[:, 0] + 0.5 * rng.standard_normal(n) > 0).astype(np.int64)
    logits = X @ w + 0.5 * s - 0.25
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logits))).astype(np.int64)
    return X, y, s


def fit_model(X, y, C=C_DEFAULT):
    """Binary logistic regression fitted to (numerically) the optimum of its objective."""
    return LogisticRegression(C=C, tol=1e-8, max_iter=100_000).fit(X, y)


def floor_influence(X, y, coef, intercept, C):
    """The brief's minimal numpy closed form (log loss on the training set).

    p = sigmoid(Xt theta), H = C Xt^T diag(p(1-p)) Xt + diag(1,...,1,0), g = Xt^T (p - y) / n,
    v = H^-1 g (Cholesky), scores = C (p - y) (Xt v), with Xt = [X, 1].
    """
    n, d = X.shape
    Xt = np.hstack([X, np.ones((n, 1))])
    theta = np.append(np.ravel(coef), intercept)
    p = 1.0 / (1.0 + np.exp(-(Xt @ theta)))
    r = p - y
    a = C * p * (1.0 - p)
    H = (Xt * a[:, None]).T @ Xt
    H[np.diag_indices(d)] += 1.0  # ridge on the weights, none on the intercept
    g = Xt.T @ r / n
    v = scipy.linalg.cho_solve(scipy.linalg.cho_factor(H, lower=True, check_finite=False), g)
    return C * r * (Xt @ v)


def floor_influence_tight(X, y, coef, intercept, C):
    """Same numbers, written for speed: no [X, 1] copy, and a symmetric rank-k update.

    ``B.T @ B`` on the same buffer lets numpy call BLAS syrk (half the flops of a gemm); the
    intercept row/column of H come from one matrix-vector product.
    """
    n, d = X.shape
    w = np.ravel(coef)
    z = X @ w + intercept
    p = 1.0 / (1.0 + np.exp(-z))
    r = p - y
    a = C * p * (1.0 - p)
    B = X * np.sqrt(a)[:, None]
    H = np.empty((d + 1, d + 1))
    H[:d, :d] = B.T @ B
    xa = X.T @ a
    H[:d, d] = xa
    H[d, :d] = xa
    H[d, d] = a.sum()
    H[np.diag_indices(d)] += 1.0
    g = np.empty(d + 1)
    g[:d] = X.T @ r / n
    g[d] = r.sum() / n
    v = scipy.linalg.cho_solve(scipy.linalg.cho_factor(H, lower=True, check_finite=False), g)
    return C * r * (X @ v[:d] + v[d])


def best_of(fn, repeats):
    """(best wall time in seconds over ``repeats`` calls, last return value)."""
    best = np.inf
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def interleaved_best(fns, repeats):
    """Best wall time of each callable over ``repeats`` rounds, calling them in turn.

    Interleaving (round r runs every callable once) means a burst of load from other processes
    hits all contenders alike, which keeps the *ratios* meaningful on a shared machine.
    Returns ``({name: seconds}, {name: last return value})``.
    """
    best = {k: np.inf for k in fns}
    out = {}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            out[k] = fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best, out


def load_average():
    try:
        return "load average {:.2f} {:.2f} {:.2f} (1/5/15 min)".format(*os.getloadavg())
    except OSError:
        return "load average unavailable"


def blas_info():
    """Lines describing the BLAS/OpenMP pools (threadpoolctl) and the OpenBLAS env knobs."""
    lines = [f"python {platform.python_version()}, numpy {np.__version__}, cpus {os.cpu_count()}"]
    for var in (
        "OPENBLAS_CORETYPE",
        "OPENBLAS_L2_SIZE",
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
    ):
        lines.append(f"  {var}={os.environ.get(var, '(unset)')}")
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        lines.append("  threadpoolctl not installed")
        return lines
    for info in threadpool_info():
        lines.append(
            "  {user_api}: {internal_api} {version} threads={num_threads} "
            "arch={architecture} ({lib})".format(
                user_api=info.get("user_api"),
                internal_api=info.get("internal_api"),
                version=info.get("version"),
                num_threads=info.get("num_threads"),
                architecture=info.get("architecture", "-"),
                lib=os.path.basename(info.get("filepath", "")),
            )
        )
    return lines
