"""The "calibration" check: do the model's stated confidences match how often it is right?

Expected and maximum calibration error (top-label confidence, equal-width bins), Brier score, reliability-diagram
data, the same per sensitive group (per class without one) with bootstrap intervals, and temperature scaling: one
temperature fitted on the validation split by minimising the negative log-likelihood, with the ECE after it.

Temperature scaling works from probabilities alone: ``softmax(log(p) / T)`` equals ``softmax(z / T)`` for the logits
``z`` behind ``p`` (the per-row shift ``logsumexp(z)`` cancels), so black-box models are scaled too.

Headline metrics: ``ece``, ``mce``, ``brier``, ``temperature``, ``ece_after_temperature``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from audit.checks._common import nan_to_none, require_float, require_int
from audit.checks._groups_util import grouping
from audit.checks.base import AuditContext, CheckOutput
from audit.errors import InvalidInputError
from audit.results import Finding

__all__ = ["CalibrationCheck", "ReliabilityBins", "reliability_bins", "expected_calibration_error",
           "maximum_calibration_error", "brier_score", "fit_temperature", "apply_temperature", "negative_log_likelihood"]

_TINY = 1e-12
_T_BOUNDS = (0.05, 20.0)


@dataclass(frozen=True)
class ReliabilityBins:
    """Equal-width bins of top-label confidence.

    Attributes:
        edges: n_bins + 1 edges from 0 to 1.
        count: rows per bin.
        confidence: mean confidence per bin (NaN for empty bins).
        accuracy: share of correct predictions per bin (NaN for empty bins).
    """

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def gap(self) -> np.ndarray:
        """|accuracy - confidence| per bin (NaN for empty bins)."""
        return np.abs(self.accuracy - self.confidence)


def _check(y_true: Any, proba: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y_true)
    if p.ndim != 2 or p.shape[1] < 2:
        raise InvalidInputError(f"The 'proba' argument must have shape (n, k) with k >= 2. Got shape {p.shape} instead.")
    if y.shape != (p.shape[0],):
        raise InvalidInputError(f"The 'y_true' argument must have shape ({p.shape[0]},). Got shape {y.shape} instead.")
    if len(y) and (y.min() < 0 or y.max() >= p.shape[1] or not np.issubdtype(y.dtype, np.integer)):
        raise InvalidInputError(f"The 'y_true' argument must hold class indices in [0, {p.shape[1] - 1}]. "
                                f"Got values from {y.min()} to {y.max()} ({y.dtype}).")
    return y.astype(np.int64), p


def reliability_bins(y_true: Any, proba: Any, n_bins: int = 15) -> ReliabilityBins:
    """Reliability-diagram data: rows binned by top-label confidence (bin ``i`` holds ``[i/n, (i+1)/n)``, the last
    bin also holds 1.0).

    Raises:
        InvalidInputError: shapes or labels do not fit, or ``n_bins`` < 1.
    """
    y, p = _check(y_true, proba)
    require_int(None, "n_bins", n_bins, 1)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    idx = np.clip((conf * n_bins).astype(np.int64), 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(idx, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(idx, weights=correct, minlength=n_bins) / count
    return ReliabilityBins(np.linspace(0.0, 1.0, n_bins + 1), count, confidence, accuracy)


def expected_calibration_error(y_true: Any, proba: Any, n_bins: int = 15) -> float:
    """Top-label ECE: the row-weighted mean of |accuracy - confidence| over bins of the predicted class's confidence
    (0 = perfectly calibrated). The fairness checks' ``positive_class_calibration_error`` bins the positive-class
    probability instead.

    Example:
        >>> expected_calibration_error(np.array([0, 1]), np.array([[0.9, 0.1], [0.9, 0.1]]), n_bins=10)
        0.4
    """
    bins = reliability_bins(y_true, proba, n_bins)
    total = bins.count.sum()
    if total == 0:
        return float("nan")
    used = bins.count > 0
    return float(np.round((bins.count[used] * bins.gap[used]).sum() / total, 12))


def maximum_calibration_error(y_true: Any, proba: Any, n_bins: int = 15) -> float:
    """MCE: the largest |accuracy - confidence| over non-empty confidence bins."""
    bins = reliability_bins(y_true, proba, n_bins)
    used = bins.count > 0
    return float(bins.gap[used].max()) if used.any() else float("nan")


def brier_score(y_true: Any, proba: Any) -> float:
    """Brier score: mean squared error of the probabilities against the one-hot label. Binary models use the
    positive class only (``sklearn.metrics.brier_score_loss``); multiclass sums over classes."""
    y, p = _check(y_true, proba)
    if p.shape[1] == 2:
        return float(np.mean((p[:, 1] - (y == 1)) ** 2))
    onehot = np.eye(p.shape[1])[y]
    return float(np.mean(((p - onehot) ** 2).sum(axis=1)))


def negative_log_likelihood(y_true: Any, proba: Any) -> float:
    """Mean negative log-likelihood of the true class (probabilities clipped at 1e-12)."""
    y, p = _check(y_true, proba)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], _TINY, 1.0))))


def apply_temperature(proba: Any, temperature: float) -> np.ndarray:
    """``softmax(log(p) / T)``: probabilities after temperature scaling (T > 1 softens, T < 1 sharpens)."""
    temperature = require_float(None, "temperature", temperature, 0.0, min_inclusive=False)
    logp = np.log(np.clip(np.asarray(proba, dtype=np.float64), _TINY, 1.0))
    return softmax(logp / float(temperature), axis=1)


def fit_temperature(y_true: Any, proba: Any) -> float:
    """The temperature in [0.05, 20] minimising the negative log-likelihood of ``y_true`` (bounded Brent search over
    log T; deterministic).

    Raises:
        InvalidInputError: shapes or labels do not fit, or no rows.
    """
    y, p = _check(y_true, proba)
    if len(y) == 0:
        raise InvalidInputError("The 'y_true' argument must hold at least 1 row to fit a temperature. Got 0 rows.")
    logp = np.log(np.clip(p, _TINY, 1.0))
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        return float(-log_softmax(logp / np.exp(log_t), axis=1)[rows, y].mean())

    res = minimize_scalar(nll, bounds=tuple(np.log(_T_BOUNDS)), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(res.x))


def _default_options() -> dict[str, Any]:
    return {
        "n_bins": 15,  # equal-width confidence bins
        "n_boot": 200,  # bootstrap resamples for the per-group ECE intervals
        "min_group_size": 10,  # smaller groups get no interval
        "max_val_rows": 20000,  # validation rows used to fit the temperature
    }


@dataclass(frozen=True)
class CalibrationCheck:
    """ECE, MCE, Brier score, reliability diagram (overall and per group) and temperature scaling."""

    name: str = "calibration"
    title: str = "Calibration"
    kinds: frozenset[str] = frozenset({"tabular", "image", "text", "timeseries"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass"})
    needs: frozenset[str] = frozenset({"proba"})
    default_options: Mapping[str, Any] = field(default_factory=_default_options)

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Calibration of the audited test rows; temperature fitted on the validation split."""
        n_bins = require_int(self.name, "n_bins", options.get("n_bins", 15), 1)
        n_boot = require_int(self.name, "n_boot", options.get("n_boot", 200), 1)
        min_size = require_int(self.name, "min_group_size", options.get("min_group_size", 10), 1)
        max_val = require_int(self.name, "max_val_rows", options.get("max_val_rows", 20000), 1)
        y, proba = np.asarray(ctx.test.y).astype(np.int64), ctx.test_proba()
        bins = reliability_bins(y, proba, n_bins)
        conf = proba.max(axis=1)
        acc = float((proba.argmax(axis=1) == y).mean())
        metrics: dict[str, Any] = {
            "ece": expected_calibration_error(y, proba, n_bins), "mce": maximum_calibration_error(y, proba, n_bins),
            "brier": brier_score(y, proba), "nll": negative_log_likelihood(y, proba), "accuracy": acc,
            "mean_confidence": float(conf.mean()), "overconfidence": float(conf.mean()) - acc, "n_bins": n_bins,
        }
        findings: list[Finding] = []
        ctx.progress(0.3, "temperature")
        scaled_bins = None
        val = ctx.dataset.val
        if len(val):
            rows = np.arange(len(val)) if len(val) <= max_val else np.sort(
                ctx.rng("calibration-val").choice(len(val), max_val, replace=False))
            t = fit_temperature(np.asarray(val.y)[rows].astype(np.int64), ctx.model.predict_proba(val.x[rows]))
            scaled = apply_temperature(proba, t)
            scaled_bins = reliability_bins(y, scaled, n_bins)
            metrics.update(temperature=t, ece_after_temperature=expected_calibration_error(y, scaled, n_bins),
                           mce_after_temperature=maximum_calibration_error(y, scaled, n_bins),
                           brier_after_temperature=brier_score(y, scaled), n_val_rows=int(len(rows)))
            if t > 1.05 and metrics["ece_after_temperature"] < metrics["ece"]:
                findings.append(Finding(self.name, "info",
                                        f"The model is over-confident: a temperature of {t:.2f} fitted on the validation "
                                        f"split lowers the ECE from {metrics['ece']:.3f} to "
                                        f"{metrics['ece_after_temperature']:.3f}.", metric="temperature", value=t))
        else:
            findings.append(Finding(self.name, "info", "No validation rows: temperature scaling was not fitted."))
        ctx.progress(0.6, "groups")
        metrics["curves"] = {"reliability": _reliability_curve(bins, scaled_bins)}
        labels = [f"{a:.2f}-{b:.2f}" for a, b in zip(bins.edges[:-1], bins.edges[1:])]
        metrics["bars"] = {"confidence_histogram": {"title": "Rows per confidence bin", "labels": labels,
                                                    "values": bins.count.tolist()}}
        metrics["tables"] = {"reliability": _bins_table(bins)}
        positions = np.arange(len(y))
        for feature, labels in grouping(ctx, positions, y).items():
            metrics["tables"][f"by_group_{feature}"] = _group_table(
                y, proba, labels, n_bins, n_boot, min_size, ctx.rng(f"calibration-groups-{feature}"), feature)
            metrics["curves"][f"reliability_by_{feature}"] = _group_curve(y, proba, labels, n_bins, feature)
        ctx.progress(1.0, "done")
        return CheckOutput(metrics=metrics, findings=findings)


