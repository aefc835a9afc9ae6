"""Dashboard tests: every page and tab through ``streamlit.testing.v1.AppTest`` on small saved results, plus the
pure helpers behind it (uploads, run folders, tab routing, item keys, what-if).

The saved results are real: tiny models (an MLP on 600 Adult rows, a CNN on digits, a transformer on Rotten
Tomatoes, a GAN on digits) audited by the real runner and checks with small options, so the tabs are tested on the
keys the checks really write (``local_<row>_<method>``, ``global_<method>``, ``sample_<i>_original`` ...). One
extra test check with a metric layout nobody anticipated exercises the "Other checks" tab.
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
from app_pages.render import unique_columns
from app_pages.sections import (OTHER_TAB, RESULT_TABS, ExplanationKey, explanation_key, group_roles, image_role,
                                method_label, sample_label, tab_for_check)
from audit import REGISTRY, AuditConfig, AuditResult, Registry, run_audit
from audit.checks.base import AuditContext, CheckOutput
from deepaudit.io import write_outputs
from models import Dataset, TrainedModel, load_dataset, load_model, train_model
from models.errors import CheckpointError, InvalidInputError
from models.preprocessing import PAD_ID, encode
from reports import build_view, diff_results, plots

torch.set_num_threads(1)
APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120
# Small options so each audit takes a fraction of a second.
TINY: dict[str, dict[str, Any]] = {
    "explanations": {"methods": ["integrated_gradients", "saliency"], "n_local": 1, "n_global": 20, "n_boot": 20,
                     "ig_steps": 8},
    "counterfactuals": {"n_local": 1, "steps": 30},
    "fairness": {"n_boot": 50, "min_group_size": 5, "intersections": False},
    "robustness": {"n_samples": 20, "steps": 3, "n_boot": 20, "n_images": 2, "norms": ["Linf"]},
    "calibration": {"n_boot": 20},
    "generative": {"n_samples": 40, "n_real": 40, "extractor_epochs": 1, "snapshot_samples": 0, "n_pairs": 1,
                   "grid_per_class": 1},
}
TABULAR_CHECKS = ("performance", "explanations", "counterfactuals", "fairness", "robustness", "calibration")


# ------------------------------------------------------------------------------------------------ a novel check
@dataclass(frozen=True)
class _Novel:
    """A plug-in check whose metrics follow no known layout (they land in "Other checks" as JSON)."""

    name: str = "novel_measure"
    title: str = "Novel measure"
    kinds: frozenset[str] = frozenset({"tabular"})
    tasks: frozenset[str] = frozenset({"binary"})
    needs: frozenset[str] = frozenset()
    default_options: dict[str, Any] = field(default_factory=dict)

    def run(self, ctx: AuditContext, options: Any) -> CheckOutput:
        ctx.progress(0.5, "half way")
        return CheckOutput(metrics={"score": 1.5, "nested": {"a": [1, 2]}})


def _registry(names: tuple[str, ...], novel: bool = False) -> Registry:
    reg = Registry()
    for name in names:
        reg.register(REGISTRY.get(name))
    if novel:
        reg.register(_Novel())
    return reg


@dataclass
class Run:
    folder: Path
    model: TrainedModel
    ds: Dataset
    result: AuditResult


def _make_run(out: Path, name: str, ds: Dataset, spec: dict[str, Any], family: str, checks: tuple[str, ...], *,
              seed: int = 0, epochs: int = 2, thresholds: dict[str, Any] | None = None, novel: bool = False,
              options: dict[str, Any] | None = None) -> Run:
    tm = train_model(family, ds, seed=seed, device="cpu", epochs=epochs, progress=False)
    chosen = {**TINY, **(options or {})}
    config = AuditConfig.from_dict({"seed": 0, "device": "cpu", "max_rows": 60, "thresholds": thresholds or {},
                                    "options": {k: v for k, v in chosen.items() if k in checks}})
    result = run_audit(tm, ds, config, progress=False, registry=_registry(checks, novel))
    folder = out / name
    write_outputs(result, folder)
    tm.save(folder / runs.MODEL_DIR)
    runs.write_run_info(folder, {"data": spec})
    return Run(folder, tm, ds, result)


@dataclass
class Runs:
    out: Path
    first: Path
    second: Path
    model: TrainedModel
    a: Run


@pytest.fixture(scope="session")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Two audits of Adult MLPs (the second breaks a configured accuracy threshold)."""
    out = tmp_path_factory.mktemp("app-runs")
    ds = load_dataset("adult", max_rows=600, seed=0)
    spec = {"source": "bundled", "name": "adult", "seed": 0, "max_rows": 600}
    a = _make_run(out, "run-a", ds, spec, "mlp", TABULAR_CHECKS, epochs=8, novel=True)
    b = _make_run(out, "run-b", ds, spec, "mlp", TABULAR_CHECKS, seed=1, epochs=8, novel=True,
                  thresholds={"performance": {"accuracy": {"min": 0.99}}})
    return Runs(out, a.folder, b.folder, a.model, a)


