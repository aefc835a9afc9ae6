"""Where an attack or a corruption may move the inputs, and in which units its budget is counted.

- tabular: only continuous features move (``dataset.continuous_features`` mapped through ``feature_groups``); one-hot
  blocks and sensitive attributes stay fixed; each column stays within the range observed on the train split.
  Numeric columns are standardised by the preprocessing, so a budget of 1 is one standard deviation.
- image: every pixel moves, within [0, 1]; budgets are in pixel intensity.
- timeseries: every value of the input window moves, within the observed range of its channel; windows are
  standardised, so budgets are in standard deviations.

Bounds never exclude the original row: each row's box is widened to contain it, so an attack or corruption of
strength 0 leaves the row unchanged and a budget is never exceeded because of clamping.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.errors import CheckNotApplicable
from models.dataset import Dataset

__all__ = ["InputSpace", "input_space", "row_bounds", "UNITS"]

UNITS: dict[str, str] = {
    "tabular": "standard deviations of a numeric feature",
    "image": "pixel intensity (0-1)",
    "timeseries": "standard deviations of the series",
    "text": "standard deviations of the embedding's entries",
}


@dataclass(frozen=True)
class InputSpace:
    """Constraints of one data set's inputs.

    Attributes:
        kind: the data kind.
        unit: what a budget of 1 means.
        mask: float32 of one sample's shape, 1 where a value may move, 0 where it is frozen (None: all move).
        lower, upper: float32 bounds broadcastable to one sample (None: unbounded).
        movable: names of the features that may move (tabular), else empty.
        frozen: names of the features held fixed (tabular), else empty.
    """

    kind: str
    unit: str
    mask: np.ndarray | None
    lower: np.ndarray | None
    upper: np.ndarray | None
    movable: tuple[str, ...] = ()
    frozen: tuple[str, ...] = ()

    @property
    def n_active(self) -> int | None:
        """Number of values per sample that may move (None when every value may)."""
        return None if self.mask is None else int(self.mask.sum())


def input_space(dataset: Dataset, sensitive: list[str]) -> InputSpace:
    """The ``InputSpace`` of ``dataset`` (kinds tabular, image and timeseries).

    Args:
        dataset: the audited data (its train split gives the observed ranges).
        sensitive: sensitive attributes audited; they stay fixed even when continuous.

    Returns:
        The constraints.

    Raises:
        CheckNotApplicable: a tabular data set has no continuous, non-sensitive feature to move, or the kind is text.
    """
    kind = dataset.kind
    train = np.asarray(dataset.train.x, dtype=np.float32)
    if kind == "image":
        return InputSpace(kind, UNITS[kind], None, np.zeros((1,), np.float32), np.ones((1,), np.float32))
    if kind == "timeseries":
        flat = train.reshape(-1, train.shape[-1]) if train.ndim == 3 else train.reshape(-1, 1)
        shape = (1, flat.shape[1]) if train.ndim == 3 else (1,)
        lower = np.nanmin(flat, axis=0).reshape(shape).astype(np.float32)
        upper = np.nanmax(flat, axis=0).reshape(shape).astype(np.float32)
        return InputSpace(kind, UNITS[kind], None, lower, upper)
    if kind != "tabular":
        raise CheckNotApplicable(f"input-space attacks apply to tabular, image and timeseries data, not {kind!r}")
    fixed = set(sensitive) | set(dataset.sensitive_features)
    d = train.shape[1]
    mask = np.zeros(d, dtype=np.float32)
    groups = dataset.feature_groups or {name: [i] for i, name in enumerate(dataset.feature_names)}
    movable = [f for f in dataset.continuous_features if f in groups and f not in fixed]
    for name in movable:
        mask[groups[name]] = 1.0
    frozen = tuple(name for name in groups if name not in movable)
    if not mask.any():
        raise CheckNotApplicable(
            "the data has no continuous, non-sensitive feature to perturb "
            f"(continuous: {list(dataset.continuous_features)}, sensitive: {sorted(fixed)})"
        )
    lower = np.nanmin(train, axis=0).astype(np.float32)
    upper = np.nanmax(train, axis=0).astype(np.float32)
    return InputSpace(kind, UNITS[kind], mask, lower, upper, tuple(movable), frozen)


def row_bounds(x: np.ndarray, lower: np.ndarray | None,
               upper: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per-value bounds of the rows ``x``: the observed box widened to contain every row."""
    lo = None if lower is None else np.minimum(lower, x).astype(np.float32)
    hi = None if upper is None else np.maximum(upper, x).astype(np.float32)
    return lo, hi
