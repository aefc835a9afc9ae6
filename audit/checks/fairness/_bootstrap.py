"""Vectorised bootstrap of cell counts: one pass over (resample x cell), chunked for the executor seam.

A resample draws ``n`` row indices with replacement (like fairlearn's ``MetricFrame(n_boot=...)``: the whole data
set is resampled, so group sizes vary). Its cell counts and weight sums come from one ``np.bincount`` over
``chunk * n_cells`` bins. Chunk ``i`` draws from ``default_rng([seed, i])`` and chunks have a fixed size, so the
result is identical whatever executor (sequential, loky, dask) maps the chunks.
"""
from __future__ import annotations

import warnings
from statistics import NormalDist
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.checks._common import require_float, require_int
from audit.errors import InvalidInputError

__all__ = ["BootstrapChunk", "resample_chunk", "bootstrap_cell_sums", "percentile_interval", "gap_interval",
           "DEFAULT_CHUNK"]

DEFAULT_CHUNK = 100
MapFn = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]


@dataclass(frozen=True)
class BootstrapChunk:
    """One work item: ``n_resamples`` resamples of the rows, seeded by ``(seed, index)``."""

    cells: np.ndarray
    weights: np.ndarray | None
    n_cells: int
    n_resamples: int
    seed: int
    index: int


def resample_chunk(chunk: BootstrapChunk) -> tuple[np.ndarray, np.ndarray | None]:
    """Counts (and weight sums) per cell of each resample in a chunk: arrays (n_resamples, n_cells).

    With weights in [0, 1], counts and sums come from ONE weighted ``np.bincount`` of ``weight + scale`` (``scale``
    a power of two above twice the row count): a cell's total is ``scale * count + sum`` with ``sum < count <=
    scale / 2``, so the count is recovered exactly and the sum to about 1e-7. Module-level so that process-based
    executors can pickle it.
    """
    n = len(chunk.cells)
    rng = np.random.default_rng([chunk.seed, chunk.index])
    size = chunk.n_resamples * chunk.n_cells
    small = size < 2**31 - 1 and n < 2**31 - 1
    idx = rng.integers(0, n, size=(chunk.n_resamples, n), dtype=np.int32 if small else np.int64)
    offsets = np.arange(chunk.n_resamples, dtype=np.int32 if small else np.int64) * chunk.n_cells
    flat = chunk.cells.astype(offsets.dtype, copy=False)[idx]
    flat += offsets[:, None]
    flat = flat.ravel()
    if chunk.weights is None:
        return np.bincount(flat, minlength=size).reshape(chunk.n_resamples, chunk.n_cells), None
    if chunk.weights.min(initial=0.0) < 0 or chunk.weights.max(initial=0.0) > 1:
        counts = np.bincount(flat, minlength=size)
        sums = np.bincount(flat, weights=chunk.weights[idx].ravel(), minlength=size)
    else:
        scale = float(2 ** int(np.ceil(np.log2(2 * n + 2))))
        total = np.bincount(flat, weights=(chunk.weights + scale)[idx].ravel(), minlength=size)
        counts = np.rint(total / scale - 0.25)
        sums = np.maximum(total - counts * scale, 0.0)
    shape = (chunk.n_resamples, chunk.n_cells)
    return counts.reshape(shape), sums.reshape(shape)


