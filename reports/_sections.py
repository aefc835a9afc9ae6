"""One check's metrics -> ``SectionView``, following the metric layout conventions (see notes/checks.md).

Generic renderers for "tables", "curves", "bars", "images", "texts", "samples", with special cases: a confusion
matrix becomes a heat map, bars over time steps keep their order as vertical bars, curves named like a reliability
diagram get the diagonal, and ``global_importance`` (method -> {feature: value}) becomes a grouped bar chart. A
malformed item never breaks the report: it is shown as JSON with the reason.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from audit.errors import InvalidInputError
from audit.results import SEVERITY_ORDER, CheckRecord, Finding
from reports import plots
from reports._format import check_title, format_value, humanize, is_number, is_scalar
from reports._groups import image_groups, merge_bar_figures, text_groups
from reports._model import DetailView, FigureView, ImageView, MetricView, SectionView, TextView
from reports._tables import samples_table, table_view
from reports._thresholds import finding_view
from reports.images import as_image_array

__all__ = ["build_section", "anchor_for"]

_CONVENTIONS = ("tables", "curves", "bars", "images", "texts", "samples")
_STEP_PATTERN = re.compile(r"step|lag|time|window|position", re.IGNORECASE)
_ORDERED_PATTERN = re.compile(r"hist|per .*bin|bins\b", re.IGNORECASE)  # bins keep their order, drawn upright
_RELIABILITY_PATTERN = re.compile(r"reliab|calibration.?curve", re.IGNORECASE)


def anchor_for(name: str, index: int) -> str:
    """A safe, unique HTML id for the section of check ``name``."""
    return f"check-{index}-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "check")


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, default=str, ensure_ascii=False)


def _mapping(spec: Any, what: str, key: str) -> Mapping[str, Any]:
    if not isinstance(spec, Mapping):
        raise InvalidInputError(f"The {what} {key!r} must be an object. Got {type(spec).__name__}.")
    return spec


def _numbers(values: Any, name: str, key: str) -> list[Any]:
    if not isinstance(values, list) or not all(v is None or is_number(v) for v in values):
        raise InvalidInputError(f"The '{name}' of {key!r} must be a list of numbers (or null).")
    return values


def _is_square_numbers(value: Any) -> bool:
    return (isinstance(value, list) and len(value) > 0 and all(isinstance(r, list) and len(r) == len(value)
                                                               for r in value)
            and all(v is None or is_number(v) for r in value for v in r))


def _confusion_from_table(key: str, spec: Mapping[str, Any]) -> FigureView:
    columns, rows = list(spec["columns"]), list(spec["rows"])
    labels = [str(c) for c in columns[1:]]
    if len(rows) != len(labels):
        raise InvalidInputError(f"The confusion table {key!r} must have one row per predicted class column.")
    matrix = [row[1:] for row in rows]
    row_labels = [str(row[0]) for row in rows]
    labels = row_labels if len(set(row_labels)) == len(row_labels) else labels
    title = str(spec.get("title") or "Confusion matrix")
    fig = plots.confusion_matrix_figure(matrix, labels, title=title)
    return FigureView(key=key, title=title, kind="confusion", figure=fig, caption=spec.get("note"))


def _bars(key: str, spec: Any) -> FigureView:
    spec = _mapping(spec, "bar chart", key)
    labels = spec.get("labels")
    if not isinstance(labels, list):
        raise InvalidInputError(f"The bar chart {key!r} must have a 'labels' list.")
    values = _numbers(spec.get("values"), "values", key)
    lower = _numbers(spec["lower"], "lower", key) if spec.get("lower") is not None else None
    upper = _numbers(spec["upper"], "upper", key) if spec.get("upper") is not None else None
    title = str(spec.get("title") or humanize(key))
    if _STEP_PATTERN.search(key) or _STEP_PATTERN.search(title):
        fig = plots.step_bar_figure(labels, values, lower=lower, upper=upper, title=title,
                                    x_label=str(spec.get("x_label") or "step"),
                                    value_label=str(spec.get("y_label") or "attribution"))
        return FigureView(key=key, title=title, kind="steps", figure=fig, caption=spec.get("note"), wide=True)
    if _ORDERED_PATTERN.search(key) or _ORDERED_PATTERN.search(title):
        fig = plots.step_bar_figure(labels, values, lower=lower, upper=upper, title=title,
                                    x_label=str(spec.get("x_label") or ""),
                                    value_label=str(spec.get("y_label") or "rows"))
        return FigureView(key=key, title=title, kind="bars", figure=fig, caption=spec.get("note"))
    fig = plots.bar_figure(labels, values, lower=lower, upper=upper, title=title,
                           value_label=str(spec.get("x_label") or "value"))
    return FigureView(key=key, title=title, kind="bars", figure=fig, caption=spec.get("note"))


def _curve(key: str, spec: Any) -> FigureView:
    spec = _mapping(spec, "curve", key)
    x = _numbers(spec.get("x"), "x", key)
    series = _mapping(spec.get("series"), "series of curve", key)
    for label, ys in series.items():
        _numbers(ys, f"series.{label}", key)
    bands = spec.get("bands") or None
    if bands is not None:
        bands = _mapping(bands, "bands of curve", key)
    title = str(spec.get("title") or humanize(key))
    x_label, y_label = str(spec.get("x_label") or ""), str(spec.get("y_label") or "")
    if _RELIABILITY_PATTERN.search(key) or _RELIABILITY_PATTERN.search(title):
        fig = plots.reliability_figure(x, series, title=title, x_label=x_label or "confidence",
                                       y_label=y_label or "accuracy", bands=bands)
        return FigureView(key=key, title=title, kind="reliability", figure=fig, caption=spec.get("note"))
    fig = plots.curve_figure(x, series, bands=bands, title=title, x_label=x_label, y_label=y_label)
    return FigureView(key=key, title=title, kind="curve", figure=fig, caption=spec.get("note"))


def _image(key: str, spec: Any) -> ImageView:
    spec = _mapping(spec, "image", key)
    kind = str(spec.get("kind") or "heatmap")
    data = as_image_array(spec.get("data"))
    base = spec.get("base")
    view = ImageView(key=key, title=str(spec.get("title") or key), caption=str(spec.get("caption") or ""),
                     kind=kind, data=spec["data"], base=base)
    if base is not None and as_image_array(base, "base").shape != data.shape:
        raise InvalidInputError(f"The 'base' of image {key!r} must have the shape of its 'data' {data.shape}.")
    view.rgb()  # validates the kind and the values now, not at render time
    return view


def _text(key: str, spec: Any) -> TextView:
    spec = _mapping(spec, "text", key)
    tokens, scores = spec.get("tokens"), _numbers(spec.get("scores"), "scores", key)
    if not isinstance(tokens, list):
        raise InvalidInputError(f"The text {key!r} must have a 'tokens' list.")
    return TextView(key=key, title=str(spec.get("title") or key), caption=str(spec.get("caption") or ""),
                    tokens=[str(t) for t in tokens], scores=scores, html=plots.token_html(tokens, scores))


def _importance(value: Any) -> FigureView | None:
    if (isinstance(value, Mapping) and value and all(isinstance(v, Mapping) and v for v in value.values())
            and all(is_number(x) or x is None for v in value.values() for x in v.values())):
        fig = plots.grouped_bar_figure(value, title="Global importance by method")
        return FigureView(key="global_importance", title="Global importance by method", kind="importance",
                          figure=fig, caption="Each method scaled so its largest |importance| is 1.", wide=True)
    return None


def _malformed(section: SectionView, where: str, spec: Any, exc: Exception) -> None:
    section.details.append(DetailView(key=where, title=where, json=_pretty(spec), note=f"Could not be drawn: {exc}"))


def _group(section: SectionView, group: str, items: Any, bar_specs: dict[str, Any]) -> None:
    """Render one convention group ("tables", "bars", ...) of a check's metrics."""
    if group == "samples":
        try:
            section.tables.append(samples_table(items))
        except InvalidInputError as exc:
            _malformed(section, "samples", items, exc)
        return
    if not isinstance(items, Mapping):
        _malformed(section, group, items, InvalidInputError(f"'{group}' must be an object keyed by name"))
        return
    for key, spec in items.items():
        try:
            if group == "tables":
                confusion = "confusion" in str(key).lower()
                table = table_view(str(key), spec, collapsed=confusion)
                if confusion:
                    section.figures.append(_confusion_from_table(str(key), spec))
                section.tables.append(table)
            elif group == "bars":
                section.figures.append(_bars(str(key), spec))
                bar_specs[str(key)] = spec
            elif group == "curves":
                section.figures.append(_curve(str(key), spec))
            elif group == "images":
                section.images.append(_image(str(key), spec))
            else:
                section.texts.append(_text(str(key), spec))
        except (InvalidInputError, TypeError, ValueError, KeyError) as exc:
            _malformed(section, f"{group}.{key}", spec, exc)


