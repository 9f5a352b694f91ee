"""Tests of fairlearn_divine._core.parallel: the n_jobs rule, the chunk rule, ordered results,
the progress rule, and an end-to-end check that n_jobs=-1 changes nothing but the speed.

A previous bug: ``n_jobs=-1`` meant one worker. It must mean every core of the joblib backend
(``joblib.effective_n_jobs(-1)``, which for loky is ``joblib.cpu_count()``, the usable cores).
"""

import os

import joblib
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.ensemble import RandomForestClassifier

from fairlearn_divine import training_point_importance
from fairlearn_divine._core.parallel import (
    chunk_items,
    parallel_map,
    progress_bar,
    resolve_n_jobs,
)


def test_resolve_n_jobs_minus_one_is_every_core():
    n = resolve_n_jobs(-1)
    assert n == joblib.effective_n_jobs(-1)
    assert n == joblib.cpu_count()  # loky: the usable cores (os.cpu_count() unless limited)
    assert n <= os.cpu_count()
    assert resolve_n_jobs(None) == 1
    assert resolve_n_jobs(1) == 1
    assert resolve_n_jobs(2) == 2
    assert resolve_n_jobs(np.int64(2)) == 2
    if joblib.cpu_count() > 1:
        assert resolve_n_jobs(-2) == joblib.cpu_count() - 1


def test_resolve_n_jobs_follows_the_active_backend():
    with joblib.parallel_config(backend="threading", n_jobs=3):
        assert resolve_n_jobs(-1) == joblib.effective_n_jobs(-1)


@pytest.mark.parametrize("bad", [0, 1.5, "2", True, False])
def test_resolve_n_jobs_rejects(bad):
    with pytest.raises(ValueError, match="n_jobs"):
        resolve_n_jobs(bad)


def test_chunks_use_every_worker():
    workers = resolve_n_jobs(-1)
    chunks = chunk_items(range(100), workers)
    assert len(chunks) >= workers
    assert_array_equal(np.concatenate(chunks), np.arange(100))  # contiguous, in order
    assert all(len(c) > 0 for c in chunks)
    # the rule of the module docstring: ~4 chunks per worker, never smaller than min_chunk
    assert len(chunk_items(range(100), 2)) == 8
    assert len(chunk_items(range(100), 3, min_chunk=20)) == 5
    assert min(len(c) for c in chunk_items(range(100), 3, min_chunk=20)) >= 20
    assert len(chunk_items(range(1000), 1)) == 100  # serial: at most 100 (progress pacing)
    assert len(chunk_items(range(7), 4)) == 7
    assert chunk_items([], 4) == []


def _chunk_squares_and_pid(chunk):
    return np.asarray(chunk) ** 2, os.getpid()


@pytest.mark.parametrize("n_jobs", [None, 1, 2, -1])
def test_parallel_map_results_in_order(n_jobs):
    items = np.arange(57)
    results, chunks = parallel_map(
        _chunk_squares_and_pid, items, n_jobs=n_jobs, progress=False, per_worker=3
    )
    assert len(results) == len(chunks)
    assert_array_equal(np.concatenate(chunks), items)
    assert_array_equal(np.concatenate([r[0] for r in results]), items**2)
    pids = {r[1] for r in results}
    if resolve_n_jobs(n_jobs) == 1:
        assert pids == {os.getpid()}  # serial: in this process
    else:
        assert os.getpid() not in pids  # loky workers, not this process


@pytest.mark.parametrize("progress", [True, False, None, np.True_])
def test_progress_bar_accepts_bool_or_none(progress):
    bar = progress_bar(progress, 10, "test")
    try:
        # None: a terminal only (not pytest's captured stderr), after PROGRESS_DELAY seconds
        assert bar.disable == (progress is False or progress is None)
        bar.update(10)
    finally:
        bar.close()


@pytest.mark.parametrize("bad", [1, 0, "yes", 1.0])
def test_progress_bar_rejects_non_bool(bad):
    with pytest.raises(TypeError, match="progress"):
        progress_bar(bad, 10, "test")
    with pytest.raises(TypeError, match="progress"):
        parallel_map(len, np.arange(3), progress=bad)


def test_loo_n_jobs_minus_one_equals_serial_exactly():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=60) > 0).astype(int)
    Xtr, ytr, Xe, ye = X[:45], y[:45], X[45:], y[45:]
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(Xtr, ytr)
    kw = dict(X_eval=Xe, y_eval=ye, method="loo", progress=False)
    serial = training_point_importance(model, Xtr, ytr, n_jobs=None, **kw)
    every_core = training_point_importance(model, Xtr, ytr, n_jobs=-1, **kw)
    assert_array_equal(every_core.scores, serial.scores)
    assert every_core.baseline == serial.baseline
    assert np.count_nonzero(serial.scores) > 0
