"""The "ood" check: uncertainty scores and out-of-distribution detection.

Scores: maximum softmax probability (MSP) and the energy score (``logsumexp`` of the logits; torch models that
output logits only). AUROC of telling the audited test rows (positives, higher score) from shifted inputs: pure noise
of the same shape ("noise"), test rows under heavy noise ("shift"), and for images another bundled image set of the
same shape ("near_ood": MNIST against Fashion-MNIST and back). Also the coverage/accuracy trade-off of abstaining
below a confidence threshold.

Headline metrics: ``noise_auroc`` (MSP), ``energy_noise_auroc``, ``near_ood_auroc``, ``shift_auroc``,
``selective_accuracy_at_90``, ``aurc``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.special import logsumexp
from sklearn.metrics import roc_auc_score

from audit.checks._common import nan_to_none, require_int
from audit.checks.base import AuditContext, CheckOutput
from audit.checks.robustness._space import input_space
from audit.checks.robustness.corruption import gaussian_noise
from audit.errors import ConfigError, describe_value
from audit.results import Finding
from models.dataset import Dataset
from models.datasets import DATASETS, load_dataset

__all__ = ["OODCheck", "noise_inputs", "energy_scores", "selective_curve", "ood_auroc", "NEAR_OOD"]

NEAR_OOD: dict[str, str] = {"mnist": "fashion_mnist", "fashion_mnist": "mnist"}
"""Built-in image set -> the bundled set used as near-OOD inputs (used only when the image shapes match)."""

_COVERAGES = tuple(np.round(np.arange(0.05, 1.0001, 0.05), 2).tolist())


def ood_auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """AUROC of separating in-distribution rows (label 1) from shifted ones (label 0) by a score that is higher
    in-distribution; 0.5 = no better than chance.

    Example:
        >>> ood_auroc(np.array([0.9, 0.8]), np.array([0.1, 0.85]))
        0.75
    """
    labels = np.r_[np.ones(len(in_scores)), np.zeros(len(out_scores))]
    return float(roc_auc_score(labels, np.r_[in_scores, out_scores]))


def noise_inputs(dataset: Dataset, n: int, rng: np.random.Generator, sensitive: list[str]) -> np.ndarray:
    """``n`` pure-noise inputs shaped like the data: uniform pixels (images); uniform values within each numeric
    column's observed range and a random category per one-hot block (tables); uniform values within each channel's
    range (series); random token ids with the test rows' lengths (text)."""
    train = np.asarray(dataset.train.x)
    if dataset.kind == "text":
        vocab = int(dataset.preprocessing.get("vocab_size") or dataset.metadata.get("vocab_size") or train.max() + 1)
        lengths = (np.asarray(dataset.test.x) != 0).sum(axis=1)
        lengths = rng.choice(lengths, size=n) if len(lengths) else np.full(n, train.shape[1])
        ids = rng.integers(2, max(3, vocab), size=(n, train.shape[1]))
        return np.where(np.arange(train.shape[1])[None, :] < lengths[:, None], ids, 0).astype(np.int64)
    if dataset.kind == "image":
        return rng.random((n, *train.shape[1:])).astype(np.float32)
    if dataset.kind == "tabular":
        lo, hi = np.nanmin(train, axis=0), np.nanmax(train, axis=0)
        out = (lo + rng.random((n, train.shape[1])) * (hi - lo)).astype(np.float32)
        continuous = set(dataset.continuous_features)
        for name, cols in dataset.feature_groups.items():
            if name not in continuous and len(cols) > 1:
                out[:, cols] = 0.0
                out[np.arange(n), np.asarray(cols)[rng.integers(0, len(cols), size=n)]] = 1.0
        return out
    space = input_space(dataset, sensitive)
    return (space.lower + rng.random((n, *train.shape[1:])) * (space.upper - space.lower)).astype(np.float32)


def _shifted(dataset: Dataset, x: np.ndarray, rng: np.random.Generator, sensitive: list[str]) -> np.ndarray:
    """Test rows under heavy noise: sigma 0.5 (images), 1 standard deviation (tables, series), half the tokens
    replaced by random ids (text)."""
    if dataset.kind == "text":
        vocab = int(dataset.preprocessing.get("vocab_size") or np.asarray(dataset.train.x).max() + 1)
        hit = (x != 0) & (rng.random(x.shape) < 0.5)
        return np.where(hit, rng.integers(2, max(3, vocab), size=x.shape), x).astype(np.int64)
    space = input_space(dataset, sensitive)
    sigma = 0.5 if dataset.kind == "image" else 1.0
    return gaussian_noise(x, sigma, rng, mask=space.mask, lower=space.lower, upper=space.upper)


