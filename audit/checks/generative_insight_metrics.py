"""Pure metrics of the ``generative_insight`` check: where an attribution map concentrates (``centre_mask``,
``region_share``), how alike two maps are (``rank_correlation``), how smooth a latent path is (``traversal_stats``)
and how well a discriminator tells real from generated images (``real_fake_auroc``).

Example:
    >>> int(centre_mask(8, 8).sum()), traversal_stats(np.linspace(0, 1, 5)[:, None]).smoothness
    (16, 0.25)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from audit.checks._common import require_float, require_int
from audit.errors import InvalidInputError

__all__ = ["ZERO_DISTANCE", "TraversalStats", "centre_mask", "region_share", "rank_correlation", "traversal_stats",
           "real_fake_auroc"]

ZERO_DISTANCE = 1e-6
"""L2 distance under which two images count as identical."""


def centre_mask(height: int, width: int, fraction: float = 0.5) -> np.ndarray:
    """The central rectangle spanning ``fraction`` of each side, as a boolean (height, width) mask.

    Args:
        height: image height (>= 1).
        width: image width (>= 1).
        fraction: share of each side covered, in (0, 1] (0.5: the middle half of the rows and of the columns).

    Returns:
        The mask (28 x 28 at 0.5: rows and columns 7..20).

    Raises:
        InvalidInputError: a size < 1 or a fraction outside (0, 1].

    Example:
        >>> int(centre_mask(8, 8).sum())
        16
    """
    for name, value in (("height", height), ("width", width)):
        require_int(None, name, value, 1)
    fraction = require_float(None, "fraction", fraction, 0.0, 1.0, min_inclusive=False)

    def span(n: int) -> slice:
        size = max(1, int(round(n * float(fraction))))
        start = (n - size) // 2
        return slice(start, start + size)

    mask = np.zeros((int(height), int(width)), dtype=bool)
    mask[span(int(height)), span(int(width))] = True
    return mask


def region_share(maps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Share of each map's total |attribution| that falls inside ``mask``.

    Args:
        maps: attribution maps (n, h, w).
        mask: boolean (h, w).

    Returns:
        (n,) shares in [0, 1]; NaN for an all-zero map.

    Raises:
        InvalidInputError: the shapes do not match.
    """
    a = np.abs(np.asarray(maps, dtype=np.float64))
    m = np.asarray(mask, dtype=bool)
    if a.ndim != 3 or a.shape[1:] != m.shape:
        raise InvalidInputError(f"The 'maps' argument must be (n, {m.shape[0] if m.ndim == 2 else 'h'}, "
                                f"{m.shape[1] if m.ndim == 2 else 'w'}) like 'mask' {m.shape}. Got {a.shape} instead.")
    total = a.sum(axis=(1, 2))
    inside = a[:, m].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation of two maps (flattened); None when either is constant.

    Raises:
        InvalidInputError: the maps differ in size.
    """
    x, y = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise InvalidInputError(f"The maps must have the same size. Got {x.size} and {y.size} values instead.")
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(x, y).statistic)


@dataclass(frozen=True)
class TraversalStats:
    """Distances along one latent path of k images.

    Attributes:
        steps: L2 distance between consecutive images (k - 1,).
        endpoint: L2 distance between the first and last image.
        smoothness: mean step / endpoint (1 / (k - 1) for images linear in z; 0.0 when the images never change;
            None when the path returns to its start).
        path_ratio: path length / endpoint (>= 1; 1 for a straight path), None when the endpoint distance is 0.
        max_step_share: largest step / endpoint, None when the endpoint distance is 0.
        ignored: the images do not change along the path (the generator ignores z).
    """

    steps: np.ndarray
    endpoint: float
    smoothness: float | None
    path_ratio: float | None
    max_step_share: float | None
    ignored: bool


def traversal_stats(frames: np.ndarray) -> TraversalStats:
    """Smoothness of a latent path from its images.

    Args:
        frames: the k >= 2 images along the path, in order (k, ...).

    Returns:
        The ``TraversalStats``.

    Raises:
        InvalidInputError: fewer than 2 images.

    Example:
        >>> traversal_stats(np.linspace(0, 1, 5)[:, None]).smoothness
        0.25
    """
    f = np.asarray(frames, dtype=np.float64)
    if f.ndim < 2 or len(f) < 2:
        raise InvalidInputError(f"The 'frames' argument must hold at least 2 images (k, ...). Got shape {f.shape}.")
    flat = f.reshape(len(f), -1)
    steps = np.linalg.norm(np.diff(flat, axis=0), axis=1)
    endpoint = float(np.linalg.norm(flat[-1] - flat[0]))
    ignored = bool(steps.max() < ZERO_DISTANCE)
    if endpoint < ZERO_DISTANCE:
        return TraversalStats(steps, endpoint, 0.0 if ignored else None, None, None, ignored)
    return TraversalStats(steps, endpoint, float(steps.mean() / endpoint), float(steps.sum() / endpoint),
                          float(steps.max() / endpoint), ignored)


def real_fake_auroc(real_scores: np.ndarray, fake_scores: np.ndarray) -> float:
    """AUROC of telling real from generated images by the discriminator's score (1: perfectly apart, 0.5: chance).

    Raises:
        InvalidInputError: either set is empty.
    """
    r, f = np.asarray(real_scores, dtype=np.float64).ravel(), np.asarray(fake_scores, dtype=np.float64).ravel()
    if r.size == 0 or f.size == 0:
        raise InvalidInputError(f"Both score sets must be non-empty. Got {r.size} real and {f.size} generated.")
    return float(roc_auc_score(np.r_[np.ones(r.size), np.zeros(f.size)], np.r_[r, f]))
