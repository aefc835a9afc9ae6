"""Validate user data (frames, arrays, texts) once at the boundary and build ``Dataset`` parts from it.

Used by ``Dataset.from_frame`` / ``from_arrays`` / ``from_texts``; does not import ``models.dataset``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from models._loaders_build import image_parts, tabular_parts, text_parts, windows_parts
from models._loaders_split import (
    DEFAULT_TEST_FRACTION,
    DEFAULT_VAL_FRACTION,
    check_fractions,
    check_seed,
    chronological_split,
    random_split,
    stratified_split,
)
from models.errors import InvalidInputError, InvalidTypeError, describe_value
from models.preprocessing import category_keys, numeric_column

__all__ = ["MAX_INT_CLASSES", "frame_parts", "arrays_parts", "texts_parts", "infer_categorical", "infer_task"]

MAX_INT_CLASSES = 20
_JUNK_SHARE = 0.5
_USER_TASKS = ("binary", "multiclass", "regression")


def _names(value: str | Sequence[str] | None, arg: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise InvalidTypeError(f"The {arg!r} argument must be a list of column names. Got {describe_value(value)}.")
    return list(value)


def infer_categorical(df: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Columns whose dtype is not numeric, except object columns of numbers (those are numeric).

    Raises:
        InvalidInputError: an object column is mostly numbers with some non-numeric junk (names the column and an
            offending value).
    """
    categorical = []
    for name in columns:
        series = df[name]
        if pd.api.types.is_bool_dtype(series.dtype) or isinstance(series.dtype, pd.CategoricalDtype):
            categorical.append(name)
        elif not pd.api.types.is_numeric_dtype(series.dtype):
            present = series[series.notna()]
            numeric = pd.to_numeric(present, errors="coerce").notna()
            if len(present) and numeric.all():
                continue  # numbers stored as objects/strings: numeric
            if len(present) and numeric.mean() > _JUNK_SHARE:
                numeric_column(series, name)  # raises, naming the column and the first junk value
            categorical.append(name)
    return categorical


def infer_task(y: pd.Series) -> str:
    """``binary`` for 2 distinct values, ``multiclass`` for strings or up to 20 integers, else ``regression``."""
    n_unique = int(y.nunique())
    if pd.api.types.is_float_dtype(y.dtype):
        return "regression"
    if pd.api.types.is_integer_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype):
        return "binary" if n_unique == 2 else "multiclass" if n_unique <= MAX_INT_CLASSES else "regression"
    return "binary" if n_unique == 2 else "multiclass"


def _encode_labels(labels: pd.Series, class_names: Sequence[str] | None, arg: str) -> tuple[np.ndarray, list[str]]:
    if class_names is not None:
        names = [str(c) for c in class_names]
        if len(names) < 2 or len(set(names)) != len(names):
            raise InvalidInputError(f"The 'class_names' argument must hold at least 2 distinct names. Got {names!r}.")
        if pd.api.types.is_integer_dtype(labels.dtype) and not pd.api.types.is_bool_dtype(labels.dtype):
            y = labels.to_numpy(np.int64)
            bad = (y < 0) | (y >= len(names))
            if bad.any():
                raise InvalidInputError(
                    f"The {arg!r} argument must hold class indices in [0, {len(names) - 1}] for {len(names)} "
                    f"class names. Got {int(y[bad][0])} instead."
                )
            return y, names
        codes, keys = category_keys(labels)
        lookup = {n: i for i, n in enumerate(names)}
        missing = [k for k in keys if k not in lookup]
        if missing or (codes < 0).any():
            raise InvalidInputError(
                f"Every label in {arg!r} must be one of {names}. Got {describe_value(missing[:1] or [None])}."
            )
        return np.array([lookup[k] for k in keys], dtype=np.int64)[codes], names
    codes, uniques = pd.factorize(labels, use_na_sentinel=True)
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        raise InvalidInputError(f"The {arg!r} argument must have no missing values. Got one at row {row}.")
    values = list(uniques)
    keys = [str(k) for k in category_keys(pd.Series(values, dtype=object))[1]]
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) for v in values)
    order = sorted(range(len(values)), key=(lambda i: float(values[i])) if numeric else (lambda i: keys[i]))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], [keys[i] for i in order]


