"""Files on disk: atomic writes and the checks that keep a command from losing a user's data.

Files the package writes go through :func:`atomic_write_bytes` (or :func:`atomic_write_text`;
every file of ``fairlearn-divine audit`` does): the content goes to a temporary file in the
target's directory, is flushed and fsynced, and then ``os.replace`` puts it in place in one
step. A crash, an exception or Ctrl-C part-way leaves the old target as it was and no temporary
file behind; readers never see a half-written file.

:func:`check_input_file`, :func:`check_output_file` and :func:`same_file` are the checks a command
runs *before* any computation: an input must be a regular file of bounded size (not a FIFO, a
device such as ``/dev/zero`` or a directory), an output must go to an existing, writable
directory, and an output must not be the same file as an input or another output (symlinks and
hard links included).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "check_input_file",
    "check_output_file",
    "same_file",
]

#: Prefix and suffix of the temporary files :func:`atomic_write_bytes` creates (dot files).
TEMP_PREFIX = ".fairlearn-divine-"
TEMP_SUFFIX = ".tmp"


def _kind(mode):
    """A plain name for the type of a file that is not a regular file."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _new_file_mode():
    """Permission bits of a file created with ``open(path, "w")`` (0o666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically: a temporary file, fsync, then ``os.replace``.

    Parameters
    ----------
    path : str or path-like
        The target. A symlink is followed: the file it points to is replaced and the link
        stays. An existing target keeps its permission bits; a new one gets the usual
        ``0o666`` minus the umask.
    data : bytes or bytearray
        The complete new content.

    Raises
    ------
    TypeError
        If ``data`` is not bytes.
    OSError
        If the directory is not writable or the disk is full; the old target is then
        untouched and the temporary file removed (also on ``KeyboardInterrupt``).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    target = os.path.realpath(os.fspath(path))
    directory = os.path.dirname(target)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = _new_file_mode()
    tmp = tempfile.NamedTemporaryFile(
        mode="wb", dir=directory, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, delete=False
    )
    try:
        with tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp.name, mode)
        os.replace(tmp.name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)
        raise
    # make the rename itself durable (best effort: not every file system allows it)
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_text(path, text, *, encoding="utf-8"):
    """Write the string ``text`` to ``path`` atomically; see :func:`atomic_write_bytes`.

    Parameters
    ----------
    path : str or path-like
    text : str
    encoding : str, default="utf-8"

    Raises
    ------
    TypeError
        If ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    atomic_write_bytes(path, text.encode(encoding))


def same_file(a, b):
    """Whether two paths name the same file.

    The same resolved path (``os.path.realpath``: symlinks followed, also for files that do
    not exist yet), or, when both exist, ``os.path.samefile`` (same device and inode: hard
    links too).

    Parameters
    ----------
    a, b : str or path-like

    Returns
    -------
    bool
    """
    a, b = os.fspath(a), os.fspath(b)
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (or cannot be inspected)
        return False


def check_input_file(path, *, argname, max_bytes=None, limit_hint=""):
    """Check that ``path`` is an existing regular file of at most ``max_bytes`` bytes.

    Parameters
    ----------
    path : str or path-like
    argname : str
        Name of the argument or option, used in the messages (e.g. ``"--data"``).
    max_bytes : int, optional
        Size limit; None for none.
    limit_hint : str, default=""
        Appended to the message for a file over the limit (how to raise the limit).

    Returns
    -------
    int
        The file's size in bytes.

    Raises
    ------
    FileNotFoundError
        If nothing exists at ``path``.
    ValueError
        If ``path`` is a directory, a FIFO, a device or a socket, or larger than ``max_bytes``.
    PermissionError
        If the file cannot be read.
    """
    path = os.fspath(path)
    try:
        info = os.stat(path)  # follows symlinks: a link to /dev/zero is a device
    except FileNotFoundError:
        raise FileNotFoundError(f"cannot read {argname} {path}: no such file.") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(
            f"cannot read {argname} {path}: it is {_kind(info.st_mode)}, not a regular file."
        )
    if max_bytes is not None and info.st_size > max_bytes:
        raise ValueError(
            f"cannot read {argname} {path}: {info.st_size / 2**20:.3g} MB, more than the limit "
            f"of {max_bytes / 2**20:g} MB{limit_hint}."
        )
    if not os.access(path, os.R_OK):
        raise PermissionError(f"cannot read {argname} {path}: permission denied.")
    return info.st_size


def check_output_file(path, *, argname):
    """Check that ``path`` can be written: its directory exists and accepts a new file.

    A directory, a FIFO or a device at ``path`` is refused (an atomic write would replace a
    device such as ``/dev/null`` with a regular file), and so is an existing file without write
    permission. Writability is probed by creating (and at once removing) an anonymous file in
    the directory, so read-only file systems are caught too.

    Parameters
    ----------
    path : str or path-like
    argname : str
        Name of the argument or option, used in the messages (e.g. ``"--output"``).

    Raises
    ------
    ValueError
        If the file cannot be written, with the reason.
    """
    path = os.fspath(path)
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    if os.path.exists(target):
        mode = os.stat(target).st_mode
        if not stat.S_ISREG(mode):
            raise ValueError(
                f"cannot write {argname} {path}: it is {_kind(mode)}, not a regular file."
            )
        if not os.access(target, os.W_OK):
            raise ValueError(f"cannot write {argname} {path}: the file is read-only.")
    if not os.path.exists(directory):
        raise ValueError(f"cannot write {argname} {path}: directory {directory} does not exist.")
    if not os.path.isdir(directory):
        raise ValueError(f"cannot write {argname} {path}: {directory} is not a directory.")
    try:
        with tempfile.TemporaryFile(dir=directory, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX):
            pass
    except OSError as exc:
        raise ValueError(
            f"cannot write {argname} {path}: directory {directory} is not writable "
            f"({exc.strerror or exc})."
        ) from None
