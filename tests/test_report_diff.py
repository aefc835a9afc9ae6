"""Result diffs: no change against itself, regressions flagged against a degraded result, explanation drift."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from scipy.stats import spearmanr

from audit.errors import InvalidInputError, InvalidTypeError
from audit.results import AuditResult
from reports import diff_results, metric_direction, render_diff_html, write_diff_html

DATA = Path(__file__).parent / "data" / "sample_result.json"
XSS = "<script>alert(1)</script>"


def sample_dict() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def degraded_dict() -> dict:
    data = sample_dict()
    m = data["metrics"]
    m["performance"]["accuracy"] = 0.70          # worse (higher is better)
    m["performance"]["f1"] = 0.70                # better
    m["performance"]["log_loss"] = 0.3621        # +0.01: within the tolerance
    m["performance"]["n_rows"] = 300             # no direction: "changed"
    m["calibration"]["ece"] = 0.2                # worse (lower is better)
    m["fairness"]["demographic_parity_difference"] = 0.05   # better
    del m["data_profile"]["missing_share"]      # removed
    m["data_profile"]["duplicate_rows"] = 3      # added
    ig = m["explanations"]["global_importance"]["integrated_gradients"]
    m["explanations"]["global_importance"]["integrated_gradients"] = {k: -v for k, v in ig.items()}  # same |ranking|
    shap = m["explanations"]["global_importance"]["kernel_shap"]
    ranked = sorted(shap, key=shap.get)
    m["explanations"]["global_importance"]["kernel_shap"] = {f: float(i) for i, f in enumerate(reversed(ranked))}
    data["checks"]["calibration"]["status"] = "ok"
    data["checks"]["generative"] = {"name": "generative", "status": "error", "seconds": 0.1,
                                    "reason": "ValueError: x", "traceback": None}
    del m["generative"]
    return data


def test_diff_with_itself_reports_no_change():
    result = AuditResult.from_dict(sample_dict())
    diff = diff_results(result, result)
    assert not diff.has_regression and diff.regressions == [] and diff.changed == []
    assert len(diff.changes) > 20
    assert all(c.direction == "same" and (c.delta in (0.0, None)) for c in diff.changes)
    assert diff.explanation_drift == {"integrated_gradients": 1.0, "kernel_shap": 1.0}


def test_diff_against_degraded_result_flags_regressions():
    old, new = AuditResult.from_dict(sample_dict()), AuditResult.from_dict(degraded_dict())
    diff = diff_results(old, new)
    changes = {c.path: c for c in diff.changes}
    acc = changes["performance.accuracy"]
    assert (acc.old, acc.new, acc.direction, acc.regression) == (0.84, 0.70, "worse", True)
    assert acc.delta == pytest.approx(-0.14)
    assert (changes["calibration.ece"].direction, changes["calibration.ece"].regression) == ("worse", True)
    assert changes["performance.f1"].direction == "better" and not changes["performance.f1"].regression
    assert changes["fairness.demographic_parity_difference"].direction == "better"
    assert changes["performance.log_loss"].direction == "same"
    assert changes["performance.n_rows"].direction == "changed" and not changes["performance.n_rows"].regression
    assert changes["data_profile.missing_share"].direction == "removed"
    assert changes["data_profile.duplicate_rows"].direction == "added"
    status = changes["generative.status"]
    assert (status.old, status.new, status.regression) == ("ok", "error", True)
    assert "generative.diversity" not in changes   # metrics of a check that did not run in both are not compared
    assert diff.has_regression
    assert {c.path for c in diff.regressions} == {"performance.accuracy", "calibration.ece", "generative.status"}
    assert diff.explanation_drift["integrated_gradients"] == pytest.approx(1.0)
    shap_old = sample_dict()["metrics"]["explanations"]["global_importance"]["kernel_shap"]
    shap_new = new.metrics["explanations"]["global_importance"]["kernel_shap"]
    features = sorted(shap_old)
    oracle = spearmanr([shap_old[f] for f in features], [shap_new[f] for f in features]).statistic
    assert diff.explanation_drift["kernel_shap"] == pytest.approx(oracle) == pytest.approx(-1.0)


def test_passing_audit_that_now_fails_is_a_regression():
    old_data = sample_dict()
    old_data["findings"] = [f for f in old_data["findings"] if f["severity"] != "fail"]
    diff = diff_results(AuditResult.from_dict(old_data), AuditResult.from_dict(sample_dict()))
    passed = [c for c in diff.changes if c.path == "passed"]
    assert passed and passed[0].regression and passed[0].direction == "worse"


def test_tolerance_is_relative_above_one():
    old, new = sample_dict(), sample_dict()
    new["metrics"]["performance"]["n_rows"] = 407   # |delta| 7 <= 0.02 * 400
    changes = {c.path: c for c in diff_results(AuditResult.from_dict(old), AuditResult.from_dict(new)).changes}
    assert changes["performance.n_rows"].direction == "same"
    changes = {c.path: c for c in diff_results(AuditResult.from_dict(old), AuditResult.from_dict(new),
                                                tolerance=0.0).changes}
    assert changes["performance.n_rows"].direction == "changed"


@pytest.mark.parametrize(("path", "expected"), [
    ("performance.accuracy", "higher"), ("performance.balanced_accuracy", "higher"), ("performance.f1", "higher"),
    ("performance.roc_auc", "higher"), ("robustness.pgd_accuracy", "higher"),
    ("robustness.pgd_relative_accuracy", "higher"), ("fairness.demographic_parity_ratio", "higher"),
    ("ood.noise_auroc", "higher"), ("performance.log_loss", "lower"), ("calibration.ece", "lower"),
    ("calibration.brier", "lower"), ("performance.mae", "lower"), ("generative.fid", "lower"),
    ("fairness.demographic_parity_difference", "lower"), ("fairness.equalized_odds_difference", "lower"),
    ("robustness.accuracy_drop", "lower"), ("data_profile.max_single_feature_auc", "lower"),
    ("performance.n_rows", None), ("explanations.top_feature", None),
])
def test_metric_direction_table(path, expected):
    assert metric_direction(path) == expected


def test_diff_html_is_escaped_and_self_contained(tmp_path):
    old, new = sample_dict(), degraded_dict()
    for data in (old, new):
        gi = data["metrics"]["explanations"]["global_importance"]
        gi[XSS] = dict(gi["kernel_shap"])
    diff = diff_results(AuditResult.from_dict(old), AuditResult.from_dict(new))
    path = write_diff_html(diff, tmp_path / "diff.html", title="Nightly")
    html = path.read_text(encoding="utf-8")
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Regression found" in html and 'data-regression="true"' in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert html.index("performance.accuracy") < html.index("performance.f1")   # regressions first
    same = render_diff_html(diff_results(AuditResult.from_dict(old), AuditResult.from_dict(old)))
    assert "No regression" in same


def test_diff_validates_arguments():
    result = AuditResult.from_dict(sample_dict())
    with pytest.raises(InvalidTypeError, match="'new' argument"):
        diff_results(result, {})
    with pytest.raises(InvalidInputError, match="'tolerance' argument must be a finite number >= 0. Got -1"):
        diff_results(result, result, tolerance=-1)
