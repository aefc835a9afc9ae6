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

from typing import Any

import numpy as np

from models._loaders_prep_seq import (
    PAD_ID,
    TOKEN_PATTERN,
    UNK_ID,
    encode_series,
    encode_text,
    encode_windows,
    fit_series,
    fit_text,
    fit_windows,
    make_windows,
    standardize_series,
    tokenize,
)
from models._loaders_prep_tabular import (
    UNKNOWN,
    category_keys,
    encode_tabular,
    feature_groups,
    feature_names,
    fit_tabular,
    numeric_column,
)
from models.errors import InvalidInputError, InvalidTypeError, UnknownNameError

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

STATE_KINDS: tuple[str, ...] = ("tabular", "text", "timeseries", "image")


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
            f"The 'x' argument must hold values in [0, {state['scale']:g}]. "
            f"Got values from {float(np.nanmin(array))!r} to "
            f"{float(np.nanmax(array))!r} (or non-finite) instead."
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
