"""``compress_and_audit``: build compressed variants of a model, audit each one, and compare them with the original."""
from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn
from tqdm.auto import tqdm

from audit.adapters import wrap_model
from audit.checks.base import stratified_sample
from audit.checks.fairness._sensitive import prepare_sensitive
from audit.compression.compare import CompressionReport, VariantRow, accuracy_by, find_flags, importance_drift
from audit.compression.distill import distill as distill_model
from audit.compression.measure import count_parameters, cpu_latency_ms, sparsity, weights_size
from audit.compression.settings import CompressionSettings
from audit.compression.variants import QuantizedPredictor, prunable_weights, prune_global, quantize_int8
from audit.config import AuditConfig
from audit.errors import InvalidInputError, InvalidTypeError
from audit.registry import REGISTRY, Registry
from audit.results import AuditResult
from audit.runner import run_audit
from models.dataset import Dataset
from models.training import TrainedModel

__all__ = ["compress_and_audit", "audited_dataset"]

_FAIRNESS_SUFFIXES = ("_difference", "_ratio")


@dataclasses.dataclass
class _Variant:
    name: str
    kind: str
    audited: Any  # what run_audit receives: a TrainedModel or a QuantizedPredictor
    module: nn.Module  # what is measured (size, latency)
    settings: dict[str, Any]


def compress_and_audit(
    model: TrainedModel,
    dataset: Dataset,
    config: AuditConfig | None = None,
    *,
    sparsities: Sequence[float] = (0.5, 0.9),
    quantize: bool = True,
    distill: bool = True,
    tolerance: float = 0.05,
    progress: bool = False,
    min_group_size: int = 20,
    temperature: float = 2.0,
    alpha: float = 0.5,
    distill_epochs: int = 5,
    student_scale: float = 0.25,
    latency_runs: int = 5,
    latency_batch: int = 256,
    registry: Registry = REGISTRY,
) -> CompressionReport:
    """Compress ``model`` (int8, pruning, distillation), audit every variant and flag hidden group/class losses.

    Every variant is audited with ``run_audit`` on the same test rows (a stratified, seeded sample of
    ``config.max_rows`` when the split is larger). Accuracy, agreement with the original, per-group and per-class
    accuracy are computed here from predictions; fairness gaps, robust accuracy, ECE and explanation drift come from
    the checks that ran (``None`` / "n/a" when a check is absent, skipped or failed; the quantized variant is a black
    box because its int8 kernels pass no gradients).

    Args:
        model: a trained classifier (not changed).
        dataset: its data (test rows are audited; the train split teaches the distilled student).
        config: the audit config applied to every variant (``None``: ``AuditConfig()``).
        sparsities: global magnitude pruning levels, each in (0, 1); empty for none.
        quantize: add the dynamic int8 variant.
        distill: add the distilled student.
        tolerance: flag threshold (see ``find_flags``).
        progress: show progress bars.
        min_group_size: groups and classes with fewer audited rows are never flagged.
        temperature, alpha, distill_epochs, student_scale: distillation settings (see ``distill``).
        latency_runs, latency_batch: timed forward passes and rows per pass (one CPU thread).
        registry: the checks to choose from.

    Returns:
        The ``CompressionReport`` (``rows``, ``flags``, ``to_dict()``, per-variant ``results``).

    Raises:
        InvalidTypeError: ``model`` is not a ``TrainedModel`` or ``dataset`` not a ``Dataset``.
        InvalidInputError: a regression or generative model, or settings out of range.
        ConfigError: a bad setting (named) or a config the runner rejects.

    Example:
        >>> report = compress_and_audit(tm, ds, AuditConfig(checks=("fairness",)))  # doctest: +SKIP
        >>> [f.message for f in report.flags]                                   # doctest: +SKIP
    """
    settings = CompressionSettings(
        sparsities=tuple(sparsities), quantize=quantize, distill=distill, tolerance=tolerance,
        min_group_size=min_group_size, temperature=temperature, alpha=alpha, distill_epochs=distill_epochs,
        student_scale=student_scale, latency_runs=latency_runs, latency_batch=latency_batch)
    config = config or AuditConfig()
    _validate(model, dataset, config)
    audit_ds = audited_dataset(dataset, config)
    groups = _groups(audit_ds, config)
    steps = 2 + len(settings.sparsities) + int(settings.quantize) + int(settings.distill)
    bar = tqdm(total=steps, desc="compress", disable=not progress, leave=False)
    try:
        variants = _build_variants(model, dataset, config, settings, bar)
        rows: list[VariantRow] = []
        results: dict[str, AuditResult] = {}
        reference: dict[str, Any] = {}
        for variant in variants:
            bar.set_postfix_str(f"audit {variant.name}")
            result = run_audit(variant.audited, audit_ds, config, progress=progress, registry=registry)
            results[variant.name] = result
            row = _row(variant, result, audit_ds, groups, config, settings, reference)
            rows.append(row)
            bar.update(1)
    finally:
        bar.close()
    flags = find_flags(rows[0], rows[1:], tolerance=settings.tolerance, min_group_size=settings.min_group_size)
    meta = {"family": model.family, "task": model.task, "dataset": dataset.name, "sensitive_features": list(groups)}
    return CompressionReport(model=meta, rows=rows, flags=flags, settings=settings.to_dict(),
                             audited_rows=int(len(audit_ds.test)), results=results)


