"""Train every model family on CUDA (bf16 autocast, data resident on the GPU) and compare its throughput with
the CPU.

Run on a machine with a GPU: ``python -m benchmarks.gpu`` (``--device cpu`` is a dry run of the same script on
the CPU only, e.g. to check it works where there is no GPU). Without CUDA and without ``--device cpu`` it prints
why and exits with status 2. Prints one JSON row per family and a table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from models import load_dataset, train_model
from models.device import resolve_device
from models.errors import InvalidInputError

#: family -> (data set, rows); epochs come from --epochs
RUNS: dict[str, tuple[str, int]] = {
    "mlp": ("adult", 20000),
    "cnn": ("fashion_mnist", 10000),
    "lstm": ("rotten_tomatoes", 10000),
    "transformer": ("rotten_tomatoes", 10000),
    "gan": ("fashion_mnist", 10000),
}


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu for a dry run")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-minutes", type=float, default=1.0, help="budget per family and device")
    parser.add_argument("--rows", type=int, default=0, help="cap on rows per data set (0: the table above)")
    parser.add_argument("--batch-size", type=int, default=0, help="0: each family's default")
    parser.add_argument("--cpu-threads", type=int, default=0, help="torch threads for the CPU baseline (0: default)")
    parser.add_argument("--skip-cpu", action="store_true", help="do not measure the CPU baseline")
    parser.add_argument("--families", default=",".join(RUNS))
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args()


def _throughput(family: str, ds, device: str, args: argparse.Namespace) -> dict:
    kwargs = {"batch_size": args.batch_size} if args.batch_size else {}
    train_model(family, ds, device=device, epochs=1, progress=False, max_minutes=0.05, **kwargs)  # warm-up
    t0 = time.perf_counter()
    tm = train_model(family, ds, device=device, epochs=args.epochs, max_minutes=args.max_minutes, progress=False,
                     **kwargs)
    seconds = time.perf_counter() - t0
    epochs = len(tm.history)
    out = {"seconds": round(seconds, 3), "epochs": epochs, "samples_per_s": round(len(ds.train) * epochs / seconds, 1)}
    metric = tm.metrics.get("accuracy", tm.metrics.get("mae"))
    if metric is not None:
        out["test_metric"] = round(float(metric), 4)
    return out


def main() -> int:
    args = _parse()
    try:
        device = resolve_device(args.device)
    except InvalidInputError as exc:
        print(f"benchmarks.gpu: {exc}\nThis benchmark needs a CUDA GPU; run with --device cpu for a dry run.",
              file=sys.stderr)
        return 2
    if args.cpu_threads:
        torch.set_num_threads(args.cpu_threads)
    dry_run = device.type == "cpu"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (dry run)"
    print(f"device: {name}; torch {torch.__version__}; cpu threads {torch.get_num_threads()}", flush=True)
    rows = []
    for family in [f for f in args.families.split(",") if f]:
        data_name, rows_wanted = RUNS[family]
        ds = load_dataset(data_name, max_rows=min(rows_wanted, args.rows) if args.rows else rows_wanted, seed=0)
        record = {"family": family, "data": data_name, "train_rows": len(ds.train)}
        record["device"] = _throughput(family, ds, str(device), args)
        if not dry_run and not args.skip_cpu:
            record["cpu"] = _throughput(family, ds, "cpu", args)
            record["speedup"] = round(record["device"]["samples_per_s"] / record["cpu"]["samples_per_s"], 2)
        rows.append(record)
        print(json.dumps(record), flush=True)
    print(f"\n| family | data | rows | {device.type} samples/s | cpu samples/s | speedup |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        cpu = r.get("cpu", {}).get("samples_per_s", "")
        print(f"| {r['family']} | {r['data']} | {r['train_rows']} | {r['device']['samples_per_s']} | {cpu} | "
              f"{r.get('speedup', '')} |")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
