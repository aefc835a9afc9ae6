"""The generative check: pure metrics with known answers, and the check on generators whose truth is known
(copies of training images, real held-out images, a single class) plus a tiny real GAN."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from audit import AuditConfig, Registry, run_audit
from audit.checks.generative import GenerativeCheck
from audit.checks.generative_extractor import get_extractor
from audit.checks.generative_metrics import (
    class_shares,
    classes_covered,
    feature_stats,
    frechet_distance,
    inception_score,
    kth_neighbour_radii,
    knn_precision_recall,
    nearest_distances,
    total_variation_distance,
)
from audit.errors import InvalidInputError
from models import Dataset, TrainedModel, load_dataset, train_model
from models.gan import GANConfig

torch.set_num_threads(1)

OPTIONS = {"generative": {"n_samples": 200, "n_real": 150, "extractor_epochs": 8, "snapshot_samples": 100}}


# ----------------------------------------------------------------------------------------------- pure metrics
def _spd(d: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_frechet_distance_known_answers() -> None:
    mu, sigma = np.arange(5.0), _spd(5, 0)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)
    shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    assert frechet_distance(mu, sigma, mu + shift, sigma) == pytest.approx(shift @ shift, rel=1e-8)
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])  # diagonal: sum (sqrt(a) - sqrt(b))^2
    expected = (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2
    assert frechet_distance(np.zeros(3), np.diag(a), np.zeros(3), np.diag(b)) == pytest.approx(expected)
    with pytest.raises(InvalidInputError, match="covariances"):
        frechet_distance(mu, sigma, mu, np.eye(4))


def test_feature_stats_match_numpy() -> None:
    f = np.random.default_rng(0).normal(size=(50, 4))
    mu, sigma = feature_stats(f)
    np.testing.assert_allclose(mu, f.mean(axis=0))
    np.testing.assert_allclose(sigma, np.cov(f.T))


@pytest.mark.parametrize("k", [2, 5, 10])
def test_inception_score_known_answers(k: int) -> None:
    assert inception_score(np.eye(k)[np.arange(4 * k) % k]) == pytest.approx(k)
    same = np.tile(np.random.default_rng(k).dirichlet(np.ones(k)), (30, 1))
    assert inception_score(same) == pytest.approx(1.0)
    with pytest.raises(InvalidInputError, match="probs"):
        inception_score(np.ones((3, k)))


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 6), st.integers(1, 30), st.integers(0, 10_000))
def test_inception_score_lies_between_one_and_k(k: int, n: int, seed: int) -> None:
    p = np.random.default_rng(seed).dirichlet(np.full(k, 0.3), size=n)
    assert 1.0 - 1e-9 <= inception_score(p) <= k + 1e-9


def test_knn_precision_recall_known_answers() -> None:
    x = np.random.default_rng(0).normal(size=(40, 3))
    assert knn_precision_recall(x, x, k=3) == (1.0, 1.0)
    assert knn_precision_recall(x, x + 100.0, k=3) == (0.0, 0.0)
    real = np.arange(5.0)[:, None]  # k=1 radii: 1 each
    fake = np.array([[0.5], [10.0]])  # one inside the real manifold; fake radii 9.5 cover every real point
    assert knn_precision_recall(real, fake, k=1) == (0.5, 1.0)
    np.testing.assert_allclose(kth_neighbour_radii(real, 2), [2.0, 1.0, 1.0, 1.0, 2.0])
    with pytest.raises(InvalidInputError, match="'k'"):
        kth_neighbour_radii(real, 5)


def test_nearest_distances_equal_brute_force_in_chunks() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(23, 2, 3)), rng.normal(size=(17, 2, 3))
    dist, idx = nearest_distances(a, b, chunk=7)
    full = np.linalg.norm(a.reshape(23, 1, -1) - b.reshape(1, 17, -1), axis=2)
    np.testing.assert_allclose(dist, full.min(axis=1), rtol=1e-9)
    np.testing.assert_array_equal(idx, full.argmin(axis=1))
    assert nearest_distances(b[:3], b)[0] == pytest.approx(np.zeros(3), abs=1e-6)


def test_class_balance_helpers() -> None:
    shares = class_shares(np.array([0, 0, 0, 1]), 3)
    np.testing.assert_allclose(shares, [0.75, 0.25, 0.0])
    assert total_variation_distance(shares, np.full(3, 1 / 3)) == pytest.approx(0.5 * (0.75 - 1 / 3 + 1 / 3 - 0.25 + 1 / 3))
    assert classes_covered(shares, 0.25) == 2 and classes_covered(shares, 0.3) == 1


# ----------------------------------------------------------------------------------------------- the check
@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits", max_rows=700)


class BankGenerator(nn.Module):
    """A "generator" returning images from a fixed bank: for label c, an image of class c chosen by the noise
    (or, with ``only_class``, always an image of that class: a collapsed generator)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, only_class: int | None = None) -> None:
        super().__init__()
        self.register_buffer("bank", torch.as_tensor(images, dtype=torch.float32))
        self.register_buffer("bank_labels", torch.as_tensor(labels, dtype=torch.int64))
        self.only_class = only_class

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        wanted = labels if self.only_class is None else torch.full_like(labels, self.only_class)
        out = []
        for noise, label in zip(z, wanted):
            pool = torch.nonzero(self.bank_labels == label).reshape(-1)
            pick = int((noise[0].abs() * 1e4).long() % len(pool))
            out.append(self.bank[pool[pick]])
        return torch.stack(out)


