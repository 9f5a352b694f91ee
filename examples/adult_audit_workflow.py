# %% [markdown]
# # Auditing an Adult income model, as a fairlearn user would
#
# The raw Adult census data as a pandas DataFrame (categories, missing values), a
# train/validation split (so the index is shuffled), a scikit-learn Pipeline that one-hot
# encodes and scales, a logistic regression, and two sensitive columns (sex and race). Every
# call below takes the data as it is; every claim about a refit is made by a refit.
#
# Run it with ``FAIRLEARN_DIVINE_DATA=../shared/data python examples/adult_audit_workflow.py``
# (the documentation build runs it and shows its output).

# %%
import warnings

import numpy as np
from fairlearn.metrics import (
    MetricFrame,
    equalized_odds_difference,
    false_positive_rate,
    true_positive_rate,
)
from sklearn.base import clone
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from fairlearn_divine import (
    InfluentialPointRemover,
    make_metric_frame_objective,
    minimal_forcing_subset,
    select_diverse_influential,
    training_point_importance,
)
from fairlearn_divine.datasets import load_adult

N_TRAIN, N_VALIDATION = 6000, 3000  # a subsample keeps the example under a few seconds

# %% [markdown]
# ## Data and model

# %%
data = load_adult()
X = data.X.copy()
X["race"] = np.where(X["race"] == "White", "White", "other")  # every group has positives
A = X[["sex", "race"]]
X_train, X_val, y_train, y_val, A_train, A_val = train_test_split(
    X, data.y, A, train_size=N_TRAIN, test_size=N_VALIDATION, random_state=0, stratify=data.y
)
print(f"{len(X_train)} training rows, {int(X_train.isna().to_numpy().sum())} missing values")

model = make_pipeline(
    ColumnTransformer(
        [
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore"),
                make_column_selector(dtype_exclude="number"),
            ),
            ("num", StandardScaler(), make_column_selector(dtype_include="number")),
        ]
    ),
    LogisticRegression(tol=1e-8, max_iter=5000),
).fit(X_train, y_train)
eod = equalized_odds_difference(y_val, model.predict(X_val), sensitive_features=A_val)
print(f"validation accuracy {model.score(X_val, y_val):.3f}, equalized odds difference {eod:.3f}")

# %% [markdown]
# ## Which training points drive the unfairness?
#
# ``objective="equalized_odds"`` is fairlearn's ``equalized_odds_difference`` (the larger of
# the TPR and FPR gaps), evaluated on the validation data. Influence scores are first-order
# estimates: negative = removing the point is estimated to lower the gap.

# %%
kwargs = {"X_eval": X_val, "y_eval": y_val, "sensitive_features_eval": A_val}
influence = training_point_importance(
    model, X_train, y_train, objective="equalized_odds", sensitive_features=A_train, **kwargs
)
scores = influence.to_frame()["equalized_odds"]  # indexed like X_train
print(f"baseline {influence.baseline:.4f} (fairlearn: {eod:.4f})")
print("most harmful rows by label:", list(scores.nsmallest(5).index))

# %% [markdown]
# Exact leave-one-out refits check the estimates on the five most harmful rows.

# %%
rows = np.argsort(influence.scores)[:5]
loo = training_point_importance(
    model, X_train, y_train, objective="equalized_odds", method="loo", indices=rows,
    sensitive_features=A_train, **kwargs,
)  # fmt: skip
for i in rows:
    print(
        f"row {X_train.index[i]}: influence {influence.scores[i]:+.5f}, "
        f"refit without it {loo.scores[i]:+.5f}"
    )

# %% [markdown]
# The hard metric is piecewise constant: removing one row rarely changes a single validation
# prediction, so one-row refits often leave it exactly unchanged. The influence estimate is
# the first-order change of the metric's smooth surrogate (soft group rates) -- it ranks rows,
# and claims about the hard metric need refits of *sets* of rows (as the remover below).

# %% [markdown]
# ## A MetricFrame recipe as the objective
#
# Any ``MetricFrame`` aggregation of rates the package knows has a gradient; its value is
# exactly what fairlearn computes.

# %%
tpr_fpr = make_metric_frame_objective(
    {"tpr": true_positive_rate, "fpr": false_positive_rate}, aggregate="difference"
)
res = training_point_importance(model, X_train, y_train, objective=tpr_fpr, **kwargs)
frame = MetricFrame(
    metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
    y_true=y_val, y_pred=model.predict(X_val), sensitive_features=A_val,
)  # fmt: skip
print(f"recipe value {res.baseline:.4f}, MetricFrame {frame.difference().max():.4f}")

# %% [markdown]
# ## Five diverse harmful points (DIVINE)
#
# The diversity kernel compares the Pipeline's own encoded features by default;
# ``gamma="influence_budget"`` keeps the set at 90% of the top-5's estimated harm.

# %%
divine = select_diverse_influential(
    model, X_train, y_train, 5, objective="equalized_odds", harmful=True,
    sensitive_features=A_train, gamma="influence_budget", **kwargs,
)  # fmt: skip
print(divine.to_frame())

# %% [markdown]
# ## Which training points force one decision?
#
# The minimal forcing subset of the validation row closest to the decision boundary, checked
# by refitting without it.

# %%
j = int(np.argmin(np.abs(model.predict_proba(X_val)[:, 1] - 0.5)))
x = X_val.iloc[[j]]
mfs = minimal_forcing_subset(model, X_train, y_train, x)
keep = ~X_train.index.isin(mfs.labels)
refit = clone(model).fit(X_train[keep], y_train[keep])
print(
    f"{mfs.size} points; refit without them predicts {refit.predict(x)[0]} "
    f"(was {model.predict(x)[0]}); {mfs.message}"
)

# %% [markdown]
# ## Mitigation, chosen on validation data, judged on the test file
#
# ``mode="reweigh"`` chooses every training point's weight by a linear program over
# first-order predictions of each group's TPR and FPR gap on the validation data (the
# predicted validation log loss may not rise); ``fraction="auto"`` picks the budget there, and
# the refit is kept only if its validation equalized-odds difference is not worse than the
# unmitigated model's. Adult's separate test file judges the result.

# %%
X_test = data.X_test.copy()
X_test["race"] = np.where(X_test["race"] == "White", "White", "other")
A_test = X_test[["sex", "race"]]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", UserWarning)
    remover = InfluentialPointRemover(
        clone(model), objective="equalized_odds", mode="reweigh", fraction="auto"
    ).fit(
        X_train,
        y_train,
        sensitive_features=A_train,
        X_val=X_val,
        y_val=y_val,
        sensitive_features_val=A_val,
    )
for w in caught:
    print(f"warning: {w.message}")
test_before = equalized_odds_difference(
    data.y_test, model.predict(X_test), sensitive_features=A_test
)
test_after = equalized_odds_difference(
    data.y_test, remover.predict(X_test), sensitive_features=A_test
)
predicted = remover.predicted_value_  # None when nothing was removed
print(
    f"weights lowered for {len(remover.removed_indices_)} rows (budget {remover.fraction_:.1%}"
    f" of the weight); validation equalized odds difference "
    f"{remover.original_validation_value_:.3f} -> {remover.validation_value_:.3f} by the refit "
    f"(first-order prediction {'-' if predicted is None else f'{predicted:.3f}'})"
)
print(
    f"test equalized odds difference {test_before:.3f} -> {test_after:.3f}, test accuracy "
    f"{model.score(X_test, data.y_test):.3f} -> {remover.score(X_test, data.y_test):.3f}"
)
