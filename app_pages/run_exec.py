"""Carry out one audit job from the Run page: get the data and the model, audit with a progress bar per check,
write the run folder, and make it the current result.

The job is a plain dataclass filled by the page's widgets; nothing here decides audit numbers (``run_audit``,
``train_model`` and ``deepaudit.io`` do).
"""
from __future__ import annotations

import shutil
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from app_pages.runs import MODEL_DIR, new_run_dir, write_run_info
from app_pages.state import cached_dataset, cached_file_dataset, cached_model, open_result
from audit import REGISTRY, AuditConfig, AuditResult, run_audit
from audit.config import parse_thresholds
from deepaudit.io import audit_dataset_for_file, write_outputs
from models import Dataset, TrainedModel, train_model
from models.errors import DeepAuditError

__all__ = ["AuditJob", "QUICK_JOB", "QUICK_OPTIONS", "execute_job", "quick_options"]


@dataclass(frozen=True)
class AuditJob:
    """Everything needed to run one audit from the dashboard.

    Attributes:
        label: short name for the run folder.
        data: ``{"source": "bundled", "name", "seed", "max_rows"}`` or ``{"source": "file", "file" (a path),
            "target", "sensitive", "seed"}``.
        family: model family to train (when ``checkpoint`` is None).
        epochs: training epochs (None: the family's default).
        checkpoint: a checkpoint folder to load instead of training.
        seed: audit and training seed.
        audit_rows: test rows audited.
        checks: checks to run (None: all registered).
        sensitive: sensitive attributes (None: the data's own).
        thresholds: ``{"check.metric": {"min": .., "max": ..}}`` (configured: breaking one fails the audit).
        options: per-check options.
    """

    label: str
    data: dict[str, Any]
    family: str = "mlp"
    epochs: int | None = None
    checkpoint: str | None = None
    seed: int = 0
    audit_rows: int = 2000
    checks: tuple[str, ...] | None = None
    sensitive: tuple[str, ...] | None = None
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)


# Light settings used by the quick demo, applied to every registered check that declares the option with the
# same type (checks that do not declare an option are left alone).
QUICK_OPTIONS: dict[str, Any] = {
    "n_boot": 50, "n_bootstrap": 50, "n_samples": 8, "n_explain": 4, "n_rows": 40, "n_steps": 16,
    "max_samples": 8, "background_size": 20, "n_background": 20, "lime_samples": 200, "kernel_samples": 100,
    "n_permutations": 2, "pgd_steps": 5, "steps": 5, "n_examples": 4, "max_rows": 200,
}

QUICK_JOB = AuditJob(
    label="quick-demo-adult-mlp",
    data={"source": "bundled", "name": "adult", "seed": 0, "max_rows": 1500},
    family="mlp", epochs=15, seed=0, audit_rows=200,
)


def quick_options(overrides: dict[str, Any] = QUICK_OPTIONS) -> dict[str, dict[str, Any]]:
    """Per-check options that lighten every registered check declaring one of ``overrides`` (same type)."""
    out: dict[str, dict[str, Any]] = {}
    for check in REGISTRY.checks():
        defaults = dict(check.default_options)
        picked = {k: v for k, v in overrides.items()
                  if k in defaults and type(defaults[k]) is type(v) and (not isinstance(v, int) or v < defaults[k])}
        if picked:
            out[check.name] = picked
    return out


def _load_data(job: AuditJob, folder: Path, model: TrainedModel | None) -> Dataset:
    data = job.data
    if data["source"] == "bundled":
        return cached_dataset(data["name"], int(data.get("seed", 0)), data.get("max_rows"))
    path = Path(data["file"])
    local = folder / path.name
    if path.resolve() != local.resolve():
        shutil.copyfile(path, local)  # keep the audited table with the run (the What-if tab reloads it)
    if model is not None:
        return audit_dataset_for_file(local, model, target=data["target"], sensitive=list(data.get("sensitive", [])),
                                      seed=int(data.get("seed", 0)))
    return cached_file_dataset(str(local), local.stat().st_mtime, data["target"],
                               tuple(data.get("sensitive", [])), int(data.get("seed", 0)))


