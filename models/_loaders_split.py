"""Seeded, disjoint train / val / test index splits (stratified, random or chronological) and argument checks."""
from __future__ import annotations

import numpy as np

from models.errors import InvalidInputError

__all__ = [
    "SPLITS",
    "DEFAULT_VAL_FRACTION",
    "DEFAULT_TEST_FRACTION",
    "check_seed",
    "check_fractions",
    "check_max_rows",
    "allocate",
    "stratified_subset",
    "stratified_split",
    "carve_val",
    "random_split",
    "chronological_split",
]

SPLITS: tuple[str, str, str] = ("train", "val", "test")
DEFAULT_VAL_FRACTION = 0.15
DEFAULT_TEST_FRACTION = 0.2
_SUBSET_STREAM, _SPLIT_STREAM = 1, 2


def check_seed(seed: object) -> int:
    """``seed`` as an int >= 0, or InvalidInputError."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"The 'seed' argument must be an int >= 0. Got {seed!r} instead.")
    return int(seed)


def check_fractions(val_fraction: object, test_fraction: object) -> tuple[float, float]:
    """Both fractions in [0, 1) (val may be 0 only if test is not, and vice versa) with a sum below 1."""
    for arg, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0 < value < 1:
            raise InvalidInputError(f"The {arg!r} argument must be a float in (0, 1). Got {value!r} instead.")
    if val_fraction + test_fraction >= 1:  # type: ignore[operator]
        raise InvalidInputError(
            "The 'val_fraction' and 'test_fraction' arguments must sum to less than 1. "
            f"Got {val_fraction!r} + {test_fraction!r} instead."
        )
    return float(val_fraction), float(test_fraction)  # type: ignore[arg-type]


def check_max_rows(max_rows: object, minimum: int = 20) -> int | None:
    """``max_rows`` as None or an int >= ``minimum``."""
    if max_rows is None:
        return None
    if isinstance(max_rows, bool) or not isinstance(max_rows, (int, np.integer)) or max_rows < minimum:
        raise InvalidInputError(
            f"The 'max_rows' argument must be None or an int >= {minimum}. Got {max_rows!r} instead."
        )
    return int(max_rows)


def allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over groups proportionally to ``counts`` (largest remainder; ties to the first group)."""
    counts = np.asarray(counts, dtype=np.int64)
    share = counts * total / max(int(counts.sum()), 1)
    out = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - out), kind="stable")
    out[order[: int(total - out.sum())]] += 1
    return np.minimum(out, counts)


def stratified_subset(y: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subset of ``max_rows`` rows keeping the class proportions of ``y``."""
    if max_rows >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng([seed, _SUBSET_STREAM])
    classes, counts = np.unique(y, return_counts=True)
    take = allocate(counts, max_rows)
    chosen = [rng.choice(np.flatnonzero(y == c), size=k, replace=False) for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen))


def _finish(parts: dict[str, list[np.ndarray]], rng: np.random.Generator, n: int, what: str) -> dict[str, np.ndarray]:
    out = {name: rng.permutation(np.concatenate(parts[name]).astype(np.int64)) for name in SPLITS}
    for name in SPLITS:
        if len(out[name]) == 0:
            raise InvalidInputError(
                f"The data must have enough rows for non-empty train, val and test splits. Got {n} {what}, "
                f"which leaves the {name!r} split empty."
            )
    return out


def stratified_split(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Disjoint index arrays per split, each class split in the same proportions (rows shuffled within splits).

    Raises:
        InvalidInputError: a split would be empty (too few rows).
    """
    rng = np.random.default_rng([seed, _SPLIT_STREAM])
    n = len(y)
    classes, counts = np.unique(y, return_counts=True)
    n_test = allocate(counts, int(round(n * test_fraction)))
    n_val = np.minimum(allocate(counts, int(round(n * val_fraction))), counts - n_test)
    parts: dict[str, list[np.ndarray]] = {name: [np.empty(0, np.int64)] for name in SPLITS}
    for c, t, v in zip(classes, n_test, n_val):
        perm = rng.permutation(np.flatnonzero(y == c))
        parts["test"].append(perm[:t])
        parts["val"].append(perm[t : t + v])
        parts["train"].append(perm[t + v :])
    return _finish(parts, rng, n, "rows")


def carve_val(y: np.ndarray, val_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Stratified ``train`` / ``val`` indices of a pool whose test split comes from elsewhere (an official file)."""
    rng = np.random.default_rng([seed, _SPLIT_STREAM])
    classes, counts = np.unique(y, return_counts=True)
    n_val = allocate(counts, int(round(len(y) * val_fraction)))
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": []}
    for c, v in zip(classes, n_val):
        perm = rng.permutation(np.flatnonzero(y == c))
        parts["val"].append(perm[:v])
        parts["train"].append(perm[v:])
    return {name: rng.permutation(np.concatenate(parts[name])).astype(np.int64) for name in ("train", "val")}


def random_split(n: int, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Disjoint shuffled index arrays per split (regression)."""
    rng = np.random.default_rng([seed, _SPLIT_STREAM])
    perm = rng.permutation(n)
    t, v = int(round(n * test_fraction)), int(round(n * val_fraction))
    parts = {"test": [perm[:t]], "val": [perm[t : t + v]], "train": [perm[t + v :]]}
    return _finish(parts, rng, n, "rows")


def chronological_split(n: int, val_fraction: float, test_fraction: float) -> dict[str, np.ndarray]:
    """Consecutive, ordered index blocks: the first rows train, then val, then the last rows test."""
    t, v = int(round(n * test_fraction)), int(round(n * val_fraction))
    out = {"train": np.arange(0, n - v - t), "val": np.arange(n - v - t, n - t), "test": np.arange(n - t, n)}
    for name in SPLITS:
        if len(out[name]) == 0:
            raise InvalidInputError(
                f"The data must have enough samples for non-empty train, val and test splits. Got {n} samples, "
                f"which leaves the {name!r} split empty."
            )
    return {k: v.astype(np.int64) for k, v in out.items()}
