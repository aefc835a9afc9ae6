"""Inside a deepaudit GAN: what its discriminator looks at and how smooth its latent space is.

Discriminator: captum Integrated Gradients and Saliency (the explanation checks' own functions) of the "real" logit
with respect to the image, on a few real training images and generated samples of the same classes; the share of
|attribution| in the image centre; the rank correlation of the mean real and mean generated attribution maps; the
mean real-probability on real and generated images and the AUROC of telling them apart.
Latent space: linear paths between two seeded noise vectors per class (smoothness = mean step / endpoint distance,
1 / (k - 1) for a generator linear in z) and a class sweep at fixed noise.

Complements ``generative`` (sample quality, coverage, memorisation), which it does not repeat. The pure metrics
live in ``audit.checks.generative_insight_metrics``.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from torch import nn

from audit.checks._common import module_device, require_float, require_int
from audit.checks.base import AuditContext, CheckOutput, stratified_sample
from audit.checks.explain import _aggregate as agg
from audit.checks.explain.captum_ import integrated_gradients, saliency
from audit.checks.generative_insight_metrics import (
    ZERO_DISTANCE,
    centre_mask,
    rank_correlation,
    real_fake_auroc,
    region_share,
    traversal_stats,
)
from audit.errors import CheckNotApplicable, InvalidInputError
from audit.results import Finding

__all__ = ["GenerativeInsightCheck"]

_CHECK = "generative_insight"
_MAX_WIDTH = 28 * 8  # widest composite image, in pixels
_MAX_STRIPS = 3  # class-sweep strips shown (the distance uses every class)
_DISC_HEADLINES = ("real_fake_auroc", "real_fake_auroc_heldout", "real_prob_real", "real_prob_fake",
                   "real_prob_heldout", "centre_share_real", "centre_share_fake", "centre_area_share",
                   "attribution_rank_correlation")


# ---------------------------------------------------------------------------------------------- the check
@dataclass(frozen=True)
class GenerativeInsightCheck:
    """Discriminator attributions and real/fake separability; latent traversals and a class sweep."""

    name: str = "generative_insight"
    title: str = "Generative model: discriminator focus and latent space"
    kinds: frozenset[str] = frozenset({"image"})
    tasks: frozenset[str] = frozenset({"generative"})
    needs: frozenset[str] = frozenset({"generator"})
    default_options: Mapping[str, Any] = field(default_factory=lambda: {
        "n_scored": 500,  # real training (and held-out) images and as many samples scored by the discriminator
        "n_explain": 4,  # real training images and as many samples (same classes) explained; 0 skips attributions
        "ig_steps": 32,  # Integrated Gradients steps (baseline: a black image)
        "centre_fraction": 0.5,  # the centre: the middle fraction of each side (0.5: a quarter of the pixels)
        "auroc_warning": 0.98,  # warn when the discriminator tells samples from real images with AUROC >= this
        "k": 8,  # images along each latent path, endpoints included
        "n_traversal_classes": 3,  # classes (evenly spaced) with a latent path
        "max_path_ratio": 3.0,  # warn when the mean path length / endpoint distance exceeds this (rough latent)
    })

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Explain the discriminator and traverse the generator of ``ctx.model.trained``."""
        _validate(options)
        trained = getattr(ctx.model, "trained", None)
        if trained is None or getattr(trained, "family", None) != "gan" or not isinstance(trained.module, nn.Module):
            raise CheckNotApplicable("needs a deepaudit GAN (a TrainedModel of family 'gan')")
        ds = ctx.dataset
        gen_classes = int(getattr(trained.config, "n_classes", 1))
        conditional = gen_classes == ds.n_classes and gen_classes > 1
        names = [str(c) for c in ds.class_names] if conditional else [f"class {c}" for c in range(gen_classes)]
        metrics: dict[str, Any] = {"conditional": conditional, **dict.fromkeys(_DISC_HEADLINES)}
        out: dict[str, Any] = {"metrics": metrics, "tables": {}, "images": {}, "artifacts": {}}
        disc = getattr(trained, "discriminator", None)
        if isinstance(disc, nn.Module):
            ctx.progress(0.05, "discriminator scores")
            _discriminator_part(ctx, trained, disc, options, conditional, names, out)
        ctx.progress(0.7, "latent traversals")
        curves = _latent_part(ctx, trained, options, gen_classes, names, out)
        metrics.update({"tables": out["tables"], "curves": curves, "images": out["images"]})
        ctx.progress(1.0, "done")
        return CheckOutput(metrics=metrics, findings=self._findings(metrics, options), artifacts=out["artifacts"])

    def _findings(self, m: Mapping[str, Any], options: Mapping[str, Any]) -> list[Finding]:
        out: list[Finding] = []
        auroc, limit = m["real_fake_auroc"], float(options["auroc_warning"])
        if auroc is None:
            out.append(Finding(self.name, "info", "The model has no discriminator: its attributions and real/fake "
                               "scores were skipped."))
        elif auroc >= limit:
            out.append(Finding(
                self.name, "warning",
                f"The discriminator tells generated samples from real training images almost perfectly (AUROC "
                f"{auroc:.3f} >= {limit:g}; mean real-probability {m['real_prob_real']:.2f} real vs "
                f"{m['real_prob_fake']:.2f} generated): the samples are easy to spot.",
                metric="real_fake_auroc", value=auroc, threshold={"max": limit}))
        else:
            out.append(Finding(
                self.name, "info",
                f"The discriminator separates real from generated images with AUROC {auroc:.3f} (mean "
                f"real-probability {m['real_prob_real']:.2f} real vs {m['real_prob_fake']:.2f} generated).",
                metric="real_fake_auroc", value=auroc))
        if m["latent_ignored"]:
            out.append(Finding(
                self.name, "warning",
                "The generated images do not change along any latent path (every step has L2 distance 0): the "
                "generator ignores its noise z, so all samples of a class are the same image.",
                metric="traversal_endpoint_distance", value=m["traversal_endpoint_distance"],
                threshold={"min": ZERO_DISTANCE}))
        elif m["path_ratio"] is not None and m["path_ratio"] > float(options["max_path_ratio"]):
            out.append(Finding(
                self.name, "warning",
                f"Rough latent space: latent paths are {m['path_ratio']:.2f}x as long as the straight distance "
                f"between their ends (1 = smooth); the largest single step is {m['max_step_share']:.0%} of it.",
                metric="path_ratio", value=m["path_ratio"], threshold={"max": float(options["max_path_ratio"])}))
        return out


