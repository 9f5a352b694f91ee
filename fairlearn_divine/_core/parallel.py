"""One parallel map and one progress rule for every long computation.

:func:`parallel_map` runs ``func(chunk)`` over chunks of the work items through joblib, so a
``joblib.parallel_config`` backend (loky, threading, dask.distributed, ray) is honoured. The
chunk rule is the same everywhere: ``n_jobs`` is resolved with
:func:`joblib.effective_n_jobs` (so ``-1`` means every core of the backend), and the items are
split into about ``per_worker`` (default four) chunks per worker, never smaller than
``min_chunk`` items; serial work is split into at most 100 chunks, which only pace the
progress bar. Results come back in item order, whatever the number of workers.

Progress (:func:`progress_bar`): ``progress=True`` always shows a bar, ``False`` never, and
``None`` (the default of every public function) shows it on a terminal once the work has run
for :data:`PROGRESS_DELAY` seconds (tqdm's ``delay``): long calls report progress by default,
short ones print nothing.

Seeds (:func:`run_seed`, :func:`task_seeds`, :func:`task_rng`): a randomised computation draws
*one* integer seed up front from its ``random_state`` (an integer is the seed itself; a
``RandomState`` or ``Generator`` is drawn from once; ``None`` draws from numpy's global random
state), and task *t* (a permutation, a sample: a unit of work numbered independently of the
chunks) takes its random numbers from ``numpy.random.SeedSequence([seed, t])``. No task draws
from a shared generator, so every backend and every ``n_jobs`` give the same result.

Private state: with several workers, every task runs its own copy of ``func`` and of everything
it references (estimators, model views, caches, random generators): process backends (loky,
multiprocessing) copy it by pickling anyway; for any other backend (threading, dask, ray) the
function is pickled once and each task unpickles its own copy. No two tasks share a mutable
object, whatever the backend.

Interruption (:func:`stop_workers_on_interrupt`, used by :func:`parallel_map` with several
workers): for the duration of the call, in the main thread only, SIGINT raises
``KeyboardInterrupt`` and SIGTERM raises ``SystemExit(143)``; joblib then aborts the running
tasks, and the loky worker processes are killed (``shutdown(kill_workers=True)`` of loky's
reusable executor), so no worker outlives the interrupted call. The previous handlers are
restored when the call ends, however it ends. Outside our calls loky keeps its idle workers for
reuse; ours (started with an initializer, see :func:`_watched_loky`) end themselves when their
parent process is gone (killed by SIGTERM's default action or SIGKILL), within 0.2 s, instead
of running on until loky's idle timeout.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import numbers
import os
import pickle
import signal
import threading
import time
import warnings

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from joblib._parallel_backends import LokyBackend, MultiprocessingBackend
from joblib.parallel import get_active_backend
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .validation import check_integer

try:  # joblib >= 1.6 depends on cloudpickle; older versions vendor it
    import cloudpickle
except ImportError:  # pragma: no cover
    from joblib.externals import cloudpickle

__all__ = [
    "catch_warnings_locked",
    "check_progress",
    "chunk_items",
    "parallel_map",
    "progress_bar",
    "resolve_n_jobs",
    "run_seed",
    "stop_workers_on_interrupt",
    "task_rng",
    "task_seeds",
]

#: seeds drawn from a random generator lie in [0, _SEED_BOUND)
_SEED_BOUND = 2**31 - 1


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


#: ``progress=None``: a bar appears on a terminal once the work has run this many seconds.
PROGRESS_DELAY = 2.0


def check_progress(progress):
    """``progress`` as the progress rule takes it: True, False or None, else a TypeError.

    For callers that validate their arguments before the work starts (a bar is created only
    once there is work to show)."""
    if progress is not None and not isinstance(progress, bool | np.bool_):
        raise TypeError(f"progress must be True, False or None, got {progress!r}.")
    return progress


def progress_bar(progress, total, desc):
    """A tqdm bar under the package's one progress rule (see the module docstring)."""
    check_progress(progress)
    if progress is None:  # disable=None: tqdm shows it on a terminal only
        return tqdm(total=total, desc=desc, disable=None, delay=PROGRESS_DELAY, leave=False)
    return tqdm(total=total, desc=desc, disable=not progress, leave=False)


def run_seed(random_state):
    """The one integer seed of a randomised run, drawn up front from ``random_state``.

    Parameters
    ----------
    random_state : int, numpy.random.RandomState, numpy.random.Generator or None
        An integer is the seed itself; a ``RandomState`` or ``Generator`` is drawn from once
        (advancing it, as scikit-learn does); ``None`` draws from numpy's global random state.

    Returns
    -------
    int
        A non-negative seed; tasks derive their random numbers from it with
        :func:`task_seeds` / :func:`task_rng`.
    """
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative seed, got {random_state}.")
        return int(random_state)
    if random_state is None:
        return int(check_random_state(None).randint(_SEED_BOUND))  # numpy's global state
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(_SEED_BOUND))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(_SEED_BOUND))
    raise TypeError(
        "random_state must be None, a non-negative integer, a numpy.random.RandomState or a "
        f"numpy.random.Generator, got {random_state!r}."
    )


def task_seeds(random_state, n_tasks, *, start=0):
    """The seed sequences of tasks ``start, ..., start + n_tasks - 1`` of one run.

    Task *t* gets ``numpy.random.SeedSequence([run_seed(random_state), t])``: the same for any
    chunking, backend or ``n_jobs``. Pass the integer from :func:`run_seed` to get the seeds of
    later tasks of the same run (e.g. when resuming it).
    """
    seed = run_seed(random_state)
    return [np.random.SeedSequence([seed, t]) for t in range(start, start + int(n_tasks))]


