"""Where real data sets live on disk, and helpers shared by the loaders."""

from __future__ import annotations

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


def _data_file(data_home, *parts):
    """Path of one data file under the data home, with a clear error when it is missing."""
    home = get_data_home(data_home)
    path = home.joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"Missing data file {str(path)!r}.\n{_LAYOUT}")
    return path
