"""Command-line interface: ``fairlearn-divine audit``.

``fairlearn-divine audit`` reads a data set (a CSV with ``--data/--target/--sensitive``, one of
the papers' data sets with ``--dataset``, or by default the embedded DIVINE synthetic data),
fits a logistic regression (or loads a model saved with skops), and writes one self-contained
HTML report: accuracy and fairness by group, the most harmful training points and the DIVINE
points, the influence-diversity trade-off, a map of the data and a removal curve, each with a
plain-language reading. See :mod:`fairlearn_divine._report` for the computation.

Bad input (unreadable CSV, missing columns, a target that is not binary, a sensitive group too
small to measure) gives a one-line ``fairlearn-divine: error: ...`` on stderr and exit status 2.

Nothing is lost and nothing is silently wrong. Before any computation the command checks every
path: the inputs (``--data``, ``--model-file``) must be regular files (not a FIFO, a device or a
directory) of at most ``--max-input-mb`` megabytes (a ``.skops`` model also uncompressed), every
output (``--output``, ``--json``) must go to an existing, writable directory and must not be the
same file as an input or as the other output (symlinks and hard links included). A CSV with a
column name twice, or a categorical feature that looks like an identifier (more than
``HIGH_CARDINALITY_LEVELS`` distinct values that are more than ``HIGH_CARDINALITY_FRACTION`` of
the rows, which one-hot encoding would turn into one column per row), is refused with the names.
Outputs are written atomically (:func:`fairlearn_divine._core.files.atomic_write_text`): an
error or Ctrl-C leaves the old file as it was.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import warnings
from collections import Counter

import numpy as np
import pandas as pd

from ._core.files import atomic_write_text, check_input_file, check_output_file, same_file
from ._objectives import FAIRNESS_OBJECTIVES
from ._version import __version__

__all__ = ["main"]

DATASETS = ("synthetic", "compas", "lsat", "law_school", "adult", "bank_marketing")
METHODS = ("auto", "influence", "one_step_newton")
MODELS = ("logistic", "hist_gradient_boosting")
OBJECTIVES = tuple(FAIRNESS_OBJECTIVES)
DEFAULT_OUTPUT = "fairlearn-divine-report.html"
PROG = "fairlearn-divine"
#: Default of ``--max-input-mb``: the largest --data CSV or --model-file (also uncompressed).
MAX_INPUT_MB = 200
#: A categorical feature with more distinct values than this ...
HIGH_CARDINALITY_LEVELS = 100
#: ... that are also more than this fraction of the rows is refused (an identifier, not a feature).
HIGH_CARDINALITY_FRACTION = 0.5
#: Largest dense one-hot encoded design matrix the default model builds (bytes of float64).
MAX_DESIGN_BYTES = 2**30


class AuditError(Exception):
    """A problem with the user's input: reported in one line, exit status 2."""


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1), got {text!r}")
    return value


#: Step of the report's removal curve (its smallest fraction).
CURVE_STEP = 0.05


def _curve_fraction(text):
    value = _fraction(text)
    if value < CURVE_STEP:
        raise argparse.ArgumentTypeError(
            f"must be at least the removal curve's step {CURVE_STEP}, got {text!r}"
        )
    return value


