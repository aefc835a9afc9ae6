"""``AuditResult`` -> JUnit XML, so CI systems show an audit natively.

One ``<testsuite>`` per check (``deepaudit.CHECK``), in result order, plus ``deepaudit.model`` when the model itself
could not be scored. Inside a suite:

- a skipped check: one testcase ``check`` with ``<skipped message=REASON>``;
- an errored check: one testcase ``check`` with ``<error>`` (message and traceback);
- every threshold of the check: a testcase named after the metric, with ``<failure>`` when a configured threshold is
  broken or could not be evaluated (severity "fail"); default warnings that are broken pass, with the message in
  ``<system-out>``;
- every other finding: a testcase (``<failure>`` for "fail", ``<error>`` for "error", passing with
  ``<system-out>`` for "warning"/"info").

So the totals match the result: failures = findings of severity "fail", errors = errored checks plus "error"
findings of no errored check, skipped = skipped checks.
"""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from audit.errors import InvalidTypeError
from audit.results import AuditResult, CheckRecord, Finding, atomic_write_text
from reports._thresholds import sorted_findings, threshold_rows

__all__ = ["write_junit", "render_junit"]

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: object) -> str:
    """Text without the control characters XML 1.0 forbids."""
    return _INVALID_XML.sub("\ufffd", str(text))


class _Suite:
    def __init__(self, name: str, seconds: float = 0.0) -> None:
        self.element = ET.Element("testsuite", name=_clean(f"deepaudit.{name}"))
        self.name = name
        self.seconds = seconds
        self.counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def case(self, name: str, *, outcome: str | None = None, message: str = "", body: str = "",
             output: str = "") -> ET.Element:
        case = ET.SubElement(self.element, "testcase", classname=_clean(f"deepaudit.{self.name}"), name=_clean(name),
                             time="0")
        self.counts["tests"] += 1
        if outcome is not None:
            child = ET.SubElement(case, outcome, message=_clean(message))
            if outcome != "skipped":
                child.set("type", outcome)
            if body:
                child.text = _clean(body)
            self.counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[outcome]] += 1
        if output:
            ET.SubElement(case, "system-out").text = _clean(output)
        return case

    def finish(self) -> ET.Element:
        for key, value in self.counts.items():
            self.element.set(key, str(value))
        self.element.set("time", f"{self.seconds:.3f}")
        return self.element


def _finding_case(suite: _Suite, finding: Finding) -> None:
    name = f"finding: {finding.metric}" if finding.metric else f"finding: {finding.message[:80]}"
    detail = finding.message + (f" (value {finding.value:g})" if finding.value is not None else "")
    if finding.severity == "fail":
        suite.case(name, outcome="failure", message=finding.message, body=detail)
    elif finding.severity == "error":
        suite.case(name, outcome="error", message=finding.message, body=detail)
    else:
        suite.case(name, output=f"[{finding.severity}] {detail}")


def render_junit(result: AuditResult) -> str:
    """The JUnit XML document of ``result`` (see the module docstring for the mapping).

    Args:
        result: the audit result.

    Returns:
        The XML text, UTF-8 declared.

    Raises:
        InvalidTypeError: ``result`` is not an ``AuditResult``.
    """
    if not isinstance(result, AuditResult):
        raise InvalidTypeError(f"The 'result' argument must be an audit.AuditResult. Got {type(result).__name__}.")
    rows, taken = threshold_rows(result)
    findings = sorted_findings(result.findings)
    unmatched = [f for i, f in enumerate(result.findings) if i not in taken]
    suites: dict[str, _Suite] = {}
    order = list(result.checks) + sorted({f.check for f in findings} - set(result.checks))
    for name in order:
        record = result.checks.get(name)
        suite = suites[name] = _Suite(name, float(record.seconds) if isinstance(record, CheckRecord) else 0.0)
        if record is not None and record.status == "skipped":
            suite.case("check", outcome="skipped", message=record.reason or "skipped")
        elif record is not None and record.status == "error":
            suite.case("check", outcome="error", message=record.reason or "the check failed",
                       body=record.traceback or record.reason or "")
        elif record is not None:
            suite.case("check")
        for row in rows:
            if row.check != name:
                continue
            label = f"threshold: {row.metric} {row.bounds_text}"
            text = row.note or f"{row.metric} = {row.value_text} ({row.status})"
            if row.status == "fail":
                suite.case(label, outcome="failure", message=text,
                           body=f"value {row.value_text}, bound {row.bounds_text}")
            else:
                suite.case(label, output=f"[{row.status}] {text}")
        errored = record is not None and record.status == "error"
        for finding in unmatched:
            if finding.check != name:
                continue
            if finding.severity == "error" and errored:
                continue  # the check's own error testcase already reports it
            _finding_case(suite, finding)
    root = ET.Element("testsuites", name="deepaudit")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites.values():
        root.append(suite.finish())
        for key in totals:
            totals[key] += suite.counts[key]
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(result: AuditResult, path: str | os.PathLike[str]) -> Path:
    """Write the JUnit XML of ``result`` to ``path`` atomically.

    Args:
        result: the audit result.
        path: the output file (its folder is created).

    Returns:
        The path written.

    Raises:
        InvalidTypeError: ``result`` is not an ``AuditResult`` or ``path`` is not a path.

    Example:
        >>> write_junit(result, "runs/demo/junit.xml")    # doctest: +SKIP
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidTypeError(f"The 'path' argument must be a str or os.PathLike. Got {type(path).__name__}.")
    return atomic_write_text(Path(path), render_junit(result))
