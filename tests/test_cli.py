import json
import subprocess
import sys

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame, true_negative_rate, true_positive_rate
from sklearn.linear_model import LogisticRegression

from fairlearn_divine import __version__
from fairlearn_divine._cli import main
from fairlearn_divine.datasets import make_divine_synthetic


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "audit" in capsys.readouterr().out


def test_audit_text_report(capsys):
    assert main(["audit", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "equal accuracy" in out
    assert "Most harmful training points for log_loss" in out
    assert "Most harmful training points for equal_accuracy" in out
    assert "negative = harmful" in out
    # three ranked rows per objective
    rows = [line for line in out.splitlines() if line.strip().startswith(("1 ", "2 ", "3 "))]
    assert len(rows) == 6


def test_audit_json_matches_direct_computation(capsys):
    assert main(["audit", "--top", "5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    data = make_divine_synthetic(random_state=0)
    model = LogisticRegression(tol=1e-8, max_iter=1000).fit(data.X, data.y)
    assert report["accuracy"] == pytest.approx(model.score(data.X, data.y))
    mf = MetricFrame(
        metrics={"tpr": true_positive_rate, "tnr": true_negative_rate},
        y_true=data.y,
        y_pred=model.predict(data.X),
        sensitive_features=data.sensitive_features,
    )
    assert report["equal_accuracy"] == pytest.approx(mf.difference().sum())
    for name in ["log_loss", "equal_accuracy"]:
        top = report["objectives"][name]["most_harmful"]
        assert len(top) == 5
        scores = [e["score"] for e in top]
        assert scores == sorted(scores) and scores[0] < 0
        first = top[0]
        np.testing.assert_allclose(list(first["features"].values()), data.X[first["index"]])
        assert first["label"] == data.y[first["index"]]
        assert first["group"] == data.sensitive_features[first["index"]]


def test_audit_one_step_newton(capsys):
    assert main(["audit", "--method", "one_step_newton", "--top", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "one_step_newton"


def test_bad_arguments(capsys):
    with pytest.raises(SystemExit) as info:
        main(["audit", "--top", "0"])
    assert info.value.code == 2
    assert "--top" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["audit", "--dataset", "mnist"])


def test_missing_data_home_is_a_clean_error(capsys, tmp_path):
    assert main(["audit", "--dataset", "compas", "--data-home", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert "error" in err and "nope" in err


def test_python_dash_m():
    out = subprocess.run(
        [sys.executable, "-m", "fairlearn_divine", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert __version__ in out
