"""View data of the fixture result: gold file (volatile fields scrubbed), thresholds, sections, images, tokens."""
from __future__ import annotations

import copy
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from audit.errors import InvalidInputError, InvalidTypeError
from audit.results import AuditResult
from reports import build_view, view_as_dict
from reports import plots
from reports._format import format_bounds, format_value, humanize
from reports.images import image_rgb, png_bytes

DATA = Path(__file__).parent / "data" / "sample_result.json"
GOLD = Path(__file__).parent / "gold" / "report_view.json"
XSS = "<script>alert(1)</script>"
_VOLATILE_ITEMS = {"Started at (UTC)", "Total seconds", "Python", "Platform", "Torch threads"}


def sample_dict() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def sample() -> AuditResult:
    return AuditResult.from_dict(sample_dict())


def scrub(view: dict) -> dict:
    """Remove what changes between runs and machines: timings, start time, versions, platform."""
    view = copy.deepcopy(view)
    prov = view["provenance"]
    prov["items"] = [item for item in prov["items"] if item[0] not in _VOLATILE_ITEMS]
    prov["versions"] = {}
    prov["timings"] = {}
    config = json.loads(prov["config_json"]) if prov["config_json"] else {}
    prov["config_json"] = config
    for section in view["sections"]:
        section["seconds"] = 0.0
    return view


