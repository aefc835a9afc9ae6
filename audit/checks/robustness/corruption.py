"""The "corruption" check: accuracy (MAE for regression) against the strength of natural corruptions.

Gaussian noise and Gaussian blur for images (pixel intensity / pixels), Gaussian noise on the continuous,
non-sensitive features of tables and on series windows (standard deviations, within the observed range), dropped
tokens for text (share of tokens). Black-box: only predictions are needed.

Headline metrics: ``clean_accuracy``, ``noise_accuracy`` / ``blur_accuracy`` / ``dropped_tokens_accuracy`` at the
kind's reference strength, ``mean_corrupted_accuracy`` and ``relative_corrupted_accuracy`` (mean / clean); for
regression ``clean_mae``, ``noise_mae``, ``noise_mae_increase``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from audit.checks._common import nan_to_none, require_float, require_int
from audit.checks.base import AuditContext, CheckOutput
from audit.checks.robustness._common import option_budgets, option_rates
from audit.checks.robustness._space import UNITS, input_space, row_bounds
from audit.checks.robustness.text import delete_tokens
from audit.errors import InvalidInputError

__all__ = ["CorruptionCheck", "gaussian_noise", "blur_images", "DEFAULT_LEVELS"]

DEFAULT_LEVELS: dict[str, dict[str, tuple[tuple[float, ...], float]]] = {
    "image": {"noise": ((0.05, 0.1, 0.2, 0.3), 0.1), "blur": ((0.5, 1.0, 1.5, 2.0), 1.0)},
    "tabular": {"noise": ((0.1, 0.25, 0.5, 1.0), 0.25)},
    "timeseries": {"noise": ((0.1, 0.25, 0.5, 1.0), 0.25)},
    "text": {"dropped_tokens": ((0.05, 0.1, 0.2, 0.3), 0.1)},
}
"""Per kind: corruption -> (strengths, reference strength for the headline)."""

_TITLES = {"noise": "Gaussian noise", "blur": "Gaussian blur", "dropped_tokens": "Dropped tokens"}
_X_LABELS = {"noise": "noise standard deviation ({unit})", "blur": "blur sigma (pixels)",
             "dropped_tokens": "share of tokens dropped"}


def gaussian_noise(x: np.ndarray, sigma: float, rng: np.random.Generator, *, mask: np.ndarray | None = None,
                   lower: np.ndarray | None = None, upper: np.ndarray | None = None) -> np.ndarray:
    """``x`` plus Gaussian noise of standard deviation ``sigma`` on the masked values, clipped to the observed range
    (widened to contain each row).

    Raises:
        InvalidInputError: ``sigma`` < 0.

    Example:
        >>> gaussian_noise(np.zeros((2, 2)), 0.0, np.random.default_rng(0)).tolist()
        [[0.0, 0.0], [0.0, 0.0]]
    """
    require_float(None, "sigma", sigma, 0)
    x = np.asarray(x, dtype=np.float32)
    noise = rng.standard_normal(x.shape).astype(np.float32) * np.float32(sigma)
    if mask is not None:
        noise = noise * mask
    lo, hi = row_bounds(x, lower, upper)
    out = x + noise
    if lo is not None or hi is not None:
        out = np.clip(out, lo, hi)
    return out.astype(np.float32)


def blur_images(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of images (n, c, h, w) over h and w with standard deviation ``sigma`` pixels (edges repeated).

    Raises:
        InvalidInputError: ``sigma`` < 0 or ``x`` is not 4-D.
    """
    require_float(None, "sigma", sigma, 0)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise InvalidInputError(f"The 'x' argument must hold images (n, c, h, w). Got shape {x.shape} instead.")
    return gaussian_filter(x, sigma=(0, 0, float(sigma), float(sigma)), mode="nearest").astype(np.float32)


def _default_options() -> dict[str, Any]:
    return {
        "n_samples": 2000,  # audited rows corrupted (a stratified, seeded sample)
        "noise_levels": None,  # Gaussian noise standard deviations in the data's units; None: the kind's default
        "blur_levels": None,  # images: blur sigmas in pixels; None: 0.5, 1, 1.5, 2
        "drop_rates": None,  # text: shares of tokens dropped; None: 0.05, 0.1, 0.2, 0.3
    }