def _check_classes(y: np.ndarray, names: list[str], task: str, arg: str) -> None:
    present = len(np.unique(y))
    if present < 2:
        raise InvalidInputError(f"The {arg!r} argument must hold at least 2 classes. Got only {names[int(y[0])]!r}.")
    if task == "binary" and len(names) != 2:
        raise InvalidInputError(
            f"A 'binary' task needs exactly 2 classes in {arg!r}. Got {len(names)}: {describe_value(names)}."
        )


def _check_task(task: str | None) -> None:
    if task is not None and task not in _USER_TASKS:
        raise InvalidInputError(
            f"The 'task' argument must be None or one of {list(_USER_TASKS)}. Got {task!r} instead."
        )


def _sensitive_frame(sensitive: object, n: int) -> pd.DataFrame:
    if sensitive is None:
        return pd.DataFrame(index=range(n))
    if isinstance(sensitive, pd.DataFrame):
        frame = sensitive.reset_index(drop=True)
    elif isinstance(sensitive, Mapping):
        frame = pd.DataFrame({str(k): list(v) for k, v in sensitive.items()}) if sensitive else None
        frame = pd.DataFrame(index=range(n)) if frame is None else frame
    else:
        raise InvalidTypeError(
            f"The 'sensitive' argument must be None, a DataFrame or a dict of columns. Got {type(sensitive).__name__}."
        )
    if len(frame) != n:
        raise InvalidInputError(
            f"The 'sensitive' argument must have one row per sample ({n}). Got {len(frame)} rows instead."
        )
    _check_sensitive_values(frame, list(frame.columns))
    return frame


def _check_sensitive_values(frame: pd.DataFrame, columns: list[str]) -> None:
    for name in columns:
        if frame[name].nunique(dropna=True) < 2:
            raise InvalidInputError(
                f"The sensitive column {name!r} must hold at least 2 distinct values. Got only "
                f"{describe_value(list(frame[name].dropna().unique()))} instead."
            )


def _split_fracs(val_fraction: float, test_fraction: float) -> tuple[float, float]:
    return check_fractions(val_fraction, test_fraction)


