"""``compression_metrics``: a ``CompressionReport`` laid out with the metric conventions ("tables", "bars") so the
report and the dashboard render it like any check's metrics, plus ``as_audit_result`` for the CLI."""
from __future__ import annotations

import dataclasses
from typing import Any

from audit.compression.compare import CompressionReport, GroupScore, VariantRow
from audit.errors import InvalidTypeError
from audit.results import SEVERITY_ORDER, AuditResult, CheckRecord, to_jsonable

__all__ = ["compression_metrics", "as_audit_result"]

_NA_NOTE = ("Empty cells are n/a: the check did not run for that variant (absent, skipped or failed; see "
            "'check_status'). The int8 variant is audited as a black box: its int8 kernels pass no gradients, so "
            "gradient-based checks are skipped for it.")


def compression_metrics(report: CompressionReport) -> dict[str, Any]:
    """The report as JSON-ready metrics: headline scalars, "tables" and "bars".

    Headline scalars: ``n_variants``, ``n_flags``, ``flagged``, ``max_accuracy_drop`` (largest fall of overall
    accuracy), ``max_group_accuracy_drop`` (largest fall of a group's or class's accuracy among groups with at least
    ``min_group_size`` rows), ``max_hidden_group_drop`` (largest flagged drop; 0 without flags), ``tolerance``.

    Raises:
        InvalidTypeError: ``report`` is not a ``CompressionReport``.

    Example:
        >>> compression_metrics(report)["tables"]["variants"]["columns"][:3]  # doctest: +SKIP
        ['variant', 'kind', 'size on disk (bytes)']
    """
    if not isinstance(report, CompressionReport):
        raise InvalidTypeError(f"The 'report' argument must be a CompressionReport. Got {type(report).__name__}.")
    original, variants = report.rows[0], report.rows[1:]
    min_n = int(report.settings.get("min_group_size", 1))
    group_drops = [_drop(original, row, min_n) for row in variants]
    out: dict[str, Any] = {
        "n_variants": len(variants),
        "n_flags": len(report.flags),
        "flagged": report.flagged,
        "tolerance": report.settings.get("tolerance"),
        "audited_rows": report.audited_rows,
        "max_accuracy_drop": max((-row.accuracy_change for row in variants), default=0.0),
        "max_group_accuracy_drop": max(group_drops, default=0.0),
        "max_hidden_group_drop": max((f.drop for f in report.flags), default=0.0),
        "model": dict(report.model),
        "settings": dict(report.settings),
        "check_status": {row.name: dict(row.check_status) for row in report.rows},
        "tables": {
            "variants": _variants_table(report.rows),
            "group_accuracy": _group_table(report.rows, min_n),
            "class_accuracy": _class_table(report.rows),
            "flags": _flags_table(report),
        },
        "bars": {
            "accuracy": _bar("Accuracy by variant", report.rows, lambda r: r.accuracy),
            "size_on_disk_bytes": _bar("Weights size on disk (bytes, safetensors)", report.rows,
                                       lambda r: r.size_on_disk_bytes),
            "cpu_latency_ms_per_batch": _bar(f"CPU latency per batch of {report.settings.get('latency_batch')} "
                                             "rows (ms, one thread, median)", report.rows,
                                             lambda r: r.cpu_latency_ms_per_batch),
        },
    }
    return to_jsonable(out)


def as_audit_result(report: CompressionReport, base: str = "original") -> AuditResult:
    """The audit of variant ``base`` with the comparison added as check ``"compression"`` and its flags as warnings.

    This is what ``deepaudit compress`` writes and renders: the original model's full audit plus the comparison.
    """
    result = report.results[base]
    metrics = {**result.metrics, "compression": compression_metrics(report)}
    checks = {**result.checks, "compression": CheckRecord("compression", "ok")}
    findings = sorted([*result.findings, *report.findings()],
                      key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.check, f.metric or ""))
    return dataclasses.replace(result, metrics=metrics, checks=checks, findings=findings)


