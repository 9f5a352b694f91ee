"""The report's sentences are true of the numbers they are given.

The reading functions get hand-made audit Bunches for each case (the refit improved, did not
change or worsened the metric; the DIVINE set equal to the top-m set or not; a removal curve that
never goes below its baseline, ...), and one end-to-end audit of the embedded synthetic data
checks every number the readings print against the audit's own numbers.
"""

import copy
import html
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils import Bunch

from fairlearn_divine._cli import main
from fairlearn_divine._report import readings, render_html, run_audit
from fairlearn_divine.datasets import make_divine_synthetic

N = 100
FALSE_BEFORE = (
    "would make the model fairer",
    "fewer near-duplicates",
    "more kinds of problem",
    "Removing the",
    "comes from which points are removed",
    "with no change in accuracy",
)


def _audit(**changes):
    """A hand-made audit: 100 points, scores -1..1 (50 negative), 4 DIVINE points."""
    fair = np.linspace(-1.0, 1.0, N)
    loss = np.where(np.arange(N) % 10 == 0, -0.1, 0.1)  # 5 of the 50 harmful ones
    selection = Bunch(
        indices=np.array([0, 1, 2, 3]),
        gamma=0.0123,
        influence_retained=1.0,
        mean_pairwise_distance=1.5,
        tradeoff=Bunch(),
    )
    curve = Bunch(
        fractions=np.array([0.05, 0.1, 0.15]),
        accuracy={"influence": np.full(3, 0.9), "random": np.full(3, 0.9)},
        unfairness={
            "influence": np.array([0.29, 0.25, 0.27]),
            "random": np.array([0.4, 0.41, 0.39]),
        },
        baseline_accuracy=0.9,
        baseline_unfairness=0.32,
        harmful_fraction=0.5,
    )
    audit = Bunch(
        objective="equal_accuracy",
        method="influence",
        score_expansion=None,
        n_samples=N,
        n_points=4,
        gamma_rule="influence_budget",
        influence_budget=0.1,
        accuracy=0.9,
        unfairness=0.32,
        by_group=[
            {"group": "a", "accuracy": 0.9, "selection rate": 0.4, "TPR": 0.7, "TNR": 0.9},
            {"group": "b", "accuracy": 0.9, "selection rate": 0.6, "TPR": 0.95, "TNR": 0.92},
        ],
        scores={"equal_accuracy": fair, "log_loss": loss},
        top_harmful=np.arange(6),
        top_m=np.arange(4),
        selection=selection,
        top_m_pairwise_distance=1.5,
        effects={
            "original model": (0.9, 0.32, 0),
            "without the 4 most harmful points": (0.9, 0.29, 4),
            "without the 4 DIVINE points": (0.9, 0.29, 4),
        },
        curve=curve,
        n_model_features=2,
        map_explained_variance=None,
    )
    for key, value in changes.items():
        target, _, name = key.rpartition("__")
        (audit[target] if target else audit)[name] = value
    return audit


def _all(read):
    return [s for sentences in read.values() for s in sentences]


def _no_false_sentence(read):
    for sentence in _all(read):
        for phrase in FALSE_BEFORE:
            assert phrase not in sentence, sentence


# --------------------------------------------------------------------------------------------
# importance scores are estimates


def test_harmful_points_are_estimates_not_refits():
    read = readings(_audit())
    first = read["harmful"][0]
    assert first.startswith(
        "50 of the 100 training points (50.0%) have a negative influence score for equal "
        "accuracy. For each such point, influence estimates that removing it alone would lower "
        "a smooth surrogate of equal accuracy (a first-order estimate, not checked by refits; "
        "the hard metric changes in steps, so removing one point may leave it unchanged)."
    )
    assert first.endswith("5 of them also have a negative score for the log loss.")
    assert read["findings"][1] == (
        "50 of the 100 training points (50.0%) have a negative influence score for equal "
        "accuracy: estimated harmful (a first-order influence estimate, not checked by refits)."
    )
    assert read["harmful"][1].startswith(
        "The table lists the 6 points with the lowest scores, lowest first."
    )
    _no_false_sentence(read)