def frame_parts(
    df: pd.DataFrame, target: str, sensitive: str | Sequence[str] | None = None, *, name: str = "user",
    task: str | None = None, categorical: Sequence[str] | None = None, features: Sequence[str] | None = None,
    seed: int = 0, val_fraction: float = DEFAULT_VAL_FRACTION, test_fraction: float = DEFAULT_TEST_FRACTION,
) -> dict[str, Any]:
    """Validate a user table and build tabular Dataset parts (see ``Dataset.from_frame`` for the arguments)."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidTypeError(f"The 'df' argument must be a pandas DataFrame. Got {type(df).__name__} instead.")
    if len(df) == 0 or df.shape[1] == 0:
        raise InvalidInputError(
            f"The 'df' argument must have rows and columns. Got an empty frame of shape {df.shape}."
        )
    df = df.rename(columns=str).reset_index(drop=True)
    if df.columns.duplicated().any():
        raise InvalidInputError(
            "The 'df' argument must have unique column names. Got duplicates "
            f"{sorted(set(df.columns[df.columns.duplicated()]))}."
        )
    if not isinstance(target, str) or target not in df.columns:
        raise InvalidInputError(
            f"The 'target' argument must name a column of 'df'. Got {target!r}; the columns are "
            f"{describe_value(list(df.columns), 300)}."
        )
    sens = _names(sensitive, "sensitive")
    for column in sens:
        if column not in df.columns:
            raise InvalidInputError(
                f"Every 'sensitive' column must be a column of 'df'. Got {column!r}; the columns are "
                f"{describe_value(list(df.columns), 300)}."
            )
    _check_sensitive_values(df, sens)
    feats = [c for c in df.columns if c != target] if features is None else _names(features, "features")
    for column in feats:
        if column not in df.columns or column == target:
            raise InvalidInputError(
                f"Every 'features' entry must be a column of 'df' other than the target. Got {column!r}."
            )
    if not feats:
        raise InvalidInputError(
            f"The 'df' argument must hold at least one feature column besides the target {target!r}. Got none."
        )
    cats = infer_categorical(df, feats) if categorical is None else _names(categorical, "categorical")
    for column in cats:
        if column not in feats:
            raise InvalidInputError(
                f"Every 'categorical' entry must be a feature column. Got {column!r}; the features are "
                f"{describe_value(feats, 300)}."
            )
    for column in feats:
        if column not in cats:
            numeric_column(df[column], column)  # junk / infinity named with the row of the user's frame
    _check_task(task)
    seed = check_seed(seed)
    val_fraction, test_fraction = _split_fracs(val_fraction, test_fraction)
    labels = df[target]
    if labels.isna().any():
        raise InvalidInputError(
            f"The target column {target!r} must have no missing values. Got one at row "
            f"{int(np.flatnonzero(labels.isna())[0])}."
        )
    task = task or infer_task(labels)
    if task == "regression":
        y = numeric_column(labels, target)
        names: list[str] = []
        splits = random_split(len(df), val_fraction, test_fraction, seed)
    else:
        y, names = _encode_labels(labels, None, "target")
        _check_classes(y, names, task, "target")
        splits = stratified_split(y, val_fraction, test_fraction, seed)
    method = "random" if task == "regression" else "stratified"
    meta = {"source": "user table", "target": target,
            "split": {"method": method, "seed": seed, "val_fraction": val_fraction, "test_fraction": test_fraction}}
    return tabular_parts(
        name=name, features=df[feats], y=y, task=task, class_names=names,
        numeric=[c for c in feats if c not in cats], categorical=cats, sensitive=df[sens], splits=splits, metadata=meta,
    )


def _numeric_array(value: object, arg: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(
            f"The {arg!r} argument must be an array of numbers. Got {describe_value(value)}."
        ) from exc
    if array.dtype.kind not in "biuf":
        raise InvalidTypeError(f"The {arg!r} argument must be an array of numbers. Got dtype {array.dtype} instead.")
    array = array.astype(np.float64) if array.dtype.kind == "b" else array
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"The {arg!r} argument must hold finite numbers (no NaN or inf). Got {float(array[where])!r} at index "
            f"{where} ({int(bad.sum())} such values)."
        )
    return array


def _labels_and_task(y: object, n: int, task: str | None, class_names: Sequence[str] | None,
                     arg: str) -> tuple[np.ndarray, list[str], str]:
    _check_task(task)
    labels = pd.Series(list(y) if not isinstance(y, (np.ndarray, pd.Series)) else np.asarray(y))
    if len(labels) != n:
        raise InvalidInputError(
            f"The {arg!r} argument must have one value per sample ({n}). Got {len(labels)} instead."
        )
    if task is None:
        task = "regression" if class_names is None and pd.api.types.is_float_dtype(labels.dtype) else None
    if task == "regression":
        return _numeric_array(labels.to_numpy(), arg).astype(np.float64), [], task
    if pd.api.types.is_float_dtype(labels.dtype) and not np.all(np.mod(labels.to_numpy(), 1) == 0):
        raise InvalidInputError(
            f"The {arg!r} argument must hold class labels (ints or strings) for classification. Got fractional "
            f"values such as {labels[np.mod(labels, 1) != 0].iloc[0]!r}."
        )
    if pd.api.types.is_float_dtype(labels.dtype):
        labels = labels.astype(np.int64)
    codes, names = _encode_labels(labels, class_names, arg)
    task = task or ("binary" if len(names) == 2 else "multiclass")
    _check_classes(codes, names, task, arg)
    return codes, names, task


def _splits_for(y: np.ndarray, task: str, seed: int, val_fraction: float, test_fraction: float,
                chronological: bool) -> tuple[dict[str, np.ndarray], str]:
    if chronological:
        return chronological_split(len(y), val_fraction, test_fraction), "chronological"
    if task == "regression":
        return random_split(len(y), val_fraction, test_fraction, seed), "random"
    return stratified_split(y, val_fraction, test_fraction, seed), "stratified"


def arrays_parts(
    x: np.ndarray, y: object, *, kind: str = "image", class_names: Sequence[str] | None = None,
    sensitive: object = None, task: str | None = None, name: str = "user", seed: int = 0,
    val_fraction: float = DEFAULT_VAL_FRACTION, test_fraction: float = DEFAULT_TEST_FRACTION,
) -> dict[str, Any]:
    """Validate user images or timeseries windows and build Dataset parts (see ``Dataset.from_arrays``)."""
    if kind not in ("image", "timeseries"):
        raise InvalidInputError(f"The 'kind' argument must be one of ['image', 'timeseries']. Got {kind!r} instead.")
    array = _numeric_array(x, "x")
    n = len(array) if array.ndim else 0
    if kind == "image":
        if array.ndim not in (3, 4) or (array.ndim == 4 and not 1 <= array.shape[1] <= 4):
            raise InvalidInputError(
                "The 'x' argument must have shape (n, h, w) or (n, c, h, w) with c in 1..4 (channels first). Got "
                f"{array.shape} instead."
            )
        if array.size and (array.min() < 0 or array.max() > 1):
            raise InvalidInputError(
                "The 'x' argument must hold values in [0, 1] (divide 8-bit pixels by 255). Got values from "
                f"{float(array.min())!r} to {float(array.max())!r} instead."
            )
    elif array.ndim not in (2, 3):
        raise InvalidInputError(
            "The 'x' argument must have shape (n, window) or (n, window, channels) for kind='timeseries'. Got "
            f"{array.shape} instead."
        )
    if n == 0:
        raise InvalidInputError("The 'x' argument must hold at least one sample. Got 0 instead.")
    labels, names, task = _labels_and_task(y, n, task, class_names, "y")
    seed = check_seed(seed)
    val_fraction, test_fraction = _split_fracs(val_fraction, test_fraction)
    sens = _sensitive_frame(sensitive, n)
    splits, method = _splits_for(labels, task, seed, val_fraction, test_fraction, kind == "timeseries")
    meta = {"source": f"user {kind} arrays", "target": "y",
            "split": {"method": method, "seed": seed, "val_fraction": val_fraction, "test_fraction": test_fraction}}
    common = {"name": name, "y": labels, "task": task, "class_names": names, "sensitive": sens, "splits": splits,
              "metadata": meta}
    if kind == "image":
        return image_parts(images=array.astype(np.float32), scale=1.0, **common)
    return windows_parts(windows=array, **common)


def texts_parts(
    texts: Sequence[str], labels: object, *, class_names: Sequence[str] | None = None, sensitive: object = None,
    name: str = "user", seed: int = 0, max_vocab: int = 20_000, max_len: int = 64,
    val_fraction: float = DEFAULT_VAL_FRACTION, test_fraction: float = DEFAULT_TEST_FRACTION,
) -> dict[str, Any]:
    """Validate user texts and labels and build text Dataset parts (see ``Dataset.from_texts``)."""
    if isinstance(texts, (str, bytes)) or not isinstance(texts, (Sequence, np.ndarray, pd.Series)):
        raise InvalidTypeError(f"The 'texts' argument must be a list of strings. Got {type(texts).__name__} instead.")
    items = list(texts)
    if not items:
        raise InvalidInputError("The 'texts' argument must hold at least one text. Got 0 instead.")
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise InvalidInputError(
                f"Every item of 'texts' must be a string. Got {describe_value(text)} at position {i} instead."
            )
    y, names, task = _labels_and_task(labels, len(items), None, class_names, "labels")
    if task == "regression":
        raise InvalidInputError(
            "The 'labels' argument must hold class labels (ints or strings). Got float values; pass class_names "
            "to use them as classes."
        )
    seed = check_seed(seed)
    val_fraction, test_fraction = _split_fracs(val_fraction, test_fraction)
    sens = _sensitive_frame(sensitive, len(items))
    splits = stratified_split(y, val_fraction, test_fraction, seed)
    meta = {"source": "user texts", "target": "label",
            "split": {"method": "stratified", "seed": seed, "val_fraction": val_fraction,
                      "test_fraction": test_fraction}}
    return text_parts(name=name, texts=items, y=y, task=task, class_names=names, sensitive=sens, splits=splits,
                      max_vocab=max_vocab, max_len=max_len, metadata=meta)
