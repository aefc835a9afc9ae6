"""Group and performance metrics over 1,000,000 x 100 rows in chunks, with peak memory (target < 2 GB).

Run: ``python -m benchmarks.scale [--quick]``.
"""
from __future__ import annotations

import resource
import time

import numpy as np
import torch

from audit.streaming import StreamingConfusion
from benchmarks._common import emit, one_thread, parse_args, row


def main() -> None:
    args = parse_args(__doc__ or "")
    one_thread()
    n_rows, n_features, chunk = (200_000 if args.quick else 1_000_000), 100, 50_000
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(n_features, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2)).eval()
    acc = StreamingConfusion(2)
    t0 = time.perf_counter()
    for start in range(0, n_rows, chunk):
        rng = np.random.default_rng([0, start])
        x = rng.normal(size=(chunk, n_features)).astype(np.float32)
        y = (x[:, 0] + 0.5 * rng.normal(size=chunk) > 0).astype(np.int64)
        groups = np.where(x[:, 1] > 0, "a", "b")
        with torch.no_grad():
            pred = model(torch.from_numpy(x)).argmax(1).numpy()
        acc.update(y, pred, groups)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    m = acc.metrics()
    emit([row("scale", f"group metrics {n_rows:,} x {n_features} (chunks of {chunk:,})", seconds, None, None,
              target="peak memory < 2048 MB", peak_rss_mb=round(peak_mb, 1), rows=n_rows,
              groups=len(m["groups"]), accuracy=round(m["overall"]["accuracy"], 4))], args.json)


if __name__ == "__main__":
    main()
