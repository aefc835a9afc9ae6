"""Small images as pixels: grayscale, signed heat maps and heat-map overlays -> RGB arrays -> PNG data URIs.

Built with numpy and zlib only (no matplotlib), so a report embeds each image as a few hundred bytes.
"""
from __future__ import annotations

import base64
import struct
import zlib
from typing import Any, Literal

import numpy as np

from audit.errors import InvalidInputError

__all__ = ["ImageKind", "as_image_array", "image_rgb", "png_bytes", "png_data_uri", "POSITIVE_RGB", "NEGATIVE_RGB"]

ImageKind = Literal["heatmap", "grayscale", "overlay"]
POSITIVE_RGB = np.array([214.0, 39.0, 40.0])    # red: evidence for the class
NEGATIVE_RGB = np.array([31.0, 119.0, 180.0])   # blue: evidence against
_MAX_ALPHA = 0.85
_ROBUST_PERCENTILE = 99.0
_ROBUST_MIN_PIXELS = 64


def as_image_array(data: Any, argument: str = "data") -> np.ndarray:
    """A 2-D float array from a nested list (``None`` -> NaN).

    Args:
        data: a rectangular 2-D list (h x w) of numbers or None.
        argument: the argument name used in error messages.

    Returns:
        float64 array of shape (h, w).

    Raises:
        InvalidInputError: ``data`` is not a non-empty rectangular 2-D grid of numbers.
    """
    try:
        arr = np.array(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"The '{argument}' of an image must be a rectangular 2-D list of numbers. Got an invalid grid ({exc})."
        ) from exc
    if arr.ndim != 2 or arr.size == 0:
        raise InvalidInputError(
            f"The '{argument}' of an image must be a non-empty 2-D list (h x w). Got shape {arr.shape}."
        )
    return arr


def _signed_alpha(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel colour (red/blue by sign) and opacity (|v| / scale, clipped to 1).

    The scale is max |v| for small grids; from 64 pixels on it is the 99th percentile of |v|, so that a handful of
    extreme pixels (common in gradient maps) do not fade every other pixel to nothing.
    """
    v = np.nan_to_num(values, nan=0.0)
    magnitude = np.abs(v)
    scale = float(np.percentile(magnitude, _ROBUST_PERCENTILE)) if magnitude.size >= _ROBUST_MIN_PIXELS else 0.0
    scale = scale or float(np.max(magnitude)) or 1.0
    alpha = np.clip(magnitude / scale, 0.0, 1.0)[..., None] * _MAX_ALPHA
    colour = np.where(v[..., None] >= 0, POSITIVE_RGB, NEGATIVE_RGB)
    return colour, alpha


def image_rgb(data: Any, *, kind: str = "grayscale", base: Any = None) -> np.ndarray:
    """Pixels of one convention image (``metrics[...]["images"][key]``).

    Args:
        data: 2-D list or array; grayscale in [0, 1] (clipped), heat maps signed (scaled by their max |value|).
        kind: "grayscale", "heatmap" (signed, on white) or "overlay" (signed, on top of ``base``). Heat maps are
            scaled by max |value| (by the 99th percentile of |value| from 64 pixels on).
        base: the grayscale image under an overlay (same shape as ``data``); white when absent.

    Returns:
        uint8 array (h, w, 3).

    Raises:
        InvalidInputError: bad grid, unknown ``kind`` or a ``base`` of another shape.

    Example:
        >>> image_rgb([[0.0, 1.0]], kind="grayscale").tolist()
        [[[0, 0, 0], [255, 255, 255]]]
    """
    values = as_image_array(data)
    if kind == "grayscale":
        gray = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0) * 255.0
        return np.repeat(gray[..., None], 3, axis=2).round().astype(np.uint8)
    if kind not in ("heatmap", "overlay"):
        raise InvalidInputError(f"The 'kind' of an image must be 'heatmap', 'grayscale' or 'overlay'. Got {kind!r}.")
    if kind == "overlay" and base is not None:
        under = np.clip(np.nan_to_num(as_image_array(base, "base"), nan=0.0), 0.0, 1.0)
        if under.shape != values.shape:
            raise InvalidInputError(
                f"The 'base' of an overlay must have the shape of its 'data' {values.shape}. Got {under.shape}."
            )
        # Compress the base into light greys: the shape stays visible and the colours readable on every pixel.
        background = np.repeat((0.45 + 0.55 * under)[..., None] * 255.0, 3, axis=2)
    else:
        background = np.full(values.shape + (3,), 255.0)
    colour, alpha = _signed_alpha(values)
    out = background * (1.0 - alpha) + colour * alpha
    return np.clip(out.round(), 0, 255).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an (h, w, 3) uint8 array as a PNG file (8-bit RGB, no interlace).

    Raises:
        InvalidInputError: ``rgb`` is not an (h, w, 3) uint8 array.
    """
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise InvalidInputError(f"The 'rgb' argument must be an (h, w, 3) uint8 array. Got {arr.dtype} {arr.shape}.")
    height, width = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[row].tobytes() for row in range(height))

    def chunk(tag: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(tag + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def png_data_uri(rgb: np.ndarray) -> str:
    """``data:image/png;base64,...`` for an (h, w, 3) uint8 array."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(rgb)).decode("ascii")