def _validate(options: Mapping[str, Any]) -> None:
    for key, low in (("n_scored", 2), ("n_explain", 0), ("ig_steps", 1), ("k", 2), ("n_traversal_classes", 1)):
        require_int(_CHECK, key, options[key], low)
    require_float(_CHECK, "centre_fraction", options["centre_fraction"], 0, 1, min_inclusive=False,
                  max_inclusive=False)
    require_float(_CHECK, "auroc_warning", options["auroc_warning"], 0.5, 1, min_inclusive=False)
    require_float(_CHECK, "max_path_ratio", options["max_path_ratio"], 1)  # a path is never shorter than its chord


# ---------------------------------------------------------------------------------------------- discriminator
class _RealLogit(nn.Module):
    """The discriminator's "real" logit for one class, as a (n, 1) score module (the explainers' form)."""

    def __init__(self, discriminator: nn.Module, label: int) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.label = int(label)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        labels = torch.full((images.shape[0],), self.label, dtype=torch.long, device=images.device)
        return self.discriminator(images, labels).float().reshape(-1, 1)


def _logits(disc: nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int) -> np.ndarray:
    out, device = [], module_device(disc)
    with torch.no_grad():
        for s in range(0, len(images), batch_size):
            x = torch.as_tensor(np.ascontiguousarray(images[s:s + batch_size], dtype=np.float32), device=device)
            y = torch.as_tensor(labels[s:s + batch_size], dtype=torch.long, device=device)
            out.append(disc(x, y).float().reshape(-1).cpu())
    return torch.cat(out).double().numpy()


