"""Tests of fairlearn_divine._mitigation (InfluentialPointRemover, removal_curve).

Expected values are computed here with plain scikit-learn fits and fairlearn's MetricFrame; the
package's ``training_point_importance`` is used only as the (separately tested) scoring step
when replaying the remover's selection rule by hand.
"""

import functools

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame, true_negative_rate, true_positive_rate
from sklearn import config_context
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from fairlearn_divine import InfluentialPointRemover, removal_curve, training_point_importance
from fairlearn_divine.datasets import make_divine_synthetic

# ---------------------------------------------------------------------------------------------
# helpers (independent ground truth)


def equal_accuracy(y_true, y_pred, sensitive_features):
    """DIVINE's f_unf = |TPR gap| + |TNR gap|, computed with fairlearn's MetricFrame."""
    mf = MetricFrame(
        metrics={"tpr": true_positive_rate, "tnr": true_negative_rate},
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=sensitive_features,
    )
    gaps = mf.difference(method="between_groups")
    return float(gaps["tpr"] + gaps["tnr"])


def lr(**kw):
    """A LogisticRegression fitted to (near) its optimum, so refits compare tightly."""
    return LogisticRegression(tol=1e-10, max_iter=10_000, **kw)


@functools.cache
def _synthetic():
    data = make_divine_synthetic(n_samples=400, n_outliers=10, random_state=0)
    return data.X, data.y, data.sensitive_features


def synthetic():
    X, y, sf = _synthetic()
    return X.copy(), y.copy(), sf.copy()


@functools.cache
def _balanced():
    # A nearly independent of y (rotation pi/2): every group has both labels in every CV fold
    # and in a held-out split (the default rotation leaves only 4 positives in group 0).
    data = make_divine_synthetic(n_samples=400, n_outliers=10, rotation=np.pi / 2, random_state=0)
    return data.X, data.y, data.sensitive_features


def balanced():
    X, y, sf = _balanced()
    return X.copy(), y.copy(), sf.copy()


def weights_for(n, seed=0):
    return np.random.default_rng(seed).uniform(0.2, 2.0, size=n)


# ---------------------------------------------------------------------------------------------
# scikit-learn compatibility
#
# Without sensitive_features the default fairness objective scores nothing (documented), so the
# default remover is a pass-through in the checks. The second instance uses objective="log_loss"
# so that scoring and down-weighting run; by design it is not sample_weight-equivalent
# (removing a fraction of n rows differs from removing a fraction of the repeated rows).


_NOT_WEIGHT_EQUIVALENT = {
    name: "removing a fraction of n rows is not the same as removing it from repeated rows"
    for name in (
        "check_sample_weight_equivalence_on_dense_data",
        "check_sample_weight_equivalence_on_sparse_data",
    )
}


@parametrize_with_checks(
    [
        # objectives that need no sensitive_features (sklearn's checks pass none): scoring,
        # removal and down-weighting really run inside every check (sparse input, dtypes,
        # pickling, idempotence, ...)
        InfluentialPointRemover(LogisticRegression(), objective="log_loss"),
        InfluentialPointRemover(
            LogisticRegression(), objective="log_loss", mode="downweight", fraction=0.1
        ),
        InfluentialPointRemover(
            LogisticRegression(), objective="log_loss", mode="reweigh", fraction=0.1
        ),
    ],
    expected_failed_checks=lambda est: _NOT_WEIGHT_EQUIVALENT if est.mode != "remove" else {},
)
# with keep_original_if_worse=True (the default) a check's random data can make the refit worse
# than the unmitigated model: the remover then keeps the original and says so
@pytest.mark.filterwarnings("ignore:Removing the selected points made:UserWarning")
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_init_only_stores_parameters():
    params = dict(
        objective="equal_opportunity",
        method="loo",
        fraction=0.2,
        diversity="mmd",
        gamma=0.5,
        mode="downweight",
        recalculate=3,
        validation_fraction=0.3,
        keep_original_if_worse=False,
        stop_at_predicted_minimum=False,
        max_accuracy_loss=0.02,
        target=0.05,
        max_loss_increase=0.001,
        random_state=7,
        progress=False,
    )
    inner = LogisticRegression(C=3.0)
    remover = InfluentialPointRemover(inner, **params)
    got = remover.get_params(deep=False)
    assert got.pop("estimator") is inner
    assert got == params
    assert remover.get_params()["estimator__C"] == 3.0
    # round trip and clone
    again = InfluentialPointRemover(**remover.get_params(deep=False))
    assert again.get_params(deep=False) == remover.get_params(deep=False)
    cloned = clone(remover)
    assert cloned.estimator is not inner
    assert cloned.get_params()["estimator__C"] == 3.0
    assert {k: v for k, v in cloned.get_params(deep=False).items() if k != "estimator"} == params
    # invalid values are only rejected at fit time
    bad = InfluentialPointRemover(inner, fraction=5.0, mode="nope", objective="nope")
    assert bad.fraction == 5.0 and bad.mode == "nope" and bad.objective == "nope"
    assert not hasattr(bad, "estimator_")
    remover.set_params(fraction=0.3, estimator__C=0.5)
    assert remover.fraction == 0.3 and inner.C == 0.5


