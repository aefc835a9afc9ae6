"""End to end: the whole tabular audit (every registered check) of the Adult MLP on 5,000 test rows (target <= 10 s),
and ``deepaudit demo --quick`` for all five families (target <= 2 min on 2 cores).

Peers measured on this machine on the same model and rows (not re-run here: they are not dependencies):
responsibleai ``RAIInsights.compute()`` 31.7 s; dalex ``model_parts()`` 9.1 s, ``predict_parts(type="shap")`` 3.1 s per row.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time

from audit import AuditConfig, run_audit
from benchmarks._common import emit, one_thread, parse_args, row
from models import load_dataset, train_model


def main() -> None:
    args = parse_args(__doc__ or "")
    one_thread()
    ds = load_dataset("adult", seed=0)
    tm = train_model("mlp", ds, seed=0, epochs=3 if args.quick else None, progress=False)
    config = AuditConfig(seed=0, device="cpu", max_rows=5000)
    t0 = time.perf_counter()
    result = run_audit(tm, ds, config, progress=False)
    seconds = time.perf_counter() - t0
    per_check = {k: round(v.seconds, 2) for k, v in result.checks.items()}
    rows = [row("end_to_end", "whole tabular audit, Adult MLP, 5,000 rows", seconds, 31.7, None,
                target="<= 10 s (RAIInsights.compute 31.7 s; dalex model_parts 9.1 s)", per_check_s=per_check,
                checks_ok=sum(r.status == "ok" for r in result.checks.values()))]
    if not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "deepaudit", "demo", "--quick", "--out", tmp],
                                  capture_output=True, text=True)
            rows.append(row("end_to_end", "deepaudit demo --quick (5 families, trained + audited)",
                            time.perf_counter() - t0, None, None, target="<= 120 s", exit_code=proc.returncode))
    emit(rows, args.json)


if __name__ == "__main__":
    main()
