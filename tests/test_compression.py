"""Compression audit: int8 quantization, global magnitude pruning, distillation, the comparison table and its flags."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
import safetensors.torch
import torch
from torch import nn

from audit import AuditConfig, Registry
from audit.checks.base import AuditContext, CheckOutput
from audit.checks.performance import PerformanceCheck
from audit.compression import (
    CompressionSettings,
    Flag,
    GroupScore,
    VariantRow,
    accuracy_by,
    as_audit_result,
    compress_and_audit,
    compression_metrics,
    distill,
    find_flags,
    load_compress_config,
    prune_global,
    quantize_int8,
    rank_correlation,
    student_config,
    weights_size,
)
from audit.errors import ConfigError, InvalidInputError, InvalidTypeError
from models.dataset import Dataset, Split
from models.mlp import MLP, MLPConfig
from models.training import TrainedModel, train_model
from tests.conftest import make_tabular_dataset

torch.set_num_threads(1)


# ------------------------------------------------------------------ tiny local checks (merged into the table)
def _ece(proba: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    conf, pred = proba.max(axis=1), proba.argmax(axis=1)
    edges = np.linspace(0, 1, n_bins + 1)
    bins = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    return float(sum(abs(np.mean(pred[bins == b] == y[bins == b]) - conf[bins == b].mean()) * np.mean(bins == b)
                     for b in range(n_bins) if np.any(bins == b)))


@dataclass(frozen=True)
class TinyCalibration:
    name: str = "calibration"
    title: str = "ECE (test stand-in)"
    kinds: frozenset[str] = frozenset({"tabular"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass"})
    needs: frozenset[str] = frozenset({"proba"})
    default_options: Mapping[str, Any] = field(default_factory=dict)

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        return CheckOutput(metrics={"ece": _ece(ctx.test_proba(), np.asarray(ctx.test.y))})


@dataclass(frozen=True)
class TinyGradientImportance:
    """Mean |d p(predicted class) / d x| per feature: a gradient check shaped like the explanations check."""

    name: str = "explanations"
    title: str = "Gradient importance (test stand-in)"
    kinds: frozenset[str] = frozenset({"tabular"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass"})
    needs: frozenset[str] = frozenset({"gradients"})
    default_options: Mapping[str, Any] = field(default_factory=dict)

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        score = ctx.model.score_module(as_proba=True)
        x = torch.as_tensor(np.asarray(ctx.test.x, dtype=np.float32)).requires_grad_(True)
        p = score(x)
        picked = p.gather(1, p.argmax(dim=1, keepdim=True)).sum()
        (grad,) = torch.autograd.grad(picked, x)
        values = grad.abs().mean(dim=0).tolist()
        return CheckOutput(metrics={"global_importance": {"grad": dict(zip(ctx.dataset.feature_names, values))}})


def _registry() -> Registry:
    reg = Registry()
    for check in (PerformanceCheck(), TinyCalibration(), TinyGradientImportance()):
        reg.register(check)
    return reg


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def toy() -> Dataset:
    return make_tabular_dataset(600)


@pytest.fixture(scope="module")
def trained(toy: Dataset) -> TrainedModel:
    return train_model("mlp", toy, seed=0, epochs=10, progress=False, device="cpu")


@pytest.fixture(scope="module")
def report(trained: TrainedModel, toy: Dataset):
    config = AuditConfig(device="cpu", checks=("performance", "calibration", "explanations"))
    return compress_and_audit(trained, toy, config, sparsities=(0.5, 0.9), distill_epochs=5, latency_runs=2,
                              latency_batch=64, registry=_registry())


def _logits(module: nn.Module, x: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return module(torch.as_tensor(np.asarray(x, dtype=np.float32)))


# ------------------------------------------------------------------ the issue's acceptance tests
def test_quantized_mlp_agrees_with_float_model(trained: TrainedModel, toy: Dataset, report) -> None:
    quantized = quantize_int8(trained)
    assert any("Quantized" in type(m).__name__ or type(m).__module__.startswith("torch.ao.nn.quantized")
               for m in quantized.modules())
    float_pred = _logits(trained.module, toy.test.x).argmax(dim=1).numpy()
    int8_pred = _logits(quantized, toy.test.x).argmax(dim=1).numpy()
    agreement = float(np.mean(float_pred == int8_pred))
    assert agreement >= 0.95
    row = report.row("int8_dynamic")
    assert row.prediction_agreement == pytest.approx(agreement)
    assert row.accuracy == pytest.approx(float(np.mean(int8_pred == toy.test.y)))
    # int8 weights: roughly a quarter of the float32 file
    assert row.size_on_disk_bytes < 0.4 * report.row("original").size_on_disk_bytes


def test_pruning_90_is_measurably_worse_than_50(trained: TrainedModel, toy: Dataset, report) -> None:
    acc = {}
    for level in (0.5, 0.9):
        pruned = prune_global(trained, level)
        weights = [m.weight for m in pruned.module.modules() if isinstance(m, nn.Linear)]
        total = sum(w.numel() for w in weights)
        zeros = sum(int((w == 0).sum()) for w in weights)
        assert zeros == round(level * total)
        assert not any(name.endswith(("_orig", "_mask")) for name in pruned.module.state_dict())  # permanent
        acc[level] = float(np.mean(_logits(pruned.module, toy.test.x).argmax(dim=1).numpy() == toy.test.y))
        assert report.row(f"pruned_{int(level * 100)}").accuracy == pytest.approx(acc[level])
        assert report.row(f"pruned_{int(level * 100)}").sparsity == pytest.approx(zeros / total)
    assert acc[0.9] < acc[0.5] - 0.05
    assert float(trained.module.head.weight.detach().abs().min()) > 0  # the original is untouched


def _planted() -> tuple[TrainedModel, Dataset]:
    """A minority group whose label lives in a large-scale feature used only through small weights.

    Majority rows: y = [x0 > 0], x1 = 0. Minority rows: x1 ~ N(0, 50^2) carries the label, x0 is small noise.
    The model computes logit(yes) - logit(no) = sum_i s_i relu(s_i (x0 + 0.02 x1)) = 4 (x0 + 0.02 x1): every x0
    weight and head weight has magnitude >= 0.5, every x1 weight 0.02. Global pruning at 25% removes exactly the
    8 x1 weights, so the minority falls to chance while the majority (and overall accuracy) barely moves.
    """
    rng = np.random.default_rng(3)

    def split(n_major: int, n_minor: int) -> Split:
        x0 = np.concatenate([rng.normal(size=n_major), rng.normal(scale=0.1, size=n_minor)])
        x1 = np.concatenate([np.zeros(n_major), rng.normal(scale=50.0, size=n_minor)])
        y = np.concatenate([x0[:n_major] > 0, x1[n_major:] > 0]).astype(np.int64)
        group = np.array(["majority"] * n_major + ["minority"] * n_minor)
        return Split(x=np.stack([x0, x1], axis=1).astype(np.float32), y=y, sensitive=pd.DataFrame({"group": group}))

    test = split(600, 40)
    ds = Dataset(name="planted", kind="tabular", task="binary", train=split(200, 20), val=split(60, 10), test=test,
                 feature_names=["x0", "x1"], feature_groups={"x0": [0], "x1": [1]}, continuous_features=["x0", "x1"],
                 sensitive_features=["group"], class_names=["no", "yes"])
    config = MLPConfig(input_dim=2, n_classes=2, hidden=(8,), dropout=0.0)
    module = MLP(config)
    s = torch.tensor([1.0, -1.0] * 4)
    with torch.no_grad():
        module.body[0].weight.copy_(torch.stack([s, 0.02 * s], dim=1))
        module.body[0].bias.zero_()
        module.head.weight.copy_(torch.stack([-0.5 * s, 0.5 * s]))
        module.head.bias.zero_()
    tm = TrainedModel(family="mlp", task="binary", module=module.eval(), config=config, dataset_name="planted",
                      class_names=["no", "yes"], feature_names=["x0", "x1"], preprocessing={}, metrics={}, history=[],
                      seed=0, kind="tabular", input_shape=(2,))
    return tm, ds


def test_pruning_that_removes_a_minority_signal_is_flagged() -> None:
    tm, ds = _planted()
    config = AuditConfig(device="cpu", checks=("performance",))
    reg = Registry()
    reg.register(PerformanceCheck())
    rep = compress_and_audit(tm, ds, config, sparsities=(0.25,), quantize=False, distill=False, latency_runs=1,
                             latency_batch=16, registry=reg)
    original, pruned = rep.row("original"), rep.row("pruned_25")
    # premise, recomputed by hand: the original is right on both groups; pruning kills exactly the x1 weights
    minority = ds.test.sensitive["group"].to_numpy() == "minority"
    y = ds.test.y
    before = _logits(tm.module, ds.test.x).argmax(dim=1).numpy()
    after = _logits(prune_global(tm, 0.25).module, ds.test.x).argmax(dim=1).numpy()
    assert np.mean(before[minority] == y[minority]) >= 0.9 and np.mean(before[~minority] == y[~minority]) == 1.0
    assert np.mean(after[~minority] == y[~minority]) == 1.0
    assert float(prune_global(tm, 0.25).module.body[0].weight.detach()[:, 1].abs().max()) == 0.0
    assert pruned.group_accuracy["group"]["minority"] == GroupScore(40, float(np.mean(after[minority] == y[minority])))
    assert abs(pruned.accuracy - original.accuracy) < 0.05
    assert [(f.variant, f.axis, f.feature, f.group) for f in rep.flags] == [("pruned_25", "group", "group", "minority")]
    flag = rep.flags[0]
    assert flag.drop == pytest.approx(np.mean(before[minority] == y[minority]) - np.mean(after[minority] == y[minority]))
    assert flag.drop > 0.3
    # the flag reaches the metrics layout and the audit result as a warning
    metrics = compression_metrics(rep)
    assert metrics["n_flags"] == 1 and metrics["flagged"] is True
    assert metrics["max_hidden_group_drop"] == pytest.approx(flag.drop)
    merged = as_audit_result(rep)
    assert merged.metrics["compression"]["n_flags"] == 1
    [finding] = [f for f in merged.findings if f.check == "compression"]
    assert finding.severity == "warning" and "group=minority" in finding.message


# ------------------------------------------------------------------ merged check metrics, n/a for the black box
def test_checks_merge_and_quantized_gradient_checks_are_na(report, toy: Dataset) -> None:
    for row in report.rows:
        result = report.results[row.name]
        assert result.metrics["performance"]["accuracy"] == pytest.approx(row.accuracy)
        assert row.ece == pytest.approx(result.metrics["calibration"]["ece"])
    int8 = report.row("int8_dynamic")
    assert int8.audited_as == "black box"
    assert int8.check_status["explanations"].startswith("skipped: needs a differentiable")
    assert int8.explanation_rank_corr is None and int8.ece is not None
    assert report.row("original").explanation_rank_corr == pytest.approx(1.0)
    p50 = report.row("pruned_50")
    ref = report.results["original"].metrics["explanations"]["global_importance"]["grad"]
    mine = report.results["pruned_50"].metrics["explanations"]["global_importance"]["grad"]
    from scipy.stats import spearmanr
    assert p50.explanation_rank_corr == pytest.approx(spearmanr(list(ref.values()), list(mine.values())).statistic)
    assert report.row("original").robust_accuracy is None  # no robustness check ran: n/a, not an error
    metrics = compression_metrics(report)
    text = json.dumps(metrics, allow_nan=False)
    assert json.loads(text)["n_variants"] == 4
    for table in metrics["tables"].values():
        assert all(len(r) == len(table["columns"]) for r in table["rows"])
    variants = metrics["tables"]["variants"]
    assert [r[0] for r in variants["rows"]] == ["original", "int8_dynamic", "pruned_50", "pruned_90", "distilled"]
    assert variants["rows"][1][variants["columns"].index("explanation rank correlation")] is None
    assert metrics["bars"]["accuracy"]["values"] == pytest.approx([r.accuracy for r in report.rows])
    json.dumps(report.to_dict(), allow_nan=False)


def test_group_and_class_accuracy_match_hand_counts(trained: TrainedModel, toy: Dataset, report) -> None:
    pred = _logits(prune_global(trained, 0.9).module, toy.test.x).argmax(dim=1).numpy()
    correct = pred == toy.test.y
    row = report.row("pruned_90")
    sex = toy.test.sensitive["sex"].to_numpy()
    for g in ("F", "M"):
        assert row.group_accuracy["sex"][g] == GroupScore(int(np.sum(sex == g)), pytest.approx(correct[sex == g].mean()))
    for i, c in enumerate(toy.class_names):
        assert row.class_accuracy[c] == GroupScore(int(np.sum(toy.test.y == i)),
                                                   pytest.approx(correct[toy.test.y == i].mean()))


def test_distilled_student_is_smaller_seeded_and_learns(trained: TrainedModel, toy: Dataset, report) -> None:
    assert student_config("mlp", trained.config, 0.25).hidden == (32, 16)
    a = distill(trained, toy, epochs=10, batch_size=64, seed=1, device="cpu")
    b = distill(trained, toy, epochs=10, batch_size=64, seed=1, device="cpu")
    assert all(torch.equal(x, y) for x, y in zip(a.module.state_dict().values(), b.module.state_dict().values()))
    assert a.metrics["accuracy"] >= 0.85
    assert trained.module.body[0].out_features == 128  # the teacher is untouched
    row = report.row("distilled")
    assert row.n_parameters < report.row("original").n_parameters / 4
    assert row.size_on_disk_bytes < report.row("original").size_on_disk_bytes


# ------------------------------------------------------------------ pure functions
def test_accuracy_by_hand() -> None:
    out = accuracy_by(np.array([1, 0, 1, 1]), np.array([1, 1, 1, 0]), np.array(["a", "a", "b", "b"]))
    assert out == {"a": GroupScore(2, 0.5), "b": GroupScore(2, 0.5)}
    with pytest.raises(InvalidInputError, match="'y_pred' and 'labels'"):
        accuracy_by(np.array([1]), np.array([1, 0]), np.array(["a"]))


def test_rank_correlation_known_values() -> None:
    ref = {k: float(v) for k, v in zip("abcde", [1, 2, 3, 4, 5])}
    assert rank_correlation(ref, {k: float(v) for k, v in zip("abcde", [2, 1, 4, 3, 5])}) == pytest.approx(0.8)
    assert rank_correlation(ref, {k: -v for k, v in ref.items()}) == pytest.approx(-1.0)
    assert rank_correlation(ref, {k: v**3 for k, v in ref.items()}) == pytest.approx(1.0)
    assert rank_correlation(ref, {"a": 1.0, "b": 2.0}) is None  # fewer than 3 common features


def _row(name: str, acc: float, groups: dict[str, tuple[int, float]], classes: dict[str, tuple[int, float]],
         change: float = 0.0) -> VariantRow:
    return VariantRow(name=name, kind="pruned", audited_as="torch", size_on_disk_bytes=0, compressed_size_bytes=0,
                      n_parameters=0, n_nonzero_parameters=0, sparsity=None, cpu_latency_ms_per_batch=0.0,
                      accuracy=acc, accuracy_change=change, prediction_agreement=1.0,
                      group_accuracy={"sex": {g: GroupScore(*v) for g, v in groups.items()}},
                      class_accuracy={c: GroupScore(*v) for c, v in classes.items()})


@pytest.mark.parametrize(("change", "group_after", "n", "expected"), [
    (-0.02, 0.80, 50, 1),   # overall holds, group drops 0.10 > 0.05: flagged
    (-0.06, 0.80, 50, 0),   # overall moved by more than the tolerance: a visible loss, not a hidden one
    (-0.02, 0.86, 50, 0),   # group drop 0.04 within tolerance
    (-0.02, 0.80, 10, 0),   # group too small to judge
])
def test_find_flags_rules(change: float, group_after: float, n: int, expected: int) -> None:
    original = _row("original", 0.9, {"F": (n, 0.90), "M": (200, 0.9)}, {"no": (100, 0.9), "yes": (150, 0.9)})
    variant = _row("v", 0.9 + change, {"F": (n, group_after), "M": (200, 0.9)}, {"no": (100, 0.9), "yes": (150, 0.9)},
                   change=change)
    flags = find_flags(original, [variant], tolerance=0.05, min_group_size=20)
    assert len(flags) == expected
    if expected:
        assert flags[0] == Flag("v", "group", "sex", "F", n, 0.90, group_after, pytest.approx(0.10), change)


def test_find_flags_on_a_class() -> None:
    original = _row("original", 0.9, {"F": (100, 0.9)}, {"no": (100, 0.95), "yes": (150, 0.9)})
    variant = _row("v", 0.89, {"F": (100, 0.9)}, {"no": (100, 0.70), "yes": (150, 0.9)}, change=-0.01)
    [flag] = find_flags(original, [variant], tolerance=0.05, min_group_size=20)
    assert (flag.axis, flag.feature, flag.group) == ("class", None, "no") and flag.drop == pytest.approx(0.25)


def test_weights_size_matches_safetensors(trained: TrainedModel) -> None:
    state = {k: v.contiguous() for k, v in trained.module.state_dict().items()}
    assert weights_size(trained.module).on_disk == len(safetensors.torch.save(state))


# ------------------------------------------------------------------ validation and config
def test_settings_validation_names_the_key(tmp_path) -> None:
    with pytest.raises(ConfigError, match="'sparsities'.*1.5"):
        CompressionSettings(sparsities=(0.5, 1.5))
    with pytest.raises(ConfigError, match="'tolerance'"):
        CompressionSettings(tolerance=-0.1)
    with pytest.raises(ConfigError, match="compression.bogus"):
        CompressionSettings.from_dict({"bogus": 1})
    path = tmp_path / "audit.toml"
    path.write_text('seed = 3\nchecks = ["performance"]\n[compression]\nsparsities = [0.3]\ndistill = false\n')
    config, settings = load_compress_config(path)
    assert config.seed == 3 and config.checks == ("performance",)
    assert settings.sparsities == (0.3,) and settings.distill is False and settings.quantize is True


def test_rejects_bad_inputs(trained: TrainedModel, toy: Dataset) -> None:
    with pytest.raises(InvalidTypeError, match="'model'"):
        compress_and_audit(trained.module, toy)
    with pytest.raises(InvalidInputError, match="'sparsity'"):
        prune_global(trained, 1.0)
    with pytest.raises(ConfigError, match="'sparsities'"):
        compress_and_audit(trained, toy, sparsities=(0.0,))
