"""DIVINE paper, Table 1: modes of unfairness-inducing points on LSAT.

A logistic regression predicts first-year pass/fail from LSAT score, undergraduate GPA and sex.
Every training point is scored by influence for equal accuracy (f_unf = |TPR gap| + |TNR gap|
between women and men) on the training data; harm = -score. The table compares the top-8 most
harmful points (influence alone, gamma = 0) with 8 DIVINE points (harm + gamma * R_SR, gamma
by the pairwise-distance rule), as in the paper: influence alone finds one mode (mostly men
with low LSAT and GPA who pass), DIVINE also finds others (e.g. women with high scores who fail).

Run: ``FAIRLEARN_DIVINE_DATA=../shared/data python examples/divine_lsat_table1.py``
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from fairlearn_divine import select_diverse, training_point_importance
from fairlearn_divine.datasets import load_lsat


def describe(data, idx):
    X = data.X.iloc[idx]
    return pd.DataFrame(
        {
            "LSAT": X["LSAT"].round().astype(int).to_numpy(),
            "GPA": X["UGPA"].round(1).to_numpy(),
            "A": np.where(data.sensitive_features.iloc[idx].to_numpy() == "female", "F", "M"),
            "FYA": np.where(data.y[idx] == 1, "Pass", "Fail"),
        }
    )


def main():
    data = load_lsat()
    sex = (data.sensitive_features == "female").astype(float).to_numpy()
    features = np.column_stack([data.X["LSAT"], data.X["UGPA"], sex])
    Z = StandardScaler().fit_transform(features)
    model = LogisticRegression(tol=1e-8, max_iter=1000).fit(Z, data.y)
    result = training_point_importance(
        model, Z, data.y, objective="equal_accuracy", sensitive_features=data.sensitive_features
    )
    harm = -result.scores
    print(f"training points: {len(harm)}, equal accuracy (hard) = {result.baseline:.4f}")
    print(f"unfairness-inducing points (negative scores): {int(np.sum(harm > 0))}\n")

    top = select_diverse(harm, Z, 8, gamma=0.0)
    divine = select_diverse(harm, Z, 8, diversity="sum_redundancy", random_state=0)
    left, right = describe(data, divine.indices), describe(data, top.indices)
    table = pd.concat({"DIVINE: I + gamma R_SR": left, "influence alone: I": right}, axis=1)
    print(table.to_string(index=False))
    print(
        f"\nDIVINE gamma = {divine.gamma:.4g} (pairwise-distance rule), influence kept "
        f"{divine.influence_retained:.1%}; mean pairwise distance (standardised features): "
        f"DIVINE {divine.mean_pairwise_distance:.2f} vs influence {top.mean_pairwise_distance:.2f}"
    )
    for name, frame in (("DIVINE", left), ("influence", right)):
        women_fail = int(((frame.A == "F") & (frame.FYA == "Fail")).sum())
        men_pass = int(((frame.A == "M") & (frame.FYA == "Pass")).sum())
        print(f"{name:>9}: {women_fail} women who fail, {men_pass} men who pass")


if __name__ == "__main__":
    main()
