"""Tabular counterfactual probes: change a sensitive input (its whole one-hot block, or a numeric column moved to
another bin) and measure how many predictions change and by how much. Pure functions over a ``predict_proba``."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.errors import InvalidInputError

__all__ = ["FlipResult", "block_targets", "block_current", "numeric_targets", "counterfactual_flips", "UNKNOWN_CATEGORY"]

UNKNOWN_CATEGORY = "<unknown>"
PredictFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FlipResult:
    """What changing one sensitive input does to the predictions.

    Attributes:
        feature: the sensitive input.
        mode: "one-hot block" or "numeric column".
        n_rows: rows probed.
        flip_rate: share of rows whose predicted class changes under at least one counterfactual value.
        mean_abs_change: mean over (row, counterfactual) of the total-variation distance between the probability
            vectors (for binary models: |change of the positive-class probability|).
        max_abs_change: the largest such change.
        pairs: per (source value, target value): rows, flip rate, mean signed change of the positive-class
            probability (binary) and mean absolute change.
    """

    feature: str
    mode: str
    n_rows: int
    flip_rate: float
    mean_abs_change: float
    max_abs_change: float
    pairs: list[dict[str, Any]] = field(default_factory=list)


def block_targets(feature_names: Sequence[str], columns: Sequence[int], feature: str) -> dict[str, np.ndarray]:
    """One-hot vectors of each category of a block (the ``<unknown>`` column is never a target).

    Example:
        >>> sorted(block_targets(["x", "sex=F", "sex=M"], [1, 2], "sex"))
        ['F', 'M']
    """
    out: dict[str, np.ndarray] = {}
    for pos, col in enumerate(columns):
        label = _category(feature_names, col, feature)
        if label == UNKNOWN_CATEGORY:
            continue
        vec = np.zeros(len(columns), dtype=np.float64)
        vec[pos] = 1.0
        out[label] = vec
    return out


def block_current(x: np.ndarray, feature_names: Sequence[str], columns: Sequence[int], feature: str) -> np.ndarray:
    """Category label of each row: the block's arg-max column."""
    labels = np.asarray([_category(feature_names, c, feature) for c in columns], dtype=object)
    return labels[np.argmax(np.asarray(x)[:, list(columns)], axis=1)]


def _category(feature_names: Sequence[str], col: int, feature: str) -> str:
    name = str(feature_names[col]) if col < len(feature_names) else str(col)
    prefix = f"{feature}="
    return name[len(prefix):] if name.startswith(prefix) else name


def numeric_targets(column: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """For a numeric input: the median encoded value of each group (e.g. age bin) as its counterfactual value."""
    col = np.asarray(column, dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    for label in sorted(set(np.asarray(labels).astype(str))):
        values = col[np.asarray(labels).astype(str) == label]
        if len(values):
            out[label] = np.array([float(np.median(values))])
    return out


def counterfactual_flips(predict_proba: PredictFn, x: np.ndarray, columns: Sequence[int],
                         targets: Mapping[str, np.ndarray], current: np.ndarray, *, feature: str,
                         mode: str = "one-hot block", positive: int | None = 1,
                         base: np.ndarray | None = None) -> FlipResult:
    """Set ``x[:, columns]`` to each target value (for rows not already at it) and compare predictions.

    Args:
        predict_proba: maps inputs (n, d) to probabilities (n, k).
        x: encoded rows (n, d).
        columns: the columns of the sensitive input.
        targets: ``{value label: vector of len(columns)}``.
        current: each row's value label, shape (n,).
        feature: the sensitive input's name (for the result).
        mode: description of the change.
        positive: class whose probability's signed change is reported (None for multiclass).
        base: probabilities of ``x`` when already known.

    Returns:
        ``FlipResult``.

    Raises:
        InvalidInputError: fewer than 2 targets, or shapes that do not match.
    """
    x = np.asarray(x)
    cur = np.asarray(current).astype(str)
    if len(targets) < 2:
        raise InvalidInputError(f"The 'targets' argument must hold at least 2 values to flip between. Got {list(targets)}.")
    if len(cur) != len(x):
        raise InvalidInputError(f"The 'current' argument must have {len(x)} entries like 'x'. Got {len(cur)}.")
    for label, vec in targets.items():
        if np.shape(vec) != (len(columns),):
            raise InvalidInputError(f"The target {label!r} must be a vector of {len(columns)} values. Got shape {np.shape(vec)}.")
    p0 = np.asarray(predict_proba(x) if base is None else base, dtype=np.float64)
    cls0 = p0.argmax(axis=1)
    any_flip = np.zeros(len(x), dtype=bool)
    changes: list[np.ndarray] = []
    pairs: list[dict[str, Any]] = []
    for target, vec in targets.items():
        mask = cur != target
        if not mask.any():
            continue
        xs = x[mask].copy()
        xs[:, list(columns)] = np.asarray(vec, dtype=xs.dtype)
        p1 = np.asarray(predict_proba(xs), dtype=np.float64)
        flipped = p1.argmax(axis=1) != cls0[mask]
        tv = 0.5 * np.abs(p1 - p0[mask]).sum(axis=1)
        delta = None if positive is None else p1[:, positive] - p0[mask][:, positive]
        any_flip[np.flatnonzero(mask)[flipped]] = True
        changes.append(tv)
        for source in sorted(set(cur[mask])):
            rows = cur[mask] == source
            pairs.append({
                "source": source, "target": target, "rows": int(rows.sum()), "flip_rate": float(flipped[rows].mean()),
                "mean_change": None if delta is None else float(delta[rows].mean()),
                "mean_abs_change": float(tv[rows].mean()),
            })
    allc = np.concatenate(changes) if changes else np.zeros(0)
    return FlipResult(feature=feature, mode=mode, n_rows=len(x), flip_rate=float(any_flip.mean()),
                      mean_abs_change=float(allc.mean()) if allc.size else 0.0,
                      max_abs_change=float(allc.max()) if allc.size else 0.0, pairs=pairs)
