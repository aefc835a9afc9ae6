"""The one executor seam for row-parallel work (per-sample explanations, Kernel SHAP/LIME rows, attacks,
bootstrap resamples). joblib underneath, so a Dask cluster takes the work with no change to the checks.

Results never depend on the backend: work items carry their own seeds and results come back in order.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import joblib

from audit.errors import ConfigError

__all__ = ["Executor", "chunked"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Executor:
    """Maps a function over work items.

    Attributes:
        n_jobs: workers (1: run in this process; -1: all cores).
        backend: "sequential" | "loky" | "threading" | "dask".
        scheduler_address: for "dask": "tcp://host:8786" of a running scheduler; None starts a local cluster.
    """

    n_jobs: int = 1
    backend: str = "sequential"
    scheduler_address: str | None = None

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(item) for item in items]``, possibly in parallel, in order."""
        items = list(items)
        if self.backend == "sequential" or (self.n_jobs == 1 and self.backend != "dask") or len(items) <= 1:
            return [fn(item) for item in items]
        if self.backend == "dask":
            with _dask_backend(self.scheduler_address, self.n_jobs):
                return list(joblib.Parallel(n_jobs=-1)(joblib.delayed(fn)(item) for item in items))
        return list(joblib.Parallel(n_jobs=self.n_jobs, backend=self.backend)(joblib.delayed(fn)(i) for i in items))


_CLIENTS: dict[str, Any] = {}


@contextlib.contextmanager
def _dask_backend(address: str | None, n_jobs: int) -> Iterator[None]:
    try:
        from distributed import Client, LocalCluster  # optional dependency: pip install deepaudit[dask]
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigError("backend = 'dask' needs the 'distributed' package: pip install 'deepaudit[dask]'.") from exc
    key = address or f"local-{n_jobs}"
    client = _CLIENTS.get(key)
    if client is None or client.status != "running":
        if address:
            client = Client(address)
        else:
            workers = n_jobs if n_jobs > 0 else None
            cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        _CLIENTS[key] = client
    with joblib.parallel_config(backend="dask"):
        yield


def close_dask_clients() -> None:
    """Close clusters this process started (tests and the CLI call this at exit)."""
    for client in list(_CLIENTS.values()):
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None:
            cluster.close()
    _CLIENTS.clear()


def chunked(n: int, size: int) -> list[tuple[int, int]]:
    """Half-open (start, stop) ranges covering 0..n in chunks of ``size``."""
    return [(s, min(s + size, n)) for s in range(0, n, max(1, size))]
