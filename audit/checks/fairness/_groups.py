"""Pure, vectorised group metrics of a binary classifier from one ``np.bincount``.

Every row falls in one *cell* ``(group, y_true, y_pred, probability bin)``. The counts of those cells (and the sum of
predicted probabilities in each) are sufficient statistics for every group metric, so a whole table of metrics, for
any number of groups and (stacked along leading axes) any number of bootstrap resamples, is a few array operations.

Conventions (the same as fairlearn's metric functions, except that an undefined rate is NaN rather than 0):
- ``selection_rate`` = share predicted positive; ``accuracy`` = share correct;
- ``true_positive_rate`` = TP / (TP + FN); ``false_positive_rate`` = FP / (FP + TN); ``false_negative_rate`` =
  FN / (TP + FN); ``precision`` = TP / (TP + FP) — NaN when the denominator is 0;
- ``calibration_error`` = positive-class calibration error (``positive_class_calibration_error``) over ``n_bins``
  equal-width bins of the positive-class probability: sum over bins of |sum(p) - sum(y)| / n. (The calibration
  check's ``expected_calibration_error`` is the top-label ECE: bins of the predicted class's confidence.)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audit.checks._common import require_int
from audit.errors import InvalidInputError, InvalidTypeError, describe_value

__all__ = [
    "METRIC_NAMES",
    "DISPARITY_NAMES",
    "GroupMetrics",
    "as_group_labels",
    "encode_groups",
    "intersect_labels",
    "check_binary_inputs",
    "probability_bins",
    "row_cells",
    "cell_sums",
    "metrics_from_counts",
    "group_metrics",
    "positive_class_calibration_error",
    "disparities",
    "metric_spread",
]

METRIC_NAMES: tuple[str, ...] = (
    "selection_rate",
    "accuracy",
    "true_positive_rate",
    "false_positive_rate",
    "false_negative_rate",
    "precision",
    "calibration_error",
)
DISPARITY_NAMES: tuple[str, ...] = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
)
INTERSECTION_JOIN = " & "


# ------------------------------------------------------------------------------------------------ group labels
def as_group_labels(values: Any, name: str = "sensitive_features") -> np.ndarray:
    """Group labels as a 1-D object array of strings; missing labels are an error.

    Args:
        values: list, ndarray, or pandas Series of group labels (strings or numbers).
        name: argument name used in error messages.

    Returns:
        Object array of ``str`` labels, shape (n,).

    Raises:
        InvalidTypeError: ``values`` is a scalar, a string or a DataFrame.
        InvalidInputError: ``values`` is not 1-D or holds NaN/None.

    Example:
        >>> as_group_labels([1, 2, 1]).tolist()
        ['1', '2', '1']
    """
    if isinstance(values, (str, bytes, pd.DataFrame)) or np.isscalar(values) or values is None:
        raise InvalidTypeError(
            f"The '{name}' argument must be a 1-D list, ndarray or Series of group labels. Got {type(values).__name__}."
        )
    if isinstance(values, pd.Series):
        series = values.reset_index(drop=True)
    else:
        arr = np.asarray(values, dtype=object)
        if arr.ndim != 1:
            raise InvalidInputError(f"The '{name}' argument must be 1-D. Got shape {arr.shape}.")
        series = pd.Series(arr, dtype=object)
    missing = series.isna().to_numpy()
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise InvalidInputError(
            f"The '{name}' argument must not hold missing group labels (NaN/None). Got {int(missing.sum())} "
            f"missing, the first at position {first}."
        )
    return np.asarray([str(v) for v in series.tolist()], dtype=object)


def encode_groups(values: Any, name: str = "sensitive_features") -> tuple[np.ndarray, list[str]]:
    """Integer codes (sorted label order) of group labels.

    Args:
        values: group labels (see ``as_group_labels``).
        name: argument name used in error messages.

    Returns:
        ``(codes, labels)``: int64 codes in ``[0, len(labels))`` and the sorted distinct labels.

    Raises:
        InvalidInputError: missing labels, or a single group (nothing to compare).

    Example:
        >>> encode_groups(["b", "a", "b"])
        (array([1, 0, 1]), ['a', 'b'])
    """
    labels = as_group_labels(values, name)
    uniques, codes = np.unique(labels.astype(str), return_inverse=True)
    if len(uniques) < 2:
        shown = describe_value(str(uniques[0])) if len(uniques) else "no value"
        raise InvalidInputError(
            f"The '{name}' argument must hold at least 2 distinct groups to compare. Got the single value {shown} "
            f"for all {len(labels)} rows."
        )
    return codes.astype(np.int64), [str(u) for u in uniques]


def intersect_labels(*columns: np.ndarray) -> np.ndarray:
    """Row-wise intersection labels ``"a & b"`` of several label arrays of equal length."""
    out = np.asarray(columns[0], dtype=object).astype(str)
    for col in columns[1:]:
        out = np.char.add(np.char.add(out, INTERSECTION_JOIN), np.asarray(col, dtype=object).astype(str))
    return out.astype(object)


# ------------------------------------------------------------------------------------------------ inputs
def check_binary_inputs(y_true: Any, y_pred: Any, y_prob: Any | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate 0/1 labels and predictions (and optional probabilities in [0, 1]) of equal length.

    Raises:
        InvalidInputError: lengths differ, labels outside {0, 1}, probabilities outside [0, 1] or NaN.
    """
    yt = _binary("y_true", y_true)
    yp = _binary("y_pred", y_pred)
    if len(yp) != len(yt):
        raise InvalidInputError(f"The 'y_pred' argument must have {len(yt)} entries like 'y_true'. Got {len(yp)}.")
    prob = None
    if y_prob is not None:
        prob = np.asarray(y_prob, dtype=np.float64).reshape(-1)
        if len(prob) != len(yt):
            raise InvalidInputError(f"The 'y_prob' argument must have {len(yt)} entries like 'y_true'. Got {len(prob)}.")
        if not np.all(np.isfinite(prob)) or prob.min(initial=0) < 0 or prob.max(initial=0) > 1:
            raise InvalidInputError("The 'y_prob' argument must hold probabilities in [0, 1] (no NaN).")
    return yt, yp, prob


