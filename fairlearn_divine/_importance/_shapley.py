"""Data Shapley by truncated Monte Carlo (Ghorbani & Zou 2019), with standard errors.

For a cost ``f`` (lower is better) the value of a subset S of the training data is
:math:`f(S)`, the cost of the estimator fitted on S, and point *i*'s Data Shapley value is

.. math:: \\phi_i = \\mathbb{E}_\\pi\\bigl[f(P_i^\\pi) - f(P_i^\\pi \\cup \\{i\\})\\bigr],

the expected decrease of the cost when *i* joins the points preceding it in a uniformly random
permutation :math:`\\pi`. Same sign convention as every score in the package: positive = the
point helps, negative = harmful.

Conventions (documented and tested): the empty set predicts the training majority class (by
total sample weight); a subset whose labels are all one class predicts that class; a subset the
estimator cannot be fitted on or predict from (``ValueError``, e.g. fewer points than
``n_neighbors``) predicts its own majority class. These constant predictors output the
Laplace-smoothed class frequencies :math:`(w_k + 1) / (W + K)` of the subset (the training set
for the empty set): their predicted label is the majority class, and probability-based costs
such as the log loss stay finite (a one-hot prediction would give the first two-class prefix a
marginal of about :math:`-\\log \\epsilon \\approx 36` and drown every other one).

Truncated Monte Carlo
---------------------
Each permutation is scanned prefix by prefix; once every objective is within
:math:`\\tau \\max(|f(D)|, 0.01 |f(\\emptyset) - f(D)|)` of the full-data value :math:`f(D)`
(:math:`\\tau` = ``truncation_tolerance``), the remaining marginals are set to 0. The floor at 1%
of the total range is an absolute rule: truncation relative to :math:`f(D)` alone would never
trigger when :math:`f(D) \\approx 0`, as fairness gaps often are.
Prefix refits are warm-started from the previous prefix's solution: for a bare
``LogisticRegression`` or a :class:`~fairlearn_divine.DifferentiableModel` by exact Newton
iterations on the objective, otherwise through the package's refit helper, which warm-starts
only where that gives the same answer as a cold ``clone(estimator).fit`` (never for ensembles).
``truncation_tolerance=0`` turns truncation off: every prefix of every permutation is refitted.
With ``antithetic=True`` each sampled permutation is paired with its reverse, and the
pair's mean marginal is one sample.

Convergence: per-point standard errors ``scores_stderr`` (the standard deviation of the
per-sample marginals over the square root of the number of samples); sampling stops when
``max(stderr) <= convergence_tolerance * max(|scores|)`` after ``min_permutations``, or at
``n_permutations`` or ``max_time``. The package's seeding rule
(:mod:`fairlearn_divine._core.parallel`): one seed is drawn up front from ``random_state``, and
sample *t* is generated from ``SeedSequence([seed, t])``, so a given ``random_state`` (an
integer, or a fresh ``RandomState`` / ``Generator`` in the same state) gives the same result for
any ``n_jobs`` and joblib backend (except when ``max_time`` stops the run), and a run resumed
from its ``checkpoint`` file equals an uninterrupted one. Every parallel task works on its own
copy of the estimator and its refit state, also under the threading backend.

SIGINT or SIGTERM during a run stop it cleanly (``KeyboardInterrupt`` / ``SystemExit``, worker
processes killed); the checkpoint then holds every round finished before the signal.

Checkpoints
-----------
The seed is drawn before the run (``random_state=None`` draws it from numpy's global random
state) and stored in the checkpoint with the running sums, so a run without a seed resumes with
its own; it is reported as ``seed``. A checkpoint (format version 1, see ``docs/shapley.md``) is
an ``.npz`` of plain arrays with a format name, a version, the run's signature and a SHA-256
checksum, read with ``allow_pickle=False`` and written atomically; a damaged, foreign or edited
file, or one of another run or seed, is a ValueError naming the file.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch

from .._core.files import atomic_write_bytes, check_input_file, check_output_file
from .._core.parallel import (
    catch_warnings_locked,
    parallel_map,
    progress_bar,
    resolve_n_jobs,
    run_seed,
    stop_workers_on_interrupt,
    task_rng,
)
from .._core.refit import EstimatorRefitter, predict_proba_aligned
from .._core.validation import check_integer, check_real, encode_labels, n_rows
from .._models import NewtonRefitter, is_differentiable_model, make_view, use_newton_refits
from ._refits import check_refit_estimator, no_options, warn_if_random_refits

_ROUND = 8  # samples per round: convergence is checked between rounds (independent of n_jobs)


class _EstimatorPrefix:
    """Fits the estimator on prefixes (warm-started from the previous prefix where exact)."""

    def __init__(self, estimator, X, y, sample_weight, ctx):
        self.refitter = EstimatorRefitter(estimator, X, y, sample_weight=sample_weight)
        self.ctx = ctx
        self.reset()

    def reset(self, start=None):
        self.model = start  # a fitted estimator to warm-start the next fit from (if exact)

    def values(self, rows, classes_present):
        with catch_warnings_locked():  # tasks may be threads
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                model = self.refitter.fit(rows, warm_from=self.model)
            except ValueError as err:  # e.g. KNeighbors with more neighbours than points
                self.model = None
                raise _PrefixTooSmall(str(err)) from err
        self.model = model
        try:
            proba = predict_proba_aligned(model, self.ctx.X, self.ctx.classes)
        except ValueError as err:  # e.g. KNeighbors: more neighbours than fitted points
            self.model = None
            raise _PrefixTooSmall(str(err)) from err
        return self.ctx.values(proba)


class _NewtonPrefix:
    """Exact LogisticRegression refits on prefixes by warm-started Newton iterations."""

    def __init__(self, refitter, Z_eval, ctx, fallback):
        self.refitter = refitter
        self.Z_eval = Z_eval
        self.ctx = ctx
        self.fallback = fallback
        self.n_classes = len(ctx.classes)
        self.zero = np.zeros_like(refitter.view.params)
        self.reset()

    def reset(self, start=None):
        self.theta = start  # parameters to start the next solve from (None: zeros)
        self.fallback.reset()

    def values(self, rows, classes_present):
        if len(classes_present) < self.n_classes:  # sklearn would fit fewer classes
            self.theta = None
            return self.fallback.values(rows, classes_present)
        start = self.zero if self.theta is None else self.theta
        self.theta = self.refitter.solve(rows, start)
        return self.ctx.values(self.refitter.proba(self.Z_eval, self.theta))


class _ConstantPrefix:
    """A view's prefix that lacks a class: the constant predictor (see the conventions)."""

    def __init__(self, ctx):
        self.ctx = ctx

    def reset(self, start=None):
        pass

    def values(self, rows, classes_present):
        raise _PrefixTooSmall("a prefix without every class")


