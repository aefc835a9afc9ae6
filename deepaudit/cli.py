"""The ``deepaudit`` command line.

Exit codes: 0 the audit passed, 1 the audit ran and broke a threshold (or a diff found a regression),
2 bad usage or input.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from audit import AuditConfig, AuditResult, run_audit
from audit.compression import add_compress_arguments, run_compress
from audit.errors import DeepAuditError, InvalidInputError
from audit.executor import close_dask_clients
from deepaudit.io import audit_dataset_for_file, write_outputs
from deepaudit.demo import run_demo
from models import FAMILIES, load_dataset, load_model, train_model
from reports import diff_results, write_diff_html, write_html, write_junit

__all__ = ["main", "build_parser", "EXIT_PASSED", "EXIT_FAILED", "EXIT_USAGE"]

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep its message short and named
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"deepaudit: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    parser = _Parser(prog="deepaudit", description="Audit deep models: explanations, fairness, robustness.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train a model family on a bundled data set and save a checkpoint")
    p.add_argument("family", choices=FAMILIES)
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--max-rows", type=int, default=None, help="train on a seeded subset (quick runs)")

    p = sub.add_parser("audit", help="audit a saved model; writes result.json, report.html and junit.xml")
    p.add_argument("--model", required=True, type=Path, help="checkpoint folder written by `deepaudit train`")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="a bundled data set name")
    src.add_argument("--data", type=Path, help="a CSV or Parquet file of raw rows (with the target column)")
    p.add_argument("--target", help="target column of --data")
    p.add_argument("--sensitive", default=None, help="comma-separated sensitive columns")
    p.add_argument("--config", type=Path, default=None, help="audit.toml or audit.yaml")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--max-rows", type=int, default=None, help="load a seeded subset of the bundled data set")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("report", help="render a saved result as HTML and/or JUnit")
    p.add_argument("result", type=Path)
    p.add_argument("--html", type=Path, default=None)
    p.add_argument("--junit", type=Path, default=None)

    p = sub.add_parser("diff", help="compare two audit results; exit 1 on a regression")
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument("--html", type=Path, default=None)
    p.add_argument("--tolerance", type=float, default=0.02)

    add_compress_arguments(sub.add_parser("compress", help="quantize, prune and distill a model; audit every variant"))

    p = sub.add_parser("demo", help="train and audit every family on bundled data; write HTML reports")
    p.add_argument("--out", type=Path, default=Path("runs/demo"))
    p.add_argument("--quick", action="store_true", help="small slices and few epochs (about two minutes)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--families", default=",".join(FAMILIES), help="comma-separated subset of families")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except DeepAuditError as exc:
        print(f"deepaudit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # unreadable input or unwritable output: bad usage, never "threshold broken"
        print(f"deepaudit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        close_dask_clients()


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "train":
        ds = load_dataset(args.dataset, seed=args.seed, max_rows=args.max_rows)
        tm = train_model(args.family, ds, seed=args.seed, device=args.device, epochs=args.epochs)
        tm.save(args.out)
        print(f"saved {args.family} trained on {args.dataset} to {args.out}: {_fmt_metrics(tm.metrics)}")
        return EXIT_PASSED
    if args.command == "audit":
        return _audit(args)
    if args.command == "report":
        result = AuditResult.from_json(args.result)
        if args.html is None and args.junit is None:
            raise _usage("report needs --html and/or --junit")
        if args.html is not None:
            print(f"wrote {write_html(result, args.html)}")
        if args.junit is not None:
            print(f"wrote {write_junit(result, args.junit)}")
        return EXIT_PASSED if result.passed else EXIT_FAILED
    if args.command == "diff":
        diff = diff_results(AuditResult.from_json(args.old), AuditResult.from_json(args.new), tolerance=args.tolerance)
        for line in diff.summary_lines():
            print(line)
        if args.html is not None:
            print(f"wrote {write_diff_html(diff, args.html)}")
        return EXIT_FAILED if diff.has_regression else EXIT_PASSED
    if args.command == "compress":
        result = run_compress(args)
        print(_summary_line(result, write_outputs(result, args.out)["html"]))
        return EXIT_PASSED if result.passed else EXIT_FAILED
    if args.command == "demo":
        families = [f.strip() for f in args.families.split(",") if f.strip()]
        results = run_demo(args.out, quick=args.quick, device=args.device, families=families)
        return EXIT_PASSED if all(r.passed for r in results.values()) else EXIT_FAILED
    raise _usage(f"unknown command {args.command!r}")  # pragma: no cover - argparse prevents it


def _audit(args: argparse.Namespace) -> int:
    config = AuditConfig.from_file(args.config) if args.config else AuditConfig()
    if args.sensitive and args.dataset:
        config = config.with_options(sensitive=tuple(s.strip() for s in args.sensitive.split(",")))
    if args.max_rows and args.data:
        raise _usage("--max-rows applies to --dataset only; sample the file before auditing it")
    tm = load_model(args.model, device=config.device if config.device != "auto" else "cpu")
    if args.dataset:
        ds = load_dataset(args.dataset, seed=config.seed, max_rows=args.max_rows)
    else:
        if not args.target:
            raise _usage("--data needs --target COLUMN")
        sensitive = [s.strip() for s in args.sensitive.split(",")] if args.sensitive else []
        ds = audit_dataset_for_file(args.data, tm, target=args.target, sensitive=sensitive, seed=config.seed)
    result = run_audit(tm, ds, config, progress=not args.quiet)
    paths = write_outputs(result, args.out)
    print(_summary_line(result, paths["html"]))
    return EXIT_PASSED if result.passed else EXIT_FAILED


def _summary_line(result: AuditResult, html: Path) -> str:
    counts = {s: len(result.findings_by_severity(s)) for s in ("fail", "error", "warning")}
    state = "PASSED" if result.passed else "FAILED"
    return f"audit {state}: {counts['fail']} failed thresholds, {counts['error']} errors, {counts['warning']} warnings -> {html}"


def _fmt_metrics(metrics: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float)))


def _usage(message: str) -> DeepAuditError:
    return InvalidInputError(message)