def _binary(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidInputError(f"The '{name}' argument must be 1-D. Got shape {arr.shape}.")
    if arr.size and not np.isin(arr, (0, 1)).all():
        bad = arr[~np.isin(arr, (0, 1))][0]
        raise InvalidInputError(f"The '{name}' argument must hold binary labels 0/1. Got {describe_value(bad)}.")
    if arr.size == 0:
        raise InvalidInputError(f"The '{name}' argument must hold at least 1 row. Got 0.")
    return arr.astype(np.int64)


# ------------------------------------------------------------------------------------------------ cells
def probability_bins(y_prob: np.ndarray | None, n: int, n_bins: int) -> np.ndarray:
    """Equal-width bin index in ``[0, n_bins)`` of each probability (zeros when there are none)."""
    if y_prob is None:
        return np.zeros(n, dtype=np.int64)
    return np.clip(np.floor(y_prob * n_bins).astype(np.int64), 0, n_bins - 1)


def row_cells(codes: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Cell index ``((group * 2 + y) * 2 + pred) * n_bins + bin`` of each row (int32)."""
    return (((codes.astype(np.int64) * 2 + y_true) * 2 + y_pred) * n_bins + bins).astype(np.int32)


def cell_sums(cells: np.ndarray, weights: np.ndarray | None, n_groups: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Row counts and weight sums per cell, shaped (n_groups, 2, 2, n_bins)."""
    size = n_groups * 4 * n_bins
    counts = np.bincount(cells, minlength=size).astype(np.float64)
    sums = np.bincount(cells, weights=weights, minlength=size) if weights is not None else np.zeros(size)
    shape = (n_groups, 2, 2, n_bins)
    return counts.reshape(shape), sums.reshape(shape)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def metrics_from_counts(counts: np.ndarray, prob_sums: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every group metric from cell counts.

    Args:
        counts: (..., G, 2, 2, n_bins) row counts per (group, y_true, y_pred, bin); leading axes (e.g. bootstrap
            resamples) are kept.
        prob_sums: same shape, sums of the positive-class probability; None leaves ``calibration_error`` NaN.

    Returns:
        ``{"count": (..., G), name: (..., G) for name in METRIC_NAMES}``.
    """
    conf = counts.sum(axis=-1)
    tn, fp = conf[..., 0, 0], conf[..., 0, 1]
    fn, tp = conf[..., 1, 0], conf[..., 1, 1]
    n = tn + fp + fn + tp
    out = {
        "count": n,
        "selection_rate": _ratio(tp + fp, n),
        "accuracy": _ratio(tp + tn, n),
        "true_positive_rate": _ratio(tp, tp + fn),
        "false_positive_rate": _ratio(fp, fp + tn),
        "false_negative_rate": _ratio(fn, tp + fn),
        "precision": _ratio(tp, tp + fp),
    }
    if prob_sums is None:
        out["calibration_error"] = np.full(n.shape, np.nan)
    else:
        p_bin = prob_sums.sum(axis=(-3, -2))
        y_bin = counts[..., 1, :, :].sum(axis=-2)
        out["calibration_error"] = _ratio(np.abs(p_bin - y_bin).sum(axis=-1), n)
    return out


# ------------------------------------------------------------------------------------------------ public API
@dataclass(frozen=True)
class GroupMetrics:
    """Point estimates of every metric per group.

    Attributes:
        labels: group labels (sorted).
        values: ``{"count": (G,), metric: (G,)}``; undefined rates are NaN.
    """

    labels: list[str]
    values: dict[str, np.ndarray]

    def as_frame(self) -> pd.DataFrame:
        """A DataFrame indexed by group label (for inspection and tests)."""
        return pd.DataFrame({k: v for k, v in self.values.items()}, index=pd.Index(self.labels, name="group"))


def group_metrics(y_true: Any, y_pred: Any, sensitive_features: Any, *, y_prob: Any | None = None,
                  n_bins: int = 10) -> GroupMetrics:
    """Count, selection rate, accuracy, TPR, FPR, FNR, precision and calibration error of each group.

    Args:
        y_true: 0/1 labels, shape (n,).
        y_pred: 0/1 predictions, shape (n,).
        sensitive_features: group label of each row, shape (n,).
        y_prob: positive-class probabilities (for ``calibration_error``), or None.
        n_bins: equal-width probability bins of the calibration error.

    Returns:
        ``GroupMetrics`` (sorted group labels, one array per metric).

    Raises:
        InvalidInputError: mismatched lengths, non-binary labels, missing group labels or a single group.

    Example:
        >>> m = group_metrics([1, 0, 1, 0], [1, 0, 0, 0], ["a", "a", "b", "b"])
        >>> m.values["true_positive_rate"].tolist()
        [1.0, 0.0]
    """
    yt, yp, prob = check_binary_inputs(y_true, y_pred, y_prob)
    require_int(None, "n_bins", n_bins, 1)
    codes, labels = encode_groups(sensitive_features)
    if len(codes) != len(yt):
        raise InvalidInputError(
            f"The 'sensitive_features' argument must have {len(yt)} entries like 'y_true'. Got {len(codes)}."
        )
    cells = row_cells(codes, yt, yp, probability_bins(prob, len(yt), n_bins), n_bins)
    counts, sums = cell_sums(cells, prob, len(labels), n_bins)
    return GroupMetrics(labels=labels, values=metrics_from_counts(counts, sums if prob is not None else None))


def positive_class_calibration_error(y_true: Any, y_prob: Any, n_bins: int = 10) -> float:
    """Positive-class calibration error: expected calibration error of positive-class probabilities over equal-width
    bins (not the top-label ECE of ``audit.checks.calibration.expected_calibration_error``).

    Args:
        y_true: 0/1 labels.
        y_prob: positive-class probabilities in [0, 1].
        n_bins: number of bins (bin b holds p in [b/n_bins, (b+1)/n_bins); p = 1 falls in the last).

    Returns:
        sum over bins of ``|sum(p) - sum(y)| / n``.

    Example:
        >>> positive_class_calibration_error([0, 1], [0.25, 0.75])
        0.25
    """
    if y_prob is None:
        raise InvalidInputError("The 'y_prob' argument must hold probabilities in [0, 1]. Got None.")
    yt, _, prob = check_binary_inputs(y_true, np.zeros(len(np.asarray(y_true)), dtype=np.int64), y_prob)
    prob = np.asarray(prob)
    bins = probability_bins(prob, len(yt), n_bins)
    diff = np.bincount(bins, weights=prob - yt, minlength=n_bins)
    return float(np.abs(diff).sum() / len(yt))


def disparities(values: Mapping[str, np.ndarray], eligible: np.ndarray) -> dict[str, np.ndarray]:
    """Between-group disparities over the eligible groups (fairlearn's ``between_groups`` definitions).

    Args:
        values: metric arrays (..., G) from ``metrics_from_counts``.
        eligible: bool mask (G,) of the groups that may be compared.

    Returns:
        ``demographic_parity_difference`` (max - min selection rate), ``demographic_parity_ratio`` (min / max),
        ``equalized_odds_difference`` (the larger of the TPR and FPR differences), ``equalized_odds_ratio`` (the
        smaller of the TPR and FPR ratios), ``equal_opportunity_difference`` (TPR difference); arrays (...).
        NaN when fewer than 2 eligible groups have a defined value; a ratio is 1 when every group's rate is 0
        (fairlearn gives NaN there).
    """
    sel = metric_spread(values["selection_rate"], eligible)
    tpr = metric_spread(values["true_positive_rate"], eligible)
    fpr = metric_spread(values["false_positive_rate"], eligible)
    return {
        "demographic_parity_difference": sel[0],
        "demographic_parity_ratio": sel[1],
        "equalized_odds_difference": np.fmax(tpr[0], fpr[0]),
        "equalized_odds_ratio": np.fmin(tpr[1], fpr[1]),
        "equal_opportunity_difference": tpr[0],
    }


def metric_spread(metric: np.ndarray, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(max - min, min / max)`` of one metric over eligible groups with a defined value (last axis), NaN-safe."""
    vals = np.where(eligible, metric, np.nan)
    defined = (~np.isnan(vals)).sum(axis=-1)
    hi = np.max(np.where(np.isnan(vals), -np.inf, vals), axis=-1)
    lo = np.min(np.where(np.isnan(vals), np.inf, vals), axis=-1)
    ok = defined >= 2
    diff = np.where(ok, hi - lo, np.nan)
    ratio = np.full(np.shape(hi), np.nan)
    np.divide(lo, hi, out=ratio, where=ok & (hi > 0))
    ratio = np.where(ok & (hi == 0), 1.0, ratio)  # every group at 0: no disparity
    return diff, ratio