def _reliability_curve(bins: ReliabilityBins, scaled: ReliabilityBins | None) -> dict[str, Any]:
    centres = ((bins.edges[:-1] + bins.edges[1:]) / 2).round(6).tolist()
    series = {"model": [nan_to_none(v) for v in bins.accuracy], "perfectly calibrated": centres}
    if scaled is not None:
        series["after temperature"] = [nan_to_none(v) for v in scaled.accuracy]
    return {"title": "Reliability diagram", "x_label": "confidence (bin centre)", "y_label": "accuracy", "x": centres,
            "series": series}


def _group_curve(y: np.ndarray, proba: np.ndarray, labels: np.ndarray, n_bins: int, feature: str) -> dict[str, Any]:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    centres = ((edges[:-1] + edges[1:]) / 2).round(6).tolist()
    series: dict[str, list[Any]] = {"perfectly calibrated": centres}
    for g in sorted(set(labels.tolist())):
        sel = labels == g
        series[str(g)] = [nan_to_none(v) for v in reliability_bins(y[sel], proba[sel], n_bins).accuracy]
    return {"title": f"Reliability diagram by {feature}", "x_label": "confidence (bin centre)", "y_label": "accuracy",
            "x": centres, "series": series}


def _bins_table(bins: ReliabilityBins) -> dict[str, Any]:
    rows = [[float(lo), float(hi), int(n), nan_to_none(c), nan_to_none(a), nan_to_none(g)]
            for lo, hi, n, c, a, g in zip(bins.edges[:-1], bins.edges[1:], bins.count, bins.confidence, bins.accuracy,
                                          bins.gap)]
    return {"title": "Reliability bins", "columns": ["bin lower", "bin upper", "rows", "mean confidence", "accuracy",
                                                     "gap"], "rows": rows}


