"""What ``deepaudit compress`` needs: its arguments, a config file with a ``[compression]`` table, and the run.

The lead's CLI wires it in three lines (see ``add_compress_arguments``); writing HTML / JUnit stays in the CLI
(``deepaudit.io.write_outputs``), because ``audit/`` never imports ``reports/``.
"""
from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path
from typing import Any

import yaml

from audit.compression.compare import CompressionReport
from audit.compression.layout import as_audit_result
from audit.compression.pipeline import compress_and_audit
from audit.compression.settings import CompressionSettings
from audit.config import AuditConfig
from audit.errors import ConfigError
from audit.results import AuditResult, atomic_write_text
from models.checkpoint import load_model
from models.datasets import load_dataset

__all__ = ["COMPRESSION_FILE", "add_compress_arguments", "load_compress_config", "run_compress"]

COMPRESSION_FILE = "compression.json"


def add_compress_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--model DIR --dataset NAME --out DIR [--config FILE] [--max-rows N] [--quiet]`` to ``parser``."""
    parser.add_argument("--model", required=True, type=Path, help="checkpoint folder written by `deepaudit train`")
    parser.add_argument("--dataset", required=True, help="a bundled data set name")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--config", type=Path, default=None, help="audit.toml / audit.yaml (with a [compression] table)")
    parser.add_argument("--max-rows", type=int, default=None, help="load a seeded subset of the bundled data set")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def load_compress_config(path: str | Path | None) -> tuple[AuditConfig, CompressionSettings]:
    """The audit config and the ``[compression]`` table of a TOML / YAML file (``None``: both defaults).

    Raises:
        ConfigError: the file is missing, cannot be parsed, or holds a bad key or value (named).
    """
    if path is None:
        return AuditConfig(), CompressionSettings()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"The config file {str(p)!r} does not exist.")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        elif p.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"The config file must end in .toml, .yaml or .yml. Got {p.name!r}.")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"The config file {str(p)!r} cannot be parsed: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"The config file {str(p)!r} must hold a table of keys. Got {type(data).__name__}.")
    section = data.pop("compression", None)
    return AuditConfig.from_dict(data), CompressionSettings.from_dict(section)


def run_compress(args: argparse.Namespace) -> AuditResult:
    """Load the model and data named by ``args``, run ``compress_and_audit``, write ``compression.json``.

    Returns:
        The original model's audit with the comparison as check ``"compression"`` (for ``write_outputs``).
    """
    config, settings = load_compress_config(args.config)
    model = load_model(args.model, device=config.device if config.device != "auto" else "cpu")
    dataset = load_dataset(args.dataset, seed=config.seed, max_rows=args.max_rows)
    report: CompressionReport = compress_and_audit(model, dataset, config, progress=not args.quiet,
                                                   **settings.as_kwargs())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / COMPRESSION_FILE, json.dumps(report.to_dict(), indent=1, allow_nan=False))
    for flag in report.flags:
        print(f"flag: {flag.message}")
    return as_audit_result(report)