def audited_dataset(dataset: Dataset, config: AuditConfig) -> Dataset:
    """``dataset`` with its test split cut to a stratified, seeded sample of ``config.max_rows`` rows when larger.

    Every variant is then audited (and compared) on exactly the same rows.
    """
    if len(dataset.test) <= config.max_rows:
        return dataset
    rng = np.random.default_rng([config.seed, zlib.crc32(b"compression-rows")])
    strata = np.unique(np.asarray(dataset.test.y).astype(str), return_inverse=True)[1]
    index = stratified_sample(strata, config.max_rows, rng)
    return dataclasses.replace(dataset, test=dataset.test.subset(index))


def _validate(model: Any, dataset: Any, config: Any) -> None:
    if not isinstance(model, TrainedModel):
        raise InvalidTypeError(f"The 'model' argument must be a models.TrainedModel. Got {type(model).__name__} instead.")
    if not isinstance(dataset, Dataset):
        raise InvalidTypeError(f"The 'dataset' argument must be a models.Dataset. Got {type(dataset).__name__} instead.")
    if not isinstance(config, AuditConfig):
        raise InvalidTypeError(f"The 'config' argument must be an AuditConfig or None. Got {type(config).__name__}.")
    if model.task not in ("binary", "multiclass") or dataset.task not in ("binary", "multiclass"):
        raise InvalidInputError(
            "compress_and_audit compares classifiers (binary or multiclass). "
            f"Got a {model.task!r} model on {dataset.task!r} data instead."
        )
    if len(dataset.test) == 0:
        raise InvalidInputError(f"The dataset {dataset.name!r} has an empty test split; the audit needs rows.")


def _groups(ds: Dataset, config: AuditConfig) -> dict[str, np.ndarray]:
    available = list(ds.test.sensitive.columns)
    names = list(config.sensitive) if config.sensitive is not None else (
        [s for s in ds.sensitive_features if s in available] or available)
    names = [n for n in names if n in available]
    if not names:
        return {}
    prepared = prepare_sensitive(ds.test.sensitive, names, edges=config.age_bins, continuous=ds.continuous_features)
    return dict(prepared.labels)


