"""``fairlearn-divine audit`` never loses or corrupts the user's files.

A table of bad and hostile inputs, each run through the real command in a subprocess
(``python -m fairlearn_divine``, with a timeout so that a FIFO or ``/dev/zero`` cannot hang the
suite): the exit status is 2, stderr ends with one ``fairlearn-divine: error:`` line naming the
problem, no traceback is printed, every file in the case's directory is byte-identical afterwards
and nothing (no report, no temporary file) is added. The cases run concurrently in one
module-scoped fixture (each subprocess spends ~2 s importing the package). In-process tests
check that an interrupted write leaves the old file intact and no temporary file behind, and
that untrusted model types are listed even with ``--quiet``.
"""

import concurrent.futures
import hashlib
import os
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from fairlearn_divine._cli import main
from fairlearn_divine._core import files

TIMEOUT = 60  # seconds per subprocess; a hang on a FIFO or /dev/zero would exceed it
N_ROWS = 300
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def _frame(n=N_ROWS, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "income": rng.normal(50, 10, n).round(3),
            "age": rng.integers(18, 80, n),
            "city": rng.choice(["north", "south", "east"], n),
            "sex": rng.choice(["f", "m"], n),
        }
    )
    logit = (df["income"] - 50) / 10 + 0.8 * (df["sex"] == "m") + rng.normal(0, 1, n)
    df["approved"] = np.where(logit > 0, "yes", "no")
    return df


def _write_csv(path, df=None):
    (_frame() if df is None else df).to_csv(path, index=False)
    return path


def _data(d):
    return _write_csv(d / "data.csv")


def _base(d, data=None):
    data = _data(d) if data is None else data
    return ["--data", str(data), "--target", "approved", "--sensitive", "sex"]


def _model(d):
    """A skops file of a small fitted model (skops is a test dependency)."""
    import skops.io as sio

    df = _frame()
    model = LogisticRegression().fit(df[["income", "age"]], df["approved"])
    path = d / "model.skops"
    sio.dump(model, path)
    return path


def _fifo(path):
    os.mkfifo(path)
    return path


# Each case builds its files in its own directory d and returns the audit arguments; the
# subprocess runs with cwd=d, so a default --output would land in d and fail the check.


def case_output_is_data(d):
    return [*_base(d), "--output", str(d / "data.csv")]


def case_json_is_data(d):
    return [*_base(d), "--output", str(d / "r.html"), "--json", str(d / "data.csv")]


def case_json_is_output(d):
    (d / "r.html").write_text("<p>an earlier report</p>")
    return [*_base(d), "--output", str(d / "r.html"), "--json", str(d / "r.html")]


def case_output_relative_path_to_data(d):
    os.mkdir(d / "sub")
    return [*_base(d), "--output", "sub/../data.csv"]


def case_output_symlink_to_data(d):
    args = _base(d)
    os.symlink(d / "data.csv", d / "link.html")
    return [*args, "--output", str(d / "link.html")]


def case_output_hard_link_to_data(d):
    args = _base(d)
    os.link(d / "data.csv", d / "hard.html")
    return [*args, "--output", str(d / "hard.html")]


def case_json_through_symlinked_dir_to_data(d):
    args = _base(d)
    os.symlink(d, d / "alias")
    return [*args, "--output", str(d / "r.html"), "--json", str(d / "alias" / "data.csv")]


def case_output_is_model_file(d):
    return [*_base(d), "--model-file", str(_model(d)), "--output", str(d / "model.skops")]


def case_output_dir_missing(d):
    return [*_base(d), "--output", str(d / "missing" / "r.html")]


def case_json_dir_missing(d):
    return [*_base(d), "--output", str(d / "r.html"), "--json", str(d / "missing" / "r.json")]


def case_output_parent_is_a_file(d):
    return [*_base(d), "--output", str(d / "data.csv" / "r.html")]


def case_output_is_a_directory(d):
    os.mkdir(d / "out")
    return [*_base(d), "--output", str(d / "out")]


def case_output_is_a_fifo(d):
    return [*_base(d), "--output", str(_fifo(d / "out.html"))]


def case_output_read_only_file(d):
    (d / "r.html").write_text("<p>keep me</p>")
    os.chmod(d / "r.html", 0o444)
    return [*_base(d), "--output", str(d / "r.html")]


def case_output_dir_not_writable(d):
    os.mkdir(d / "ro")
    os.chmod(d / "ro", 0o555)
    return [*_base(d), "--output", str(d / "ro" / "r.html")]