def _attributions(disc: nn.Module, images: np.ndarray, labels: np.ndarray, steps: int) -> dict[str, np.ndarray]:
    """Per-pixel IG and Saliency maps (n, h, w) (channels summed) of the real logit, one captum call per class."""
    x = np.asarray(images, dtype=np.float32)
    maps = {"ig": np.zeros((len(x), *x.shape[2:])), "saliency": np.zeros((len(x), *x.shape[2:]))}
    zero = np.zeros(len(x), dtype=np.int64)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        score = _RealLogit(disc, int(label))
        ig, _ = integrated_gradients(score, x[rows], zero[rows], baseline=np.zeros_like(x[rows]), n_steps=steps)
        maps["ig"][rows] = agg.to_feature_space(ig, "image")
        maps["saliency"][rows] = agg.to_feature_space(saliency(score, x[rows], zero[rows]), "image")
    return maps


_METHODS = {"ig": "Integrated Gradients", "saliency": "Saliency"}
_KINDS = {"real": "real (training)", "fake": "generated"}


def _discriminator_part(ctx: AuditContext, trained: Any, disc: nn.Module, options: Mapping[str, Any],
                        conditional: bool, names: list[str], out: dict[str, Any]) -> None:
    """Scores and attributions of the discriminator, written into ``out`` (metrics, tables, images, artifacts)."""
    ds, batch = ctx.dataset, ctx.model.batch_size
    metrics, tables = out["metrics"], out["tables"]
    as_labels = (lambda y: np.asarray(y, dtype=np.int64)) if conditional else (lambda y: np.zeros(len(y), np.int64))
    y_train, y_test = np.asarray(ds.train.y), np.asarray(ds.test.y)
    idx = stratified_sample(y_train, int(options["n_scored"]), ctx.rng("generative_insight-scored"))
    held = stratified_sample(y_test, int(options["n_scored"]), ctx.rng("generative_insight-heldout"))
    e_idx = stratified_sample(y_train, int(options["n_explain"]), ctx.rng("generative_insight-explain"))
    labels, e_labels = as_labels(y_train[idx]), as_labels(y_train[e_idx])
    fake = np.asarray(trained.sample(len(idx), labels=labels, seed=ctx.seed), dtype=np.float32)
    if fake.shape[1:] != tuple(ds.train.x.shape[1:]):
        raise InvalidInputError(f"The generator's images have shape {fake.shape[1:]}; the data's are "
                                f"{tuple(ds.train.x.shape[1:])}.")
    sets = {"real": ds.train.x[e_idx].astype(np.float32)}
    if len(e_idx):
        sets["fake"] = np.asarray(trained.sample(len(e_idx), labels=e_labels, seed=ctx.seed + 1), dtype=np.float32)
    was_training = disc.to(ctx.model.device).training
    disc.eval()
    try:
        s_real, s_fake = _logits(disc, ds.train.x[idx], labels, batch), _logits(disc, fake, labels, batch)
        s_held = _logits(disc, ds.test.x[held], as_labels(y_test[held]), batch)
        if len(e_idx):
            ctx.progress(0.3, "discriminator attributions")
            maps = {kind: _attributions(disc, x, e_labels, int(options["ig_steps"])) for kind, x in sets.items()}
            logits = {kind: _logits(disc, x, e_labels, batch) for kind, x in sets.items()}
    finally:
        disc.train(was_training)
    metrics.update({"real_fake_auroc": real_fake_auroc(s_real, s_fake),
                    "real_fake_auroc_heldout": real_fake_auroc(s_held, s_fake),
                    "real_prob_real": float(expit(s_real).mean()), "real_prob_fake": float(expit(s_fake).mean()),
                    "real_prob_heldout": float(expit(s_held).mean())})
    tables["discriminator_scores"] = {
        "title": "Discriminator's mean real-probability", "columns": ["images", "n", "mean real-probability"],
        "rows": [["real (training)", len(idx), metrics["real_prob_real"]],
                 ["real (held-out test)", len(held), metrics["real_prob_heldout"]],
                 ["generated (same classes)", len(idx), metrics["real_prob_fake"]]],
        "note": f"AUROC of real vs generated: {metrics['real_fake_auroc']:.3f} with training images, "
                f"{metrics['real_fake_auroc_heldout']:.3f} with held-out ones (0.5: indistinguishable).",
    }
    if not len(e_idx):
        return
    out["artifacts"].update({"attributions": maps, "explained": sets, "explained_labels": e_labels})
    mask = centre_mask(*sets["real"].shape[2:], float(options["centre_fraction"]))
    mean_abs = {(kind, m): np.abs(maps[kind][m]).mean(axis=0) for kind in sets for m in _METHODS}
    share = {(kind, m): _nanmean(region_share(maps[kind][m], mask)) for kind in sets for m in _METHODS}
    corr = {m: rank_correlation(mean_abs["real", m], mean_abs["fake", m]) for m in _METHODS}
    metrics.update({"centre_share_real": share["real", "ig"], "centre_share_fake": share["fake", "ig"],
                    "centre_area_share": float(mask.mean()), "attribution_rank_correlation": corr["ig"]})
    tables["discriminator_attributions"] = {
        "title": "Where the discriminator looks: share of |attribution| in the image centre",
        "columns": ["method", "images", "centre share", "border share", "mean |attribution|"],
        "rows": [[_METHODS[m], _KINDS[kind], c, None if c is None else 1.0 - c, float(mean_abs[kind, m].mean())]
                 for (kind, m), c in share.items()],
        "note": f"Centre: the middle {float(options['centre_fraction']):.0%} of each side ({mask.mean():.0%} of the "
                f"pixels). Rank correlation of the mean real vs generated maps: IG {_fmt(corr['ig'])}, Saliency "
                f"{_fmt(corr['saliency'])}.",
    }
    for m, kind in itertools.product(_METHODS, sets):
        out["images"][f"disc_{m}_mean_{kind}"] = agg.image_layout(
            f"Discriminator {_METHODS[m]}: mean |attribution| on {_KINDS[kind]} images",
            f"Mean over {len(e_idx)} images.", mean_abs[kind, m], None)
        for i, heat in enumerate(maps[kind][m]):
            top = float(np.abs(heat).max())
            out["images"][f"disc_{m}_{kind}_{i}"] = agg.image_layout(
                f"Discriminator {_METHODS[m]}: {_KINDS[kind]} image {i + 1}",
                f"class {names[int(e_labels[i])]}; real logit {logits[kind][i]:.3f}; scaled to max |attribution| 1 "
                f"(raw {top:.3g}).", heat / top if top > 0 else heat, _gray(sets[kind][i]))


