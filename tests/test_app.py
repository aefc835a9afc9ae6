"""Dashboard tests: every page and tab through ``streamlit.testing.v1.AppTest`` on small saved results, plus the
pure helpers behind it (uploads, run folders, tab routing, what-if).

The saved results come from a real tiny MLP on 600 Adult rows, audited by the real runner with the performance check
and a few showcase checks defined here that emit every metric-layout convention (tables, curves, bars, images,
texts, per-sample explanations, adversarial pairs), so every tab has something to draw.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

from app_pages import runs, uploads, whatif_compute
from app_pages.sections import OTHER_TAB, RESULT_TABS, pair_originals, sample_and_method, tab_for_check
from audit import AuditConfig, AuditResult, Registry, run_audit
from audit.checks.base import AuditContext, CheckOutput
from audit.checks.performance import PerformanceCheck
from audit.results import Finding
from deepaudit.io import write_outputs
from models import TrainedModel, load_dataset, load_model, train_model
from models.errors import CheckpointError, InvalidInputError
from reports import diff_results

torch.set_num_threads(1)
APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120


# ----------------------------------------------------------------------------------------------- showcase checks
def _grid(h: int, w: int, seed: int, signed: bool = False) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(h, w)) if signed else rng.random((h, w))
    return np.round(values, 4).tolist()


@dataclass(frozen=True)
class _Showcase:
    """A test check that returns fixed metrics following the layout conventions."""

    name: str
    metrics: dict[str, Any]
    findings: tuple[tuple[str, str], ...] = ()
    title: str = "Showcase"
    kinds: frozenset[str] = frozenset({"tabular"})
    tasks: frozenset[str] = frozenset({"binary"})
    needs: frozenset[str] = frozenset()
    default_options: dict[str, Any] = field(default_factory=dict)

    def run(self, ctx: AuditContext, options: Any) -> CheckOutput:
        ctx.progress(0.5, "half way")
        return CheckOutput(metrics=json.loads(json.dumps(self.metrics)),
                           findings=[Finding(self.name, sev, msg) for sev, msg in self.findings])


def _showcase_checks() -> list[_Showcase]:
    explain = {
        "faithfulness": 0.81,
        "bars": {"global_importance_ig": {"title": "Global importance (IG)", "labels": ["age", "sex", "hours"],
                                          "values": [0.3, 0.2, 0.1], "lower": [0.25, 0.15, 0.05],
                                          "upper": [0.35, 0.25, 0.15]}},
        "images": {
            "sample_3/integrated_gradients": {"title": "Sample 3 — IG", "caption": "red: for", "kind": "overlay",
                                              "data": _grid(8, 8, 1, True), "base": _grid(8, 8, 2)},
            "sample_3/saliency": {"title": "Sample 3 — saliency", "caption": "", "kind": "heatmap",
                                  "data": _grid(8, 8, 3, True)},
            "sample_5/integrated_gradients": {"title": "Sample 5 — IG", "caption": "", "kind": "overlay",
                                              "data": _grid(8, 8, 4, True), "base": _grid(8, 8, 5)},
        },
        "texts": {"sample_3/lime": {"title": "Sample 3 — LIME tokens", "tokens": ["a", "<b>great</b>", "film"],
                                    "scores": [0.1, 0.9, -0.3], "caption": "LIME"}},
        "tables": {"agreement": {"title": "Method agreement (Spearman)", "columns": ["method", "ig", "saliency"],
                                 "rows": [["ig", 1.0, 0.6], ["saliency", 0.6, 1.0]]}},
    }
    fairness = {
        "demographic_parity_difference": 0.14,
        "tables": {"by_group_sex": {"title": "Selection rate by sex",
                                    "columns": ["group", "selection_rate", "selection_rate lower", "selection_rate upper"],
                                    "rows": [["Female", 0.1, 0.05, 0.15], ["Male", 0.24, 0.2, 0.28]]},
                   "by_group_race": {"title": "Selection rate by race", "columns": ["group", "selection_rate"],
                                     "rows": [["White", 0.2], ["Black", 0.1]]}},
        "bars": {"selection_rate_sex": {"title": "Selection rate by sex", "labels": ["Female", "Male"],
                                        "values": [0.1, 0.24], "lower": [0.05, 0.2], "upper": [0.15, 0.28]}},
    }
    robustness = {
        "pgd_accuracy": 0.4,
        "curves": {"accuracy_vs_epsilon": {"title": "Accuracy vs budget", "x_label": "epsilon", "y_label": "accuracy",
                                           "x": [0, 0.1, 0.2], "series": {"pgd": [0.8, 0.6, 0.4]}}},
        "images": {"example_0_original": {"title": "Original 0", "caption": "label 1", "kind": "grayscale",
                                          "data": _grid(8, 8, 6)},
                   "example_0_adversarial": {"title": "Adversarial 0", "caption": "predicted 0", "kind": "grayscale",
                                             "data": _grid(8, 8, 7)}},
    }
    calibration = {"ece": 0.04, "curves": {"reliability": {"title": "Reliability diagram", "x": [0.25, 0.75],
                                                           "series": {"model": [0.2, 0.8]}}}}
    generative = {"fid": 12.5, "images": {"grid_class_0": {"title": "Class 0 samples", "caption": "", "kind": "grayscale",
                                                           "data": _grid(8, 8, 8)}}}
    return [
        _Showcase("explanations_showcase", explain),
        _Showcase("fairness_showcase", fairness, (("warning", "Selection rates differ by 14 points between sexes."),)),
        _Showcase("robustness_showcase", robustness),
        _Showcase("calibration_showcase", calibration),
        _Showcase("generative_showcase", generative),
        _Showcase("novel_measure", {"score": 1.5, "nested": {"a": [1, 2]}}),
    ]


def _registry() -> Registry:
    reg = Registry()
    reg.register(PerformanceCheck())
    for check in _showcase_checks():
        reg.register(check)
    return reg


@dataclass
class Runs:
    out: Path
    first: Path
    second: Path
    model: TrainedModel


def _make_run(out: Path, name: str, seed: int, thresholds: dict[str, Any]) -> tuple[Path, TrainedModel]:
    ds = load_dataset("adult", max_rows=600, seed=0)
    tm = train_model("mlp", ds, seed=seed, device="cpu", epochs=8, progress=False)
    config = AuditConfig.from_dict({"seed": 0, "device": "cpu", "max_rows": 100, "thresholds": thresholds})
    result = run_audit(tm, ds, config, progress=False, registry=_registry())
    folder = out / name
    write_outputs(result, folder)
    tm.save(folder / runs.MODEL_DIR)
    runs.write_run_info(folder, {"data": {"source": "bundled", "name": "adult", "seed": 0, "max_rows": 600}})
    return folder, tm


@pytest.fixture(scope="session")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    out = tmp_path_factory.mktemp("app-runs")
    first, tm = _make_run(out, "run-a", 0, {})
    second, _ = _make_run(out, "run-b", 1, {"performance": {"accuracy": {"min": 0.99}}})
    return Runs(out, first, second, tm)


def _app(out: Path, current: Path | None = None, page: str = "Results") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["out_dir"] = str(out)
    at.session_state["nav"] = page
    if current is not None:
        at.session_state["current_dir"] = str(current)
    return at.run()


def _open_tab(at: AppTest, tab: str) -> AppTest:
    at.session_state["result_tab"] = tab
    return at.run()


def _texts(elements: Any) -> list[str]:
    return [str(e.value) for e in elements]


def _clean(at: AppTest) -> None:
    assert not at.exception, _texts(at.exception)
    assert not at.error, _texts(at.error)


# --------------------------------------------------------------------------------------------------- Results tabs
def test_summary_tab_shows_verdict_findings_and_downloads(saved: Runs) -> None:
    at = _app(saved.out, saved.second)
    assert not at.exception
    assert _texts(at.error) == ["Audit FAILED — 1 configured threshold(s) broken."]
    assert at.header[0].value == "Audit of mlp on adult"
    assert any("Worst findings" == s.value for s in at.subheader)
    assert any("performance.accuracy" in m.value and "[:material/cancel: fail]" in m.value for m in at.markdown)
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["HTML report", "JSON result", "JUnit XML"]
    assert {m.label.split()[-1]: m.value for m in at.metric}["fail"] == "1"
    at = _app(saved.out, saved.first)
    assert not at.error and "Audit PASSED" in at.success[0].value


@pytest.mark.parametrize("tab, expected_charts", [
    ("Performance", 1), ("Fairness", 1), ("Robustness", 1), ("Calibration & OOD", 1)])
def test_check_tabs_draw_the_report_figures(saved: Runs, tab: str, expected_charts: int) -> None:
    at = _open_tab(_app(saved.out, saved.first), tab)
    _clean(at)
    assert len(at.get("plotly_chart")) >= expected_charts


def test_explanations_tab_picks_sample_and_method(saved: Runs) -> None:
    at = _open_tab(_app(saved.out, saved.first), "Explanations")
    _clean(at)
    sample = at.selectbox(key="explain_sample")
    assert sample.options == ["test row 3", "test row 5"]
    method = at.selectbox(key="explain_method")
    assert method.options == ["all methods", "LIME", "integrated gradients", "saliency"]
    assert len(at.image) == 2  # sample 3: IG overlay and saliency
    assert any("&lt;b&gt;great&lt;/b&gt;" in m.value for m in at.markdown)  # escaped token highlight
    method.set_value("saliency").run()
    assert len(at.image) == 1
    at.selectbox(key="explain_sample").set_value("5").run()
    _clean(at)
    assert at.selectbox(key="explain_method").options == ["all methods", "integrated gradients"]
    assert len(at.get("plotly_chart")) >= 1  # global importance bars; agreement table below
    agreement = at.dataframe[0].value
    assert agreement.columns.tolist() == ["method", "ig", "saliency"] and agreement.shape == (2, 3)


def test_fairness_tab_filters_by_sensitive_feature(saved: Runs) -> None:
    at = _open_tab(_app(saved.out, saved.first), "Fairness")
    feature = at.selectbox(key="fairness_feature")
    assert set(feature.options) >= {"all features", "sex", "race"}
    assert len(at.dataframe) == 2
    feature.set_value("race").run()
    _clean(at)
    assert len(at.dataframe) == 1 and len(at.get("plotly_chart")) == 0
    assert any("Selection rates differ" in m.value for m in at.markdown)


def test_robustness_tab_shows_adversarial_next_to_original(saved: Runs) -> None:
    at = _open_tab(_app(saved.out, saved.first), "Robustness")
    assert any("next to the originals" in m.value for m in at.markdown)
    images = at.image
    assert len(images) == 2
    captions = [img.captions[0] for img in images]
    assert captions[0].startswith("Original 0") and captions[1].startswith("Adversarial 0")


def test_generative_and_other_tabs(saved: Runs) -> None:
    at = _open_tab(_app(saved.out, saved.first), "Generative")
    _clean(at)
    assert len(at.image) == 1 and any(m.label.startswith("FID") for m in at.metric)
    at = _open_tab(at, OTHER_TAB)
    _clean(at)
    assert any('"a"' in c.value for c in at.code)  # nested metrics shown as JSON


def test_whatif_tab_updates_prediction_explanation_and_counterfactual(saved: Runs) -> None:
    at = _open_tab(_app(saved.out, saved.first), "What-if")
    _clean(at)
    before = at.metric[0].value
    assert before in ("<=50K", ">50K")
    assert len(at.get("plotly_chart")) == 1
    assert any("Counterfactual" in m.value for m in at.markdown)
    at.number_input(key="whatif_0_capital-gain").set_value(99999).run()
    _clean(at)
    row = load_dataset("adult", max_rows=600, seed=0).test.raw.iloc[[0]].copy()
    row["capital-gain"] = 99999
    expected = whatif_compute.predict_row(load_model(saved.first / "model"), load_dataset("adult", max_rows=600),
                                          row)[1]
    assert at.metric[0].value == expected.label


def test_compare_tab_diffs_two_runs(saved: Runs) -> None:
    at = _open_tab(_app(saved.out, saved.second), "Compare")
    assert not at.exception
    choice = at.selectbox(key="compare_choice")
    assert choice.value == str(saved.first.resolve())
    # run-a -> run-b: a new seed and a configured accuracy threshold that run-b fails: the audit stopped passing
    oracle = diff_results(AuditResult.from_json(saved.first / "result.json"),
                          AuditResult.from_json(saved.second / "result.json"), tolerance=0.02)
    assert oracle.has_regression
    assert _texts(at.error) == [f"{len(oracle.regressions)} regression(s) against run-a."]
    table = at.dataframe[0].value
    assert sorted(table.loc[table["regression"], "metric"]) == sorted(c.path for c in oracle.regressions)
    assert [b.label for b in at.get("download_button")][-1] == "Download the diff (HTML)"


def test_switching_tabs_never_reruns_the_audit(saved: Runs) -> None:
    stamp = (saved.first / "result.json").stat().st_mtime_ns
    before = sorted(p.name for p in saved.out.iterdir())
    at = _app(saved.out, saved.first)
    for tab in RESULT_TABS:
        _open_tab(at, tab)
        assert not at.exception
        assert not any("Audit progress" in m.value for m in at.markdown)
    assert sorted(p.name for p in saved.out.iterdir()) == before
    assert (saved.first / "result.json").stat().st_mtime_ns == stamp


# ------------------------------------------------------------------------------------------------- other pages
def test_open_page_lists_past_runs_and_opens_one(saved: Runs) -> None:
    at = _app(saved.out, page="Open results")
    _clean(at)
    table = at.dataframe[0].value
    assert sorted(table["run"]) == ["run-a", "run-b"]
    assert set(table["status"]) == {"passed", "FAILED"}
    at.selectbox(key="open_run_choice").set_value("run-a").run()
    at.button(key="open_run_button").click().run()
    assert at.session_state["nav"] == "Results"
    assert at.session_state["current_dir"] == str(saved.first.resolve())


def test_open_page_bad_folder_gives_message(saved: Runs, tmp_path: Path) -> None:
    at = _app(saved.out, page="Open results")
    at.text_input(key="open_path").input(str(tmp_path))
    at.button[0].click().run()
    assert not at.exception
    assert "holds no result.json" in at.error[0].value


def test_results_page_without_result(tmp_path: Path) -> None:
    at = _app(tmp_path)
    _clean(at)
    assert "No result is open yet" in at.info[0].value


def _upload(at: AppTest, key: str, files: Any) -> AppTest:
    at.file_uploader(key=key).set_value(files)
    return at.run()


def _run_page(out: Path) -> AppTest:
    at = _app(out, page="Run an audit")
    at.radio(key="run_source").set_value("Upload a table")
    return at.run()


@pytest.mark.parametrize("name, data, message", [
    ("notes.txt", b"hello", "is not a CSV or Parquet table"),
    ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "holds binary data"),
    ("broken.parquet", b"not parquet", "is not a Parquet file"),
    ("one.csv", b"a\n1\n", "at least one row and two columns"),
])
def test_bad_data_uploads_give_a_clear_message(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    at = _upload(_run_page(tmp_path), "upload_data", (name, data, "application/octet-stream"))
    assert not at.exception
    assert message in at.error[0].value


def test_oversized_upload_is_refused(tmp_path: Path) -> None:
    big = b"a,b\n" + b"1,2\n" * (uploads.MAX_UPLOAD_BYTES // 4)
    at = _upload(_run_page(tmp_path), "upload_data", ("big.csv", big, "text/csv"))
    assert not at.exception
    assert "uploads must be at most 200 MB" in at.error[0].value


def _adult_csv(rows: int = 300) -> bytes:
    ds = load_dataset("adult", max_rows=600, seed=0)
    frame = ds.test.raw.copy()
    frame["income"] = [ds.class_names[i] for i in ds.test.y]
    return frame.head(rows).to_csv(index=False).encode()


def _checkpoint_files(tm: TrainedModel, folder: Path, *, hidden: list[int] | None = None) -> list[tuple[str, bytes, str]]:
    tm.save(folder)
    meta = json.loads((folder / "metadata.json").read_text())
    if hidden is not None:
        meta["config"]["hidden"] = hidden
    return [("metadata.json", json.dumps(meta).encode(), "application/json"),
            ("model.safetensors", (folder / "model.safetensors").read_bytes(), "application/octet-stream")]


def test_missing_target_and_mismatched_checkpoint(saved: Runs, tmp_path: Path) -> None:
    at = _upload(_run_page(tmp_path), "upload_data", ("adult.csv", _adult_csv(), "text/csv"))
    _clean(at)
    at.radio(key="run_upload_model").set_value("Upload a checkpoint").run()
    at = _upload(at, "upload_ckpt", _checkpoint_files(saved.model, tmp_path / "bad", hidden=[32, 16]))
    assert not at.exception
    assert "does not fit the config" in at.error[0].value
    at = _upload(at, "upload_ckpt", _checkpoint_files(saved.model, tmp_path / "good"))
    _clean(at)
    assert "Loaded a mlp checkpoint" in at.success[0].value
    assert at.text_input(key="run_target").value == "income"  # the checkpoint's own target
    at.text_input(key="run_target").input("salary").run()
    assert not at.exception
    assert "The target column 'salary' does not exist" in at.error[0].value
    assert not at.button(key="run_button") if any(b.key == "run_button" for b in at.button) else True


def test_pickled_checkpoint_is_refused(tmp_path: Path) -> None:
    at = _upload(_run_page(tmp_path), "upload_data", ("adult.csv", _adult_csv(60), "text/csv"))
    at.radio(key="run_upload_model").set_value("Upload a checkpoint").run()
    at = _upload(at, "upload_ckpt", [("model.pt", b"\x80\x04K\x01.", "application/octet-stream")])
    assert not at.exception
    assert "pickled or executable files are never loaded" in at.error[0].value


def test_upload_table_train_and_audit(tmp_path: Path) -> None:
    at = _upload(_run_page(tmp_path), "upload_data", ("adult.csv", _adult_csv(), "text/csv"))
    at.text_input(key="run_target").input("income")
    at.multiselect(key="run_sensitive").set_value(["sex"])
    at.number_input(key="run_upload_epochs").set_value(1)
    at.number_input(key="run_rows").set_value(40)
    at.run()
    _clean(at)
    at.button(key="run_button").click().run()
    _clean(at)
    assert at.session_state["nav"] == "Results"
    folder = Path(at.session_state["current_dir"])
    assert {"result.json", "report.html", "junit.xml", "app_run.json", "data.csv"} <= {p.name for p in folder.iterdir()}
    assert (folder / "model" / "metadata.json").is_file()
    assert json.loads((folder / "app_run.json").read_text())["data"]["target"] == "income"
    assert at.header[0].value.startswith("Audit of mlp")


# ------------------------------------------------------------------------------------------------ pure helpers
def test_tab_routing() -> None:
    assert [tab_for_check(n) for n in ("performance", "data_profile", "explanations", "explanation_quality",
                                       "fairness", "fairness_probes", "robustness", "calibration", "ood",
                                       "generative", "compression")] == [
        "Performance", "Performance", "Explanations", "Explanations", "Fairness", "Fairness", "Robustness",
        "Calibration & OOD", "Calibration & OOD", "Generative", OTHER_TAB]
    assert sample_and_method("sample_12/integrated_gradients") == ("12", "integrated gradients")
    assert sample_and_method("row-4", "Row 4 — kernel SHAP") == ("4", "kernel SHAP")
    assert sample_and_method("global_importance") == (None, None)


def test_pair_originals() -> None:
    @dataclass
    class K:
        key: str

    items = [K("ex1_original"), K("ex1_adversarial"), K("ex2_original"), K("curve")]
    pairs, rest = pair_originals(items)
    assert [(a.key, b.key) for a, b in pairs] == [("ex1_original", "ex1_adversarial")]
    assert [r.key for r in rest] == ["ex2_original", "curve"]


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_checkpoint_is_extracted_safely(saved: Runs, tmp_path: Path) -> None:
    files = {name: data for name, data, _ in _checkpoint_files(saved.model, tmp_path / "src")}
    nested = _zip({f"mlp/{k}": v for k, v in files.items()})
    tm = uploads.load_uploaded_checkpoint([uploads.Upload("mlp.zip", nested)], tmp_path / "ok")
    x = load_dataset("adult", max_rows=600).test.x[:5]
    np.testing.assert_array_equal(tm.predict_proba(x), saved.model.predict_proba(x))
    for bad, message in [({"../evil.json": b"{}"}, "unsafe path"), ({"/abs/metadata.json": b"{}"}, "unsafe path"),
                         ({"metadata.json": b"{}", "run.py": b"import os"}, "never loaded"),
                         ({"weights.safetensors": b"x"}, "has no metadata.json")]:
        with pytest.raises(InvalidInputError, match=message):
            uploads.write_checkpoint([uploads.Upload("c.zip", _zip(bad))], tmp_path / f"bad{len(message)}")
    assert not (tmp_path / "evil.json").exists()
    with pytest.raises(InvalidInputError, match="not a valid zip"):
        uploads.write_checkpoint([uploads.Upload("c.zip", b"PK-not-a-zip")], tmp_path / "z")
    with pytest.raises(CheckpointError, match="which the config does not use"):
        uploads.load_uploaded_checkpoint([uploads.Upload(n, d) for n, d, _ in
                                          _checkpoint_files(saved.model, tmp_path / "h", hidden=[8])], tmp_path / "h2")


def test_read_table_parses_csv_and_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "g": ["a", "b"], "y": [0, 1]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    pd.testing.assert_frame_equal(uploads.read_table(uploads.Upload("t.parquet", buffer.getvalue())), frame)
    pd.testing.assert_frame_equal(uploads.read_table(uploads.Upload("C:\\dir\\t.csv", frame.to_csv(index=False).encode())),
                                  frame)
    with pytest.raises(InvalidInputError, match="at most 200 MB"):
        uploads.check_size("x.csv", uploads.MAX_UPLOAD_BYTES + 1)


def test_run_folders(saved: Runs, tmp_path: Path) -> None:
    assert [p.name for p in runs.find_runs(saved.out)] == ["run-b", "run-a"]
    summary = runs.summarize_run(saved.second, saved.out)
    assert (summary.name, summary.status, summary.fails, summary.data) == ("run-b", "FAILED", 1, "adult (tabular)")
    assert runs.check_result_dir(saved.first / "result.json") == saved.first
    with pytest.raises(InvalidInputError, match="does not exist"):
        runs.check_result_dir(tmp_path / "nope")
    a = runs.new_run_dir(tmp_path, "adult/mlp ..", now=0.0)
    b = runs.new_run_dir(tmp_path, "adult/mlp ..", now=0.0)
    assert a.name.endswith("-adult-mlp") and b.name == a.name + "-1"
    assert runs.data_spec(saved.first, {}) == {"source": "bundled", "name": "adult", "seed": 0, "max_rows": 600}
    prov = {"data": {"name": "german", "metadata": {"split": {"seed": 3, "max_rows": 200}}}}
    assert runs.data_spec(tmp_path, prov) == {"source": "bundled", "name": "german", "seed": 3, "max_rows": 200}
    assert runs.data_spec(tmp_path, {"data": {"name": "user"}}) is None


def test_whatif_counterfactual_and_attributions(saved: Runs) -> None:
    ds = load_dataset("adult", max_rows=600, seed=0)
    tm = saved.model
    row = ds.test.raw.iloc[[1]].reset_index(drop=True)
    x, pred = whatif_compute.predict_row(tm, ds, row)
    np.testing.assert_allclose(tm.predict_proba(ds.test.x[1:2])[0], list(pred.proba.values()), rtol=1e-6)
    attrs = whatif_compute.tabular_attributions(tm, ds, x, pred.index)
    assert set(attrs) == set(ds.feature_groups)
    with torch.no_grad():  # completeness of integrated gradients: sum = f(x) - f(baseline) for the target logit
        fx = tm.module(torch.as_tensor(x))[0, pred.index]
        fb = tm.module(torch.as_tensor(ds.train.x.mean(axis=0, keepdims=True)))[0, pred.index]
    assert sum(attrs.values()) == pytest.approx(float(fx - fb), abs=0.05)
    target = 1 - pred.index
    cf = whatif_compute.tabular_counterfactual(tm, ds, row, target)
    edited = row.copy().astype(object)
    for change in cf.changes:
        assert change.feature not in ds.sensitive_features
        edited.at[0, change.feature] = change.after
    assert whatif_compute.predict_row(tm, ds, edited)[1] == cf.prediction
    assert cf.reached == (cf.prediction.index == target)
