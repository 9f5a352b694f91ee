"""Loaders for the real data sets used by the DIVINE and MFS papers.

Nothing is downloaded: files are read from :func:`get_data_home` (argument ``data_home`` or the
environment variable ``FAIRLEARN_DIVINE_DATA``), exactly as published (see PROVENANCE.md of the
shared data directory). Every loader returns a :class:`sklearn.utils.Bunch` with

* ``X`` -- DataFrame of raw features (strings stay strings; encode them in your pipeline),
  index ``0..n-1``;
* ``y`` -- ndarray of int 0/1 (1 = the positive outcome named in ``target_name``);
* ``sensitive_features`` -- Series, the protected attribute (also a column of ``X`` when the
  papers use it as a feature);
* ``frame`` -- DataFrame of ``X`` plus the sensitive and target columns;
* ``feature_names``, ``target_name``, ``DESCR``;

and, for data sets with an official split, ``X_test``, ``y_test``, ``sensitive_features_test``
and ``frame_test``. Missing values are ``NaN``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from .._core.validation import check_real
from ._base import _data_file

__all__ = [
    "load_adult",
    "load_bank_marketing",
    "load_compas",
    "load_enron1",
    "load_fashion_mnist",
    "load_law_school",
    "load_lsat",
]


def _frame(X, sensitive, y, target_name):
    frame = X.copy()
    if sensitive.name not in frame.columns:
        frame[sensitive.name] = sensitive.to_numpy()
    frame[target_name] = y
    return frame


def _bunch(X, y, sensitive, *, target_name, descr, test=None):
    X = X.reset_index(drop=True)
    sensitive = sensitive.reset_index(drop=True)
    y = np.asarray(y, dtype=int)
    bunch = Bunch(
        X=X,
        y=y,
        data=X,
        target=y,
        sensitive_features=sensitive,
        frame=_frame(X, sensitive, y, target_name),
        feature_names=list(X.columns),
        target_name=target_name,
        DESCR=descr,
    )
    if test is not None:
        X_t, y_t, s_t = test
        X_t = X_t.reset_index(drop=True)
        s_t = s_t.reset_index(drop=True)
        y_t = np.asarray(y_t, dtype=int)
        bunch.update(
            X_test=X_t,
            y_test=y_t,
            data_test=X_t,
            target_test=y_t,
            sensitive_features_test=s_t,
            frame_test=_frame(X_t, s_t, y_t, target_name),
        )
    return bunch


# --------------------------------------------------------------------------------------------
# COMPAS

COMPAS_RACES = (
    "African-American",
    "Caucasian",
    "Hispanic",
    "Other",
    "Asian",
    "Native American",
)

_COMPAS_DESCR = """\
COMPAS recidivism (ProPublica, "Machine Bias", 2016)
---------------------------------------------------
File: compas/compas-scores-two-years.csv. ProPublica's filter keeps 6,172 of 7,214 rows:
|days_b_screening_arrest| <= 30, is_recid != -1, c_charge_degree != "O", score_text != "N/A".
Features (as DIVINE, after Zafar et al.): age, sex, c_charge_degree (F/M), priors_count and
days_served = c_jail_out - c_jail_in in days (fractional; a few same-day records are slightly
negative, as recorded). Target: two_year_recid (1 = reoffended within two years).
Sensitive feature: race (not a feature).
"""


def load_compas(*, data_home=None, races=None):
    """Load the ProPublica COMPAS two-year recidivism data, filtered as ProPublica did.

    Parameters
    ----------
    data_home : str or path-like, optional
        Data directory; default ``FAIRLEARN_DIVINE_DATA``. Reads
        ``compas/compas-scores-two-years.csv``.
    races : sequence of str, optional
        Keep only these values of ``race``, e.g. ``("African-American", "Caucasian")`` for the
        two-group setting used by ProPublica, Zafar et al. and DIVINE (5,278 rows). Default:
        all six groups (6,172 rows).

    Returns
    -------
    sklearn.utils.Bunch
        ``X`` (DataFrame: ``age``, ``sex``, ``c_charge_degree``, ``priors_count``,
        ``days_served``), ``y`` (``two_year_recid``), ``sensitive_features`` (``race``),
        ``frame``, ``feature_names``, ``target_name``, ``DESCR``.

    Examples
    --------
    >>> from fairlearn_divine.datasets import load_compas
    >>> data = load_compas(races=("African-American", "Caucasian"))  # doctest: +SKIP
    >>> data.X.shape  # doctest: +SKIP
    (5278, 5)
    """
    if races is not None:
        if isinstance(races, str) or not hasattr(races, "__iter__"):
            raise TypeError(
                f"races must be a sequence of race names such as ('African-American', "
                f"'Caucasian'), got {races!r}."
            )
        races = list(races)
        unknown = [r for r in races if r not in COMPAS_RACES]
        if unknown or not races:
            raise ValueError(
                f"races must be a non-empty subset of {list(COMPAS_RACES)}, got {races!r}."
            )
    path = _data_file(data_home, "compas", "compas-scores-two-years.csv")
    raw = pd.read_csv(path)
    keep = (
        raw["days_b_screening_arrest"].between(-30, 30)
        & (raw["is_recid"] != -1)
        & (raw["c_charge_degree"] != "O")
        & (raw["score_text"].notna())
        & (raw["score_text"] != "N/A")
    )
    df = raw.loc[keep]
    if races is not None:
        df = df.loc[df["race"].isin(races)]
    days = (
        pd.to_datetime(df["c_jail_out"]) - pd.to_datetime(df["c_jail_in"])
    ).dt.total_seconds() / 86400.0
    X = pd.DataFrame(
        {
            "age": df["age"].to_numpy(dtype=np.int64),
            "sex": df["sex"].to_numpy(),
            "c_charge_degree": df["c_charge_degree"].to_numpy(),
            "priors_count": df["priors_count"].to_numpy(dtype=np.int64),
            "days_served": days.to_numpy(dtype=float),
        }
    )
    sensitive = pd.Series(df["race"].to_numpy(), name="race")
    return _bunch(
        X,
        df["two_year_recid"].to_numpy(),
        sensitive,
        target_name="two_year_recid",
        descr=_COMPAS_DESCR,
    )


# --------------------------------------------------------------------------------------------
# Law school

_LAW_DESCR = """\
Law school / LSAT (LSAC National Longitudinal Bar Passage Study, Wightman 1998)
------------------------------------------------------------------------------
Files: law_school/law_school_cf_{train,test}.csv, the 80/20 split of Kusner et al. (2017,
"Counterfactual Fairness"). Features (as DIVINE): UGPA, LSAT and sex ("female"/"male", from
the one-hot columns); the race columns are dropped. Target: ZFYA (z-scored first-year average)
binarised at the median of the training ZFYA: y = 1 when ZFYA >= median (the MonotonicFairness
loader's rule; the median is taken before the outlier below is dropped, as there). The one
training row with UGPA = 0 is dropped (17,431 train rows); the test split is kept whole
(4,358 rows). Sensitive feature: sex.
"""


def _law_frame(raw):
    if not ((raw["female"] + raw["male"]) == 1).all():
        raise ValueError("law_school: the female/male columns are not a one-hot encoding.")
    sex = np.where(raw["female"].to_numpy() == 1, "female", "male")
    X = pd.DataFrame(
        {
            "UGPA": raw["UGPA"].to_numpy(dtype=float),
            "LSAT": raw["LSAT"].to_numpy(dtype=float),
            "sex": sex,
        }
    )
    return X, pd.Series(sex, name="sex")


def load_law_school(*, data_home=None):
    """Load the law school (LSAT) data with the train/test split of Kusner et al. (2017).

    Parameters
    ----------
    data_home : str or path-like, optional
        Data directory; default ``FAIRLEARN_DIVINE_DATA``. Reads
        ``law_school/law_school_cf_train.csv`` and ``law_school/law_school_cf_test.csv``.

    Returns
    -------
    sklearn.utils.Bunch
        ``X`` (DataFrame: ``UGPA``, ``LSAT``, ``sex``), ``y`` (1 = ZFYA at or above the
        training median), ``sensitive_features`` (``sex``), ``frame``, the same for the test
        split (``X_test``, ``y_test``, ``sensitive_features_test``, ``frame_test``), ``zfya``
        and ``zfya_test`` (the continuous target), ``threshold`` (the median), ``DESCR``.

    Notes
    -----
    The training row with ``UGPA = 0`` (a data-entry outlier) is dropped, as the
    MonotonicFairness loader does; the test split keeps its one such row.
    """
    train = pd.read_csv(_data_file(data_home, "law_school", "law_school_cf_train.csv"))
    test = pd.read_csv(_data_file(data_home, "law_school", "law_school_cf_test.csv"))
    threshold = float(np.median(train["ZFYA"].to_numpy(dtype=float)))
    train = train.loc[train["UGPA"] > 0]
    X, s = _law_frame(train)
    X_t, s_t = _law_frame(test)
    y = (train["ZFYA"].to_numpy(dtype=float) >= threshold).astype(int)
    y_t = (test["ZFYA"].to_numpy(dtype=float) >= threshold).astype(int)
    bunch = _bunch(X, y, s, target_name="ZFYA_pass", descr=_LAW_DESCR, test=(X_t, y_t, s_t))
    bunch.update(
        zfya=train["ZFYA"].to_numpy(dtype=float),
        zfya_test=test["ZFYA"].to_numpy(dtype=float),
        threshold=threshold,
    )
    return bunch


# --------------------------------------------------------------------------------------------
# Adult

ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
]

_ADULT_DESCR = """\
Adult census income (UCI; Becker & Kohavi 1996)
-----------------------------------------------
Files: adult/adult.data (32,561 rows) and adult/adult.test (16,281 rows; its first line
"|1x3 Cross validator" is skipped and the trailing "." of its labels removed), the UCI split.
Features: all 14 attributes, as in the files ("?" becomes NaN: 2,399 train / 1,221 test rows
have a missing value). DIVINE used all of them except fnlwgt, race and sex. Target: income
">50K" (1). Sensitive feature: sex ("Male"/"Female"), also a feature column.
"""


def _read_adult(path, skiprows):
    df = pd.read_csv(
        path,
        header=None,
        names=ADULT_COLUMNS,
        sep=",",
        skipinitialspace=True,
        na_values="?",
        skiprows=skiprows,
        skip_blank_lines=True,
    )
    income = df["income"].astype(str).str.strip().str.rstrip(".")
    bad = sorted(set(income) - {">50K", "<=50K"})
    if bad:
        raise ValueError(f"{path}: unexpected income labels {bad!r}.")
    X = df.drop(columns="income")
    return X, (income == ">50K").to_numpy().astype(int), X["sex"].rename("sex")


def load_adult(*, data_home=None):
    """Load the UCI Adult census income data, train and test as UCI split them.

    Parameters
    ----------
    data_home : str or path-like, optional
        Data directory; default ``FAIRLEARN_DIVINE_DATA``. Reads ``adult/adult.data`` and
        ``adult/adult.test``.

    Returns
    -------
    sklearn.utils.Bunch
        ``X`` (DataFrame of the 14 raw attributes, missing values as NaN), ``y`` (1 =
        ``>50K``), ``sensitive_features`` (``sex``), ``frame``, and ``X_test``, ``y_test``,
        ``sensitive_features_test``, ``frame_test``, ``DESCR``.
    """
    X, y, s = _read_adult(_data_file(data_home, "adult", "adult.data"), skiprows=0)
    X_t, y_t, s_t = _read_adult(_data_file(data_home, "adult", "adult.test"), skiprows=1)
    return _bunch(X, y, s, target_name="income", descr=_ADULT_DESCR, test=(X_t, y_t, s_t))


# --------------------------------------------------------------------------------------------
# Bank marketing

_BANK_DESCR = """\
Bank marketing (UCI; Moro, Cortez & Rita 2014)
----------------------------------------------
File: bank_marketing/bank-additional-full.csv (41,188 rows, ";"-separated). Features: the 20
attributes (``duration`` leaks the outcome, UCI advises dropping it for a realistic model; see
``drop_duration``). Target: y = "yes" (subscribed a term deposit; 4,640 positives).
Sensitive feature: age binarised at ``age_threshold`` (default 25, the convention of AIF360's
BankDataset): "age >= 25" (40,120 rows) vs "age < 25" (1,068 rows); ``age`` stays a feature.
"""


def load_bank_marketing(*, data_home=None, age_threshold=25, drop_duration=False):
    """Load the UCI bank marketing data (``bank-additional-full.csv``).

    Parameters
    ----------
    data_home : str or path-like, optional
        Data directory; default ``FAIRLEARN_DIVINE_DATA``. Reads
        ``bank_marketing/bank-additional-full.csv``.
    age_threshold : int, default=25
        The sensitive feature is ``"age >= {age_threshold}"`` vs ``"age < {age_threshold}"``.
        25 follows AIF360's ``BankDataset`` (privileged group: age >= 25); DIVINE says only that
        age is the protected attribute.
    drop_duration : bool, default=False
        Drop ``duration`` (call length, known only after the call; it leaks the outcome).

    Returns
    -------
    sklearn.utils.Bunch
        ``X`` (DataFrame of the raw attributes), ``y`` (1 = subscribed), ``sensitive_features``
        (``age_group``), ``frame``, ``feature_names``, ``target_name``, ``DESCR``.
    """
    age_threshold = check_real(age_threshold, "age_threshold")
    if not isinstance(drop_duration, bool | np.bool_):
        raise TypeError(f"drop_duration must be a bool, got {drop_duration!r}.")
    path = _data_file(data_home, "bank_marketing", "bank-additional-full.csv")
    df = pd.read_csv(path, sep=";")
    y = (df["y"] == "yes").to_numpy().astype(int)
    X = df.drop(columns="y")
    if drop_duration:
        X = X.drop(columns="duration")
    t = age_threshold
    # labels as the threshold was given: 25 (or 25.0, np.int64(25)) -> "age >= 25"
    group = np.where(df["age"].to_numpy() >= t, f"age >= {t:g}", f"age < {t:g}")
    sensitive = pd.Series(group, name="age_group")
    return _bunch(X, y, sensitive, target_name="y", descr=_BANK_DESCR)


def load_lsat(*, data_home=None):
    """The LSAT / law school data set as the DIVINE paper uses it (alias of load_law_school).

    See :func:`load_law_school`.
    """
    return load_law_school(data_home=data_home)


# --------------------------------------------------------------------------------------------
# Fashion-MNIST and Enron1


def _read_idx(path):
    import gzip

    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    magic = int.from_bytes(raw[:4], "big")
    ndim = magic & 0xFF
    shape = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def load_fashion_mnist(*, data_home=None, classes=None):
    """Fashion-MNIST (Zalando, 2017): 60,000 training and 10,000 test images, 28 x 28.

    Parameters
    ----------
    data_home : str or path-like, optional
    classes : sequence of int, optional
        Keep only these labels (e.g. ``(0, 6)`` for T-shirt vs shirt).

    Returns
    -------
    Bunch
        ``X``/``data`` (float64 in [0, 1], shape (n, 784)), ``y``/``target`` (int labels),
        ``X_test``, ``y_test``, ``images`` (uint8, (n, 28, 28)), ``target_names``,
        ``sensitive_features`` (None: there is no protected attribute), ``DESCR``.
    """
    parts = {
        "X": "train-images-idx3-ubyte.gz",
        "y": "train-labels-idx1-ubyte.gz",
        "X_test": "t10k-images-idx3-ubyte.gz",
        "y_test": "t10k-labels-idx1-ubyte.gz",
    }
    raw = {k: _read_idx(_data_file(data_home, "fashion_mnist", f)) for k, f in parts.items()}
    keep = slice(None)
    keep_t = slice(None)
    if classes is not None:
        classes = [int(c) for c in classes]
        bad = [c for c in classes if not 0 <= c <= 9]
        if bad:
            raise ValueError(f"classes must be labels in 0..9, got {bad}.")
        keep = np.isin(raw["y"], classes)
        keep_t = np.isin(raw["y_test"], classes)
    images, images_t = raw["X"][keep], raw["X_test"][keep_t]
    X = images.reshape(len(images), -1) / 255.0
    X_t = images_t.reshape(len(images_t), -1) / 255.0
    y, y_t = raw["y"][keep].astype(int), raw["y_test"][keep_t].astype(int)
    return Bunch(
        X=X,
        y=y,
        data=X,
        target=y,
        X_test=X_t,
        y_test=y_t,
        data_test=X_t,
        target_test=y_t,
        images=images,
        images_test=images_t,
        target_names=list(FASHION_MNIST_CLASSES),
        sensitive_features=None,
        DESCR="Fashion-MNIST (Xiao, Rasul & Vollgraf 2017), MIT licence; 10 classes, 28x28.",
    )


def load_enron1(*, data_home=None):
    """Enron1 spam (Metsis et al., CEAS 2006): 3,672 ham and 1,500 spam e-mails.

    Returns
    -------
    Bunch
        ``X``/``data`` (list of str: the e-mail texts, decoded as latin-1), ``y``/``target``
        (1 = spam, 0 = ham), ``filenames``, ``sensitive_features`` (None), ``DESCR``. Encode
        the texts in a pipeline (e.g. ``TfidfVectorizer``) as the MFS paper does.
    """
    import tarfile

    path = _data_file(data_home, "enron1", "enron1.tar.gz")
    texts, labels, names = [], [], []
    with tarfile.open(path, "r:gz") as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if not member.isfile() or len(parts) < 3 or parts[-2] not in ("ham", "spam"):
                continue
            raw = archive.extractfile(member).read()
            texts.append(raw.decode("latin-1"))
            labels.append(1 if parts[-2] == "spam" else 0)
            names.append(member.name)
    order = np.argsort(names)
    texts = [texts[i] for i in order]
    y = np.asarray(labels, dtype=int)[order]
    return Bunch(
        X=texts,
        y=y,
        data=texts,
        target=y,
        filenames=[names[i] for i in order],
        sensitive_features=None,
        target_names=["ham", "spam"],
        DESCR="Enron1 spam (Metsis, Androutsopoulos & Paliouras 2006): ham/ and spam/ e-mails.",
    )