def case_data_missing(d):
    return [*_base(d, data=d / "nope.csv"), "--output", str(d / "r.html")]


def case_data_is_a_directory(d):
    os.mkdir(d / "data_dir")
    return [*_base(d, data=d / "data_dir"), "--output", str(d / "r.html")]


def case_data_is_a_fifo(d):
    return [*_base(d, data=_fifo(d / "pipe.csv")), "--output", str(d / "r.html")]


def case_data_is_dev_zero(d):
    return [*_base(d, data="/dev/zero"), "--output", str(d / "r.html")]


def case_data_symlink_to_dev_zero(d):
    os.symlink("/dev/zero", d / "zero.csv")
    return [*_base(d, data=d / "zero.csv"), "--output", str(d / "r.html")]


def case_data_over_size_limit(d):
    return [*_base(d), "--max-input-mb", "0.001", "--output", str(d / "r.html")]


def case_model_file_is_a_fifo(d):
    fifo = _fifo(d / "model.skops")
    return [*_base(d), "--model-file", str(fifo), "--output", str(d / "r.html")]


def case_model_file_zip_bomb(d):
    # 8 MB of zeros compress to a few KB; the limit applies to the unpacked size
    bomb = d / "bomb.skops"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("schema.json", b"{}")
        archive.writestr("big.npy", bytes(8 * 2**20))
    assert bomb.stat().st_size < 100_000
    return [*_base(d), "--model-file", str(bomb), "--max-input-mb", "1", "--output", "r.html"]


def case_duplicated_target_column(d):
    df = _frame()
    df["approved_copy"] = df["approved"]
    path = d / "data.csv"
    _write_csv(path, df)
    text = path.read_text().replace("approved_copy", "approved", 1)
    path.write_text(text)
    return [*_base(d, data=path), "--output", str(d / "r.html")]


def case_duplicated_feature_column(d):
    path = d / "data.csv"
    _write_csv(path, _frame().rename(columns={"age": "income"}))
    return [*_base(d, data=path), "--output", str(d / "r.html")]


def case_unique_id_column(d):
    df = _frame()
    df.insert(0, "customer", [f"c{i:05d}" for i in range(len(df))])
    path = _write_csv(d / "data.csv", df)
    return [*_base(d, data=path), "--output", str(d / "r.html")]


def case_drop_columns_unknown(d):
    return [*_base(d), "--drop-columns", "customer", "--output", str(d / "r.html")]


def case_drop_columns_target(d):
    return [*_base(d), "--drop-columns", "approved", "--output", str(d / "r.html")]


def case_n_points_more_than_rows(d):
    return [*_base(d), "--n-points", str(N_ROWS + 1), "--output", str(d / "r.html")]


def case_max_input_mb_not_positive(d):
    return [*_base(d), "--max-input-mb", "0", "--output", str(d / "r.html")]


_not_root = pytest.mark.skipif(ROOT, reason="root may write to read-only files and directories")

# (case, words the error line must contain). Run through the real command in a subprocess.
CASES = [
    (case_output_is_data, ["--output", "--data", "data.csv", "same file"]),
    (case_json_is_data, ["--json", "--data", "data.csv", "same file"]),
    (case_json_is_output, ["--json", "--output", "r.html", "same file"]),
    (case_output_symlink_to_data, ["--output", "--data", "link.html", "same file"]),
    (case_output_hard_link_to_data, ["--output", "--data", "hard.html", "same file"]),
    (case_output_is_model_file, ["--output", "--model-file", "model.skops", "same file"]),
    (case_output_dir_missing, ["cannot write --output", "missing", "does not exist"]),
    (case_output_parent_is_a_file, ["cannot write --output", "not a directory"]),
    (case_output_is_a_fifo, ["cannot write --output", "FIFO"]),
    pytest.param(case_output_read_only_file, ["--output", "read-only"], marks=_not_root),
    pytest.param(case_output_dir_not_writable, ["--output", "not writable"], marks=_not_root),
    (case_data_is_a_directory, ["--data", "data_dir", "a directory", "regular file"]),
    (case_data_is_a_fifo, ["--data", "pipe.csv", "FIFO", "regular file"]),
    (case_data_is_dev_zero, ["--data", "/dev/zero", "character device", "regular file"]),
    (case_data_symlink_to_dev_zero, ["--data", "zero.csv", "character device"]),
    (case_data_over_size_limit, ["--data", "data.csv", "limit", "--max-input-mb"]),
    (case_model_file_is_a_fifo, ["--model-file", "model.skops", "FIFO"]),
    (case_model_file_zip_bomb, ["--model-file", "bomb.skops", "unpacks to", "--max-input-mb"]),
    (case_duplicated_target_column, ["'approved'", "more than once"]),
    (case_unique_id_column, ["'customer'", f"{N_ROWS} distinct", "--drop-columns customer"]),
    (case_drop_columns_target, ["--drop-columns", "'approved'", "--drop-sensitive"]),
    (case_n_points_more_than_rows, ["--n-points", str(N_ROWS + 1), f"({N_ROWS})"]),
]

