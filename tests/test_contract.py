"""Contract tests: every registered check, on every data kind and every adapter kind it applies to, either runs
("ok") or skips with a reason — never errors — and returns JSON-ready metrics with headline numbers."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audit import REGISTRY, AuditConfig, run_audit
from models import load_dataset, train_model

torch.set_num_threads(1)
# Pairs that must run ("ok"), not merely skip: a check that wrongly skips everywhere fails here.
MUST_RUN = {
    ("performance", s) for s in ("tabular-torch", "tabular-sklearn", "tabular-callable", "image-cnn", "text-lstm", "series-lstm")
} | {
    ("explanations", s) for s in ("tabular-torch", "tabular-sklearn", "image-cnn", "text-lstm", "series-lstm")
} | {
    ("fairness", "tabular-torch"), ("fairness", "tabular-sklearn"), ("proxies", "tabular-torch"),
    ("fairness_probes", "tabular-torch"), ("fairness_probes", "text-lstm"), ("mitigation", "tabular-sklearn"),
    ("class_disparity", "image-cnn"), ("robustness", "tabular-torch"), ("robustness", "image-cnn"),
    ("robustness", "text-lstm"), ("robustness", "series-lstm"), ("corruption", "image-cnn"),
    ("calibration", "tabular-callable"), ("calibration", "image-cnn"), ("ood", "image-cnn"),
    ("data_profile", "tabular-torch"), ("error_analysis", "tabular-sklearn"),
}
SCENARIO_NAMES = ["tabular-torch", "tabular-sklearn", "tabular-callable", "image-cnn", "text-lstm", "series-lstm"]


@pytest.fixture(scope="module")
def scenarios(tabular_ds, torch_linear, logistic_model):
    digits = load_dataset("digits", seed=0, max_rows=400)
    text = load_dataset("rotten_tomatoes", seed=0, max_rows=400)
    series = load_dataset("sunspots", seed=0)
    return {
        "tabular-torch": (torch_linear, tabular_ds),
        "tabular-sklearn": (logistic_model, tabular_ds),
        "tabular-callable": (lambda a: logistic_model.predict_proba(a), tabular_ds),
        "image-cnn": (train_model("cnn", digits, seed=0, epochs=2, progress=False), digits),
        "text-lstm": (train_model("lstm", text, seed=0, epochs=1, progress=False), text),
        "series-lstm": (train_model("lstm", series, seed=0, epochs=2, progress=False), series),
    }


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
@pytest.mark.parametrize("check", [c for c in REGISTRY.names() if not c.startswith("generative")])
def test_check_runs_or_skips_with_reason(check, scenario, scenarios):
    model, ds = scenarios[scenario]
    config = AuditConfig(checks=(check,), max_rows=60, device="cpu", default_warnings=False)
    result = run_audit(model, ds, config, progress=False)
    record = result.checks[check]
    assert record.status in ("ok", "skipped"), f"{check} on {scenario}: {record.reason}\n{record.traceback}"
    if record.status == "skipped":
        assert (check, scenario) not in MUST_RUN, f"{check} skipped on {scenario}: {record.reason}"
        assert record.reason
        return
    metrics = result.metrics[check]
    json.dumps(metrics, allow_nan=False)
    headline = {k: v for k, v in metrics.items() if isinstance(v, (int, float, bool, str)) or v is None}
    assert headline, f"{check} on {scenario} gave no headline number"
    for name in ("tables", "curves", "bars"):
        for key, block in metrics.get(name, {}).items():
            assert "title" in block, f"{check}.{name}.{key} has no title"
            if name == "tables":
                assert all(len(r) == len(block["columns"]) for r in block["rows"]), f"{check}.tables.{key} ragged"


def test_black_box_skips_gradient_checks_with_reason(tabular_ds, logistic_model):
    config = AuditConfig(max_rows=60, device="cpu", checks=("robustness",))
    result = run_audit(logistic_model, tabular_ds, config, progress=False)
    assert result.checks["robustness"].status == "skipped"
    assert "differentiable" in result.checks["robustness"].reason


def test_every_check_declares_its_contract():
    for check in REGISTRY.checks():
        assert check.kinds and check.tasks and check.title
        assert set(check.kinds) <= {"tabular", "image", "text", "timeseries"}
        assert set(check.tasks) <= {"binary", "multiclass", "regression", "generative"}
        assert set(check.needs) <= {"proba", "gradients", "generator", "embedding", "sensitive"}
        assert isinstance(dict(check.default_options), dict)