def test_view_matches_gold_file():
    actual = scrub(view_as_dict(build_view(sample())))
    if os.environ.get("DEEPAUDIT_UPDATE_GOLD") == "1":
        GOLD.parent.mkdir(parents=True, exist_ok=True)
        GOLD.write_text(json.dumps(actual, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(GOLD.read_text(encoding="utf-8"))
    assert json.loads(json.dumps(actual, sort_keys=True)) == expected


def test_scrub_ignores_volatile_fields_only():
    data = sample_dict()
    data["provenance"].update(started_at="2030-01-01T00:00:00Z", python="3.99", platform="other",
                              versions={"torch": "9"}, timings={"performance": 99.0}, total_seconds=99.0)
    data["checks"]["performance"]["seconds"] = 42.0
    changed = scrub(view_as_dict(build_view(AuditResult.from_dict(data))))
    assert changed == scrub(view_as_dict(build_view(sample())))
    data["metrics"]["performance"]["accuracy"] = 0.5
    assert scrub(view_as_dict(build_view(AuditResult.from_dict(data)))) != changed


def test_summary_counts_and_worst_findings_first():
    result = sample()
    summary = build_view(result).summary
    assert summary.passed is False
    assert summary.counts == {"fail": 3, "error": 1, "warning": 2, "info": 2}
    assert summary.check_counts == {"ok": 7, "skipped": 2, "error": 1}
    order = {"fail": 0, "error": 1, "warning": 2, "info": 3}
    ranks = [order[f.severity] for f in summary.findings]
    assert ranks == sorted(ranks)
    assert summary.model["sha256_short"] == result.provenance["model"]["sha256"][:12]
    assert summary.data["sha256"] == result.provenance["data"]["sha256"]
    assert summary.data["rows"] == {"train": 30162, "val": 3000, "test": 15060}


def test_threshold_table_statuses():
    rows = {t.metric: t for t in build_view(sample()).summary.thresholds}
    # user gates (severity fail) and default warnings on checks that exist; user-bound metrics are not duplicated
    assert set(rows) == {
        "performance.accuracy", "fairness.demographic_parity_difference", "robustness.pgd_accuracy",
        "fairness.demographic_parity_ratio", "fairness.equalized_odds_difference", "calibration.ece",
        "data_profile.max_single_feature_auc", "robustness.pgd_relative_accuracy", "ood.noise_auroc",
    }
    assert (rows["performance.accuracy"].status, rows["performance.accuracy"].gate) == ("fail", "fail")
    assert rows["performance.accuracy"].value == 0.84 and rows["performance.accuracy"].bounds_text == "≥ 0.9"
    assert rows["robustness.pgd_accuracy"].status == "fail"  # a gate that could not be evaluated fails closed
    assert rows["fairness.demographic_parity_ratio"].status == "warning"
    assert "four-fifths" in rows["fairness.demographic_parity_ratio"].rationale
    assert rows["fairness.equalized_odds_difference"].status == "pass"
    assert rows["calibration.ece"].value == 0.045 and rows["calibration.ece"].status == "pass"
    assert rows["ood.noise_auroc"].status == "not evaluated" and "skipped" in rows["ood.noise_auroc"].note
    assert rows["robustness.pgd_relative_accuracy"].status == "not evaluated"
    statuses = [t.status for t in build_view(sample()).summary.thresholds]
    assert statuses == sorted(statuses, key=["fail", "warning", "not evaluated", "pass"].index)


def test_thresholds_without_config_come_from_findings():
    data = sample_dict()
    del data["provenance"]["config"]
    rows = {t.metric: t for t in build_view(AuditResult.from_dict(data)).summary.thresholds}
    assert rows["performance.accuracy"].status == "fail"
    assert rows["fairness.demographic_parity_ratio"].status == "warning"
    assert rows["calibration.ece"].status == "pass"  # default warnings still listed for checks that exist


def test_sections_follow_check_order_and_conventions():
    view = build_view(sample())
    assert [s.name for s in view.sections] == list(sample().checks)
    by_name = {s.name: s for s in view.sections}
    perf = by_name["performance"]
    assert [m.key for m in perf.headline] == ["accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss", "n_rows"]
    assert perf.headline[0].severity == "fail" and perf.headline[0].text == "0.84"
    assert [f.kind for f in perf.figures] == ["confusion", "curve"]
    confusion = perf.figures[0].figure.data[0]
    assert list(confusion.text[1]) == ["42", "56"]
    assert confusion.z[1][1] == pytest.approx(56 / 98, abs=1e-4)
    assert perf.tables[0].collapsed and not perf.tables[1].collapsed
    expl = by_name["explanations"]
    assert [f.kind for f in expl.figures] == ["importance", "bars", "steps"]
    assert [im.kind for im in expl.images] == ["overlay", "overlay", "overlay", "heatmap", "grayscale"]
    assert len(expl.texts) == 1 and expl.texts[0].tokens[-1] == XSS
    assert by_name["calibration"].figures[0].kind == "reliability"
    assert [d.key for d in by_name["explanation_quality"].details] == ["per_method"]
    assert by_name["explanation_quality"].tables[0].key == "samples"
    assert by_name["robustness"].status == "error" and "NaN" in by_name["robustness"].reason
    assert by_name["ood"].status == "skipped" and by_name["ood"].headline == []
    assert len(by_name["generative"].images) == 6
    assert len({s.anchor for s in view.sections}) == len(view.sections)


def test_fairness_table_merges_intervals_and_marks_insufficient_data():
    section = {s.name: s for s in build_view(sample()).sections}["fairness"]
    table = section.tables[0]
    assert table.header == ["feature", "group", "n", "selection_rate [interval]", "tpr [interval]", "status"]
    assert table.numeric == [False, False, True, True, True, False]
    female = table.cells[0]
    assert (female[3].text, female[3].interval) == ("0.11", "[0.06, 0.16]")
    small = table.cells[4]
    assert small[3].kind == "missing" and small[3].interval is None
    assert small[5].kind == "insufficient"
    assert table.rows[4][3] is None and len(table.columns) == 10  # raw data kept for the dashboard
    summary = section.tables[1]
    assert summary.header == ["feature", "dp_difference [interval]", "eo_difference"]


def test_malformed_items_are_shown_as_json_not_raised():
    data = sample_dict()
    metrics = data["metrics"]["performance"]
    metrics["tables"]["broken"] = {"title": "x", "columns": ["a", "b"], "rows": [[1]]}
    metrics["curves"]["bad"] = {"title": "y", "x": [0, 1], "series": {"s": [1]}}
    metrics["images"] = {"img": {"title": "z", "kind": "heatmap", "data": [[1, 2], [3]]}}
    metrics["texts"] = "not an object"
    section = build_view(AuditResult.from_dict(data)).sections[0]
    notes = {d.key: d.note for d in section.details}
    assert set(notes) == {"tables.broken", "curves.bad", "images.img", "texts"}
    assert "has 1 cells; the table has 2 columns" in notes["tables.broken"]
    assert "must have 2 entries" in notes["curves.bad"]


def test_model_card_lists_missing_parts():
    data = sample_dict()
    data["model_card"] = {"intended_use": "Screening only.", "custom_field": "x"}
    card = build_view(AuditResult.from_dict(data)).model_card
    assert card.entries == [("intended_use", "Intended use", "Screening only."), ("custom_field", "Custom field", "x")]
    assert card.missing == ["Limitations", "Ethical considerations"]


def test_build_view_rejects_other_types():
    with pytest.raises(InvalidTypeError, match="'result' argument must be an audit.AuditResult. Got dict"):
        build_view(sample_dict())


@pytest.mark.parametrize(("value", "text"), [
    (None, "n/a"), (True, "yes"), (12000, "12,000"), (0.123456, "0.1235"), (0.0, "0"), (1e-5, "1.000e-05"),
    (float("nan"), "n/a"), ("sex", "sex"),
])
def test_format_value(value, text):
    assert format_value(value) == text


def test_format_bounds_and_humanize():
    assert format_bounds({"min": 0.8}) == "≥ 0.8"
    assert format_bounds({"min": 0, "max": 1}) == "≥ 0 and ≤ 1"
    assert humanize("max_single_feature_auc") == "Max single feature AUC"


def _decode_png(data: bytes) -> np.ndarray:
    """Independent PNG reader for 8-bit RGB, filter 0 (what png_bytes writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(tag + body)
        if tag == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif tag == b"IDAT":
            idat += body
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + 3 * width)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(height, width, 3)


def test_png_roundtrip_and_image_colours():
    gray = image_rgb([[0.0, 0.5], [1.0, 2.0]], kind="grayscale")
    assert gray[..., 0].tolist() == [[0, 128], [255, 255]]
    heat = image_rgb([[1.0, -1.0], [0.0, 0.5]], kind="heatmap")
    assert heat[1, 0].tolist() == [255, 255, 255]                       # zero attribution stays white
    assert heat[0, 0, 0] > heat[0, 0, 2] and heat[0, 1, 2] > heat[0, 1, 0]  # positive red, negative blue
    overlay = image_rgb([[0.0]], kind="overlay", base=[[1.0]])
    assert overlay.tolist() == [[[255, 255, 255]]]
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_decode_png(png_bytes(pixels)), pixels)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: image_rgb([[1, 2], [3]], kind="heatmap"), "rectangular 2-D list"),
    (lambda: image_rgb([[1.0]], kind="rainbow"), "Got 'rainbow'"),
    (lambda: image_rgb([[1.0]], kind="overlay", base=[[1.0, 0.0]]), "shape of its 'data'"),
    (lambda: plots.bar_figure(["a", "b"], [1.0]), "must have 2 entries"),
    (lambda: plots.confusion_matrix_figure([[1, 2]], ["a"]), "must be square"),
    (lambda: plots.token_html(["a"], [1.0, 2.0]), "must have 1 entries"),
])
def test_invalid_inputs_raise_clear_errors(call, message):
    with pytest.raises(InvalidInputError, match=message):
        call()


def test_token_html_escapes_tokens_and_shades_by_score():
    html = str(plots.token_html(["good", XSS, "bad"], [1.0, 0.0, -0.5]))
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "rgba(214,39,40,0.75)" in html and "rgba(31,119,180,0.375)" in html


def test_plot_labels_are_escaped_for_plotly():
    fig = plots.bar_figure([XSS, "b"], [0.2, 0.1], lower=[0.1, 0.05], upper=[0.3, 0.2], title="<i>t</i>")
    assert list(fig.data[0].y) == ["&lt;script&gt;alert(1)&lt;/script&gt;", "b"]
    assert fig.layout.title.text == "&lt;i&gt;t&lt;/i&gt;"
    assert list(fig.data[0].error_x.array) == pytest.approx([0.1, 0.1])
    assert list(fig.data[0].error_x.arrayminus) == pytest.approx([0.1, 0.05])


def test_bare_confusion_matrix_and_class_names():
    data = sample_dict()
    perf = data["metrics"]["performance"]
    perf["confusion_matrix"] = [[280, 22], [42, 56]]
    perf["class_names"] = ["low", "high"]
    section = build_view(AuditResult.from_dict(data)).sections[0]
    assert [f.kind for f in section.figures] == ["confusion", "curve"]   # the table already shows it: no duplicate
    assert section.details == []                                          # class_names only label the matrix
    del perf["tables"]["confusion_matrix"]
    section = build_view(AuditResult.from_dict(data)).sections[0]
    assert [f.kind for f in section.figures] == ["curve", "confusion"]
    assert list(section.figures[1].figure.data[0].x) == ["low", "high"]
