"""Where real data sets live on disk, and helpers shared by the loaders."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["DATA_HOME_ENV", "get_data_home"]

DATA_HOME_ENV = "FAIRLEARN_DIVINE_DATA"

_LAYOUT = """\
Expected layout of the data home:

    <data_home>/compas/compas-scores-two-years.csv
    <data_home>/law_school/law_school_cf_train.csv
    <data_home>/law_school/law_school_cf_test.csv
    <data_home>/adult/adult.data
    <data_home>/adult/adult.test
    <data_home>/bank_marketing/bank-additional-full.csv
    <data_home>/fashion_mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
    <data_home>/enron1/enron1.tar.gz

(the files exactly as published; see PROVENANCE.md of the shared data directory)."""


def get_data_home(data_home=None):
    """Directory holding the real data sets read by the ``load_*`` functions.

    Parameters
    ----------
    data_home : str or path-like, optional
        The directory. Default: the environment variable ``FAIRLEARN_DIVINE_DATA``.

    Returns
    -------
    pathlib.Path
        The existing directory, with ``~`` expanded.

    Raises
    ------
    FileNotFoundError
        When neither ``data_home`` nor ``FAIRLEARN_DIVINE_DATA`` is set, or the directory does
        not exist. The message gives the expected layout.
    TypeError
        When ``data_home`` is not a string or path-like.

    Notes
    -----
    The package never downloads anything. Its embedded default, which needs no files, is
    :func:`fairlearn_divine.datasets.make_divine_synthetic`.

    Examples
    --------
    >>> from fairlearn_divine.datasets import get_data_home
    >>> get_data_home("../shared/data")  # doctest: +SKIP
    PosixPath('../shared/data')
    """
    if data_home is None:
        env = os.environ.get(DATA_HOME_ENV)
        if not env:
            raise FileNotFoundError(
                f"No data home given: pass data_home=... or set the environment variable "
                f"{DATA_HOME_ENV} to the directory holding the data sets.\n{_LAYOUT}"
            )
        data_home, source = env, f"environment variable {DATA_HOME_ENV}"
    else:
        if not isinstance(data_home, str | os.PathLike):
            raise TypeError(
                f"data_home must be a string or path-like, got {type(data_home).__name__}: "
                f"{data_home!r}."
            )
        source = "data_home"
    path = Path(data_home).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"The data home {str(path)!r} (from {source}) is not an existing directory.\n{_LAYOUT}"
        )
    return path


#: sha256 of every published file (from PROVENANCE.md of the shared data directory), and where
#: its public original lives.
_FILES = {
    ("compas", "compas-scores-two-years.csv"): (
        "c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d",
        "ProPublica's compas-analysis repository (compas-scores-two-years.csv)",
    ),
    ("law_school", "law_school_cf_train.csv"): (
        "5de46ad1ee149ba8a5df501851a2301b98966534f752fe020ceb1979f843e99e",
        "the MonotonicFairness repository's data/law_school_cf_train.csv",
    ),
    ("law_school", "law_school_cf_test.csv"): (
        "9500bf46a3b569dee3c9adef9688113ab8dfd61c960f545b368cc12d0c7ac0a0",
        "the MonotonicFairness repository's data/law_school_cf_test.csv",
    ),
    ("adult", "adult.data"): (
        "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
        "the UCI Machine Learning Repository, Adult data set (adult.data)",
    ),
    ("adult", "adult.test"): (
        "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
        "the UCI Machine Learning Repository, Adult data set (adult.test)",
    ),
    ("bank_marketing", "bank-additional-full.csv"): (
        "74adfc578bf77a7ff4bb1ba4a9f8709d9e3c6907342959c2c8416847e0afb4d8",
        "the UCI Machine Learning Repository, Bank Marketing (bank-additional.zip)",
    ),
    ("fashion_mnist", "train-images-idx3-ubyte.gz"): (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "the zalandoresearch/fashion-mnist repository, data/fashion/",
    ),
    ("fashion_mnist", "train-labels-idx1-ubyte.gz"): (
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "the zalandoresearch/fashion-mnist repository, data/fashion/",
    ),
    ("fashion_mnist", "t10k-images-idx3-ubyte.gz"): (
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "the zalandoresearch/fashion-mnist repository, data/fashion/",
    ),
    ("fashion_mnist", "t10k-labels-idx1-ubyte.gz"): (
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "the zalandoresearch/fashion-mnist repository, data/fashion/",
    ),
    ("enron1", "enron1.tar.gz"): (
        "fc85a8d3fa5e9845a7ee572de3e92ae057f7c2be06171818539ef0983da89ad8",
        "the Enron-Spam corpus of Metsis, Androutsopoulos & Paliouras (AUEB), enron1.tar.gz",
    ),
}

_verified = {}


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _data_file(data_home, *parts):
    """Path of one data file under the data home, checked against its published sha256.

    A missing file gives an error naming the file, where it was looked for and where the public
    original lives; a file with other bytes gives an error with both checksums.
    """
    home = get_data_home(data_home)
    path = home.joinpath(*parts)
    expected, origin = _FILES.get(tuple(parts), (None, "the data set's publisher"))
    if not path.is_file():
        raise FileNotFoundError(
            f"Missing data file {'/'.join(parts)!r}: looked for {str(path)!r}. The public "
            f"original is {origin}; place it there unchanged.\n{_LAYOUT}"
        )
    if expected is not None:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _verified:
            _verified[key] = _sha256(path)
        if _verified[key] != expected:
            raise ValueError(
                f"Data file {str(path)!r} is not the published file: sha256 "
                f"{_verified[key]} != expected {expected}. Get the original from {origin}."
            )
    return path