def _fill(section: SectionView, metrics: Mapping[str, Any], class_names: list[str]) -> dict[str, Any]:
    """Everything but the headline scalars, in the order the check wrote it.

    A bare ``confusion_matrix`` (k x k list) becomes a heat map unless a confusion table already shows it; a
    top-level ``class_names`` list only labels that matrix.

    Returns:
        bar key -> its spec, for the bar charts drawn.
    """
    bar_specs: dict[str, Any] = {}
    tables = metrics.get("tables")
    has_confusion_table = isinstance(tables, Mapping) and any("confusion" in str(k).lower() for k in tables)
    own_names = metrics.get("class_names")
    names_ok = isinstance(own_names, list) and all(isinstance(n, (str, int)) for n in own_names)
    if names_ok:
        class_names = [str(n) for n in own_names]
    for key, value in metrics.items():
        if key in _CONVENTIONS:
            _group(section, key, value, bar_specs)
        elif is_scalar(value) or (key == "class_names" and names_ok):
            continue
        elif key == "confusion_matrix" and _is_square_numbers(value):
            if has_confusion_table:
                continue
            labels = class_names if len(class_names) == len(value) else [str(i) for i in range(len(value))]
            section.figures.append(FigureView(key=key, title="Confusion matrix", kind="confusion",
                                              figure=plots.confusion_matrix_figure(value, labels)))
        elif key == "global_importance" and (figure := _importance(value)) is not None:
            section.figures.append(figure)
        else:
            section.details.append(DetailView(key=key, title=humanize(key), json=_pretty(value)))
    return bar_specs


