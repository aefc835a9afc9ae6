"""Fitted preprocessing as plain, JSON-serialisable state (a ``dict``) and pure encode functions.

Every ``fit_*`` function returns a dict with a ``"kind"`` key; :func:`encode` dispatches on it, so raw rows can be
scored later from a checkpoint that carries only the state::

    state = fit_tabular(df_train, numeric=["age"], categorical=["sex"])
    x = encode(df_new, state)            # float32 (n, d), same columns as at training time

Kinds and their raw inputs:
- ``"tabular"``: a ``DataFrame``; numeric columns are median-imputed then standard-scaled, categorical columns are
  one-hot encoded with one extra ``"<unknown>"`` column per feature for missing and unseen values.
- ``"text"``: a list of strings; lowercase regex word tokens, ids 0 = padding, 1 = unknown, vocabulary by
  frequency on the training texts only, truncated / right-padded to ``max_len``.
- ``"timeseries"``: ``input == "series"``: a 1-D series, standardised with the training mean / std and cut into
  every full window; ``input == "windows"``: windows (n, window[, channels]) standardised per channel.
- ``"image"``: (n, h, w) or (n, c, h, w) arrays divided by ``scale`` (255 for uint8 pixels) to float32 in [0, 1].
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.errors import InvalidInputError, InvalidTypeError, UnknownNameError, describe_value

__all__ = [
    "UNKNOWN",
    "TOKEN_PATTERN",
    "PAD_ID",
    "UNK_ID",
    "STATE_KINDS",
    "numeric_column",
    "category_keys",
    "fit_tabular",
    "encode_tabular",
    "feature_names",
    "feature_groups",
    "tokenize",
    "fit_text",
    "encode_text",
    "fit_series",
    "standardize_series",
    "make_windows",
    "encode_series",
    "fit_windows",
    "encode_windows",
    "image_state",
    "encode_image",
    "encode",
]

UNKNOWN = "<unknown>"
TOKEN_PATTERN = r"\w+(?:'\w+)*"
PAD_ID = 0
UNK_ID = 1
STATE_KINDS: tuple[str, ...] = ("tabular", "text", "timeseries", "image")
_MIN_STD = 1e-12


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
            f"Column {name!r} must hold finite numbers. Got {values[row]!r} in row {row} instead."
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
        raise InvalidInputError(f"A feature cannot be both numeric and categorical. Got {both} in both lists instead.")
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
                    "std": std if std > _MIN_STD else 1.0,
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


# -------------------------------------------------------------------------------------------------------- text
def _check_texts(texts: object, arg: str) -> list[str]:
    if isinstance(texts, (str, bytes)) or not isinstance(texts, (Sequence, np.ndarray, pd.Series)):
        raise InvalidTypeError(
            f"The {arg!r} argument must be a list of strings. Got {type(texts).__name__} instead."
        )
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise InvalidInputError(
                f"Every item of {arg!r} must be a string. Got {describe_value(text)} at position {i} instead."
            )
    return out


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens (``TOKEN_PATTERN``: letters/digits, inner apostrophes kept)."""
    return re.findall(TOKEN_PATTERN, text.lower())


