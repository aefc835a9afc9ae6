"""``python -m benchmarks``: run every benchmark in its own process (one torch thread) and write one table.

Each benchmark module prints one JSON object per line (see ``benchmarks._common.row``); this collects them into
``benchmarks/results/table.md`` and ``table.json``. ``--only explain,fairness`` runs a subset; ``--quick`` passes
smaller sizes through.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

MODULES = ("explain", "fairness", "robustness", "end_to_end", "scale", "train")
COLUMNS = ("benchmark", "method", "ours_s", "library_s", "floor_s", "ours_over_floor", "speedup_vs_library", "target")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated subset of " + ",".join(MODULES))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    chosen = [m for m in MODULES if not args.only or m in args.only.split(",")]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    rows: list[dict] = []
    for name in chosen:
        if not (Path(__file__).parent / f"{name}.py").is_file():
            continue
        cmd = [sys.executable, "-m", f"benchmarks.{name}"] + (["--quick"] if args.quick else [])
        print(f"== {' '.join(cmd)}", flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        for line in proc.stdout.splitlines():
            line = line.strip()
            if line.startswith("{") and line.endswith("}"):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if "method" in record:
                    record.setdefault("benchmark", name)
                    rows.append(record)
                    print("  ", {k: record.get(k) for k in COLUMNS if k in record}, flush=True)
        if proc.returncode != 0:
            rows.append({"benchmark": name, "method": "FAILED", "target": proc.stderr.strip()[-300:]})
            print(proc.stderr[-2000:], file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.json").write_text(json.dumps(rows, indent=1))
    (args.out / "table.md").write_text(_markdown(rows))
    print(_markdown(rows))
    return 0


def _markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = []
        for c in COLUMNS:
            v = r.get(c)
            cells.append(f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