def _build_variants(model: TrainedModel, dataset: Dataset, config: AuditConfig, settings: CompressionSettings,
                    bar: tqdm) -> list[_Variant]:
    variants = [_Variant("original", "original", model, model.module, {})]
    if settings.quantize:
        bar.set_postfix_str("quantize")
        q = quantize_int8(model)
        variants.append(_Variant("int8_dynamic", "quantized", QuantizedPredictor(q, dataset.kind), q,
                                 {"dtype": "qint8", "layers": "Linear, LSTM"}))
        bar.update(1)
    for level in settings.sparsities:
        bar.set_postfix_str(f"prune {level:g}")
        pruned = prune_global(model, level)
        variants.append(_Variant(f"pruned_{int(round(level * 100))}", "pruned", pruned, pruned.module,
                                 {"sparsity": level, "method": "global L1 unstructured (Linear/Conv weights)"}))
        bar.update(1)
    if settings.distill:
        bar.set_postfix_str("distill")
        student = distill_model(model, dataset, scale=settings.student_scale, temperature=settings.temperature,
                                alpha=settings.alpha, epochs=settings.distill_epochs, seed=config.seed,
                                device=config.device)
        variants.append(_Variant("distilled", "distilled", student, student.module,
                                 {"scale": settings.student_scale, "temperature": settings.temperature,
                                  "alpha": settings.alpha, "epochs": settings.distill_epochs}))
        bar.update(1)
    return variants


def _row(variant: _Variant, result: AuditResult, ds: Dataset, groups: dict[str, np.ndarray], config: AuditConfig,
         settings: CompressionSettings, reference: dict[str, Any]) -> VariantRow:
    adapter = wrap_model(variant.audited, ds, device=config.device, batch_size=config.batch_size)
    pred = adapter.predict_proba(ds.test.x).argmax(axis=1)
    y = np.asarray(ds.test.y, dtype=np.int64)
    if "pred" not in reference:  # the original comes first
        reference.update(pred=pred, accuracy=float(np.mean(pred == y)), metrics=result.metrics)
    accuracy = float(np.mean(pred == y))
    names = list(ds.class_names) or [str(i) for i in range(int(y.max()) + 1)]
    class_labels = np.asarray([names[i] for i in y], dtype=object)
    size = weights_size(variant.module)
    total, nonzero = count_parameters(variant.module)
    layers = prunable_weights(variant.module)
    drift = importance_drift(_global_importance(reference["metrics"]), _global_importance(result.metrics))
    finite = [v for v in drift.values() if v is not None]
    metrics = result.metrics
    return VariantRow(
        name=variant.name,
        kind=variant.kind,
        audited_as="black box" if isinstance(variant.audited, QuantizedPredictor) else "torch",
        size_on_disk_bytes=size.on_disk,
        compressed_size_bytes=size.compressed,
        n_parameters=total,
        n_nonzero_parameters=nonzero,
        sparsity=sparsity(layers) if variant.kind != "quantized" else None,
        cpu_latency_ms_per_batch=cpu_latency_ms(variant.module, ds.test.x, kind=ds.kind,
                                                batch=settings.latency_batch, runs=settings.latency_runs),
        accuracy=accuracy,
        accuracy_change=accuracy - reference["accuracy"],
        prediction_agreement=float(np.mean(pred == reference["pred"])),
        fairness=_fairness_gaps(metrics.get("fairness")),
        robust_accuracy=_scalar(metrics.get("robustness"), "pgd_accuracy"),
        ece=_scalar(metrics.get("calibration"), "ece"),
        explanation_rank_corr=float(np.mean(finite)) if finite else None,
        explanation_rank_corr_by_method=drift,
        group_accuracy={feature: accuracy_by(y, pred, labels) for feature, labels in groups.items()},
        class_accuracy=accuracy_by(y, pred, class_labels),
        check_status={name: rec.status + (f": {rec.reason}" if rec.reason else "") for name, rec in result.checks.items()},
        settings=variant.settings,
    )


def _global_importance(metrics: dict[str, Any]) -> dict[str, Any] | None:
    explanations = metrics.get("explanations")
    if isinstance(explanations, dict) and isinstance(explanations.get("global_importance"), dict):
        return explanations["global_importance"]
    return None


def _fairness_gaps(fairness: Any) -> dict[str, float | None]:
    if not isinstance(fairness, dict):
        return {}
    return {key: _scalar(fairness, key) for key in sorted(fairness)
            if key.endswith(_FAIRNESS_SUFFIXES) and (fairness[key] is None or _scalar(fairness, key) is not None)}


def _scalar(metrics: Any, key: str) -> float | None:
    if not isinstance(metrics, dict):
        return None
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value) if np.isfinite(value) else None
