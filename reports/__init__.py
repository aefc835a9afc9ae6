"""deepaudit reports: ``AuditResult`` -> view data -> one self-contained HTML file, JUnit XML, result diffs.

Example:
    >>> from audit import AuditResult                          # doctest: +SKIP
    >>> from reports import write_html, write_junit, diff_results  # doctest: +SKIP
    >>> result = AuditResult.from_json("runs/demo/result.json")  # doctest: +SKIP
    >>> write_html(result, "runs/demo/report.html"); write_junit(result, "runs/demo/junit.xml")  # doctest: +SKIP
"""
from pathlib import Path

from reports.diff import MetricChange, ResultDiff, diff_results, metric_direction, render_diff_html, write_diff_html
from reports.html import render_html, render_view, write_html
from reports.junit import render_junit, write_junit
from reports.view import ReportView, SectionView, SummaryView, build_view, view_as_dict

SCHEMA_PATH: Path = Path(__file__).resolve().parent / "schema" / "audit_result.schema.json"
"""JSON Schema (draft 2020-12) of ``AuditResult.to_dict()``."""

__all__ = [
    "SCHEMA_PATH",
    "build_view",
    "view_as_dict",
    "ReportView",
    "SectionView",
    "SummaryView",
    "render_html",
    "render_view",
    "write_html",
    "render_junit",
    "write_junit",
    "diff_results",
    "metric_direction",
    "ResultDiff",
    "MetricChange",
    "render_diff_html",
    "write_diff_html",
]
