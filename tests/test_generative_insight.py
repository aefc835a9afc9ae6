"""The generative_insight check: pure metrics with known answers; hand-built discriminators and generators whose
attributions, real/fake scores and latent traversals are known exactly; a tiny real GAN through run_audit."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit
from sklearn.metrics import roc_auc_score
from torch import nn

from audit import AuditConfig, CheckOutput, Registry, run_audit
from audit.checks.base import AuditContext, validate_options
from audit.checks.generative_insight import GenerativeInsightCheck
from audit.checks.generative_insight_metrics import (
    centre_mask,
    rank_correlation,
    real_fake_auroc,
    region_share,
    traversal_stats,
)
from audit.errors import InvalidInputError
from models import Dataset, TrainedModel, load_dataset, train_model
from models.gan import GANConfig

torch.set_num_threads(1)

NAME = "generative_insight"
LATENT = 4


# ----------------------------------------------------------------------------------------------- pure metrics
def test_centre_mask_known_answers() -> None:
    mask = centre_mask(8, 8, 0.5)
    assert mask.sum() == 16 and mask[2:6, 2:6].all()
    big = centre_mask(28, 28)
    assert big.sum() == 14 * 14 and big[7:21, 7:21].all() and not big[6].any() and not big[:, 21].any()
    assert centre_mask(4, 6, 1.0).all()
    with pytest.raises(InvalidInputError, match="'fraction'"):
        centre_mask(8, 8, 0.0)
    with pytest.raises(InvalidInputError, match="'height'"):
        centre_mask(0, 8)


def test_region_share_known_answers() -> None:
    maps = np.zeros((3, 4, 4))
    maps[0, 1, 1], maps[0, 0, 0] = 3.0, -1.0  # 3 inside, 1 outside (sign ignored)
    maps[1, 1:3, 1:3] = -2.0  # everything inside
    mask = np.zeros((4, 4), dtype=bool)
    mask[1:3, 1:3] = True
    share = region_share(maps, mask)
    assert share[0] == pytest.approx(0.75) and share[1] == pytest.approx(1.0) and np.isnan(share[2])
    with pytest.raises(InvalidInputError, match="'maps'"):
        region_share(maps, np.ones((3, 3), dtype=bool))


def test_rank_correlation_known_answers() -> None:
    a = np.arange(16.0).reshape(4, 4)
    assert rank_correlation(a, np.exp(a)) == pytest.approx(1.0)  # monotone transform: same ranks
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    assert rank_correlation(a, np.ones_like(a)) is None
    assert rank_correlation([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == pytest.approx(0.5)  # 1 - 6*2/(3*8)


@pytest.mark.parametrize("k", [2, 5, 8])
def test_traversal_of_a_straight_path_has_smoothness_one_over_k_minus_one(k: int) -> None:
    a, b = np.random.default_rng(k).random((2, 1, 3, 3))
    t = np.linspace(0, 1, k)[:, None, None, None]
    stats = traversal_stats((1 - t) * a + t * b)
    assert stats.smoothness == pytest.approx(1 / (k - 1)) and stats.path_ratio == pytest.approx(1.0)
    assert stats.endpoint == pytest.approx(np.linalg.norm(b - a)) and not stats.ignored


def test_traversal_known_answers_for_constant_zigzag_and_loop() -> None:
    constant = traversal_stats(np.ones((6, 2, 2)))
    assert constant.ignored and constant.smoothness == 0.0 and constant.path_ratio is None
    np.testing.assert_array_equal(constant.steps, np.zeros(5))
    zigzag = traversal_stats(np.array([[0.0], [1.0], [0.0], [1.0]]))  # steps 1, 1, 1; endpoint 1
    assert zigzag.smoothness == pytest.approx(1.0) and zigzag.path_ratio == pytest.approx(3.0)
    loop = traversal_stats(np.array([[0.0], [1.0], [0.0]]))  # returns to its start: undefined, not ignored
    assert loop.smoothness is None and not loop.ignored
    with pytest.raises(InvalidInputError, match="'frames'"):
        traversal_stats(np.ones((1, 4)))


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 9), st.integers(0, 10_000))
def test_path_is_never_shorter_than_its_endpoint_distance(k: int, seed: int) -> None:
    stats = traversal_stats(np.random.default_rng(seed).random((k, 5)))
    assert stats.path_ratio >= 1.0 - 1e-12 and stats.smoothness >= 1 / (k - 1) - 1e-12


def test_real_fake_auroc_matches_hand_count() -> None:
    real, fake = np.array([0.9, 0.4, 0.7]), np.array([0.1, 0.5])
    pairs = [(r > f) + 0.5 * (r == f) for r in real for f in fake]  # Mann-Whitney by hand: 5 of 6 pairs
    assert real_fake_auroc(real, fake) == pytest.approx(np.mean(pairs)) == pytest.approx(5 / 6)
    assert real_fake_auroc(np.ones(3), np.ones(4)) == pytest.approx(0.5)
    with pytest.raises(InvalidInputError, match="non-empty"):
        real_fake_auroc(np.ones(2), np.array([]))


# ----------------------------------------------------------------------------------------------- hand-built GANs
class PatchDiscriminator(nn.Module):
    """logit = sum of the pixels in a planted patch - offset; the label is ignored."""

    def __init__(self, rows: tuple[int, int], cols: tuple[int, int], offset: float = 0.0) -> None:
        super().__init__()
        self.rows, self.cols, self.offset = rows, cols, offset

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        patch = images[:, :, self.rows[0]:self.rows[1], self.cols[0]:self.cols[1]]
        return patch.sum(dim=(1, 2, 3)) - self.offset


class LinearGenerator(nn.Module):
    """images = W z + b[label]: linear in z."""

    def __init__(self, n_classes: int, side: int = 8) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.side = side
        self.weight = nn.Parameter(0.1 * torch.randn(side * side, LATENT, generator=g))
        self.bias = nn.Parameter(torch.rand(n_classes, side * side, generator=g))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (z @ self.weight.T + self.bias[labels]).view(-1, 1, self.side, self.side)


class LabelOnlyGenerator(nn.Module):
    """images = a fixed image per label (e.g. the class means): the noise is ignored."""

    def __init__(self, images: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("bank", torch.as_tensor(images, dtype=torch.float32))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.bank[labels] + 0.0 * z.sum()


class BankGenerator(nn.Module):
    """For label c, a held-out real image of class c chosen by the noise."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("bank", torch.as_tensor(images, dtype=torch.float32))
        self.register_buffer("bank_labels", torch.as_tensor(labels, dtype=torch.int64))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        out = []
        for noise, label in zip(z, labels):
            pool = torch.nonzero(self.bank_labels == label).reshape(-1)
            out.append(self.bank[pool[int((noise[0].abs() * 1e4).long() % len(pool))]])
        return torch.stack(out)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits", max_rows=700)