def _group_table(y: np.ndarray, proba: np.ndarray, labels: np.ndarray, n_bins: int, n_boot: int, min_size: int,
                 rng: np.random.Generator, feature: str) -> dict[str, Any]:
    rows = []
    for g in sorted(set(labels.tolist())):
        sel = np.flatnonzero(labels == g)
        yg, pg = y[sel], proba[sel]
        ece = expected_calibration_error(yg, pg, n_bins)
        lo = hi = None
        if len(sel) >= min_size:
            draws = [expected_calibration_error(yg[i], pg[i], n_bins)
                     for i in rng.integers(0, len(sel), size=(n_boot, len(sel)))]
            lo, hi = float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))
        rows.append([g, int(len(sel)), float((pg.argmax(axis=1) == yg).mean()), float(pg.max(axis=1).mean()), ece, lo,
                     hi, maximum_calibration_error(yg, pg, n_bins), brier_score(yg, pg)])
    return {"title": f"Calibration by {feature}", "columns": ["group", "n", "accuracy", "mean confidence", "ECE",
                                                              "ECE CI lower", "ECE CI upper", "MCE", "Brier"],
            "rows": [[nan_to_none(c) for c in r] for r in rows],
            "note": f"ECE: top-label expected calibration error (confidence of the predicted class; the fairness "
                    f"tables' calibration_error is the positive-class one). 95% percentile bootstrap intervals "
                    f"({n_boot} resamples); none for groups under {min_size} rows."}