def fit_text(texts: Sequence[str], max_vocab: int = 20_000, max_len: int = 64, min_freq: int = 1) -> dict[str, Any]:
    """Build a vocabulary from training texts only.

    Args:
        texts: training texts.
        max_vocab: total vocabulary size including the padding and unknown ids (>= 3).
        max_len: token ids per text (longer texts are truncated, shorter ones right-padded with 0).
        min_freq: tokens seen fewer times are left out (they map to the unknown id 1).

    Returns:
        ``{"kind": "text", "vocab": [...], "vocab_size", "max_len", ...}``; token ``vocab[i]`` has id ``i + 2``,
        ordered by decreasing frequency then alphabetically.

    Raises:
        InvalidTypeError: ``texts`` is not a list of strings.
        InvalidInputError: empty ``texts`` or a size argument out of range.

    Example:
        >>> encode_text(["a b"], fit_text(["a a b"], max_len=3)).tolist()
        [[2, 3, 0]]
    """
    items = _check_texts(texts, "texts")
    if not items:
        raise InvalidInputError("The 'texts' argument must hold at least 1 text. Got 0 texts instead.")
    for arg, value, low in (("max_vocab", max_vocab, 3), ("max_len", max_len, 1), ("min_freq", min_freq, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InvalidInputError(f"The {arg!r} argument must be an int >= {low}. Got {value!r} instead.")
    counts = Counter(token for text in items for token in tokenize(text))
    ranked = sorted((kv for kv in counts.items() if kv[1] >= min_freq), key=lambda kv: (-kv[1], kv[0]))
    vocab = [token for token, _ in ranked[: int(max_vocab) - 2]]
    return {
        "kind": "text",
        "version": 1,
        "pattern": TOKEN_PATTERN,
        "lowercase": True,
        "max_len": int(max_len),
        "pad_id": PAD_ID,
        "unk_id": UNK_ID,
        "vocab": vocab,
        "vocab_size": len(vocab) + 2,
    }


def encode_text(texts: Sequence[str], state: dict[str, Any]) -> np.ndarray:
    """Token ids (int64, shape (n, max_len)) of ``texts`` under a fitted text state.

    Raises:
        InvalidTypeError: ``texts`` is not a list of strings.
        InvalidInputError: an item is not a string.
    """
    items = _check_texts(texts, "texts")
    lookup = {token: i + 2 for i, token in enumerate(state["vocab"])}
    max_len = int(state["max_len"])
    out = np.full((len(items), max_len), PAD_ID, dtype=np.int64)
    for row, text in enumerate(items):
        ids = [lookup.get(token, UNK_ID) for token in re.findall(state["pattern"], text.lower())[:max_len]]
        out[row, : len(ids)] = ids
    return out


# -------------------------------------------------------------------------------------------------- timeseries
def _as_array(values: object, arg: str, ndims: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(f"The {arg!r} argument must be an array of numbers. Got {describe_value(values)}.") from exc
    if array.ndim not in ndims:
        raise InvalidInputError(
            f"The {arg!r} argument must have {' or '.join(map(str, ndims))} dimensions. Got shape {array.shape} instead."
        )
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"The {arg!r} argument must hold finite numbers (no NaN or inf). Got {array[where]!r} at index "
            f"{where} ({int(bad.sum())} such values) instead."
        )
    return array


def _check_window(window: object) -> int:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise InvalidInputError(f"The 'window' argument must be an int >= 1. Got {window!r} instead.")
    return int(window)


def fit_series(values_train: Sequence[float] | np.ndarray, window: int) -> dict[str, Any]:
    """Training mean and population std of a 1-D series, and the window length.

    Returns:
        ``{"kind": "timeseries", "input": "series", "window", "channels": 1, "mean", "std"}``.

    Raises:
        InvalidInputError: not 1-D, non-finite values, fewer than 2 values or a bad window.
    """
    window = _check_window(window)
    values = _as_array(values_train, "values_train", (1,))
    if len(values) < 2:
        raise InvalidInputError(f"The 'values_train' argument must hold at least 2 values. Got {len(values)} instead.")
    std = float(values.std())
    return {
        "kind": "timeseries",
        "version": 1,
        "input": "series",
        "window": window,
        "channels": 1,
        "mean": float(values.mean()),
        "std": std if std > _MIN_STD else 1.0,
    }


def standardize_series(values: Sequence[float] | np.ndarray, state: dict[str, Any]) -> np.ndarray:
    """``(values - mean) / std`` with the training statistics of a series state, float32, 1-D."""
    array = _as_array(values, "values", (1,))
    return ((array - state["mean"]) / state["std"]).astype(np.float32)


def make_windows(series: Sequence[float] | np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows and next-step targets over an (already standardised) series.

    Args:
        series: 1-D values.
        window: inputs per sample.

    Returns:
        ``x`` float32 (n, window, 1) with ``x[i, :, 0] == series[i:i + window]`` and ``y`` float32 (n,) with
        ``y[i] == series[i + window]``, where ``n = len(series) - window``.

    Raises:
        InvalidInputError: the series is not longer than the window.
    """
    window = _check_window(window)
    array = _as_array(series, "series", (1,)).astype(np.float32)
    if len(array) <= window:
        raise InvalidInputError(
            f"The 'series' argument must be longer than the window ({window}). Got {len(array)} values instead."
        )
    x = np.lib.stride_tricks.sliding_window_view(array[:-1], window).copy()
    return x[:, :, None], array[window:].copy()


def encode_series(values: Sequence[float] | np.ndarray, state: dict[str, Any]) -> np.ndarray:
    """Every full window (n - window + 1, window, 1) of a raw series, standardised with the state.

    The last window ends at the last value: a model's output on it forecasts the next, unseen value.
    """
    z = standardize_series(values, state)
    window = int(state["window"])
    if len(z) < window:
        raise InvalidInputError(f"The 'values' argument must hold at least {window} values. Got {len(z)} instead.")
    return np.lib.stride_tricks.sliding_window_view(z, window).copy()[:, :, None]


def _as_windows(x: object, arg: str) -> np.ndarray:
    array = _as_array(x, arg, (2, 3))
    return array[:, :, None] if array.ndim == 2 else array


def fit_windows(x_train: np.ndarray) -> dict[str, Any]:
    """Per-channel training mean / std of windows (n, window) or (n, window, channels).

    Returns:
        ``{"kind": "timeseries", "input": "windows", "window", "channels", "mean": [...], "std": [...]}``.
    """
    array = _as_windows(x_train, "x_train")
    if len(array) == 0:
        raise InvalidInputError("The 'x_train' argument must hold at least 1 window. Got 0 instead.")
    std = array.std(axis=(0, 1))
    return {
        "kind": "timeseries",
        "version": 1,
        "input": "windows",
        "window": int(array.shape[1]),
        "channels": int(array.shape[2]),
        "mean": [float(v) for v in array.mean(axis=(0, 1))],
        "std": [float(v) if v > _MIN_STD else 1.0 for v in std],
    }


def encode_windows(x: np.ndarray, state: dict[str, Any]) -> np.ndarray:
    """Standardise windows per channel with a ``fit_windows`` state; float32 (n, window, channels)."""
    array = _as_windows(x, "x")
    expected = (int(state["window"]), int(state["channels"]))
    if tuple(array.shape[1:]) != expected:
        raise InvalidInputError(
            f"The 'x' argument must have windows of shape (window, channels) = {expected}. Got {array.shape[1:]} instead."
        )
    return ((array - np.asarray(state["mean"])) / np.asarray(state["std"])).astype(np.float32)


# ------------------------------------------------------------------------------------------------------- image
def image_state(channels: int, height: int, width: int, scale: float = 255.0) -> dict[str, Any]:
    """State of an image encoding: expected (channels, height, width) and the divisor mapping raw values to [0, 1]."""
    return {"kind": "image", "version": 1, "channels": int(channels), "height": int(height), "width": int(width),
            "scale": float(scale)}


def encode_image(x: np.ndarray, state: dict[str, Any]) -> np.ndarray:
    """Raw images (n, h, w) or (n, c, h, w) -> float32 (n, c, h, w) in [0, 1] (``x / scale``).

    Raises:
        InvalidInputError: wrong shape, non-finite values or values outside [0, scale].
    """
    array = np.asarray(x)
    if array.dtype.kind not in "uif":
        raise InvalidTypeError(f"The 'x' argument must be a numeric array. Got dtype {array.dtype} instead.")
    shape = (int(state["channels"]), int(state["height"]), int(state["width"]))
    if array.ndim == 3 and shape[0] == 1:
        array = array[:, None]
    if array.ndim != 4 or tuple(array.shape[1:]) != shape:
        raise InvalidInputError(
            f"The 'x' argument must have shape (n, {shape[0]}, {shape[1]}, {shape[2]})"
            f"{f' or (n, {shape[1]}, {shape[2]})' if shape[0] == 1 else ''}. Got {array.shape} instead."
        )
    out = array.astype(np.float32) / np.float32(state["scale"])
    if out.size and not (np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0):
        raise InvalidInputError(
            f"The 'x' argument must hold values in [0, {state['scale']:g}]. Got values from {np.nanmin(array)!r} to "
            f"{np.nanmax(array)!r} (or non-finite) instead."
        )
    return out


# ---------------------------------------------------------------------------------------------------- dispatch
def encode(raw: Any, state: dict[str, Any]) -> np.ndarray:
    """Encode raw inputs with any fitted state, dispatching on ``state["kind"]``.

    Args:
        raw: a DataFrame (tabular), a list of strings (text), a 1-D series or windows (timeseries), images (image).
        state: a fitted state (e.g. ``Dataset.preprocessing`` or a checkpoint's copy of it).

    Returns:
        The model-ready array, exactly as the loaders encode their splits.

    Raises:
        InvalidTypeError: ``state`` is not a dict.
        UnknownNameError: ``state["kind"]`` is not one of ``STATE_KINDS``.
    """
    if not isinstance(state, dict):
        raise InvalidTypeError(f"The 'state' argument must be a dict. Got {type(state).__name__} instead.")
    kind = state.get("kind")
    if kind == "tabular":
        return encode_tabular(raw, state)
    if kind == "text":
        return encode_text(raw, state)
    if kind == "image":
        return encode_image(raw, state)
    if kind == "timeseries":
        return encode_series(raw, state) if state.get("input") == "series" else encode_windows(raw, state)
    raise UnknownNameError(f"The 'state' argument's 'kind' must be one of {list(STATE_KINDS)}. Got {kind!r} instead.")
