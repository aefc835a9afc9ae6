"""Shared pieces of the robustness checks: budget and rate options, chunking and report layout helpers."""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from audit.checks._common import nan_to_none, option_name, require_float
from audit.checks.base import AuditContext
from audit.checks.robustness.by_group import GroupSummary
from audit.errors import ConfigError, describe_value

__all__ = ["option_budget", "option_budgets", "option_rates", "chunk_size", "image_entries", "group_rows",
           "GROUP_COLUMNS"]

def option_budget(check: str, key: str, value: Any) -> float:
    """A budget option as a float > 0 (``ConfigError`` naming the option and the value otherwise)."""
    return require_float(check, key, value, 0.0, min_inclusive=False)


def option_budgets(check: str, key: str, value: Any, default: Sequence[float]) -> tuple[float, ...]:
    """A list option of budgets > 0 (None: ``default``), sorted and de-duplicated."""
    if value is None:
        return tuple(sorted(set(default)))
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"The option '{option_name(check, key)}' must be a non-empty list of numbers > 0. "
                          f"Got {describe_value(value)} instead.")
    return tuple(sorted({option_budget(check, key, v) for v in value}))


def option_rates(check: str, key: str, value: Any, default: Sequence[float]) -> tuple[float, ...]:
    """A list option of rates in (0, 1] (None: ``default``), sorted and de-duplicated."""
    if value is None:
        return tuple(sorted(set(default)))
    bad = (isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value
           or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1 for v in value))
    if bad:
        raise ConfigError(f"The option '{option_name(check, key)}' must be a non-empty list of numbers in (0, 1]. "
                          f"Got {describe_value(value)} instead.")
    return tuple(sorted({float(v) for v in value}))


def chunk_size(ctx: AuditContext, n_rows: int, requested: int) -> int:
    """Rows per work item: ``requested`` when > 0, else one batch per worker (at most ``config.batch_size``)."""
    if requested > 0:
        return requested
    ex = ctx.executor
    workers = 1 if ex.backend == "sequential" or ex.n_jobs == 1 else (ex.n_jobs if ex.n_jobs > 0 else os.cpu_count() or 1)
    return max(1, min(ctx.config.batch_size, math.ceil(max(1, n_rows) / workers)))


GROUP_COLUMNS = ["group", "n", "clean accuracy", "robust accuracy", "robust accuracy CI lower",
                 "robust accuracy CI upper", "attack success", "attack success CI lower", "attack success CI upper"]


def group_rows(clean: GroupSummary, robust: GroupSummary, success: GroupSummary) -> list[list[Any]]:
    """Rows of a per-group table (``GROUP_COLUMNS``) from the three summaries over the same groups."""
    rows = []
    for i, g in enumerate(robust.groups):
        j = success.groups.index(g) if g in success.groups else None
        s = (success.mean[j], success.lower[j], success.upper[j]) if j is not None else (np.nan,) * 3
        rows.append([g, int(robust.n[i]), clean.mean[i], robust.mean[i], robust.lower[i], robust.upper[i], *s])
    return [[nan_to_none(c) for c in row] for row in rows]


def _gray(image: np.ndarray, limit: int = 28) -> np.ndarray:
    """(c, h, w) or (h, w) -> (h', w') by channel mean, average-pooled so both sides are <= ``limit``."""
    img = np.asarray(image, dtype=np.float64)
    img = img.mean(axis=0) if img.ndim == 3 else img
    stride = max(1, math.ceil(max(img.shape) / limit))
    if stride > 1:
        h, w = (img.shape[0] // stride) * stride, (img.shape[1] // stride) * stride
        img = img[:h, :w].reshape(h // stride, stride, w // stride, stride).mean(axis=(1, 3))
    return img


def image_entries(originals: np.ndarray, adversarials: np.ndarray, labels: Sequence[str], budget: float,
                  unit: str) -> dict[str, dict[str, Any]]:
    """Report "images" for a few samples: the original, its adversarial version and the signed perturbation."""
    out: dict[str, dict[str, Any]] = {}
    for i, (orig, adv, label) in enumerate(zip(originals, adversarials, labels)):
        o, a = _gray(orig), _gray(adv)
        out[f"sample_{i}_original"] = {"title": f"Sample {i}: original", "caption": label, "kind": "grayscale",
                                       "data": np.round(np.clip(o, 0, 1), 4).tolist()}
        out[f"sample_{i}_adversarial"] = {"title": f"Sample {i}: PGD L-inf {budget:g}", "caption": label,
                                          "kind": "grayscale", "data": np.round(np.clip(a, 0, 1), 4).tolist()}
        out[f"sample_{i}_perturbation"] = {"title": f"Sample {i}: perturbation", "kind": "heatmap",
                                           "caption": f"adversarial - original ({unit})",
                                           "data": np.round(a - o, 5).tolist()}
    return out