def _build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Which training points drive a classifier's unfairness. Run "
            "'fairlearn-divine audit' for an HTML report on the embedded synthetic data."
        ),
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    audit = sub.add_parser(
        "audit",
        help="audit a classifier's training data; write an HTML report",
        description=(
            "Fit a logistic regression (or load a skops model), score every training point for "
            "the log loss and a fairness objective (scores[i] = f(model without i) - f(model): "
            "negative = harmful), select DIVINE points, compute a removal curve, and write one "
            "self-contained HTML report. Without data arguments it runs on the embedded DIVINE "
            "synthetic data."
        ),
        epilog=(
            "Nothing is lost: before any computation every path is checked. An output that is "
            "the same file as an input or as the other output (also through a symlink or a hard "
            "link) is refused, output directories must exist and be writable, and inputs must "
            "be regular files (no FIFO, device or directory) within --max-input-mb. Outputs are "
            "written atomically (a temporary file in the same directory, then a rename): an "
            "error or Ctrl-C leaves an earlier report as it was. Nothing is silently wrong: a "
            "CSV naming a column twice, an identifier-like categorical column (see "
            "--drop-columns) and --n-points not below the number of rows are errors."
        ),
    )
    data = audit.add_argument_group("data (default: the embedded synthetic data set)")
    data.add_argument("--data", metavar="CSV", help="training data as a CSV file with a header")
    data.add_argument("--target", metavar="COL", help="target column of --data (two classes)")
    data.add_argument(
        "--sensitive",
        metavar="COL",
        action="append",
        help="sensitive column of --data; repeat for several (groups are their combinations)",
    )
    data.add_argument(
        "--drop-sensitive",
        action="store_true",
        help="do not use the sensitive column(s) as model features (default: use them)",
    )
    data.add_argument(
        "--positive-label",
        metavar="VALUE",
        help="the positive target value (default: the larger of the two in sorted order)",
    )
    data.add_argument(
        "--dataset",
        choices=DATASETS,
        help="a data set of the papers, read from the data home (default: synthetic)",
    )
    data.add_argument(
        "--data-home",
        metavar="DIR",
        help="directory of the papers' data sets (default: $FAIRLEARN_DIVINE_DATA)",
    )
    data.add_argument(
        "--drop-columns",
        metavar="COL",
        nargs="+",
        action="extend",
        default=[],
        help="columns that are not model features (identifiers, free text); repeatable. A "
        f"categorical column with more than {HIGH_CARDINALITY_LEVELS} distinct values that are "
        f"more than {HIGH_CARDINALITY_FRACTION:.0%}% of the rows is refused until it is dropped "
        "or made numeric: one-hot encoding would give it a column per row",
    )
    data.add_argument(
        "--max-input-mb",
        metavar="MB",
        type=_positive_float,
        default=MAX_INPUT_MB,
        help=f"refuse a --data or --model-file (uncompressed) larger than this (default: "
        f"{MAX_INPUT_MB})",
    )
    data.add_argument("--n-samples", type=_positive_int, help=argparse.SUPPRESS)

    model = audit.add_argument_group("model")
    model.add_argument(
        "--model",
        choices=MODELS,
        default="logistic",
        help="model to fit (default: logistic: standardised numeric and one-hot categorical "
        "features, LogisticRegression; hist_gradient_boosting: ordinal-encoded categorical "
        "features, HistGradientBoostingClassifier(early_stopping=False, random_state=0), "
        "scored by tree_influence)",
    )
    model.add_argument(
        "--model-file",
        metavar="FILE.skops",
        help="use this fitted model (saved with skops.io.dump) instead of fitting one",
    )
    model.add_argument(
        "--trust",
        action="store_true",
        help="load the types of --model-file that skops does not trust by default (they are "
        "always listed on stderr first, even with --quiet; only use with files you trust)",
    )

    analysis = audit.add_argument_group("analysis")
    analysis.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="equal_accuracy",
        help="fairness objective (default: equal_accuracy = |TPR gap| + |TNR gap|)",
    )
    analysis.add_argument(
        "--n-points",
        type=_positive_int,
        default=5,
        help="number of DIVINE points, fewer than the training rows (default: 5)",
    )
    analysis.add_argument(
        "--gamma",
        choices=("influence_budget", "pairwise_distance"),
        default="influence_budget",
        help="how DIVINE picks its diversity weight: the most diverse selection keeping 90%% "
        "of the top points' harm (default), or the largest mean pairwise distance",
    )
    analysis.add_argument(
        "--method",
        choices=METHODS,
        default="auto",
        help="scoring method (default: auto, which is one_step_newton: the audit scores the "
        "training log loss, for which first-order influence is degenerate)",
    )
    analysis.add_argument(
        "--top",
        type=_positive_int,
        default=10,
        help="number of most harmful points to list (default: 10)",
    )
    analysis.add_argument(
        "--max-fraction",
        type=_curve_fraction,
        default=0.3,
        help=(
            f"largest fraction removed on the removal curve, in [{CURVE_STEP}, 1) (default: 0.3)"
        ),
    )
    analysis.add_argument("--random-state", type=int, default=0, help=argparse.SUPPRESS)

    out = audit.add_argument_group("output")
    out.add_argument(
        "--output",
        metavar="HTML",
        default=DEFAULT_OUTPUT,
        help=f"report file (default: ./{DEFAULT_OUTPUT}); written atomically, and never the same "
        "file as an input or as --json",
    )
    out.add_argument("--json", metavar="FILE", help="also write the results as JSON ('-': stdout)")
    out.add_argument(
        "--all-scores",
        action="store_true",
        help="put every training point's scores in the JSON (with --json)",
    )
    out.add_argument("--quiet", action="store_true", help="no progress messages or bars on stderr")
    out.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return parser


