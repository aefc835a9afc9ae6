"""The "class_disparity" check: per-class disparity for data without a sensitive attribute (images, series).

This is NOT a demographic fairness check: it asks whether some classes are served much worse than others (worst-class
recall against the mean recall), the only bias measure available when no person-level attribute exists. Intervals
come from the same vectorised bootstrap as the group metrics (one pass over resample x cell).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.checks._common import require_float, require_int
from audit.checks.base import AuditContext, CheckOutput
from audit.checks.fairness._bootstrap import bootstrap_cell_sums, gap_interval, percentile_interval
from audit.checks.fairness._tables import fmt
from audit.errors import InvalidInputError
from audit.results import Finding, to_jsonable

__all__ = ["ClassDisparityCheck", "per_class_rates", "SCOPE"]

SCOPE = "per-class disparity, not a demographic fairness check"


def per_class_rates(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Recall, precision and support per class from confusion counts (..., k, k) with rows = true class.

    Returns:
        ``{"recall": (..., k), "precision": (..., k), "support": (..., k), "mean_recall": (...)}``; undefined
        ratios are NaN and the mean recall runs over classes with support.

    Example:
        >>> per_class_rates(np.array([[3, 1], [0, 4]]))["recall"].tolist()
        [0.75, 1.0]
    """
    c = np.asarray(confusion, dtype=np.float64)
    if c.ndim < 2 or c.shape[-1] != c.shape[-2]:
        raise InvalidInputError(f"The 'confusion' argument must have shape (..., k, k). Got {c.shape}.")
    diag = np.diagonal(c, axis1=-2, axis2=-1)
    support = c.sum(axis=-1)
    predicted = c.sum(axis=-2)
    recall = np.full(diag.shape, np.nan)
    np.divide(diag, support, out=recall, where=support > 0)
    precision = np.full(diag.shape, np.nan)
    np.divide(diag, predicted, out=precision, where=predicted > 0)
    with np.errstate(invalid="ignore"):
        present = support > 0
        mean = np.where(present, np.nan_to_num(recall), 0.0).sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)
    return {"recall": recall, "precision": precision, "support": support, "mean_recall": mean}


@dataclass(frozen=True)
class ClassDisparityCheck:
    """Worst-class recall against the mean recall, with bootstrap intervals (per-class, not demographic)."""

    name: str = "class_disparity"
    title: str = "Per-class disparity (not a demographic fairness check)"
    kinds: frozenset[str] = frozenset({"image", "timeseries"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass"})
    needs: frozenset[str] = frozenset({"proba"})
    default_options: Mapping[str, Any] = field(default_factory=lambda: {
        "n_boot": 1000,     # bootstrap resamples
        "ci": 0.95,
        "max_gap": 0.1,     # a significant gap (mean recall - worst-class recall) above this is a warning
        "chunk_size": 100,
    })

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Per-class recall and precision with intervals; the gap of the worst class to the mean."""
        for key in ("n_boot", "chunk_size"):
            require_int(self.name, key, options[key], 1)
        require_float(self.name, "ci", options["ci"], 0, 1, min_inclusive=False, max_inclusive=False)
        proba = ctx.test_proba()
        k = proba.shape[1]
        y = np.asarray(ctx.test.y, dtype=np.int64)
        pred = np.asarray(ctx.test_pred(), dtype=np.int64)
        names = list(ctx.model.class_names) or [str(i) for i in range(k)]
        cells = y * k + pred
        point = per_class_rates(np.bincount(cells, minlength=k * k).reshape(k, k))
        seed = int(ctx.rng("class-disparity").integers(0, 2**31 - 1))
        ctx.progress(0.2, "bootstrap")
        counts, _ = bootstrap_cell_sums(cells, None, k * k, int(options["n_boot"]), seed,
                                        chunk_size=int(options["chunk_size"]), map_fn=ctx.executor.map)
        boot = per_class_rates(counts.reshape(-1, k, k))
        ci = float(options["ci"])
        r_low, r_high = percentile_interval(boot["recall"], ci)
        p_low, p_high = percentile_interval(boot["precision"], ci)
        m_low, m_high = percentile_interval(boot["mean_recall"], ci)
        present = point["support"] > 0
        worst = int(np.nanargmin(np.where(present, point["recall"], np.nan)))
        gap = float(point["mean_recall"] - point["recall"][worst])
        # the worst class is chosen after looking at the data: simultaneous over the k classes
        g_low, g_high = gap_interval(gap, boot["mean_recall"] - boot["recall"][:, worst], ci, int(present.sum()))
        significant = bool(g_low > 0)
        ratio = float(point["recall"][worst] / point["mean_recall"]) if point["mean_recall"] > 0 else None
        metrics = {
            "scope": SCOPE,
            "worst_class": names[worst],
            "worst_class_recall": float(point["recall"][worst]),
            "mean_class_recall": float(point["mean_recall"]),
            "recall_gap": gap,
            "recall_gap_ci_low": float(g_low),
            "recall_gap_ci_high": float(g_high),
            "recall_gap_significant": significant,
            "recall_ratio": ratio,
            "mean_class_recall_ci_low": float(m_low),
            "mean_class_recall_ci_high": float(m_high),
            "tables": {"per_class": {
                "title": f"Recall and precision per class ({SCOPE})",
                "columns": ["class", "support", "recall", "recall_low", "recall_high", "precision", "precision_low",
                            "precision_high", "recall_minus_mean"],
                "rows": [[names[i], int(point["support"][i]), point["recall"][i], r_low[i], r_high[i],
                          point["precision"][i], p_low[i], p_high[i], point["recall"][i] - point["mean_recall"]]
                         for i in range(k)],
                "note": f"{100 * ci:g}% percentile bootstrap over {int(options['n_boot'])} resamples of the audited rows. "
                        "Classes are not people: this measures whether some classes are served worse, not demographic bias.",
            }},
            "bars": {"recall": {"title": "Recall per class", "labels": names, "values": point["recall"],
                                "lower": r_low, "upper": r_high}},
        }
        findings = []
        text = (f"Per-class disparity (not a demographic fairness check): class '{names[worst]}' has recall "
                f"{fmt(point['recall'][worst])} against a mean of {fmt(point['mean_recall'])} (gap {fmt(gap)}, "
                f"{100 * ci:g}% interval {fmt(g_low)} to {fmt(g_high)}).")
        severity = "warning" if significant and gap > float(options["max_gap"]) else "info"
        findings.append(Finding(self.name, severity, text, metric="recall_gap", value=gap,
                                threshold={"max": float(options["max_gap"])} if severity == "warning" else None))
        ctx.progress(1.0, "done")
        return CheckOutput(metrics=to_jsonable(metrics), findings=findings)