def _gan(ds: Dataset, generator: nn.Module, discriminator: nn.Module | None,
         n_classes: int | None = None) -> TrainedModel:
    config = GANConfig(latent_dim=LATENT, n_classes=n_classes or ds.n_classes, image_size=ds.input_shape[1])
    return TrainedModel(family="gan", task="generative", module=generator, config=config, dataset_name=ds.name,
                        class_names=list(ds.class_names), feature_names=[], preprocessing={}, metrics={}, history=[],
                        seed=0, discriminator=discriminator, kind="image", input_shape=ds.input_shape)


def _run(gan: Any, ds: Dataset, **options: Any) -> tuple[dict[str, Any], list[Any]]:
    reg = Registry()
    reg.register(GenerativeInsightCheck())
    result = run_audit(gan, ds, AuditConfig(options={NAME: options}, device="cpu"), registry=reg, progress=False)
    record = result.checks[NAME]
    assert record.status == "ok", (record.reason, record.traceback)
    metrics = result.metrics[NAME]
    json.dumps(metrics, allow_nan=False)
    return metrics, [f for f in result.findings if f.check == NAME]


class _Capture:
    """A check that only keeps the context run_audit built, to call the check under test directly."""

    name, title = "capture", "capture"
    kinds, tasks, needs = frozenset({"image"}), frozenset({"generative"}), frozenset({"generator"})
    default_options: Mapping[str, Any] = {}

    def __init__(self) -> None:
        self.contexts: list[AuditContext] = []

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        self.contexts.append(ctx)
        return CheckOutput(metrics={})


