"""How the HTML report lays out a check's items (reports._groups), the merged and heat-map figures, the figure
tweaks (reliability diagonal, interval bands) and which findings count as thresholds."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audit.errors import InvalidInputError
from audit.results import AuditResult
from reports import build_view, plots, render_html
from reports._groups import image_groups, split_titles, text_groups
from reports._model import ImageView, TextView
from reports._multiples import BarPanel, small_multiples_figure
from reports.html import plot_json
from reports.images import image_rgb

DATA = Path(__file__).parent / "data" / "sample_result.json"


def _img(key: str, title: str, caption: str = "", kind: str = "grayscale", base: list | None = None,
         shape: tuple[int, int] = (2, 2)) -> ImageView:
    return ImageView(key=key, title=title, caption=caption, kind=kind, data=np.ones(shape).tolist(), base=base)


@pytest.mark.parametrize(("titles", "expected"), [
    (["Row 3: ig per step", "Row 3: lime per step"], ("Row 3:", "per step", ["ig", "lime"])),
    (["Selection rate by sex", "Selection rate by race"], ("Selection rate by", "", ["sex", "race"])),
    (["a b", "a b"], ("", "", ["a b", "a b"])),                     # nothing would be left: no split
    (["only one"], ("", "", ["only one"])),
])
def test_split_titles(titles, expected):
    assert split_titles(titles) == expected


def test_parts_of_samples_form_a_matrix_with_the_input_first():
    base = [[0.0, 1.0], [0.5, 0.25]]
    images = [
        _img("global_ig", "Global importance: ig", "mean |attribution|", "heatmap"),
        _img("global_lime", "Global importance: lime", "mean |attribution|", "heatmap"),
        _img("local_7_ig", "Row 7 (error): ig", "class cat", "overlay", base),
        _img("local_7_lime", "Row 7 (error): lime", "class cat", "overlay", base),
        _img("local_9_ig", "Row 9 (random): ig", "class dog", "overlay", base),
    ]
    glob, local = image_groups(images)
    assert (glob.key, glob.layout, glob.title) == ("global", "gallery", "Global importance")
    assert [c.label for c in glob.rows[0].cells] == ["ig", "lime"] and glob.rows[0].caption == "mean |attribution|"
    assert (local.layout, local.columns) == ("matrix", ["input", "ig", "lime"])
    assert [(r.label, r.caption) for r in local.rows] == [("Row 7 (error)", "class cat"),
                                                          ("Row 9 (random)", "class dog")]
    first = local.rows[0].cells
    assert first[0].image.key == "local_7_input" and first[0].image.kind == "grayscale" and first[0].image.data == base
    assert [c.label for c in first[1:]] == ["", ""]  # the method is the column header: not repeated
    assert local.rows[1].cells[2] is None            # row 9 has no LIME map
    assert "against / for" in local.legend and glob.legend


def test_shared_column_labels_move_to_the_header_and_differing_captions_stay():
    images = []
    for i in range(2):
        images += [_img(f"sample_{i}_original", f"Sample {i}: original", f"true a, predicted a -> b{i}"),
                   _img(f"sample_{i}_adversarial", f"Sample {i}: PGD 0.03", f"true a, predicted a -> b{i}"),
                   _img(f"sample_{i}_perturbation", f"Sample {i}: perturbation", "adv - orig", "heatmap")]
    (group,) = image_groups(images)
    assert group.columns == ["original", "adversarial", "perturbation"]
    assert group.notes == ["", "PGD 0.03", "adv - orig"]
    assert [r.caption for r in group.rows] == ["true a, predicted a -> b0", "true a, predicted a -> b1"]
    assert all(c.label == "" and c.caption == "" for r in group.rows for c in r.cells)
    assert "negative / positive" in group.legend  # no attribution wording for a perturbation


def test_sequences_are_galleries_and_a_lone_image_before_one_opens_it():
    images = [_img("disc_mean_real", "Disc: mean map", "Mean over 2.", "heatmap"),
              _img("disc_real_0", "Disc: real image 1", "logit 2"),
              _img("disc_real_1", "Disc: real image 2", "logit 3"),
              _img("traversal_0_0", "Traversal, class a", "8 steps", shape=(2, 16)),
              _img("traversal_4_0", "Traversal, class b", "8 steps", shape=(2, 16))]
    disc, traversal = image_groups(images)
    assert disc.key == "disc_real" and [c.image.key for c in disc.rows[0].cells] == [
        "disc_mean_real", "disc_real_0", "disc_real_1"]
    assert disc.title == "Disc" and [c.caption for c in disc.rows[0].cells] == ["Mean over 2.", "logit 2", "logit 3"]
    assert traversal.key == "traversal" and traversal.rows[0].caption == "8 steps"
    assert [c.px for c in traversal.rows[0].cells] == [84, 84]  # strips: lower, drawn at their own aspect
    html = render_html(_result_with_images(images))
    assert 'width="672" height="84"' in html


def _result_with_images(images: list[ImageView]) -> AuditResult:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    data["metrics"]["generative"]["images"] = {im.key: {"title": im.title, "caption": im.caption, "kind": im.kind,
                                                        "data": im.data} for im in images}
    return AuditResult.from_dict(data)


def test_texts_of_one_sample_are_one_group():
    texts = [TextView(key=f"local_{r}_{m}", title=f"Row {r} (why): {m}", caption="class pos", tokens=["a"],
                      scores=[1.0], html=plots.token_html(["a"], [1.0])) for r in (3, 5) for m in ("lig", "lime")]
    texts.append(TextView(key="review", title="A review", caption="", tokens=["b"], scores=[0.0],
                          html=plots.token_html(["b"], [0.0])))
    groups = text_groups(texts)
    assert [(g.key, g.title, g.caption) for g in groups] == [
        ("local_3", "Row 3 (why)", "class pos"), ("local_5", "Row 5 (why)", "class pos"), ("review", "A review", "")]
    assert [label for label, _ in groups[0].lines] == ["lig", "lime"] and groups[2].lines[0][0] == ""


def test_small_multiples_keep_order_colour_by_sign_and_validate():
    fig = small_multiples_figure([BarPanel("ig", ["t-1", "t-0"], [0.5, -0.25]), BarPanel("sal", ["t-1", "t-0"],
                                                                                         [0.1, 0.2])], vertical=True)
    assert [list(t.x) for t in fig.data] == [["t-1", "t-0"], ["t-1", "t-0"]]
    assert list(fig.data[0].marker.color) == ["rgb(214,39,40)", "rgb(31,119,180)"]
    assert fig.data[1].marker.color == "rgb(214,39,40)"  # positive: red, the figure's colour code
    assert [a.text for a in fig.layout.annotations] == ["ig", "sal"]
    grid = small_multiples_figure([BarPanel(str(i), ["a"], [1.0], [0.5], [1.5]) for i in range(5)], vertical=False)
    assert {t.xaxis for t in grid.data} == {"x", "x2", "x3", "x4", "x5"} and grid.data[4].yaxis == "y5"
    assert list(grid.data[0].error_x.array) == [0.5] and list(grid.data[0].error_x.arrayminus) == [0.5]
    with pytest.raises(InvalidInputError, match="at least one"):
        small_multiples_figure([], vertical=True)
    with pytest.raises(InvalidInputError, match="must have 2 entries"):
        small_multiples_figure([BarPanel("x", ["a", "b"], [1.0])], vertical=False)


def test_importance_becomes_a_heat_map_when_bars_would_crowd():
    groups = {m: {f"f{i}": (i + 1) * (j + 1) for i in range(20)} for j, m in enumerate(("ig", "sal", "lime"))}
    fig = plots.grouped_bar_figure(groups)
    (trace,) = fig.data
    assert trace.type == "heatmap" and list(trace.x) == ["ig", "sal", "lime"]
    assert list(trace.y)[:2] == ["f19", "f18"]                  # most important on top
    assert trace.z[0] == pytest.approx([1.0, 1.0, 1.0])         # each method scaled to max 1
    assert trace.z[19] == pytest.approx([1 / 20] * 3)
    small = plots.grouped_bar_figure({"ig": {"a": 1.0, "b": 0.5}})
    assert small.data[0].type == "bar"


def test_reliability_draws_the_checks_diagonal_once_and_bands_only_for_few_series():
    fig = plots.reliability_figure([0.25, 0.75], {"perfectly calibrated": [0.25, 0.75], "model": [0.3, 0.7]})
    names = [t.name for t in fig.data]
    assert names == ["model", "perfectly calibrated"] and fig.data[-1].line.dash == "dash"
    bands = {str(i): {"lower": [0.0, 0.0], "upper": [1.0, 1.0]} for i in range(5)}
    many = plots.curve_figure([0, 1], {str(i): [0.5, 0.5] for i in range(5)}, bands=bands)
    few = plots.curve_figure([0, 1], {str(i): [0.5, 0.5] for i in range(2)}, bands=bands)
    assert len(many.data) == 5 and len(few.data) == 2 * 3


def test_bars_colour_by_sign_only_with_mixed_signs_and_histograms_stand_upright():
    assert plots.bar_figure(["a", "b"], [0.2, -0.1]).data[0].marker.color == ("rgb(214,39,40)", "rgb(31,119,180)")
    assert plots.bar_figure(["a", "b"], [0.2, 0.1]).data[0].marker.color == plots.PALETTE[0]
    data = json.loads(DATA.read_text(encoding="utf-8"))
    data["metrics"]["calibration"]["bars"] = {"confidence_histogram": {
        "title": "Rows per confidence bin", "labels": ["0-0.5", "0.5-1"], "values": [3, 9]}}
    section = {s.name: s for s in build_view(AuditResult.from_dict(data)).sections}["calibration"]
    hist = next(f for f in section.figures if f.key == "confidence_histogram")
    assert hist.figure.data[0].orientation in (None, "v") and list(hist.figure.data[0].x) == ["0-0.5", "0.5-1"]


def test_overlays_scale_by_a_robust_maximum_from_64_pixels():
    values = np.full((16, 16), 0.1)
    values[0, 0] = 100.0  # one extreme pixel of 256
    rgb = image_rgb(values.tolist(), kind="overlay", base=np.zeros((16, 16)).tolist())
    assert rgb[3, 3, 0] > 150 and rgb[3, 3, 2] < 100  # ordinary pixels still clearly red
    small = image_rgb([[0.1, 100.0]], kind="heatmap")  # few pixels: scaled by the true maximum
    assert small[0, 0].tolist() == [255, 255, 255] and small[0, 1].tolist() == [220, 71, 72]  # by hand


def test_only_real_thresholds_are_listed_other_bounded_findings_stay_findings():
    data = json.loads(DATA.read_text(encoding="utf-8"))
    data["findings"].append({"check": "explanation_quality", "severity": "warning",
                             "message": "'ig' barely changes when the weights are randomised",
                             "metric": "per_method.ig.randomisation_similarity", "value": 0.9,
                             "threshold": {"max": 0.5}})
    data["provenance"]["config"]["thresholds"]["calibration.ece"] = {"max": 0.2, "severity": "warning"}
    data["provenance"]["config"]["thresholds"]["performance.accuracy"]["severity"] = "fail"
    view = build_view(AuditResult.from_dict(data))
    rows = {t.metric: t for t in view.summary.thresholds}
    assert "explanation_quality.per_method.ig.randomisation_similarity" not in rows
    assert any("randomised" in f.message for f in view.summary.findings)
    assert (rows["calibration.ece"].gate, rows["calibration.ece"].bounds) == ("warning", {"max": 0.2})
    assert rows["performance.accuracy"].bounds == {"min": 0.9} and rows["performance.accuracy"].status == "fail"
    del data["provenance"]["config"]
    rows = {t.metric for t in build_view(AuditResult.from_dict(data)).summary.thresholds}
    assert "explanation_quality.per_method.ig.randomisation_similarity" not in rows
    assert "performance.accuracy" in rows  # a "fail" finding with a bound is a configured gate


def test_long_tables_and_finding_lists_fold():
    data = json.loads(DATA.read_text(encoding="utf-8"))
    data["metrics"]["performance"]["tables"]["long"] = {"title": "Long", "columns": ["i", "pass_rate"],
                                                        "rows": [[i, "pass"] for i in range(30)]}
    data["findings"] += [{"check": "performance", "severity": "info", "message": f"note {i}", "metric": None,
                          "value": None, "threshold": None} for i in range(20)]
    html = render_html(AuditResult.from_dict(data))
    assert "Show all 30 rows" in html and html.count('<tbody class="more-rows" hidden>') == 1
    assert f"Show all {len(data['findings'])} findings" in html
    assert 'class="text short flag-pass"' in html and "pass_<wbr>rate" not in html and ">pass rate<" in html


def test_report_figures_drop_the_title_and_fix_margins_from_their_labels():
    long_name = "a-very-long-feature-name"
    fig = plots.bar_figure([long_name, "b"], [0.3, 0.1], title="Importance", value_label="share")
    spec = json.loads(str(plot_json(fig)))
    layout = spec["layout"]
    assert "title" not in layout and layout["height"] == fig.layout.height - 36
    assert layout["xaxis"]["automargin"] is False and layout["yaxis"]["automargin"] is False
    assert layout["margin"]["l"] >= 6 * len(long_name)          # room for the longest category label
    assert layout["margin"]["b"] >= 22 + 22                      # numeric ticks and the axis title
    crowded = plots.step_bar_figure([f"bin {i:02d}-{i + 1:02d}" for i in range(40)], [1.0] * 40)
    assert json.loads(str(plot_json(crowded)))["layout"]["xaxis"]["tickangle"] == -45
