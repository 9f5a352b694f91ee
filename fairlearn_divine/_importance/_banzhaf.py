"""Data Banzhaf by maximum sample reuse (Wang & Jia, AISTATS 2023), with standard errors.

For a cost ``f`` (lower is better) the value of a subset S of the training data D is
:math:`f(S)`, the cost of the estimator fitted on S, and point *i*'s Banzhaf value is the mean
decrease of the cost when *i* joins a subset of the other points drawn uniformly from all
:math:`2^{n-1}` of them,

.. math:: \\phi_i = \\frac{1}{2^{n-1}} \\sum_{S \\subseteq D \\setminus \\{i\\}}
          \\bigl[f(S) - f(S \\cup \\{i\\})\\bigr] .

Same sign convention as every score in the package: positive = the point helps (the cost is
higher without it), negative = harmful. Unlike Data Shapley, every subset size has the same
weight (Banzhaf's semivalue weights are constant), which Wang & Jia show makes the ranking the
most robust to the noise of the training procedure itself.

Maximum sample reuse (MSR)
--------------------------
Draw m subsets :math:`S_1, \\dots, S_m` of D, each point included independently with
probability 1/2, refit the estimator once on each and evaluate :math:`f(S_k)` (every objective
at once). Conditioned on :math:`i \\in S_k` (or on :math:`i \\notin S_k`), the rest of
:math:`S_k` is uniform over the subsets of :math:`D \\setminus \\{i\\}`, so every refit is a
sample for *every* point:

.. math:: \\hat\\phi_i = \\frac{1}{|K_i^-|} \\sum_{k \\in K_i^-} f(S_k)
          - \\frac{1}{|K_i^+|} \\sum_{k \\in K_i^+} f(S_k),
          \\qquad K_i^{\\pm} = \\{k : i \\in S_k\\} \\text{ or } \\{k : i \\notin S_k\\},

an unbiased estimate of :math:`\\phi_i` (given both sets are non-empty) from m refits for all
n points, where a permutation method needs about n refits per sample. The standard error
``scores_stderr`` is the two-sample one, :math:`\\sqrt{s_{i-}^2 / |K_i^-| + s_{i+}^2 /
|K_i^+|}` with the sample variances :math:`s^2` of :math:`f(S_k)` over each set. MSR's
estimates of different points share their refits, so their errors are correlated, and each
one is a difference of two means of the whole cost: its error shrinks as
:math:`1/\\sqrt{m}`, whatever n, but from the scale of :math:`f`'s spread over random
half-size subsets rather than of one point's effect. A point whose set :math:`K_i^+` or
:math:`K_i^-` is empty (probability :math:`2^{1-m}`) gets a NaN score and an infinite standard
error.

Subset conventions are those of Data Shapley (:mod:`fairlearn_divine._importance._shapley`),
through the same code: the empty set predicts the training set's Laplace-smoothed class
frequencies; a subset whose labels are all one class, or that the estimator cannot be fitted
on or predict from (``ValueError``, e.g. fewer points than ``n_neighbors``), predicts its own
smoothed class frequencies :math:`(w_k + 1) / (W + K)`. Refits are exactly what
``clone(estimator).fit`` on the subset gives: exact Newton iterations on the objective for a
bare ``LogisticRegression`` or a :class:`~fairlearn_divine.DifferentiableModel`, started from
the full-data solution (the objective is strictly convex, so the start does not change the
optimum), otherwise the package's refit helper (warm-started from the full-data fit only
where that gives the same answer as a cold fit). Every subset starts from the same point, so
a result does not depend on which task fitted which subset.

Sampling and seeding
--------------------
One seed is drawn up front from ``random_state`` (the package's rule,
:mod:`fairlearn_divine._core.parallel`), and subset *k* is ``task_rng(seed, k).random(n) <
0.5``, so a given ``random_state`` gives the same result for any ``n_jobs`` and joblib backend
(loky, threading, dask.distributed; except when ``max_time`` stops the run), and a run resumed
from its ``checkpoint`` equals an uninterrupted one. Subsets are taken in rounds of 16, in
order (in parallel, a batch of whole rounds at a time, grown until a task takes about half a
second: a parallel call costs tens of milliseconds, one refit may cost one); after each round
sampling stops when ``max(stderr) <= convergence_tolerance * max(|scores|)`` for every
objective (after ``min_samples``), or at ``n_samples`` or ``max_time``. SIGINT or SIGTERM
stop a run cleanly (``KeyboardInterrupt`` / ``SystemExit``, worker processes killed); the
checkpoint, saved after every batch, then holds every batch finished before the signal.

Checkpoints
-----------
Data Shapley's checkpoint format (version 1: an ``.npz`` of plain arrays with a format name,
``"fairlearn-divine data_banzhaf checkpoint"`` here, a version, the run's signature, the seed
and a SHA-256 checksum, read with ``allow_pickle=False`` and written atomically). The sums it
holds are those of the vector :math:`(f(S_k) - f(D), 1)` and of its square, over the subsets
containing each point (rows 0 to n-1) and over all subsets (row n): the last column counts
the subsets. A damaged, foreign or edited file, or one of another run or seed, is a
ValueError naming the file.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import time

import numpy as np

from .._core.parallel import (
    parallel_map,
    progress_bar,
    resolve_n_jobs,
    run_seed,
    stop_workers_on_interrupt,
    task_rng,
)
from .._core.validation import check_integer, check_real, n_rows
from ._refits import check_refit_estimator, no_options
from ._shapley import (
    _constant_values,
    _PrefixTooSmall,
    _signature,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
    subset_game,
)

__all__ = ["data_banzhaf"]

_ROUND = 16  # subsets per round: convergence is checked between rounds (independent of n_jobs)
_TASK_SECONDS = 0.5  # target duration of one parallel task (a whole number of rounds)
#: The format name of a Data Banzhaf checkpoint (Data Shapley's format, version 1).
CHECKPOINT_FORMAT = "fairlearn-divine data_banzhaf checkpoint"


def _subset_mask(seed, k, n):
    """Subset *k* of the run with seed ``seed``: each point in it with probability 1/2."""
    return task_rng(seed, k).random(n) < 0.5


def _subset_cost(rows, fitter, start, y_idx, w, ctx, f_empty):
    """``(f(S), refitted)`` for the rows S, under Data Shapley's subset conventions."""
    if len(rows) == 0:
        return f_empty, False
    counts = np.bincount(y_idx[rows], weights=w[rows], minlength=len(ctx.classes))
    present = tuple(np.flatnonzero(counts > 0))
    if len(present) <= 1:
        return _constant_values(ctx, counts), False
    fitter.reset(start)
    try:
        return fitter.values(rows, present), True
    except _PrefixTooSmall:
        return _constant_values(ctx, counts), True


