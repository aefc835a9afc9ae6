"""Cached readers of the package data in ``models/data`` (parsed once per process, returned read-only).

Callers must not mutate what these return (frames are shared through ``functools.lru_cache``; arrays are marked
read-only).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DATA_DIR",
    "ADULT_COLUMNS",
    "GERMAN_COLUMNS",
    "FASHION_CLASSES",
    "read_adult",
    "read_german",
    "read_credit_default",
    "read_fashion_mnist",
    "read_mnist",
    "read_digits",
    "read_rotten_tomatoes",
    "read_series",
]

DATA_DIR = Path(__file__).resolve().parent / "data"

ADULT_COLUMNS: tuple[str, ...] = (
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation", "relationship",
    "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country", "income",
)
GERMAN_COLUMNS: tuple[str, ...] = (
    "checking_status", "duration_months", "credit_history", "purpose", "credit_amount", "savings",
    "employment_since", "installment_rate", "personal_status_sex", "other_debtors", "residence_since", "property",
    "age", "other_installment_plans", "housing", "existing_credits", "job", "people_liable", "telephone",
    "foreign_worker", "credit_risk",
)
FASHION_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for array in arrays:
        array.setflags(write=False)
    return arrays


@functools.lru_cache(maxsize=None)
def read_adult() -> pd.DataFrame:
    """Adult train rows then official test rows; '?' -> NaN, test labels without the trailing '.', ``is_test``."""
    frames = []
    for file, skip in (("adult.data.gz", 0), ("adult.test.gz", 1)):
        frame = pd.read_csv(
            DATA_DIR / file, header=None, names=list(ADULT_COLUMNS), skiprows=skip, skipinitialspace=True,
            na_values="?", keep_default_na=False,
        )
        frame["income"] = frame["income"].str.rstrip(".")
        frame["is_test"] = skip == 1
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@functools.lru_cache(maxsize=None)
def read_german() -> pd.DataFrame:
    """German credit with readable column names (values keep their UCI codes, e.g. ``A11``)."""
    return pd.read_csv(DATA_DIR / "german.data.gz", sep=" ", header=None, names=list(GERMAN_COLUMNS))


@functools.lru_cache(maxsize=None)
def read_credit_default() -> pd.DataFrame:
    """Taiwan credit default: integer codes for SEX, EDUCATION, MARRIAGE; target column ``default``."""
    return pd.read_csv(DATA_DIR / "credit_default.csv.gz")


@functools.lru_cache(maxsize=None)
def read_fashion_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(images uint8 (12000, 28, 28), labels uint8, is_test bool)``: 10,000 train then 2,000 test images."""
    with np.load(DATA_DIR / "fashion_mnist_subset.npz", allow_pickle=False) as data:
        images = np.concatenate([data["x_train"], data["x_test"]])
        labels = np.concatenate([data["y_train"], data["y_test"]])
        is_test = np.arange(len(labels)) >= len(data["y_train"])
    return _frozen(images, labels, is_test)  # type: ignore[return-value]


@functools.lru_cache(maxsize=None)
def read_mnist() -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (5000, 28, 28), labels uint8)``."""
    with np.load(DATA_DIR / "mnist_5k.npz", allow_pickle=False) as data:
        images, labels = data["x"], data["y"]
    return _frozen(images, labels)  # type: ignore[return-value]


@functools.lru_cache(maxsize=None)
def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits: ``(images float64 in [0, 16], labels int64)`` (local, no download)."""
    from sklearn.datasets import load_digits  # optional heavy import, only for this data set

    bunch = load_digits()
    images, labels = np.asarray(bunch.images, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)
    return _frozen(images, labels)  # type: ignore[return-value]


@functools.lru_cache(maxsize=None)
def read_rotten_tomatoes() -> pd.DataFrame:
    """Review snippets: ``category`` (fresh / rotten) and ``text``."""
    return pd.read_csv(DATA_DIR / "rotten_tomatoes.csv.gz", keep_default_na=False)


@functools.lru_cache(maxsize=None)
def read_series(name: str) -> pd.DataFrame:
    """``sunspots`` (YEAR, SUNACTIVITY) or ``co2`` (date, co2 with empty cells for missing weeks)."""
    return pd.read_csv(DATA_DIR / f"{name}.csv.gz")
