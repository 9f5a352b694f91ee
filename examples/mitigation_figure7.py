"""Removing unfairness-inducing training points: DIVINE Figure 7 and appendix D.5 (Figure 25).

For COMPAS, LSAT, Adult and Bank marketing (the paper's features, appendix C.1) a logistic
regression is fitted in a ``Pipeline(ColumnTransformer(StandardScaler, OneHotEncoder),
LogisticRegression)`` on a seeded, stratified 70/20/10 train/validation/test split (the paper's
split). Then:

(a) **Figure 7** -- :func:`fairlearn_divine.removal_curve` on the training data: training points
    are scored by influence on equal accuracy (``f_unf = |TPR gap| + |TNR gap|``), removed in
    steps of 5% of the training set up to 60% by four strategies (influence, DIVINE with
    sum-redundancy and the pairwise-distance gamma, diversity only, random), the model is
    refitted, and accuracy and the hard equal-accuracy value are measured on the training data.
    Saved to ``examples/output/figure7.png``.
(b) **Appendix D.5.1, Figure 25 (bottom row)** -- the generalisation variant: points are scored by
    their influence on equal accuracy measured on the *validation* split
    (``training_point_importance(..., X_eval=X_val)``), removed in the same steps, and the refits
    are measured on the *test* split (accuracy, and equal accuracy computed with fairlearn's
    ``MetricFrame``: sum of the between-groups differences of TPR and TNR). Saved to
    ``examples/output/figure7_generalisation.png``.
(c) COMPAS with ``C=1e4`` (close to the paper's unregularised SLSQP fit) beside the default
    ``C=1``, to compare with the paper's "about 70% less unfairness after removing 10% of the
    training points, about 2 points of accuracy lost".
(d) :class:`fairlearn_divine.InfluentialPointRemover` (``fraction=0.1``) on COMPAS: accuracy and
    unfairness on the training and test splits before and after.

Adult and Bank have about 32k and 29k training rows; the greedy DIVINE and diversity-only orders
over 60% of them are quadratic in n and every refit of a 100-column one-hot model at tol=1e-8 is
slow, so by default the training split of every data set with more than 20,000 training rows
(Adult, Bank) is subsampled (seeded, stratified on label x group) to ``--max-train`` rows (8000)
for the removal curves; the output says so. Validation and test splits are never subsampled.
Pass ``--max-train 0`` to use every row.

Run: ``FAIRLEARN_DIVINE_DATA=/path/to/data python examples/mitigation_figure7.py``
(options: ``--datasets COMPAS LSAT``, ``--max-train N``, ``--n-jobs N``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, true_negative_rate, true_positive_rate
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import Bunch

from fairlearn_divine import (
    InfluentialPointRemover,
    removal_curve,
)
from fairlearn_divine.datasets import (
    load_adult,
    load_bank_marketing,
    load_compas,
    load_law_school,
)

DATASETS = ("COMPAS", "LSAT", "Adult", "Bank")
STRATEGIES = ("influence", "divine", "diversity_only", "random")
REPORT_FRACTIONS = (0.0, 0.05, 0.10, 0.20)
STEP, MAX_FRACTION = 0.05, 0.6
OUT_DIR = Path(__file__).resolve().parent / "output"

ADULT_FEATURES = [
    "age",
    "workclass",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
]


# ---------------------------------------------------------------------------------------------
# Data and model


def _raw(name):
    """Features X (DataFrame), labels y, sensitive feature A of the whole data set."""
    if name == "COMPAS":
        d = load_compas(races=("African-American", "Caucasian"))
        return d.X, d.y, d.sensitive_features.to_numpy()
    if name == "LSAT":
        # The paper re-splits the whole law school data 70/20/10: pool Kusner et al.'s split.
        d = load_law_school()
        X = pd.concat([d.X, d.X_test], ignore_index=True)
        y = np.concatenate([d.y, d.y_test])
        A = np.concatenate([d.sensitive_features, d.sensitive_features_test])
        return X, y, A
    if name == "Adult":
        # 45,222 rows = UCI train + test without missing values (the paper's Table 6 count).
        d = load_adult()
        X = pd.concat([d.X, d.X_test], ignore_index=True)
        y = np.concatenate([d.y, d.y_test])
        complete = X.notna().all(axis=1).to_numpy()
        A = X["sex"].to_numpy()[complete]
        return X.loc[complete, ADULT_FEATURES].reset_index(drop=True), y[complete], A
    if name == "Bank":
        d = load_bank_marketing()  # all 20 attributes; sensitive: age >= 25 vs age < 25
        return d.X, d.y, d.sensitive_features.to_numpy()
    raise ValueError(f"unknown data set {name!r}; choose from {DATASETS}.")


def load_dataset(name, random_state=0):
    """The paper's features and a stratified 70/20/10 train/validation/test split.

    Stratified on label x sensitive group, so every split keeps both groups' base rates.
    """
    X, y, A = _raw(name)
    strata = pd.Series(y).astype(str).to_numpy() + "|" + A.astype(str)
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=0.1, stratify=strata, random_state=random_state)
    train, val = train_test_split(
        rest, test_size=2 / 9, stratify=strata[rest], random_state=random_state
    )
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    categorical = [c for c in X.columns if c not in numeric]

    def part(rows):
        return X.iloc[rows].reset_index(drop=True), y[rows], A[rows]

    d = Bunch(name=name, numeric=numeric, categorical=categorical, n_total=len(y))
    d.X_train, d.y_train, d.A_train = part(train)
    d.X_val, d.y_val, d.A_val = part(val)
    d.X_test, d.y_test, d.A_test = part(test)
    return d


SUBSAMPLE_ABOVE = 20_000


def subsample_train(d, max_train, random_state=0):
    """A seeded, stratified subsample of a large training split (``max_train`` rows)."""
    if not max_train or len(d.y_train) <= max(max_train, SUBSAMPLE_ABOVE):
        return d, False
    strata = pd.Series(d.y_train).astype(str).to_numpy() + "|" + d.A_train.astype(str)
    rows, _ = train_test_split(
        np.arange(len(d.y_train)),
        train_size=max_train,
        stratify=strata,
        random_state=random_state,
    )
    rows = np.sort(rows)
    s = Bunch(**d)
    s.X_train = d.X_train.iloc[rows].reset_index(drop=True)
    s.y_train, s.A_train = d.y_train[rows], d.A_train[rows]
    return s, True


def make_model(d, C=1.0):
    """StandardScaler on numeric columns, one-hot on categorical ones, logistic regression."""
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), d.numeric),
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                d.categorical,
            ),
        ]
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression(C=C, tol=1e-8, max_iter=2000))])


def equal_accuracy(y_true, y_pred, sensitive_features):
    """DIVINE's f_unf with fairlearn: |TPR gap| + |TNR gap| (between_groups differences)."""
    mf = MetricFrame(
        metrics={"tpr": true_positive_rate, "tnr": true_negative_rate},
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=sensitive_features,
    )
    return float(mf.difference(method="between_groups").sum())