@pytest.mark.parametrize(
    "method, expansion, needle",
    [
        ("one_step_newton", "exact", "one-step Newton approximation of the refit without it"),
        ("one_step_newton", "exact", "(an approximation of each refit, not an actual refit)"),
        ("one_step_newton", "linear", "a one-step Newton estimate says that removing it alone"),
        ("one_step_newton", "linear", "not checked by refits"),
        ("loo", None, "(measured by leave-one-out refits on the training data)"),
    ],
)
def test_harmful_sentence_names_the_method(method, expansion, needle):
    read = readings(_audit(method=method, score_expansion=expansion))
    assert needle in read["harmful"][0]
    _no_false_sentence(read)


def test_harmful_counts_one_and_none():
    fair = np.linspace(0.0, 1.0, N)
    fair[7] = -0.5
    read = readings(_audit(scores={"equal_accuracy": fair, "log_loss": np.ones(N)}))
    assert read["harmful"][0].startswith(
        "1 of the 100 training points (1.0%) has a negative influence score"
    )
    assert "None of them has a negative score for the log loss." in read["harmful"][0]
    assert "only the first of them has a negative score" in read["harmful"][1]
    read = readings(_audit(scores={"equal_accuracy": np.abs(fair), "log_loss": np.ones(N)}))
    assert read["harmful"][0] == (
        "None of the 100 training points has a negative influence score for equal accuracy."
    )
    assert "none of them has a negative score" in read["harmful"][1]


# --------------------------------------------------------------------------------------------
# removal: measured refits, in every direction


@pytest.mark.parametrize(
    "after, change",
    [
        (0.29, "lowered equal accuracy from 0.32 to 0.29"),
        (0.32, "left equal accuracy unchanged at 0.32"),
        (0.35, "raised equal accuracy from 0.32 to 0.35"),
        (0.3199, "lowered equal accuracy from 0.3200 to 0.3199"),  # never "unchanged"
        (0.3201, "raised equal accuracy from 0.3200 to 0.3201"),
    ],
)
def test_first_removal_fraction_as_measured(after, change):
    read = readings(_audit(curve__unfairness={"influence": np.array([after, 0.5, 0.5])}))
    assert read["removal"][0] == (
        f"Refitting without the 5% of the points with the lowest scores (5 points) {change} on "
        "the training data; accuracy stayed at 90.0%."
    )
    assert read["findings"][2] == read["removal"][0]
    _no_false_sentence(read)


@pytest.mark.parametrize(
    "accuracy, phrase",
    [
        (0.9, "accuracy stayed at 90.0%"),
        (0.89, "accuracy fell from 90.0% to 89.0%"),
        (0.9004, "accuracy rose from 90.00% to 90.04%"),  # a small change is still a change
        (0.9996, "accuracy rose from 90.00% to 99.96%"),  # not 100.0%
    ],
)
def test_accuracy_change_as_measured(accuracy, phrase):
    read = readings(_audit(curve__accuracy={"influence": np.array([accuracy, 0.9, 0.9])}))
    assert read["removal"][0].endswith(f"; {phrase}.")


def test_curve_never_below_baseline():
    read = readings(
        _audit(
            curve__baseline_unfairness=0.48,
            curve__unfairness={"influence": np.array([1.0, 0.9, 0.6])},
        )
    )
    assert read["removal"][0].startswith(
        "Refitting without the 5% of the points with the lowest scores (5 points) raised equal "
        "accuracy from 0.48 to 1.00 on the training data"
    )
    assert read["removal"][1] == (
        "No fraction on the curve's influence line (5% to 15%) improved on the original equal "
        "accuracy of 0.48: every refit raised it, the least to 0.60 after removing 15% "
        "(15 points)."
    )
    assert not any("The lowest" in s for s in _all(read))


