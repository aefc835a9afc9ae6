"""Explanation quality (faithfulness, infidelity, sensitivity, randomisation, agreement) and counterfactuals."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_explain_data import tabular_dataset, tabular_mlp
from torch import nn

from audit import AuditConfig, Registry, run_audit
from audit.checks.explain import CounterfactualsCheck, ExplanationQualityCheck, ExplanationsCheck
from audit.checks.explain import quality as q
from audit.checks.explain.captum_ import saliency
from audit.checks.explain.counterfactual import FeatureSpace, cost, shrink
from audit.errors import InvalidInputError

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning",
                                        "ignore::FutureWarning")
FAST = {"n_global": 60, "n_global_blackbox": 12, "n_boot": 50, "ig_steps": 16, "lime_samples": 300,
        "kernel_samples": 64, "n_local": 2}


class _BlackBox:
    def __init__(self, net: nn.Module) -> None:
        self.net = net

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(self.net(torch.as_tensor(x, dtype=torch.float32)), 1).numpy()


def _audit(model, *checks, **opts):
    reg = Registry()
    for c in checks:
        reg.register(c)
    names = {c.name for c in checks}
    cfg = AuditConfig(options={**({"explanations": FAST} if "explanations" in names else {}), **opts})
    return run_audit(model, tabular_dataset(), cfg, registry=reg, progress=False)


# ------------------------------------------------------------------------------------------- pure functions
def test_deletion_insertion_curves_of_a_linear_score_by_hand() -> None:
    w = np.array([3.0, 1.0, 0.0])

    def scores(x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) @ w)[:, None]

    x = np.ones((1, 3))
    frac, deletion, insertion = q.deletion_insertion(scores, x, np.zeros(1, int), np.array([[3.0, 1.0, 0.0]]),
                                                     np.arange(3), np.zeros(3), n_steps=3)
    np.testing.assert_allclose(frac, [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(deletion[0], [4, 1, 0, 0])
    np.testing.assert_allclose(insertion[0], [0, 3, 4, 4])
    with pytest.raises(InvalidInputError, match="'readable'"):
        q.deletion_insertion(scores, x, np.zeros(1, int), np.zeros((1, 2)), np.arange(3), np.zeros(3))


def test_infidelity_is_zero_for_exact_linear_attributions_and_one_for_none() -> None:
    torch.manual_seed(0)
    net = nn.Linear(4, 2)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    t = np.ones(5, dtype=np.int64)
    exact = net.weight.detach().numpy()[1][None].repeat(5, 0) * x  # gradient * input: exact for I^T attr
    grad = np.broadcast_to(net.weight.detach().numpy()[1], x.shape)
    np.testing.assert_allclose(q.relative_infidelity(net, x, t, grad), 0.0, atol=1e-6)
    noise_only = np.random.default_rng(1).normal(size=x.shape)
    assert np.all(q.relative_infidelity(net, x, t, noise_only) > 0.05)
    assert exact.shape == x.shape


def test_sensitivity_of_saliency_on_a_linear_model_is_zero() -> None:
    torch.manual_seed(0)
    net = nn.Linear(4, 2)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    sens = q.max_sensitivity(lambda a, t: saliency(net, a, t), x, np.zeros(3, dtype=np.int64))
    np.testing.assert_allclose(sens, 0.0, atol=1e-6)


def test_rank_similarity_and_topk_overlap_by_hand() -> None:
    a = np.array([[3.0, 2.0, 1.0, 0.0], [1.0, 2.0, 3.0, 4.0]])
    b = np.array([[-3.0, 2.0, 1.0, 0.0], [4.0, 3.0, 2.0, 1.0]])
    np.testing.assert_allclose(q.rank_similarity(a, b), [1.0, -1.0])
    np.testing.assert_allclose(q.topk_overlap(a, b, 2), [1.0, 0.0])
    mask = np.array([[True, True, False, False], [True, True, True, True]])
    np.testing.assert_allclose(q.topk_overlap(a, b, 2, mask), [1.0, 0.0])


def test_randomized_copy_changes_every_layer_and_leaves_the_original() -> None:
    net = tabular_mlp()
    before = [p.detach().clone() for p in net.parameters()]
    rand = q.randomized_copy(net, seed=1)
    for p0, p, pr in zip(before, net.parameters(), rand.parameters()):
        assert torch.equal(p0, p) and not torch.equal(p, pr)


# ------------------------------------------------------------------------------------------- checks
def test_quality_check_on_planted_model_passes_randomisation_and_ranks_methods() -> None:
    result = _audit(tabular_mlp(), ExplanationsCheck(), ExplanationQualityCheck())
    assert result.checks["explanation_quality"].status == "ok", result.checks["explanation_quality"].reason
    m = result.metrics["explanation_quality"]
    per = m["per_method"]
    assert set(per) == set(result.metrics["explanations"]["methods"])
    for name, p in per.items():
        # the explanation of the real model differs from that of a model with random weights: the check passes
        assert p["randomisation_passed"], (name, p["randomisation_similarity"])
        assert p["insertion_auc"] > p["deletion_auc"], name
    # A ReLU MLP is piecewise linear: its gradient, hence Saliency, does not move inside the 0.02 ball (sensitivity 0
    # up to float rounding), while IG against the mean baseline scales with x - baseline and does move.
    assert per["saliency"]["sensitivity"] < 1e-6
    assert per["integrated_gradients"]["sensitivity"] > 1e-2
    assert m["methods_failing_randomisation"] == 0
    assert m["best_method"] == m["ranking"][0] == m["tables"]["trust_ranking"]["rows"][0][1]
    assert len(m["agreement"]) == len(per) * (len(per) - 1) // 2
    pair = next(a for a in m["agreement"] if a["pair"] == "integrated_gradients vs deeplift")
    assert pair["global_topk_overlap"] == 1.0 and pair["global_rank_corr"] > 0.8
    assert set(m["curves"]["deletion"]["series"]) == set(per)
    json.dumps(result.to_dict())


def test_randomisation_check_fails_for_an_explanation_that_ignores_the_model() -> None:
    x = np.abs(np.random.default_rng(0).normal(size=(6, 5)))
    same = q.rank_similarity(x, x)  # an "explanation" that only echoes the input is unchanged by randomisation
    assert np.all(same > 0.99)


def test_quality_check_skips_without_explanations() -> None:
    result = _audit(tabular_mlp(), ExplanationQualityCheck())
    assert result.checks["explanation_quality"].status == "skipped"
    assert "explanations" in result.checks["explanation_quality"].reason


@pytest.mark.parametrize("black_box", [False, True], ids=["gradient", "sampling"])
def test_counterfactuals_flip_with_the_planted_feature_and_respect_constraints(black_box: bool) -> None:
    model = _BlackBox(tabular_mlp()) if black_box else tabular_mlp()
    result = _audit(model, CounterfactualsCheck(), counterfactuals={"frozen": ["a"]})
    assert result.checks["counterfactuals"].status == "ok", result.checks["counterfactuals"].reason
    m = result.metrics["counterfactuals"]
    assert m["search"] == ("sampling" if black_box else "gradient")
    assert m["found_rate"] == 1.0 and m["constraint_violations"] == 0
    assert m["immutable_features"] == ["a"]
    ds = tabular_dataset()
    for rec in m["samples"]:
        assert [c["feature"] for c in rec["changes"]] == ["planted"]
        c = rec["changes"][0]
        assert c["units"] == "original"
        before = ds.test.x[rec["index"], 2] * 2.0 + 10.0  # the preprocessing state: mean 10, std 2
        assert c["from"] == pytest.approx(before, abs=1e-4)
        assert c["change"] > 0 if rec["from_class"] == "no" else c["change"] < 0  # towards the other class
        assert abs(c["to"] - 10.0) < 0.5 or abs(c["change"]) < 0.5  # stops near the boundary (planted = mean)
        assert rec["from_class"] != rec["to_class"]


def test_shrink_and_cost_by_hand() -> None:
    space = FeatureSpace(["u", "v"], [[0], [1, 2]], [True, False], [True, True], np.full(3, -5.0), np.full(3, 5.0))
    x = np.array([[0.0, 1.0, 0.0]])
    cf = np.array([[2.0, 0.0, 1.0]])
    assert cost(x, cf, space)[0] == pytest.approx(2.0 + 1.0 + 0.2)

    def proba(rows: np.ndarray) -> np.ndarray:
        p = (rows[:, 0] > 1.0).astype(float)
        return np.stack([1 - p, p], axis=1)

    best, found = shrink(proba, x, np.array([[[4.0, 1.0, 0.0]]]), np.array([1]), space, n_grid=8)
    assert found[0] and best[0, 0] == pytest.approx(1.5) and best[0, 1] == 1.0


def test_counterfactual_bad_options_are_clear_errors() -> None:
    result = _audit(tabular_mlp(), CounterfactualsCheck(), counterfactuals={"frozen": ["nope"]})
    assert result.checks["counterfactuals"].status == "error"
    assert "'nope'" in result.checks["counterfactuals"].reason
    result = _audit(_BlackBox(tabular_mlp()), CounterfactualsCheck(), counterfactuals={"search": "gradient"})
    assert "black box" in result.checks["counterfactuals"].reason
