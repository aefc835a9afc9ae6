"""Tabular preprocessing: median imputation + standard scaling, one-hot with an unknown column (see
``models.preprocessing``)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.errors import InvalidInputError, InvalidTypeError, describe_value

__all__ = ["UNKNOWN", "MIN_STD", "numeric_column", "category_keys", "fit_tabular", "encode_tabular", "feature_names",
           "feature_groups"]

UNKNOWN = "<unknown>"
MIN_STD = 1e-12


# ----------------------------------------------------------------------------------------------------- tabular
def numeric_column(series: pd.Series, name: str) -> np.ndarray:
    """The values of a numeric column as float64 (NaN for missing).

    Args:
        series: the raw column.
        name: its name, for error messages.

    Returns:
        float64 array of length ``len(series)``.

    Raises:
        InvalidInputError: a value is not a number (names the column, the row and the value) or is infinite.
    """
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        converted = pd.to_numeric(series, errors="coerce")
        bad = converted.isna().to_numpy() & series.notna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InvalidInputError(
                f"Column {name!r} must hold numbers (leave a cell empty for a missing value). Got the non-numeric "
                f"value {describe_value(series.iloc[row])} in row {row} instead; list the column in 'categorical' "
                "if it is categorical."
            )
        values = converted.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise InvalidInputError(
            f"Column {name!r} must hold finite numbers. Got {float(values[row])!r} in row {row} instead."
        )
    return values


def _category_key(value: Any) -> str | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value).strip()


def category_keys(series: pd.Series) -> tuple[np.ndarray, list[str | None]]:
    """Normalised string keys of a categorical column, computed once per distinct value.

    Args:
        series: the raw column (strings, numbers, booleans; None/NaN mean missing).

    Returns:
        ``(codes, keys)``: ``codes[i]`` indexes ``keys`` (-1 for a missing value); ``keys`` are the stripped
        string forms (``1``, ``1.0`` -> ``"1"``), ``None`` for missing.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes, [_category_key(value) for value in uniques]


def _check_frame(df: object, arg: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise InvalidTypeError(f"The {arg!r} argument must be a pandas DataFrame. Got {type(df).__name__} instead.")
    return df


def fit_tabular(df_train: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> dict[str, Any]:
    """Fit imputation, scaling and one-hot categories on training rows.

    Args:
        df_train: training rows (other columns are ignored).
        numeric: numeric feature names (median imputation, then (x - mean) / std with the population std of the
            imputed column; a constant column gets std 1).
        categorical: categorical feature names (one-hot over the sorted training categories + ``"<unknown>"``).

    Returns:
        ``{"kind": "tabular", "version": 1, "features": [...]}``, features in the frame's column order.

    Raises:
        InvalidTypeError: ``df_train`` is not a DataFrame.
        InvalidInputError: no rows, a feature missing or listed twice, or junk in a numeric column.

    Example:
        >>> state = fit_tabular(pd.DataFrame({"a": [1.0, 3.0], "c": ["x", "y"]}), ["a"], ["c"])
        >>> feature_names(state)
        ['a', 'c=x', 'c=y', 'c=<unknown>']
    """
    _check_frame(df_train, "df_train")
    if len(df_train) == 0:
        raise InvalidInputError("The 'df_train' argument must have at least 1 row. Got 0 rows instead.")
    numeric, categorical = list(numeric), list(categorical)
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise InvalidInputError(
            f"A feature cannot be both numeric and categorical. Got {both} in both lists instead."
        )
    wanted = numeric + categorical
    if not wanted:
        raise InvalidInputError("The 'numeric' and 'categorical' arguments must name at least one feature. Got none.")
    missing = [c for c in wanted if c not in df_train.columns]
    if missing:
        raise InvalidInputError(
            f"Every feature must be a column of 'df_train'. Got {missing} which are not among "
            f"{describe_value(list(df_train.columns), 200)}."
        )
    features: list[dict[str, Any]] = []
    for name in [c for c in df_train.columns if c in set(wanted)]:
        if name in numeric:
            values = numeric_column(df_train[name], name)
            median = float(np.nanmedian(values)) if np.isfinite(values).any() else 0.0
            filled = np.where(np.isnan(values), median, values)
            std = float(filled.std())
            features.append(
                {
                    "name": str(name),
                    "type": "numeric",
                    "median": median,
                    "mean": float(filled.mean()),
                    "std": std if std > MIN_STD else 1.0,
                }
            )
        else:
            _, keys = category_keys(df_train[name])
            cats = sorted({k for k in keys if k is not None})
            features.append({"name": str(name), "type": "categorical", "categories": cats})
    return {"kind": "tabular", "version": 1, "features": features}


def feature_names(state: dict[str, Any]) -> list[str]:
    """Encoded column names: ``"age"`` for numeric, ``"sex=Male"`` and ``"sex=<unknown>"`` for categorical."""
    names: list[str] = []
    for feat in state["features"]:
        if feat["type"] == "numeric":
            names.append(feat["name"])
        else:
            names.extend(f"{feat['name']}={c}" for c in [*feat["categories"], UNKNOWN])
    return names


def feature_groups(state: dict[str, Any]) -> dict[str, list[int]]:
    """Original feature -> encoded column indices; every encoded column is in exactly one group."""
    groups: dict[str, list[int]] = {}
    start = 0
    for feat in state["features"]:
        width = 1 if feat["type"] == "numeric" else len(feat["categories"]) + 1
        groups[feat["name"]] = list(range(start, start + width))
        start += width
    return groups


def encode_tabular(df: pd.DataFrame, state: dict[str, Any]) -> np.ndarray:
    """Encode raw rows with a fitted tabular state.

    Args:
        df: raw rows holding every feature column of the state (extra columns are ignored).
        state: from :func:`fit_tabular`.

    Returns:
        float32 array (n, d), columns as in :func:`feature_names`.

    Raises:
        InvalidTypeError: ``df`` is not a DataFrame.
        InvalidInputError: a feature column is missing, or a numeric column holds junk or infinities.
    """
    _check_frame(df, "df")
    missing = [f["name"] for f in state["features"] if f["name"] not in df.columns]
    if missing:
        raise InvalidInputError(
            f"The 'df' argument must hold every feature column. Got no column {missing} among "
            f"{describe_value(list(df.columns), 200)}."
        )
    n = len(df)
    groups = feature_groups(state)
    width = sum(len(g) for g in groups.values())
    out = np.zeros((n, width), dtype=np.float32)
    rows = np.arange(n)
    for feat in state["features"]:
        start = groups[feat["name"]][0]
        if feat["type"] == "numeric":
            values = numeric_column(df[feat["name"]], feat["name"])
            values = np.where(np.isnan(values), feat["median"], values)
            out[:, start] = ((values - feat["mean"]) / feat["std"]).astype(np.float32)
        else:
            codes, keys = category_keys(df[feat["name"]])
            lookup = {c: i for i, c in enumerate(feat["categories"])}
            unknown = len(feat["categories"])
            per_key = np.array([lookup.get(k, unknown) if k is not None else unknown for k in keys] + [unknown])
            out[rows, start + per_key[codes]] = 1.0  # code -1 hits the trailing "unknown" entry
    return out
