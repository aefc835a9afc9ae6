"""The executor seam gives identical, ordered results on every backend, a Dask LocalCluster included."""
from __future__ import annotations

import numpy as np
import pytest

from audit.executor import Executor, chunked, close_dask_clients


def seeded_work(item: tuple[int, int]) -> list[float]:
    seed, n = item
    return np.random.default_rng(seed).normal(size=n).tolist()


ITEMS = [(s, 5) for s in range(6)]


def test_backends_agree_with_sequential():
    expected = Executor().map(seeded_work, ITEMS)
    assert Executor(n_jobs=2, backend="threading").map(seeded_work, ITEMS) == expected
    assert Executor(n_jobs=2, backend="loky").map(seeded_work, ITEMS) == expected


@pytest.mark.slow
def test_dask_local_cluster_of_two_processes_agrees():
    pytest.importorskip("distributed")
    expected = Executor().map(seeded_work, ITEMS)
    try:
        got = Executor(n_jobs=2, backend="dask").map(seeded_work, ITEMS)
    finally:
        close_dask_clients()
    assert got == expected


def test_chunked_covers_range():
    assert chunked(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert chunked(0, 4) == []
