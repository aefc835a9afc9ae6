"""JUnit XML: parses, counts match the result, one suite per check, hostile strings survive."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from audit.errors import InvalidTypeError
from audit.results import AuditResult
from reports import render_junit, write_junit

DATA = Path(__file__).parent / "data" / "sample_result.json"


def sample_dict() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def _count(root: ET.Element, child: str) -> int:
    return sum(1 for case in root.iter("testcase") if case.find(child) is not None)


def test_junit_parses_and_counts_match_the_result(tmp_path):
    result = AuditResult.from_dict(sample_dict())
    path = write_junit(result, tmp_path / "junit.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    n_fail = len(result.findings_by_severity("fail"))
    n_skipped = sum(r.status == "skipped" for r in result.checks.values())
    n_error = sum(r.status == "error" for r in result.checks.values())
    assert (n_fail, n_skipped, n_error) == (3, 2, 1)
    assert _count(root, "failure") == int(root.get("failures")) == n_fail
    assert _count(root, "skipped") == int(root.get("skipped")) == n_skipped
    assert _count(root, "error") == int(root.get("errors")) == n_error
    assert len(list(root.iter("testcase"))) == int(root.get("tests"))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [f"deepaudit.{name}" for name in result.checks]
    for suite in suites:
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in cases)


def test_junit_testcases_per_threshold_and_finding():
    root = ET.fromstring(render_junit(AuditResult.from_dict(sample_dict())).encode("utf-8"))
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    perf = {c.get("name"): c for c in suites["deepaudit.performance"].findall("testcase")}
    assert set(perf) == {"check", "threshold: performance.accuracy ≥ 0.9", "finding: n_rows"}
    failure = perf["threshold: performance.accuracy ≥ 0.9"].find("failure")
    assert "0.84 breaks the threshold" in failure.get("message")
    assert perf["finding: n_rows"].find("system-out").text.startswith("[info]")
    ood = suites["deepaudit.ood"].findall("testcase")
    assert ood[0].find("skipped").get("message") == "applies to ['image'] data, not 'tabular'"
    robustness = {c.get("name"): c for c in suites["deepaudit.robustness"].findall("testcase")}
    assert "attack diverged" in robustness["check"].find("error").text
    assert robustness["threshold: robustness.pgd_accuracy ≥ 0.3"].find("failure") is not None
    warn = {c.get("name"): c for c in suites["deepaudit.fairness"].findall("testcase")}
    ratio = warn["threshold: fairness.demographic_parity_ratio ≥ 0.8"]
    assert ratio.find("failure") is None and ratio.find("system-out").text.startswith("[warning]")


def test_junit_model_error_and_control_characters():
    data = sample_dict()
    data["findings"].append({"check": "model", "severity": "error", "message": "bad \x00\x07 bytes <&> \"q\"",
                             "metric": None, "value": None, "threshold": None})
    root = ET.fromstring(render_junit(AuditResult.from_dict(data)).encode("utf-8"))
    model = [s for s in root.findall("testsuite") if s.get("name") == "deepaudit.model"]
    assert len(model) == 1
    error = model[0].find("testcase").find("error")
    assert error.get("message") == 'bad \ufffd\ufffd bytes <&> "q"'
    assert int(root.get("errors")) == 2


def test_junit_rejects_other_types(tmp_path):
    with pytest.raises(InvalidTypeError, match="'result' argument"):
        write_junit(sample_dict(), tmp_path / "j.xml")
