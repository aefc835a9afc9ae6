"""Compression audit: quantize, prune and distill a model, audit every variant, flag hidden group/class losses.

Example:
    >>> from audit.compression import compress_and_audit, compression_metrics   # doctest: +SKIP
    >>> report = compress_and_audit(tm, ds, AuditConfig(checks=("fairness",)))
    >>> report.flags, compression_metrics(report)["tables"]["variants"]
"""
from audit.compression.command import COMPRESSION_FILE, add_compress_arguments, load_compress_config, run_compress
from audit.compression.compare import (
    CompressionReport,
    Flag,
    GroupScore,
    VariantRow,
    accuracy_by,
    find_flags,
    importance_drift,
    rank_correlation,
)
from audit.compression.distill import distill, distillation_loss, student_config
from audit.compression.layout import as_audit_result, compression_metrics
from audit.compression.measure import cpu_latency_ms, quantized_tensors, weights_size
from audit.compression.pipeline import audited_dataset, compress_and_audit
from audit.compression.settings import CompressionSettings
from audit.compression.variants import QuantizedPredictor, prune_global, quantize_int8

__all__ = [
    "compress_and_audit",
    "compression_metrics",
    "as_audit_result",
    "CompressionReport",
    "CompressionSettings",
    "VariantRow",
    "Flag",
    "GroupScore",
    "accuracy_by",
    "find_flags",
    "importance_drift",
    "rank_correlation",
    "audited_dataset",
    "quantize_int8",
    "prune_global",
    "QuantizedPredictor",
    "distill",
    "distillation_loss",
    "student_config",
    "weights_size",
    "quantized_tensors",
    "cpu_latency_ms",
    "add_compress_arguments",
    "load_compress_config",
    "run_compress",
    "COMPRESSION_FILE",
]
