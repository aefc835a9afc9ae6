"""``run_audit``: adapt the model, run every applicable check in isolation, apply thresholds, return the result."""
from __future__ import annotations

import math
import platform
import sys
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from audit.adapters import ModelAdapter, wrap_model
from audit.checks.base import AuditContext, Check, validate_options
from audit.config import AuditConfig, Threshold
from audit.errors import CheckNotApplicable, ConfigError, InvalidInputError, InvalidTypeError
from audit.executor import Executor
from audit.registry import REGISTRY, Registry
from audit.results import SEVERITY_ORDER, AuditResult, CheckRecord, Finding, lookup_metric
from models.dataset import Dataset

__all__ = ["run_audit", "ProgressCallback"]

ProgressCallback = Callable[[str, float, str, float], None]
"""``callback(check_name, check_fraction, message, overall_fraction)``."""

_VERSIONED = ("deepaudit", "torch", "numpy", "pandas", "scikit-learn", "captum", "shap", "lime", "fairlearn")


def run_audit(
    model: Any,
    dataset: Dataset,
    config: AuditConfig | None = None,
    *,
    output: str = "auto",
    progress: bool = True,
    on_progress: ProgressCallback | None = None,
    registry: Registry = REGISTRY,
) -> AuditResult:
    """Run every applicable check on ``model`` over ``dataset``.

    Args:
        model: a ``TrainedModel``, a ``torch.nn.Module``, an object with ``predict_proba``/``predict``, a callable
            returning probabilities, or a ``ModelAdapter``.
        dataset: the data (its test split is audited).
        config: settings and thresholds; ``None`` means ``AuditConfig()`` (defaults and warning thresholds).
        output: for bare torch modules: "logits", "probabilities" or "auto" (detected).
        progress: show tqdm bars (overall and per check).
        on_progress: optional callback for dashboards.
        registry: the checks to choose from (the built-in registry by default).

    Returns:
        The ``AuditResult``; ``result.passed`` is False when a configured threshold is broken.

    Raises:
        ConfigError: the config names a check or threshold no registered check provides.
        InvalidInputError / InvalidTypeError: the model or data cannot be audited at all.

    Example:
        >>> from models import load_dataset, train_model          # doctest: +SKIP
        >>> ds = load_dataset("adult"); tm = train_model("mlp", ds)
        >>> result = run_audit(tm, ds); result.passed
    """
    config = config or AuditConfig()
    if not isinstance(config, AuditConfig):
        raise InvalidTypeError(f"The 'config' argument must be an AuditConfig or None. Got {type(config).__name__}.")
    if not isinstance(dataset, Dataset):
        raise InvalidTypeError(f"The 'dataset' argument must be a models.Dataset. Got {type(dataset).__name__}.")
    selected = _select_checks(config, registry)
    thresholds = config.effective_thresholds()
    _validate_thresholds(thresholds, registry)
    options = {check.name: validate_options(check, config.options_for(check.name)) for check in selected}
    for name in config.options:
        if name not in registry:
            raise ConfigError(f"Unknown check 'options.{name}'. Registered checks: {registry.names()}.")

    adapter = wrap_model(model, dataset, output=output, device=config.device, batch_size=config.batch_size)
    sensitive = _sensitive_features(config, dataset)
    ctx = _build_context(adapter, dataset, config, sensitive)

    started = time.time()
    records: dict[str, CheckRecord] = {}
    findings: list[Finding] = []
    metrics: dict[str, Any] = {}
    try:
        if adapter.task in ("binary", "multiclass"):
            ctx.test_proba()  # resolves logits/probabilities and validates outputs once
    except Exception as exc:  # the model cannot score the data: the audit cannot pass; every check will say so
        findings.append(Finding("model", "fail", f"The model could not score the test data: {exc}"))

    overall = tqdm(total=len(registry.names()), desc="audit", disable=not progress, leave=False)
    for position, check in enumerate(registry.checks()):
        name = check.name
        reason = None if check in selected else "not selected in the config"
        reason = reason or _not_applicable(check, adapter, dataset, sensitive)
        if reason:
            records[name] = CheckRecord(name, "skipped", reason=reason)
            overall.update(1)
            continue
        bar = tqdm(total=100, desc=name, disable=not progress, leave=False)

        def report(fraction: float, message: str = "", _bar: tqdm = bar, _name: str = name, _pos: int = position) -> None:
            _bar.n = int(100 * min(max(fraction, 0.0), 1.0))
            _bar.set_postfix_str(message[:40], refresh=True)
            if on_progress is not None:
                on_progress(_name, fraction, message, (_pos + fraction) / max(1, len(registry.names())))

        ctx.progress = report
        t0 = time.perf_counter()
        try:
            out = check.run(ctx, options[name])
        except CheckNotApplicable as exc:
            records[name] = CheckRecord(name, "skipped", seconds=time.perf_counter() - t0, reason=str(exc))
        except Exception as exc:  # isolate: one failing check never loses the rest
            tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
            summary = "".join(tb[-3:])[-2000:]
            records[name] = CheckRecord(name, "error", seconds=time.perf_counter() - t0,
                                        reason=f"{type(exc).__name__}: {exc}", traceback=summary)
            findings.append(Finding(name, "error", f"The check '{name}' failed: {type(exc).__name__}: {exc}"))
        else:
            metrics[name] = out.metrics
            ctx.metrics[name] = out.metrics
            ctx.artifacts[name] = out.artifacts
            findings.extend(out.findings)
            records[name] = CheckRecord(name, "ok", seconds=time.perf_counter() - t0)
        report(1.0, "done")
        bar.close()
        overall.update(1)
    overall.close()

    findings.extend(_apply_thresholds(thresholds, metrics, records))
    findings.sort(key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.check, f.metric or ""))
    provenance = _provenance(adapter, dataset, config, ctx, started, records)
    return AuditResult(provenance=provenance, checks=records, metrics=metrics, findings=findings,
                       model_card={k: str(v) for k, v in config.model_card.items()})


