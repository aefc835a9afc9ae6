"""Robustness by group: robust accuracy and attack success per sensitive group (per class without one), the gap
between the best and the worst group and its bootstrap interval ("robustness bias").

Pure functions; the robustness check feeds them per-row outcomes and lays the result out as tables.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.checks._common import require_float, require_int
from audit.errors import InvalidInputError

__all__ = ["GroupSummary", "group_summary", "bootstrap_group_means"]

_MAX_DRAWS = 4_000_000  # index draws per block (bounds memory of the bootstrap)


@dataclass(frozen=True)
class GroupSummary:
    """A per-row statistic summarised per group.

    Attributes:
        groups: group names, sorted.
        n: rows per group with a defined value.
        mean: the statistic's mean per group (NaN for a group without defined rows).
        lower, upper: percentile bootstrap interval of each group's mean.
        disparity: largest minus smallest group mean among groups with at least ``min_group_size`` rows.
        disparity_lower, disparity_upper: its percentile bootstrap interval (groups resampled independently).
        eligible: which groups enter the disparity.
    """

    groups: list[str]
    n: np.ndarray
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    disparity: float
    disparity_lower: float
    disparity_upper: float
    eligible: np.ndarray

    @property
    def worst_group(self) -> str | None:
        """The eligible group with the lowest mean."""
        if not self.eligible.any():
            return None
        means = np.where(self.eligible, self.mean, np.inf)
        return self.groups[int(np.argmin(means))]

    @property
    def most_group(self) -> str | None:
        """The eligible group with the highest mean."""
        if not self.eligible.any():
            return None
        means = np.where(self.eligible, self.mean, -np.inf)
        return self.groups[int(np.argmax(means))]


def bootstrap_group_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` bootstrap means of ``values`` (resampled with replacement), drawn in bounded blocks."""
    n = len(values)
    if n == 0:
        return np.full(n_boot, np.nan)
    out = np.empty(n_boot)
    block = max(1, _MAX_DRAWS // n)
    for start in range(0, n_boot, block):
        stop = min(n_boot, start + block)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[idx].mean(axis=1)
    return out


def group_summary(values: Any, groups: Any, *, n_boot: int, rng: np.random.Generator, ci: float = 0.95,
                  min_group_size: int = 1) -> GroupSummary:
    """Per-group means of a per-row statistic with bootstrap intervals, and the best-worst gap.

    Args:
        values: per-row values (e.g. 1.0 when the attacked row is still right); NaN rows are left out (e.g. attack
            success is defined only on rows the model got right before the attack).
        groups: per-row group names.
        n_boot: bootstrap resamples (>= 1).
        rng: seeded generator.
        ci: interval coverage in (0, 1).
        min_group_size: groups with fewer defined rows do not enter the disparity.

    Returns:
        The ``GroupSummary``.

    Raises:
        InvalidInputError: lengths differ, ``n_boot`` < 1 or ``ci`` outside (0, 1).

    Example:
        >>> s = group_summary([1, 0, 1, 1], ["a", "a", "b", "b"], n_boot=50, rng=np.random.default_rng(0))
        >>> s.groups, s.mean.tolist(), s.disparity
        (['a', 'b'], [0.5, 1.0], 0.5)
    """
    v = np.asarray(values, dtype=np.float64)
    g = np.asarray(groups).astype(str)
    if v.shape != g.shape or v.ndim != 1:
        raise InvalidInputError(f"The 'groups' argument must have one entry per value ({v.shape}). Got shape {g.shape}.")
    require_int(None, "n_boot", n_boot, 1)
    require_float(None, "ci", ci, 0, 1, min_inclusive=False, max_inclusive=False)
    names = sorted(set(g.tolist()))
    n = np.zeros(len(names), dtype=np.int64)
    mean = np.full(len(names), np.nan)
    boots = np.full((len(names), n_boot), np.nan)
    for i, name in enumerate(names):
        sel = v[(g == name) & ~np.isnan(v)]
        n[i] = len(sel)
        if len(sel):
            mean[i] = sel.mean()
            boots[i] = bootstrap_group_means(sel, n_boot, rng)
    tail = 100 * (1 - ci) / 2
    with np.errstate(all="ignore"):
        lower = np.array([np.nanpercentile(b, tail) if n_i else np.nan for b, n_i in zip(boots, n)])
        upper = np.array([np.nanpercentile(b, 100 - tail) if n_i else np.nan for b, n_i in zip(boots, n)])
    eligible = n >= max(1, min_group_size)
    if eligible.sum() >= 2:
        disparity = float(mean[eligible].max() - mean[eligible].min())
        gaps = boots[eligible].max(axis=0) - boots[eligible].min(axis=0)
        d_lo, d_hi = (float(np.percentile(gaps, tail)), float(np.percentile(gaps, 100 - tail)))
    else:
        disparity, d_lo, d_hi = float("nan"), float("nan"), float("nan")
    return GroupSummary(names, n, mean, lower, upper, disparity, d_lo, d_hi, eligible)
