"""Group and performance metrics over data larger than memory, accumulated chunk by chunk.

Only counts are kept (a confusion matrix per group), so memory is O(groups x classes^2) whatever the row count.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.errors import InvalidInputError

__all__ = ["StreamingConfusion", "stream_metrics", "metrics_from_confusion"]


@dataclass
class StreamingConfusion:
    """Confusion matrices per group, updated one chunk at a time.

    Attributes:
        n_classes: number of classes.
        counts: group label -> (n_classes x n_classes) int64 matrix, rows true, columns predicted.
    """

    n_classes: int
    counts: dict[str, np.ndarray] = field(default_factory=dict)

    def update(self, y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray | None = None) -> None:
        """Add one chunk (``groups``: one label per row, or None for a single group "all")."""
        y_true = np.asarray(y_true, dtype=np.int64)
        y_pred = np.asarray(y_pred, dtype=np.int64)
        if y_true.shape != y_pred.shape:
            raise InvalidInputError(f"'y_true' and 'y_pred' must have the same length. Got {len(y_true)} and {len(y_pred)}.")
        for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
            if len(arr) and (arr.min() < 0 or arr.max() >= self.n_classes):
                raise InvalidInputError(f"'{name}' must hold class indices in [0, {self.n_classes}). Got {arr.min()}..{arr.max()}.")
        k = self.n_classes
        if groups is None:
            labels, inverse = np.array(["all"]), np.zeros(len(y_true), dtype=np.int64)
        else:
            groups = np.asarray(groups).astype(str)
            if len(groups) != len(y_true):
                raise InvalidInputError(f"'groups' must have one label per row ({len(y_true)}). Got {len(groups)}.")
            labels, inverse = np.unique(groups, return_inverse=True)
        flat = np.bincount((inverse * k + y_true) * k + y_pred, minlength=len(labels) * k * k)
        for i, label in enumerate(labels):
            block = flat[i * k * k : (i + 1) * k * k].reshape(k, k)
            self.counts[str(label)] = self.counts.get(str(label), np.zeros((k, k), np.int64)) + block

    def total(self) -> np.ndarray:
        """The confusion matrix over every group."""
        return sum(self.counts.values(), np.zeros((self.n_classes, self.n_classes), np.int64))

    def metrics(self) -> dict[str, Any]:
        """Overall and per-group metrics (see ``metrics_from_confusion``)."""
        return {"overall": metrics_from_confusion(self.total()),
                "groups": {g: metrics_from_confusion(c) for g, c in sorted(self.counts.items())}}


def metrics_from_confusion(cm: np.ndarray) -> dict[str, float]:
    """Count, accuracy, macro precision/recall/F1 and (binary) selection rate, TPR, FPR from a confusion matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    n = cm.sum()
    tp = np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(cm.sum(0) > 0, tp / cm.sum(0), 0.0)
        recall = np.where(cm.sum(1) > 0, tp / cm.sum(1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = cm.sum(1) > 0
    out = {"count": float(n), "accuracy": float(tp.sum() / n) if n else float("nan"),
           "precision_macro": float(precision[present].mean()) if present.any() else float("nan"),
           "recall_macro": float(recall[present].mean()) if present.any() else float("nan"),
           "f1_macro": float(f1[present].mean()) if present.any() else float("nan")}
    if cm.shape == (2, 2):
        out["selection_rate"] = float(cm[:, 1].sum() / n) if n else float("nan")
        out["tpr"] = float(cm[1, 1] / cm[1].sum()) if cm[1].sum() else float("nan")
        out["fpr"] = float(cm[0, 1] / cm[0].sum()) if cm[0].sum() else float("nan")
    return out


def stream_metrics(chunks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
                   predict: Callable[[np.ndarray], np.ndarray], n_classes: int) -> StreamingConfusion:
    """Score ``(x, y, groups)`` chunks with ``predict`` (class indices) and accumulate per-group confusion."""
    acc = StreamingConfusion(n_classes)
    for x, y, groups in chunks:
        acc.update(y, predict(x), groups)
    return acc


def iter_chunks(n: int, size: int) -> Iterator[slice]:
    """Slices covering 0..n in chunks of ``size``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))
