"""The audit when a refit without the lowest-scored points would hold a single class: the
effect is reported as not measured (NaN in the audit, null in JSON, a sentence that says so),
never a crash after the work is done and never a made-up number."""

import json

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from fairlearn_divine._report import audit_to_json, readings, render_html, run_audit


def _tiny():
    rng = np.random.default_rng(0)
    n = 40
    X = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    y = (X["x1"] + 0.5 * rng.normal(size=n) > 0).astype(int).to_numpy()
    sf = pd.Series(np.where(rng.random(n) < 0.5, "a", "b"), name="group")
    return X, y, sf


def test_effect_of_a_refit_with_one_class_left_is_not_measured():
    X, y, sf = _tiny()
    model = LogisticRegression().fit(X, y)
    n = len(y)
    # removing n - 1 points leaves one row: a single class, whatever the scores are
    audit = run_audit(model, X, y, sf, n_points=n - 1, top=5, max_fraction=0.1)
    label = f"without the {n - 1} most harmful points"
    acc, unf, k = audit.effects[label]
    assert k == n - 1 and np.isnan(acc) and np.isnan(unf)
    note = f"The model retrained {label} is not measured: the training points left (1) hold"
    assert any(text.startswith(note) for text in audit.notes)
    removal = readings(audit)["removal"]
    assert any(
        f"Refitting without the {n - 1} points with the lowest scores was not possible" in s
        for s in removal
    )
    assert not any("nan" in s.lower().split() for s in removal)
    page = render_html(audit, figures=False)
    assert "single class" in page
    effects = json.loads(json.dumps(audit_to_json(audit), allow_nan=False))["removal"]["effects"]
    row = next(e for e in effects if e["model"] == label)
    assert row["accuracy"] is None and row["equal_accuracy"] is None