def measure(model, X, y, A):
    pred = model.predict(X)
    return float(np.mean(pred == y)), equal_accuracy(y, pred, A)


# ---------------------------------------------------------------------------------------------
# (b) score on validation, measure on test


def generalisation_curve(d, *, C=1.0, random_state=0, n_jobs=None):
    """Figure 25 (bottom): influence on validation f_unf, refits measured on the test split."""
    curve = removal_curve(
        make_model(d, C),
        d.X_train,
        d.y_train,
        sensitive_features=d.A_train,
        objective="equal_accuracy",
        step=STEP,
        max_fraction=MAX_FRACTION,
        X_eval=d.X_val,
        y_eval=d.y_val,
        sensitive_features_eval=d.A_val,
        X_measure=d.X_test,
        y_measure=d.y_test,
        sensitive_features_measure=d.A_test,
        random_state=random_state,
        n_jobs=n_jobs,
    )
    curve["objective"] = "equal_accuracy (validation-scored, test-measured)"
    return curve


# ---------------------------------------------------------------------------------------------
# Reporting


def at_fraction(curve, strategy, key, fraction):
    if fraction == 0:
        return curve[f"baseline_{key}"]
    k = int(np.argmin(np.abs(curve["fractions"] - fraction)))
    return curve[key][strategy][k]


def print_table(name, curve, note=""):
    print(f"\n{name}{note}: accuracy / unfairness (equal accuracy) after removing")
    header = "".join(f"{f'{int(f * 100)}%':>17}" for f in REPORT_FRACTIONS)
    print(f"{'strategy':<16}{header}")
    for s in curve["accuracy"]:
        cells = "".join(
            f"{at_fraction(curve, s, 'accuracy', f):>8.3f} /"
            f"{at_fraction(curve, s, 'unfairness', f):>6.3f} "
            for f in REPORT_FRACTIONS
        )
        print(f"{s:<16}{cells}")
    print(f"harmful (negative-score) points: {curve['harmful_fraction']:.1%} of training rows")


def relative_change(curve, strategy, fraction):
    u0 = curve["baseline_unfairness"]
    a0 = curve["baseline_accuracy"]
    u = at_fraction(curve, strategy, "unfairness", fraction)
    a = at_fraction(curve, strategy, "accuracy", fraction)
    return (u - u0) / u0, a - a0