def energy_scores(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Negative energy ``T * logsumexp(logits / T)`` per row: higher means more in-distribution."""
    return temperature * logsumexp(np.asarray(logits, dtype=np.float64) / temperature, axis=1)


def selective_curve(correct: np.ndarray, confidence: np.ndarray,
                    coverages: tuple[float, ...] = _COVERAGES) -> tuple[list[float], float]:
    """Accuracy on the most confident share of rows for each coverage, and the area under the risk-coverage curve
    (AURC: mean error over every prefix of rows sorted by decreasing confidence; lower is better)."""
    order = np.argsort(-np.asarray(confidence), kind="stable")
    hits = np.asarray(correct, dtype=np.float64)[order]
    cum = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    accs = [float(cum[max(1, int(round(c * len(hits)))) - 1]) for c in coverages]
    return accs, float(np.mean(1.0 - cum))


def _logits(ctx: AuditContext, x: np.ndarray) -> np.ndarray | None:
    """Raw logits of a torch model that outputs logits, else None (energy needs real logits)."""
    if "gradients" not in ctx.model.capabilities or getattr(ctx.model, "output", "") != "logits":
        return None
    module = ctx.model.score_module(as_proba=False)
    dtype = torch.long if ctx.dataset.kind == "text" else torch.float32
    parts = []
    with torch.no_grad():
        for start in range(0, len(x), ctx.model.batch_size):
            batch = torch.as_tensor(np.asarray(x[start:start + ctx.model.batch_size]), device=ctx.model.device)
            parts.append(module(batch.to(dtype)).float().cpu().numpy())
    return np.concatenate(parts).astype(np.float64)


def _default_options() -> dict[str, Any]:
    return {
        "n_samples": 1000,  # audited rows (and as many noise / shifted / near-OOD rows)
        "near_ood_dataset": "auto",  # "auto" (mnist <-> fashion_mnist), "none", or a built-in image data set name
    }


@dataclass(frozen=True)
class OODCheck:
    """Maximum-softmax and energy scores; AUROC against noise, shifted and near-OOD inputs; selective accuracy."""

    name: str = "ood"
    title: str = "Uncertainty and out-of-distribution detection"
    kinds: frozenset[str] = frozenset({"tabular", "image", "text", "timeseries"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass"})
    needs: frozenset[str] = frozenset({"proba"})
    default_options: Mapping[str, Any] = field(default_factory=_default_options)

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Score the test rows and the shifted inputs; AUROCs, score distributions and the abstention trade-off."""
        n = require_int(self.name, "n_samples", options.get("n_samples", 1000), 1)
        near_name = _near_name(options.get("near_ood_dataset", "auto"), ctx.dataset)
        positions = ctx.sample(n, "ood")
        x = np.asarray(ctx.test.x)[positions]
        y = np.asarray(ctx.test.y)[positions]
        proba = ctx.test_proba()[positions]
        sets: dict[str, np.ndarray] = {
            "noise": noise_inputs(ctx.dataset, len(x), ctx.rng("ood-noise"), ctx.sensitive_features),
            "shift": _shifted(ctx.dataset, x, ctx.rng("ood-shift"), ctx.sensitive_features),
        }
        if near_name is not None:
            ctx.progress(0.2, f"loading {near_name}")
            other = load_dataset(near_name, seed=ctx.seed, max_rows=max(20, len(x)))
            pool = np.concatenate([other.train.x, other.val.x, other.test.x])
            if pool.shape[1:] == x.shape[1:]:
                sets["near_ood"] = pool[: len(x)].astype(x.dtype)
            else:
                near_name = None
        msp_in = proba.max(axis=1)
        logits_in = _logits(ctx, x)
        metrics: dict[str, Any] = {"n_samples": int(len(x)), "mean_msp_test": float(msp_in.mean()),
                                   "near_ood_dataset": near_name, "energy": logits_in is not None}
        if logits_in is not None:
            metrics["mean_energy_test"] = float(energy_scores(logits_in).mean())
        rows, dist = [], {"test": msp_in}
        for i, (key, inputs) in enumerate(sets.items()):
            ctx.progress(0.3 + 0.5 * i / len(sets), key)
            msp_out = ctx.model.predict_proba(inputs).max(axis=1)
            dist[key] = msp_out
            auroc = ood_auroc(msp_in, msp_out)
            metrics[f"{key}_auroc"] = auroc
            metrics[f"mean_msp_{key}"] = float(msp_out.mean())
            energy_auroc = None
            if logits_in is not None:
                energy_out = energy_scores(_logits(ctx, inputs))
                energy_auroc = ood_auroc(energy_scores(logits_in), energy_out)
                metrics[f"energy_{key}_auroc"] = energy_auroc
                metrics[f"mean_energy_{key}"] = float(energy_out.mean())
            rows.append([key, int(len(inputs)), auroc, nan_to_none(energy_auroc), float(msp_out.mean())])
        correct = proba.argmax(axis=1) == y
        accs, aurc = selective_curve(correct, msp_in)
        metrics["selective_accuracy_at_90"] = accs[_COVERAGES.index(0.9)]
        metrics["selective_accuracy_at_50"] = accs[_COVERAGES.index(0.5)]
        metrics["aurc"] = aurc
        metrics["curves"] = {
            "coverage_accuracy": {"title": "Accuracy when abstaining below a confidence threshold",
                                  "x_label": "coverage (share of rows answered)", "y_label": "accuracy",
                                  "x": list(_COVERAGES), "series": {"max softmax": accs}},
            "msp_distribution": _histogram(dist),
        }
        metrics["tables"] = {
            "detection": {"title": "Telling test rows from shifted inputs (AUROC; 0.5 = chance)",
                          "columns": ["shifted inputs", "rows", "AUROC (max softmax)", "AUROC (energy)",
                                      "mean max softmax"], "rows": rows,
                          "note": "noise: pure noise of the data's shape; shift: test rows under heavy noise; "
                                  "near_ood: another bundled image set of the same shape."},
            "abstention": _abstention_table(correct, msp_in),
        }
        findings = []
        if metrics["mean_msp_noise"] > metrics["mean_msp_test"]:
            findings.append(Finding(self.name, "warning",
                                    f"The model is more confident on pure noise (mean max softmax "
                                    f"{metrics['mean_msp_noise']:.3f}) than on real test rows "
                                    f"({metrics['mean_msp_test']:.3f}).", metric="mean_msp_noise",
                                    value=metrics["mean_msp_noise"]))
        ctx.progress(1.0, "done")
        return CheckOutput(metrics=metrics, findings=findings)


def _near_name(option: Any, dataset: Dataset) -> str | None:
    if not isinstance(option, str):
        raise ConfigError(f"The option 'options.ood.near_ood_dataset' must be a string. Got {describe_value(option)}.")
    if dataset.kind != "image" or option == "none":
        return None
    if option == "auto":
        return NEAR_OOD.get(dataset.name)
    if option not in DATASETS:
        raise ConfigError(f"The option 'options.ood.near_ood_dataset' must be 'auto', 'none' or one of "
                          f"{list(DATASETS)}. Got {option!r} instead.")
    return option if option != dataset.name else None


def _histogram(dist: dict[str, np.ndarray], n_bins: int = 20) -> dict[str, Any]:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    centres = ((edges[:-1] + edges[1:]) / 2).round(4).tolist()
    series = {k: (np.histogram(np.clip(v, 0, 1), bins=edges)[0] / max(1, len(v))).tolist() for k, v in dist.items()}
    return {"title": "Distribution of the max softmax score", "x_label": "max softmax", "y_label": "share of rows",
            "x": centres, "series": series}


def _abstention_table(correct: np.ndarray, conf: np.ndarray) -> dict[str, Any]:
    rows = []
    for t in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99):
        keep = conf >= t
        rows.append([t, float(keep.mean()), nan_to_none(float(correct[keep].mean())) if keep.any() else None])
    return {"title": "Abstaining below a confidence threshold", "columns": ["threshold", "coverage", "accuracy"],
            "rows": rows}