# ---------------------------------------------------------------------------------------------- latent space
def _generate(generator: nn.Module, z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    device, was_training = module_device(generator), generator.training
    generator.eval()
    try:
        with torch.no_grad():
            out = generator(torch.as_tensor(z, dtype=torch.float32, device=device),
                            torch.as_tensor(labels, dtype=torch.long, device=device))
    finally:
        generator.train(was_training)
    return out.float().cpu().double().numpy()


def _latent_part(ctx: AuditContext, trained: Any, options: Mapping[str, Any], gen_classes: int, names: list[str],
                 out: dict[str, Any]) -> dict[str, Any]:
    """Latent paths per class and the class sweep, written into ``out``; returns the curves."""
    metrics, images = out["metrics"], out["images"]
    k, d = int(options["k"]), int(trained.latent_dim)
    n_paths = min(int(options["n_traversal_classes"]), gen_classes)
    classes = np.unique(np.round(np.linspace(0, gen_classes - 1, n_paths)).astype(int))
    rng = ctx.rng("generative_insight-traversal")
    t = np.linspace(0.0, 1.0, k)[:, None]
    stats, frames = {}, {}
    for c in classes:
        z0, z1 = rng.standard_normal((2, d))
        frames[int(c)] = _generate(trained.module, (1 - t) * z0 + t * z1, np.full(k, c))
        stats[int(c)] = traversal_stats(frames[int(c)])
        for part, (_, _, strip) in enumerate(_strips(frames[int(c)])):
            images[f"traversal_{int(c)}_{part}"] = {
                "title": f"Latent traversal, class {names[int(c)]}" + (f" (part {part + 1})" if part else ""),
                "caption": f"{k} images along a straight line between two seeded noise vectors; smoothness "
                           f"{_fmt(stats[int(c)].smoothness)} (linear: {1 / (k - 1):.3f}).",
                "kind": "grayscale", "data": strip}
    sweep_z = np.tile(ctx.rng("generative_insight-sweep").standard_normal(d), (gen_classes, 1))
    sweep = _generate(trained.module, sweep_z, np.arange(gen_classes))
    for part, (first, stop, strip) in enumerate(_strips(sweep)[:_MAX_STRIPS]):
        images[f"class_sweep_{part}"] = {
            "title": "Class sweep at one fixed noise vector" + (f" (part {part + 1})" if part else ""),
            "caption": f"Classes {names[first]} to {names[stop - 1]}, left to right, all from the same z.",
            "kind": "grayscale", "data": strip}
    out["artifacts"]["traversals"] = frames
    moving = [s for s in stats.values() if not s.ignored]
    defined = [s for s in moving if s.smoothness is not None]
    flat = sweep.reshape(gen_classes, -1)
    pair = np.linalg.norm(flat[:, None] - flat[None], axis=2)[np.triu_indices(gen_classes, 1)]
    metrics.update({
        "smoothness": float(np.mean([s.smoothness for s in defined])) if defined else 0.0,
        "smoothness_linear": 1.0 / (k - 1),
        "path_ratio": float(np.mean([s.path_ratio for s in defined])) if defined else None,
        "max_step_share": float(max(s.max_step_share for s in defined)) if defined else None,
        "traversal_endpoint_distance": float(np.mean([s.endpoint for s in stats.values()])),
        "latent_ignored": not moving,
        "class_sweep_distance": float(pair.mean()) if pair.size else None,
    })
    out["tables"]["traversal"] = {
        "title": "Latent traversals: L2 distances along straight paths in z",
        "columns": ["class", "endpoint distance", "mean step", "smoothness", "path length / endpoint",
                    "largest step share"],
        "rows": [[names[c], s.endpoint, float(s.steps.mean()), s.smoothness, s.path_ratio, s.max_step_share]
                 for c, s in stats.items()],
        "note": f"Smoothness = mean step / endpoint distance: {1 / (k - 1):.3f} when the images change linearly "
                "along the path, larger for a rough latent space, 0 when they do not change at all.",
    }
    return {"traversal_steps": {"title": "Change between consecutive images along each latent path",
                                "x_label": "step", "y_label": "L2 distance to the previous image",
                                "x": list(range(1, k)),
                                "series": {names[c]: [float(v) for v in s.steps] for c, s in stats.items()}}}


# ---------------------------------------------------------------------------------------------- layout helpers
def _gray(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    img = img.mean(axis=0) if img.ndim == 3 else img
    return agg.downsample(np.clip(img, 0.0, 1.0))


def _strips(frames: np.ndarray) -> list[tuple[int, int, list[list[float]]]]:
    """Frames side by side, at most ``_MAX_WIDTH`` pixels per strip: (first frame, stop frame, 2-D list) each."""
    grays = [_gray(f) for f in frames]
    per = max(1, _MAX_WIDTH // grays[0].shape[1])
    return [(s, min(s + per, len(grays)), np.round(np.concatenate(grays[s:s + per], axis=1), 3).tolist())
            for s in range(0, len(grays), per)]


def _nanmean(values: np.ndarray) -> float | None:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