def _context(gan: TrainedModel, ds: Dataset) -> AuditContext:
    capture = _Capture()
    reg = Registry()
    reg.register(capture)
    run_audit(gan, ds, AuditConfig(device="cpu"), registry=reg, progress=False)
    return capture.contexts[0]


def test_planted_patch_discriminator_attributions_are_exact(digits: Dataset) -> None:
    rows, cols = (0, 2), (0, 8)  # the top band: outside the centre (rows and columns 2..5)
    gan = _gan(digits, LinearGenerator(digits.n_classes), PatchDiscriminator(rows, cols))
    check = GenerativeInsightCheck()
    out = check.run(_context(gan, digits), validate_options(check, {"n_scored": 50, "n_explain": 6}))
    band = np.zeros((8, 8), dtype=bool)
    band[rows[0]:rows[1], cols[0]:cols[1]] = True
    for kind in ("real", "fake"):
        x = out.artifacts["explained"][kind][:, 0]
        ig, sal = out.artifacts["attributions"][kind]["ig"], out.artifacts["attributions"][kind]["saliency"]
        np.testing.assert_allclose(ig, x * band, atol=1e-5)  # IG of a linear logit from a black baseline: x * w
        np.testing.assert_allclose(sal, np.broadcast_to(band, sal.shape), atol=1e-6)  # |d logit / d pixel| = w
        assert np.all(region_share(sal, band) > 0.9)
    assert out.metrics["centre_share_fake"] == pytest.approx(0.0, abs=1e-6)
    sal_rows = [r for r in out.metrics["tables"]["discriminator_attributions"]["rows"] if r[0] == "Saliency"]
    assert [r[2] for r in sal_rows] == [pytest.approx(0.0, abs=1e-9)] * 2
    assert len(out.artifacts["explained"]["real"]) == 6


def test_centre_patch_discriminator_reports_centre_share_above_point_nine(digits: Dataset) -> None:
    gan = _gan(digits, LinearGenerator(digits.n_classes), PatchDiscriminator((2, 6), (2, 6)))
    m, _ = _run(gan, digits, n_scored=50)
    assert m["centre_share_real"] > 0.9 and m["centre_share_fake"] > 0.9
    assert m["centre_area_share"] == pytest.approx(0.25)
    overlay = m["images"]["disc_saliency_real_0"]
    assert overlay["kind"] == "overlay" and np.shape(overlay["data"]) == np.shape(overlay["base"]) == (8, 8)
    heat = np.abs(np.array(overlay["data"]))
    assert heat[2:6, 2:6].min() == pytest.approx(1.0) and heat.sum() == pytest.approx(16.0)  # scaled to max 1


