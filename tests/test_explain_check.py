"""The explanations check through run_audit: planted answers per data kind, black boxes, bad input."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from test_explain_data import image_cnn, image_dataset, tabular_dataset, tabular_mlp, text_dataset, text_lstm

from audit import AuditConfig, Registry, run_audit
from audit.checks.explain import ExplanationsCheck
from models.dataset import Dataset, Split

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning",
                                        "ignore::FutureWarning")
FAST = {"n_global": 60, "n_global_blackbox": 12, "n_boot": 50, "ig_steps": 16, "lime_samples": 300,
        "kernel_samples": 64, "n_local": 2}


def _run(model, ds, **options):
    reg = Registry()
    reg.register(ExplanationsCheck())
    cfg = AuditConfig(options={"explanations": {**FAST, **options.pop("opts", {})}}, **options)
    return run_audit(model, ds, cfg, registry=reg, progress=False)


class _BlackBox:
    """A scikit-learn style model: only predict_proba (wraps the trained MLP, no gradients exposed)."""

    def __init__(self, net: torch.nn.Module) -> None:
        self.net = net

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(self.net(torch.as_tensor(x, dtype=torch.float32)), 1).numpy()


def test_every_method_ranks_the_planted_feature_first() -> None:
    result = _run(tabular_mlp(), tabular_dataset(), sample_indices=(3,))
    assert result.checks["explanations"].status == "ok", result.checks["explanations"].reason
    m = result.metrics["explanations"]
    assert m["methods"] == ["integrated_gradients", "saliency", "deeplift", "gradient_shap", "shap_gradient",
                            "shap_deep", "kernel_shap", "lime"]
    for method, importance in m["global_importance"].items():
        assert max(importance, key=importance.get) == "planted", method
        assert set(importance) == {"a", "b", "planted", "d", "k"}  # one-hot 'k' summed back to one feature
    assert m["top_feature"] == "planted" and m["methods_run"] == 8
    assert m["local"][0]["index"] == 3 and m["local"][0]["reason"] == "user"
    bars = m["bars"]["global_integrated_gradients"]
    assert bars["labels"][0] == "planted" and bars["lower"][0] <= bars["values"][0] <= bars["upper"][0]
    json.dumps(result.to_dict())


def test_ig_convergence_delta_vanishes_on_a_linear_model() -> None:
    # IG is exact for a linear score: sum(attributions) = f(x) - f(baseline), so the delta is float rounding only.
    torch.manual_seed(0)
    net = torch.nn.Linear(7, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.0, 0.0, -2.0, 0.0, 0.3, 0.0, 0.0], [0.5, -0.5, 2.0, 0.1, 0.0, 0.2, -0.2]]))
    result = _run(net, tabular_dataset(), opts={"methods": ["integrated_gradients"], "ig_steps": 4})
    m = result.metrics["explanations"]
    assert m["methods"] == ["integrated_gradients"]
    assert m["ig_max_convergence_delta"] < 1e-4
    assert m["top_feature"] == "planted"


def test_same_seed_gives_the_same_metrics() -> None:
    a = _run(tabular_mlp(), tabular_dataset(), opts={"methods": ["gradient_shap", "lime", "kernel_shap"]})
    b = _run(tabular_mlp(), tabular_dataset(), opts={"methods": ["gradient_shap", "lime", "kernel_shap"]},
             backend="threading", n_jobs=2)
    ma, mb = dict(a.metrics["explanations"]), dict(b.metrics["explanations"])
    ma.pop("seconds"), mb.pop("seconds")
    assert ma == mb


def test_black_box_skips_gradient_methods_with_a_reason_and_explains_with_kernel_shap_and_lime() -> None:
    result = _run(_BlackBox(tabular_mlp()), tabular_dataset(),
                  opts={"methods": ["integrated_gradients", "kernel_shap", "lime"]})
    m = result.metrics["explanations"]
    assert m["methods"] == ["kernel_shap", "lime"]
    assert "black box" in m["skipped_methods"]["integrated_gradients"]
    for importance in m["global_importance"].values():
        assert max(importance, key=importance.get) == "planted"
    auto = _run(_BlackBox(tabular_mlp()), tabular_dataset())
    assert auto.metrics["explanations"]["methods"] == ["kernel_shap", "lime"]


def test_sample_index_out_of_range_is_a_clear_error() -> None:
    ds = tabular_dataset()
    result = _run(tabular_mlp(), ds, sample_indices=(len(ds.test),))
    record = result.checks["explanations"]
    assert record.status == "error"
    assert f"'sample_indices'" in record.reason and f"0..{len(ds.test) - 1}" in record.reason
    assert f"Got {len(ds.test)} instead" in record.reason


def test_baseline_of_the_wrong_shape_is_a_clear_error() -> None:
    result = _run(tabular_mlp(), tabular_dataset(), opts={"baseline": [0.0, 1.0, 2.0]})
    record = result.checks["explanations"]
    assert record.status == "error"
    assert "options.explanations.baseline" in record.reason and "(7,)" in record.reason and "(3,)" in record.reason


def test_unknown_method_is_a_config_error() -> None:
    result = _run(tabular_mlp(), tabular_dataset(), opts={"methods": ["magic"]})
    assert result.checks["explanations"].status == "error"
    assert "'magic'" in result.checks["explanations"].reason


def test_image_attributions_concentrate_on_the_planted_patch() -> None:
    result = _run(image_cnn(), image_dataset(), opts={"methods": ["integrated_gradients", "occlusion", "lime"],
                                                      "target": "true", "occlusion_window": 2, "lime_segments": 12})
    m = result.metrics["explanations"]
    assert result.checks["explanations"].status == "ok", result.checks["explanations"].reason
    for method in ("integrated_gradients", "occlusion"):
        heat = np.asarray(m["images"][f"global_{method}"]["data"])
        assert heat.shape == (8, 8)
        assert heat[1:4, 1:4].sum() / heat.sum() > 0.4, method  # 9 of 64 pixels
        patch = m["global_importance"][method]
        assert max(patch, key=patch.get) in ("patch(0,0)", "patch(0,1)", "patch(1,0)", "patch(1,1)")
    local = [k for k in m["images"] if k.startswith("local_")]
    assert local and m["images"][local[0]]["kind"] == "overlay" and len(m["images"]) <= 40


def test_text_planted_token_gets_the_top_attribution() -> None:
    ds = text_dataset()
    great = ds.preprocessing["vocab"].index("great") + 2
    with_great = tuple(int(i) for i in np.flatnonzero((ds.test.x == great).any(axis=1))[:3])
    result = _run(text_lstm(), ds, sample_indices=with_great, opts={"ig_steps": 64, "n_local": 0})
    m = result.metrics["explanations"]
    assert m["methods"] == ["layer_integrated_gradients", "lime"]
    for rec in m["local"][:3]:
        for method in ("layer_integrated_gradients", "lime"):
            assert rec["top"][method][0][0] == "great", (rec["index"], method, rec["top"][method][:3])
    for importance in m["global_importance"].values():
        assert max(importance, key=importance.get) == "great"
    key = f"local_{with_great[0]}_layer_integrated_gradients"
    assert "great" in m["texts"][key]["tokens"]


def test_series_regression_scores_the_planted_time_step() -> None:
    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        x = rng.normal(size=(n, 10, 1)).astype(np.float32)
        return Split(x, (2 * x[:, 7, 0]).astype(np.float32), pd.DataFrame(index=range(n)))

    ds = Dataset("steps", "timeseries", "regression", split(300), split(40), split(80))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(net.parameters(), 0.05)
    for _ in range(150):
        opt.zero_grad()
        ((net(torch.tensor(ds.train.x))[:, 0] - torch.tensor(ds.train.y)) ** 2).mean().backward()
        opt.step()
    result = _run(net.eval(), ds, opts={"occlusion_window": 1, "n_global": 40, "n_global_blackbox": 8})
    m = result.metrics["explanations"]
    assert m["methods"] == ["integrated_gradients", "saliency", "gradient_shap", "occlusion", "kernel_shap"]
    for importance in m["global_importance"].values():
        assert max(importance, key=importance.get) == "t-2"  # step 7 of 10 is 2 steps before the last
    local = next(k for k in m["bars"] if k.startswith("local_"))
    assert len(m["bars"][local]["values"]) == 10 and m["local"][0]["reason"] == "largest_error"
