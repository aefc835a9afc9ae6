"""Quality, diversity and privacy of a deepaudit GAN: Fréchet distance and an Inception-Score-style score in the
feature space of the project's own CNN, k-NN precision/recall, class balance and coverage of the samples (also per
training snapshot), agreement with the requested class, and a memorisation screen (nearest training image).

The pure metrics live in ``generative_metrics``, the feature extractor in ``generative_extractor``.
"""
from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.checks._common import require_float, require_int
from audit.checks.base import AuditContext, CheckOutput, stratified_sample
from audit.checks.generative_extractor import FeatureExtractor, get_extractor
from audit.checks.generative_metrics import (
    class_shares,
    classes_covered,
    feature_stats,
    frechet_distance,
    inception_score,
    knn_precision_recall,
    nearest_distances,
    total_variation_distance,
)
from audit.errors import CheckNotApplicable, InvalidInputError
from audit.results import Finding
from models.dataset import Dataset

__all__ = ["GenerativeCheck"]


@dataclass(frozen=True)
class GenerativeCheck:
    """Sample quality, mode coverage and memorisation of an image generator."""

    name: str = "generative"
    title: str = "Generative model: quality, coverage and memorisation"
    kinds: frozenset[str] = frozenset({"image"})
    tasks: frozenset[str] = frozenset({"generative"})
    needs: frozenset[str] = frozenset({"generator"})
    default_options: Mapping[str, Any] = field(default_factory=lambda: {
        "n_samples": 1000,  # generated images scored
        "n_real": 1000,  # real training images (stratified) the samples are compared with
        "k": 3,  # neighbour defining the k-NN manifolds of precision/recall
        "reference_model": "",  # saved 'cnn' checkpoint used as feature extractor; "" trains one on the data
        "extractor_epochs": 5,  # epochs of that CNN when it is trained here
        "coverage_min_share": 0.02,  # a class is covered when at least this share of samples is predicted as it
        "coverage_fraction": 0.8,  # warn (collapse) when fewer than this fraction of the classes are covered
        "memorisation_ratio": 0.5,  # warn when median sample-to-train distance < this x median test-to-train distance
        "snapshot_samples": 200,  # samples per training snapshot for the coverage curve (0 skips the curve)
        "n_pairs": 4,  # closest (sample, training image) pairs shown
        "grid_per_class": 2,  # generated images shown per class
    })

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Score the generator in ``ctx.model.trained`` against ``ctx.dataset``."""
        _validate(options)
        trained = getattr(ctx.model, "trained", None)
        if trained is None or not callable(getattr(trained, "sample", None)):
            raise CheckNotApplicable("needs a deepaudit generator (a TrainedModel with sample())")
        ds = ctx.dataset
        ctx.progress(0.05, "feature extractor")
        extractor = get_extractor(ds, reference_model=str(options["reference_model"]), seed=ctx.seed,
                                  epochs=int(options["extractor_epochs"]), device=ctx.model.device,
                                  batch_size=ctx.model.batch_size)
        k_classes = ds.n_classes
        gen_classes = int(getattr(trained.config, "n_classes", 1))
        n = int(options["n_samples"])
        requested = np.arange(n, dtype=np.int64) % gen_classes
        ctx.progress(0.3, "sampling")
        fake = np.asarray(trained.sample(n, labels=requested, seed=ctx.seed), dtype=np.float32)
        if fake.shape[1:] != ds.input_shape:
            raise InvalidInputError(f"The generator's images have shape {fake.shape[1:]}; the data's are {ds.input_shape}.")
        real_idx = stratified_sample(np.asarray(ds.train.y), int(options["n_real"]), ctx.rng("generative-real"))
        test_idx = stratified_sample(np.asarray(ds.test.y), int(options["n_real"]), ctx.rng("generative-test"))
        real, test = ds.train.x[real_idx], ds.test.x[test_idx]

        ctx.progress(0.4, "features")
        f_fake, f_real, f_test = extractor.features(fake), extractor.features(real), extractor.features(test)
        p_fake, p_test = extractor.proba(fake), extractor.proba(test)
        metrics: dict[str, Any] = {"n_samples": n, "n_classes": k_classes, "extractor": extractor.source,
                                   "extractor_test_accuracy": extractor.test_accuracy}
        mu_r, s_r = feature_stats(f_real)
        metrics["fid"] = frechet_distance(*feature_stats(f_fake), mu_r, s_r)
        metrics["fid_real_baseline"] = frechet_distance(*feature_stats(f_test), mu_r, s_r)
        metrics["inception_score"] = inception_score(p_fake)
        metrics["inception_score_real"] = inception_score(p_test)
        k = int(options["k"])
        if min(len(f_real), len(f_fake)) <= k:
            raise InvalidInputError(f"The option 'options.generative.k' ({k}) must be smaller than the sample sizes "
                                    f"({len(f_real)} real, {len(f_fake)} generated).")
        metrics["precision"], metrics["recall"] = knn_precision_recall(f_real, f_fake, k=k)

        ctx.progress(0.6, "class balance")
        pred = p_fake.argmax(axis=1)
        shares = class_shares(pred, k_classes)
        train_shares = class_shares(np.asarray(ds.train.y), k_classes)
        min_share = float(options["coverage_min_share"])
        metrics["classes_covered"] = classes_covered(shares, min_share)
        metrics["class_balance_tv"] = total_variation_distance(shares, train_shares)
        conditional = gen_classes == k_classes and gen_classes > 1
        metrics["label_agreement"] = float(np.mean(pred == requested)) if conditional else None

        ctx.progress(0.7, "memorisation")
        train_flat = ds.train.x.reshape(len(ds.train), -1)
        d_fake, nn_fake = nearest_distances(fake.reshape(n, -1), train_flat)
        d_test, _ = nearest_distances(test.reshape(len(test), -1), train_flat)
        med_fake, med_test = float(np.median(d_fake)), float(np.median(d_test))
        metrics["sample_nn_median"] = med_fake
        metrics["test_nn_median"] = med_test
        metrics["memorisation_ratio"] = med_fake / med_test if med_test > 0 else None
        metrics["near_copy_share"] = float(np.mean(d_fake < np.quantile(d_test, 0.01)))

        names = [str(c) for c in ds.class_names]
        metrics["bars"] = {"class_balance": {"title": "Share of generated samples per predicted class",
                                             "labels": names, "values": [float(v) for v in shares]}}
        metrics["tables"] = {"class_balance": {
            "title": "Predicted class of generated samples vs training labels",
            "columns": ["class", "share of samples", "share of training data", "covered"],
            "rows": [[names[c], float(shares[c]), float(train_shares[c]), "yes" if shares[c] >= min_share else "no"]
                     for c in range(k_classes)],
            "note": f"Classes predicted by the extractor CNN (test accuracy {extractor.test_accuracy:.3f}); covered "
                    f"when at least {min_share:.0%} of the samples.",
        }}
        metrics["images"] = {**_grid(fake, requested, pred, names, int(options["grid_per_class"]), conditional),
                             **_closest_pairs(fake, ds, d_fake, nn_fake, int(options["n_pairs"]))}

        ctx.progress(0.8, "snapshots")
        m = int(options["snapshot_samples"])
        if m > 0 and getattr(trained, "snapshots", None):
            metrics["curves"] = _snapshot_curves(trained, extractor, m, gen_classes, k_classes, min_share, ctx.seed,
                                                 conditional)
        findings = self._findings(metrics, options, k_classes)
        ctx.progress(1.0, "done")
        return CheckOutput(metrics=metrics, findings=findings, artifacts={"samples": fake, "predicted": pred})

    def _findings(self, metrics: dict[str, Any], options: Mapping[str, Any], k_classes: int) -> list[Finding]:
        findings = []
        need = float(options["coverage_fraction"]) * k_classes
        if metrics["classes_covered"] < need:
            findings.append(Finding(
                self.name, "warning",
                f"Mode collapse: the samples cover {metrics['classes_covered']} of {k_classes} classes "
                f"(at least {float(options['coverage_min_share']):.0%} of samples each); expected >= {need:g}.",
                metric="classes_covered", value=float(metrics["classes_covered"]), threshold={"min": need}))
        ratio, limit = metrics["memorisation_ratio"], float(options["memorisation_ratio"])
        if ratio is not None and ratio < limit:
            findings.append(Finding(
                self.name, "warning",
                f"Possible memorisation: generated images lie {ratio:.2f}x as far from their nearest training image "
                f"as real test images do (median); {metrics['near_copy_share']:.0%} are near copies.",
                metric="memorisation_ratio", value=float(ratio), threshold={"min": limit}))
        return findings


def _validate(options: Mapping[str, Any]) -> None:
    for key, low in (("n_samples", 10), ("n_real", 10), ("k", 1), ("extractor_epochs", 1), ("snapshot_samples", 0),
                     ("n_pairs", 0), ("grid_per_class", 0)):
        require_int("generative", key, options[key], low)
    for key in ("coverage_min_share", "coverage_fraction", "memorisation_ratio"):
        require_float("generative", key, options[key], 0, 1, min_inclusive=False)


def _gray(image: np.ndarray) -> list[list[float]]:
    img = np.asarray(image, dtype=np.float64)
    img = img.mean(axis=0) if img.ndim == 3 else img
    return np.round(np.clip(img, 0.0, 1.0), 3).tolist()


def _grid(fake: np.ndarray, requested: np.ndarray, pred: np.ndarray, names: list[str], per_class: int,
          conditional: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if per_class == 0:
        return out
    if conditional:
        chosen = [(c, i) for c in range(len(names)) for i in np.flatnonzero(requested == c)[:per_class]]
    else:
        chosen = [(int(pred[i]), int(i)) for i in range(min(len(fake), per_class * len(names)))]
    for c, i in chosen:
        what = f"requested {names[c]}, predicted {names[int(pred[i])]}" if conditional else f"predicted {names[c]}"
        out[f"sample_{int(i)}"] = {"title": f"Generated sample {int(i)}", "caption": what, "kind": "grayscale",
                                   "data": _gray(fake[i])}
    return out


def _closest_pairs(fake: np.ndarray, ds: Dataset, dist: np.ndarray, nearest: np.ndarray, n_pairs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rank, i in enumerate(np.argsort(dist, kind="stable")[:n_pairs]):
        j = int(nearest[i])
        caption = f"L2 distance {float(dist[i]):.3f}"
        out[f"closest_{rank}_sample"] = {"title": f"Closest pair {rank + 1}: sample {int(i)}", "caption": caption,
                                         "kind": "grayscale", "data": _gray(fake[i])}
        out[f"closest_{rank}_train"] = {"title": f"Closest pair {rank + 1}: training image {j}", "caption": caption,
                                        "kind": "grayscale", "data": _gray(ds.train.x[j])}
    return out


def _snapshot_curves(trained: Any, extractor: FeatureExtractor, m: int, gen_classes: int, k_classes: int,
                     min_share: float, seed: int, conditional: bool) -> dict[str, Any]:
    labels = np.arange(m, dtype=np.int64) % gen_classes
    covered, agreement = [], []
    for state in trained.snapshots:
        generator = copy.deepcopy(trained.module)
        generator.load_state_dict(state)
        snapshot = dataclasses.replace(trained, module=generator, snapshots=[])
        pred = extractor.proba(snapshot.sample(m, labels=labels, seed=seed)).argmax(axis=1)
        covered.append(classes_covered(class_shares(pred, k_classes), min_share))
        agreement.append(float(np.mean(pred == labels)) if conditional else None)
    epochs = list(range(1, len(covered) + 1))
    curves: dict[str, Any] = {"mode_coverage": {"title": "Classes covered by the samples of each training snapshot",
                                                "x_label": "epoch", "y_label": "classes covered", "x": epochs,
                                                "series": {"classes covered": covered}}}
    if conditional:
        curves["label_agreement"] = {"title": "Requested vs predicted class agreement per training snapshot",
                                     "x_label": "epoch", "y_label": "agreement", "x": epochs,
                                     "series": {"label agreement": agreement}}
    return curves
