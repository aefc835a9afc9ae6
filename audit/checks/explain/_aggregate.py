"""From raw attributions (shaped like the inputs) to the units people read: original tabular features (one-hot
blocks summed back), per-pixel maps, per-token scores, per-time-step scores; global importance with bootstrap
intervals; the report's generic layouts (bars, images, texts)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "to_feature_space",
    "feature_labels",
    "global_importance",
    "patch_importance",
    "token_importance",
    "bars_layout",
    "image_layout",
    "text_layout",
    "downsample",
]


def to_feature_space(attr: np.ndarray, kind: str, groups: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """Readable units per row.

    Args:
        attr: attributions like the inputs: tabular (n, d), image (n, c, h, w), series (n, T[, C]), text (n, L).
        kind: data kind.
        groups: tabular: encoded columns per original feature (their attributions are summed).

    Returns:
        tabular (n, F), image (n, h, w) (channels summed), series (n, T) (channels summed), text (n, L).
    """
    a = np.asarray(attr, dtype=np.float64)
    if kind == "tabular":
        if not groups:
            return a.reshape(len(a), -1)
        flat = a.reshape(len(a), -1)
        return np.stack([flat[:, list(g)].sum(axis=1) for g in groups], axis=1)
    if kind == "image":
        return a.sum(axis=1) if a.ndim == 4 else a
    if kind == "timeseries":
        return a.sum(axis=2) if a.ndim == 3 else a
    return a.reshape(len(a), -1)


def feature_labels(kind: str, shape: tuple[int, ...], group_names: Sequence[str] = ()) -> list[str]:
    """Names of the readable units (tabular features, time steps, token positions); pixels are not named."""
    if kind == "tabular":
        return list(group_names) if group_names else [f"x{j}" for j in range(shape[-1])]
    if kind == "timeseries":
        steps = shape[0]
        return [f"t-{steps - 1 - i}" for i in range(steps)]
    if kind == "text":
        return [f"pos{i}" for i in range(shape[0])]
    return []


def global_importance(values: np.ndarray, n_boot: int, rng: np.random.Generator,
                      level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean |attribution| per feature over rows, with percentile bootstrap intervals over rows.

    Args:
        values: (n, F) attributions in readable units.
        n_boot: bootstrap resamples (0: intervals equal the estimate).
        rng: seeded generator.
        level: interval coverage.

    Returns:
        ``(mean, lower, upper)``, each (F,).
    """
    a = np.abs(np.asarray(values, dtype=np.float64).reshape(len(values), -1))
    mean = a.mean(axis=0)
    if n_boot <= 0 or len(a) < 2:
        return mean, mean.copy(), mean.copy()
    idx = rng.integers(0, len(a), size=(n_boot, len(a)))
    boots = np.stack([a[i].mean(axis=0) for i in idx])
    tail = (1 - level) / 2
    return mean, np.quantile(boots, tail, axis=0), np.quantile(boots, 1 - tail, axis=0)


def patch_importance(maps: np.ndarray, grid: int = 4) -> dict[str, float]:
    """Mean |attribution| per cell of a ``grid`` x ``grid`` partition of per-pixel maps (n, h, w)."""
    a = np.abs(np.asarray(maps, dtype=np.float64))
    h, w = a.shape[1:]
    rows = np.array_split(np.arange(h), min(grid, h))
    cols = np.array_split(np.arange(w), min(grid, w))
    return {f"patch({i},{j})": float(a[:, r][:, :, c].mean()) for i, r in enumerate(rows) for j, c in enumerate(cols)}


def token_importance(scores: np.ndarray, tokens: Sequence[Sequence[str]], top: int = 30) -> dict[str, float]:
    """Mean |score| per distinct token over its occurrences, the ``top`` largest."""
    total: dict[str, float] = {}
    count: dict[str, int] = {}
    for row, toks in zip(np.abs(np.asarray(scores, dtype=np.float64)), tokens):
        for pos, tok in enumerate(toks[: len(row)]):
            total[tok] = total.get(tok, 0.0) + float(row[pos])
            count[tok] = count.get(tok, 0) + 1
    mean = {t: total[t] / count[t] for t in total}
    return dict(sorted(mean.items(), key=lambda kv: (-kv[1], kv[0]))[:top])


def downsample(image: np.ndarray, size: int = 28) -> np.ndarray:
    """Block-average a 2-D map down to at most ``size`` x ``size``."""
    a = np.asarray(image, dtype=np.float64)
    fh, fw = max(1, int(np.ceil(a.shape[0] / size))), max(1, int(np.ceil(a.shape[1] / size)))
    if fh == 1 and fw == 1:
        return a
    h, w = (a.shape[0] // fh) * fh, (a.shape[1] // fw) * fw
    return a[:h, :w].reshape(h // fh, fh, w // fw, fw).mean(axis=(1, 3))


def bars_layout(title: str, labels: Sequence[str], values: np.ndarray, lower: np.ndarray | None = None,
                upper: np.ndarray | None = None, top: int | None = None) -> dict[str, Any]:
    """A "bars" metric sorted by value (largest first), optionally cut to the ``top`` entries."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(-values, kind="stable")[: top or len(values)]
    out: dict[str, Any] = {"title": title, "labels": [str(labels[i]) for i in order],
                           "values": [float(values[i]) for i in order]}
    if lower is not None and upper is not None:
        out["lower"] = [float(lower[i]) for i in order]
        out["upper"] = [float(upper[i]) for i in order]
    return out


def image_layout(title: str, caption: str, heat: np.ndarray, base: np.ndarray | None) -> dict[str, Any]:
    """An "images" metric: signed heatmap over the grayscale base image (both at most 28 x 28)."""
    out: dict[str, Any] = {"title": title, "caption": caption, "kind": "overlay" if base is not None else "heatmap",
                           "data": np.round(downsample(heat), 6).tolist()}
    if base is not None:
        out["base"] = np.round(np.clip(downsample(base), 0, 1), 4).tolist()
    return out


def text_layout(title: str, tokens: Sequence[str], scores: np.ndarray, caption: str) -> dict[str, Any]:
    """A "texts" metric: tokens with their scores."""
    return {"title": title, "tokens": [str(t) for t in tokens],
            "scores": [float(s) for s in np.asarray(scores, dtype=np.float64)[: len(tokens)]], "caption": caption}