@pytest.fixture(scope="session")
def kinds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Real audits of an image classifier, a text classifier and a GAN (each in its own output folder)."""
    out = tmp_path_factory.mktemp("kind-runs")
    digits = load_dataset("digits", max_rows=300, seed=0)
    digits_spec = {"source": "bundled", "name": "digits", "seed": 0, "max_rows": 300}
    reviews = load_dataset("rotten_tomatoes", max_rows=300, seed=0)
    text_options = {"explanations": {**TINY["explanations"], "methods": ["layer_integrated_gradients"]}}
    return {
        "image": _make_run(out / "image", "cnn", digits, digits_spec, "cnn", ("performance", "explanations",
                                                                               "robustness"), epochs=3),
        "text": _make_run(out / "text", "transformer", reviews,
                          {"source": "bundled", "name": "rotten_tomatoes", "seed": 0, "max_rows": 300},
                          "transformer", ("performance", "explanations"), epochs=1, options=text_options),
        "gan": _make_run(out / "gan", "gan", digits, digits_spec, "gan", ("generative",), epochs=1),
    }


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


def _open(run: Run, tab: str) -> AppTest:
    return _open_tab(_app(run.folder.parent, run.folder), tab)


def _texts(elements: Any) -> list[str]:
    return [str(e.value) for e in elements]


def _clean(at: AppTest) -> None:
    assert not at.exception, _texts(at.exception)
    assert not at.error, _texts(at.error)


def _chart(at: AppTest, key_part: str) -> dict[str, Any]:
    """The plotly spec of the one chart whose widget key contains ``key_part``."""
    found = [c for c in at.get("plotly_chart") if key_part in c.proto.id]
    assert len(found) == 1, [c.proto.id for c in at.get("plotly_chart")]
    return json.loads(found[0].proto.spec)


def _captions(at: AppTest) -> list[str]:
    return [img.captions[0] if img.captions else "" for img in at.image]


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


def test_every_tab_of_every_model_kind_opens_cleanly(saved: Runs, kinds: dict[str, Run]) -> None:
    for run in [saved.a, *kinds.values()]:
        at = _app(run.folder.parent, run.folder)
        for tab in RESULT_TABS:
            _open_tab(at, tab)
            where = (run.model.family, tab)
            assert not at.exception, (where, _texts(at.exception))
            assert not [e for e in _texts(at.error) if "regression" not in e], (where, _texts(at.error))
            assert at.main.children, where


@pytest.mark.parametrize("tab, check", [
    ("Performance", "performance"), ("Fairness", "fairness"), ("Robustness", "robustness"),
    ("Calibration & OOD", "calibration")])
def test_check_tabs_draw_the_report_figures(saved: Runs, tab: str, check: str) -> None:
    at = _open_tab(_app(saved.out, saved.first), tab)
    _clean(at)
    section = next(s for s in build_view(saved.a.result).sections if s.name == check)
    assert len(section.figures) >= 1
    assert len(at.get("plotly_chart")) >= len(section.figures)
    assert any(m.label == "ECE" or m.label == "Accuracy" or m.label == "Demographic parity difference"
               or m.label == "Clean accuracy" for m in at.metric)


def test_explanations_tab_tabular_rows_and_methods(saved: Runs) -> None:
    m = saved.a.result.metrics["explanations"]
    at = _open_tab(_app(saved.out, saved.first), "Explanations")
    _clean(at)
    rows = [r["index"] for r in m["local"] if r["top"]]  # the check's order: errors, uncertain, random
    sample = at.selectbox(key="explain_sample")
    assert sample.options == [sample_label(r, m["local"]) for r in rows] and sample.value == rows[0]
    method = at.selectbox(key="explain_method")
    assert method.options == ["all methods", "integrated gradients", "saliency"]
    for name in ("integrated_gradients", "saliency"):  # the bars drawn are the check's own numbers
        bars = m["bars"][f"local_{rows[0]}_{name}"]
        spec = _chart(at, f"local_{rows[0]}_{name}")
        assert spec["data"][0]["x"] == pytest.approx(bars["values"]) and spec["data"][0]["y"] == bars["labels"]
        assert _chart(at, f"global_{name}")["data"][0]["x"] == pytest.approx(m["bars"][f"global_{name}"]["values"])
    method.set_value("saliency").run()
    _clean(at)
    ids = [c.proto.id for c in at.get("plotly_chart")]
    assert not any("integrated_gradients" in i for i in ids)
    assert sum("_saliency" in i for i in ids) == 2  # this row's bars and the global bars
    sample.set_value(rows[-1]).run()
    assert _chart(at, f"local_{rows[-1]}_saliency")["data"][0]["x"] == pytest.approx(
        [v for _, v in next(r for r in m["local"] if r["index"] == rows[-1])["top"]["saliency"]])
    ranking = m["tables"]["global_ranking"]
    assert any(df.value.columns.tolist() == ranking["columns"] for df in at.dataframe)


def test_explanations_tab_image_overlays_side_by_side(kinds: dict[str, Run]) -> None:
    m = kinds["image"].result.metrics["explanations"]
    at = _open(kinds["image"], "Explanations")
    _clean(at)
    rows = list(dict.fromkeys(explanation_key(k).sample for k in m["images"] if k.startswith("local_")))
    assert at.selectbox(key="explain_sample").options == [sample_label(r, m["local"]) for r in rows]
    # input, then the row's overlay per method, then the global map per method
    assert _captions(at) == ["input", "integrated gradients", "saliency", "integrated gradients", "saliency"]
    explained = m["images"][f"local_{rows[0]}_integrated_gradients"]["caption"]  # "class 3"
    assert any(explained.split()[-1] in md.value and "toward class" in md.value for md in at.markdown)
    at.selectbox(key="explain_method").set_value("integrated_gradients").run()
    assert _captions(at) == ["input", "integrated gradients", "integrated gradients"]


def test_explanations_tab_token_highlights(kinds: dict[str, Run]) -> None:
    m = kinds["text"].result.metrics["explanations"]
    at = _open(kinds["text"], "Explanations")
    _clean(at)
    assert at.selectbox(key="explain_method").options == ["all methods", "layer integrated gradients"]
    row = at.selectbox(key="explain_sample").value
    item = m["texts"][f"local_{row}_layer_integrated_gradients"]
    html = str(plots.token_html(item["tokens"], item["scores"]))
    assert sum(html in md.value for md in at.markdown) == 1
    assert _chart(at, "global_layer_integrated_gradients")["data"][0]["y"] == m["bars"][
        "global_layer_integrated_gradients"]["labels"]


def test_fairness_tab_filters_by_sensitive_feature(saved: Runs) -> None:
    at = _open_tab(_app(saved.out, saved.first), "Fairness")
    feature = at.selectbox(key="fairness_feature")
    assert feature.options == ["all features", "sex", "race", "age"]
    total = len(at.dataframe)
    tables = [t for s in build_view(saved.a.result).sections if tab_for_check(s.name) == "Fairness" for t in s.tables]
    assert total == len(tables)
    feature.set_value("race").run()
    _clean(at)
    race = [t for t in tables if "race" in f"{t.key} {t.title}".lower()]
    assert 0 < len(at.dataframe) == len(race) < total


def test_robustness_tab_shows_each_attack_next_to_its_original(kinds: dict[str, Run], saved: Runs) -> None:
    images = kinds["image"].result.metrics["robustness"]["images"]
    at = _open(kinds["image"], "Robustness")
    _clean(at)
    assert any("next to the originals" in m.value for m in at.markdown)
    expected = [f"{v['title']} — {v['caption']}" if v.get("caption") else v["title"] for v in images.values()]
    assert _captions(at) == expected and len(expected) == 6  # 2 samples x (original, adversarial, perturbation)
    assert [image_role(k)[1] for k in images] == ["original", "adversarial", "perturbation"] * 2
    at = _open_tab(_app(saved.out, saved.first), "Robustness")  # a table with repeated "CI lower" columns
    _clean(at)
    bias = saved.a.result.metrics["robustness"]["tables"]["robustness_bias"]
    frame = next(df.value for df in at.dataframe if len(df.value.columns) == len(bias["columns"])
                 and df.value.columns[0] == bias["columns"][0])
    assert frame.columns.tolist() == unique_columns(bias["columns"]) and frame.columns.is_unique


def test_generative_and_other_tabs(saved: Runs, kinds: dict[str, Run]) -> None:
    gen = kinds["gan"].result.metrics["generative"]
    at = _open(kinds["gan"], "Generative")
    _clean(at)
    assert len(at.image) == len(gen["images"]) and any(m.label.startswith("FID") for m in at.metric)
    at = _open_tab(at, "What-if")
    assert "see the Generative tab" in at.info[0].value
    at = _open_tab(_app(saved.out, saved.first), OTHER_TAB)
    _clean(at)
    assert any('"a"' in c.value for c in at.code)  # nested metrics of the novel check shown as JSON


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


def test_whatif_tab_text_and_image(kinds: dict[str, Run]) -> None:
    run = kinds["text"]
    at = _open(run, "What-if")
    _clean(at)
    text = run.ds.test.raw["text"].iloc[0]
    proba = run.model.predict_proba(encode([text], run.ds.preprocessing))[0]
    label = run.ds.class_names[int(proba.argmax())]
    assert at.metric[0].value == label
    assert any("Counterfactual" in m.value for m in at.markdown)
    curve = _chart(at, "whatif_text_curve")["data"][0]["y"]
    assert curve[0] == pytest.approx(float(proba.max()), abs=1e-5)
    at = _open(kinds["image"], "What-if")
    _clean(at)
    assert _captions(at)[0] == "input" and _captions(at)[1].startswith("integrated gradients toward")


def test_compare_tab_diffs_two_runs(saved: Runs) -> None:
    at = _open_tab(_app(saved.out, saved.second), "Compare")
    assert not at.exception
    choice = at.selectbox(key="compare_choice")
    assert choice.value == str(saved.first.resolve())
    assert choice.options[1].startswith("run-a — adult (tabular)")
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
    at.multiselect(key="run_checks").set_value(["performance", "data_profile", "fairness"])
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
    assert [tab_for_check(n) for n in REGISTRY.names()] == [
        "Performance", "Performance", "Performance", "Explanations", "Explanations", "Explanations", "Fairness",
        "Fairness", "Fairness", "Fairness", "Fairness", "Robustness", "Robustness", "Calibration & OOD",
        "Calibration & OOD", "Generative", "Generative"]
    assert tab_for_check("compression") == "Compression"
    assert tab_for_check("brand_new_check") == OTHER_TAB


@pytest.mark.parametrize("key, expected", [
    ("local_344_layer_integrated_gradients", ExplanationKey("local", "layer_integrated_gradients", 344)),
    ("local_769_lime", ExplanationKey("local", "lime", 769)),
    ("global_shap_gradient", ExplanationKey("global", "shap_gradient")),
    ("sample_3/integrated_gradients", ExplanationKey("local", "integrated_gradients", 3)),
    ("agreement", None), ("deletion", None),
])
def test_explanation_keys(key: str, expected: ExplanationKey | None) -> None:
    assert explanation_key(key) == expected


def test_labels() -> None:
    assert [method_label(m) for m in ("layer_integrated_gradients", "kernel_shap", "my_new_method")] == [
        "layer integrated gradients", "Kernel SHAP", "my new method"]
    records = [{"index": 7, "reason": "least_confident", "label": "cat"}, {"index": 9, "reason": "random"}]
    assert sample_label(7, records) == "row 7 · least confident · true cat"
    assert sample_label(9, records) == "row 9 · random" and sample_label(5, records) == "row 5"
    assert unique_columns(["group", "CI lower", "CI upper", "gap", "CI lower", "CI upper"]) == [
        "group", "group CI lower", "group CI upper", "gap", "gap CI lower", "gap CI upper"]
    assert unique_columns(["a", "a"]) == ["a", "a (2)"]


def test_group_roles() -> None:
    @dataclass
    class K:
        key: str

    items = [K("sample_0_original"), K("sample_0_adversarial"), K("sample_0_perturbation"), K("sample_1_original"),
             K("ex2_adversarial"), K("ex2_original"), K("curve"), K("sample_1_clean_but_odd")]
    rows, rest = group_roles(items)
    assert [[i.key for i in row] for row in rows] == [
        ["sample_0_original", "sample_0_adversarial", "sample_0_perturbation"], ["ex2_original", "ex2_adversarial"]]
    assert [r.key for r in rest] == ["sample_1_original", "curve", "sample_1_clean_but_odd"]


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


def test_whatif_tabular_attributions_and_counterfactual(saved: Runs) -> None:
    ds, tm = saved.a.ds, saved.model
    row = ds.test.raw.iloc[[1]].reset_index(drop=True)
    x, pred = whatif_compute.predict_row(tm, ds, row)
    np.testing.assert_allclose(tm.predict_proba(ds.test.x[1:2])[0], list(pred.proba.values()), rtol=1e-6)
    attrs = whatif_compute.tabular_attributions(tm, ds, x, pred.index)
    assert list(attrs) == list(ds.feature_groups)
    with torch.no_grad():  # completeness of integrated gradients: sum = f(x) - f(baseline) for the target logit
        fx = tm.module(torch.as_tensor(x))[0, pred.index]
        fb = tm.module(torch.as_tensor(ds.train.x.mean(axis=0, keepdims=True)))[0, pred.index]
    assert sum(attrs.values()) == pytest.approx(float(fx - fb), abs=0.05)
    # the least confident of the first 40 test rows (a tiny, weak model may need many changes even there)
    proba = tm.predict_proba(ds.test.x[:40])
    i = int(np.argmin(np.abs(proba[:, 1] - 0.5)))
    row = ds.test.raw.iloc[[i]].reset_index(drop=True)
    target = 1 - int(proba[i].argmax())
    cf = whatif_compute.tabular_counterfactual(tm, ds, row, target)
    assert cf.target == ds.class_names[target] and cf.reached == (cf.prediction.index == target)
    assert cf.reached and len(cf.changes) >= 1
    edited = row.copy().astype(object)
    for change in cf.changes:
        assert change.feature not in ds.sensitive_features and change.after != "<unknown>"
        assert str(change.before) == str(row.at[0, change.feature]) or change.before == pytest.approx(
            float(row.at[0, change.feature]), abs=1e-3)
        edited.at[0, change.feature] = change.after
    # the edit, re-encoded from raw values, scores as the counterfactual says (values are shown rounded)
    after = whatif_compute.predict_row(tm, ds, edited)[1]
    assert after.proba[cf.target] == pytest.approx(cf.prediction.proba[cf.target], abs=2e-3)


def test_whatif_text_counterfactual_masks_the_most_supporting_words(kinds: dict[str, Run]) -> None:
    run = kinds["text"]
    text = run.ds.test.raw["text"].iloc[3]
    ids = encode([text], run.ds.preprocessing)
    pred = whatif_compute.predict_rows(run.model, ids, run.ds.class_names)[0]
    cf = whatif_compute.text_counterfactual(run.model, run.ds, text)
    n_words = int((ids[0] != PAD_ID).sum())
    assert cf.counts == list(range(min(n_words, 10) + 1))
    assert cf.curve[0] == pytest.approx(pred.proba[pred.label], abs=1e-5)
    scores = whatif_compute.text_attributions(run.model, run.ds, ids, pred.index)[:n_words]
    top = np.argsort(-scores, kind="stable")[: len(cf.removed)]
    masked = ids.copy()
    masked[0, top] = PAD_ID
    proba = run.model.predict_proba(masked)[0]
    assert cf.prediction.proba[cf.prediction.label] == pytest.approx(float(proba.max()), abs=1e-5)
    assert len(cf.removed) >= 1 and (cf.prediction.index != pred.index or len(cf.removed) == min(n_words, 10))
    assert cf.curve[len(cf.removed)] == pytest.approx(float(proba[pred.index]), abs=1e-5)