def _select_checks(config: AuditConfig, registry: Registry) -> list[Check]:
    for name in list(config.checks or ()) + list(config.skip):
        if name not in registry:
            raise ConfigError(f"Unknown check {name!r} in the config. Registered checks: {registry.names()}.")
    names = config.checks if config.checks is not None else registry.names()
    return [registry.get(n) for n in registry.names() if n in names and n not in config.skip]


def _validate_thresholds(thresholds: list[Threshold], registry: Registry) -> None:
    for t in thresholds:
        if t.severity == "fail" and t.check not in registry:
            raise ConfigError(
                f"The threshold 'thresholds.{t.metric}' names check {t.check!r}, which no registered check provides. "
                f"Registered checks: {registry.names()}."
            )


def _sensitive_features(config: AuditConfig, dataset: Dataset) -> list[str]:
    available = list(dataset.test.sensitive.columns)
    if len(dataset.test.sensitive) != len(dataset.test) and available:
        raise InvalidInputError(
            f"The test split has {len(dataset.test)} rows but its sensitive features have "
            f"{len(dataset.test.sensitive)}; they must match row for row."
        )
    if config.sensitive is None:
        return [s for s in dataset.sensitive_features if s in available] or available
    for name in config.sensitive:
        if name not in available:
            raise ConfigError(f"The 'sensitive' key names {name!r}, which the data does not have. Available: {available}.")
    return list(config.sensitive)


