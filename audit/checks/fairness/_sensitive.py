"""Turn raw sensitive columns into group labels: continuous ones (age) binned, missing values made explicit."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from audit.checks._groups_util import is_continuous, label_groups
from audit.errors import InvalidInputError

__all__ = ["MISSING_LABEL", "PreparedSensitive", "prepare_sensitive", "pairs"]

MISSING_LABEL = "(missing)"


@dataclass(frozen=True)
class PreparedSensitive:
    """Group labels per usable sensitive feature.

    Attributes:
        labels: ``{feature: object array of str labels}`` for features with at least 2 groups.
        binned: features binned with the configured edges.
        missing: ``{feature: rows with a missing value}`` (labelled ``MISSING_LABEL``).
        skipped: ``{feature: reason}`` for features that cannot be compared (a single group).
    """

    labels: dict[str, np.ndarray]
    binned: list[str] = field(default_factory=list)
    missing: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def prepare_sensitive(frame: pd.DataFrame, names: Sequence[str], *, edges: Sequence[float],
                      continuous: Sequence[str] = (), max_categories: int = 10) -> PreparedSensitive:
    """Group labels for each sensitive column of ``frame``.

    Args:
        frame: raw sensitive columns (one row per audited row).
        names: columns to prepare.
        edges: inner bin edges for continuous columns (``AuditConfig.age_bins``).
        continuous: names declared continuous by the data set.
        max_categories: a numeric column with more distinct values than this is binned.

    Returns:
        ``PreparedSensitive``.

    Raises:
        InvalidInputError: a name that is not a column of ``frame``.
    """
    labels: dict[str, np.ndarray] = {}
    binned: list[str] = []
    missing: dict[str, int] = {}
    skipped: dict[str, str] = {}
    for name in names:
        if name not in frame.columns:
            raise InvalidInputError(f"The sensitive feature {name!r} is not a column of the data. Got columns {list(frame.columns)}.")
        series = frame[name].reset_index(drop=True)
        na = series.isna().to_numpy()
        binned_here = is_continuous(series, max_categories, declared=name in continuous)
        values = label_groups(series, edges, binned=binned_here, missing=MISSING_LABEL, style="interval", name=name)
        if binned_here:
            binned.append(name)
        if na.any():
            missing[name] = int(na.sum())
        distinct = np.unique(values.astype(str))
        if len(distinct) < 2:
            skipped[name] = f"a single group ({distinct[0] if len(distinct) else 'no rows'!s}) in the audited rows"
            continue
        labels[name] = values
    return PreparedSensitive(labels=labels, binned=binned, missing=missing, skipped=skipped)


def pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair of names, in order (``sex x race``, ``sex x age``, ``race x age``)."""
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
