"""One parallel map and one progress rule for every long computation.

:func:`parallel_map` runs ``func(chunk)`` over chunks of the work items through joblib, so a
``joblib.parallel_config`` backend (loky, threading, dask.distributed, ray) is honoured. The
chunk rule is the same everywhere: ``n_jobs`` is resolved with
:func:`joblib.effective_n_jobs` (so ``-1`` means every core of the backend), and the items are
split into about ``per_worker`` (default four) chunks per worker, never smaller than
``min_chunk`` items; serial work is split into at most 100 chunks, which only pace the
progress bar. Results come back in item order, whatever the number of workers.

Progress (:func:`progress_bar`): ``progress=True`` always shows a bar, ``False`` never, and
``None`` (the default of every public function) shows it on a terminal for work of at least
``auto_min`` items.
"""

from __future__ import annotations

import contextlib

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .validation import check_integer

__all__ = ["chunk_items", "parallel_map", "progress_bar", "resolve_n_jobs"]


def resolve_n_jobs(n_jobs):
    """Number of workers ``n_jobs`` means for the active joblib backend (``None`` -> 1)."""
    if n_jobs is None:
        return 1
    n_jobs = check_integer(n_jobs, "n_jobs")
    if n_jobs == 0:
        raise ValueError("n_jobs must be None or a non-zero integer, got 0.")
    return max(1, int(effective_n_jobs(n_jobs)))


def chunk_items(items, n_workers, *, min_chunk=1, per_worker=4):
    """Split ``items`` into contiguous chunks: ~``per_worker`` per worker, >= ``min_chunk``."""
    items = np.asarray(items)
    if len(items) == 0:
        return []
    # serial: chunks only pace the progress bar (at most 100 updates)
    n_chunks = 100 if n_workers <= 1 else per_worker * n_workers
    n_chunks = max(1, min(n_chunks, len(items) // max(1, min_chunk)))
    return [c for c in np.array_split(items, n_chunks) if len(c)]


def progress_bar(progress, total, desc, *, auto_min=100):
    """A tqdm bar under the package's one progress rule (see the module docstring)."""
    if progress is not None and not isinstance(progress, bool | np.bool_):
        raise TypeError(f"progress must be True, False or None, got {progress!r}.")
    if progress is None:
        disable = None if total >= auto_min else True  # None: tqdm shows it on a terminal
    else:
        disable = not progress
    return tqdm(total=total, desc=desc, disable=disable, leave=False)


def _run_chunk(func, chunk, single_thread):
    with threadpool_limits(1) if single_thread else contextlib.nullcontext():
        return func(chunk)


def parallel_map(
    func,
    items,
    *,
    n_jobs=None,
    progress=None,
    desc="",
    min_chunk=1,
    per_worker=4,
    weight=len,
):
    """``[func(chunk) for chunk in chunks(items)]`` in parallel, results in chunk order.

    Parameters
    ----------
    func : callable
        Takes one chunk (a slice of ``items`` as an array) and returns its result.
    items : array-like
        The work items (e.g. row indices).
    n_jobs : int or None
        Workers (``None``: serial; ``-1``: every core of the active backend).
    progress, desc :
        The progress rule and the bar's label; the bar advances by ``weight(chunk)``.
    min_chunk, per_worker : int
        The chunk rule (see the module docstring).

    Returns
    -------
    list
        One result per chunk, and the chunks: ``(results, chunks)``.
    """
    n_workers = resolve_n_jobs(n_jobs)
    chunks = chunk_items(items, n_workers, min_chunk=min_chunk, per_worker=per_worker)
    bar = progress_bar(progress, len(np.asarray(items)), desc)
    results = []
    try:
        if n_workers == 1:
            for chunk in chunks:
                results.append(func(chunk))
                bar.update(weight(chunk))
        else:
            # one BLAS thread per worker: the workers already use every core
            tasks = (delayed(_run_chunk)(func, chunk, True) for chunk in chunks)
            for result, chunk in zip(
                Parallel(n_jobs=n_workers, return_as="generator")(tasks), chunks, strict=True
            ):
                results.append(result)
                bar.update(weight(chunk))
    finally:
        bar.close()
    return results, chunks
