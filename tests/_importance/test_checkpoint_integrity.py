"""Data Shapley checkpoints: versioned, checksummed, refused when damaged or foreign.

The format (version 1, documented in docs/shapley.md) is an ``.npz`` archive with the entries
``format``, ``version``, ``signature``, ``seed``, ``total``, ``total_sq``, ``done``,
``n_evaluated`` and ``checksum``; the checksum is the SHA-256 of every other entry's name,
dtype, shape and bytes, in that order. It is re-implemented here, independently of the package,
to write tampered files whose checksum is right. Every damaged, foreign or mismatched file must
raise a ValueError naming the file and what is wrong -- never a numpy loader traceback, never a
silent resume -- and must be left as it was. A run with ``random_state=None`` stores the seed it
drew and resumes with it, also after being killed with SIGKILL in the middle of the run.
"""

import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from _refits import make_gaussian_classification
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from fairlearn_divine import training_point_importance

N, N_EVAL = 12, 20
ORDER = ["format", "version", "signature", "seed", "total", "total_sq", "done", "n_evaluated"]


def _problem():
    X, y = make_gaussian_classification(N + N_EVAL, 2, 2, random_state=3)
    return X[:N], y[:N], X[N:], y[N:]


def _shapley(model, X, y, Xe, ye, **kw):
    opts = dict(
        method="data_shapley",
        n_permutations=8,
        convergence_tolerance=0.0,
        random_state=5,
        progress=False,
    )
    opts.update(kw)
    return training_point_importance(model, X, y, X_eval=Xe, y_eval=ye, **opts)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A valid checkpoint of 8 permutations (4 antithetic samples) and its problem."""
    X, y, Xe, ye = _problem()
    model = LogisticRegression().fit(X, y)
    path = os.fspath(tmp_path_factory.mktemp("ckpt") / "shapley.npz")
    result = _shapley(model, X, y, Xe, ye, checkpoint=path)
    with open(path, "rb") as fh:
        raw = fh.read()
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return {"raw": raw, "arrays": arrays, "problem": (X, y, Xe, ye), "model": model, "res": result}


def _checksum(arrays):
    digest = hashlib.sha256()
    for key in ORDER:
        arr = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{arr.dtype.str}|{arr.shape}|".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def _npz(arrays, *, checksum=True, **save):
    arrays = dict(arrays)
    if checksum:
        arrays["checksum"] = np.array(_checksum(arrays))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **save)
    return buffer.getvalue()


def _edit(**changes):
    """Damage: entries replaced, checksum recomputed (a consistent but impossible file)."""

    def make(raw, arrays):
        new = {k: v for k, v in arrays.items() if k != "checksum"}
        new.update({k: np.asarray(v) for k, v in changes.items()})
        return _npz(new)

    return make


def _stale(**changes):
    """Damage: entries replaced, the old checksum kept (an edited file)."""

    def make(raw, arrays):
        new = dict(arrays)
        new.update({k: np.asarray(v) for k, v in changes.items()})
        return _npz(new, checksum=False)

    return make


def _without(*keys, checksum=False):
    def make(raw, arrays):
        return _npz({k: v for k, v in arrays.items() if k not in keys}, checksum=checksum)

    return make


def _flip_byte(raw, arrays):
    i = raw.index(np.asarray(arrays["total"]).tobytes()[:8]) + 3
    return raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1 :]


def _npy(raw, arrays):
    buffer = io.BytesIO()
    np.save(buffer, arrays["total"])
    return buffer.getvalue()


def _objects(raw, arrays):
    buffer = io.BytesIO()
    np.savez(buffer, total=np.array([{"a": 1}, None], dtype=object))
    return buffer.getvalue()


def _old_format(raw, arrays):  # what fairlearn-divine wrote before checkpoints had a version
    keys = ["signature", "total", "total_sq", "done", "n_evaluated"]
    return _npz({k: arrays[k] for k in keys}, checksum=False)


TOTAL = np.zeros((N, 1))
DAMAGED = [
    ("empty", lambda raw, a: b"", "is empty"),
    ("truncated_half", lambda raw, a: raw[: len(raw) // 2], "truncated or damaged"),
    ("truncated_tail", lambda raw, a: raw[:-7], "truncated or damaged"),
    ("random_bytes", lambda raw, a: bytes(range(7, 250)) * 3, r"not an \.npz \(zip\) archive"),
    ("text", lambda raw, a: b"seed=5\ntotal=1,2,3\n", r"not an \.npz \(zip\) archive"),
    ("zip_magic_then_junk", lambda raw, a: b"PK\x03\x04" + bytes(300), "truncated or damaged"),
    ("byte_flipped", _flip_byte, "damaged"),
    ("npy_array", _npy, r"single \.npy array"),
    ("pickled_objects", _objects, "Python objects"),
    ("foreign_npz", lambda raw, a: _npz({"weights": np.ones(3)}, checksum=False), "entries"),
    ("old_format", _old_format, "no format version.*older fairlearn-divine"),
    ("version_2", _edit(version=2), "format version 2; this fairlearn-divine reads version 1"),
    ("other_format", _edit(format="some other tool"), r"format array\('some other tool'"),
    ("no_checksum", _without("checksum"), r"lacks the entries \['checksum'\]"),
    ("no_total_sq", _without("total_sq", checksum=False), r"lacks the entries \['total_sq'"),
    ("extra_entry", lambda raw, a: _npz({**a, "x": np.array(1)}, checksum=False), "unexpected"),
    ("shape_rows", _edit(total=TOTAL[:-1], total_sq=TOTAL[:-1]), r"shape \(11, 1\).*\(12, 1\)"),
    ("shape_mismatch", _edit(total_sq=TOTAL[:-1]), r"sums of squares of shape \(11, 1\)"),
    ("one_dimensional", _edit(total=np.zeros(N)), "'total' of shape .* 2 dimensions"),
    ("float32", _edit(total=TOTAL.astype(np.float32)), "'total' of dtype float32"),
    ("integer_total", _edit(total=TOTAL.astype(np.int64)), "'total' of dtype int64"),
    ("float_done", _edit(done=4.0), "'done' of dtype float64"),
    ("string_seed", _edit(seed="5"), "'seed' of dtype"),
    ("totals_edited", _stale(total=np.full((N, 1), 0.5)), "fails its checksum"),
    ("done_edited", _stale(done=400), "fails its checksum"),
    ("checksum_edited", _stale(checksum="0" * 64), "fails its checksum"),
    ("impossible_sums", _edit(total=np.full((N, 1), 50.0)), "no set of samples can have"),
    ("nan_total", _edit(total=np.full((N, 1), np.nan)), "not finite"),
    ("negative_done", _edit(done=-1), "impossible counts"),
    ("too_few_evaluations", _edit(n_evaluated=1), "impossible counts"),
    ("zero_done_nonzero_sums", _edit(done=0, n_evaluated=0), "non-zero sums for zero samples"),
    ("signature_edited", _edit(signature="f" * 64), "belongs to a different run"),
    ("seed_edited", _edit(seed=6), "made with random_state=6, not 5"),
]


def test_a_directory_or_oversized_file_is_refused_without_reading_it(made, tmp_path):
    X, y, Xe, ye = made["problem"]
    folder = tmp_path / "shapley.npz"
    folder.mkdir()
    with pytest.raises(ValueError, match=r"checkpoint .*shapley\.npz.*a directory"):
        _shapley(made["model"], X, y, Xe, ye, checkpoint=str(folder))
    big = tmp_path / "big.npz"
    big.write_bytes(made["raw"] + bytes(2**17))
    with pytest.raises(ValueError, match=r"big\.npz' is \d+ bytes, far more than a checkpoint"):
        _shapley(made["model"], X, y, Xe, ye, checkpoint=str(big))
    with pytest.raises(ValueError, match="checkpoint"):  # before any computation
        _shapley(made["model"], X, y, Xe, ye, checkpoint=str(tmp_path / "no" / "such.npz"))


@pytest.mark.parametrize(("case", "damage", "match"), DAMAGED, ids=[d[0] for d in DAMAGED])
def test_damaged_checkpoint_is_refused_naming_the_file(made, tmp_path, case, damage, match):
    X, y, Xe, ye = made["problem"]
    arrays = {k: v.copy() for k, v in made["arrays"].items()}
    data = damage(made["raw"], arrays)
    path = tmp_path / f"{case}.npz"
    path.write_bytes(data)
    inputs = [a.copy() for a in (X, y, Xe, ye)]
    with pytest.raises(ValueError, match=rf"^checkpoint '{re.escape(str(path))}' .*{match}"):
        _shapley(made["model"], X, y, Xe, ye, checkpoint=str(path), n_permutations=16)
    assert path.read_bytes() == data  # left as it was
    for a, b in zip((X, y, Xe, ye), inputs, strict=True):
        assert_array_equal(a, b)


def _other_run(change, made):
    X, y, Xe, ye = made["problem"]
    model, kw = made["model"], {}
    if change == "data":
        X = X + 1.0
        model = LogisticRegression().fit(X, y)
    elif change == "labels":
        y = y.copy()
        y[:2] = 1 - y[:2]
        model = LogisticRegression().fit(X, y)
    elif change == "C":
        model = LogisticRegression(C=0.1).fit(X, y)
    elif change == "estimator":
        model = DecisionTreeClassifier(random_state=0).fit(X, y)
    elif change == "sample_weight":
        kw["sample_weight"] = np.linspace(0.5, 1.5, N)
        model = LogisticRegression().fit(X, y, sample_weight=kw["sample_weight"])
    elif change == "objective":
        kw["objective"] = "zero_one_loss"
    elif change == "eval_set":
        Xe = -Xe
    elif change == "antithetic":
        kw["antithetic"] = False
    elif change == "truncation_tolerance":
        kw["truncation_tolerance"] = 0.05
    return model, X, y, Xe, ye, kw


OTHER_RUNS = [
    "data",
    "labels",
    "C",
    "estimator",
    "sample_weight",
    "objective",
    "eval_set",
    "antithetic",
    "truncation_tolerance",
]


@pytest.mark.parametrize("change", OTHER_RUNS)
def test_checkpoint_of_another_run_is_refused(made, tmp_path, change):
    path = tmp_path / "shapley.npz"
    path.write_bytes(made["raw"])
    model, X, y, Xe, ye, kw = _other_run(change, made)
    with pytest.raises(ValueError, match=r"^checkpoint .*shapley\.npz' belongs to a different"):
        _shapley(model, X, y, Xe, ye, checkpoint=str(path), n_permutations=16, **kw)
    assert path.read_bytes() == made["raw"]


@pytest.mark.parametrize(
    ("random_state", "match"),
    [
        (6, r"made with random_state=5, not 6: pass random_state=5 \(or None\)"),
        (np.random.RandomState(0), "the RandomState given as random_state draws"),
    ],
    ids=["other_int", "other_RandomState"],
)
def test_checkpoint_of_another_seed_is_refused(made, tmp_path, random_state, match):
    path = tmp_path / "shapley.npz"
    path.write_bytes(made["raw"])
    X, y, Xe, ye = made["problem"]
    with pytest.raises(ValueError, match=match):
        _shapley(made["model"], X, y, Xe, ye, checkpoint=str(path), random_state=random_state)
    assert path.read_bytes() == made["raw"]


def test_checkpoint_carries_format_version_and_checksum(made):
    arrays = made["arrays"]
    assert sorted(arrays) == sorted([*ORDER, "checksum"])
    assert str(arrays["format"]) == "fairlearn-divine data_shapley checkpoint"
    assert int(arrays["version"]) == 1
    assert str(arrays["checksum"]) == _checksum(arrays)
    assert int(arrays["seed"]) == 5 and int(arrays["done"]) == 4
    assert arrays["total"].dtype == np.float64 and arrays["total"].shape == (N, 1)
    assert all(a.dtype != object for a in arrays.values())


def test_resume_with_the_same_seed_equals_an_uninterrupted_run(made, tmp_path):
    X, y, Xe, ye = made["problem"]
    path = tmp_path / "shapley.npz"
    path.write_bytes(made["raw"])
    # what a SIGKILL during a write can leave: a stale temporary file next to the checkpoint
    (tmp_path / ".fairlearn-divine-x1y2z3.tmp").write_bytes(made["raw"][:100])
    resumed = _shapley(made["model"], X, y, Xe, ye, checkpoint=str(path), n_permutations=24)
    straight = _shapley(made["model"], X, y, Xe, ye, n_permutations=24)
    assert resumed.n_permutations == 24
    assert_allclose(resumed.scores, straight.scores, rtol=1e-12, atol=1e-15)
    assert_allclose(resumed.scores_stderr, straight.scores_stderr, rtol=1e-12, atol=1e-15)
    # asking for fewer permutations than the file holds returns the file's estimate
    again = _shapley(made["model"], X, y, Xe, ye, checkpoint=str(path), n_permutations=8)
    assert again.n_permutations == 24
    assert_array_equal(again.scores, resumed.scores)


def test_random_state_none_is_resumable(tmp_path):
    X, y, Xe, ye = _problem()
    model = LogisticRegression().fit(X, y)
    path = str(tmp_path / "shapley.npz")
    first = _shapley(model, X, y, Xe, ye, checkpoint=path, random_state=None)
    resumed = _shapley(model, X, y, Xe, ye, checkpoint=path, random_state=None, n_permutations=24)
    assert resumed.seed == first.seed and isinstance(first.seed, int)
    straight = _shapley(model, X, y, Xe, ye, random_state=first.seed, n_permutations=24)
    assert_allclose(resumed.scores, straight.scores, rtol=1e-12, atol=1e-15)
    # the stored seed, given explicitly, resumes too
    more = _shapley(
        model, X, y, Xe, ye, checkpoint=path, random_state=first.seed, n_permutations=32
    )
    assert more.n_permutations == 32


_KILLED_RUN = """
import sys
import numpy as np
from sklearn.linear_model import LogisticRegression
from fairlearn_divine import training_point_importance