def _train(job: AuditJob, ds: Dataset) -> TrainedModel:
    bar = st.progress(0.0, text=f"Training {job.family} on {ds.name}…")

    def on_epoch(record: dict[str, Any]) -> None:
        total = max(1, int(record.get("epochs", 1)))
        done = int(record.get("epoch", 0))
        loss = record.get("val_loss")
        tail = f", validation loss {loss:.4f}" if isinstance(loss, float) else ""
        bar.progress(min(1.0, done / total), text=f"Training {job.family}: epoch {done}/{total}{tail}")

    tm = train_model(job.family, ds, seed=job.seed, device="cpu", epochs=job.epochs, progress=False, on_epoch=on_epoch)
    bar.progress(1.0, text=f"Trained {job.family}: " + ", ".join(
        f"{k} {v:.3f}" for k, v in tm.metrics.items() if k in ("accuracy", "mae", "loss") and isinstance(v, float)))
    return tm


def _config(job: AuditJob) -> AuditConfig:
    return AuditConfig(
        seed=job.seed, device="cpu", max_rows=job.audit_rows, checks=job.checks, sensitive=job.sensitive,
        thresholds=tuple(parse_thresholds(job.thresholds)), options=job.options,
    )


def _audit(model: TrainedModel, ds: Dataset, config: AuditConfig) -> AuditResult:
    names = [n for n in REGISTRY.names() if config.checks is None or n in config.checks]
    st.markdown("**Audit progress**")
    overall = st.progress(0.0, text="Starting the audit…")
    bars = {name: st.progress(0.0, text=f"{name}: waiting") for name in names}

    def on_progress(check: str, fraction: float, message: str, total: float) -> None:
        if check in bars:
            frac = min(max(float(fraction), 0.0), 1.0)
            bars[check].progress(frac, text=f"{check}: {message or 'running'} ({frac:.0%})")
        overall.progress(min(max(float(total), 0.0), 1.0), text=f"Audit: {check}")

    result = run_audit(model, ds, config, progress=False, on_progress=on_progress)
    for name, bar in bars.items():
        record = result.checks.get(name)
        if record is not None and record.status != "ok":
            bar.progress(1.0, text=f"{name}: {record.status}" + (f" ({record.reason})" if record.reason else ""))
    overall.progress(1.0, text="Audit finished: " + ("passed" if result.passed else "FAILED"))
    return result


def execute_job(job: AuditJob, out_dir: str | Path, model: TrainedModel | None = None) -> Path | None:
    """Run ``job`` and write its folder under ``out_dir``; shows ``st.error`` and returns None on bad input.

    Args:
        job: what to run.
        out_dir: the output folder of the dashboard.
        model: an already loaded model (an uploaded checkpoint); otherwise ``job.checkpoint`` is loaded or a model
            of ``job.family`` is trained.

    Returns:
        The run folder (now the current result), or None when the job failed.
    """
    folder: Path | None = None
    try:
        folder = new_run_dir(out_dir, job.label)
        config = _config(job)
        if model is None and job.checkpoint:
            ckpt = Path(job.checkpoint)
            meta = ckpt / "metadata.json"
            model = cached_model(str(ckpt.resolve()), meta.stat().st_mtime if meta.is_file() else 0.0)
        ds = _load_data(job, folder, model)
        if model is None:
            model = _train(job, ds)
        model.save(folder / MODEL_DIR)
        result = _audit(model, ds, config)
        write_outputs(result, folder)
        data = dict(job.data)
        if data["source"] == "file":
            data["file"] = Path(data["file"]).name
        write_run_info(folder, {"data": data, "label": job.label, "family": model.family})
    except DeepAuditError as exc:
        st.error(str(exc))
        _discard(folder)
        return None
    except Exception as exc:  # noqa: BLE001 - the page shows a message, never a stack trace
        st.error(f"The audit could not run: {type(exc).__name__}: {exc}")
        print(traceback.format_exc(), flush=True)  # the server log keeps the details
        _discard(folder)
        return None
    open_result(folder)
    return folder


def _discard(folder: Path | None) -> None:
    if folder is not None and folder.is_dir() and not (folder / "result.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
