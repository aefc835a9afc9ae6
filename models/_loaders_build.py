"""Turn raw data plus split indices into the parts of a ``Dataset`` (fitting preprocessing on train only).

The builders return a plain ``dict`` whose keys are the ``Dataset`` fields and whose ``train`` / ``val`` / ``test``
values are dicts of ``Split`` fields. This module does not import ``models.dataset``, so ``Dataset``'s own
classmethods can use it without an import cycle; :func:`models.datasets.assemble` (or the classmethods) turn the
parts into objects.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from models import preprocessing as pp
from models._loaders_split import SPLITS

__all__ = ["tabular_parts", "text_parts", "image_parts", "series_parts", "windows_parts", "sizes_metadata"]

Parts = dict[str, Any]


def _take(frame: pd.DataFrame, idx: np.ndarray) -> pd.DataFrame:
    return frame.iloc[idx].reset_index(drop=True)


def _targets(y: np.ndarray, splits: dict[str, np.ndarray], task: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per-split targets: int64 classes, or float32 regression targets standardised with train statistics."""
    if task != "regression":
        return {s: np.asarray(y[idx], dtype=np.int64) for s, idx in splits.items()}, {}
    values = np.asarray(y, dtype=np.float64)
    mean = float(values[splits["train"]].mean())
    std = float(values[splits["train"]].std())
    std = std if std > 1e-12 else 1.0
    scaled = {s: ((values[idx] - mean) / std).astype(np.float32) for s, idx in splits.items()}
    return scaled, {"mean": mean, "std": std}


def sizes_metadata(splits: dict[str, np.ndarray], y: np.ndarray | None, task: str, n_classes: int) -> dict[str, Any]:
    """Row counts per split and, for classification, class counts per split."""
    meta: dict[str, Any] = {"sizes": {s: int(len(splits[s])) for s in SPLITS}}
    if y is not None and task != "regression":
        meta["class_counts"] = {
            s: [int(v) for v in np.bincount(np.asarray(y[splits[s]], dtype=np.int64), minlength=n_classes)]
            for s in SPLITS
        }
    return meta