def _build_context(adapter: ModelAdapter, dataset: Dataset, config: AuditConfig, sensitive: list[str]) -> AuditContext:
    backend = config.backend
    if adapter.device.type == "cuda" and backend in ("loky", "dask"):
        backend = "threading"  # CUDA work stays in this process; worker processes would each set up CUDA
    executor = Executor(n_jobs=config.n_jobs, backend=backend, scheduler_address=config.scheduler_address)
    ctx = AuditContext(model=adapter, dataset=dataset, test=dataset.test, test_index=np.arange(len(dataset.test)),
                       config=config, executor=executor, sensitive_features=sensitive)
    if len(dataset.test) > config.max_rows:
        index = ctx.sample(config.max_rows, "audit-rows")
        ctx.test = dataset.test.subset(index)
        ctx.test_index = index
    return ctx


def _not_applicable(check: Check, adapter: ModelAdapter, dataset: Dataset, sensitive: list[str]) -> str | None:
    if dataset.kind not in check.kinds:
        return f"applies to {sorted(check.kinds)} data, not {dataset.kind!r}"
    if adapter.task not in check.tasks:
        return f"applies to {sorted(check.tasks)} models, not {adapter.task!r}"
    for need in sorted(check.needs):
        if need == "sensitive":
            if not sensitive:
                return "the data has no sensitive attribute"
        elif need not in adapter.capabilities:
            what = {"gradients": "a differentiable torch model (this one is a black box)",
                    "embedding": "a text model with an `embedding` layer",
                    "generator": "a generative model", "proba": "class probabilities"}.get(need, need)
            return f"needs {what}"
    return None


def _apply_thresholds(thresholds: list[Threshold], metrics: dict[str, Any],
                      records: dict[str, CheckRecord]) -> list[Finding]:
    out: list[Finding] = []
    for t in thresholds:
        record = records.get(t.check)
        if record is None or record.status != "ok":
            if t.severity == "fail":  # fail closed: a gate that could not be evaluated does not pass
                state = "was not run" if record is None else f"was {record.status}" + (f" ({record.reason})" if record.reason else "")
                out.append(Finding(t.check, "fail", f"Threshold on '{t.metric}' could not be evaluated: the check {state}.",
                                   metric=t.path, threshold=t.bounds()))
            continue
        try:
            value = lookup_metric(metrics, t.metric)
        except KeyError:
            if t.severity == "fail":
                out.append(Finding(t.check, "fail", f"Threshold on '{t.metric}': the check produced no such metric.",
                                   metric=t.path, threshold=t.bounds()))
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            if t.severity == "fail":  # undefined (NaN/None) or not a number: a gate never passes silently
                out.append(Finding(t.check, "fail", f"Threshold on '{t.metric}' could not be evaluated: the value is "
                                   f"{value!r}, not a finite number.", metric=t.path, threshold=t.bounds()))
            continue
        value = float(value)
        if t.broken_by(value):
            bound = " and ".join(f"{k} {v:g}" for k, v in t.bounds().items())
            why = f" {t.rationale}" if t.rationale else ""
            out.append(Finding(t.check, t.severity, f"{t.metric} = {value:.4g} breaks the threshold ({bound}).{why}",
                               metric=t.path, value=value, threshold=t.bounds()))
    return out


def _provenance(adapter: ModelAdapter, dataset: Dataset, config: AuditConfig, ctx: AuditContext,
                started: float, records: dict[str, CheckRecord]) -> dict[str, Any]:
    versions = {}
    for dist in _VERSIONED:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "model": adapter.describe(),
        "data": {"name": dataset.name, "kind": dataset.kind, "task": dataset.task, "sha256": dataset.fingerprint(),
                 "rows": {"train": len(dataset.train), "val": len(dataset.val), "test": len(dataset.test)},
                 "audited_test_rows": int(len(ctx.test)), "sensitive_features": ctx.sensitive_features,
                 "class_names": list(dataset.class_names), "metadata": _jsonable_meta(dataset.metadata)},
        "config": config.to_dict(),
        "seed": config.seed,
        "device": str(adapter.device),
        "versions": versions,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "timings": {name: round(rec.seconds, 4) for name, rec in records.items()},
        "total_seconds": round(time.time() - started, 3),
    }


def _jsonable_meta(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool, list, dict, type(None)))}