def _drop(original: VariantRow, row: VariantRow, min_n: int) -> float:
    drops = [0.0]
    pairs = [(original.group_accuracy.get(f, {}), groups) for f, groups in row.group_accuracy.items()]
    pairs.append((original.class_accuracy, row.class_accuracy))
    for before, after in pairs:
        for label, score in after.items():
            ref = before.get(label)
            if ref and ref.accuracy is not None and score.accuracy is not None and score.n >= min_n:
                drops.append(ref.accuracy - score.accuracy)
    return max(drops)


def _variants_table(rows: list[VariantRow]) -> dict[str, Any]:
    gaps = sorted({key for row in rows for key in row.fairness})
    columns = ["variant", "kind", "audited as", "size on disk (bytes)", "zlib size (bytes)", "nonzero parameters",
               "sparsity", "CPU ms / batch", "accuracy", "accuracy change", "agreement with original",
               *gaps, "robust accuracy (PGD)", "ECE", "explanation rank correlation"]
    body = [[r.name, r.kind, r.audited_as, r.size_on_disk_bytes, r.compressed_size_bytes, r.n_nonzero_parameters,
             r.sparsity, r.cpu_latency_ms_per_batch, r.accuracy, r.accuracy_change, r.prediction_agreement,
             *[r.fairness.get(g) for g in gaps], r.robust_accuracy, r.ece, r.explanation_rank_corr] for r in rows]
    return {"title": "Compressed variants against the original", "columns": columns, "rows": body,
            "note": "Explanation rank correlation: Spearman correlation of global importances with the original's "
                    "(mean over methods; 1 = same ranking). " + _NA_NOTE}


def _group_table(rows: list[VariantRow], min_n: int) -> dict[str, Any]:
    original = rows[0]
    body = []
    for row in rows:
        for feature, groups in row.group_accuracy.items():
            for label, score in groups.items():
                ref = original.group_accuracy.get(feature, {}).get(label)
                body.append([row.name, feature, label, score.n, score.accuracy, _change(score, ref)])
    return {"title": "Accuracy by sensitive group", "columns": ["variant", "feature", "group", "n", "accuracy",
                                                               "change vs original"], "rows": body,
            "note": f"Groups with fewer than {min_n} audited rows are shown but never flagged."}


def _class_table(rows: list[VariantRow]) -> dict[str, Any]:
    original = rows[0]
    body = []
    for row in rows:
        for label, score in row.class_accuracy.items():
            body.append([row.name, label, score.n, score.accuracy, _change(score, original.class_accuracy.get(label))])
    return {"title": "Accuracy by true class (recall)", "columns": ["variant", "class", "n", "accuracy",
                                                                   "change vs original"], "rows": body}


def _change(score: GroupScore, ref: GroupScore | None) -> float | None:
    if ref is None or ref.accuracy is None or score.accuracy is None:
        return None
    return score.accuracy - ref.accuracy


def _flags_table(report: CompressionReport) -> dict[str, Any]:
    body = [[f.variant, f.axis, f.feature, f.group, f.n, f.original_accuracy, f.variant_accuracy, f.drop,
             f.overall_change] for f in report.flags]
    tol = report.settings.get("tolerance")
    return {"title": "Hidden losses: overall accuracy holds, a group or class drops",
            "columns": ["variant", "axis", "feature", "group", "n", "original accuracy", "variant accuracy", "drop",
                        "overall change"], "rows": body,
            "note": f"Flagged when |overall change| < {tol} and a group's or class's accuracy drops by more than {tol}."}


def _bar(title: str, rows: list[VariantRow], value: Any) -> dict[str, Any]:
    pairs = [(r.name, value(r)) for r in rows if value(r) is not None]
    return {"title": title, "labels": [p[0] for p in pairs], "values": [float(p[1]) for p in pairs]}