class _Progress:
    def __init__(self, total, quiet):
        self.total, self.quiet, self.k = total, quiet, 0

    def __call__(self, message):
        self.k += 1
        if not self.quiet:
            print(f"[{self.k}/{self.total}] {message} ...", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# helpers


def _one_line(text):
    return " ".join(str(text).split())


def _shorten(items, limit=12):
    items = [repr(str(i)) for i in items]
    return ", ".join(items[:limit]) + (
        f", ... ({len(items)} in all)" if len(items) > limit else ""
    )


def _fill_categorical_missing(X):
    """Missing categories become the category 'missing' (the scorer refuses NaN)."""
    from pandas.api.types import is_numeric_dtype

    X = X.copy()
    for col in X.columns:
        if not is_numeric_dtype(X[col]) and X[col].isna().any():
            X[col] = X[col].astype(object).where(X[col].notna(), "missing")
    return X


# --------------------------------------------------------------------------------------------
# paths: checked before any computation


def _megabytes(value):
    return int(value * 2**20)


def _check_skops_archive(path, max_mb):
    """A .skops file is a zip archive: refuse one that unpacks to more than the limit."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise AuditError(f"cannot read model file {path}: not a skops file ({exc}).") from None
    if unpacked > _megabytes(max_mb):
        raise AuditError(
            f"--model-file {path} unpacks to {unpacked / 2**20:.1f} MB, more than the limit of "
            f"{max_mb:g} MB; raise it with --max-input-mb if you trust the file."
        )


def _check_paths(args):
    """Refuse, before any computation, every path that could lose data or fail late.

    Inputs (``--data``, ``--model-file``) must be regular files within ``--max-input-mb``;
    outputs (``--output``, ``--json`` unless ``-``) must be writable and must differ from every
    input and from each other (same resolved path, or the same inode: symlinks, hard links).
    """
    inputs = [
        (opt, p) for opt, p in (("--data", args.data), ("--model-file", args.model_file)) if p
    ]
    outputs = [("--output", args.output)]
    if args.json and args.json != "-":
        outputs.append(("--json", args.json))
    seen = list(inputs)
    for opt, path in outputs:
        for other_opt, other in seen:
            if same_file(path, other):
                harm = (
                    "writing it would destroy the input"
                    if other_opt in ("--data", "--model-file")
                    else "one would overwrite the other"
                )
                raise AuditError(
                    f"{opt} {path} is the same file as {other_opt} {other}; {harm}. Choose "
                    f"another {opt} file."
                )
        seen.append((opt, path))
    if args.model_file:
        try:
            import skops.io  # noqa: F401
        except ImportError:
            raise AuditError(
                "--model-file needs skops, which is not installed: pip install skops"
            ) from None
    hint = f" (raise it with --max-input-mb, default {MAX_INPUT_MB})"
    for opt, path in inputs:
        try:
            check_input_file(
                path, argname=opt, max_bytes=_megabytes(args.max_input_mb), limit_hint=hint
            )
        except (OSError, ValueError) as exc:
            raise AuditError(str(exc)) from None
    if args.model_file:
        _check_skops_archive(args.model_file, args.max_input_mb)
    for opt, path in outputs:
        try:
            check_output_file(path, argname=opt)
        except ValueError as exc:
            raise AuditError(str(exc)) from None


# --------------------------------------------------------------------------------------------
# data


def _read_header(path):
    """The CSV header as written (pandas renames a repeated name 'y' to 'y.1')."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for row in csv.reader(fh):
                if any(cell.strip() for cell in row):
                    return row
    except UnicodeDecodeError:
        raise AuditError(f"cannot read {path}: not a UTF-8 text file.") from None
    except csv.Error as exc:
        raise AuditError(f"cannot read {path} as CSV: {_one_line(exc)}") from None
    except OSError as exc:
        raise AuditError(f"cannot read {path}: {exc.strerror or exc}.") from None
    return []


def _check_drop_columns(drop_columns, columns, protected, where):
    unknown = [c for c in drop_columns if c not in columns]
    if unknown:
        raise AuditError(
            f"--drop-columns {_shorten(unknown)}: not column(s) of {where}; its columns: "
            f"{_shorten(columns)}."
        )
    kept = [c for c in drop_columns if c in protected]
    if kept:
        raise AuditError(
            f"--drop-columns cannot drop the target or a sensitive column ({_shorten(kept)}); "
            "use --drop-sensitive to leave the sensitive columns out of the model features."
        )


def _check_cardinality(X):
    """Refuse identifier-like categorical features, and a one-hot design that cannot fit."""
    from pandas.api.types import is_numeric_dtype

    n = len(X)
    levels = {c: int(X[c].nunique(dropna=False)) for c in X.columns if not is_numeric_dtype(X[c])}
    ids = [
        c
        for c, k in levels.items()
        if k > HIGH_CARDINALITY_LEVELS and k > HIGH_CARDINALITY_FRACTION * n
    ]
    if ids:
        shown = ", ".join(f"{c!r} ({levels[c]} distinct values in {n} rows)" for c in ids)
        raise AuditError(
            f"categorical column(s) {shown} look like identifiers: one-hot encoding would make "
            "about one feature per row. Drop them with --drop-columns "
            + " ".join(ids)
            + " (or encode them as numbers)."
        )
    width = len(X.columns) - len(levels) + sum(levels.values())
    if n * width * 8 > MAX_DESIGN_BYTES:
        widest = sorted(levels, key=levels.get, reverse=True)[:3]
        shown = ", ".join(f"{c!r} ({levels[c]} values)" for c in widest)
        raise AuditError(
            f"one-hot encoding gives {width} features for {n} rows ({n * width * 8 / 2**30:.1f} "
            f"GB as a dense matrix, more than {MAX_DESIGN_BYTES / 2**30:g} GB); the widest "
            f"categorical columns are {shown}. Drop some with --drop-columns."
        )


def _read_csv(path, target, sensitive, drop_sensitive, notes, drop_columns=()):
    if not target or not sensitive:
        raise AuditError("--data needs --target COL and at least one --sensitive COL.")
    header = _read_header(path)
    repeated = [c for c, k in Counter(header).items() if k > 1 and c.strip()]
    if repeated:
        raise AuditError(
            f"{path} has the column name(s) {_shorten(repeated)} more than once; a repeated "
            "column would be read as a second column (e.g. 'y.1') and could leak the target "
            "into the features. Rename or remove the copies."
        )
    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise AuditError(f"cannot read {path}: no such file.") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise AuditError(f"cannot read {path}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise AuditError(f"cannot read {path}: not a UTF-8 text file.") from None
    except pd.errors.EmptyDataError:
        raise AuditError(f"cannot read {path}: the file is empty.") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise AuditError(f"cannot read {path} as CSV: {_one_line(exc)}") from None
    if len(df) == 0:
        raise AuditError(f"{path} has a header but no data rows.")
    columns = [str(c) for c in df.columns]
    df.columns = columns
    for col in [target, *sensitive]:
        if col not in columns:
            raise AuditError(f"column {col!r} is not in {path}; its columns: {_shorten(columns)}.")
    if target in sensitive:
        raise AuditError(f"column {target!r} cannot be both the target and a sensitive feature.")
    if len(set(sensitive)) != len(sensitive):
        raise AuditError(f"a sensitive column is given twice: {sensitive}.")
    _check_drop_columns(drop_columns, columns, [target, *sensitive], path)
    drop = [target, *drop_columns] + (list(sensitive) if drop_sensitive else [])
    feature_cols = [c for c in columns if c not in drop]
    if not feature_cols:
        raise AuditError(f"{path} has no feature columns besides the target and sensitive ones.")

    from pandas.api.types import is_numeric_dtype

    numeric = [c for c in feature_cols if is_numeric_dtype(df[c])]
    required = [target, *sensitive, *numeric]
    incomplete = df[required].isna().any(axis=1)
    if incomplete.any():
        cols = [c for c in required if df[c].isna().any()]
        notes.append(
            f"{int(incomplete.sum())} of {len(df)} rows dropped for missing values in "
            f"{_shorten(cols)} (missing categories are kept as the category 'missing')."
        )
        df = df[~incomplete]
        if len(df) == 0:
            raise AuditError(f"every row of {path} has a missing value in {_shorten(cols)}.")
    X = _fill_categorical_missing(df[feature_cols])
    sf = df[sensitive[0]] if len(sensitive) == 1 else df[list(sensitive)]
    return X, df[target].to_numpy(), sf


def _load_dataset(name, data_home, n_samples):
    from . import datasets

    if name == "synthetic":
        if n_samples is None:
            data = datasets.load_synthetic()
            desc = "DIVINE synthetic data (embedded: load_synthetic())"
        else:
            n_out = max(1, n_samples // 40)
            data = datasets.make_divine_synthetic(
                n_samples=n_samples, n_outliers=n_out, random_state=0
            )
            desc = f"DIVINE synthetic data (make_divine_synthetic({n_samples}, {n_out}))"
        X = pd.DataFrame(data.data, columns=data.feature_names)
        sf = pd.Series(data.sensitive_features, name="A")
        return X, data.target, sf, desc, "y"
    loader = {
        "compas": datasets.load_compas,
        "lsat": datasets.load_lsat,
        "law_school": datasets.load_law_school,
        "adult": datasets.load_adult,
        "bank_marketing": datasets.load_bank_marketing,
    }[name]
    try:
        data = loader(data_home=data_home)
    except (FileNotFoundError, OSError, ValueError) as exc:
        raise AuditError(_one_line(exc)) from None
    X = _fill_categorical_missing(data.data)
    sf = data.sensitive_features.reset_index(drop=True)
    desc = f"{name} (training split, {loader.__name__}())"
    return X, np.asarray(data.target), sf, desc, str(data.get("target_name", "y"))


def _check_target_and_groups(y, sf, target):
    values = pd.unique(pd.Series(y))
    if len(values) < 2:
        raise AuditError(
            f"target {target!r} has a single class ({values[0]!r}); the audit needs two."
        )
    if len(values) > 2:
        shown = _shorten(sorted(map(str, values)), 6)
        raise AuditError(
            f"target {target!r} has {len(values)} classes ({shown}); the fairness objectives "
            "need a binary target."
        )
    frame = sf.to_frame() if isinstance(sf, pd.Series) else sf
    keys = list(frame.columns)
    data = frame.assign(__y=np.asarray(y)).reset_index(drop=True)
    for group, rows in data.groupby(keys, dropna=False, observed=True, sort=True):
        group = group if isinstance(group, tuple) else (group,)
        label = ", ".join(f"{k}={v!r}" for k, v in zip(keys, group, strict=False))
        classes = set(rows["__y"])
        if len(rows) < 2:
            raise AuditError(
                f"sensitive group {label} has {len(rows)} row; every group needs at least 2 "
                "rows with both target classes (merge or drop rare groups)."
            )
        if len(classes) < 2:
            (only,) = classes
            raise AuditError(
                f"sensitive group {label} has only target {only!r} ({len(rows)} rows); every "
                "group needs positives and negatives to measure its error rates."
            )


# --------------------------------------------------------------------------------------------
# model


def _column_kinds(X):
    """(numeric, categorical) column names of the DataFrame ``X``."""
    from pandas.api.types import is_numeric_dtype

    numeric = [c for c in X.columns if is_numeric_dtype(X[c])]
    return numeric, [c for c in X.columns if c not in numeric]


def _make_model(X, plain, kind="logistic"):
    if kind == "hist_gradient_boosting":
        return _make_boosting_model(X, plain)
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    clf = LogisticRegression(tol=1e-8, max_iter=2000)
    if plain:
        return clf, "LogisticRegression(tol=1e-8, max_iter=2000)"
    numeric, categorical = _column_kinds(X)
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ]
    )
    desc = (
        f"Pipeline: StandardScaler on {len(numeric)} numeric and OneHotEncoder on "
        f"{len(categorical)} categorical column(s), LogisticRegression(tol=1e-8, max_iter=2000)"
    )
    return Pipeline([("preprocess", pre), ("classifier", clf)]), desc


def _make_boosting_model(X, plain):
    """HistGradientBoostingClassifier; categorical columns ordinal-encoded and declared
    categorical (missing values and unseen categories go to the trees' missing branch)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    # early stopping would hold out rows of its own (tree_influence refuses that split)
    options = {"early_stopping": False, "random_state": 0}
    name = (
        "HistGradientBoostingClassifier(" + ", ".join(f"{k}={v}" for k, v in options.items()) + ")"
    )
    if plain:
        return HistGradientBoostingClassifier(**options), name
    numeric, categorical = _column_kinds(X)
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    pre = ColumnTransformer([("cat", encoder, categorical), ("num", "passthrough", numeric)])
    clf = HistGradientBoostingClassifier(
        categorical_features=list(range(len(categorical))) or None, **options
    )
    desc = (
        f"Pipeline: OrdinalEncoder on {len(categorical)} categorical column(s) (declared "
        f"categorical), {len(numeric)} numeric column(s) as they are, {name}"
    )
    return Pipeline([("preprocess", pre), ("classifier", clf)]), desc


def _load_model_file(path, trust):
    try:
        import skops.io as sio
    except ImportError:
        raise AuditError(
            "--model-file needs skops, which is not installed: pip install skops"
        ) from None
    if not os.path.isfile(path):
        raise AuditError(f"cannot read model file {path}: no such file.")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises several types for a bad file
        raise AuditError(f"cannot read model file {path}: {_one_line(exc)}") from None
    if untrusted:
        if not trust:
            raise AuditError(
                f"{path} contains types that skops does not trust by default: "
                f"{', '.join(untrusted)}. Check them and rerun with --trust to load them."
            )
        # always listed, --quiet or not: the user must see what code a model file can run
        print(
            f"{PROG}: loading types that skops does not trust by default (--trust): "
            + ", ".join(untrusted),
            file=sys.stderr,
            flush=True,
        )
    try:
        model = sio.load(path, trusted=untrusted)
    except Exception as exc:
        raise AuditError(f"cannot load model file {path}: {_one_line(exc)}") from None
    return model


def _check_loaded_model(model, X, y, path):
    from sklearn.base import is_classifier
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not is_classifier(model) or not hasattr(model, "predict_proba"):
        raise AuditError(f"{path} holds a {type(model).__name__}, not a probabilistic classifier.")
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise AuditError(f"the model in {path} is not fitted.") from None
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        missing = [str(c) for c in names if str(c) not in X.columns]
        if missing:
            raise AuditError(
                f"the model in {path} needs columns missing from the data: {_shorten(missing)}."
            )
        X = X[[str(c) for c in names]]
    classes = list(model.classes_)
    if len(classes) != 2:
        raise AuditError(f"the model in {path} has {len(classes)} classes; the audit needs 2.")
    unknown = sorted({str(v) for v in pd.unique(pd.Series(y))} - {str(c) for c in classes})
    if unknown:
        raise AuditError(
            f"target values {_shorten(unknown)} are not classes of the model in {path} "
            f"({_shorten(classes)})."
        )
    # align the dtype of y with the model's classes (e.g. CSV ints vs. string classes)
    lookup = {str(c): c for c in classes}
    y = np.array([lookup[str(v)] for v in y], dtype=np.asarray(classes).dtype)
    return X, y


# --------------------------------------------------------------------------------------------
# main


def _run(run_audit, model, X, y, sf, args, y_display, positive, progress, info):
    return run_audit(
        model,
        X,
        y,
        sf,
        objective=args.objective,
        n_points=args.n_points,
        gamma=args.gamma,
        method=args.method,
        top=args.top,
        max_fraction=args.max_fraction,
        random_state=args.random_state,
        y_display=y_display,
        display_positive=positive,
        info=info,
        progress=progress,
        progress_bars=False if args.quiet else None,  # --quiet: no bars either
    )


def _audit(args):
    if args.data and args.dataset:
        raise AuditError("give either --data or --dataset, not both.")
    if not args.data and (args.target or args.sensitive):
        raise AuditError("--target and --sensitive describe the columns of --data CSV.")
    _check_paths(args)

    from ._report import audit_to_json, readings, render_html, run_audit

    progress = _Progress(6, args.quiet)
    notes = []
    if args.data:
        progress(f"reading {args.data}")
        X, y, sf = _read_csv(
            args.data, args.target, args.sensitive, args.drop_sensitive, notes, args.drop_columns
        )
        desc, target = os.path.basename(args.data), args.target
        source = os.path.abspath(args.data)
        sensitive = ", ".join(args.sensitive)
    else:
        dataset = args.dataset or "synthetic"
        progress(f"loading the {dataset} data set")
        X, y, sf, desc, target = _load_dataset(dataset, args.data_home, args.n_samples)
        _check_drop_columns(args.drop_columns, [str(c) for c in X.columns], [], dataset)
        X = X.drop(columns=args.drop_columns)
        source = desc
        desc = dataset
        sensitive = str(sf.name) if isinstance(sf, pd.Series) else ", ".join(sf.columns)
    _check_target_and_groups(y, sf, target)
    if args.n_points >= len(y):
        raise AuditError(
            f"--n-points {args.n_points} is not less than the number of training rows "
            f"({len(y)}); the report refits without that many points."
        )

    y_display = None
    if args.model_file:
        progress(f"loading the model {args.model_file}")
        model = _load_model_file(args.model_file, args.trust)
        X, y = _check_loaded_model(model, X, y, args.model_file)
        positive = model.classes_[1]
        if args.positive_label is not None and str(args.positive_label) != str(positive):
            raise AuditError(
                f"the model's positive class is {positive!r} (classes_[1]); --positive-label "
                f"{args.positive_label!r} cannot change that."
            )
        model_desc = f"{type(model).__name__} loaded from {os.path.basename(args.model_file)}"
    else:
        values = sorted(pd.unique(pd.Series(y)), key=str)
        if all(isinstance(v, int | np.integer | bool | np.bool_) for v in values):
            values = sorted(values)
        positive = values[1]
        if args.positive_label is not None:
            match = [v for v in values if str(v) == str(args.positive_label)]
            if not match:
                raise AuditError(
                    f"--positive-label {args.positive_label!r} is not a value of the target "
                    f"({_shorten(values)})."
                )
            positive = match[0]
        y_display = np.asarray(y)
        # fit on 0/1 so that the positive class is classes_[1], as the objectives expect
        y = (np.asarray(y, dtype=object) == positive).astype(int)
        plain = not args.data and (args.dataset or "synthetic") == "synthetic"
        if not plain:
            _check_cardinality(X)
        model, model_desc = _make_model(X, plain=plain, kind=args.model)
        progress(f"fitting the model ({type(model).__name__}) on {len(y)} rows")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X, y)
        notes.extend(f"{w.category.__name__}: {w.message}" for w in caught)

    info = {
        "data": desc,
        "source": source,
        "target": target,
        "sensitive": sensitive,
        "model": model_desc,
    }
    audit = _run(run_audit, model, X, y, sf, args, y_display, positive, progress, info)
    audit.notes[:0] = notes

    progress(f"writing the report {args.output}")
    # render everything first: a failure then writes nothing; each write is atomic
    page = render_html(audit)
    results = audit_to_json(audit, all_scores=args.all_scores)
    results_text = json.dumps(results, indent=2)
    files = [(args.output, page)]
    if args.json and args.json != "-":
        files.append((args.json, results_text + "\n"))
    for path, text in files:
        try:
            atomic_write_text(path, text)
        except OSError as exc:
            raise AuditError(f"cannot write {path}: {exc.strerror or exc}.") from None

    if args.json == "-":
        print(results_text)
    else:
        read = readings(audit)
        print(f"{PROG} {__version__} audit of {desc} ({audit.n_samples} training points)")
        for sentence in read["findings"]:  # the report's key findings
            print(" ", sentence)
        print(f"Report written to {os.path.abspath(args.output)}")
        if args.json:
            print(f"JSON written to {os.path.abspath(args.json)}")
    return 0


def main(argv=None):
    """Entry point of the ``fairlearn-divine`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success, 2 for bad input (one line on stderr), 130 when interrupted
        (Ctrl-C; the files being written are left as they were). Bad command-line syntax exits
        with status 2 through argparse.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from threadpoolctl import threadpool_limits

    try:
        # many small refits: multi-threaded BLAS only adds overhead (up to 20x per fit)
        with threadpool_limits(limits=1, user_api="blas"):
            return _audit(args)
    except AuditError as exc:
        if args.debug:
            raise
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, ImportError, MemoryError) as exc:
        # the package's own validation: one line, the traceback only with --debug
        if args.debug:
            raise
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # writes are atomic: an earlier report is intact and no temporary file is left
        if args.debug:
            raise
        print(f"{PROG}: interrupted (no file is left half-written)", file=sys.stderr)
        return 130