def _subsets(ks, seed, n, fitter, start, y_idx, w, ctx, f_empty):
    """Subsets ks: their costs (n_objectives,) and whether each was refitted (the caller
    draws the masks again: a task returns O(n_objectives) numbers per subset, not O(n))."""
    out = []
    for k in ks:
        rows = np.flatnonzero(_subset_mask(seed, k, n))
        values, refitted = _subset_cost(rows, fitter, start, y_idx, w, ctx, f_empty)
        out.append((np.asarray(values, dtype=float), refitted))
    return out


def _estimates(total, total_sq):
    """MSR estimates and two-sample standard errors from the running sums (see the module).

    ``total`` / ``total_sq`` (n + 1, m + 1): sums of ``(f(S_k) - f(D), 1)`` and of its square
    over the subsets containing each point (rows 0 to n-1) and over all subsets (row n).
    """
    m = total.shape[1] - 1
    count_in = total[:-1, m:]
    count_out = total[-1, m] - count_in
    sum_in, sq_in = total[:-1, :m], total_sq[:-1, :m]
    sum_out, sq_out = total[-1, :m] - sum_in, total_sq[-1, :m] - sq_in
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_in, mean_out = sum_in / count_in, sum_out / count_out
        var_in = np.maximum(sq_in - sum_in * mean_in, 0.0) / (count_in - 1)
        var_out = np.maximum(sq_out - sum_out * mean_out, 0.0) / (count_out - 1)
        stderr = np.sqrt(var_in / count_in + var_out / count_out)
    scores = np.where((count_in > 0) & (count_out > 0), mean_out - mean_in, np.nan)
    stderr = np.where((count_in > 1) & (count_out > 1), stderr, np.inf)
    return scores, stderr


