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


@pytest.mark.slow
def test_audit_on_a_dask_cluster_equals_the_local_run(tabular_ds, torch_linear):
    """Bootstrap resamples (fairness) and attacks (robustness) sent to 2 Dask worker processes give the same JSON."""
    pytest.importorskip("distributed")
    from audit import AuditConfig, run_audit

    base = dict(checks=("fairness", "robustness"), max_rows=80, device="cpu", default_warnings=False,
                options={"fairness": {"n_boot": 200, "chunk_size": 50}, "robustness": {"n_samples": 60, "steps": 5}})
    local = run_audit(torch_linear, tabular_ds, AuditConfig(**base), progress=False)
    try:
        dask = run_audit(torch_linear, tabular_ds, AuditConfig(backend="dask", n_jobs=2, **base), progress=False)
    finally:
        close_dask_clients()
    assert local.checks["fairness"].status == "ok" and local.checks["robustness"].status == "ok"
    assert dask.metrics == local.metrics
