"""Sequence preprocessing: word-id text encoding and standardised timeseries windows (see
``models.preprocessing``)."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from models._loaders_prep_tabular import MIN_STD
from models.errors import InvalidInputError, InvalidTypeError, describe_value

__all__ = ["TOKEN_PATTERN", "PAD_ID", "UNK_ID", "tokenize", "fit_text", "encode_text", "fit_series",
           "standardize_series", "make_windows", "encode_series", "fit_windows", "encode_windows", "as_array"]

TOKEN_PATTERN = r"\w+(?:'\w+)*"
PAD_ID = 0
UNK_ID = 1


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
def as_array(values: object, arg: str, ndims: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(
            f"The {arg!r} argument must be an array of numbers. Got {describe_value(values)}."
        ) from exc
    if array.ndim not in ndims:
        raise InvalidInputError(
            f"The {arg!r} argument must have {' or '.join(map(str, ndims))} dimensions. "
            f"Got shape {array.shape} instead."
        )
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"The {arg!r} argument must hold finite numbers (no NaN or inf). Got {float(array[where])!r} at index "
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
    values = as_array(values_train, "values_train", (1,))
    if len(values) < 2:
        raise InvalidInputError(
            f"The 'values_train' argument must hold at least 2 values. Got {len(values)} instead."
        )
    std = float(values.std())
    return {
        "kind": "timeseries",
        "version": 1,
        "input": "series",
        "window": window,
        "channels": 1,
        "mean": float(values.mean()),
        "std": std if std > MIN_STD else 1.0,
    }


def standardize_series(values: Sequence[float] | np.ndarray, state: dict[str, Any]) -> np.ndarray:
    """``(values - mean) / std`` with the training statistics of a series state, float32, 1-D."""
    array = as_array(values, "values", (1,))
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
    array = as_array(series, "series", (1,)).astype(np.float32)
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
    array = as_array(x, arg, (2, 3))
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
        "std": [float(v) if v > MIN_STD else 1.0 for v in std],
    }


def encode_windows(x: np.ndarray, state: dict[str, Any]) -> np.ndarray:
    """Standardise windows per channel with a ``fit_windows`` state; float32 (n, window, channels)."""
    array = _as_windows(x, "x")
    expected = (int(state["window"]), int(state["channels"]))
    if tuple(array.shape[1:]) != expected:
        raise InvalidInputError(
            f"The 'x' argument must have windows of shape (window, channels) = {expected}. "
            f"Got {array.shape[1:]} instead."
        )
    return ((array - np.asarray(state["mean"])) / np.asarray(state["std"])).astype(np.float32)
