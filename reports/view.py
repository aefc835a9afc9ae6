"""``AuditResult`` -> ``ReportView``: the typed view data that the HTML report and the dashboard render.

Example:
    >>> from audit import AuditResult                       # doctest: +SKIP
    >>> view = build_view(AuditResult.from_json("runs/demo/result.json"))  # doctest: +SKIP
    >>> view.summary.passed, [s.title for s in view.sections]  # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup

from audit.errors import InvalidTypeError
from audit.results import AuditResult, CheckRecord
from reports._format import format_value, humanize, short_hash
from reports._model import (
    CellView,
    DetailView,
    FigureView,
    FindingView,
    ImageView,
    MetricView,
    ModelCardView,
    ProvenanceView,
    ReportView,
    SectionView,
    SummaryView,
    TableView,
    TextView,
    ThresholdView,
)
from reports._sections import build_section
from reports._thresholds import finding_view, sorted_findings, threshold_rows

__all__ = [
    "build_view",
    "view_as_dict",
    "ReportView",
    "SummaryView",
    "SectionView",
    "ProvenanceView",
    "ModelCardView",
    "MetricView",
    "TableView",
    "CellView",
    "FigureView",
    "ImageView",
    "TextView",
    "DetailView",
    "FindingView",
    "ThresholdView",
]

_CARD_ORDER = (("model_name", "Model"), ("owner", "Owner"), ("intended_use", "Intended use"),
               ("limitations", "Limitations"), ("ethical_considerations", "Ethical considerations"), ("notes", "Notes"))
_CARD_RECOMMENDED = ("intended_use", "limitations", "ethical_considerations")
_SEVERITIES = ("fail", "error", "warning", "info")
_STATUSES = ("ok", "skipped", "error")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _summary(result: AuditResult) -> SummaryView:
    prov = result.provenance
    model, data = _dict(prov.get("model")), _dict(prov.get("data"))
    counts = {s: 0 for s in _SEVERITIES}
    for f in result.findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    check_counts = {s: 0 for s in _STATUSES}
    for rec in result.checks.values():
        check_counts[rec.status] = check_counts.get(rec.status, 0) + 1
    thresholds, _ = threshold_rows(result)
    model_info = {
        "name": model.get("name"), "kind": model.get("kind"), "task": model.get("task"),
        "sha256": model.get("sha256"), "sha256_short": short_hash(model.get("sha256")),
        "classes": list(model.get("classes") or []), "capabilities": list(model.get("capabilities") or []),
        "device": model.get("device") or prov.get("device"),
    }
    rows = _dict(data.get("rows"))
    data_info = {
        "name": data.get("name"), "kind": data.get("kind"), "task": data.get("task"),
        "sha256": data.get("sha256"), "sha256_short": short_hash(data.get("sha256")),
        "rows": {k: rows[k] for k in ("train", "val", "test") if k in rows},
        "audited_test_rows": data.get("audited_test_rows"),
        "sensitive_features": list(data.get("sensitive_features") or []),
        "class_names": list(data.get("class_names") or []),
    }
    return SummaryView(passed=result.passed, counts=counts, check_counts=check_counts,
                       findings=[finding_view(f) for f in sorted_findings(result.findings)],
                       thresholds=thresholds, model=model_info, data=data_info)


def _provenance(result: AuditResult) -> ProvenanceView:
    prov = result.provenance
    items = [(label, format_value(prov.get(key))) for key, label in (
        ("seed", "Seed"), ("device", "Device"), ("started_at", "Started at (UTC)"),
        ("total_seconds", "Total seconds"), ("python", "Python"), ("platform", "Platform"),
        ("torch_threads", "Torch threads")) if key in prov]
    items.append(("Schema version", result.schema_version))
    versions = {str(k): ("n/a" if v is None else str(v)) for k, v in _dict(prov.get("versions")).items()}
    timings = {str(k): float(v) for k, v in _dict(prov.get("timings")).items() if isinstance(v, (int, float))}
    config = prov.get("config")
    return ProvenanceView(items=items, versions=versions, timings=timings,
                          config_json=json.dumps(config, indent=2, default=str, ensure_ascii=False) if config else "")


def _model_card(result: AuditResult) -> ModelCardView:
    card = {str(k): str(v) for k, v in result.model_card.items() if v is not None and str(v).strip()}
    known = dict(_CARD_ORDER)
    entries = [(k, label, card[k]) for k, label in _CARD_ORDER if k in card]
    entries += [(k, humanize(k), v) for k, v in card.items() if k not in known]
    missing = [known[k] for k in _CARD_RECOMMENDED if k not in card]
    return ModelCardView(entries=entries, missing=missing)


def _default_title(result: AuditResult) -> str:
    model = _dict(result.provenance.get("model")).get("name")
    data = _dict(result.provenance.get("data")).get("name")
    if model and data:
        return f"Audit of {model} on {data}"
    return "deepaudit report"


def build_view(result: AuditResult, *, title: str | None = None) -> ReportView:
    """Everything a report shows, as typed view data.

    Args:
        result: the audit result.
        title: the report title (default: "Audit of MODEL on DATA").

    Returns:
        The ``ReportView``: summary, one section per check in ``result.checks`` order, provenance, model card.

    Raises:
        InvalidTypeError: ``result`` is not an ``AuditResult``.

    Example:
        >>> view = build_view(result)        # doctest: +SKIP
        >>> view.summary.passed, view.sections[0].figures[0].figure.show()  # doctest: +SKIP
    """
    if not isinstance(result, AuditResult):
        raise InvalidTypeError(f"The 'result' argument must be an audit.AuditResult. Got {type(result).__name__}.")
    class_names = [str(c) for c in _dict(result.provenance.get("data")).get("class_names") or []]
    ordered = sorted_findings(result.findings)
    sections = []
    for index, (name, record) in enumerate(result.checks.items()):
        if not isinstance(record, CheckRecord):
            raise InvalidTypeError(
                f"The result's 'checks[{name!r}]' must be a CheckRecord. Got {type(record).__name__}."
            )
        sections.append(build_section(name, index, record, result.metrics.get(name),
                                      [f for f in ordered if f.check == name], class_names))
    return ReportView(title=title or _default_title(result), schema_version=result.schema_version,
                      summary=_summary(result), sections=sections, provenance=_provenance(result),
                      model_card=_model_card(result))


def _figure_dict(fig: go.Figure) -> dict[str, Any]:
    spec = json.loads(fig.to_json())
    title = spec.get("layout", {}).get("title", {})
    return {"title": title.get("text") if isinstance(title, dict) else title, "data": spec.get("data", [])}


def view_as_dict(value: Any) -> Any:
    """Plain JSON-ready data of a view (figures reduced to their title and traces); for tests and debugging.

    Args:
        value: a ``ReportView`` or any part of it.

    Returns:
        Nested dicts/lists/scalars.
    """
    if isinstance(value, go.Figure):
        return _figure_dict(value)
    if isinstance(value, ImageView):
        out = {f.name: view_as_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
        out.update(height=value.height, width=value.width)
        return out
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: view_as_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Markup):
        return str(value)
    if isinstance(value, dict):
        return {str(k): view_as_dict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [view_as_dict(v) for v in value]
    return value
