"""The JSON Schema of AuditResult.to_dict(): the fixture and a real run_audit result validate; broken ones do not.

The real result also goes through every renderer (HTML, JUnit, diff) end to end.
"""
from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from audit import AuditConfig, AuditResult, CheckOutput, Finding, Registry, run_audit
from models import Dataset
from reports import SCHEMA_PATH, build_view, diff_results, render_html, render_junit

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a dev dependency (pip install -e '.[dev]')")

DATA = Path(__file__).parent / "data" / "sample_result.json"
ALL_KINDS = frozenset({"tabular", "image", "text", "timeseries"})


def validator() -> Any:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@dataclass(frozen=True)
class TinyPerformance:
    name: str = "performance"
    title: str = "Performance"
    kinds: frozenset = ALL_KINDS
    tasks: frozenset = frozenset({"binary", "multiclass"})
    needs: frozenset = frozenset({"proba"})
    default_options: Mapping[str, Any] = field(default_factory=lambda: {"n_bins": 4})

    def run(self, ctx, options) -> CheckOutput:
        proba, y = ctx.test_proba(), np.asarray(ctx.test.y)
        pred = proba.argmax(axis=1)
        names = list(ctx.dataset.class_names)
        cm = [[int(((y == i) & (pred == j)).sum()) for j in range(len(names))] for i in range(len(names))]
        conf = proba.max(axis=1)
        edges = np.linspace(0.5, 1.0, options["n_bins"] + 1)
        bins = np.clip(np.digitize(conf, edges[1:-1]), 0, options["n_bins"] - 1)
        xs = [float(conf[bins == b].mean()) if (bins == b).any() else None for b in range(options["n_bins"])]
        acc = [float((pred == y)[bins == b].mean()) if (bins == b).any() else None for b in range(options["n_bins"])]
        features = list(ctx.dataset.feature_names)
        weights = np.abs(np.random.default_rng(0).normal(size=len(features)))
        return CheckOutput(metrics={
            "accuracy": float((pred == y).mean()), "n_rows": int(len(y)),
            "tables": {"confusion_matrix": {"title": "Confusion matrix", "columns": ["true"] + names,
                                            "rows": [[n] + row for n, row in zip(names, cm)]}},
            "curves": {"reliability": {"title": "Reliability", "x_label": "confidence", "y_label": "accuracy",
                                       "x": xs, "series": {"model": acc}}},
            "bars": {"importance": {"title": "Weights", "labels": features, "values": weights.tolist(),
                                    "lower": (weights * 0.9).tolist(), "upper": (weights * 1.1).tolist()}},
        }, findings=[Finding(self.name, "info", f"Scored {len(y)} rows.", metric="n_rows", value=float(len(y)))])


@dataclass(frozen=True)
class Broken:
    name: str = "fairness"
    title: str = "Fairness"
    kinds: frozenset = ALL_KINDS
    tasks: frozenset = frozenset({"binary"})
    needs: frozenset = frozenset({"sensitive"})
    default_options: Mapping[str, Any] = field(default_factory=dict)

    def run(self, ctx, options) -> CheckOutput:
        raise RuntimeError("boom <script>alert(1)</script>")


@dataclass(frozen=True)
class ImagesOnly:
    name: str = "image_only"
    title: str = "Image only"
    kinds: frozenset = frozenset({"image"})
    tasks: frozenset = frozenset({"binary", "multiclass"})
    needs: frozenset = frozenset()
    default_options: Mapping[str, Any] = field(default_factory=dict)

    def run(self, ctx, options) -> CheckOutput:  # pragma: no cover - never applicable here
        return CheckOutput(metrics={})


@pytest.fixture(scope="module")
def real_result() -> AuditResult:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=120), "<script>alert(1)</script>": rng.normal(size=120),
                          "sex": rng.choice(["f", "m"], size=120)})
    frame["y"] = (frame["x"] > 0).astype(int)
    ds = Dataset.from_frame(frame, "y", sensitive=["sex"], name="tiny")
    model = nn.Sequential(nn.Linear(len(ds.feature_names), 2))
    registry = Registry()
    for check in (TinyPerformance(), Broken(), ImagesOnly()):
        registry.register(check)
    config = AuditConfig.from_dict({"seed": 0, "device": "cpu", "thresholds": {"performance.accuracy": {"min": 0.99}},
                                    "model_card": {"intended_use": "Tests only."}})
    return run_audit(model, ds, config, registry=registry, progress=False, output="logits")


def test_fixture_validates():
    validator().validate(json.loads(DATA.read_text(encoding="utf-8")))


def test_real_result_validates_after_a_json_roundtrip(real_result, tmp_path):
    assert [r.status for r in real_result.checks.values()] == ["ok", "error", "skipped"]
    validator().validate(real_result.to_dict())
    path = real_result.to_json(tmp_path / "result.json")
    validator().validate(json.loads(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("mutate", [
    lambda d: d.pop("passed"),
    lambda d: d.update(schema_version="2.0"),
    lambda d: d["findings"][0].update(severity="critical"),
    lambda d: d["checks"]["ood"].update(status="maybe"),
    lambda d: d["metrics"]["performance"]["tables"]["per_class"].pop("rows"),
    lambda d: d["metrics"]["calibration"]["curves"]["reliability"]["series"].update(model=["x"]),
    lambda d: d["metrics"]["explanations"]["images"]["ig_sample_0"].update(kind="rainbow"),
    lambda d: d["findings"][0].update(threshold={"below": 1}),
    lambda d: d["model_card"].update(owner=3),
])
def test_broken_documents_do_not_validate(mutate):
    doc = copy.deepcopy(json.loads(DATA.read_text(encoding="utf-8")))
    mutate(doc)
    assert list(validator().iter_errors(doc))


def test_real_result_renders_everywhere(real_result):
    view = build_view(real_result)
    perf = view.sections[0]
    assert [f.kind for f in perf.figures] == ["confusion", "reliability", "bars"]
    assert view.sections[1].status == "error" and "boom" in view.sections[1].reason
    assert view.sections[2].reason == "applies to ['image'] data, not 'tabular'"
    html = render_html(real_result)
    assert "<script>alert(1)</script>" not in html and "boom &lt;script&gt;" in html
    root = ET.fromstring(render_junit(real_result).encode("utf-8"))
    fails = len(real_result.findings_by_severity("fail"))
    assert fails == 1 and int(root.get("failures")) == fails
    assert int(root.get("errors")) == 1 and int(root.get("skipped")) == 1
    assert not diff_results(real_result, real_result).has_regression
