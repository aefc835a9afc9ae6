"""Thresholds and findings of a result, as display rows (shared by the view, JUnit and diff renderers)."""
from __future__ import annotations

import math
from typing import Any

from audit.config import DEFAULT_WARNINGS
from audit.results import SEVERITY_ORDER, AuditResult, Finding, lookup_metric
from reports._format import check_title, format_bounds, format_value, is_number
from reports._model import FindingView, ThresholdView

__all__ = ["finding_view", "sorted_findings", "threshold_rows", "STATUS_ORDER"]

STATUS_ORDER = {"fail": 0, "warning": 1, "not evaluated": 2, "pass": 3}


def sorted_findings(findings: list[Finding]) -> list[Finding]:
    """Worst first (fail, error, warning, info); the original order within a severity."""
    return sorted(findings, key=lambda f: SEVERITY_ORDER.get(f.severity, len(SEVERITY_ORDER)))


def finding_view(finding: Finding) -> FindingView:
    """Display form of one finding."""
    return FindingView(
        check=finding.check, check_title=check_title(finding.check), severity=finding.severity,
        message=finding.message, metric=finding.metric,
        value_text="" if finding.value is None else format_value(finding.value),
        threshold_text=format_bounds(finding.threshold),
    )


def _same_bounds(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    a, b = a or {}, b or {}
    if set(a) != set(b):
        return False
    return all(a[k] is not None and b[k] is not None and math.isclose(float(a[k]), float(b[k])) for k in a)


def _declared(result: AuditResult) -> list[tuple[str, dict[str, float], str, str]]:
    """(metric, bounds, gate, rationale) from the config in the provenance, plus the default warnings that applied.

    A configured threshold is stored as ``{"min"?, "max"?, "severity"?}``; its gate is its severity ("fail" when
    absent), its bounds the numeric "min"/"max".
    """
    config = result.provenance.get("config")
    config = config if isinstance(config, dict) else {}
    user = config.get("thresholds")
    user = user if isinstance(user, dict) else {}
    rows = [(str(m), {k: float(v) for k, v in b.items() if k in ("min", "max") and is_number(v)},
             "warning" if b.get("severity") == "warning" else "fail", "")
            for m, b in user.items() if isinstance(b, dict) and "." in str(m)]
    if config.get("default_warnings", True):
        rows += [(t.metric, t.bounds(), "warning", t.rationale) for t in DEFAULT_WARNINGS
                 if t.metric not in user and t.check in result.checks]
    return rows


def _match(findings: list[Finding], metric: str, bounds: dict[str, float], taken: set[int]) -> int | None:
    check, _, path = metric.partition(".")
    for i, f in enumerate(findings):
        if (i not in taken and f.severity in ("fail", "warning") and f.check == check and f.metric == path
                and f.threshold is not None and _same_bounds(f.threshold, bounds)):
            return i
    return None


def _outcome(result: AuditResult, metric: str, bounds: dict[str, float], gate: str) -> tuple[Any, str, str]:
    """(value, status, note) when no finding was recorded for the threshold."""
    check = metric.split(".", 1)[0]
    record = result.checks.get(check)
    if record is None:
        return None, "not evaluated", "the check was not run"
    if record.status != "ok":
        return None, "not evaluated", f"the check was {record.status}" + (f": {record.reason}" if record.reason else "")
    try:
        value = lookup_metric(result.metrics, metric)
    except KeyError:
        return None, "not evaluated", "the check produced no such metric"
    if not is_number(value) or not math.isfinite(float(value)):
        return None, "not evaluated", "the metric has no numeric value"
    value = float(value)
    broken = ("min" in bounds and value < bounds["min"]) or ("max" in bounds and value > bounds["max"])
    return value, (gate if broken else "pass"), ""


def threshold_rows(result: AuditResult) -> tuple[list[ThresholdView], set[int]]:
    """Every threshold that applied to ``result`` with its outcome, worst first.

    Thresholds come from the configuration stored in the provenance (user thresholds, then the default warnings
    on checks that exist) and, for a result without that configuration, from "fail" findings that carry a bound
    and from "warning" findings on a default-warning metric. Findings that a check raised with a bound of its own
    (e.g. a randomisation similarity above 0.5) are not thresholds: they stay in the findings list. A finding
    recorded for a threshold decides its status; otherwise the value is looked up in the metrics.

    Args:
        result: the audit result.

    Returns:
        (rows, indices of ``result.findings`` that were matched to a row).
    """
    findings = list(result.findings)
    taken: set[int] = set()
    rows: list[ThresholdView] = []
    declared = _declared(result)
    seen = {(m, tuple(sorted(b.items()))) for m, b, _, _ in declared}
    default_metrics = {t.metric for t in DEFAULT_WARNINGS}
    for i, f in enumerate(findings):  # thresholds known only from findings (e.g. a result without its config)
        if not (f.threshold and f.metric):
            continue
        # a "fail" finding with a bound is a configured gate; a "warning" is a threshold only when it is one of
        # the default warnings; other bounded findings are a check's own statements and stay in the findings list
        if f.severity == "fail" or (f.severity == "warning" and f"{f.check}.{f.metric}" in default_metrics):
            metric = f"{f.check}.{f.metric}"
            key = (metric, tuple(sorted(f.threshold.items())))
            if key not in seen:
                seen.add(key)
                declared.append((metric, dict(f.threshold), f.severity, ""))
    for metric, bounds, gate, rationale in declared:
        index = _match(findings, metric, bounds, taken)
        if index is not None:
            taken.add(index)
            f = findings[index]
            value = f.value
            status, note = f.severity, f.message
            if value is None:  # a gate that could not be evaluated
                status = "fail" if f.severity == "fail" else "not evaluated"
        else:
            value, status, note = _outcome(result, metric, bounds, gate)
        rows.append(ThresholdView(
            metric=metric, check=metric.split(".", 1)[0], bounds=bounds, bounds_text=format_bounds(bounds),
            value=value, value_text=format_value(value), status=status, gate=gate, rationale=rationale, note=note,
        ))
    rows.sort(key=lambda r: STATUS_ORDER.get(r.status, 9))
    return rows, taken
