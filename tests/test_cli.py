import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, true_negative_rate, true_positive_rate
from sklearn.linear_model import LogisticRegression

from fairlearn_divine import __version__
from fairlearn_divine._cli import main
from fairlearn_divine.datasets import make_divine_synthetic

N = 400  # --n-samples for fast runs: make_divine_synthetic(400, 10)


def _csv(tmp_path, n=240, name="data.csv", seed=0, **overrides):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "income": rng.normal(50, 10, n),
            "age": rng.integers(18, 80, n),
            "city": rng.choice(["north", "south", "east"], n),
            "sex": rng.choice(["f", "m"], n),
            "region": rng.choice(["a", "b"], n),
        }
    )
    logit = (df["income"] - 50) / 10 + 0.8 * (df["sex"] == "m") + rng.normal(0, 1, n)
    df["approved"] = np.where(logit > 0, "yes", "no")
    for col, values in overrides.items():
        df[col] = values
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def _run(capsys, args):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "audit" in capsys.readouterr().out


def test_python_dash_m():
    out = subprocess.run(
        [sys.executable, "-m", "fairlearn_divine", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert __version__ in out


def test_audit_synthetic_report_json_and_progress(capsys, tmp_path):
    html_path, json_path = tmp_path / "report.html", tmp_path / "results.json"
    code, out, err = _run(
        capsys,
        ["audit", "--n-samples", str(N), "--output", str(html_path), "--json", str(json_path)],
    )
    assert code == 0
    assert f"Report written to {html_path}" in out
    assert f"JSON written to {json_path}" in out
    # progress on stderr, numbered steps
    lines = err.strip().splitlines()
    assert lines[0].startswith("[1/6] loading the synthetic data set")
    assert lines[-1].startswith("[6/6] writing the report")
    assert "[3/6] scoring" in err and "[5/6] computing the removal curve" in err

    page = html_path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    for section in ("findings", "model", "harmful", "divine", "tradeoff", "map", "removal"):
        assert f'<section id="{section}">' in page
    assert page.count('<img src="data:image/png;base64,') == 3

    report = json.loads(json_path.read_text())
    data = make_divine_synthetic(n_samples=N, n_outliers=N // 40, random_state=0)
    model = LogisticRegression(tol=1e-8, max_iter=2000).fit(data.X, data.y)
    assert report["n_samples"] == len(data.y)
    assert report["metrics"]["accuracy"] == pytest.approx(model.score(data.X, data.y))
    mf = MetricFrame(
        metrics={"tpr": true_positive_rate, "tnr": true_negative_rate},
        y_true=data.y,
        y_pred=model.predict(data.X),
        sensitive_features=data.sensitive_features,
    )
    assert report["metrics"]["equal_accuracy"] == pytest.approx(mf.difference().sum())
    assert report["sign_convention"].endswith("negative = harmful")
    top = report["most_harmful"]["equal_accuracy"]
    assert len(top) == 10
    scores = [p["scores"]["equal_accuracy"] for p in top]
    assert scores == sorted(scores) and scores[0] < 0
    first = top[0]
    np.testing.assert_allclose(list(first["features"].values()), data.X[first["index"]])
    assert first["label"] == data.y[first["index"]]
    assert str(first["group"]) == str(data.sensitive_features[first["index"]])
    assert len(report["divine"]["points"]) == 5
    assert report["scores"]["equal_accuracy"]["n"] == len(data.y)
    curve = report["removal"]["curve"]
    assert curve["fractions"] == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
    assert set(curve["accuracy"]) == {"influence", "divine", "random"}


def test_default_output_in_current_directory_and_quiet(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, ["audit", "--n-samples", str(N), "--quiet", "--top", "3"])
    assert code == 0
    assert err == ""
    path = tmp_path / "fairlearn-divine-report.html"
    assert path.is_file()
    assert str(path) in out


def test_csv_two_sensitive_columns_json_to_stdout(capsys, tmp_path):
    path = _csv(tmp_path)
    code, out, err = _run(
        capsys,
        [
            "audit",
            "--data",
            str(path),
            "--target",
            "approved",
            "--sensitive",
            "sex",
            "--sensitive",
            "region",
            "--objective",
            "equal_opportunity",
            "--n-points",
            "3",
            "--max-fraction",
            "0.1",
            "--output",
            str(tmp_path / "r.html"),
            "--json",
            "-",
            "--quiet",
        ],
    )
    assert code == 0 and err == ""
    report = json.loads(out)
    assert report["objective"] == "equal_opportunity"
    assert report["positive_label"] == "yes"
    groups = {row["group"] for row in report["metrics"]["by_group"]}
    assert groups == {"f, a", "f, b", "m, a", "m, b"}
    assert sum(row["count"] for row in report["metrics"]["by_group"]) == 240
    assert len(report["divine"]["points"]) == 3
    assert report["most_harmful"]["equal_opportunity"][0]["label"] in ("yes", "no")
    assert set(report["most_harmful"]["equal_opportunity"][0]["features"]) == {
        "income",
        "age",
        "city",
        "sex",
        "region",
    }
    assert report["removal"]["curve"]["fractions"] == pytest.approx([0.05, 0.1])
    assert "Pipeline" in report["info"]["model"]
    assert "all_scores" not in report


def test_json_all_scores(capsys, tmp_path):
    """--all-scores puts every training point's scores in the JSON, by row, and they agree
    with the most-harmful table."""
    path = _csv(tmp_path)
    args = ["audit", "--data", str(path), "--target", "approved", "--sensitive", "sex"]
    args += ["--max-fraction", "0.05", "--output", str(tmp_path / "r.html")]
    code, out, err = _run(capsys, [*args, "--json", "-", "--all-scores", "--quiet"])
    assert code == 0 and err == ""
    report = json.loads(out)
    scores = report["all_scores"]
    assert scores["rows"] == list(range(240))
    assert len(scores["log_loss"]) == len(scores["equal_accuracy"]) == 240
    worst = report["most_harmful"]["equal_accuracy"][0]
    assert scores["equal_accuracy"][worst["row"]] == pytest.approx(
        worst["scores"]["equal_accuracy"]
    )
    assert min(scores["equal_accuracy"]) == pytest.approx(worst["scores"]["equal_accuracy"])


def test_csv_drop_sensitive_positive_label_and_missing_values(capsys, tmp_path):
    income = np.random.default_rng(1).normal(50, 10, 240)
    income[:4] = np.nan
    path = _csv(tmp_path, income=income)
    code, out, _ = _run(
        capsys,
        [
            "audit",
            "--data",
            str(path),
            "--target",
            "approved",
            "--sensitive",
            "sex",
            "--drop-sensitive",
            "--positive-label",
            "no",
            "--max-fraction",
            "0.05",
            "--output",
            str(tmp_path / "r.html"),
            "--json",
            "-",
            "--quiet",
        ],
    )
    assert code == 0
    report = json.loads(out)
    assert report["positive_label"] == "no"
    assert report["n_samples"] == 236
    assert "sex" not in report["most_harmful"]["equal_accuracy"][0]["features"]
    assert any("4 of 240 rows dropped" in note for note in report["notes"])


def _assert_one_line_error(code, out, err, *needles):
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    # progress lines ("[k/6] ...") may come first; then exactly one error line, the last
    assert all(line.startswith("[") for line in lines[:-1]), err
    assert lines[-1].startswith("fairlearn-divine: error: "), err
    for needle in needles:
        assert needle in lines[-1]


def test_malformed_and_missing_files(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('a,b,c\n1,2,3\n4,"5,6\n7,8,9,10,11\n')
    code, out, err = _run(
        capsys, ["audit", "--data", str(bad), "--target", "a", "--sensitive", "b", "--quiet"]
    )
    _assert_one_line_error(code, out, err, "bad.csv")

    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage\x00\x9f\n\xc3\x28")
    code, out, err = _run(
        capsys, ["audit", "--data", str(binary), "--target", "a", "--sensitive", "b"]
    )
    _assert_one_line_error(code, out, err, "binary.csv")

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, out, err = _run(
        capsys, ["audit", "--data", str(empty), "--target", "a", "--sensitive", "b"]
    )
    _assert_one_line_error(code, out, err, "empty")

    code, out, err = _run(
        capsys,
        ["audit", "--data", str(tmp_path / "nope.csv"), "--target", "a", "--sensitive", "b"],
    )
    _assert_one_line_error(code, out, err, "nope.csv", "no such file")


@pytest.mark.parametrize(
    "args, overrides, needles",
    [
        (["--target", "approve", "--sensitive", "sex"], {}, ["'approve'", "income"]),
        (["--target", "approved", "--sensitive", "gender"], {}, ["'gender'"]),
        (["--target", "approved", "--sensitive", "approved"], {}, ["both the target"]),
        (["--target", "city", "--sensitive", "sex"], {}, ["3 classes", "binary"]),
        (["--target", "approved", "--sensitive", "sex"], {"approved": "yes"}, ["single class"]),
        (
            ["--target", "approved", "--sensitive", "sex"],
            {"sex": ["x"] + ["f"] * 119 + ["m"] * 120},
            ["sex='x'", "1 row"],
        ),
        (
            ["--target", "approved", "--sensitive", "sex"],
            {"sex": ["f", "f"] + ["m"] * 238, "approved": ["no", "no"] + ["yes", "no"] * 119},
            ["sex='f'", "only target 'no'"],
        ),
        (["--sensitive", "sex"], {}, ["--target"]),
    ],
    ids=[
        "missing-target",
        "missing-sensitive",
        "target-is-sensitive",
        "three-classes",
        "one-class",
        "group-of-one",
        "group-without-positives",
        "no-target",
    ],
)
def test_bad_data_is_a_one_line_error(capsys, tmp_path, monkeypatch, args, overrides, needles):
    monkeypatch.chdir(tmp_path)
    path = _csv(tmp_path, **overrides)
    code, out, err = _run(capsys, ["audit", "--data", str(path), *args])
    _assert_one_line_error(code, out, err, *needles)
    assert not (tmp_path / "fairlearn-divine-report.html").exists()


def test_inconsistent_arguments(capsys, tmp_path):
    code, out, err = _run(capsys, ["audit", "--target", "y"])
    _assert_one_line_error(code, out, err, "--data")
    code, out, err = _run(
        capsys,
        ["audit", "--data", "x.csv", "--target", "y", "--sensitive", "a", "--dataset", "compas"],
    )
    _assert_one_line_error(code, out, err, "either --data or --dataset")


def test_missing_data_home(capsys, tmp_path):
    code, out, err = _run(
        capsys, ["audit", "--dataset", "compas", "--data-home", str(tmp_path / "nope"), "--quiet"]
    )
    _assert_one_line_error(code, out, err, "nope")


def test_unwritable_output(capsys, tmp_path):
    code, out, err = _run(
        capsys,
        ["audit", "--n-samples", str(N), "--quiet", "--output", str(tmp_path / "no" / "r.html")],
    )
    _assert_one_line_error(code, out, err, "cannot write")


def test_bad_arguments(capsys):
    with pytest.raises(SystemExit) as info:
        main(["audit", "--top", "0"])
    assert info.value.code == 2
    assert "--top" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["audit", "--dataset", "mnist"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["audit", "--max-fraction", "1.5"])
    assert info.value.code == 2
    # below the curve's step it is an error (it used to be raised to 0.05 without a word)
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["audit", "--max-fraction", "0.01"])
    assert info.value.code == 2
    assert "--max-fraction" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# --model-file (skops)


class _CustomLogisticRegression(LogisticRegression):
    """A class skops does not trust by default."""


def _fitted_pipeline(path):
    from fairlearn_divine._cli import _make_model

    df = pd.read_csv(path)
    X = df.drop(columns="approved")
    model, _ = _make_model(X, plain=False)
    return model.fit(X, (df["approved"] == "yes").astype(int)), X


def test_model_file_loaded_with_skops(capsys, tmp_path):
    sio = pytest.importorskip("skops.io")
    path = _csv(tmp_path)
    model, X = _fitted_pipeline(path)
    model_path = tmp_path / "model.skops"
    sio.dump(model, model_path)
    code, out, err = _run(
        capsys,
        [
            "audit",
            "--data",
            str(path),
            "--target",
            "approved",
            "--sensitive",
            "sex",
            "--model-file",
            str(model_path),
            "--max-fraction",
            "0.05",
            "--output",
            str(tmp_path / "r.html"),
            "--json",
            "-",
            "--quiet",
        ],
    )
    # the CSV target is yes/no but the model was fitted on 0/1
    _assert_one_line_error(code, out, err, "not classes of the model")

    y01 = pd.read_csv(path)["approved"].map({"yes": 1, "no": 0})
    pd.read_csv(path).assign(approved=y01).to_csv(path, index=False)
    code, out, err = _run(
        capsys,
        [
            "audit",
            "--data",
            str(path),
            "--target",
            "approved",
            "--sensitive",
            "sex",
            "--model-file",
            str(model_path),
            "--max-fraction",
            "0.05",
            "--output",
            str(tmp_path / "r.html"),
            "--json",
            "-",
            "--quiet",
        ],
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["metrics"]["accuracy"] == pytest.approx(model.score(X, y01))
    assert "loaded from model.skops" in report["info"]["model"]


def test_model_file_untrusted_types_need_trust(capsys, tmp_path):
    sio = pytest.importorskip("skops.io")
    path = _csv(tmp_path)
    df = pd.read_csv(path)
    X, y = df[["income", "age"]], (df["approved"] == "yes").astype(int)
    df[["income", "age", "sex"]].assign(approved=y).to_csv(path, index=False)
    model = _CustomLogisticRegression(tol=1e-8, max_iter=2000).fit(X, y)
    model_path = tmp_path / "custom.skops"
    sio.dump(model, model_path)
    base = ["audit", "--data", str(path), "--target", "approved", "--sensitive", "sex"]
    base += ["--model-file", str(model_path), "--max-fraction", "0.05"]
    base += ["--output", str(tmp_path / "r.html")]
    code, out, err = _run(capsys, base)
    _assert_one_line_error(code, out, err, "_CustomLogisticRegression", "--trust")
    assert not (tmp_path / "r.html").exists()

    code, out, err = _run(capsys, [*base, "--trust"])
    assert code == 0, err
    assert "_CustomLogisticRegression" in err.splitlines()[2]  # listed before loading
    assert (tmp_path / "r.html").is_file()


def test_model_file_bad_file(capsys, tmp_path):
    pytest.importorskip("skops.io")
    path = _csv(tmp_path)
    junk = tmp_path / "junk.skops"
    junk.write_text("not a zip file")
    base = ["audit", "--data", str(path), "--target", "approved", "--sensitive", "sex"]
    code, out, err = _run(capsys, [*base, "--model-file", str(junk), "--quiet"])
    _assert_one_line_error(code, out, err, "junk.skops")


def test_model_file_without_skops(capsys, tmp_path, monkeypatch):
    path = _csv(tmp_path)
    monkeypatch.setitem(sys.modules, "skops.io", None)  # import skops.io fails
    base = ["audit", "--data", str(path), "--target", "approved", "--sensitive", "sex"]
    code, out, err = _run(capsys, [*base, "--model-file", "model.skops", "--quiet"])
    _assert_one_line_error(code, out, err, "pip install skops")


# ---------------------------------------------------------------------------------------------
# --drop-columns and the identifier guard


def test_drop_columns_removes_an_identifier(capsys, tmp_path):
    ids = [f"c{i:04d}" for i in range(240)]
    path = _csv(tmp_path, customer=ids)
    base = ["audit", "--data", str(path), "--target", "approved", "--sensitive", "sex"]
    base += ["--max-fraction", "0.05", "--output", str(tmp_path / "r.html"), "--quiet"]
    code, out, err = _run(capsys, base)
    _assert_one_line_error(code, out, err, "'customer' (240 distinct", "--drop-columns customer")
    code, out, err = _run(capsys, [*base, "--drop-columns", "customer", "--json", "-"])
    assert code == 0, err
    features = json.loads(out)["most_harmful"]["equal_accuracy"][0]["features"]
    assert set(features) == {"income", "age", "city", "sex", "region"}


def test_identifier_guard_thresholds():
    from fairlearn_divine._cli import (
        HIGH_CARDINALITY_FRACTION,
        HIGH_CARDINALITY_LEVELS,
        AuditError,
        _check_cardinality,
    )

    assert (HIGH_CARDINALITY_LEVELS, HIGH_CARDINALITY_FRACTION) == (100, 0.5)
    n = 1000
    # 101 levels in 1000 rows: a real category (a zip code, a product): kept
    _check_cardinality(pd.DataFrame({"zip": [f"z{i % 101}" for i in range(n)]}))
    # 501 of 1000 rows distinct: an identifier
    with pytest.raises(AuditError, match=r"'name' \(501 distinct values in 1000 rows\)"):
        _check_cardinality(pd.DataFrame({"name": [f"n{i % 501}" for i in range(n)]}))
    # 100 distinct values in 120 rows: under the level threshold, kept
    _check_cardinality(pd.DataFrame({"code": [f"k{i % 100}" for i in range(120)]}))
    # a numeric identifier is one standardised column, not a blow-up
    _check_cardinality(pd.DataFrame({"id": np.arange(n)}))


def test_hist_gradient_boosting_model_is_scored_by_tree_influence(capsys, tmp_path):
    path = _csv(tmp_path)
    code, out, _ = _run(
        capsys,
        [
            "audit",
            "--data",
            str(path),
            "--target",
            "approved",
            "--sensitive",
            "sex",
            "--model",
            "hist_gradient_boosting",
            "--max-fraction",
            "0.05",
            "--output",
            str(tmp_path / "r.html"),
            "--json",
            "-",
            "--quiet",
        ],
    )
    assert code == 0
    report = json.loads(out)
    assert report["method"] == report["loss_method"] == "tree_influence"
    assert "HistGradientBoostingClassifier(early_stopping=False" in report["info"]["model"]
    assert "OrdinalEncoder on 3 categorical column(s)" in report["info"]["model"]


def test_saved_hist_gradient_boosting_model_file(capsys, tmp_path):
    """A saved boosted-trees Pipeline (skops lists its tree types as untrusted: --trust) is
    audited with tree_influence, on the model's own classes."""
    import skops.io as sio

    from fairlearn_divine._cli import _make_model

    path = _csv(tmp_path)
    df = pd.read_csv(path)
    X, y = df.drop(columns="approved"), df["approved"]
    model, _ = _make_model(X, plain=False, kind="hist_gradient_boosting")
    model.fit(X, y)
    model_path = tmp_path / "boosted.skops"
    sio.dump(model, model_path)
    args = ["audit", "--data", str(path), "--target", "approved", "--sensitive", "sex"]
    args += ["--model-file", str(model_path), "--max-fraction", "0.05"]
    args += ["--output", str(tmp_path / "r.html"), "--json", "-", "--quiet"]
    code, out, err = _run(capsys, args)
    _assert_one_line_error(code, out, err, "--trust")
    code, out, err = _run(capsys, [*args, "--trust"])
    assert code == 0, err
    report = json.loads(out)
    assert report["method"] == report["loss_method"] == "tree_influence"
    assert report["metrics"]["accuracy"] == pytest.approx(model.score(X, y))


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_also_silences_the_progress_bars(capsys, tmp_path, monkeypatch, quiet):
    """--quiet turns off the library's progress bars (progress=False), not only the step
    messages; without it the bars follow the default rule (progress=None: on a terminal)."""
    from fairlearn_divine import _report

    seen = []
    real = _report.run_audit

    def recording(*args, **kwargs):
        seen.append(kwargs.get("progress_bars", "missing"))
        return real(*args, **kwargs)

    monkeypatch.setattr(_report, "run_audit", recording)
    args = ["audit", "--n-samples", str(N), "--output", str(tmp_path / "r.html")]
    code, _, err = _run(capsys, args + (["--quiet"] if quiet else []))
    assert code == 0
    assert seen == [False if quiet else None]
    assert (err == "") is quiet


@pytest.mark.parametrize("bars", [True, False])
def test_run_audit_passes_progress_bars_on(capfd, bars):
    from fairlearn_divine._report import run_audit

    data = make_divine_synthetic(n_samples=N, n_outliers=N // 40, random_state=0)
    X = pd.DataFrame(data.X, columns=data.feature_names)
    sf = pd.Series(data.sensitive_features, name="A")
    model = LogisticRegression(tol=1e-8, max_iter=2000).fit(X, data.y)
    run_audit(model, X, data.y, sf, n_points=3, top=3, max_fraction=0.1, progress_bars=bars)
    out, err = capfd.readouterr()
    assert out == ""
    # the removal curve's refits show their bar only when asked
    assert ("removal curve refits" in err) is bars
    if not bars:
        assert err == ""