def _target_state(state: dict[str, Any], target: str, task: str, class_names: Sequence[str],
                  scaling: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {"name": target, "task": task}
    if task == "regression":
        info.update(scaling)
    else:
        info["classes"] = list(class_names)
    return {**state, "target": info}


def _assemble_parts(
    *, name: str, kind: str, task: str, xs: dict[str, np.ndarray], ys: dict[str, np.ndarray],
    sensitive: pd.DataFrame, raws: dict[str, pd.DataFrame | None], splits: dict[str, np.ndarray],
    class_names: Sequence[str], state: dict[str, Any], metadata: dict[str, Any], y_all: np.ndarray | None,
    scaling: dict[str, Any], **extra: Any,
) -> Parts:
    meta = {**metadata, **sizes_metadata(splits, y_all, task, len(class_names))}
    meta["n_rows"] = int(sum(map(len, xs.values())))
    if scaling:
        meta["y_scaling"] = scaling
    return {
        "name": name,
        "kind": kind,
        "task": task,
        **{
            s: {"x": xs[s], "y": ys[s], "sensitive": _take(sensitive, splits[s]), "raw": raws[s]}
            for s in SPLITS
        },
        "class_names": [str(c) for c in class_names] if task != "regression" else [],
        "sensitive_features": [str(c) for c in sensitive.columns],
        "preprocessing": _target_state(state, metadata.get("target", "y"), task, class_names, scaling),
        "metadata": meta,
        **extra,
    }


def tabular_parts(
    *, name: str, features: pd.DataFrame, y: np.ndarray, task: str, class_names: Sequence[str],
    numeric: Sequence[str], categorical: Sequence[str], sensitive: pd.DataFrame, splits: dict[str, np.ndarray],
    metadata: dict[str, Any],
) -> Parts:
    """Fit :func:`models.preprocessing.fit_tabular` on the train rows and encode every split.

    Args:
        name: data set name.
        features: raw feature columns, one row per sample (kept as ``split.raw``).
        y: targets per row (class indices, or raw regression values standardised here with train statistics).
        task: ``"binary" | "multiclass" | "regression"``.
        class_names: one per class (ignored for regression).
        numeric, categorical: feature names by type.
        sensitive: raw sensitive columns, one row per sample.
        splits: disjoint row indices per split.
        metadata: facts to record (``"target"`` names the target column).

    Returns:
        Dataset parts.
    """
    state = pp.fit_tabular(_take(features, splits["train"]), numeric, categorical)
    raws = {s: _take(features, idx) for s, idx in splits.items()}
    xs = {s: pp.encode_tabular(raws[s], state) for s in SPLITS}
    ys, scaling = _targets(y, splits, task)
    return _assemble_parts(
        name=name, kind="tabular", task=task, xs=xs, ys=ys, sensitive=sensitive, raws=raws, splits=splits,
        class_names=class_names, state=state, metadata=metadata, y_all=y, scaling=scaling,
        feature_names=pp.feature_names(state), feature_groups=pp.feature_groups(state),
        continuous_features=[f["name"] for f in state["features"] if f["type"] == "numeric"],
    )


def text_parts(
    *, name: str, texts: Sequence[str], y: np.ndarray, task: str, class_names: Sequence[str], sensitive: pd.DataFrame,
    splits: dict[str, np.ndarray], max_vocab: int, max_len: int, metadata: dict[str, Any],
) -> Parts:
    """Fit the vocabulary on the train texts and encode every split (raw sentences kept in ``raw["text"]``)."""
    array = np.asarray(list(texts), dtype=object)
    state = pp.fit_text(list(array[splits["train"]]), max_vocab=max_vocab, max_len=max_len)
    raws = {s: pd.DataFrame({"text": list(array[idx])}) for s, idx in splits.items()}
    xs = {s: pp.encode_text(list(raws[s]["text"]), state) for s in SPLITS}
    ys, scaling = _targets(y, splits, task)
    meta = {**metadata, "vocab_size": state["vocab_size"], "max_len": state["max_len"]}
    return _assemble_parts(
        name=name, kind="text", task=task, xs=xs, ys=ys, sensitive=sensitive, raws=raws, splits=splits,
        class_names=class_names, state=state, metadata=meta, y_all=y, scaling=scaling,
    )


def image_parts(
    *, name: str, images: np.ndarray, y: np.ndarray, task: str, class_names: Sequence[str], sensitive: pd.DataFrame,
    splits: dict[str, np.ndarray], scale: float, metadata: dict[str, Any],
) -> Parts:
    """Encode raw images ((n, h, w) or (n, c, h, w), values in [0, scale]) to float32 (n, c, h, w) in [0, 1]."""
    shape = images.shape[1:] if images.ndim == 4 else (1, *images.shape[1:])
    state = pp.image_state(*shape, scale=scale)
    xs = {s: pp.encode_image(images[idx], state) for s, idx in splits.items()}
    ys, scaling = _targets(y, splits, task)
    return _assemble_parts(
        name=name, kind="image", task=task, xs=xs, ys=ys, sensitive=sensitive, raws=dict.fromkeys(SPLITS),
        splits=splits, class_names=class_names, state=state, metadata=metadata, y_all=y, scaling=scaling,
    )


def series_parts(
    *, name: str, values: np.ndarray, window: int, targets: dict[str, np.ndarray], metadata: dict[str, Any],
) -> Parts:
    """Forecasting windows over one series: ``targets`` holds the positions of the predicted values per split.

    Train, val and test target positions are consecutive blocks; a window is the ``window`` values before its
    target (so the first val / test windows reach back into the previous split, as in real forecasting). The mean
    and std come from the values the train windows and targets touch, never from later values.
    """
    first, last_train = int(targets["train"][0]), int(targets["train"][-1])
    state = pp.fit_series(values[first - window : last_train + 1], window)
    end = int(max(int(t[-1]) for t in targets.values()))
    x_all, y_all = pp.make_windows(pp.standardize_series(values[first - window : end + 1], state), window)
    xs = {s: x_all[t - first] for s, t in targets.items()}
    ys = {s: y_all[t - first] for s, t in targets.items()}
    scaling = {"mean": state["mean"], "std": state["std"]}
    positions = {s: [int(t[0]), int(t[-1]) + 1] for s, t in targets.items()}  # [start, stop) per split
    meta = {**metadata, "window": window, "target_positions": positions}
    n = sum(map(len, targets.values()))
    return _assemble_parts(
        name=name, kind="timeseries", task="regression", xs=xs, ys=ys, sensitive=pd.DataFrame(index=range(n)),
        raws=dict.fromkeys(SPLITS), splits={s: t - first for s, t in targets.items()}, class_names=[], state=state,
        metadata=meta, y_all=None, scaling=scaling,
    )


def windows_parts(
    *, name: str, windows: np.ndarray, y: np.ndarray, task: str, class_names: Sequence[str], sensitive: pd.DataFrame,
    splits: dict[str, np.ndarray], metadata: dict[str, Any],
) -> Parts:
    """User windows (n, window, channels): per-channel scaling fitted on the train windows."""
    state = pp.fit_windows(windows[splits["train"]])
    xs = {s: pp.encode_windows(windows[idx], state) for s, idx in splits.items()}
    ys, scaling = _targets(y, splits, task)
    meta = {**metadata, "window": state["window"]}
    return _assemble_parts(
        name=name, kind="timeseries", task=task, xs=xs, ys=ys, sensitive=sensitive, raws=dict.fromkeys(SPLITS),
        splits=splits, class_names=class_names, state=state, metadata=meta, y_all=y, scaling=scaling,
    )