class _PrefixTooSmall(Exception):
    """The estimator cannot be fitted on this prefix (e.g. fewer points than k neighbours)."""


def _constant_values(ctx, counts):
    """f of a constant predictor: probabilities (counts + 1) / (total + K), all samples alike.

    Its prediction (argmax) is the most frequent class of ``counts``; the Laplace smoothing keeps
    probability-based costs such as the log loss finite.
    """
    counts = np.asarray(counts, dtype=float)
    p = (counts + 1.0) / (counts.sum() + len(counts))
    return ctx.values(np.tile(p, (len(ctx.y_idx), 1)))


def _one_permutation(perm, prefix, y_idx, w, ctx, f_empty, f_full, tol_abs):
    """Marginals f(P) - f(P + i) along one permutation, with truncation."""
    n, m = len(perm), len(f_full)
    marg = np.zeros((n, m))
    prefix.reset()
    f_prev = f_empty
    counts = np.zeros(len(ctx.classes))
    n_evaluated = 0
    for j in range(n):
        i = perm[j]
        counts[y_idx[i]] += w[i]
        present = tuple(np.flatnonzero(counts > 0))
        if len(present) == 1:
            values = _constant_values(ctx, counts)
        else:
            try:
                values = prefix.values(np.sort(perm[: j + 1]), present)
            except _PrefixTooSmall:
                values = _constant_values(ctx, counts)
        n_evaluated += 1
        marg[i] = f_prev - values
        f_prev = values
        if tol_abs is not None and np.all(np.abs(values - f_full) <= tol_abs):
            break  # truncation: the remaining marginals are 0
    return marg, n_evaluated