# ---------------------------------------------------------------------------------------------
# sample_weight and metadata routing


def test_sample_weight_passed_to_inner_estimator_without_routing():
    X, y, sf = synthetic()
    w = weights_for(len(y))
    w0 = w.copy()
    remover = InfluentialPointRemover(lr(), fraction=0.05).fit(
        X, y, sensitive_features=sf, sample_weight=w
    )
    np.testing.assert_array_equal(w, w0)  # input not mutated
    rows = remover.sample_indices_
    assert len(remover.removed_indices_) > 0
    assert len(rows) == len(y) - len(remover.removed_indices_)
    np.testing.assert_allclose(remover.sample_weight_, w[rows])
    own = lr().fit(X[rows], y[rows], sample_weight=w[rows])
    np.testing.assert_allclose(remover.estimator_.coef_, own.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(remover.estimator_.intercept_, own.intercept_, rtol=1e-6)
    # and it is not the unweighted fit
    unweighted = lr().fit(X[rows], y[rows])
    assert not np.allclose(unweighted.coef_, own.coef_, rtol=1e-3)


def test_set_fit_request_and_pipeline_routing():
    X, y, sf = synthetic()
    with config_context(enable_metadata_routing=True):
        remover = InfluentialPointRemover(lr(), fraction=0.05)
        assert remover.set_fit_request(sensitive_features=True) is remover
        pipe = make_pipeline(StandardScaler(), remover)
        pipe.fit(X, y, sensitive_features=sf)
        fitted = pipe[-1]
        # points were removed: only possible when sensitive_features arrived
        assert len(fitted.removed_indices_) > 0
        assert fitted.n_harmful_ > 0
        # the same fit by hand (remover on the scaled data)
        Xs = StandardScaler().fit_transform(X)
        direct = InfluentialPointRemover(lr(), fraction=0.05).fit(Xs, y, sensitive_features=sf)
        np.testing.assert_array_equal(fitted.removed_indices_, direct.removed_indices_)
        pred = pipe.predict(X)
        assert pred.shape == y.shape

        # not requesting sensitive_features: the pipeline refuses to pass it
        unrequested = make_pipeline(StandardScaler(), InfluentialPointRemover(lr()))
        with pytest.raises(Exception, match="sensitive_features"):
            unrequested.fit(X, y, sensitive_features=sf)


def test_grid_search_and_cross_validate_route_sensitive_features():
    X, y, sf = balanced()
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    with config_context(enable_metadata_routing=True):
        remover = InfluentialPointRemover(
            lr(), fraction=0.05, stop_at_predicted_minimum=False
        ).set_fit_request(sensitive_features=True)
        pipe = make_pipeline(StandardScaler(), remover)
        grid = GridSearchCV(
            pipe, {"influentialpointremover__fraction": [0.02, 0.1]}, cv=cv, refit=True
        )
        grid.fit(X, y, sensitive_features=sf)
        assert grid.best_params_["influentialpointremover__fraction"] in (0.02, 0.1)
        best = grid.best_estimator_[-1]
        assert len(best.removed_indices_) > 0
        assert len(best.removed_indices_) <= int(np.floor(best.fraction * len(y)))

        res = cross_validate(
            pipe, X, y, cv=cv, params={"sensitive_features": sf}, return_estimator=True
        )
        for (train, _), est in zip(cv.split(X, y), res["estimator"], strict=True):
            inner = est[-1]
            assert len(inner.removed_indices_) > 0
            assert len(inner.scores_) == len(train)
            # the fold's own sensitive features arrived (not the full array): same result
            # as fitting on the fold by hand
            Xs = StandardScaler().fit_transform(X[train])
            direct = InfluentialPointRemover(
                lr(), fraction=0.05, stop_at_predicted_minimum=False
            ).fit(Xs, y[train], sensitive_features=sf[train])
            np.testing.assert_array_equal(inner.removed_indices_, direct.removed_indices_)


@pytest.mark.parametrize("mode", ["remove", "downweight", "reweigh"])
def test_pipeline_inside_the_remover_under_routing(mode):
    """Routing on, a Pipeline *inside* the remover, no sample weight from the user: fit,
    GridSearchCV and cross_validate used to fail with UnsetMetadataPassedError
    ([sample_weight] passed but not requested by StandardScaler). The result equals the
    remover's fit without routing."""
    X, y, sf = balanced()
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    plain = InfluentialPointRemover(
        make_pipeline(StandardScaler(), lr()), fraction=0.05, mode=mode
    ).fit(X, y, sensitive_features=sf)
    with config_context(enable_metadata_routing=True):
        remover = InfluentialPointRemover(
            make_pipeline(StandardScaler(), lr()), fraction=0.05, mode=mode
        ).set_fit_request(sensitive_features=True)
        remover.fit(X, y, sensitive_features=sf)
        np.testing.assert_array_equal(remover.removed_indices_, plain.removed_indices_)
        np.testing.assert_allclose(remover.sample_weight_, plain.sample_weight_, rtol=1e-12)
        np.testing.assert_allclose(
            remover.predict_proba(X), plain.predict_proba(X), rtol=1e-9, atol=1e-12
        )
        grid = GridSearchCV(remover, {"fraction": [0.02, 0.05]}, cv=cv)
        grid.fit(X, y, sensitive_features=sf)
        res = cross_validate(remover, X, y, cv=cv, params={"sensitive_features": sf})
        assert np.all(np.isfinite(res["test_score"]))


@pytest.mark.parametrize("mode", ["remove", "downweight", "reweigh"])
def test_sample_weight_routed_when_requested(mode):
    X, y, sf = synthetic()
    w = weights_for(len(y), seed=1)
    with config_context(enable_metadata_routing=True):
        inner = lr().set_fit_request(sample_weight=True)
        remover = InfluentialPointRemover(inner, fraction=0.05, mode=mode).set_fit_request(
            sensitive_features=True, sample_weight=True
        )
        pipe = make_pipeline(remover)
        pipe.fit(X, y, sensitive_features=sf, sample_weight=w)
        fitted = pipe[-1]
        rows = fitted.sample_indices_
        assert len(fitted.removed_indices_) > 0
        expected_w = w[rows].copy()
        if mode == "downweight":
            removed = fitted.removed_indices_
            harm = -fitted.scores_[removed]
            expected_w[removed] = w[removed] * (1 - harm / harm.max())  # rows == all rows
        if mode == "reweigh":
            # the program's weights: each a share in (0, 1] of the caller's, lowered only for
            # the rows it reports; the refit below checks they are the ones fitted with
            share = fitted.sample_weight_ / w[rows]
            assert np.all((share > 0) & (share <= 1 + 1e-12))
            lowered = rows[share < 1 - 1e-12]
            assert set(lowered) <= set(fitted.removed_indices_)
            expected_w = fitted.sample_weight_
        np.testing.assert_allclose(fitted.sample_weight_, expected_w, rtol=1e-12)
        own = lr().fit(X[rows], y[rows], sample_weight=expected_w)
    np.testing.assert_allclose(fitted.estimator_.coef_, own.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fitted.estimator_.intercept_, own.intercept_, rtol=1e-6)
    # scores were computed with the weighted model: replay
    model = lr().fit(X, y, sample_weight=w)
    scores = training_point_importance(
        model, X, y, objective="equal_accuracy", sensitive_features=sf, sample_weight=w
    ).scores
    np.testing.assert_allclose(fitted.scores_, scores, rtol=1e-5, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# the paper's toy example (DIVINE section 4, Figure 2)
#
# Four corners of the unit square: top two label 0 (x), bottom two label 1 (o); left side
# group A, right side group B; a fifth point farther away top-left (group A, label 0); the
# poisonous point top-right (group A, label 1), index 5. The six points are not separable (the
# poison sits just beyond the top-right corner), so a nearly unregularised logistic regression
# (C=100) has a finite, well-defined optimum: no replication/jitter is needed.

TOY_X = np.array([[0, 1], [1, 1], [0, 0], [1, 0], [-1, 2], [1.2, 1.2]], dtype=float)
TOY_Y = np.array([0, 0, 1, 1, 0, 1])
TOY_A = np.array(["A", "B", "A", "B", "A", "A"])
POISON = 5


def toy_lr():
    return LogisticRegression(C=100.0, tol=1e-10, max_iter=100_000)


def test_toy_example_poisoned_model_matches_paper():
    clean = toy_lr().fit(TOY_X[:5], TOY_Y[:5])
    assert clean.score(TOY_X[:5], TOY_Y[:5]) == 1.0
    assert equal_accuracy(TOY_Y[:5], clean.predict(TOY_X[:5]), TOY_A[:5]) == 0.0
    poisoned = toy_lr().fit(TOY_X, TOY_Y)
    pred = poisoned.predict(TOY_X)
    assert np.sum(pred == TOY_Y) == 5  # "gets 5/6 points correct"
    assert equal_accuracy(TOY_Y, pred, TOY_A) == pytest.approx(1.0)  # "unfairness of 1"

    # exact leave-one-out of the hard metric: removing the poison lowers unfairness the most
    loo = []
    for i in range(6):
        keep = np.arange(6) != i
        m = toy_lr().fit(TOY_X[keep], TOY_Y[keep])
        loo.append(equal_accuracy(TOY_Y, m.predict(TOY_X), TOY_A) - 1.0)
    # (removing the bottom-left point 2 ties with it at -0.5; the influence ranking below
    # breaks the tie towards the poison, as in the paper)
    assert loo[POISON] == min(loo) < 0


def test_toy_example_most_harmful_point_is_the_poison():
    poisoned = toy_lr().fit(TOY_X, TOY_Y)
    scores = training_point_importance(
        poisoned, TOY_X, TOY_Y, objective="equal_accuracy", sensitive_features=TOY_A
    ).scores
    assert np.argmin(scores) == POISON
    assert scores[POISON] < 0


def test_toy_example_remover_removes_poison_first():
    # budget floor(0.2 * 6) = 1 removal
    remover = InfluentialPointRemover(toy_lr(), fraction=0.2).fit(
        TOY_X, TOY_Y, sensitive_features=TOY_A
    )
    assert remover.removed_indices_[0] == POISON
    np.testing.assert_array_equal(remover.removed_indices_, [POISON])
    np.testing.assert_array_equal(remover.sample_indices_, [0, 1, 2, 3, 4])
    poisoned = toy_lr().fit(TOY_X, TOY_Y)
    before = equal_accuracy(TOY_Y, poisoned.predict(TOY_X), TOY_A)
    after = equal_accuracy(TOY_Y, remover.predict(TOY_X), TOY_A)
    assert after < before
    # refit on the five clean points: fair on them
    assert equal_accuracy(TOY_Y[:5], remover.predict(TOY_X[:5]), TOY_A[:5]) == 0.0
    own = toy_lr().fit(TOY_X[:5], TOY_Y[:5])
    np.testing.assert_allclose(remover.estimator_.coef_, own.coef_, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# selection rule


def test_never_removes_non_harmful_points():
    X, y, sf = synthetic()
    remover = InfluentialPointRemover(lr(), fraction=0.9).fit(X, y, sensitive_features=sf)
    model = lr().fit(X, y)
    scores = training_point_importance(
        model, X, y, objective="equal_accuracy", sensitive_features=sf
    ).scores
    np.testing.assert_allclose(remover.scores_, scores, rtol=1e-5, atol=1e-10)
    harmful = set(np.flatnonzero(scores < 0).tolist())
    assert 0 < len(harmful) < int(0.9 * len(y))
    removed = remover.removed_indices_.tolist()
    assert set(removed) <= harmful
    assert len(set(removed)) == len(removed)
    assert remover.stopped_early_ is True
    assert remover.n_harmful_ == len(harmful)
    assert set(removed) == harmful  # everything harmful fits in the budget
    # most harmful first
    np.testing.assert_array_equal(removed, np.argsort(scores, kind="stable")[: len(harmful)])
    np.testing.assert_array_equal(
        remover.sample_indices_, np.setdiff1d(np.arange(len(y)), removed)
    )


def test_small_budget_takes_most_harmful_and_does_not_stop_early():
    X, y, sf = synthetic()
    remover = InfluentialPointRemover(lr(), fraction=0.03).fit(X, y, sensitive_features=sf)
    budget = int(np.floor(0.03 * len(y)))
    scores = remover.scores_
    assert np.sum(scores < 0) > budget
    assert remover.stopped_early_ is False
    np.testing.assert_array_equal(
        remover.removed_indices_, np.argsort(scores, kind="stable")[:budget]
    )
    rows = np.setdiff1d(np.arange(len(y)), remover.removed_indices_)
    own = lr().fit(X[rows], y[rows])
    np.testing.assert_allclose(remover.estimator_.coef_, own.coef_, rtol=1e-6, atol=1e-9)


def test_downweight_changes_weights_only():
    X, y, sf = synthetic()
    n = len(y)
    w = weights_for(n, seed=2)
    remover = InfluentialPointRemover(lr(), fraction=0.05, mode="downweight").fit(
        X, y, sensitive_features=sf, sample_weight=w
    )
    np.testing.assert_array_equal(remover.sample_indices_, np.arange(n))
    removed = remover.removed_indices_
    assert len(removed) == int(np.floor(0.05 * n))
    harm = -remover.scores_[removed]
    assert np.all(harm > 0)
    expected = w.copy()
    expected[removed] = w[removed] * (1 - harm / harm.max())
    np.testing.assert_allclose(remover.sample_weight_, expected, rtol=1e-12)
    assert remover.sample_weight_[removed[0]] == 0.0  # the most harmful gets weight 0
    others = np.setdiff1d(np.arange(n), removed)
    np.testing.assert_array_equal(remover.sample_weight_[others], w[others])
    own = lr().fit(X, y, sample_weight=expected)
    np.testing.assert_allclose(remover.estimator_.coef_, own.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(remover.estimator_.intercept_, own.intercept_, rtol=1e-6)

    # without user weights: s_i = 1
    plain = InfluentialPointRemover(lr(), fraction=0.05, mode="downweight").fit(
        X, y, sensitive_features=sf
    )
    h = -plain.scores_[plain.removed_indices_]
    expected = np.ones(n)
    expected[plain.removed_indices_] = 1 - h / h.max()
    np.testing.assert_allclose(plain.sample_weight_, expected, rtol=1e-12)
    own = lr().fit(X, y, sample_weight=expected)
    np.testing.assert_allclose(plain.estimator_.coef_, own.coef_, rtol=1e-6, atol=1e-9)


def test_recalculate_matches_own_loop():
    X, y, sf = synthetic()
    n = len(y)
    fraction, k = 0.015, 2  # budget floor(0.015 * 410) = 6: three rounds of two
    budget = int(np.floor(fraction * n))
    assert budget == 6
    remover = InfluentialPointRemover(lr(), fraction=fraction, recalculate=k).fit(
        X, y, sensitive_features=sf
    )
    alive = np.ones(n, dtype=bool)
    removed = []
    while len(removed) < budget:
        rows = np.flatnonzero(alive)
        model = lr().fit(X[rows], y[rows])
        scores = training_point_importance(
            model, X[rows], y[rows], objective="equal_accuracy", sensitive_features=sf[rows]
        ).scores
        order = np.argsort(scores, kind="stable")
        picked = [j for j in order[:k] if scores[j] < 0]
        assert len(picked) == k
        removed.extend(rows[picked].tolist())
        alive[rows[picked]] = False
    np.testing.assert_array_equal(remover.removed_indices_, removed)
    np.testing.assert_array_equal(remover.sample_indices_, np.flatnonzero(alive))
    own = lr().fit(X[alive], y[alive])
    np.testing.assert_allclose(remover.estimator_.coef_, own.coef_, rtol=1e-6, atol=1e-9)
    # recalculation really matters here (otherwise this test would not test it)
    once = InfluentialPointRemover(lr(), fraction=fraction).fit(X, y, sensitive_features=sf)
    assert once.removed_indices_.tolist() != removed


def test_validation_fraction_holds_out_rows():
    X, y, sf = balanced()
    n = len(y)
    # the validation equal accuracy is already 0 here: with stop_at_predicted_minimum (the
    # default) nothing would be removed; this test is about the fixed budget
    remover = InfluentialPointRemover(
        lr(), fraction=0.05, validation_fraction=0.25, random_state=0,
        stop_at_predicted_minimum=False,
    ).fit(X, y, sensitive_features=sf)  # fmt: skip
    held = np.flatnonzero(np.isnan(remover.scores_))
    scored = np.flatnonzero(~np.isnan(remover.scores_))
    assert len(held) == int(np.ceil(0.25 * n))
    # stratified by y
    assert abs(np.mean(y[held]) - np.mean(y)) < 0.02
    # sample_indices_ excludes held-out rows, and is exactly the scored rows minus the removed
    assert np.intersect1d(remover.sample_indices_, held).size == 0
    assert set(remover.removed_indices_) <= set(scored)
    np.testing.assert_array_equal(
        remover.sample_indices_, np.setdiff1d(scored, remover.removed_indices_)
    )
    assert len(remover.removed_indices_) == int(np.floor(0.05 * len(scored)))
    # the scores are f on the held-out rows, for the model fitted on the scored rows
    model = lr().fit(X[scored], y[scored])
    expected = training_point_importance(
        model,
        X[scored],
        y[scored],
        objective="equal_accuracy",
        sensitive_features=sf[scored],
        X_eval=X[held],
        y_eval=y[held],
        sensitive_features_eval=sf[held],
    ).scores
    np.testing.assert_allclose(remover.scores_[scored], expected, rtol=1e-5, atol=1e-10)
    own = lr().fit(X[remover.sample_indices_], y[remover.sample_indices_])
    np.testing.assert_allclose(remover.estimator_.coef_, own.coef_, rtol=1e-6, atol=1e-9)
    # seeded
    again = InfluentialPointRemover(
        lr(), fraction=0.05, validation_fraction=0.25, random_state=0
    ).fit(X, y, sensitive_features=sf)
    np.testing.assert_array_equal(np.isnan(again.scores_), np.isnan(remover.scores_))


def test_diversity_sum_redundancy_removes_harmful_within_budget():
    X, y, sf = synthetic()
    fraction = 0.05
    remover = InfluentialPointRemover(
        lr(), fraction=fraction, diversity="sum_redundancy", random_state=0
    ).fit(X, y, sensitive_features=sf)
    removed = remover.removed_indices_
    budget = int(np.floor(fraction * len(y)))
    assert 0 < len(removed) <= budget
    assert len(set(removed.tolist())) == len(removed)
    assert np.all(remover.scores_[removed] < 0)
    rows = np.setdiff1d(np.arange(len(y)), removed)
    np.testing.assert_array_equal(remover.sample_indices_, rows)
    own = lr().fit(X[rows], y[rows])
    np.testing.assert_allclose(remover.estimator_.coef_, own.coef_, rtol=1e-6, atol=1e-9)


def test_fairness_objective_without_sensitive_features_is_an_error():
    """It used to remove nothing silently (and pass sklearn's checks as a no-op)."""
    X, y, _ = synthetic()
    with pytest.raises(ValueError, match="equal_accuracy.*no sensitive_features"):
        InfluentialPointRemover(lr(), fraction=0.1).fit(X, y)


def test_recalculation_that_empties_a_group_stops_instead_of_crashing():
    """Found while writing these tests: with recalculation the remover can itself remove the
    last positive of a group; the next scoring round then fails deep inside the objective
    ("group(s) ... have no samples with y=pos in the evaluation data") although the user's
    data had positives in every group. Expected: removal stops (the objective cannot be
    evaluated any more) and the estimator is refitted on what was kept.

    Toy square with groups {0, 4, 5} and {1, 2, 3}: round 1 removes 2, round 2 removes 3
    (group B's last positive), round 3 cannot score.
    """
    groups = np.array(["A", "B", "B", "B", "A", "A"])
    fixed = {"stop_at_predicted_minimum": False, "keep_original_if_worse": False}
    once = InfluentialPointRemover(toy_lr(), fraction=0.5, **fixed).fit(
        TOY_X, TOY_Y, sensitive_features=groups
    )
    assert len(once.removed_indices_) == 3  # without recalculation: fine
    remover = InfluentialPointRemover(toy_lr(), fraction=0.5, recalculate=1, **fixed).fit(
        TOY_X, TOY_Y, sensitive_features=groups
    )
    np.testing.assert_array_equal(remover.removed_indices_[:2], [2, 3])
    assert len(remover.removed_indices_) <= 3
    keep = np.setdiff1d(np.arange(6), remover.removed_indices_)
    np.testing.assert_array_equal(remover.sample_indices_, keep)


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, 0.0, 1.0])
def test_bad_fraction(fraction):
    X, y, sf = synthetic()
    with pytest.raises(ValueError, match="fraction"):
        InfluentialPointRemover(lr(), fraction=fraction).fit(X, y, sensitive_features=sf)


def test_bad_objective_and_mode():
    X, y, sf = synthetic()
    with pytest.raises(ValueError, match="objective.*no_such_metric|no_such_metric.*objective"):
        InfluentialPointRemover(lr(), objective="no_such_metric").fit(X, y, sensitive_features=sf)
    with pytest.raises(ValueError, match="mode.*'shrink'"):
        InfluentialPointRemover(lr(), mode="shrink").fit(X, y, sensitive_features=sf)


def test_sensitive_features_length_mismatch():
    X, y, sf = synthetic()
    with pytest.raises(ValueError, match="sensitive_features"):
        InfluentialPointRemover(lr()).fit(X, y, sensitive_features=sf[:-3])


# ---------------------------------------------------------------------------------------------
# removal_curve


@functools.cache
def _curve(random_state=0, strategies=("influence", "divine", "diversity_only", "random")):
    X, y, sf = synthetic()
    return removal_curve(
        lr(),
        X,
        y,
        sensitive_features=sf,
        strategies=strategies,
        step=0.1,  # 0.1 * 410 = 41 points per step (no rounding tie)
        max_fraction=0.3,
        random_state=random_state,
    )


def test_removal_curve_shapes_and_baseline():
    X, y, sf = synthetic()
    n = len(y)
    curve = _curve()
    np.testing.assert_allclose(curve.fractions, [0.1, 0.2, 0.3])
    assert set(curve.accuracy) == set(curve.unfairness) == set(curve.orders)
    assert set(curve.orders) == {"influence", "divine", "diversity_only", "random"}
    for s in curve.orders:
        assert curve.accuracy[s].shape == (3,)
        assert curve.unfairness[s].shape == (3,)
        assert np.all((curve.accuracy[s] >= 0) & (curve.accuracy[s] <= 1))
        assert np.all((curve.unfairness[s] >= 0) & (curve.unfairness[s] <= 2))
        order = curve.orders[s]
        assert len(order) >= round(0.3 * n)
        assert len(np.unique(order)) == len(order)
    assert curve.scores.shape == (n,)

    full = lr().fit(X, y)
    pred = full.predict(X)
    assert curve.baseline_accuracy == pytest.approx(np.mean(pred == y), abs=1e-12)
    assert curve.baseline_unfairness == pytest.approx(equal_accuracy(y, pred, sf), abs=1e-12)
    scores = training_point_importance(
        full, X, y, objective="equal_accuracy", sensitive_features=sf
    ).scores
    np.testing.assert_allclose(curve.scores, scores, rtol=1e-5, atol=1e-10)
    assert curve.harmful_fraction == pytest.approx(np.mean(scores < 0))


def test_removal_curve_influence_first_step_matches_own_refit():
    X, y, sf = synthetic()
    n = len(y)
    curve = _curve()
    full = lr().fit(X, y)
    scores = training_point_importance(
        full, X, y, objective="equal_accuracy", sensitive_features=sf
    ).scores
    for j, frac in enumerate(curve.fractions):
        k = round(frac * n)
        drop = np.argsort(scores, kind="stable")[:k]
        np.testing.assert_array_equal(np.sort(curve.orders["influence"][:k]), np.sort(drop))
        keep = np.setdiff1d(np.arange(n), drop)
        m = lr().fit(X[keep], y[keep])
        pred = m.predict(X)  # measured on the full training data, as the paper's Figure 7
        assert curve.accuracy["influence"][j] == pytest.approx(np.mean(pred == y), abs=1e-12)
        assert curve.unfairness["influence"][j] == pytest.approx(
            equal_accuracy(y, pred, sf), abs=1e-12
        )
    # removing the most harmful tenth lowers the training unfairness
    assert curve.unfairness["influence"][0] < curve.baseline_unfairness


def test_removal_curve_random_is_seeded():
    X, y, sf = synthetic()

    def random_curve(seed):
        return removal_curve(
            lr(),
            X,
            y,
            sensitive_features=sf,
            strategies=("random",),
            step=0.1,
            max_fraction=0.3,
            random_state=seed,
        )

    c, d, e = random_curve(0), random_curve(1), random_curve(0)
    assert set(c.orders) == {"random"}
    np.testing.assert_array_equal(c.orders["random"], e.orders["random"])
    np.testing.assert_array_equal(c.unfairness["random"], e.unfairness["random"])
    np.testing.assert_array_equal(c.accuracy["random"], e.accuracy["random"])
    assert not np.array_equal(c.orders["random"], d.orders["random"])
    # the random baseline does not depend on which other strategies were drawn
    np.testing.assert_array_equal(_curve(random_state=0).orders["random"], c.orders["random"])
    # random removal by its own refit
    n = len(y)
    k = round(0.1 * n)
    keep = np.setdiff1d(np.arange(n), c.orders["random"][:k])
    pred = lr().fit(X[keep], y[keep]).predict(X)
    assert c.accuracy["random"][0] == pytest.approx(np.mean(pred == y), abs=1e-12)
    assert c.unfairness["random"][0] == pytest.approx(equal_accuracy(y, pred, sf), abs=1e-12)


def test_removal_curve_bad_input():
    X, y, sf = synthetic()
    with pytest.raises(ValueError, match="strateg"):
        removal_curve(lr(), X, y, sensitive_features=sf, strategies=("nope",))
    with pytest.raises(ValueError, match="step"):
        removal_curve(lr(), X, y, sensitive_features=sf, step=1.5)


def test_plot_removal_curve_agg():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fairlearn_divine.plotting import plot_removal_curve

    curve = _curve()
    axes = plot_removal_curve(curve, title="synthetic")
    try:
        assert len(axes) == 2
        # one line per strategy plus the baseline
        for ax, key in zip(axes, ("accuracy", "unfairness"), strict=True):
            lines = ax.get_lines()
            assert len(lines) >= len(curve.orders) + 1
            ys = {tuple(np.round(line.get_ydata(), 12)) for line in lines}
            for s in curve.orders:
                assert tuple(np.round(curve[key][s], 12)) in ys
        assert axes[0].get_title() == "synthetic"
        axes[0].figure.canvas.draw()
    finally:
        plt.close("all")


# ---------------------------------------------------------------------------------------------
# routing: an inner estimator that explicitly does NOT request sample_weight


@pytest.mark.parametrize("mode", ["remove", "downweight"])
def test_sample_weight_not_requested_by_inner_estimator(mode):
    """``sample_weight_`` is documented as "Weights estimator_ was fitted with". When the inner
    estimator opted out (``set_fit_request(sample_weight=False)``) it must neither receive the
    user's weights nor must ``sample_weight_`` claim it did: the model is fitted (and scored)
    without them, so s_i = 1 in the down-weighting rule."""
    X, y, sf = synthetic()
    w = weights_for(len(y), seed=3)
    with config_context(enable_metadata_routing=True):
        inner = lr().set_fit_request(sample_weight=False)
        remover = InfluentialPointRemover(inner, fraction=0.05, mode=mode).fit(
            X, y, sensitive_features=sf, sample_weight=w
        )
    rows = remover.sample_indices_
    removed = remover.removed_indices_
    assert len(removed) > 0
    # scoring used the unweighted model (inner fit without weights)
    model = lr().fit(X, y)
    scores = training_point_importance(
        model, X, y, objective="equal_accuracy", sensitive_features=sf
    ).scores
    np.testing.assert_allclose(remover.scores_, scores, rtol=1e-5, atol=1e-10)
    expected = np.ones(len(y))
    if mode == "downweight":
        harm = -scores[removed]
        expected[removed] = 1 - harm / harm.max()
    expected = expected[rows]
    own = lr().fit(X[rows], y[rows], sample_weight=expected)
    np.testing.assert_allclose(remover.estimator_.coef_, own.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(remover.sample_weight_, expected, rtol=1e-12)


def test_removal_curve_scores_on_eval_and_measures_elsewhere():
    """Appendix D.5.1: score on a validation split, measure the refits on a test split."""
    X, y, sf = synthetic()
    Xv, yv, sv = X[::3], y[::3], sf[::3]
    Xt, yt, st = X[1::3], y[1::3], sf[1::3]
    curve = removal_curve(
        lr(),
        X,
        y,
        sensitive_features=sf,
        strategies=("influence",),
        step=0.1,
        max_fraction=0.2,
        X_eval=Xv,
        y_eval=yv,
        sensitive_features_eval=sv,
        X_measure=Xt,
        y_measure=yt,
        sensitive_features_measure=st,
    )
    full = lr().fit(X, y)
    scores = training_point_importance(
        full,
        X,
        y,
        objective="equal_accuracy",
        sensitive_features=sf,
        X_eval=Xv,
        y_eval=yv,
        sensitive_features_eval=sv,
    ).scores
    pred0 = full.predict(Xt)
    assert curve.baseline_accuracy == pytest.approx(np.mean(pred0 == yt), abs=1e-12)
    assert curve.baseline_unfairness == pytest.approx(equal_accuracy(yt, pred0, st), abs=1e-12)
    k = round(0.1 * len(y))
    drop = np.argsort(scores, kind="stable")[:k]
    keep = np.setdiff1d(np.arange(len(y)), drop)
    pred = lr().fit(X[keep], y[keep]).predict(Xt)
    assert curve.accuracy["influence"][0] == pytest.approx(np.mean(pred == yt), abs=1e-12)
    assert curve.unfairness["influence"][0] == pytest.approx(
        equal_accuracy(yt, pred, st), abs=1e-12
    )


# ---------------------------------------------------------------------------------------------
# never worse than the unmitigated model


def test_keeps_the_original_when_the_refit_is_worse():
    """Removing the points harmful for the training log loss can raise the training log loss
    measured on all rows (the removed ones are fitted worse): the remover then keeps the
    unmitigated model, warns, and reports both values (checked with own fits)."""
    from sklearn.datasets import make_classification
    from sklearn.metrics import log_loss

    X, y = make_classification(200, 5, random_state=1)
    remover = InfluentialPointRemover(lr(), objective="log_loss", fraction=0.1)
    with pytest.warns(UserWarning, match="keeping the unmitigated model"):
        remover.fit(X, y)
    own = lr().fit(X, y)
    assert remover.kept_original_ and remover.validated_on_ == "training data"
    assert len(remover.removed_indices_) == 0 and len(remover.sample_indices_) == len(y)
    np.testing.assert_allclose(remover.predict_proba(X), own.predict_proba(X), rtol=1e-9)
    assert remover.original_validation_value_ == pytest.approx(
        log_loss(y, own.predict_proba(X)), rel=1e-6
    )
    # the refit it rejected: without the points it had selected, measured the same way
    off = InfluentialPointRemover(
        lr(), objective="log_loss", fraction=0.1, keep_original_if_worse=False
    ).fit(X, y)
    refit = lr().fit(np.delete(X, off.removed_indices_, 0), np.delete(y, off.removed_indices_))
    worse = log_loss(y, refit.predict_proba(X))
    assert remover.validation_value_ == pytest.approx(worse, rel=1e-6)
    assert worse > remover.original_validation_value_


def test_validation_set_and_fraction_are_exclusive():
    X, y, sf = synthetic()
    remover = InfluentialPointRemover(lr(), validation_fraction=0.2)
    with pytest.raises(ValueError, match="X_val .* or validation_fraction"):
        remover.fit(X, y, sensitive_features=sf, X_val=X[:50], y_val=y[:50])
    with pytest.raises(ValueError, match="X_val and y_val"):
        InfluentialPointRemover(lr()).fit(X, y, sensitive_features=sf, X_val=X[:50])


def test_stops_where_the_predicted_gap_is_smallest():
    """The signed gaps behind the metric are predicted (first order) after each prefix of the
    removal order; removal stops at the predicted minimum instead of crossing zero. Where the
    validation gap is already 0 nothing is removed."""
    X, y, sf = balanced()
    remover = InfluentialPointRemover(
        lr(), fraction=0.05, validation_fraction=0.25, random_state=0
    ).fit(X, y, sensitive_features=sf)
    assert len(remover.removed_indices_) == 0
    assert remover.stopped_early_ and "widen the gap" in remover.stop_reason_
    assert remover.predicted_path_[0] > 0  # a removal could only open a gap
    # (where a gap crosses zero: tests/test_mitigation_bank.py, on the real Bank data)


def test_removal_curve_rows_by_label():
    """The curve's orders are positions; to_frame() gives each row's score and removal rank
    per strategy, indexed like X (a shuffled DataFrame index round-trips)."""
    import pandas as pd

    X, y, sf = synthetic()
    Xf = pd.DataFrame(X, index=np.random.default_rng(0).permutation(len(y)) + 1000)
    curve = removal_curve(
        lr(), Xf, y, sensitive_features=sf, strategies=("influence",), step=0.1, max_fraction=0.2
    )
    frame = curve.to_frame()
    assert frame.index.equals(Xf.index)
    np.testing.assert_allclose(frame["score"].to_numpy(), curve.scores)
    first = int(curve.orders["influence"][0])
    assert frame.loc[Xf.index[first], "influence_rank"] == 0
    assert frame["influence_rank"].notna().sum() == len(curve.orders["influence"])


def test_fraction_auto_chooses_the_amount_on_validation():
    """fraction='auto': prefixes of one removal order are refitted and measured on the
    validation data; the kept amount has the best hard metric among those within
    max_accuracy_loss (nothing removed is a candidate), checked with own refits."""
    X, y, sf = synthetic()
    Xv, yv, sfv = X[::3], y[::3], sf[::3]
    remover = InfluentialPointRemover(
        lr(), fraction="auto", keep_original_if_worse=False, stop_at_predicted_minimum=False
    )
    remover.fit(X, y, sensitive_features=sf, X_val=Xv, y_val=yv, sensitive_features_val=sfv)
    path = remover.auto_path_
    assert path[0]["n_removed"] == 0 and len(path) >= 2
    acc0 = path[0]["accuracy"]
    allowed = [p for p in path if p["accuracy"] >= acc0 - 0.01]
    best = min(allowed, key=lambda p: (p["value"], p["n_removed"]))
    assert len(remover.removed_indices_) == best["n_removed"]
    assert remover.fraction_ == pytest.approx(best["n_removed"] / len(y))
    own = lr().fit(
        np.delete(X, remover.removed_indices_, 0), np.delete(y, remover.removed_indices_)
    )
    np.testing.assert_allclose(remover.predict_proba(Xv), own.predict_proba(Xv), rtol=1e-7)
    with pytest.raises(ValueError, match="validation data"):
        InfluentialPointRemover(lr(), fraction="auto").fit(X, y, sensitive_features=sf)
    with pytest.raises(ValueError, match="recalculate"):
        InfluentialPointRemover(lr(), fraction="auto", recalculate=2).fit(
            X, y, sensitive_features=sf, X_val=Xv, y_val=yv, sensitive_features_val=sfv
        )