def test_blank_generator_is_easy_to_spot_and_ignores_z(digits: Dataset) -> None:
    blank = LabelOnlyGenerator(np.zeros((digits.n_classes, *digits.input_shape)))
    gan = _gan(digits, blank, PatchDiscriminator((0, 8), (0, 8)))  # logit = total ink
    m, findings = _run(gan, digits, n_scored=1000)  # all training and test rows
    assert m["real_fake_auroc"] == pytest.approx(1.0) and m["real_fake_auroc_heldout"] == pytest.approx(1.0)
    assert m["real_prob_fake"] == pytest.approx(0.5)  # sigmoid(0)
    ink = digits.train.x.sum(axis=(1, 2, 3))
    assert m["real_prob_real"] == pytest.approx(float(expit(ink).mean()))
    assert m["real_prob_heldout"] == pytest.approx(float(expit(digits.test.x.sum(axis=(1, 2, 3))).mean()))
    assert m["latent_ignored"] is True and m["smoothness"] == 0.0 and m["traversal_endpoint_distance"] == 0.0
    assert m["class_sweep_distance"] == 0.0
    warned = {f.metric: f for f in findings if f.severity == "warning"}
    assert set(warned) == {"real_fake_auroc", "traversal_endpoint_distance"}
    assert warned["real_fake_auroc"].threshold == {"max": 0.98}


def test_label_only_generator_has_flat_traversals_and_known_class_sweep(digits: Dataset) -> None:
    means = np.stack([digits.train.x[digits.train.y == c].mean(axis=0) for c in range(digits.n_classes)])
    gan = _gan(digits, LabelOnlyGenerator(means), None)
    m, findings = _run(gan, digits, k=6, n_traversal_classes=10)
    assert m["real_fake_auroc"] is None and m["latent_ignored"] is True and m["smoothness"] == 0.0
    assert m["curves"]["traversal_steps"]["x"] == [1, 2, 3, 4, 5]
    assert all(v == [0.0] * 5 for v in m["curves"]["traversal_steps"]["series"].values())
    flat = means.reshape(len(means), -1).astype(np.float64)
    pairs = [np.linalg.norm(flat[i] - flat[j]) for i in range(10) for j in range(i + 1, 10)]
    assert m["class_sweep_distance"] == pytest.approx(np.mean(pairs), rel=1e-5)
    strip = np.array(m["images"]["class_sweep_0"]["data"])
    assert strip.shape == (8, 80)
    np.testing.assert_allclose(strip[:, 24:32], np.round(means[3, 0], 3), atol=1e-6)  # class 3, fourth frame
    assert {f.severity for f in findings} == {"info", "warning"}
    assert sum(key.startswith("traversal_") for key in m["images"]) == 10


def test_generator_linear_in_z_has_smoothness_one_over_k_minus_one(digits: Dataset) -> None:
    gan = _gan(digits, LinearGenerator(digits.n_classes), PatchDiscriminator((2, 6), (2, 6)))
    m, findings = _run(gan, digits, k=5, n_scored=50)
    assert m["smoothness"] == pytest.approx(0.25, rel=1e-4) and m["smoothness_linear"] == 0.25
    assert m["path_ratio"] == pytest.approx(1.0, rel=1e-4) and m["latent_ignored"] is False
    assert not [f for f in findings if f.metric in ("path_ratio", "traversal_endpoint_distance")]
    assert [r[0] for r in m["tables"]["traversal"]["rows"]] == ["0", "4", "9"]


class WigglyGenerator(LinearGenerator):
    """images = cos(40 (W z + b)): oscillates many times along any straight path in z."""

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.cos(40.0 * super().forward(z, labels))


def test_wiggly_generator_is_flagged_as_a_rough_latent_space(digits: Dataset) -> None:
    gan = _gan(digits, WigglyGenerator(digits.n_classes), None)
    m, findings = _run(gan, digits, k=8)
    assert m["path_ratio"] > 3.0 and m["smoothness"] > 3.0 / 7
    rough = [f for f in findings if f.metric == "path_ratio"]
    assert len(rough) == 1 and rough[0].severity == "warning" and rough[0].threshold == {"max": 3.0}
    _, quiet = _run(gan, digits, k=8, max_path_ratio=1000.0)
    assert not [f for f in quiet if f.metric == "path_ratio"]


