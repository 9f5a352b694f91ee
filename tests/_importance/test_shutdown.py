"""Clean shutdown of parallel leave-one-out and Data Shapley runs.

SIGTERM or SIGINT during a run with ``n_jobs=2`` (loky) must stop it: the process exits
(``SystemExit(143)`` for SIGTERM, ``KeyboardInterrupt`` for SIGINT), no worker process outlives
it, and a Data Shapley run with a checkpoint leaves a valid checkpoint from which a resumed run
gives exactly the uninterrupted result. The children (loky workers, its resource tracker) are
recorded *before* the signal, since they are reparented when their parent dies. The signal
handlers are installed only for the duration of the call and the previous ones restored.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import joblib
import numpy as np
import pytest
from _refits import make_gaussian_classification
from numpy.testing import assert_array_equal
from sklearn.linear_model import LogisticRegression

from fairlearn_divine import training_point_importance

try:
    import psutil
except ImportError:  # pragma: no cover - dask.distributed (the `test` extra) depends on it
    psutil = None

N, N_EVAL = 16, 30
SEED = 11


def _children(pid):
    """Every descendant pid of ``pid`` (psutil, else /proc/<pid>/task/*/children)."""
    if psutil is not None:
        try:
            return {p.pid for p in psutil.Process(pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            return set()
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as fh:
                    kids = {int(k) for k in fh.read().split()}
            except OSError:
                continue
            todo.extend(kids - found)
            found |= kids
    return found


def _commands(pids):
    """``{pid: command line}`` of ``pids``, for a failure message."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                out[pid] = fh.read().replace(b"\0", b" ").decode(errors="replace")[:120]
        except OSError:
            out[pid] = "?"
    return out


def _alive(pid):
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not count)."""
    if psutil is not None:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _problem():
    X, y = make_gaussian_classification(N + N_EVAL, 3, 2, random_state=2)
    return X[:N], y[:N], X[N:], y[N:]


def _model(X, y):
    return LogisticRegression().fit(X, y)


def _shapley(X, y, Xe, ye, **kw):
    return training_point_importance(
        _model(X, y),
        X,
        y,
        X_eval=Xe,
        y_eval=ye,
        method="data_shapley",
        convergence_tolerance=0.0,
        random_state=SEED,
        progress=False,
        **kw,
    )


_SCRIPT = """
import sys
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from fairlearn_divine import training_point_importance

data = np.load(sys.argv[1])
X, y, Xe, ye = data["X"], data["y"], data["Xe"], data["ye"]
if sys.argv[2] == "loo":  # a Pipeline: refits through EstimatorRefitter, slow enough to stop
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    training_point_importance(model, X, y, method="loo", n_jobs=2, progress=False)
elif sys.argv[2] == "idle":  # a finished parallel call, then idle: loky keeps its workers
    import time
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    training_point_importance(
        model, X, y, method="loo", indices=np.arange(8), n_jobs=2, progress=False
    )
    print("done", flush=True)
    time.sleep(600)
else:
    model = LogisticRegression().fit(X, y)
    training_point_importance(
        model, X, y, X_eval=Xe, y_eval=ye, method="data_shapley", n_permutations=10**7,
        convergence_tolerance=0.0, random_state=int(sys.argv[3]), progress=False, n_jobs=2,
        checkpoint=sys.argv[2],
    )
"""


def _start(tmp_path, X, y, Xe, ye, *args, stdout=subprocess.DEVNULL):
    data = tmp_path / "data.npz"
    np.savez(data, X=X, y=y, Xe=Xe, ye=ye)
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    return subprocess.Popen(
        [sys.executable, str(script), str(data), *map(str, args)],
        stdout=stdout,
        stderr=subprocess.PIPE,
    )


def _interrupt_and_check(proc, sig, ready, deadline):
    """Wait for ``ready()``, record the children, send ``sig``; the process and every child
    must end. Returns the process's stderr."""
    children = set()
    try:
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended by itself"
        assert ready(), "the run did not get going in time"
        children = _children(proc.pid)
        assert len(children) >= 2, children  # the two loky workers (and a resource tracker)
        proc.send_signal(sig)
        proc.wait(timeout=30)
        end = time.monotonic() + 15
        while any(_alive(pid) for pid in children) and time.monotonic() < end:
            time.sleep(0.05)
        alive = [pid for pid in children if _alive(pid)]
        assert not alive, f"processes {_commands(alive)} outlived their parent"
        return proc.communicate(timeout=30)[1].decode()  # the workers held stderr open too
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        for pid in children:  # leave nothing behind when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.stderr.close()


def _expected_exit(proc, sig, stderr):
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]  # SystemExit(143)
    else:  # an uncaught KeyboardInterrupt
        assert proc.returncode in (1, -signal.SIGINT, 128 + signal.SIGINT), stderr[-2000:]
        assert "KeyboardInterrupt" in stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_shapley_stops_workers_and_resume_equals_uninterrupted(tmp_path, sig):
    X, y, Xe, ye = _problem()
    path = tmp_path / "shapley.npz"
    proc = _start(tmp_path, X, y, Xe, ye, path, SEED)
    stderr = _interrupt_and_check(proc, sig, path.exists, time.monotonic() + 60)
    _expected_exit(proc, sig, stderr)
    # the checkpoint is valid and resumes to exactly the uninterrupted result
    with np.load(path, allow_pickle=False) as npz:
        done = int(npz["done"])
    assert done >= 8  # at least one round of 8 antithetic samples
    n_permutations = 2 * done + 16  # beyond what the killed run saved
    resumed = _shapley(X, y, Xe, ye, n_permutations=n_permutations, checkpoint=path, n_jobs=1)
    straight = _shapley(X, y, Xe, ye, n_permutations=n_permutations, n_jobs=1)
    assert resumed.n_permutations == straight.n_permutations == n_permutations
    assert_array_equal(resumed.scores, straight.scores)
    assert_array_equal(resumed.scores_stderr, straight.scores_stderr)


def test_sigterm_mid_loo_stops_workers(tmp_path):
    X, y = make_gaussian_classification(1500, 3, 2, random_state=4)
    proc = _start(tmp_path, X, y, X[:5], y[:5], "loo")
    started = {}

    def ready():  # the workers are running refits
        if len(_children(proc.pid)) >= 2:
            started.setdefault("t", time.monotonic())
        return "t" in started and time.monotonic() - started["t"] > 1.0

    stderr = _interrupt_and_check(proc, signal.SIGTERM, ready, time.monotonic() + 60)
    _expected_exit(proc, signal.SIGTERM, stderr)


def test_sigterm_between_calls_leaves_no_idle_worker(tmp_path):
    """After a parallel call loky keeps its workers for reuse; SIGTERM's default action then
    kills the parent outside our signal handlers, and the workers must end with it."""
    X, y = make_gaussian_classification(60, 3, 2, random_state=4)
    proc = _start(tmp_path, X, y, X[:5], y[:5], "idle", stdout=subprocess.PIPE)
    done = {}

    def ready():  # the call has returned and the process sleeps
        if not done and proc.stdout.readline().strip() == b"done":
            done["yes"] = True
        return bool(done)

    try:
        stderr = _interrupt_and_check(proc, signal.SIGTERM, ready, time.monotonic() + 60)
    finally:
        proc.stdout.close()
    assert proc.returncode == -signal.SIGTERM, stderr[-2000:]  # the default action


def test_handlers_are_restored_after_the_call():
    X, y, Xe, ye = _problem()
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for n_jobs in (1, 2):
        _shapley(X, y, Xe, ye, n_permutations=4, n_jobs=n_jobs)
        training_point_importance(
            _model(X, y), X, y, method="loo", indices=[0, 1], n_jobs=n_jobs, progress=False
        )
        after = {sig: signal.getsignal(sig) for sig in before}
        assert after == before


def test_parallel_run_from_another_thread_installs_no_handler():
    """Signal handlers can only be set in the main thread: elsewhere the run goes on without."""
    import threading

    X, y, Xe, ye = _problem()
    before = signal.getsignal(signal.SIGTERM)
    out = {}

    def run():
        try:
            out["res"] = _shapley(X, y, Xe, ye, n_permutations=4, n_jobs=2)
        except BaseException as err:  # reported below
            out["err"] = err

    with joblib.parallel_config(backend="threading"):
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout=120)
    assert "err" not in out, out.get("err")
    serial = _shapley(X, y, Xe, ye, n_permutations=4, n_jobs=1)
    assert_array_equal(out["res"].scores, serial.scores)
    assert signal.getsignal(signal.SIGTERM) is before
