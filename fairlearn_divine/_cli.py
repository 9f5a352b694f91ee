"""Command-line interface: ``fairlearn-divine audit`` and friends.

``fairlearn-divine audit`` fits a logistic regression on a data set (by default the embedded
DIVINE synthetic data, so it runs without any files), scores every training point for the log
loss and for equal accuracy with :func:`fairlearn_divine.training_point_importance`, and prints
the most harmful points (most negative scores) for each objective.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np

from ._version import __version__

__all__ = ["main"]

DATASETS = ("synthetic", "compas", "law_school", "adult", "bank_marketing")
METHODS = ("influence", "one_step_newton")
OBJECTIVES = ("log_loss", "equal_accuracy")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--top must be a positive integer, got {text!r}")
    return value


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="fairlearn-divine",
        description=(
            "Which training points drive a classifier's loss or its unfairness. "
            "Run 'fairlearn-divine audit' for a report on the embedded synthetic data."
        ),
    )
    parser.add_argument("--version", action="version", version=f"fairlearn-divine {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    audit = sub.add_parser(
        "audit",
        help="score training points for log loss and equal accuracy; print the most harmful",
        description=(
            "Fit LogisticRegression(tol=1e-8, max_iter=1000) on a data set, score every "
            "training point with training_point_importance for the log loss and for equal "
            "accuracy (|TPR gap| + |TNR gap| between the sensitive groups), and print the most "
            "harmful points. scores[i] = f(model without i) - f(model): negative = harmful."
        ),
    )
    audit.add_argument(
        "--dataset",
        choices=DATASETS,
        default="synthetic",
        help="data set (default: synthetic, embedded; the others read files from the data home)",
    )
    audit.add_argument(
        "--data-home",
        default=None,
        help="directory of the real data sets (default: $FAIRLEARN_DIVINE_DATA)",
    )
    audit.add_argument(
        "--method",
        choices=METHODS,
        default="influence",
        help="scoring method (default: influence)",
    )
    audit.add_argument(
        "--top",
        type=_positive_int,
        default=10,
        help="number of most harmful points to list per objective (default: 10)",
    )
    audit.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return parser


# --------------------------------------------------------------------------------------------
# data and model


def _load(dataset, data_home):
    """Return (X, y, sensitive_features, description, feature_names)."""
    from pandas.api.types import is_numeric_dtype

    from . import datasets

    if dataset == "synthetic":
        data = datasets.make_divine_synthetic(random_state=0)
        desc = "DIVINE synthetic data (make_divine_synthetic(random_state=0))"
        return data.X, data.y, data.sensitive_features, desc, data.feature_names, "A"
    loader = {
        "compas": datasets.load_compas,
        "law_school": datasets.load_law_school,
        "adult": datasets.load_adult,
        "bank_marketing": datasets.load_bank_marketing,
    }[dataset]
    data = loader(data_home=data_home)
    X = data.X.copy()
    # The scorer refuses missing values; an explicit category keeps every row.
    for col in X.columns:
        if not is_numeric_dtype(X[col]) and X[col].isna().any():
            X[col] = X[col].astype(object).where(X[col].notna(), "missing")
    desc = f"{dataset} (training split, {loader.__name__}())"
    sf = data.sensitive_features
    return X, data.y, sf, desc, list(X.columns), str(sf.name)


def _make_model(X):
    from pandas.api.types import is_numeric_dtype
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    clf = LogisticRegression(tol=1e-8, max_iter=1000)
    if not hasattr(X, "columns"):
        return clf
    numeric = [c for c in X.columns if is_numeric_dtype(X[c])]
    categorical = [c for c in X.columns if c not in numeric]
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ]
    )
    return Pipeline([("preprocess", pre), ("classifier", clf)])


def _py(value):
    """A JSON-friendly Python scalar."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _row(X, i, feature_names):
    if hasattr(X, "iloc"):
        return {str(k): _py(v) for k, v in X.iloc[i].items()}
    return {name: _py(v) for name, v in zip(feature_names, np.asarray(X)[i], strict=True)}


