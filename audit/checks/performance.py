"""Evaluation metrics of the audited model on the test rows: classification and regression.

Pure metric functions (``classification_metrics``, ``regression_metrics``, ``confusion``) plus the thin
``PerformanceCheck`` that feeds them the model's predictions and lays the result out for the report.

Classification counts (accuracy, precision, recall, F1, balanced accuracy) come from the confusion matrix and follow
scikit-learn's conventions: macro averages run over the labels present in ``y_true`` or ``y_pred``, a ratio with a
zero denominator counts as 0. Ranking metrics (ROC-AUC, average precision) use the positive class for binary tasks and
the macro one-vs-rest mean over classes present in ``y_true`` for multiclass tasks.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from audit.checks._common import nan_to_none
from audit.checks.base import AuditContext, CheckOutput
from audit.errors import InvalidInputError
from models.training import target_scale

__all__ = [
    "PerformanceCheck",
    "confusion",
    "classification_metrics",
    "regression_metrics",
    "last_value_baseline",
]

_PROBA_EPS = 1e-15


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrix with rows = true class, columns = predicted class.

    Args:
        y_true: class indices in ``[0, n_classes)``, shape (n,).
        y_pred: class indices in ``[0, n_classes)``, shape (n,).
        n_classes: number of classes (size of the matrix).

    Returns:
        int64 array (n_classes, n_classes).

    Raises:
        InvalidInputError: lengths differ or a label lies outside ``[0, n_classes)``.

    Example:
        >>> confusion(np.array([0, 1, 1]), np.array([0, 0, 1]), 2).tolist()
        [[1, 0], [1, 1]]
    """
    yt = _labels("y_true", y_true, n_classes)
    yp = _labels("y_pred", y_pred, n_classes)
    if len(yt) != len(yp):
        raise InvalidInputError(f"The 'y_pred' argument must have {len(yt)} entries like 'y_true'. Got {len(yp)} instead.")
    return np.bincount(yt * n_classes + yp, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Headline and per-class metrics of a classifier from its class probabilities.

    Args:
        y_true: true class indices, shape (n,).
        proba: class probabilities, shape (n, k) with k >= 2; the prediction is the arg max.

    Returns:
        A dict with ``accuracy``, ``balanced_accuracy``, ``precision_macro``, ``recall_macro``, ``f1_macro``,
        ``roc_auc``, ``pr_auc``, ``log_loss`` (floats; ``roc_auc``/``pr_auc`` are NaN when ``y_true`` holds a
        single class), ``n_rows`` and per-class arrays ``precision``, ``recall``, ``f1``, ``support`` (length k)
        and ``confusion_matrix`` (k x k, rows true).

    Raises:
        InvalidInputError: shapes do not match or labels lie outside ``[0, k)``.

    Example:
        >>> m = classification_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]))
        >>> m["accuracy"], m["roc_auc"]
        (1.0, 1.0)
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise InvalidInputError(f"The 'proba' argument must have shape (n, k) with k >= 2. Got shape {p.shape} instead.")
    k = p.shape[1]
    yt = _labels("y_true", y_true, k)
    if len(yt) != len(p) or len(yt) == 0:
        raise InvalidInputError(f"The 'proba' argument must have one row per label ({len(yt)} >= 1). Got {len(p)} rows.")
    yp = p.argmax(axis=1)
    cm = confusion(yt, yp, k)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    seen = (support > 0) | (predicted > 0)  # sklearn's default labels: present in y_true or y_pred
    in_true = support > 0
    roc, ap = _ranking_metrics(yt, p)
    return {
        "accuracy": float(tp.sum() / len(yt)),
        "balanced_accuracy": float(recall[in_true].mean()),
        "precision_macro": float(precision[seen].mean()),
        "recall_macro": float(recall[seen].mean()),
        "f1_macro": float(f1[seen].mean()),
        "roc_auc": roc,
        "pr_auc": ap,
        "log_loss": float(log_loss(yt, _normalised(p), labels=list(range(k)))),
        "n_rows": int(len(yt)),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support.astype(np.int64),
        "confusion_matrix": cm,
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, MSE, RMSE and R2 of regression predictions.

    Args:
        y_true: targets, shape (n,).
        y_pred: predictions, shape (n,).

    Returns:
        ``{"mae", "mse", "rmse", "r2", "n_rows"}``; ``r2`` is NaN when ``y_true`` is constant.

    Raises:
        InvalidInputError: shapes differ, are empty, or hold NaN.

    Example:
        >>> regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))["mae"]
        0.3333333333333333
    """
    yt = np.asarray(y_true, dtype=np.float64).reshape(-1)
    yp = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if yt.shape != yp.shape or yt.size == 0:
        raise InvalidInputError(
            f"The 'y_pred' argument must have the same non-zero length as 'y_true' ({yt.size}). Got {yp.size} instead."
        )
    if not (np.all(np.isfinite(yt)) and np.all(np.isfinite(yp))):
        raise InvalidInputError("The 'y_true' and 'y_pred' arguments must be finite numbers. Got NaN or inf.")
    err = yp - yt
    mse = float(np.mean(err**2))
    ss_tot = float(np.sum((yt - yt.mean()) ** 2))
    r2 = float(1.0 - np.sum(err**2) / ss_tot) if ss_tot > 0 else float("nan")
    return {"mae": float(np.mean(np.abs(err))), "mse": mse, "rmse": float(np.sqrt(mse)), "r2": r2, "n_rows": int(yt.size)}


def last_value_baseline(x: np.ndarray, target_channel: int = 0) -> np.ndarray:
    """The naive forecast "next value = last observed value" of time-series windows.

    Args:
        x: windows (n, window, channels) or (n, window).
        target_channel: the channel holding the forecast target (on the same scale as ``y``).

    Returns:
        float64 (n,) predictions.

    Raises:
        InvalidInputError: ``x`` is not 2-D or 3-D, or the channel does not exist.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2:
        return arr[:, -1]
    if arr.ndim != 3:
        raise InvalidInputError(f"The 'x' argument must have shape (n, window[, channels]). Got shape {arr.shape} instead.")
    if not 0 <= target_channel < arr.shape[2]:
        raise InvalidInputError(
            f"The 'target_channel' argument must lie in [0, {arr.shape[2] - 1}]. Got {target_channel} instead."
        )
    return arr[:, -1, target_channel]


