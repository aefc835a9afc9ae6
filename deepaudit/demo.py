"""``deepaudit demo``: train (or reuse) the default model of every family on bundled data, audit each, write the
results and HTML reports under one folder and print a summary table."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from audit import AuditConfig, AuditResult, run_audit
from audit.errors import CheckpointError, InvalidInputError
from deepaudit.io import write_outputs
from models import FAMILIES, Dataset, TrainedModel, load_dataset, load_model, train_model

__all__ = ["DemoJob", "DEMO_JOBS", "run_demo"]


@dataclass(frozen=True)
class DemoJob:
    """One family on one bundled data set, with full and quick settings."""

    family: str
    dataset: str
    epochs: int | None
    quick_epochs: int
    quick_rows: int | None
    quick_audit_rows: int
    config: tuple[tuple[str, Any], ...] = ()


DEMO_JOBS: tuple[DemoJob, ...] = (
    DemoJob("mlp", "adult", None, 4, 6000, 1000),
    DemoJob("cnn", "fashion_mnist", None, 3, 3000, 500, (("batch_norm", True),)),
    DemoJob("lstm", "sunspots", None, 40, None, 500),
    DemoJob("transformer", "rotten_tomatoes", None, 3, 4000, 500),
    DemoJob("gan", "fashion_mnist", None, 2, 3000, 500),
)


# Lighter audit options for `--quick` (same checks, fewer rows and steps); the full demo uses the defaults.
QUICK_OPTIONS: dict[str, dict[str, Any]] = {
    "explanations": {"n_global": 60, "ig_steps": 24, "n_boot": 100, "lime_samples": 300, "kernel_samples": 128},
    "explanation_quality": {"n_rows": 4, "curve_steps": 10, "infidelity_samples": 8},
    "robustness": {"n_samples": 100, "steps": 10, "n_boot": 200},
    "corruption": {"n_samples": 400},
    "ood": {"n_samples": 300},
    "fairness": {"n_boot": 500},
    "generative": {"n_samples": 300, "n_real": 300, "snapshot_samples": 100},
    "generative_insight": {"n_scored": 200},
}


def run_demo(out: str | Path, *, quick: bool = False, device: str = "auto",
             families: list[str] | None = None) -> dict[str, AuditResult]:
    """Train (or reuse) and audit each family; returns the results by family.

    Args:
        out: output folder (``out/<family>/model``, ``result.json``, ``report.html``, ``junit.xml``).
        quick: small slices, few epochs and light audit options (about two minutes on 2 CPU cores).
        device: "auto" | "cpu" | "cuda".
        families: subset of families to run (default: all five).
    """
    families = families or list(FAMILIES)
    for fam in families:
        if fam not in FAMILIES:
            raise InvalidInputError(f"The 'families' argument must contain only {list(FAMILIES)}. Got {fam!r}.")
    root = Path(out)
    results: dict[str, AuditResult] = {}
    rows: list[tuple[str, str, str, float, str]] = []
    for job in DEMO_JOBS:
        if job.family not in families:
            continue
        t0 = time.perf_counter()
        ds = load_dataset(job.dataset, seed=0, max_rows=job.quick_rows if quick else None)
        model_dir = root / job.family / "model"
        tm = _train_or_reuse(job, ds, model_dir, quick=quick, device=device)
        config = _demo_config(job, quick, root, device)
        result = run_audit(tm, ds, config, progress=True)
        paths = write_outputs(result, root / job.family)
        results[job.family] = result
        rows.append((job.family, job.dataset, _headline(result), time.perf_counter() - t0, str(paths["html"])))
        print(f"[{job.family}] {job.dataset}: {_headline(result)} ({time.perf_counter() - t0:.1f} s) -> {paths['html']}",
              flush=True)
    _print_table(rows)
    return results


def _train_or_reuse(job: DemoJob, ds: Dataset, model_dir: Path, *, quick: bool, device: str) -> TrainedModel:
    """Reuse a checkpoint only when it was trained by the same job settings (a quick model never stands in for a
    full one), else train and save."""
    settings = {"job": repr(job), "quick": quick, "data_sha256": ds.fingerprint()}
    marker = model_dir / "demo_job.json"
    if (model_dir / "metadata.json").is_file() and marker.is_file():
        try:
            if json.loads(marker.read_text()) == settings:
                return load_model(model_dir)
        except (CheckpointError, json.JSONDecodeError):
            pass  # stale or damaged: train again
    epochs = job.quick_epochs if quick else job.epochs
    tm = train_model(job.family, ds, seed=0, device=device, epochs=epochs, progress=True,
                     config=dict(job.config) or None)
    tm.save(model_dir)
    marker.write_text(json.dumps(settings))
    return tm


def _demo_config(job: DemoJob, quick: bool, root: Path, device: str) -> AuditConfig:
    options: dict[str, dict[str, Any]] = {k: dict(v) for k, v in QUICK_OPTIONS.items()} if quick else {}
    if job.family == "gan" and (root / "cnn" / "model" / "metadata.json").is_file():
        options.setdefault("generative", {})["reference_model"] = str(root / "cnn" / "model")
    return AuditConfig(
        seed=0,
        device="cpu" if device == "auto" and not torch.cuda.is_available() else device,
        max_rows=job.quick_audit_rows if quick else 5000,
        options=options,
        model_card={
            "intended_use": f"Demonstration of deepaudit on the bundled {job.dataset} data ({job.family}).",
            "limitations": "Small models trained in minutes on CPU; not for real decisions.",
            "ethical_considerations": "Census and credit data encode historical bias; see the fairness section.",
        },
    )


def _headline(result: AuditResult) -> str:
    perf = result.metrics.get("performance", {})
    for key in ("accuracy", "mae", "fid"):
        if key in perf:
            return f"{key}={perf[key]:.3f}, {'passed' if result.passed else 'FAILED'}, {len(result.findings_by_severity('warning'))} warnings"
    gen = result.metrics.get("generative", {})
    if "fid" in gen:
        return f"fid={gen['fid']:.2f}, {len(result.findings_by_severity('warning'))} warnings"
    return "passed" if result.passed else "FAILED"


def _print_table(rows: list[tuple[str, str, str, float, str]]) -> None:
    print("\nfamily       data              result                                         seconds  report")
    for fam, data, head, secs, html in rows:
        print(f"{fam:<12} {data:<17} {head:<46} {secs:7.1f}  {html}")
