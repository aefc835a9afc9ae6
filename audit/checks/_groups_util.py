"""Group labels of sensitive columns, shared by every check: ONE binning of continuous columns (e.g. age) with the
``AuditConfig.age_bins`` edges, and one labelling of the rest (values as strings, missing values named).

Two label styles exist for the same bins because the reports already show them: ``"interval"`` (``<25``,
``[25, 35)``, ``>=65``; fairness checks) and ``"range"`` (``<25``, ``25-35``, ``>=65``; data profile, robustness,
calibration).

Example:
    >>> bin_continuous([20, 30, 70], [25, 65]).tolist()
    ['<25', '[25, 65)', '>=65']
    >>> group_labels(pd.Series([20.0, None] + list(range(30, 80, 5))), [25, 65]).tolist()[:3]
    ['<25', 'missing', '25-65']
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from audit.checks.base import AuditContext
from audit.errors import InvalidInputError, describe_value

__all__ = ["LabelStyle", "bin_names", "bin_continuous", "is_continuous", "label_groups", "group_labels", "grouping"]

LabelStyle = Literal["interval", "range"]


def bin_names(edges: Sequence[float], style: LabelStyle = "interval") -> list[str]:
    """Names of the ``len(edges) + 1`` half-open bins around strictly increasing inner ``edges``.

    Args:
        edges: e.g. ``(25, 35)`` -> ``<25``, ``[25, 35)`` (style "interval") or ``25-35`` (style "range"), ``>=35``.
        style: "interval" or "range".

    Returns:
        The bin names, lowest first.

    Raises:
        InvalidInputError: edges that are empty or not strictly increasing.

    Example:
        >>> bin_names([25, 35], "range")
        ['<25', '25-35', '>=35']
    """
    cuts = [float(e) for e in edges]
    if not cuts or any(b <= a for a, b in zip(cuts, cuts[1:])):
        raise InvalidInputError(f"The 'edges' argument must be strictly increasing numbers. Got {list(edges)!r}.")
    inner = [f"[{a:g}, {b:g})" if style == "interval" else f"{a:g}-{b:g}" for a, b in zip(cuts, cuts[1:])]
    return [f"<{cuts[0]:g}", *inner, f">={cuts[-1]:g}"]


def bin_continuous(values: Any, edges: Sequence[float], name: str = "sensitive_features", *,
                   style: LabelStyle = "interval") -> np.ndarray:
    """Bin a continuous attribute (e.g. age) into labelled, half-open intervals ``[a, b)``.

    Args:
        values: numbers, shape (n,).
        edges: strictly increasing inner edges, e.g. ``(25, 35, 45)`` -> ``<25, [25, 35), [35, 45), >=45``.
        name: argument name used in error messages.
        style: label style (see ``bin_names``).

    Returns:
        Object array of interval labels, shape (n,).

    Raises:
        InvalidInputError: non-numeric or missing values, or edges that are empty or not increasing.

    Example:
        >>> bin_continuous([17, 25, 90], [25, 35]).tolist()
        ['<25', '[25, 35)', '>=35']
    """
    names = bin_names(edges, style)
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"The '{name}' argument must be numeric to be binned. Got {describe_value(values)}.") from exc
    if x.ndim != 1:
        raise InvalidInputError(f"The '{name}' argument must be 1-D. Got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise InvalidInputError(f"The '{name}' argument must not hold NaN or inf. Got {int((~np.isfinite(x)).sum())} such values.")
    return np.asarray(names, dtype=object)[np.searchsorted([float(e) for e in edges], x, side="right")]


def is_continuous(series: pd.Series, max_levels: int, declared: bool = False) -> bool:
    """A numeric (non-boolean) column that is declared continuous or has more than ``max_levels`` distinct values."""
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return False
    return declared or int(series.nunique(dropna=True)) > max_levels


def label_groups(values: Any, edges: Sequence[float], *, binned: bool, missing: str = "missing",
                 style: LabelStyle = "range", name: str = "sensitive_features") -> np.ndarray:
    """Group label of each row: the bin of a continuous column (``binned``), else the value as a string; rows with a
    missing value get the label ``missing``.

    Args:
        values: the raw column (list, ndarray or Series), shape (n,).
        edges: inner bin edges (``AuditConfig.age_bins``), used when ``binned``.
        binned: bin the values (see ``is_continuous``).
        missing: label of missing values.
        style: label style of the bins (see ``bin_names``).
        name: column name used in error messages.

    Returns:
        Object array of str labels, shape (n,).

    Raises:
        InvalidInputError: ``binned`` with empty or non-increasing edges, or non-numeric values.
    """
    series = pd.Series(values).reset_index(drop=True)
    na = series.isna().to_numpy()
    if binned:
        out = np.full(len(series), missing, dtype=object)
        if (~na).any():
            out[~na] = bin_continuous(series[~na].to_numpy(dtype=np.float64), edges, name=name, style=style)
        return out
    return np.asarray([missing if m else str(v) for v, m in zip(series.tolist(), na)], dtype=object)


def group_labels(values: pd.Series, bins: Sequence[float], max_levels: int = 10) -> np.ndarray:
    """Group names for a sensitive column: the values themselves, or bins for a numeric column with many values.

    Args:
        values: the raw sensitive column.
        bins: strictly increasing bin edges (e.g. ``AuditConfig.age_bins``); empty: never bin.
        max_levels: a numeric column with more distinct values than this is binned.

    Returns:
        An object array of group names ("<25", "25-35", ..., ">=65" for binned columns; "missing" for missing values).

    Example:
        >>> group_labels(pd.Series(range(30)), [10, 20]).tolist()[::10]
        ['<10', '10-20', '>=20']
    """
    s = pd.Series(values).reset_index(drop=True)
    return label_groups(s, bins, binned=len(bins) > 0 and is_continuous(s, max_levels), missing="missing",
                        style="range")


def grouping(ctx: AuditContext, positions: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Group names per audited row: one entry per sensitive feature (``group_labels``), or ``{"class": ...}`` without
    one (classification).

    Args:
        ctx: the audit context (sensitive features, test split, ``config.age_bins``, model classes).
        positions: positions of the audited rows in ``ctx.test``.
        y: their labels (class indices), used for the per-class grouping.

    Returns:
        ``{grouping name: str array (len(positions),)}``; empty for regression without sensitive features.
    """
    out: dict[str, np.ndarray] = {}
    for name in ctx.sensitive_features:
        if name in ctx.test.sensitive.columns:
            column = ctx.test.sensitive[name].iloc[positions].reset_index(drop=True)
            out[name] = np.asarray(group_labels(column, ctx.config.age_bins), dtype=str)
    if not out and ctx.model.task in ("binary", "multiclass"):
        names = ctx.model.class_names
        out["class"] = np.array([str(names[int(c)]) if int(c) < len(names) else str(c) for c in y])
    return out
