import os
import stat

import pytest

from fairlearn_divine._core.files import (
    TEMP_PREFIX,
    atomic_write_bytes,
    atomic_write_text,
    check_input_file,
    check_output_file,
    same_file,
)


def test_atomic_write_new_and_existing_file(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "héllo")
    assert target.read_bytes() == "héllo".encode()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    os.chmod(target, 0o600)
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_write_follows_a_symlink(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    os.symlink(real, link)
    atomic_write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_atomic_write_type_errors(tmp_path):
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        atomic_write_text(tmp_path / "a", b"x")
    with pytest.raises(TypeError, match="data must be bytes, got str"):
        atomic_write_bytes(tmp_path / "a", "x")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_missing_directory_leaves_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write_text(tmp_path / "no" / "a.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_same_file(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("x")
    os.link(a, tmp_path / "hard")
    os.symlink(a, tmp_path / "soft")
    assert same_file(a, tmp_path / "hard")
    assert same_file(a, tmp_path / "soft")
    assert same_file(a, tmp_path / "sub" / ".." / "a.csv")
    assert same_file(tmp_path / "new", tmp_path / "new")  # neither exists yet
    assert not same_file(a, tmp_path / "b.csv")


def test_check_input_file(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"x" * 2000)
    assert check_input_file(path, argname="--data", max_bytes=2000) == 2000
    with pytest.raises(ValueError, match=r"--data .*d\.csv.*more than the limit.*; raise it"):
        check_input_file(path, argname="--data", max_bytes=1000, limit_hint="; raise it")
    with pytest.raises(FileNotFoundError, match="--data .*nope: no such file"):
        check_input_file(tmp_path / "nope", argname="--data")
    with pytest.raises(ValueError, match="a directory, not a regular file"):
        check_input_file(tmp_path, argname="--data")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ValueError, match=r"a FIFO \(named pipe\), not a regular file"):
        check_input_file(tmp_path / "fifo", argname="--data")
    with pytest.raises(ValueError, match="a character device"):
        check_input_file("/dev/zero", argname="--data")


def test_check_output_file(tmp_path):
    check_output_file(tmp_path / "new.html", argname="--output")
    (tmp_path / "old.html").write_text("x")
    check_output_file(tmp_path / "old.html", argname="--output")
    with pytest.raises(ValueError, match="--output .* does not exist"):
        check_output_file(tmp_path / "no" / "r.html", argname="--output")
    with pytest.raises(ValueError, match="is not a directory"):
        check_output_file(tmp_path / "old.html" / "r.html", argname="--output")
    with pytest.raises(ValueError, match="it is a directory"):
        check_output_file(tmp_path, argname="--output")
    with pytest.raises(ValueError, match="a character device"):
        check_output_file("/dev/null", argname="--output")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]