def test_curve_best_equal_to_baseline():
    read = readings(
        _audit(
            curve__baseline_unfairness=0.48,
            curve__unfairness={"influence": np.array([0.5, 0.48, 0.6])},
        )
    )
    assert read["removal"][1] == (
        "No fraction on the curve's influence line (5% to 15%) lowered equal accuracy below the "
        "original 0.48: the best refits left it unchanged."
    )


def test_curve_best_below_baseline():
    read = readings(
        _audit(
            curve__baseline_unfairness=0.48,
            curve__unfairness={"influence": np.array([0.5, 0.1, 0.2])},
            curve__accuracy={"influence": np.array([0.9, 0.88, 0.87])},
        )
    )
    assert read["removal"][1] == (
        "The lowest equal accuracy on the curve's influence line, 0.10 against 0.48 for the "
        "original model, was measured after removing 10% (10 points); there, accuracy fell from "
        "90.0% to 88.0%."
    )
    # the best is the first fraction
    read = readings(_audit(curve__unfairness={"influence": np.array([0.1, 0.2, 0.3])}))
    assert read["removal"][1] == (
        "No larger fraction on the curve's influence line (up to 15%) gave a lower equal accuracy."
    )


@pytest.mark.parametrize(
    "random, comparison",
    [
        (
            0.4,
            "removing the lowest-scored points gave the lower equal accuracy (0.29 against 0.40)",
        ),
        (0.2, "this random draw gave the lower equal accuracy (0.20 against 0.29 for the points"),
        (0.29, "the same equal accuracy as removing the lowest-scored points"),
    ],
)
def test_random_comparison(random, comparison):
    unf = {"influence": np.array([0.29, 0.3, 0.3]), "random": np.array([random, 0.3, 0.3])}
    read = readings(_audit(curve__unfairness=unf))
    (sentence,) = [s for s in read["removal"] if s.startswith("For comparison")]
    assert sentence.startswith(
        "For comparison, refitting without a random 5% of the points (5 points, one seeded draw) "
    )
    assert comparison in sentence


@pytest.mark.parametrize(
    "top, divine, top_change, divine_change",
    [
        (0.29, 0.35, "lowered equal accuracy from 0.32 to 0.29", "raised equal accuracy from "),
        (0.32, 0.31, "left equal accuracy unchanged at 0.32", "lowered equal accuracy from 0.32"),
        (0.35, 0.32, "raised equal accuracy from 0.32 to 0.35", "left equal accuracy unchanged"),
    ],
)
def test_effects_as_measured(top, divine, top_change, divine_change):
    effects = {
        "original model": (0.9, 0.32, 0),
        "without the 4 most harmful points": (0.85, top, 4),
        "without the 4 DIVINE points": (0.9, divine, 4),
    }
    read = readings(_audit(effects=effects, selection__indices=np.array([0, 1, 2, 9])))
    assert (
        f"Refitting without the 4 points with the lowest scores {top_change} on the training "
        "data; accuracy fell from 90.0% to 85.0%."
    ) in read["removal"]
    (sentence,) = [s for s in read["removal"] if s.startswith("Refitting without the 4 DIVINE")]
    assert sentence.startswith(f"Refitting without the 4 DIVINE points {divine_change}")
    assert sentence.endswith("on the training data; accuracy stayed at 90.0%.")


def test_harmful_fraction_and_the_black_diamond():
    read = readings(_audit())
    assert (
        "50.0% of the points have a negative score: the curve stops at 15%, before they run "
        "out, so every point it removes by the influence ranking has a negative score."
    ) in read["removal"]
    read = readings(_audit(curve__harmful_fraction=0.09))
    assert (
        "9.0% of the points have a negative score (the black diamond on the influence line, at "
        "10%); beyond that fraction the influence ranking also removes points whose score is "
        "not negative."
    ) in read["removal"]


