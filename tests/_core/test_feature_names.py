"""Feature names and order are checked against the fitted estimator at every entry point.

A DataFrame whose columns are in another order than at fit time used to be scored as if they
matched (the model view takes columns by position; scores were off by up to 0.018 on the
synthetic data). Now every public entry point that takes a fitted estimator and data checks the
columns as scikit-learn does (``feature_names_in_``, for a Pipeline that of its first step):
missing, extra and reordered columns are a ValueError naming the argument and the columns; an
array given to an estimator fitted on a DataFrame, or the reverse, is a UserWarning (as in
scikit-learn), once, naming the argument the caller used. Inputs are never modified, and a
correctly ordered DataFrame gives exactly the scores it gave before.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fairlearn_divine import (
    DivineExplainer,
    minimal_forcing_subset,
    minimal_forcing_subsets,
    select_diverse_influential,
    training_point_importance,
)
from fairlearn_divine._core.validation import check_feature_names
from fairlearn_divine.datasets import make_divine_synthetic

COLUMNS = ["x1", "x2", "x3"]


def _data(n=40, seed=0):
    synth = make_divine_synthetic(n_samples=n, n_outliers=0, random_state=seed)
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        np.column_stack([synth.X, rng.normal(size=n)]), columns=COLUMNS, index=np.arange(n) + 100
    )
    return X, synth.y, synth.sensitive_features


@pytest.fixture(scope="module")
def problem():
    X, y, a = _data()
    model = LogisticRegression(tol=1e-12, max_iter=1000).fit(X, y)
    return X, y, a, model


# ---------------------------------------------------------------------------------------------
# bad columns: (how X is changed, what the message must say)

BAD_COLUMNS = {
    "reordered": (lambda X: X[["x2", "x1", "x3"]], r"another order.*Expected order: \['x1'"),
    "reversed": (lambda X: X[COLUMNS[::-1]], r"another order.*got: \['x3', 'x2', 'x1'\]"),
    "missing": (lambda X: X[["x1", "x3"]], r"lacks columns .*\['x2'\]"),
    "extra": (lambda X: X.assign(z=1.0), r"not fitted with: \['z'\]"),
    "renamed": (
        lambda X: X.rename(columns={"x3": "x4"}),
        r"lacks columns .*\['x3'\].*not fitted with: \['x4'\]",
    ),
    "mixed_types": (lambda X: X.set_axis(["x1", "x2", 3], axis=1), r"types.*strings"),
}


def _call(entry, model, X, y, a, bad):
    """Run one entry point with ``bad`` in the argument it names; return that argument."""
    x_row = bad.iloc[[0]]
    if entry == "importance:X":
        training_point_importance(model, bad, y)
    elif entry == "importance:X_eval":
        training_point_importance(model, X, y, X_eval=bad, y_eval=y)
    elif entry == "importance_loo:X_eval":
        training_point_importance(model, X, y, method="loo", indices=[0], X_eval=bad, y_eval=y)
    elif entry == "select:X":
        select_diverse_influential(model, bad, y, 3)
    elif entry == "select:X_eval":
        select_diverse_influential(model, X, y, 3, X_eval=bad, y_eval=y)
    elif entry == "forcing:X":
        minimal_forcing_subset(model, bad, y, X.iloc[[0]])
    elif entry == "forcing:x":
        minimal_forcing_subset(model, X, y, x_row)
    elif entry == "forcing_many:X_points":
        minimal_forcing_subsets(model, X, y, bad.iloc[:2])
    elif entry == "explainer:X_train":
        DivineExplainer(model, bad, y)
    elif entry == "explainer_call:X":
        DivineExplainer(model, X, y)(bad.iloc[:3], y[:3])
    elif entry == "explainer_fairness:X":
        DivineExplainer(model, X, y).explain_fairness(bad, y, sensitive_features=a)
    elif entry == "explainer_global:X_eval":
        DivineExplainer(model, X, y).explain_global(
            objective="log_loss", n_points=2, X_eval=bad, y_eval=y
        )
    elif entry == "explainer_local:x":
        DivineExplainer(model, X, y).explain_local(x_row, y[0], n_points=2)
    elif entry == "explainer_forcing:x":
        DivineExplainer(model, X, y).forcing_subset(x_row)
    else:  # pragma: no cover
        raise AssertionError(entry)


ENTRIES = [
    "importance:X",
    "importance:X_eval",
    "importance_loo:X_eval",
    "select:X",
    "select:X_eval",
    "forcing:X",
    "forcing:x",
    "forcing_many:X_points",
    "explainer:X_train",
    "explainer_call:X",
    "explainer_fairness:X",
    "explainer_global:X_eval",
    "explainer_local:x",
    "explainer_forcing:x",
]


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("kind", ["reordered", "missing", "extra"])
def test_every_entry_point_refuses_bad_columns_naming_the_argument(problem, entry, kind):
    X, y, a, model = problem
    change, match = BAD_COLUMNS[kind]
    bad = change(X)
    before = bad.copy()
    argname = entry.split(":")[1]
    with pytest.raises(ValueError, match=rf"^{argname} .*{match}") as info:
        _call(entry, model, X, y, a, bad)
    assert "LogisticRegression" in str(info.value)
    pd.testing.assert_frame_equal(bad, before)


@pytest.mark.parametrize("kind", sorted(BAD_COLUMNS))
def test_bad_columns_table(problem, kind):
    X, y, _, model = problem
    change, match = BAD_COLUMNS[kind]
    bad = change(X)
    before = bad.copy()
    error = TypeError if kind == "mixed_types" else ValueError
    with pytest.raises(error, match=rf"^X .*{match}"):
        training_point_importance(model, bad, y)
    pd.testing.assert_frame_equal(bad, before)


def test_series_row_in_another_order_is_refused(problem):
    X, y, _, model = problem
    row = X.iloc[0][["x3", "x1", "x2"]]
    before = row.copy()
    with pytest.raises(ValueError, match=r"^x .*another order"):
        minimal_forcing_subset(model, X, y, row)
    pd.testing.assert_series_equal(row, before)


def test_reordered_columns_would_have_given_other_scores(problem):
    # the bug this guards against: taken by position, reordered columns gave other numbers
    X, y, _, model = problem
    fine = training_point_importance(model, X, y).scores
    reordered = X[["x2", "x1", "x3"]]
    with pytest.raises(ValueError, match="another order"):
        training_point_importance(model, reordered, y)
    with pytest.warns(UserWarning, match="no feature names"):  # what the old code scored
        wrong = training_point_importance(
            model, reordered.to_numpy(), y, optimality_tol=np.inf
        ).scores
    assert np.max(np.abs(wrong - fine)) > 1e-3


# ---------------------------------------------------------------------------------------------
# pipelines


@pytest.mark.parametrize("first", ["scaler", "column_transformer"])
def test_pipeline_checks_the_names_of_its_first_step(first):
    X, y, _ = _data()
    if first == "scaler":
        pre = StandardScaler()
    else:  # by name: sklearn itself would accept reordered columns; we do not (see docs)
        pre = ColumnTransformer([("num", StandardScaler(), COLUMNS)])
    model = make_pipeline(pre, LogisticRegression(tol=1e-12, max_iter=1000)).fit(X, y)
    reordered = X[["x3", "x1", "x2"]]
    before = reordered.copy()
    with pytest.raises(ValueError, match=r"^X has the columns Pipeline was fitted with, but in"):
        training_point_importance(model, reordered, y)
    pd.testing.assert_frame_equal(reordered, before)
    # the right order is unchanged and gives the scores of the same data as an array
    scores = training_point_importance(model, X, y).scores
    again = training_point_importance(model, reordered[model.feature_names_in_], y).scores
    assert_array_equal(scores, again)


# ---------------------------------------------------------------------------------------------
# names on one side only: a warning, as in scikit-learn


def test_array_for_an_estimator_fitted_with_names_warns_once(problem):
    X, y, _, model = problem
    arr = X.to_numpy()
    before = arr.copy()
    with pytest.warns(UserWarning, match=r"^X has no feature names .*\['x1', 'x2', 'x3'\]") as rec:
        scores = training_point_importance(model, arr, y).scores
    assert len(rec) == 1
    assert_array_equal(scores, training_point_importance(model, X, y).scores)
    assert_array_equal(arr, before)


def test_dataframe_for_an_estimator_fitted_without_names_warns(problem):
    X, y, _, _ = problem
    model = LogisticRegression(tol=1e-12, max_iter=1000).fit(X.to_numpy(), y)
    with pytest.warns(UserWarning, match="^X_eval has feature names, but LogisticRegression was"):
        scores = training_point_importance(
            model, X.to_numpy(), y, X_eval=X, y_eval=y, method="one_step_newton"
        ).scores
    expected = training_point_importance(model, X.to_numpy(), y, method="one_step_newton").scores
    np.testing.assert_allclose(scores, expected, rtol=1e-10, atol=1e-15)


def test_explainer_warns_once_per_argument_with_the_callers_names(problem):
    X, y, _, model = problem
    arr = X.to_numpy()
    with pytest.warns(UserWarning, match="^X_train has no feature names") as rec:
        explainer = DivineExplainer(model, arr, y)
    assert len(rec) == 1
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        explainer(arr[:2], y[:2])
    messages = [str(w.message) for w in rec]
    assert len(messages) == 1 and messages[0].startswith("X has no feature names"), messages


def test_wrong_number_of_features_in_an_array_is_refused(problem):
    X, y, _, _ = problem
    model = LogisticRegression(tol=1e-12, max_iter=1000).fit(X.to_numpy(), y)
    arr = X.to_numpy()[:, :2]
    before = arr.copy()
    with pytest.raises(ValueError, match="^X has 2 features, but LogisticRegression was fitted"):
        training_point_importance(model, arr, y, method="loo", indices=[0])
    assert_array_equal(arr, before)


# ---------------------------------------------------------------------------------------------
# the right order changes nothing


@pytest.mark.parametrize("method", ["influence", "loo", "data_shapley"])
def test_correctly_ordered_dataframe_gives_exactly_the_same_scores(problem, method):
    X, y, _, model = problem
    arr_model = LogisticRegression(tol=1e-12, max_iter=1000).fit(X.to_numpy(), y)
    kw = {"method": method}
    if method == "influence":  # not the training log loss, for which influence warns
        kw["objective"] = "zero_one_loss"
    if method == "loo":
        kw["indices"] = [0, 5, 9]
    if method == "data_shapley":
        kw.update(n_permutations=4, random_state=0, progress=False)
    frame = training_point_importance(model, X, y, **kw).scores
    array = training_point_importance(arr_model, X.to_numpy(), y, **kw).scores
    assert_array_equal(frame, array)


def test_helper_does_nothing_for_differentiable_views_and_unfitted_names(problem):
    X, y, _, model = problem
    from fairlearn_divine._models import make_view

    view = make_view(model, X, y)
    check_feature_names(view, X[COLUMNS[::-1]], "X")  # a view has no names: nothing to check
    check_feature_names(model, X, "X")  # the right columns: silent