def _samples(ts, seed, n, antithetic, prefix, y_idx, w, ctx, f_empty, f_full, tol_abs):
    """Samples ts: mean marginals of each permutation (and its reverse if antithetic)."""
    out = []
    for t in ts:
        perm = task_rng(seed, t).permutation(n)
        args = (prefix, y_idx, w, ctx, f_empty, f_full, tol_abs)
        marg, k = _one_permutation(perm, *args)
        if antithetic:
            marg2, k2 = _one_permutation(perm[::-1], *args)
            marg, k = 0.5 * (marg + marg2), k + k2
        out.append((marg, k))
    return out


def _signature(estimator, X, y, sample_weight, ctx, antithetic, tol):
    """Fingerprint of the game whose marginals a checkpoint sums (the seed is kept apart).

    Covers the estimator (class and every parameter), the training data (values, column names,
    labels, weights), the evaluation data and groups, the objectives, ``antithetic`` and
    ``truncation_tolerance``: everything but the seed that determines the sampled marginals.
    """
    digest = hashlib.sha256()

    def add(obj):
        if hasattr(obj, "to_numpy"):
            obj = obj.to_numpy()
        if hasattr(obj, "toarray"):
            obj = obj.toarray()
        arr = np.asarray(obj)
        if arr.dtype == object:
            digest.update(repr(arr.tolist()).encode())
        else:
            digest.update(np.ascontiguousarray(arr).tobytes())
        digest.update(repr(arr.shape).encode())

    digest.update(
        repr(
            (
                type(estimator).__name__,
                sorted((k, repr(v)) for k, v in estimator.get_params(deep=True).items())
                if hasattr(estimator, "get_params")
                else np.asarray(estimator.params).tobytes(),
            )
        ).encode()
    )
    for part in (X, y, ctx.X, ctx.y_idx):
        add(part)
        if hasattr(part, "columns"):
            digest.update(repr([str(c) for c in part.columns]).encode())
    add(np.zeros(0) if sample_weight is None else sample_weight)
    add(np.zeros(0) if ctx.groups is None else ctx.groups)
    digest.update(repr((antithetic, float(tol), [f.name for f in ctx.objectives])).encode())
    return digest.hexdigest()


def checkpoint_path(checkpoint):
    """``checkpoint`` as a path string (``None`` stays ``None``), checked writable before any
    computation."""
    if checkpoint is None:
        return None
    if not isinstance(checkpoint, str | os.PathLike):
        raise TypeError(
            f"checkpoint must be None or a file path (str or os.PathLike), got {checkpoint!r}."
        )
    checkpoint = os.fspath(checkpoint)
    check_output_file(checkpoint, argname="checkpoint")
    return checkpoint


