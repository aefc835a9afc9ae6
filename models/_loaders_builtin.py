"""The built-in data sets: how each raw table becomes features, targets, sensitive columns and splits."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models import _loaders_raw as raw
from models._loaders_build import image_parts, series_parts, tabular_parts, text_parts
from models._loaders_split import carve_val, chronological_split, stratified_split, stratified_subset

__all__ = ["SPECS", "Source", "source", "split_indices", "build_parts"]

CC_BY = "CC BY 4.0"


@dataclass(frozen=True)
class Spec:
    """Static facts about one built-in data set."""

    kind: str
    task: str
    source: str
    licence: str
    window: int = 0  # timeseries only
    max_vocab: int = 0  # text only
    max_len: int = 0  # text only


SPECS: dict[str, Spec] = {
    "adult": Spec("tabular", "binary", "UCI Adult (Becker & Kohavi 1996)", CC_BY),
    "german": Spec("tabular", "binary", "UCI Statlog German Credit (Hofmann 1994)", CC_BY),
    "credit_default": Spec("tabular", "binary", "UCI Default of Credit Card Clients (Yeh & Lien 2009)", CC_BY),
    "fashion_mnist": Spec("image", "multiclass", "Fashion-MNIST (Xiao et al. 2017), 12,000-image subset", "MIT"),
    "mnist": Spec("image", "multiclass", "MNIST (LeCun, Cortes, Burges), 5,000-image subset", "CC BY-SA 3.0"),
    "digits": Spec("image", "multiclass", "scikit-learn load_digits (UCI optical digits)", CC_BY),
    "rotten_tomatoes": Spec("text", "binary", "Rotten Tomatoes snippets (Pang & Lee 2005)", "Apache-2.0",
                            max_vocab=10_000, max_len=48),
    "sunspots": Spec("timeseries", "regression", "Yearly sunspots 1700-2008 (SIDC), via statsmodels", "public domain",
                     window=24),
    "co2": Spec("timeseries", "regression", "Weekly Mauna Loa CO2 (NOAA/Scripps), via statsmodels", "public domain",
                window=52),
}

_EDUCATION = {1: "graduate school", 2: "university", 3: "high school", 4: "others"}
_MARRIAGE = {1: "married", 2: "single", 3: "others"}


@dataclass(frozen=True)
class Source:
    """One built-in data set parsed into model-agnostic pieces (shared, do not mutate)."""

    y: np.ndarray  # class indices (classification) or values (timeseries: the whole series)
    class_names: tuple[str, ...] = ()
    target: str = "y"
    features: pd.DataFrame | None = None  # tabular
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    sensitive: pd.DataFrame | None = None
    images: np.ndarray | None = None
    scale: float = 255.0
    texts: np.ndarray | None = None
    is_test: np.ndarray | None = None  # official test rows


def _adult() -> Source:
    frame = raw.read_adult()
    numeric = ("age", "education-num", "capital-gain", "capital-loss", "hours-per-week")
    categorical = ("workclass", "education", "marital-status", "occupation", "relationship", "race", "sex",
                   "native-country")
    features = frame[[c for c in raw.ADULT_COLUMNS if c in numeric + categorical]]
    return Source(
        y=(frame["income"] == ">50K").to_numpy(np.int64), class_names=("<=50K", ">50K"), target="income",
        features=features, numeric=numeric, categorical=categorical,
        sensitive=frame[["sex", "race", "age"]], is_test=frame["is_test"].to_numpy(),
    )


def _german() -> Source:
    frame = raw.read_german()
    numeric = ("duration_months", "credit_amount", "installment_rate", "residence_since", "age", "existing_credits",
               "people_liable")
    features = frame.drop(columns="credit_risk")
    sex = frame["personal_status_sex"].map({"A91": "male", "A93": "male", "A94": "male", "A92": "female",
                                            "A95": "female"})
    return Source(
        y=(frame["credit_risk"] == 1).to_numpy(np.int64), class_names=("bad", "good"), target="credit_risk",
        features=features, numeric=numeric, categorical=tuple(c for c in features.columns if c not in numeric),
        sensitive=pd.DataFrame({"sex": sex, "age": frame["age"]}),
    )


def _credit_default() -> Source:
    frame = raw.read_credit_default()
    features = frame.drop(columns="default").assign(
        SEX=frame["SEX"].map({1: "male", 2: "female"}),
        EDUCATION=frame["EDUCATION"].map(_EDUCATION).fillna("unknown"),
        MARRIAGE=frame["MARRIAGE"].map(_MARRIAGE).fillna("unknown"),
    )
    categorical = ("SEX", "EDUCATION", "MARRIAGE")
    return Source(
        y=frame["default"].to_numpy(np.int64), class_names=("no default", "default"), target="default",
        features=features, numeric=tuple(c for c in features.columns if c not in categorical), categorical=categorical,
        sensitive=features[["SEX", "AGE"]],
    )


def _series(name: str) -> Source:
    frame = raw.read_series(name)
    if name == "sunspots":
        values = frame["SUNACTIVITY"].astype(np.float64)
    else:  # weekly CO2: linear interpolation over the missing weeks
        values = frame["co2"].astype(np.float64).interpolate(method="linear", limit_direction="both")
    return Source(y=values.to_numpy(), target=frame.columns[1])


@functools.lru_cache(maxsize=None)
def source(name: str) -> Source:
    """The parsed pieces of built-in data set ``name`` (cached; ``name`` must be a key of ``SPECS``)."""
    if name == "adult":
        return _adult()
    if name == "german":
        return _german()
    if name == "credit_default":
        return _credit_default()
    if name == "fashion_mnist":
        images, labels, is_test = raw.read_fashion_mnist()
        return Source(y=labels.astype(np.int64), class_names=raw.FASHION_CLASSES, target="label", images=images,
                      is_test=is_test)
    if name == "mnist":
        images, labels = raw.read_mnist()
        return Source(y=labels.astype(np.int64), class_names=tuple(map(str, range(10))), target="label",
                      images=images)
    if name == "digits":
        images, labels = raw.read_digits()
        return Source(y=labels, class_names=tuple(map(str, range(10))), target="label", images=images, scale=16.0)
    if name == "rotten_tomatoes":
        frame = raw.read_rotten_tomatoes()
        return Source(y=(frame["category"] == "fresh").to_numpy(np.int64), class_names=("rotten", "fresh"),
                      target="category", texts=frame["text"].to_numpy(dtype=object))
    return _series(name)


def split_indices(name: str, seed: int, max_rows: int | None, val_fraction: float,
                  test_fraction: float | None, default_test_fraction: float) -> dict[str, np.ndarray]:
    """Row indices of the source per split (timeseries: positions of the predicted values in the series).

    With ``max_rows=None`` and ``test_fraction=None`` a data set with an official test file uses it as the test
    split and carves val out of its training rows; otherwise a seeded stratified subset of ``max_rows`` rows
    (all rows when None) is split with the fractions.
    """
    spec, src = SPECS[name], source(name)
    test_fraction_used = default_test_fraction if test_fraction is None else test_fraction
    if spec.kind == "timeseries":
        first = spec.window if max_rows is None else max(spec.window, len(src.y) - max_rows + spec.window)
        blocks = chronological_split(len(src.y) - first, val_fraction, test_fraction_used)
        return {s: idx + first for s, idx in blocks.items()}
    if max_rows is None and test_fraction is None and src.is_test is not None:
        pool = np.flatnonzero(~src.is_test)
        out = {s: pool[idx] for s, idx in carve_val(src.y[pool], val_fraction, seed).items()}
        rng = np.random.default_rng([seed, 3])
        return {**out, "test": rng.permutation(np.flatnonzero(src.is_test))}
    pool = np.arange(len(src.y)) if max_rows is None else stratified_subset(src.y, max_rows, seed)
    return {s: pool[idx] for s, idx in stratified_split(src.y[pool], val_fraction, test_fraction_used, seed).items()}


def build_parts(name: str, splits: dict[str, np.ndarray], metadata: dict[str, Any]) -> dict[str, Any]:
    """Dataset parts of built-in ``name`` for the given split indices."""
    spec, src = SPECS[name], source(name)
    meta = {**metadata, "source": spec.source, "licence": spec.licence, "target": src.target,
            "n_source_rows": int(len(src.y))}
    common = {"name": name, "task": spec.task, "splits": splits, "metadata": meta}
    if spec.kind == "timeseries":
        return series_parts(name=name, values=src.y, window=spec.window, targets=splits, metadata=meta)
    if spec.kind == "tabular":
        return tabular_parts(features=src.features, y=src.y, class_names=src.class_names, numeric=src.numeric,
                             categorical=src.categorical, sensitive=src.sensitive, **common)
    empty = pd.DataFrame(index=range(len(src.y)))
    if spec.kind == "image":
        return image_parts(images=src.images, y=src.y, class_names=src.class_names, sensitive=empty,
                           scale=src.scale, **common)
    return text_parts(texts=src.texts, y=src.y, class_names=src.class_names, sensitive=empty,
                      max_vocab=spec.max_vocab, max_len=spec.max_len, **common)