# --------------------------------------------------------------------------------------------
# DIVINE against the top-m set: compare the sets before claiming anything


def test_divine_identical_to_top_m():
    read = readings(_audit(selection__indices=np.array([2, 0, 3, 1])))
    assert read["divine"][1] == (
        "The 4 DIVINE points are the 4 points with the lowest scores: at this gamma, diversity "
        "did not change the selection. They carry all of the estimated harm of those points "
        "and the same mean pairwise distance (1.5)."
    )
    assert read["findings"][3] == (
        "The 4 DIVINE points are the 4 points with the lowest scores: at this gamma, diversity "
        "did not change the selection."
    )
    assert "same set as the red diamond's" in read["tradeoff"][-1]
    assert any(s.startswith("Refitting without the 4 DIVINE points (the same points) ") for s in
               read["removal"])  # fmt: skip
    assert not any("spread out" in s for s in _all(read))
    _no_false_sentence(read)


@pytest.mark.parametrize(
    "distance, spread",
    [
        (3.2, "is 3.2, against 1.5 for the 4 lowest-scored points: the DIVINE points are more "
         "spread out."),
        (1.0, "is 1, against 1.5 for the 4 lowest-scored points: the DIVINE points are less "
         "spread out by this measure"),
        (1.5, "is 1.5, against 1.5 for the 4 lowest-scored points: the same spread."),
        (1.5004, "is 1.5004, against 1.5 for the 4 lowest-scored points: the DIVINE points "
         "are more spread out."),
    ],
)  # fmt: skip
def test_divine_different_from_top_m(distance, spread):
    read = readings(
        _audit(
            selection__indices=np.array([0, 1, 7, 9]),
            selection__mean_pairwise_distance=distance,
            selection__influence_retained=0.93,
        )
    )
    assert read["divine"][1] == (
        "2 of the 4 DIVINE points are not among the 4 points with the lowest scores. By the "
        "scores, the DIVINE points together carry 93% of the estimated harm (the summed scores) "
        "of the 4 lowest-scored points (an estimate, not checked by refits)."
    )
    assert read["divine"][2].startswith(
        f"Their mean pairwise distance in the model's features {spread}"
    )
    assert read["findings"][3].startswith(
        "2 of the 4 DIVINE points are not among the 4 lowest-scored points;"
    )
    assert not any("same set as the red diamond" in s for s in read["tradeoff"])
    assert not any("(the same points)" in s for s in read["removal"])
    _no_false_sentence(read)


def test_divine_share_of_harm_is_not_rounded_to_100():
    read = readings(
        _audit(selection__indices=np.array([0, 1, 2, 9]), selection__influence_retained=0.996)
    )
    assert "carry 99.6% of the estimated harm" in read["divine"][1]


def test_divine_fewer_points_than_asked():
    fair = np.linspace(0.0, 1.0, N)
    fair[:3] = -1.0
    read = readings(
        _audit(
            scores={"equal_accuracy": fair, "log_loss": np.ones(N)},
            selection__indices=np.array([0, 1, 2]),
        )
    )
    assert read["divine"][1] == (
        "Only 3 points have a negative score, fewer than the 4 asked for, so DIVINE picks all of "
        "them: there was no choice for diversity to change."
    )


def test_gamma_rules():
    read = readings(_audit())
    assert (
        "(gamma = 0.0123, the largest gamma the sweep found whose selection keeps at least 90% "
        "of the estimated harm of the 4 lowest-scored points)"
    ) in read["divine"][0]
    assert (
        "the orange one the selection this report uses (the largest gamma within the 10% "
        "influence budget)"
    ) in read["tradeoff"][0]
    read = readings(
        _audit(selection__indices=np.array([0, 1, 2, 9]), selection__influence_retained=0.7)
    )
    assert "the sweep's smallest gamma: no selection of the sweep keeps 90%" in read["divine"][0]
    assert "no gamma of the sweep is within the budget" in read["tradeoff"][0]
    read = readings(_audit(gamma_rule="pairwise_distance"))
    assert "the gold one the selection this report uses" in read["tradeoff"][0]
    # a user gamma: no sweep, the selection has no "tradeoff"
    audit = _audit(gamma_rule=0.5, selection__gamma=0.5)
    del audit.selection["tradeoff"]
    read = readings(audit)
    assert read["tradeoff"] == [
        "gamma was set by the user (0.5), so no gamma sweep ran and there is no trade-off curve."
    ]
    assert "(gamma = 0.5, set by the user)" in read["divine"][0]


