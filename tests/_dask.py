"""A real dask ``LocalCluster`` for the backend tests (two workers, one thread each).

``dask.distributed`` comes with the ``test`` extra: under ``CI=true`` a missing install fails
the test, elsewhere it skips it.
"""

import contextlib
import os

import pytest


@contextlib.contextmanager
def local_client(*, processes):
    """A client of a fresh two-worker cluster: worker processes, or threads of this process
    (``processes=False``: tasks could share objects, and the cluster starts fast)."""
    try:
        import distributed
    except ImportError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"dask.distributed is required in CI: {exc}")
        pytest.skip(f"dask.distributed is not installed: {exc}")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=":0",  # a free port: two test runs at once must not collide
        silence_logs=40,
    )
    try:
        client = distributed.Client(cluster, timeout="60s")
        try:
            yield client
        finally:
            client.close(timeout=30)
    finally:
        cluster.close(timeout=30)