@dataclass(frozen=True)
class CorruptionCheck:
    """Accuracy against the strength of natural corruptions (noise, blur, dropped tokens); works on black boxes."""

    name: str = "corruption"
    title: str = "Corruption robustness"
    kinds: frozenset[str] = frozenset({"tabular", "image", "text", "timeseries"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass", "regression"})
    needs: frozenset[str] = frozenset()
    default_options: Mapping[str, Any] = field(default_factory=_default_options)

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Corrupt a stratified sample at each strength and score the model."""
        kind = ctx.dataset.kind
        levels = _levels(options, kind)
        n = require_int(self.name, "n_samples", options.get("n_samples", 2000), 1)
        positions = ctx.sample(n, "corruption")
        x = np.asarray(ctx.test.x)[positions]
        y = np.asarray(ctx.test.y)[positions]
        regression = ctx.model.task == "regression"
        stat = "mae" if regression else "accuracy"

        def score(inputs: np.ndarray) -> float:
            pred = ctx.model.predict(inputs)
            return float(np.abs(pred - y).mean()) if regression else float((pred == y).mean())

        space = input_space(ctx.dataset, ctx.sensitive_features) if kind != "text" else None
        clean = score(x)
        metrics: dict[str, Any] = {f"clean_{stat}": clean, "n_samples": int(len(positions)),
                                   "unit": UNITS.get(kind, "")}
        curves, rows, all_scores = {}, [], []
        total = sum(len(v[0]) for v in levels.values())
        done = 0
        for corruption, (strengths, reference) in levels.items():
            scores = []
            for level in strengths:
                rng = ctx.rng(f"corruption-{corruption}-{level:g}")
                if corruption == "noise" and space is not None:
                    noisy = gaussian_noise(x, level, rng, mask=space.mask, lower=space.lower, upper=space.upper)
                elif corruption == "blur":
                    noisy = blur_images(x, level)
                else:
                    noisy = delete_tokens(x, level, rng)
                scores.append(score(noisy))
                rows.append([_TITLES[corruption], level, scores[-1], scores[-1] - clean])
                done += 1
                ctx.progress(done / total, f"{corruption} {level:g}")
            all_scores += scores
            head = int(np.argmin(np.abs(np.asarray(strengths) - reference)))
            metrics[f"{corruption}_{stat}"] = scores[head]
            metrics[f"{corruption}_level"] = strengths[head]
            if regression:
                metrics[f"{corruption}_mae_increase"] = scores[head] - clean
            curves[corruption] = {"title": f"{'MAE' if regression else 'Accuracy'} under {_TITLES[corruption].lower()}",
                                  "x_label": _X_LABELS[corruption].format(unit=metrics["unit"]),
                                  "y_label": "MAE (standardised)" if regression else "accuracy",
                                  "x": list(strengths), "series": {_TITLES[corruption]: scores,
                                                                   "clean": [clean] * len(strengths)}}
        mean = float(np.mean(all_scores))
        metrics[f"mean_corrupted_{stat}"] = mean
        if not regression:
            metrics["relative_corrupted_accuracy"] = nan_to_none(mean / clean) if clean > 0 else None
        metrics["curves"] = curves
        metrics["tables"] = {"corruptions": {
            "title": "Score per corruption and strength",
            "columns": ["corruption", "strength", "MAE" if regression else "accuracy",
                        "change from clean"], "rows": [[c, lv, nan_to_none(v), nan_to_none(d)] for c, lv, v, d in rows]}}
        return CheckOutput(metrics=metrics)


def _levels(options: Mapping[str, Any], kind: str) -> dict[str, tuple[tuple[float, ...], float]]:
    defaults = DEFAULT_LEVELS.get(kind, {})
    out: dict[str, tuple[tuple[float, ...], float]] = {}
    for corruption, (strengths, reference) in defaults.items():
        key = {"noise": "noise_levels", "blur": "blur_levels", "dropped_tokens": "drop_rates"}[corruption]
        if corruption == "dropped_tokens":
            chosen = option_rates("corruption", key, options.get(key), strengths)
        else:
            chosen = option_budgets("corruption", key, options.get(key), strengths)
        out[corruption] = (chosen, reference)
    return out