# --------------------------------------------------------------------------------------------
# model and map


def test_model_sentences():
    read = readings(_audit(accuracy=0.99996))
    assert read["model"][0].startswith(
        "The model classifies 99.996% of the training points correctly. Its equal accuracy is "
        "0.32 (|TPR gap| + |TNR gap|"
    )
    assert read["model"][1] == (
        "Of the true positive rate and the true negative rate, the largest gap between the "
        "groups is in the true positive rate: 0.70 for group a against 0.95 for group b."
    )
    rows = [{**r, "TPR": 0.8, "TNR": 0.9} for r in _audit().by_group]
    read = readings(_audit(by_group=rows))
    assert read["model"][1] == (
        "The groups have the same true positive rate and the true negative rate."
    )
    scores = {"demographic_parity": np.linspace(-1, 1, N), "log_loss": np.ones(N)}
    read = readings(_audit(objective="demographic_parity", unfairness=0.004, scores=scores))
    assert "Its demographic parity is 0.004 " in read["model"][0]  # not 0.00
    assert (
        read["model"][1] == "The selection rate ranges from 0.40 for group a to 0.60 for group b."
    )


def test_map_sentence():
    read = readings(_audit(selection__indices=np.array([0, 1, 7, 9])))
    assert read["map"][0] == (
        "The training data on the model's two numeric features. Red circles mark the 6 points "
        "with the lowest scores, black diamonds the 4 DIVINE points; 2 of the 4 diamonds are "
        "also circled. Points with low scores in one cluster may share one cause."
    )
    read = readings(_audit(n_model_features=5, map_explained_variance=[0.5, 0.25]))
    assert read["map"][0].startswith(
        "The training data in two dimensions: the first two principal components of the model's "
        "5 numeric features (75% of their variance)."
    )


# --------------------------------------------------------------------------------------------
# end to end: run_audit on the embedded synthetic data


@pytest.fixture(scope="module")
def audit():
    data = make_divine_synthetic(n_samples=600, n_outliers=15, random_state=0)
    X = pd.DataFrame(data.X, columns=data.feature_names)
    sf = pd.Series(data.sensitive_features, name="A")
    model = LogisticRegression(tol=1e-8, max_iter=2000).fit(X, data.y)
    return run_audit(model, X, data.y, sf, n_points=5, top=8, max_fraction=0.15)