@dataclass(frozen=True)
class PerformanceCheck:
    """Accuracy-style metrics (classification) or error metrics (regression) on the audited test rows."""

    name: str = "performance"
    title: str = "Model performance"
    kinds: frozenset[str] = frozenset({"tabular", "image", "text", "timeseries"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass", "regression"})
    needs: frozenset[str] = frozenset()
    default_options: Mapping[str, Any] = field(default_factory=dict)

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Compute the metrics for ``ctx.model`` on ``ctx.test``."""
        ctx.progress(0.1, "predicting")
        if ctx.model.task == "regression":
            metrics = _regression_layout(ctx)
        else:
            metrics = _classification_layout(ctx.test.y, ctx.test_proba(), ctx.model.class_names)
        ctx.progress(1.0, "done")
        return CheckOutput(metrics=metrics)


def _classification_layout(y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    m = classification_metrics(y_true, proba)
    names = [str(c) for c in class_names] if len(class_names) == proba.shape[1] else [str(i) for i in range(proba.shape[1])]
    out: dict[str, Any] = {key: m[key] for key in ("accuracy", "balanced_accuracy", "precision_macro", "recall_macro",
                                                   "f1_macro", "roc_auc", "pr_auc", "log_loss", "n_rows")}
    for key in ("accuracy", "balanced_accuracy", "roc_auc", "pr_auc", "log_loss"):
        out[key] = nan_to_none(out[key])
    cm = m["confusion_matrix"]
    out["confusion_matrix"] = cm.tolist()
    out["class_names"] = names
    out["tables"] = {
        "per_class": {
            "title": "Per-class precision, recall and F1",
            "columns": ["class", "precision", "recall", "f1", "support"],
            "rows": [[names[i], float(m["precision"][i]), float(m["recall"][i]), float(m["f1"][i]), int(m["support"][i])]
                     for i in range(len(names))],
        },
        "confusion_matrix": {
            "title": "Confusion matrix (rows: true class, columns: predicted class)",
            "columns": ["true \\ predicted", *names],
            "rows": [[names[i], *[int(v) for v in cm[i]]] for i in range(len(names))],
        },
    }
    return out


def _regression_layout(ctx: AuditContext) -> dict[str, Any]:
    y_true = np.asarray(ctx.test.y, dtype=np.float64)
    y_pred = np.asarray(ctx.test_pred(), dtype=np.float64)
    m = regression_metrics(y_true, y_pred)
    out: dict[str, Any] = {key: nan_to_none(value) for key, value in m.items()}
    out["n_rows"] = m["n_rows"]
    rows = [["model (standardised units)", m["mae"], m["mse"], m["rmse"], nan_to_none(m["r2"])]]
    scale = target_scale(ctx.dataset.metadata)
    if scale is not None:
        out["mae_original"] = m["mae"] * scale
        out["mse_original"] = m["mse"] * scale**2
        out["rmse_original"] = m["rmse"] * scale
        rows.append(["model (original units)", out["mae_original"], out["mse_original"], out["rmse_original"],
                     nan_to_none(m["r2"])])
    forecasting = _is_forecasting(ctx)
    if forecasting:
        baseline = last_value_baseline(ctx.test.x, 0)
        b = regression_metrics(y_true, baseline)
        out["baseline_mae"] = b["mae"]
        out["baseline_rmse"] = b["rmse"]
        out["mae_improvement"] = nan_to_none(1.0 - m["mae"] / b["mae"]) if b["mae"] > 0 else None
        rows.append(["last-value baseline (standardised units)", b["mae"], b["mse"], b["rmse"], nan_to_none(b["r2"])])
        if scale is not None:
            out["baseline_mae_original"] = b["mae"] * scale
    out["tables"] = {
        "errors": {
            "title": "Regression errors",
            "columns": ["model", "MAE", "MSE", "RMSE", "R2"],
            "rows": rows,
            "note": "mae_improvement = 1 - MAE(model) / MAE(last-value baseline); > 0 means the model beats it."
            if forecasting else "",
        }
    }
    return out


def _is_forecasting(ctx: AuditContext) -> bool:
    """Windows of one series whose next value is the target, on the same scale (the built-in forecasting data)."""
    x = np.asarray(ctx.test.x)
    return (ctx.dataset.kind == "timeseries" and x.ndim == 3 and x.shape[2] == 1
            and "target_positions" in ctx.dataset.metadata)


def _ranking_metrics(y_true: np.ndarray, proba: np.ndarray) -> tuple[float, float]:
    k = proba.shape[1]
    if k == 2:
        if len(np.unique(y_true)) < 2:
            return float("nan"), float("nan")
        positive = (y_true == 1).astype(np.int64)
        return float(roc_auc_score(positive, proba[:, 1])), float(average_precision_score(positive, proba[:, 1]))
    rocs, aps = [], []
    for c in range(k):
        positive = (y_true == c).astype(np.int64)
        if 0 < positive.sum() < len(positive):
            rocs.append(roc_auc_score(positive, proba[:, c]))
            aps.append(average_precision_score(positive, proba[:, c]))
    if not rocs:
        return float("nan"), float("nan")
    return float(np.mean(rocs)), float(np.mean(aps))


def _labels(name: str, y: np.ndarray, n_classes: int) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise InvalidInputError(f"The '{name}' argument must be 1-D class indices. Got shape {arr.shape} instead.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise InvalidInputError(f"The '{name}' argument must hold integer class indices. Got dtype {arr.dtype}.")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise InvalidInputError(
            f"The '{name}' argument must hold class indices in [0, {n_classes - 1}]. "
            f"Got values from {arr.min()} to {arr.max()} instead."
        )
    return arr


def _normalised(p: np.ndarray) -> np.ndarray:
    """Rows clipped to [eps, 1] and rescaled to sum to 1 exactly (float32 model outputs drift by ~1e-7)."""
    q = np.clip(p, _PROBA_EPS, 1.0)
    return q / q.sum(axis=1, keepdims=True)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out