data = np.load(sys.argv[1])
X, y, Xe, ye = data["X"], data["y"], data["Xe"], data["ye"]
model = LogisticRegression().fit(X, y)
training_point_importance(
    model, X, y, X_eval=Xe, y_eval=ye, method="data_shapley", n_permutations=10**7,
    convergence_tolerance=0.0, random_state=None, progress=False, checkpoint=sys.argv[2],
)
"""


def test_sigkill_mid_run_then_resume_with_random_state_none(tmp_path):
    X, y, Xe, ye = _problem()
    data = tmp_path / "data.npz"
    np.savez(data, X=X, y=y, Xe=Xe, ye=ye)
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(_KILLED_RUN))
    path = tmp_path / "shapley.npz"
    proc = subprocess.Popen([sys.executable, str(script), str(data), str(path)])
    try:
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert path.exists(), "the run wrote no checkpoint"
        first = path.stat().st_mtime_ns
        while path.stat().st_mtime_ns == first and time.monotonic() < deadline:
            time.sleep(0.005)  # one more round saved: killed in the middle of the run
        assert proc.poll() is None, "the run ended by itself"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with np.load(path, allow_pickle=False) as npz:
        done = int(npz["done"])
    assert done >= 8
    before = path.read_bytes()
    model = LogisticRegression().fit(X, y)
    target = 2 * (done + 16)  # two more rounds of 8 antithetic samples
    resumed = _shapley(
        model, X, y, Xe, ye, checkpoint=str(path), random_state=None, n_permutations=target
    )
    assert path.read_bytes() != before  # resumed and saved further
    straight = _shapley(model, X, y, Xe, ye, random_state=resumed.seed, n_permutations=target)
    assert resumed.n_permutations == straight.n_permutations == target
    assert_allclose(resumed.scores, straight.scores, rtol=1e-12, atol=1e-15)
    assert_allclose(resumed.scores_stderr, straight.scores_stderr, rtol=1e-12, atol=1e-15)