def _close(text, value):
    """``text`` is ``value`` printed with as many decimals as ``text`` has."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(float(text) - value) <= 0.5 * 10.0**-decimals + 1e-9


def _measured(sentence, word):
    """(before, after) printed by a 'lowered / raised / left unchanged' phrase."""
    m = re.search(rf"(lowered|raised) {word} from ([\d.]+) to ([\d.]+)", sentence)
    if m:
        assert (m.group(1) == "lowered") == (float(m.group(3)) < float(m.group(2)))
        return m.group(1), m.group(2), m.group(3)
    m = re.search(rf"left {word} unchanged at ([\d.]+)", sentence)
    assert m, sentence
    return "unchanged", m.group(1), m.group(1)


def _check_change(sentence, word, before, after):
    verb, a, b = _measured(sentence, word)
    assert _close(a, before) and _close(b, after), (sentence, before, after)
    expected = (
        "unchanged" if np.isclose(before, after) else "lowered" if after < before else "raised"
    )
    assert verb == expected, (sentence, before, after)


def _check_accuracy(sentence, before, after):
    m = re.search(r"accuracy (fell|rose) from ([\d.]+)% to ([\d.]+)%", sentence)
    if m:
        assert (m.group(1) == "fell") == (after < before)
        assert _close(m.group(2), 100 * before) and _close(m.group(3), 100 * after)
    else:
        m = re.search(r"accuracy stayed at ([\d.]+)%", sentence)
        assert m and np.isclose(before, after) and _close(m.group(1), 100 * before), sentence


def test_end_to_end_every_number_is_the_audits(audit):
    read = readings(audit)
    _no_false_sentence(read)
    c = audit.curve
    n = audit.n_samples
    fair, loss = audit.scores["equal_accuracy"], audit.scores["log_loss"]
    # the three sources of the original model's numbers agree
    acc0, unf0, _ = audit.effects["original model"]
    assert np.isclose(unf0, audit.unfairness) and np.isclose(unf0, c.baseline_unfairness)
    assert np.isclose(acc0, audit.accuracy) and np.isclose(acc0, c.baseline_accuracy)

    m = re.match(
        r"The model classifies ([\d.]+)% .* Its equal accuracy is ([\d.]+) ", read["model"][0]
    )
    assert _close(m.group(1), 100 * audit.accuracy) and _close(m.group(2), audit.unfairness)

    n_harm, both = int(np.sum(fair < 0)), int(np.sum((fair < 0) & (loss < 0)))
    m = re.match(r"(\d+) of the (\d+) training points \(([\d.]+)%\)", read["harmful"][0])
    assert (int(m.group(1)), int(m.group(2))) == (n_harm, n)
    assert _close(m.group(3), 100 * n_harm / n)
    verb = "has" if both == 1 else "have"
    assert f"{both} of them also {verb} a negative score for the log loss." in read["harmful"][0]
    assert audit.method == "influence" and audit.loss_method == "one_step_newton"
    assert "not checked by refits" in read["harmful"][0]

    # the removal curve's first fraction and the effects, as measured
    k0 = int(round(c.fractions[0] * n))
    first = read["removal"][0]
    assert first.startswith(
        f"Refitting without the 5% of the points with the lowest scores ({k0} "
    )
    _check_change(first, "equal accuracy", c.baseline_unfairness, c.unfairness["influence"][0])
    _check_accuracy(first, c.baseline_accuracy, c.accuracy["influence"][0])
    effects = list(audit.effects.values())
    sentences = [
        s for s in read["removal"] if re.match(r"Refitting without the \d+ (points|DIVINE)", s)
    ]
    assert len(sentences) == 2
    for sentence, (acc, unf, _) in zip(sentences, effects[1:], strict=True):
        _check_change(sentence, "equal accuracy", unf0, unf)
        _check_accuracy(sentence, acc0, acc)

    # the best point of the curve, whichever case it is
    inf = c.unfairness["influence"]
    best = float(np.min(inf))
    text = " ".join(read["removal"])
    if np.isclose(best, c.baseline_unfairness):
        assert "the best refits left it unchanged" in text
    elif best > c.baseline_unfairness:
        assert "every refit raised it" in text
    elif int(np.argmin(inf)) > 0:
        pattern = (
            r"The lowest equal accuracy on the curve's influence line, ([\d.]+) against "
            r"([\d.]+) for the original model, was measured after removing (\d+)%"
        )
        m = re.search(pattern, text)
        assert _close(m.group(1), best) and _close(m.group(2), c.baseline_unfairness)
        assert int(m.group(3)) == round(100 * c.fractions[int(np.argmin(inf))])

    # DIVINE against the top-m set
    sel = audit.selection
    divine, top = set(np.asarray(sel.indices).tolist()), set(np.asarray(audit.top_m).tolist())
    np.testing.assert_array_equal(audit.top_m, audit.top_harmful[: audit.n_points])
    if divine == top:
        assert "diversity did not change the selection" in read["divine"][1]
    else:
        outside = len(divine - top)
        assert read["divine"][1].startswith(f"{outside} of the {len(divine)} DIVINE points ")
        m = re.search(r"carry ([\d.]+)% of the estimated harm", read["divine"][1])
        assert _close(m.group(1), 100 * sel.influence_retained)
        pattern = r"distance in the model's features is ([\d.e-]+), against ([\d.e-]+)"
        m = re.search(pattern, read["divine"][2])
        assert float(m.group(1)) == pytest.approx(sel.mean_pairwise_distance, rel=5e-3)
        assert float(m.group(2)) == pytest.approx(audit.top_m_pairwise_distance, rel=5e-3)
        more = sel.mean_pairwise_distance > audit.top_m_pairwise_distance
        assert ("more spread out" in read["divine"][2]) == more
    circled = len(divine & set(np.asarray(audit.top_harmful).tolist()))
    assert f"{circled} of the {len(divine)} diamonds" in read["map"][0]

    # every number printed anywhere is one of the audit's own numbers
    values = [audit.accuracy, audit.unfairness, n, n_harm, both, n_harm / n, k0, circled]
    values += [len(divine), len(divine - top), audit.n_points, len(audit.top_harmful), 0, 1, 2]
    values += [sel.gamma, sel.influence_retained, sel.mean_pairwise_distance]
    values += [audit.top_m_pairwise_distance, audit.influence_budget, 1 - audit.influence_budget]
    values += [c.baseline_accuracy, c.baseline_unfairness, c.harmful_fraction]
    values += list(c.fractions) + [round(f * n) for f in c.fractions]
    values += [v for s in c.accuracy for v in c.accuracy[s]]
    values += [v for s in c.unfairness for v in c.unfairness[s]]
    values += [v for e in audit.effects.values() for v in e]
    values += [r[k] for r in audit.by_group for k in ("accuracy", "selection rate", "TPR", "TNR")]
    values += [float(r["group"]) for r in audit.by_group]
    values = [float(v) for v in values if v is not None]
    for sentence in _all(read):
        for token in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e-?\d+)?", sentence):
            if "e" in token:
                ok = any(np.isclose(float(token), v, rtol=5e-3) for v in values)
            else:
                ok = any(_close(token, v) or _close(token, 100 * v) for v in values)
            assert ok, (token, sentence)


def test_end_to_end_page_and_figure_notes(audit):
    page = render_html(audit)
    for sentence in _all(readings(audit)):
        assert html.escape(sentence) in page
    assert "not a refit" in page and "Figure not drawn" not in page
    page = render_html(audit, figures=False)
    assert page.count("Figure not drawn: the report was rendered without figures.") == 3
    assert "needs matplotlib" not in page
    # a user gamma: no sweep, and the report says so (not that matplotlib is missing)
    user = copy.copy(audit)
    user.selection = copy.copy(audit.selection)
    del user.selection["tradeoff"]
    user.gamma_rule = float(user.selection.gamma)
    page = render_html(user)
    assert "Figure not drawn: gamma was set by the user, so no gamma sweep ran." in page
    assert "needs matplotlib" not in page and page.count("<img") == 2


def test_cli_prints_the_key_findings(capsys, tmp_path):
    code = main(["audit", "--n-samples", "300", "--quiet", "--output", str(tmp_path / "r.html")])
    out = capsys.readouterr().out
    assert code == 0
    lines = [line.strip() for line in out.splitlines()[1:5]]
    assert lines[0].startswith("The model classifies ")
    assert (
        "estimated harmful (a first-order influence estimate, not checked by refits)." in lines[1]
    )
    assert lines[2].startswith("Refitting without the 5% of the points with the lowest scores ")
    assert "DIVINE point" in lines[3]
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    for line in lines:
        assert html.escape(line) in page
    for phrase in FALSE_BEFORE:
        assert phrase not in out