def save_figure(curves, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fairlearn_divine.plotting import plot_removal_curve

    fig, axes = plt.subplots(2, len(curves), figsize=(4 * len(curves), 6.5), sharex=True)
    axes = np.asarray(axes).reshape(2, len(curves))
    for j, (label, curve) in enumerate(curves.items()):
        plot_removal_curve(curve, axes=axes[:, j], title=label)
        if j:
            axes[0, j].get_legend().remove()
        axes[1, j].set_ylabel("unfairness (equal accuracy)" if j == 0 else "")
        if j:
            axes[0, j].set_ylabel("")
    fig.suptitle(title)
    fig.tight_layout()
    OUT_DIR.mkdir(exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"\nsaved {path}")


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--max-train", type=int, default=8000)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()

    data = {name: load_dataset(name) for name in args.datasets}
    for d in data.values():
        print(
            f"{d.name}: {d.n_total} rows -> train {len(d.y_train)}, validation {len(d.y_val)}, "
            f"test {len(d.y_test)}; numeric {d.numeric}; categorical {d.categorical}"
        )

    # (a) Figure 7: score and measure on the training data.
    print("\n=== (a) Figure 7: influence on training f_unf, measured on the training data ===")
    curves, notes = {}, {}
    for name, d in data.items():
        d_sub, sub = subsample_train(d, args.max_train)
        notes[name] = (
            f" [training split subsampled to {len(d_sub.y_train)} of {len(d.y_train)} rows]"
            if sub
            else ""
        )
        t0 = time.perf_counter()
        curves[name] = removal_curve(
            make_model(d_sub),
            d_sub.X_train,
            d_sub.y_train,
            sensitive_features=d_sub.A_train,
            objective="equal_accuracy",
            strategies=STRATEGIES,
            step=STEP,
            max_fraction=MAX_FRACTION,
            random_state=0,
            n_jobs=args.n_jobs,
        )
        print_table(name, curves[name], notes[name])
        print(f"removal_curve took {time.perf_counter() - t0:.1f} s")
    save_figure(
        {f"{k}{' (subsample)' if notes[k] else ''}": v for k, v in curves.items()},
        OUT_DIR / "figure7.png",
        "Removal of unfairness-inducing points (training data, scored on training f_unf)",
    )

    # (c) COMPAS: C=1 vs C=1e4 against the paper's claim.
    if "COMPAS" in data:
        print("\n=== (c) COMPAS, influence order, 10% removed (paper: ~-70% f_unf, ~-2 acc) ===")
        d = data["COMPAS"]
        rows = [("C=1", curves["COMPAS"])]
        rows.append(
            (
                "C=1e4",
                removal_curve(
                    make_model(d, C=1e4),
                    d.X_train,
                    d.y_train,
                    sensitive_features=d.A_train,
                    strategies=("influence", "random"),
                    step=STEP,
                    max_fraction=MAX_FRACTION,
                    random_state=0,
                    n_jobs=args.n_jobs,
                ),
            )
        )
        for label, c in rows:
            for frac in (0.05, 0.10):
                du, da = relative_change(c, "influence", frac)
                print(
                    f"{label:>6}, {frac:.0%} removed: f_unf {c['baseline_unfairness']:.3f} -> "
                    f"{at_fraction(c, 'influence', 'unfairness', frac):.3f} ({du:+.0%}), "
                    f"accuracy {c['baseline_accuracy']:.3f} -> "
                    f"{at_fraction(c, 'influence', 'accuracy', frac):.3f} ({100 * da:+.1f} points)"
                )
            print(f"{label:>6}: harmful points {c['harmful_fraction']:.1%} of the training rows")

    # (b) Appendix D.5.1: score on validation f_unf, measure on test.
    print("\n=== (b) D.5.1: influence on validation f_unf, measured on the test split ===")
    gen = {}
    for name, d in data.items():
        d_sub, _ = subsample_train(d, args.max_train)
        t0 = time.perf_counter()
        gen[name] = generalisation_curve(d_sub, random_state=0, n_jobs=args.n_jobs)
        print_table(name, gen[name], notes[name])
        print(f"took {time.perf_counter() - t0:.1f} s")
    save_figure(
        {f"{k}{' (subsample)' if notes[k] else ''}": v for k, v in gen.items()},
        OUT_DIR / "figure7_generalisation.png",
        "Scored on validation f_unf, measured on the test split (appendix D.5.1)",
    )

    # (d) InfluentialPointRemover on COMPAS.
    if "COMPAS" in data:
        print("\n=== (d) InfluentialPointRemover(fraction=0.1) on COMPAS ===")
        d = data["COMPAS"]
        base = make_model(d).fit(d.X_train, d.y_train)
        remover = InfluentialPointRemover(make_model(d), fraction=0.1, random_state=0)
        remover.fit(d.X_train, d.y_train, sensitive_features=d.A_train)
        print(
            f"harmful points: {remover.n_harmful_}; removed {len(remover.removed_indices_)} "
            f"of {len(d.y_train)}; stopped early: {remover.stopped_early_}"
        )
        print(f"{'':<8}{'accuracy before':>17}{'after':>8}{'unfairness before':>19}{'after':>8}")
        for split, X, y, A in (
            ("train", d.X_train, d.y_train, d.A_train),
            ("test", d.X_test, d.y_test, d.A_test),
        ):
            a0, u0 = measure(base, X, y, A)
            a1, u1 = measure(remover, X, y, A)
            print(f"{split:<8}{a0:>17.3f}{a1:>8.3f}{u0:>19.3f}{u1:>8.3f}")


if __name__ == "__main__":
    main()