def subset_game(estimator, X, y, sample_weight, ctx, refit_solver, method):
    """The cooperative game of a subset valuation (Data Shapley, Data Banzhaf): the values of
    the empty set (the constant predictor) and of the full data, and the fitter that values a
    subset (warm-started exact Newton refits, or the estimator's own ``fit``).

    Returns a Bunch: ``use_newton``, ``y_idx`` (encoded labels), ``weights`` (the sample weights,
    ones without them), ``f_empty``, ``f_full`` (arrays of shape ``(n_objectives,)``),
    ``fitter`` and ``start`` (the full-data solution: parameters for Newton refits, else the
    fitted estimator).
    """
    use_newton = use_newton_refits(refit_solver, estimator)
    n = n_rows(X)
    y_idx = encode_labels(y, ctx.classes)
    weights = np.ones(n) if sample_weight is None else sample_weight
    counts = np.bincount(y_idx, weights=weights, minlength=len(ctx.classes))
    f_empty = _constant_values(ctx, counts)
    if is_differentiable_model(estimator):
        fallback = _ConstantPrefix(ctx)
    else:
        fallback = _EstimatorPrefix(estimator, X, y, sample_weight, ctx)
    if use_newton:
        view = make_view(estimator, X, y, sample_weight=sample_weight)
        refitter = NewtonRefitter(view)
        start = refitter.solve(np.arange(n), view.params)
        Z_eval = view.X_ if ctx.X is X else view.transform(ctx.X)
        f_full = ctx.values(refitter.proba(Z_eval, start))
        fitter = _NewtonPrefix(refitter, Z_eval, ctx, fallback)
    else:
        warn_if_random_refits(estimator, method)
        start = EstimatorRefitter(estimator, X, y, sample_weight=sample_weight).fit()
        f_full = ctx.values(predict_proba_aligned(start, ctx.X, ctx.classes))
        fitter = fallback
    return Bunch(
        use_newton=use_newton,
        y_idx=y_idx,
        weights=weights,
        f_empty=f_empty,
        f_full=np.asarray(f_full, dtype=float),
        fitter=fitter,
        start=start,
    )