def test_unconditional_generator_uses_label_zero(digits: Dataset) -> None:
    gan = _gan(digits, LinearGenerator(1), PatchDiscriminator((2, 6), (2, 6)), n_classes=1)
    m, _ = _run(gan, digits, n_scored=50, n_explain=2)
    assert m["conditional"] is False and list(m["curves"]["traversal_steps"]["series"]) == ["class 0"]
    assert np.shape(m["images"]["class_sweep_0"]["data"]) == (8, 8)


def test_held_out_real_images_are_not_flagged(digits: Dataset) -> None:
    pool = np.concatenate([digits.val.x, digits.test.x])
    labels = np.concatenate([digits.val.y, digits.test.y])
    gan = _gan(digits, BankGenerator(pool, labels), PatchDiscriminator((0, 8), (0, 8)))
    m, findings = _run(gan, digits, n_scored=300)
    assert 0.3 < m["real_fake_auroc"] < 0.7
    assert [f.severity for f in findings if f.metric == "real_fake_auroc"] == ["info"]


def test_bad_options_raise_clear_errors(digits: Dataset) -> None:
    gan = _gan(digits, LinearGenerator(digits.n_classes), None)
    check = GenerativeInsightCheck()
    ctx = _context(gan, digits)
    for key, value in (("k", 1), ("centre_fraction", 1.0), ("auroc_warning", 0.5), ("max_path_ratio", 0.5)):
        with pytest.raises(InvalidInputError, match=rf"options\.generative_insight\.{key}'.*Got {value!r}"):
            check.run(ctx, validate_options(check, {key: value}))


def test_check_is_skipped_for_a_classifier(digits: Dataset) -> None:
    reg = Registry()
    reg.register(GenerativeInsightCheck())
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, digits.n_classes))
    result = run_audit(net, digits, AuditConfig(), registry=reg, progress=False)
    assert result.checks[NAME].status == "skipped" and "generative" in result.checks[NAME].reason


# ----------------------------------------------------------------------------------------------- a real tiny GAN
@pytest.fixture(scope="module")
def tiny_gan(digits: Dataset) -> TrainedModel:
    return train_model("gan", digits, seed=0, epochs=1, progress=False)


def test_tiny_real_gan_through_run_audit(digits: Dataset, tiny_gan: TrainedModel) -> None:
    m, findings = _run(tiny_gan, digits, n_scored=1000)  # every training row: the oracle below scores them all
    disc = tiny_gan.discriminator
    y = torch.as_tensor(digits.train.y)
    with torch.no_grad():
        real = disc(torch.as_tensor(digits.train.x), y).numpy()
        fake = disc(torch.as_tensor(tiny_gan.sample(len(y), labels=digits.train.y, seed=0)), y).numpy()
    expected = roc_auc_score(np.r_[np.ones(len(real)), np.zeros(len(fake))], np.r_[real, fake])
    assert m["real_fake_auroc"] == pytest.approx(expected, abs=1e-6)
    assert m["real_prob_real"] == pytest.approx(float(expit(real.astype(np.float64)).mean()), abs=1e-6)
    assert m["smoothness"] >= m["smoothness_linear"] - 1e-9 and m["path_ratio"] >= 1.0 - 1e-9
    assert m["latent_ignored"] is False and -1.0 <= m["attribution_rank_correlation"] <= 1.0
    assert 0.0 <= m["centre_share_real"] <= 1.0 and m["centre_area_share"] == pytest.approx(0.25)
    assert len(m["images"]) <= 40
    for image in m["images"].values():
        assert len(image["data"]) <= 28 and len(image["data"][0]) <= 28 * 8
    assert sum(f.metric == "real_fake_auroc" for f in findings) == 1


def test_same_seed_gives_the_same_metrics(digits: Dataset, tiny_gan: TrainedModel) -> None:
    first, _ = _run(tiny_gan, digits, n_scored=60)
    second, _ = _run(tiny_gan, digits, n_scored=60)
    assert json.dumps(first) == json.dumps(second)