def _check_counts(path, total, total_sq, done, n_refits):
    """The counts of a loaded checkpoint: the count column integers in [0, done], its row n
    equal to done, at most one refit per subset."""
    counts, counts_sq = total[:, -1], total_sq[:, -1]
    if not (
        np.array_equal(counts, counts_sq)
        and np.array_equal(counts, np.round(counts))
        and np.all((counts >= 0) & (counts <= done))
        and counts[-1] == done
        and 0 <= n_refits <= done
    ):
        raise ValueError(
            f"checkpoint {path!r} holds subset counts that no run can have (they were edited). "
            "Delete it (or pass another checkpoint path) to start a new run."
        )


def data_banzhaf(estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options, runtime):
    """Data Banzhaf by maximum sample reuse; returns (scores (m, n), base (m,), info).

    See the module docstring for the math. Options (keyword arguments of
    :func:`~fairlearn_divine.training_point_importance`, popped from ``options``):

    n_samples : int, default=2000
        Subsets sampled (and refits made) at most.
    min_samples : int, default=50
        Subsets sampled before the convergence rule may stop the run.
    convergence_tolerance : float, default=0.05
        Stop when ``max(stderr) <= convergence_tolerance * max(|scores|)`` for every objective.
    max_time : float, optional
        Seconds after which sampling stops (checked between rounds of 16 subsets).
    checkpoint : str or os.PathLike, optional
        File the running sums are saved to after every batch of rounds and resumed from.
    refit_solver : {"auto", "newton", "estimator"}, default="auto"
        ``"auto"``: exact Newton refits for a bare ``LogisticRegression`` (and a
        DifferentiableModel), else the estimator's own ``fit``.

    ``info``: ``scores_stderr`` (m, n), ``n_samples``, ``converged``, ``seed``, ``n_refits``
    (fits made, the full-data one included; an empty or one-class subset is predicted by a
    constant without a fit) and ``refit_solver``. Scores follow the package's sign: positive =
    the point helps.
    """
    n_samples = options.pop("n_samples", 2000)
    min_samples = options.pop("min_samples", 50)
    convergence_tolerance = options.pop("convergence_tolerance", 0.05)
    max_time = options.pop("max_time", None)
    checkpoint = options.pop("checkpoint", None)
    refit_solver = options.pop("refit_solver", "auto")
    no_options(options, "data_banzhaf")
    check_refit_estimator(estimator, "data_banzhaf")
    n_samples = check_integer(n_samples, "n_samples", minimum=1)
    min_samples = check_integer(min_samples, "min_samples", minimum=1)
    convergence_tolerance = check_real(convergence_tolerance, "convergence_tolerance", minimum=0)
    if max_time is not None:
        max_time = check_real(max_time, "max_time", minimum=0, include_minimum=False)
    checkpoint = checkpoint_path(checkpoint)

    y = np.asarray(y)
    n = n_rows(X)
    m = len(ctx.objectives)
    rs = runtime["random_state"]
    seed = run_seed(rs)  # subset k is drawn from SeedSequence([seed, k])

    # the full-data value (the reference the sums are taken from) and the empty set's
    game = subset_game(estimator, X, y, sample_weight, ctx, refit_solver, "data_banzhaf")
    use_newton, y_idx, weights = game.use_newton, game.y_idx, game.weights
    f_empty, f_full, fitter, start = game.f_empty, game.f_full, game.fitter, game.start

    game = _signature(estimator, X, y, sample_weight, ctx, False, 0.0)
    signature = hashlib.sha256(f"data_banzhaf msr|{game}".encode()).hexdigest()
    total = np.zeros((n + 1, m + 1))
    total_sq = np.zeros((n + 1, m + 1))
    done = 0
    n_refits = 0  # subset refits (the full-data fit is added at the end)
    if checkpoint is not None and os.path.exists(checkpoint):
        state = load_checkpoint(
            checkpoint,
            signature,
            (n + 1, m + 1),
            0,
            fmt=CHECKPOINT_FORMAT,
            name="Data Banzhaf",
            sampling_options="or the sampling method",
        )
        if rs is not None and state["seed"] != seed:
            given = f"random_state={rs}" if isinstance(rs, int) else f"the {type(rs).__name__}"
            raise ValueError(
                f"checkpoint {checkpoint!r} was made with the seed {state['seed']}, but "
                f"{given} gives {seed}: pass random_state={state['seed']} (or None) to resume "
                "it, or another path to start a new run."
            )
        _check_counts(
            checkpoint, state["total"], state["total_sq"], state["done"], state["n_evaluated"]
        )
        seed = state["seed"]
        total, total_sq = state["total"], state["total_sq"]
        done, n_refits = state["done"], state["n_evaluated"]

    bar = progress_bar(runtime["progress"], n_samples, "data banzhaf subsets")
    bar.update(min(done, n_samples))
    clock = time.perf_counter()
    converged = False
    n_workers = resolve_n_jobs(runtime["n_jobs"])
    # a batch of whole rounds is computed in parallel (one chunk per worker), then taken
    # round by round in subset order, convergence checked after each: independent of n_jobs
    # and of the batch size, which grows until a task takes about _TASK_SECONDS (a parallel
    # call costs tens of milliseconds: one refit may cost less than one)
    rounds_per_task = 1
    task = functools.partial(
        _subsets,
        seed=seed,
        n=n,
        fitter=fitter,
        start=start,
        y_idx=y_idx,
        w=weights,
        ctx=ctx,
        f_empty=f_empty,
    )

    def out_of_time():
        return max_time is not None and time.perf_counter() - clock >= max_time

    # SIGINT/SIGTERM: workers stopped, the checkpoint holds every finished batch
    with stop_workers_on_interrupt(), contextlib.closing(bar):
        while done < n_samples and not converged and not out_of_time():
            batch = _ROUND * rounds_per_task * n_workers
            ks = np.arange(done, min(done + batch, n_samples))
            tic = time.perf_counter()
            parts, _ = parallel_map(task, ks, n_jobs=n_workers, progress=False, per_worker=1)
            if n_workers > 1 and len(ks) == batch:
                per_round = (time.perf_counter() - tic) / rounds_per_task
                target = _TASK_SECONDS if max_time is None else min(_TASK_SECONDS, max_time / 4)
                rounds_per_task = int(np.clip(target / max(per_round, 1e-6), 1, 64))
            results = [r for part in parts for r in part]
            for begin in range(0, len(results), _ROUND):
                batch_round = results[begin : begin + _ROUND]
                for values, refitted in batch_round:  # in subset order
                    mask = _subset_mask(seed, done, n)
                    d = values - f_full
                    total[:-1, :m][mask] += d
                    total_sq[:-1, :m][mask] += d**2
                    total[:-1, m][mask] += 1.0
                    total_sq[:-1, m][mask] += 1.0
                    total[-1] += np.append(d, 1.0)
                    total_sq[-1] += np.append(d**2, 1.0)
                    n_refits += int(refitted)
                    done += 1
                bar.update(len(batch_round))
                scores, stderr = _estimates(total, total_sq)
                if done >= min_samples and np.all(
                    stderr.max(axis=0) <= convergence_tolerance * np.abs(scores).max(axis=0)
                ):
                    converged = True
                    break
                if out_of_time():
                    break
            if checkpoint is not None:  # once per batch: every round it took
                save_checkpoint(
                    checkpoint,
                    signature,
                    seed,
                    total,
                    total_sq,
                    done,
                    n_refits,
                    fmt=CHECKPOINT_FORMAT,
                )
    scores, stderr = _estimates(total, total_sq)
    info = {
        "scores_stderr": stderr.T,
        "n_samples": done,
        "converged": converged,
        "seed": seed,
        "n_refits": n_refits + 1,
        "refit_solver": "newton" if use_newton else "estimator",
    }
    return scores.T, f_full, info