# More of the same kind, cheap to run in process (each subprocess spends ~2 s of CPU importing
# scikit-learn); none of them could hang if a check regressed.
IN_PROCESS_CASES = [
    (case_output_is_a_directory, ["cannot write --output", "directory"]),
    (case_data_missing, ["--data", "nope.csv", "no such file"]),
    (case_output_relative_path_to_data, ["--output", "--data", "same file"]),
    (case_json_through_symlinked_dir_to_data, ["--json", "--data", "same file"]),
    (case_json_dir_missing, ["cannot write --json", "missing", "does not exist"]),
    (case_duplicated_feature_column, ["'income'", "more than once"]),
    (case_drop_columns_unknown, ["--drop-columns", "'customer'", "not column"]),
    (case_max_input_mb_not_positive, ["--max-input-mb", "positive number"]),
]


def _case_id(case):
    func = case.values[0] if hasattr(case, "values") else case[0]
    return func.__name__.removeprefix("case_").replace("_", "-")


IDS = [_case_id(c) for c in CASES]
IN_PROCESS_IDS = [_case_id(c) for c in IN_PROCESS_CASES]


def _snapshot(d):
    """Name -> sha256 of every regular file under d (symlinks, FIFOs: their kind only)."""
    out = {}
    for root, dirs, names in os.walk(d):
        for name in sorted(dirs + names):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, d)
            if os.path.islink(path):
                out[rel] = "link -> " + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as fh:
                    out[rel] = hashlib.sha256(fh.read()).hexdigest()
            else:
                out[rel] = "dir" if os.path.isdir(path) else "special"
        dirs[:] = [x for x in dirs if not os.path.islink(os.path.join(root, x))]
    return out


def _run_case(func, d):
    args = func(d)
    before = _snapshot(d)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "fairlearn_divine", "audit", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=d,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {"hung": True, "before": before, "after": _snapshot(d)}
    return {
        "hung": False,
        "code": proc.returncode,
        "stdout": proc.stdout,
        "stderr": proc.stderr,
        "before": before,
        "after": _snapshot(d),
    }


@pytest.fixture(scope="module")
def results(request, tmp_path_factory):
    """Run every selected case (three at a time) and keep what each produced."""
    wanted = {
        item.callspec.id
        for item in request.session.items
        if item.module is request.module and getattr(item, "originalname", "") == "test_refused"
    }
    jobs = {}
    for case, case_id in zip(CASES, IDS, strict=True):
        if case_id not in wanted:
            continue
        func = case.values[0] if hasattr(case, "values") else case[0]
        jobs[case_id] = (func, tmp_path_factory.mktemp(case_id))
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        futures = {k: pool.submit(_run_case, func, d) for k, (func, d) in jobs.items()}
        return {k: f.result() for k, f in futures.items()}


def _check_refused(result, needles):
    assert not result["hung"], "the command did not return"
    err = result["stderr"]
    assert result["code"] == 2, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("fairlearn-divine: error: ") or ": error: " in last, err
    for needle in needles:
        assert needle in last, f"{needle!r} not in {last!r}"
    # the inputs are byte-identical and nothing was added: no report, no temporary file
    assert result["after"] == result["before"]
    assert result["stdout"] == ""


@pytest.mark.parametrize("case, needles", CASES, ids=IDS)
def test_refused(results, request, case, needles):
    _check_refused(results[request.node.callspec.id], needles)


@pytest.mark.parametrize("case, needles", IN_PROCESS_CASES, ids=IN_PROCESS_IDS)
def test_refused_in_process(tmp_path, monkeypatch, capsys, case, needles):
    monkeypatch.chdir(tmp_path)
    args = case(tmp_path)
    before = _snapshot(tmp_path)
    try:
        code = main(["audit", *map(str, args)])
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    result = {"hung": False, "code": code, "stdout": out, "stderr": err}
    _check_refused({**result, "before": before, "after": _snapshot(tmp_path)}, needles)


