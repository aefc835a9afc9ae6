"""Which test rows get local explanations: the most confident errors, the least confident predictions, a seeded
random sample and the rows the user names (indices into ``dataset.test``)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audit.errors import InvalidInputError

__all__ = ["LocalSelection", "select_local", "check_sample_indices"]


@dataclass(frozen=True)
class LocalSelection:
    """Chosen rows: ``indices`` into ``dataset.test`` and why each was chosen (same order, no duplicates)."""

    indices: np.ndarray
    reasons: tuple[str, ...]


def check_sample_indices(indices: Sequence[int], n_test: int) -> np.ndarray:
    """User-named rows as int64, each within ``0 .. n_test - 1``.

    Raises:
        InvalidInputError: an index out of range or not an int.
    """
    out = []
    for idx in indices:
        if isinstance(idx, bool) or not isinstance(idx, (int, np.integer)) or not 0 <= int(idx) < n_test:
            raise InvalidInputError(
                f"The 'sample_indices' config key must hold row indices of the test split, 0..{n_test - 1}. "
                f"Got {idx!r} instead."
            )
        out.append(int(idx))
    return np.asarray(out, dtype=np.int64)


def select_local(proba: np.ndarray | None, y: np.ndarray, test_index: np.ndarray, *, n_per_reason: int,
                 rng: np.random.Generator, user: Sequence[int] = (), n_test: int | None = None,
                 predictions: np.ndarray | None = None) -> LocalSelection:
    """Pick rows to explain locally.

    Args:
        proba: class probabilities of the audited rows (n, k), or None for regression.
        y: labels (or targets) of the audited rows.
        test_index: positions of the audited rows in ``dataset.test``.
        n_per_reason: rows per automatic reason.
        rng: seeded generator for the random sample.
        user: indices into ``dataset.test`` named by the user (always included, first).
        n_test: rows of ``dataset.test`` (for validating ``user``; default: max(test_index) + 1).
        predictions: regression predictions (the largest absolute errors are chosen).

    Returns:
        The selection, user rows first, then errors, uncertain and random rows (duplicates dropped).

    Raises:
        InvalidInputError: a user index is out of range.
    """
    n_test = int(n_test if n_test is not None else (int(test_index.max()) + 1 if len(test_index) else 0))
    picked: list[tuple[int, str]] = [(int(i), "user") for i in check_sample_indices(user, n_test)]
    k = max(0, int(n_per_reason))
    if proba is not None:
        pred = proba.argmax(axis=1)
        conf = proba.max(axis=1)
        wrong = np.flatnonzero(pred != np.asarray(y))
        errors = wrong[np.argsort(-conf[wrong], kind="stable")][:k]
        uncertain = np.argsort(conf, kind="stable")[:k]
        picked += [(int(test_index[p]), "most_confident_error") for p in errors]
        picked += [(int(test_index[p]), "least_confident") for p in uncertain]
    elif predictions is not None:
        residual = np.abs(np.asarray(predictions, dtype=np.float64) - np.asarray(y, dtype=np.float64))
        picked += [(int(test_index[p]), "largest_error") for p in np.argsort(-residual, kind="stable")[:k]]
    if len(test_index):
        chosen = rng.choice(len(test_index), size=min(k, len(test_index)), replace=False)
        picked += [(int(test_index[p]), "random") for p in np.sort(chosen)]
    seen: dict[int, str] = {}
    for idx, why in picked:
        seen.setdefault(idx, why)
    return LocalSelection(np.asarray(list(seen), dtype=np.int64), tuple(seen.values()))