def bootstrap_cell_sums(cells: np.ndarray, weights: np.ndarray | None, n_cells: int, n_boot: int, seed: int, *,
                        chunk_size: int = DEFAULT_CHUNK, map_fn: MapFn | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Cell counts of ``n_boot`` bootstrap resamples of the rows.

    Args:
        cells: cell index of each row, ints in ``[0, n_cells)``, shape (n,).
        weights: a value per row summed per cell (e.g. predicted probabilities), or None.
        n_cells: number of cells.
        n_boot: number of resamples (>= 1).
        seed: base seed (>= 0); chunk ``i`` uses ``default_rng([seed, i])``.
        chunk_size: resamples per work item (fixed, so results do not depend on the executor).
        map_fn: ``map_fn(fn, items) -> list`` (e.g. ``ctx.executor.map``); None maps in this process.

    Returns:
        ``(counts, sums)``: float arrays (n_boot, n_cells); ``sums`` is None without weights.

    Raises:
        InvalidInputError: ``n_boot`` < 1, ``seed`` < 0, empty ``cells`` or a cell outside ``[0, n_cells)``.
    """
    require_int(None, "n_boot", n_boot, 1)
    require_int(None, "seed", seed, 0)
    cells = np.asarray(cells)
    if cells.ndim != 1 or len(cells) == 0:
        raise InvalidInputError(f"The 'cells' argument must be a non-empty 1-D array. Got shape {cells.shape}.")
    if cells.min() < 0 or cells.max() >= n_cells:
        raise InvalidInputError(f"The 'cells' argument must hold ints in [0, {n_cells}). Got [{cells.min()}, {cells.max()}].")
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    items = []
    for index, start in enumerate(range(0, int(n_boot), chunk_size)):
        size = min(chunk_size, int(n_boot) - start)
        items.append(BootstrapChunk(cells=cells, weights=w, n_cells=int(n_cells), n_resamples=size, seed=int(seed),
                                    index=index))
    parts = (map_fn or _local_map)(resample_chunk, items)
    counts = np.concatenate([p[0] for p in parts], axis=0).astype(np.float64)
    sums = None if w is None else np.concatenate([p[1] for p in parts], axis=0)
    return counts, sums


def _local_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    return [fn(item) for item in items]


def percentile_interval(samples: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along axis 0, ignoring NaN (as fairlearn's ``MetricFrame`` does).

    Args:
        samples: (n_boot, ...) bootstrap statistics; NaN where a resample left the statistic undefined.
        ci: coverage in (0, 1), e.g. 0.95 -> the 2.5% and 97.5% quantiles.

    Returns:
        ``(lower, upper)`` arrays of shape ``samples.shape[1:]``; NaN where every resample is NaN.

    Raises:
        InvalidInputError: ``ci`` outside (0, 1).
    """
    require_float(None, "ci", ci, 0, 1, min_inclusive=False, max_inclusive=False)
    alpha = (1.0 - float(ci)) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, which is what we want
        low, high = np.nanquantile(samples, [alpha, 1.0 - alpha], axis=0)
    return low, high


def gap_interval(point: float, samples: np.ndarray, ci: float, n_comparisons: int = 1) -> tuple[float, float]:
    """Simultaneous interval of a signed gap chosen after looking at the data (e.g. highest minus lowest group).

    Picking the two extreme groups out of G and then testing their gap inflates false alarms (with 12 groups, some
    pair almost always looks "significant"). The interval is therefore Bonferroni-adjusted over ``n_comparisons``
    (G (G - 1) / 2 pairs) and uses the normal approximation ``point ± z * sd(samples)``, which stays stable at the
    small tail probabilities the adjustment asks for.

    Args:
        point: the gap on the full data.
        samples: the same gap in each bootstrap resample (NaN where undefined).
        ci: coverage in (0, 1) before adjustment.
        n_comparisons: comparisons the gap was chosen among (>= 1).

    Returns:
        ``(low, high)``; NaN when fewer than 2 resamples define the gap.

    Example:
        >>> low, high = gap_interval(0.1, np.array([0.08, 0.12] * 50), 0.95)
        >>> round(low, 3), round(high, 3)
        (0.061, 0.139)
    """
    require_float(None, "ci", ci, 0, 1, min_inclusive=False, max_inclusive=False)
    vals = np.asarray(samples, dtype=np.float64)
    vals = vals[~np.isnan(vals)]
    if len(vals) < 2 or not np.isfinite(point):
        return float("nan"), float("nan")
    alpha = (1.0 - float(ci)) / max(1, int(n_comparisons))
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    half = z * float(np.std(vals, ddof=1))
    return float(point - half), float(point + half)