def test_every_case_is_listed():
    tables = CASES + IN_PROCESS_CASES
    assert len(CASES) >= 20
    assert len(set(IDS + IN_PROCESS_IDS)) == len(tables)
    funcs = {(c.values[0] if hasattr(c, "values") else c[0]).__name__ for c in tables}
    assert funcs == {name for name in globals() if name.startswith("case_")}


# --------------------------------------------------------------------------------------------
# interrupted writes (in process)


class _Interrupt(Exception):
    pass


def _temporaries(d):
    return [p.name for p in d.iterdir() if p.name.startswith(files.TEMP_PREFIX)]


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_atomic_write_interrupted_midway_keeps_the_old_file(tmp_path, monkeypatch, error):
    target = tmp_path / "report.html"
    target.write_text("old report")
    real_ntf = files.tempfile.NamedTemporaryFile

    def half_then_fail(*args, **kwargs):
        handle = real_ntf(*args, **kwargs)
        real_write = handle.write

        def write(data):
            real_write(data[: len(data) // 2])  # half of the new content is on disk
            raise error

        handle.write = write
        return handle

    monkeypatch.setattr(files.tempfile, "NamedTemporaryFile", half_then_fail)
    with pytest.raises(type(error)):
        files.atomic_write_text(target, "new report " * 1000)
    assert target.read_text() == "old report"
    assert _temporaries(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


@pytest.mark.parametrize(
    "error, status, message",
    [
        (OSError(28, "No space left on device"), 2, "cannot write"),
        (KeyboardInterrupt(), 130, "interrupted (no file is left half-written)"),
    ],
    ids=["disk-full", "ctrl-c"],
)
def test_cli_interrupted_write_keeps_old_outputs(
    tmp_path, monkeypatch, capsys, error, status, message
):
    """The report is rendered, then the disk fills (or Ctrl-C) while it is being written: the
    old report and JSON stay as they were, and no temporary file is left."""
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    html.write_text("old report")
    js.write_text('{"old": true}')

    def fail(fd):
        raise error

    monkeypatch.setattr(files.os, "fsync", fail)
    args = ["audit", "--n-samples", "200", "--max-fraction", "0.05", "--quiet"]
    code = main([*args, "--output", str(html), "--json", str(js)])
    err = capsys.readouterr().err
    assert code == status
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("fairlearn-divine: ")
    assert message in err
    assert html.read_text() == "old report"
    assert js.read_text() == '{"old": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.json"]


def test_cli_writes_outputs_atomically_and_keeps_links(tmp_path, capsys):
    """A report over an earlier one: replaced in one step, a symlinked target stays a link."""
    real = tmp_path / "reports" / "latest.html"
    real.parent.mkdir()
    real.write_text("old report")
    os.chmod(real, 0o640)
    link = tmp_path / "report.html"
    os.symlink(real, link)
    args = ["audit", "--n-samples", "200", "--max-fraction", "0.05", "--quiet"]
    assert main([*args, "--output", str(link), "--json", str(tmp_path / "r.json")]) == 0
    capsys.readouterr()
    assert link.is_symlink()
    assert real.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert (real.stat().st_mode & 0o777) == 0o640
    assert (tmp_path / "r.json").read_text().endswith("}\n")
    assert _temporaries(tmp_path) == [] and _temporaries(real.parent) == []


class _Untrusted(LogisticRegression):
    """A class skops does not trust by default."""


def test_untrusted_types_listed_even_with_quiet(tmp_path, capsys):
    sio = pytest.importorskip("skops.io")
    df = _frame(240)
    df["approved"] = (df["approved"] == "yes").astype(int)
    data = _write_csv(tmp_path / "data.csv", df[["income", "age", "sex", "approved"]])
    model = _Untrusted().fit(df[["income", "age"]], df["approved"])
    sio.dump(model, tmp_path / "m.skops")
    args = ["audit", *_base(tmp_path, data=data), "--model-file", str(tmp_path / "m.skops")]
    args += ["--max-fraction", "0.05", "--output", str(tmp_path / "r.html"), "--quiet"]
    assert main([*args, "--trust"]) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "_Untrusted" in err and "--trust" in err
    assert err.count("\n") == 1  # that one line; --quiet silences the progress