def build_section(name: str, index: int, record: CheckRecord, metrics: Any, findings: list[Finding],
                  class_names: list[str]) -> SectionView:
    """The view of one check.

    Args:
        name: check name.
        index: position in the result (makes the anchor unique).
        record: what happened to the check.
        metrics: ``result.metrics.get(name)`` (absent for skipped and errored checks).
        findings: the findings of this check, worst first.
        class_names: the data's class names (labels a bare confusion matrix).

    Returns:
        The ``SectionView``.
    """
    section = SectionView(name=name, anchor=anchor_for(name, index), title=check_title(name), status=record.status,
                          reason=record.reason, traceback=record.traceback, seconds=float(record.seconds or 0.0),
                          findings=[finding_view(f) for f in findings])
    if not isinstance(metrics, Mapping):
        if metrics is not None:
            section.details.append(DetailView(key="metrics", title="Metrics", json=_pretty(metrics),
                                              note="The metrics of a check should be an object."))
        return section
    worst: dict[str, str] = {}
    for f in findings:
        if f.metric and f.severity in SEVERITY_ORDER:
            if f.metric not in worst or SEVERITY_ORDER[f.severity] < SEVERITY_ORDER[worst[f.metric]]:
                worst[f.metric] = f.severity
    section.headline = [MetricView(key=k, label=humanize(k), value=v, text=format_value(v), severity=worst.get(k))
                        for k, v in metrics.items() if is_scalar(v)]
    bar_specs = _fill(section, metrics, class_names)
    section.panels = merge_bar_figures(section.figures, bar_specs)
    section.image_groups = image_groups(section.images)
    section.text_groups = text_groups(section.texts)
    return section