def run_audit(*, dataset="synthetic", data_home=None, method="influence", top=10):
    """Run the audit and return the report as a JSON-serialisable dict."""
    from sklearn.metrics import accuracy_score

    from ._importance import training_point_importance

    X, y, sf, desc, feature_names, sf_name = _load(dataset, data_home)
    model = _make_model(X)
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
        result = training_point_importance(
            model, X, y, method=method, objective=list(OBJECTIVES), sensitive_features=sf
        )
    for w in caught:
        msg = f"{w.category.__name__}: {w.message}"
        if msg not in notes:
            notes.append(msg)

    sf_values = np.asarray(sf)
    y = np.asarray(y)
    scores = np.atleast_2d(result.scores)
    baseline = np.atleast_1d(result.baseline)
    objectives = {}
    for k, name in enumerate(OBJECTIVES):
        row = scores[k]
        order = np.argsort(np.where(np.isnan(row), np.inf, row), kind="stable")[:top]
        objectives[name] = {
            "baseline": float(baseline[k]),
            "n_harmful": int(np.sum(row < 0)),
            "most_harmful": [
                {
                    "rank": r + 1,
                    "index": int(i),
                    "score": _py(float(row[i])),
                    "label": _py(y[i]),
                    "group": _py(sf_values[i]),
                    "features": _row(X, i, feature_names),
                }
                for r, i in enumerate(order)
            ],
        }
    return {
        "version": __version__,
        "dataset": dataset,
        "description": desc,
        "n_samples": int(len(y)),
        "n_features": len(feature_names),
        "sensitive_feature": sf_name,
        "model": repr(model)
        if not hasattr(model, "steps")
        else "Pipeline(ColumnTransformer"
        "(StandardScaler numeric + OneHotEncoder categorical), "
        "LogisticRegression(tol=1e-8, max_iter=1000))",
        "method": method,
        "accuracy": float(accuracy_score(y, model.predict(X))),
        "equal_accuracy": float(baseline[1]),
        "log_loss": float(baseline[0]),
        "sign_convention": "scores[i] = f(model without i) - f(model); negative = harmful",
        "objectives": objectives,
        "notes": notes,
    }


def _format_features(features, width=70):
    parts = []
    for k, v in features.items():
        parts.append(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}")
    text = ", ".join(parts)
    return text if len(text) <= width else text[: width - 3] + "..."


def _format_report(report):
    lines = [
        f"fairlearn-divine {report['version']} audit",
        f"data:      {report['description']}: {report['n_samples']} training points, "
        f"{report['n_features']} features, sensitive feature {report['sensitive_feature']!r}",
        f"model:     {report['model']}",
        f"method:    {report['method']}",
        f"accuracy (training):                  {report['accuracy']:.4f}",
        f"log loss (training):                  {report['log_loss']:.4f}",
        f"equal accuracy (|TPR gap|+|TNR gap|): {report['equal_accuracy']:.4f}",
        "",
        f"Sign convention: {report['sign_convention']}.",
    ]
    for name, obj in report["objectives"].items():
        lines.append("")
        lines.append(
            f"Most harmful training points for {name} "
            f"({obj['n_harmful']} of {report['n_samples']} have a negative score):"
        )
        gw = max([5] + [len(str(e["group"])) for e in obj["most_harmful"]])
        lines.append(
            f"  {'rank':>4}  {'index':>6}  {'score':>11}  {'label':>5}  {'group':<{gw}}  features"
        )
        for e in obj["most_harmful"]:
            score = "nan" if e["score"] is None else f"{e['score']:.4e}"
            lines.append(
                f"  {e['rank']:>4}  {e['index']:>6}  {score:>11}  {e['label']!s:>5}  "
                f"{e['group']!s:<{gw}}  {_format_features(e['features'])}"
            )
    if report["notes"]:
        lines.append("")
        lines.append("Notes:")
        lines.extend(f"  {n}" for n in report["notes"])
    return "\n".join(lines)


def main(argv=None):
    """Entry point of the ``fairlearn-divine`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success, 1 when the data cannot be found or the audit fails.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        report = run_audit(
            dataset=args.dataset, data_home=args.data_home, method=args.method, top=args.top
        )
    except (FileNotFoundError, ValueError, TypeError) as exc:
        print(f"fairlearn-divine audit: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_format_report(report))
    return 0
