"""The boosted-trees audit example runs on the shared data and its printed claims hold.

Runs ``examples/adult_boosted_trees_audit.py`` in a subprocess with warnings as errors (about
12 s). It needs the shared data: under ``CI=true`` its absence fails, elsewhere it skips.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "adult_boosted_trees_audit.py"


def test_boosted_trees_audit_example():
    data_home = os.environ.get("FAIRLEARN_DIVINE_DATA")
    if not data_home or not os.path.isdir(data_home):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("FAIRLEARN_DIVINE_DATA must point at the shared data under CI")
        pytest.skip("FAIRLEARN_DIVINE_DATA is not set to the shared data")
    run = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "FAIRLEARN_DIVINE_DATA": data_home, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout
    assert "method 'tree_influence'" in out and "method 'data_oob'" in out
    # the top 1% lowers the validation gap more than each random 1% does
    top, randoms = re.search(r"top \d+ rows: [\d.]+ -> ([\d.]+) .*random rows: (.*)", out).groups()
    assert all(float(top) < float(r) for r in randoms.split(", "))
    # the remover's refit is fairer on validation than the unmitigated model
    before, after = re.search(r"difference ([\d.]+) -> ([\d.]+) by the refit", out).groups()
    assert float(after) < float(before)
