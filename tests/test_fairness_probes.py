"""Counterfactual probes (tabular flips, text identity terms) and the per-class disparity check."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from audit import AuditConfig, Registry, run_audit
from audit.checks.fairness import ClassDisparityCheck, FairnessProbesCheck, identity_probe, per_class_rates
from audit.checks.fairness.identity_terms import IDENTITY_TERMS, substitute, with_template
from models.dataset import Dataset, Split
from models.preprocessing import fit_text

torch.set_num_threads(1)


def _run(check, model, ds: Dataset, **options):
    reg = Registry()
    reg.register(check)
    return run_audit(model, ds, AuditConfig(seed=0, options={check.name: options} if options else {}),
                     registry=reg, progress=False)


# ------------------------------------------------------------------------------------------------ tabular flips
def _tabular(n: int = 400, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=n)
    age = rng.integers(18, 80, size=n)
    x0 = rng.normal(size=n)
    x = np.stack([x0, (age - 45) / 15, sex == "F", sex == "M", np.zeros(n)], axis=1).astype(np.float32)
    y = (x0 > 0).astype(np.int64)
    split = Split(x=x, y=y, sensitive=pd.DataFrame({"sex": sex, "age": age}))
    return Dataset(name="flip", kind="tabular", task="binary", train=split, val=split, test=split,
                   feature_names=["x0", "age", "sex=F", "sex=M", "sex=<unknown>"],
                   feature_groups={"x0": [0], "age": [1], "sex": [2, 3, 4]}, continuous_features=["x0", "age"],
                   sensitive_features=["sex", "age"], class_names=["no", "yes"])


def _logistic(weights: list[float]):
    w = np.asarray(weights, dtype=np.float64)

    def predict(x: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-(np.asarray(x, dtype=np.float64) @ w)))
        return np.stack([1 - p, p], axis=1)

    return predict


def test_flipping_sex_matches_a_hand_computation() -> None:
    ds = _tabular()
    model = _logistic([2.0, 0.0, 0.0, 1.0, 0.0])  # logit = 2 x0 + 1 [sex = M]
    result = _run(FairnessProbesCheck(), model, ds)
    m = result.metrics["fairness_probes"]
    x0 = ds.test.x[:, 0].astype(np.float64)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    before = np.where(ds.test.sensitive["sex"] == "M", sig(2 * x0 + 1), sig(2 * x0))
    after = np.where(ds.test.sensitive["sex"] == "M", sig(2 * x0), sig(2 * x0 + 1))
    flips = (before > 0.5) != (after > 0.5)
    assert m["features"]["sex"]["flip_rate"] == pytest.approx(flips.mean())
    assert m["features"]["sex"]["mean_abs_change"] == pytest.approx(np.abs(after - before).mean())
    pair = {(p["source"], p["target"]): p for p in m["features"]["sex"]["pairs"]}
    assert pair[("F", "M")]["mean_change"] > 0 > pair[("M", "F")]["mean_change"]
    assert m["features"]["age"]["flip_rate"] == 0.0  # the model ignores age
    assert "bin" in m["features"]["age"]["mode"]
    warnings = [f for f in result.findings if f.severity == "warning"]
    assert [f.metric for f in warnings] == ["features.sex.flip_rate"]


def test_age_is_moved_between_bins() -> None:
    ds = _tabular()
    result = _run(FairnessProbesCheck(), _logistic([0.0, 3.0, 0.0, 0.0, 0.0]), ds)
    age = result.metrics["fairness_probes"]["features"]["age"]
    assert age["flip_rate"] > 0.3
    targets = {p["target"] for p in age["pairs"]}
    assert targets == {"<25", "[25, 35)", "[35, 45)", "[45, 55)", "[55, 65)", ">=65"}
    assert result.metrics["fairness_probes"]["features"]["sex"]["flip_rate"] == 0.0


def test_probes_skip_when_no_sensitive_input() -> None:
    ds = _tabular()
    ds.feature_groups = {"x0": [0], "a": [1], "b": [2, 3, 4]}
    result = _run(FairnessProbesCheck(), _logistic([1.0, 0, 0, 0, 0]), ds)
    assert result.checks["fairness_probes"].status == "skipped"
    assert "proxies" in result.checks["fairness_probes"].reason


# ------------------------------------------------------------------------------------------------ text identity terms
def test_identity_term_helpers() -> None:
    assert substitute("He thanked his Mother.", "gender", "female") == "She thanked her Mother."
    assert substitute("A Muslim family at the mosque.", "religion", "jewish") == "A Jewish family at the synagogue."
    assert with_template("Fine.", "age", "elderly") == "This review was written by a critic who is elderly. Fine."
    for category, groups in IDENTITY_TERMS.items():
        assert len({len(forms) for forms in groups.values()}) == 1, category  # aligned forms


def test_identity_probe_finds_a_planted_word_and_ignores_others() -> None:
    texts = [f"sentence number {i} about a film" for i in range(60)]

    def predict(batch: list[str]) -> np.ndarray:  # a toy scorer: 'muslim' lowers the positive score
        p = np.array([0.3 if "muslim" in t.lower() else 0.7 for t in batch])
        return np.stack([1 - p, p], axis=1)

    rng = np.random.default_rng(0)
    rel = identity_probe(predict, texts, "religion", rng=rng, n_boot=200)
    gen = identity_probe(predict, texts, "gender", rng=rng, n_boot=200)
    assert rel.method == "template" and rel.n_sentences == 60
    assert rel.lower_group == "muslim" and rel.gap == pytest.approx(0.4)
    assert rel.significant is True and rel.gap_low == pytest.approx(0.4)  # the same gap on every sentence
    assert rel.flip_rate == 1.0
    assert gen.gap == 0.0 and gen.flip_rate == 0.0 and not gen.significant


class _BagOfWords(nn.Module):
    """Sum of per-token scores -> two logits [0, score]; token ids are given explicit weights."""

    def __init__(self, vocab_size: int, weights: dict[int, float]) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, 1, padding_idx=0)
        with torch.no_grad():
            self.embedding.weight.zero_()
            for idx, w in weights.items():
                self.embedding.weight[idx, 0] = w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.embedding(x).sum(dim=(1, 2))
        return torch.stack([torch.zeros_like(s), s], dim=1)


def test_text_probe_through_the_audit() -> None:
    rng = np.random.default_rng(1)
    words = ["good", "bad", "film", "plot", "he", "she", "man", "woman"]
    texts = [" ".join(rng.choice(words, size=6)) for _ in range(120)]
    state = fit_text(texts + [" ".join(g for f in IDENTITY_TERMS.values() for forms in f.values() for g in forms)])
    vocab = {tok: i + 2 for i, tok in enumerate(state["vocab"])}
    model = _BagOfWords(state["vocab_size"], {vocab["good"]: 1.0, vocab["bad"]: -1.0, vocab["woman"]: -0.8,
                                              vocab["she"]: -0.8})
    y = np.array([int("good" in t) for t in texts])
    from models.preprocessing import encode_text

    split = Split(x=encode_text(texts, state), y=y, sensitive=pd.DataFrame(index=range(len(texts))),
                  raw=pd.DataFrame({"text": texts}))
    ds = Dataset(name="txt", kind="text", task="binary", train=split, val=split, test=split,
                 class_names=["neg", "pos"], preprocessing=state)
    result = _run(FairnessProbesCheck(), model, ds, categories=["gender", "religion"], n_boot=300)
    assert result.checks["fairness_probes"].status == "ok"
    m = result.metrics["fairness_probes"]
    gender, religion = m["categories"]["gender"], m["categories"]["religion"]
    assert gender["method"] == "substitution" and gender["lower_group"] == "female" and gender["significant"] is True
    assert religion["method"] == "template" and religion["gap"] == pytest.approx(0.0, abs=1e-6)
    assert m["identity_worst_category"] == "gender"
    assert any(f.severity == "warning" and "gender" in f.message for f in result.findings)


# ------------------------------------------------------------------------------------------------ per-class disparity
def test_per_class_rates_by_hand() -> None:
    rates = per_class_rates(np.array([[8, 2, 0], [0, 10, 0], [5, 0, 5]]))
    np.testing.assert_allclose(rates["recall"], [0.8, 1.0, 0.5])
    np.testing.assert_allclose(rates["precision"], [8 / 13, 10 / 12, 1.0])
    assert rates["mean_recall"] == pytest.approx((0.8 + 1.0 + 0.5) / 3)


def test_class_disparity_check_on_images() -> None:
    n_per = 100
    y = np.repeat(np.arange(3), n_per)
    pred = y.copy()
    pred[200:260] = 0  # class 2: recall 0.4
    x = np.zeros((len(y), 1, 4, 4), dtype=np.float32)
    x[:, 0, 0, 0] = pred / 10.0
    split = Split(x=x, y=y, sensitive=pd.DataFrame(index=range(len(y))))
    ds = Dataset(name="img", kind="image", task="multiclass", train=split, val=split, test=split,
                 class_names=["a", "b", "c"])

    def model(batch: np.ndarray) -> np.ndarray:
        return np.eye(3)[np.rint(batch[:, 0, 0, 0] * 10).astype(int)]

    result = _run(ClassDisparityCheck(), model, ds, n_boot=300)
    m = result.metrics["class_disparity"]
    assert m["scope"] == "per-class disparity, not a demographic fairness check"
    assert m["worst_class"] == "c" and m["worst_class_recall"] == pytest.approx(0.4)
    assert m["mean_class_recall"] == pytest.approx(0.8) and m["recall_gap"] == pytest.approx(0.4)
    assert m["recall_gap_significant"] is True
    assert m["tables"]["per_class"]["rows"][2][2] == pytest.approx(0.4)
    finding = [f for f in result.findings if f.check == "class_disparity"][0]
    assert finding.severity == "warning" and "not a demographic fairness check" in finding.message
