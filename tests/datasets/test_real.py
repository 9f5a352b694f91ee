"""Loaders of the real data sets; they need FAIRLEARN_DIVINE_DATA (CI sets it)."""

import os

import numpy as np
import pandas as pd
import pytest

from fairlearn_divine.datasets import (
    get_data_home,
    load_adult,
    load_bank_marketing,
    load_compas,
    load_law_school,
)


@pytest.fixture(scope="module")
def data_home():
    try:
        return get_data_home()
    except FileNotFoundError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"The real data sets are required in CI: {exc}")
        pytest.skip(f"real data not available: {exc}")


def _check_common(data, n, n_features):
    assert isinstance(data.X, pd.DataFrame) and data.X.shape == (n, n_features)
    assert list(data.X.index) == list(range(n))
    assert isinstance(data.y, np.ndarray) and data.y.shape == (n,)
    assert set(np.unique(data.y)) == {0, 1}
    assert isinstance(data.sensitive_features, pd.Series) and len(data.sensitive_features) == n
    assert isinstance(data.frame, pd.DataFrame) and len(data.frame) == n
    assert data.feature_names == list(data.X.columns)
    assert isinstance(data.DESCR, str) and data.DESCR


def test_get_data_home(data_home, monkeypatch, tmp_path):
    assert get_data_home(data_home) == data_home
    assert get_data_home(str(tmp_path)) == tmp_path
    monkeypatch.delenv("FAIRLEARN_DIVINE_DATA")
    with pytest.raises(FileNotFoundError, match="FAIRLEARN_DIVINE_DATA"):
        get_data_home()
    with pytest.raises(FileNotFoundError, match="compas-scores-two-years.csv"):
        get_data_home(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="Missing data file"):
        load_compas(data_home=tmp_path)
    with pytest.raises(TypeError, match="data_home"):
        get_data_home(3)


def test_compas(data_home):
    data = load_compas(data_home=data_home)
    _check_common(data, 6172, 5)
    assert data.feature_names == ["age", "sex", "c_charge_degree", "priors_count", "days_served"]
    assert data.sensitive_features.name == "race"
    assert data.sensitive_features.value_counts()["African-American"] == 3175
    assert set(data.X["c_charge_degree"]) == {"F", "M"}
    assert not data.X.isna().to_numpy().any()
    two = load_compas(data_home=data_home, races=("African-American", "Caucasian"))
    _check_common(two, 5278, 5)
    assert set(two.sensitive_features) == {"African-American", "Caucasian"}
    with pytest.raises(ValueError, match="races"):
        load_compas(data_home=data_home, races=["Martian"])
    with pytest.raises(TypeError, match="races"):
        load_compas(data_home=data_home, races="Caucasian")


def test_law_school(data_home):
    data = load_law_school(data_home=data_home)
    _check_common(data, 17431, 3)
    assert data.feature_names == ["UGPA", "LSAT", "sex"]
    assert (data.X["UGPA"] > 0).all()  # the UGPA = 0 outlier is dropped from train
    assert data.X_test.shape == (4358, 3) and data.y_test.shape == (4358,)
    assert data.sensitive_features.value_counts().to_dict() == {"male": 9801, "female": 7630}
    assert data.sensitive_features_test.value_counts().to_dict() == {"male": 2452, "female": 1906}
    np.testing.assert_array_equal(data.y, (data.zfya >= data.threshold).astype(int))
    assert 0.45 < data.y.mean() < 0.55


def test_adult(data_home):
    data = load_adult(data_home=data_home)
    _check_common(data, 32561, 14)
    assert data.X_test.shape == (16281, 14) and len(data.y_test) == 16281
    assert int(data.y.sum()) == 7841
    assert data.sensitive_features.value_counts().to_dict() == {"Male": 21790, "Female": 10771}
    assert int(data.X.isna().any(axis=1).sum()) == 2399
    assert int(data.X_test.isna().any(axis=1).sum()) == 1221
    assert set(np.unique(data.y_test)) == {0, 1}


def test_bank_marketing(data_home):
    data = load_bank_marketing(data_home=data_home)
    _check_common(data, 41188, 20)
    assert int(data.y.sum()) == 4640
    counts = data.sensitive_features.value_counts().to_dict()
    assert counts == {"age >= 25": 40120, "age < 25": 1068}
    assert "duration" not in load_bank_marketing(data_home=data_home, drop_duration=True).X
    old = load_bank_marketing(data_home=data_home, age_threshold=60).sensitive_features
    assert (old == "age >= 60").sum() == (data.X["age"] >= 60).sum()
    with pytest.raises(ValueError, match="age_threshold"):
        load_bank_marketing(data_home=data_home, age_threshold="25")


# ---------------------------------------------------------------------------------------------
# sha256 verification, the issue-7 names, Fashion-MNIST and Enron1


def test_a_changed_file_is_refused_with_both_checksums(data_home, tmp_path):
    import hashlib
    import shutil

    (tmp_path / "compas").mkdir()
    target = tmp_path / "compas" / "compas-scores-two-years.csv"
    shutil.copy(data_home / "compas" / "compas-scores-two-years.csv", target)
    with open(target, "a") as handle:
        handle.write("\n")
    actual = hashlib.sha256(target.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match=actual) as err:
        load_compas(data_home=tmp_path)
    assert "c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d" in str(err.value)
    assert "ProPublica" in str(err.value)  # where the public original lives


def test_missing_file_error_names_file_place_and_origin(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_adult(data_home=tmp_path)
    text = str(err.value)
    assert "adult/adult.data" in text and str(tmp_path) in text and "UCI" in text


def test_sklearn_style_keys_and_aliases(data_home):
    from fairlearn_divine.datasets import load_lsat

    lsat = load_lsat(data_home=data_home)
    law = load_law_school(data_home=data_home)
    assert lsat.data is lsat.X and lsat.target is lsat.y
    pd.testing.assert_frame_equal(lsat.data, law.X)
    compas = load_compas(data_home=data_home)
    assert compas.data is compas.X and compas.target is compas.y


def test_fashion_mnist(data_home):
    from fairlearn_divine.datasets import load_fashion_mnist

    data = load_fashion_mnist(data_home=data_home)
    assert data.data.shape == (60000, 784) and data.X_test.shape == (10000, 784)
    assert data.images.shape == (60000, 28, 28) and data.images.dtype == np.uint8
    assert np.bincount(data.target).tolist() == [6000] * 10
    assert np.bincount(data.y_test).tolist() == [1000] * 10
    assert 0.0 <= data.X.min() and data.X.max() <= 1.0
    np.testing.assert_allclose(data.X[0], data.images[0].ravel() / 255.0)
    two = load_fashion_mnist(data_home=data_home, classes=(4, 6))
    assert set(np.unique(two.y)) == {4, 6} and len(two.y) == 12000
    with pytest.raises(ValueError, match="classes"):
        load_fashion_mnist(data_home=data_home, classes=(11,))


def test_enron1(data_home):
    from fairlearn_divine.datasets import load_enron1

    data = load_enron1(data_home=data_home)
    assert len(data.data) == 5172 and data.target.shape == (5172,)
    assert int(data.target.sum()) == 1500  # spam; 3,672 ham (PROVENANCE.md)
    assert all(isinstance(t, str) and t for t in data.data[:50])
    assert all(
        ("/spam/" in f) == bool(t) for f, t in zip(data.filenames, data.target, strict=True)
    )
