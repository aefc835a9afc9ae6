"""Shared helpers for benchmarks: timing, one torch thread, and the row format the table collects."""
from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["one_thread", "best_time", "row", "emit", "parse_args"]


def one_thread() -> None:
    """One torch/BLAS thread: on 2 cores a second thread makes small operations erratic."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def best_time(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def row(benchmark: str, method: str, ours: float | None, library: float | None, floor: float | None,
        target: str = "", **extra: Any) -> dict[str, Any]:
    """One table row: seconds for ours, the plain library call and the hand-batched floor, with ratios."""
    out: dict[str, Any] = {"benchmark": benchmark, "method": method, "ours_s": ours, "library_s": library,
                           "floor_s": floor, "target": target}
    if ours and floor:
        out["ours_over_floor"] = round(ours / floor, 3)
    if ours and library:
        out["speedup_vs_library"] = round(library / ours, 2)
    out.update(extra)
    return out


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", type=Path, default=None, help="write the rows here as JSON")
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    return parser.parse_args()


def emit(rows: list[dict[str, Any]], path: Path | None) -> None:
    """Print rows and optionally write them as JSON."""
    for r in rows:
        print(json.dumps(r))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows, indent=1))