def data_shapley(estimator, X, y, sample_weight, ctx, X_eval, eval_is_train, options, runtime):
    """Truncated Monte Carlo Data Shapley; returns (scores (m, n), base (m,), info)."""
    n_permutations = options.pop("n_permutations", None)
    max_time = options.pop("max_time", None)
    truncation_tolerance = options.pop("truncation_tolerance", 0.01)
    convergence_tolerance = options.pop("convergence_tolerance", 0.05)
    min_permutations = options.pop("min_permutations", 20)
    antithetic = options.pop("antithetic", True)
    checkpoint = options.pop("checkpoint", None)
    refit_solver = options.pop("refit_solver", "auto")
    no_options(options, "data_shapley")
    check_refit_estimator(estimator, "data_shapley")
    if n_permutations is None:
        n_permutations = 1000
    n_permutations = check_integer(n_permutations, "n_permutations", minimum=1)
    min_permutations = check_integer(min_permutations, "min_permutations", minimum=1)
    truncation_tolerance = check_real(truncation_tolerance, "truncation_tolerance", minimum=0)
    convergence_tolerance = check_real(convergence_tolerance, "convergence_tolerance", minimum=0)
    if max_time is not None:
        max_time = check_real(max_time, "max_time", minimum=0, include_minimum=False)
    if not isinstance(antithetic, bool | np.bool_):
        raise TypeError(f"antithetic must be True or False, got {antithetic!r}.")
    antithetic = bool(antithetic)
    checkpoint = checkpoint_path(checkpoint)

    y = np.asarray(y)
    n = n_rows(X)
    m = len(ctx.objectives)
    rs = runtime["random_state"]
    # the seed of sample t's permutation is SeedSequence([seed, t]) (the package's one seeding
    # rule); drawn up front, so that a checkpoint stores it and random_state=None resumes
    seed = run_seed(rs)

    game = subset_game(estimator, X, y, sample_weight, ctx, refit_solver, "data_shapley")
    use_newton, y_idx, weights = game.use_newton, game.y_idx, game.weights
    f_empty, f_full, prefix = game.f_empty, game.f_full, game.fitter
    # truncation_tolerance=0: no truncation (every prefix of every permutation is refitted)
    tol_abs = None
    if truncation_tolerance > 0:
        tol_abs = truncation_tolerance * np.maximum(
            np.abs(f_full), np.maximum(0.01 * np.abs(f_empty - f_full), 1e-12)
        )

    per_sample = 2 if antithetic else 1
    max_samples = max(1, n_permutations // per_sample)
    min_samples = max(2, min_permutations // per_sample)
    signature = _signature(estimator, X, y, sample_weight, ctx, antithetic, truncation_tolerance)

    total = np.zeros((n, m))
    total_sq = np.zeros((n, m))
    done = 0
    n_evaluated = 0
    if checkpoint is not None and os.path.exists(checkpoint):
        state = load_checkpoint(checkpoint, signature, (n, m), per_sample)
        if isinstance(rs, int) and state["seed"] != seed:
            raise ValueError(
                f"checkpoint {checkpoint!r} was made with random_state={state['seed']}, not "
                f"{rs}: pass random_state={state['seed']} (or None) to resume it, or another "
                "path to start a new run."
            )
        if rs is not None and not isinstance(rs, int) and state["seed"] != seed:
            raise ValueError(
                f"checkpoint {checkpoint!r} was made with the seed {state['seed']}, but the "
                f"{type(rs).__name__} given as random_state draws {seed}: pass "
                f"random_state={state['seed']} (or None) to resume it."
            )
        seed = state["seed"]
        total, total_sq = state["total"], state["total_sq"]
        done, n_evaluated = state["done"], state["n_evaluated"]

    bar = progress_bar(runtime["progress"], max_samples * per_sample, "data shapley permutations")
    bar.update(done * per_sample)
    start = time.perf_counter()
    converged = False
    n_workers = resolve_n_jobs(runtime["n_jobs"])
    # a batch is computed in parallel, then taken in rounds of _ROUND samples in sample order,
    # convergence checked after each round: the result does not depend on n_jobs
    batch = _ROUND * max(1, -(-n_workers // _ROUND))
    task = functools.partial(
        _samples,
        seed=seed,
        n=n,
        antithetic=antithetic,
        prefix=prefix,
        y_idx=y_idx,
        w=weights,
        ctx=ctx,
        f_empty=f_empty,
        f_full=f_full,
        tol_abs=tol_abs,
    )
    # SIGINT/SIGTERM: workers stopped, the checkpoint holds every finished round
    with stop_workers_on_interrupt(), contextlib.closing(bar):
        while done < max_samples and not converged:
            ts = np.arange(done, min(done + batch, max_samples))
            parts, _ = parallel_map(task, ts, n_jobs=n_workers, progress=False, per_worker=1)
            results = [r for part in parts for r in part]
            for start_round in range(0, len(results), _ROUND):
                for marg, k in results[start_round : start_round + _ROUND]:  # in sample order
                    total += marg
                    total_sq += marg**2
                    n_evaluated += k
                n_round = len(results[start_round : start_round + _ROUND])
                done += n_round
                bar.update(n_round * per_sample)
                if checkpoint is not None:
                    save_checkpoint(
                        checkpoint, signature, seed, total, total_sq, done, n_evaluated
                    )
                mean, stderr = _moments(total, total_sq, done)
                if done >= min_samples and np.all(
                    stderr.max(axis=0) <= convergence_tolerance * np.abs(mean).max(axis=0)
                ):
                    converged = True
                    break
                if max_time is not None and time.perf_counter() - start >= max_time:
                    break
            if max_time is not None and time.perf_counter() - start >= max_time:
                break
    mean, stderr = _moments(total, total_sq, done)
    info = {
        "scores_stderr": stderr.T,
        "n_permutations": done * per_sample,
        "converged": converged,
        "mean_prefix_evaluations": n_evaluated / max(done * per_sample, 1),
        "refit_solver": "newton" if use_newton else "estimator",
        "seed": seed,
    }
    return mean.T, f_full, info


#: What a Data Shapley checkpoint says it is, and the format version this code writes/reads.
CHECKPOINT_FORMAT = "fairlearn-divine data_shapley checkpoint"
CHECKPOINT_VERSION = 1
#: entry -> (numpy dtype kind, ndim) of a version-1 checkpoint
_ENTRIES = {
    "format": ("U", 0),
    "version": ("i", 0),
    "signature": ("U", 0),
    "seed": ("i", 0),
    "total": ("f", 2),
    "total_sq": ("f", 2),
    "done": ("i", 0),
    "n_evaluated": ("i", 0),
    "checksum": ("U", 0),
}


def _checksum(arrays):
    """SHA-256 of every entry but ``checksum``: name, dtype, shape and bytes, in a fixed order."""
    digest = hashlib.sha256()
    for key in _ENTRIES:
        if key == "checksum":
            continue
        arr = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{arr.dtype.str}|{arr.shape}|".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def save_checkpoint(
    path, signature, seed, total, total_sq, done, n_evaluated, *, fmt=CHECKPOINT_FORMAT
):
    """Write the running sums atomically, through ``_core.files.atomic_write_bytes``.

    ``fmt`` is the format name stored in the file (another method's checkpoints, e.g. Data
    Banzhaf's, share this format under their own name).

    A run killed at any moment (even SIGKILL, even while writing) leaves either the previous
    checkpoint or the new one, never a partial file at ``path`` (a SIGKILL during a write can
    leave a temporary dot file ``.fairlearn-divine-*.tmp`` next to it).
    """
    arrays = {
        "format": np.array(fmt),
        "version": np.array(CHECKPOINT_VERSION, dtype=np.int64),
        "signature": np.array(signature),
        "seed": np.array(seed, dtype=np.int64),
        "total": np.asarray(total, dtype=np.float64),
        "total_sq": np.asarray(total_sq, dtype=np.float64),
        "done": np.array(done, dtype=np.int64),
        "n_evaluated": np.array(n_evaluated, dtype=np.int64),
    }
    arrays["checksum"] = np.array(_checksum(arrays))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(
    path,
    signature,
    shape,
    per_sample,
    *,
    fmt=CHECKPOINT_FORMAT,
    name="Data Shapley",
    sampling_options="antithetic or truncation_tolerance",
):
    """Read and verify a checkpoint; any damaged, foreign or mismatched file is a ValueError.

    ``fmt`` is the format name the file must carry, ``name`` the method named in the messages
    and ``sampling_options`` the options of the signature named when it differs.

    Checks, in order: a readable ``.npz`` (loaded with ``allow_pickle=False``), the format name
    and version, every entry with its dtype and shape, the checksum, the run's signature
    (estimator, data, objectives, sampling options), the shape of the sums, and the sums'
    consistency (finite; sums of squares non-negative and at least ``total**2 / done``).

    Returns
    -------
    dict with ``seed``, ``total``, ``total_sq`` (float64 arrays of ``shape``), ``done`` and
    ``n_evaluated`` (ints).
    """

    def refuse(what):
        raise ValueError(
            f"checkpoint {path!r} {what}. Delete it (or pass another checkpoint path) to start "
            "a new run."
        )

    try:
        size = check_input_file(path, argname="checkpoint")
    except (ValueError, PermissionError) as err:  # a directory, a FIFO, a device, unreadable
        raise ValueError(f"checkpoint {path!r} cannot be used: {err}") from err
    # the sums take 16 bytes per entry; an .npz adds headers (a few kB): refuse a file far
    # larger without reading it into memory
    limit = 16 * int(np.prod(shape)) + 2**16
    if size > limit:
        refuse(f"is {size} bytes, far more than a checkpoint of this run ({limit} at most)")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as err:
        raise ValueError(f"checkpoint {path!r} cannot be read: {err}.") from err
    if not raw:
        refuse(f"is empty (0 bytes), not a {name} checkpoint")
    if raw.startswith(b"\x93NUMPY"):
        refuse(f"is a single .npy array, not a {name} checkpoint (an .npz archive)")
    if not raw.startswith(b"PK"):
        refuse(
            f"is not a {name} checkpoint: not an .npz (zip) archive, it starts with {raw[:8]!r}"
        )
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as err:  # any reader error here means a damaged or foreign archive
        refuse(
            f"is not a readable {name} checkpoint (a truncated or damaged .npz archive, "
            f"or one holding Python objects: {type(err).__name__}: {err})"
        )
    if "format" not in arrays:
        if {"signature", "total", "total_sq", "done"} <= set(arrays):
            refuse(
                "has no format version (it was written by an older fairlearn-divine, without a "
                "checksum) and cannot be verified"
            )
        refuse(
            f"is not a {name} checkpoint: it holds the entries {sorted(arrays)}, not "
            f"{sorted(_ENTRIES)}"
        )
    found = arrays["format"]
    if found.dtype.kind != "U" or found.ndim != 0 or str(found) != fmt:
        refuse(f"is not a {name} checkpoint (format {found!r})")
    version = arrays.get("version")
    if version is None or version.dtype.kind not in "iu" or version.ndim != 0:
        refuse(f"has no valid format version (version {version!r})")
    if int(version) != CHECKPOINT_VERSION:
        refuse(
            f"has format version {int(version)}; this fairlearn-divine reads version "
            f"{CHECKPOINT_VERSION}"
        )
    missing = [key for key in _ENTRIES if key not in arrays]
    if missing:
        refuse(f"lacks the entries {missing}")
    extra = sorted(set(arrays) - set(_ENTRIES))
    if extra:
        refuse(f"has unexpected entries {extra}")
    for key, (kind, ndim) in _ENTRIES.items():
        arr = arrays[key]
        if arr.dtype.kind != kind and not (kind == "i" and arr.dtype.kind == "u"):
            refuse(f"has the entry {key!r} of dtype {arr.dtype}, expected kind {kind!r}")
        if kind == "f" and arr.dtype != np.float64:
            refuse(f"has the entry {key!r} of dtype {arr.dtype}, expected float64")
        if arr.ndim != ndim:
            refuse(f"has the entry {key!r} of shape {arr.shape}, expected {ndim} dimensions")
    if arrays["total"].shape != arrays["total_sq"].shape:
        refuse(
            f"has sums of shape {arrays['total'].shape} but sums of squares of shape "
            f"{arrays['total_sq'].shape}"
        )
    if str(arrays["checksum"]) != _checksum(arrays):
        refuse("fails its checksum: it was damaged or edited after it was written")
    if str(arrays["signature"]) != signature:
        refuse(
            "belongs to a different run: the estimator or its parameters, the training or "
            "evaluation data, the sample weights or groups, the objectives, "
            f"{sampling_options} differ"
        )
    total, total_sq = arrays["total"], arrays["total_sq"]
    if total.shape != tuple(shape):
        refuse(f"holds sums of shape {total.shape}, this run needs {tuple(shape)}")
    done, n_evaluated, seed = int(arrays["done"]), int(arrays["n_evaluated"]), int(arrays["seed"])
    if done < 0 or seed < 0 or n_evaluated < done * per_sample:
        refuse(f"holds impossible counts (done={done}, n_evaluated={n_evaluated}, seed={seed})")
    if done == 0 and (np.any(total != 0) or np.any(total_sq != 0)):
        refuse("holds non-zero sums for zero samples")
    if not (np.all(np.isfinite(total)) and np.all(np.isfinite(total_sq))):
        refuse("holds sums that are not finite")
    # Cauchy-Schwarz: a sum of squares of `done` numbers is at least (their sum)^2 / done
    bound = total**2 / max(done, 1)
    if np.any(total_sq < bound - 1e-9 * np.maximum(bound, 1e-300) - 1e-300):
        refuse("holds sums of squares that no set of samples can have (they were edited)")
    return {
        "seed": seed,
        "total": total.copy(),
        "total_sq": total_sq.copy(),
        "done": done,
        "n_evaluated": n_evaluated,
    }


def _moments(total, total_sq, count):
    if count == 0:
        return np.zeros_like(total), np.full_like(total, np.inf)
    mean = total / count
    if count < 2:
        return mean, np.full_like(total, np.inf)
    var = np.maximum(total_sq / count - mean**2, 0.0) * count / (count - 1)
    return mean, np.sqrt(var / count)