def _fake_gan(ds: Dataset, module: nn.Module, snapshots: bool = False) -> TrainedModel:
    config = GANConfig(latent_dim=4, n_classes=ds.n_classes, image_size=ds.input_shape[1])
    return TrainedModel(family="gan", task="generative", module=module, config=config, dataset_name=ds.name,
                        class_names=list(ds.class_names), feature_names=[], preprocessing={}, metrics={}, history=[],
                        seed=0, snapshots=[module.state_dict()] * 2 if snapshots else [], kind="image",
                        input_shape=ds.input_shape)


def _run(gan: TrainedModel, ds: Dataset, **options):
    reg = Registry()
    reg.register(GenerativeCheck())
    merged = {"generative": {**OPTIONS["generative"], **options}}
    result = run_audit(gan, ds, AuditConfig(options=merged), registry=reg, progress=False)
    record = result.checks["generative"]
    assert record.status == "ok", (record.reason, record.traceback)
    json.dumps(result.metrics["generative"], allow_nan=False)
    return result.metrics["generative"], [f for f in result.findings if f.check == "generative"]


def test_generator_of_training_copies_is_flagged_as_memorising(digits: Dataset) -> None:
    gan = _fake_gan(digits, BankGenerator(digits.train.x, digits.train.y), snapshots=True)
    m, findings = _run(gan, digits)
    assert m["sample_nn_median"] == pytest.approx(0.0, abs=1e-5)
    assert m["memorisation_ratio"] == pytest.approx(0.0, abs=1e-5) and m["near_copy_share"] == 1.0
    assert [f.metric for f in findings] == ["memorisation_ratio"]
    pair = m["images"]["closest_0_sample"]["data"]
    assert pair == m["images"]["closest_0_train"]["data"] and len(pair) == 8 and len(pair[0]) == 8
    assert m["classes_covered"] == 10 and m["label_agreement"] > 0.8
    curve = m["curves"]["mode_coverage"]
    assert curve["x"] == [1, 2] and curve["series"]["classes covered"] == [10, 10]


def test_held_out_real_images_raise_no_warning(digits: Dataset) -> None:
    pool = np.concatenate([digits.val.x, digits.test.x])
    labels = np.concatenate([digits.val.y, digits.test.y])
    m, findings = _run(_fake_gan(digits, BankGenerator(pool, labels)), digits)
    assert findings == []
    assert m["memorisation_ratio"] > 0.7
    assert m["classes_covered"] == 10 and m["class_balance_tv"] < 0.15
    assert m["precision"] > 0.6 and m["recall"] > 0.6
    assert m["fid"] < 10 * max(m["fid_real_baseline"], 1.0)
    assert m["inception_score"] > 0.7 * m["inception_score_real"]
    assert sum(key.startswith("sample_") for key in m["images"]) == 20


def test_collapsed_generator_is_flagged_for_mode_coverage(digits: Dataset) -> None:
    pool = np.concatenate([digits.val.x, digits.test.x])
    labels = np.concatenate([digits.val.y, digits.test.y])
    m, findings = _run(_fake_gan(digits, BankGenerator(pool, labels, only_class=3)), digits)
    assert m["classes_covered"] <= 2
    assert m["inception_score"] < 2.0 and m["recall"] < 0.3
    assert m["class_balance_tv"] > 0.8
    assert m["label_agreement"] < 0.2
    collapse = [f for f in findings if f.metric == "classes_covered"]
    assert len(collapse) == 1 and f"of {digits.n_classes} classes" in collapse[0].message


def test_reference_checkpoint_is_used_as_extractor(digits: Dataset, tmp_path) -> None:
    trained = get_extractor(digits, seed=0, epochs=8)
    cnn = train_model("cnn", digits, seed=1, epochs=2, progress=False)
    cnn.save(tmp_path / "cnn")
    gan = _fake_gan(digits, BankGenerator(digits.train.x, digits.train.y))
    m, _ = _run(gan, digits, reference_model=str(tmp_path / "cnn"))
    assert m["extractor"] == str(tmp_path / "cnn")
    assert trained.source == "trained" and get_extractor(digits, seed=0, epochs=8) is trained  # cached


def test_tiny_real_gan_through_run_audit(digits: Dataset) -> None:
    gan = train_model("gan", digits, seed=0, epochs=1, progress=False)
    m, _ = _run(gan, digits)
    for key in ("fid", "inception_score", "precision", "recall", "classes_covered", "memorisation_ratio"):
        assert m[key] is not None
    assert m["fid"] > m["fid_real_baseline"]
    assert len(m["curves"]["mode_coverage"]["x"]) == len(gan.snapshots) == 1
    assert len(m["images"]) <= 40


def test_same_seed_gives_the_same_metrics(digits: Dataset) -> None:
    gan = _fake_gan(digits, BankGenerator(digits.val.x, digits.val.y))
    first, _ = _run(gan, digits, n_samples=60)
    second, _ = _run(gan, digits, n_samples=60)
    assert json.dumps(first) == json.dumps(second)