def task_rng(seed, task):
    """The random generator of task number ``task`` of the run with seed ``seed``."""
    (sequence,) = task_seeds(seed, 1, start=int(task))
    return np.random.default_rng(sequence)


_WARNINGS_LOCK = threading.RLock()


@contextlib.contextmanager
def catch_warnings_locked(**kwargs):
    """``warnings.catch_warnings(**kwargs)``, one block at a time in the whole process.

    Python's warning filters and recorder are process-global: two threads inside
    ``catch_warnings`` at once corrupt them (the block that exits last restores what the other
    one installed, and later warnings vanish into a dead recorder). Parallel tasks may be
    threads (joblib's threading backend, an in-process dask cluster), so code that runs inside
    them catches warnings through this lock; under threads such blocks (e.g. refits) run one
    at a time.
    """
    with _WARNINGS_LOCK, warnings.catch_warnings(**kwargs) as caught:
        yield caught


def _copies_tasks(backend):
    """Whether the joblib backend gives each task its own copy of its arguments (processes)."""
    return isinstance(backend, MultiprocessingBackend)  # loky and multiprocessing


_watching_parent = False


def _exit_with_parent():
    """In a loky worker process: start (once) a daemon thread that ends the process when its
    parent is gone. loky keeps idle workers for reuse (300 s by default); a parent killed
    outside our calls (SIGTERM with its default action, SIGKILL) would otherwise leave them
    running, reparented to init. Each task calls it (a no-op outside a loky worker); our
    loky workers also run it as their initializer (:func:`_watch_parent`)."""
    if multiprocessing.current_process().name.startswith("Loky"):
        _watch_parent(os.getppid())  # a task runs while its parent lives


def _watch_parent(parent):
    """The thread of :func:`_exit_with_parent` for the parent process ``parent``, without the
    check that this is a worker (a loky initializer runs before the worker process has its
    name). The parent's pid comes from the parent: a worker still starting when its parent
    dies is already reparented when its initializer runs, and must then exit at once."""
    global _watching_parent
    if _watching_parent:
        return
    _watching_parent = True

    def watch():
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, name="fairlearn-divine-parent-watch", daemon=True).start()


def _watched_loky(backend):
    """The active loky backend with :func:`_watch_parent` as its workers' initializer, so
    that every worker, also one that runs none of our tasks, ends with its parent; ``None``
    (the active backend as it is) for other backends or a user's own initializer. loky reuses
    its executor across our calls (same initializer); a call of another library without it
    makes loky start new workers."""
    if type(backend) is not LokyBackend:
        return None
    if {"initializer", "initargs"} & set(backend.backend_kwargs):
        return None
    return LokyBackend(
        nesting_level=backend.nesting_level,
        inner_max_num_threads=backend.inner_max_num_threads,
        **backend.backend_kwargs,
        initializer=_watch_parent,
        initargs=(os.getpid(),),
    )


def _run_chunk(func, chunk, single_thread, pickled=False):
    _exit_with_parent()
    if pickled:
        func = pickle.loads(func)  # this task's own copy (see "Private state")
    with threadpool_limits(1) if single_thread else contextlib.nullcontext():
        return func(chunk)


def _private_func(func):
    """``func`` pickled once, for tasks to unpickle their own copy; a clear error if it cannot."""
    try:
        return cloudpickle.dumps(func)
    except Exception as err:  # cloudpickle raises several types for unpicklable objects
        raise TypeError(
            "With n_jobs > 1 every task works on its own copy of the estimator, data and "
            "objectives (as joblib's process backends do), so they must be picklable; this "
            f"one is not ({type(err).__name__}: {err}). Use n_jobs=1."
        ) from err


def _kill_loky_workers():
    """Kill the worker processes of loky's reusable executor, if there is one."""
    from joblib.externals.loky import reusable_executor

    executor = reusable_executor._executor
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)


_interrupt_depth = threading.local()


@contextlib.contextmanager
def stop_workers_on_interrupt():
    """SIGINT/SIGTERM stop the parallel work inside the block (see the module docstring).

    Installed only in the main thread (signal handlers can only be set there) and only by the
    outermost of nested blocks; restores the previous handlers on exit. SIGINT is re-raised as
    ``KeyboardInterrupt``, SIGTERM as ``SystemExit(128 + SIGTERM)``, after the loky workers are
    killed.
    """
    if threading.current_thread() is not threading.main_thread() or getattr(
        _interrupt_depth, "active", False
    ):
        yield
        return

    def handler(signum, frame):
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    signals = [signal.SIGINT, signal.SIGTERM]
    previous = {sig: signal.getsignal(sig) for sig in signals}
    _interrupt_depth.active = True
    try:
        for sig in signals:
            signal.signal(sig, handler)
        yield
    except (KeyboardInterrupt, SystemExit):
        _kill_loky_workers()
        raise
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        _interrupt_depth.active = False


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
    weight : callable
        The progress a chunk makes (default: its length).

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
            with stop_workers_on_interrupt():
                backend, _ = get_active_backend()
                pickled = not _copies_tasks(backend)
                task_func = _private_func(func) if pickled else func
                # one BLAS thread per worker: the workers already use every core
                tasks = (delayed(_run_chunk)(task_func, chunk, True, pickled) for chunk in chunks)
                parallel = Parallel(
                    n_jobs=n_workers, backend=_watched_loky(backend), return_as="generator"
                )
                for result, chunk in zip(parallel(tasks), chunks, strict=True):
                    results.append(result)
                    bar.update(weight(chunk))
    finally:
        bar.close()
    return results, chunks
