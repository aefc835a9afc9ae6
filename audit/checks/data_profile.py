"""A profile of the audited data: label balance per split and per sensitive group, numeric feature summaries,
train/test drift per original feature and a leakage screen (features that alone predict the label).

Pure functions (``ks_statistic``, ``total_variation``, ``population_stability_index``, ``single_feature_score``)
plus the thin ``DataProfileCheck``. Tabular data gets the full profile; other kinds get the label balance only. Group
labels of sensitive columns come from ``audit.checks._groups_util.group_labels``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, ks_2samp
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from audit.checks._common import require_float, require_int
from audit.checks._groups_util import group_labels
from audit.checks.base import AuditContext, CheckOutput
from audit.errors import InvalidInputError
from audit.results import Finding
from models.dataset import Dataset, Split

__all__ = [
    "DataProfileCheck",
    "ks_statistic",
    "total_variation",
    "population_stability_index",
    "category_test",
    "single_feature_score",
]

_SPLITS = ("train", "val", "test")
_QUANTILES = (0.25, 0.5, 0.75)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value (NaN values are dropped).

    Args:
        a: first sample, shape (n,).
        b: second sample, shape (m,).

    Returns:
        ``(statistic, p_value)``; ``(nan, nan)`` when a sample is empty after dropping NaN.

    Example:
        >>> ks_statistic(np.array([0.0, 1.0]), np.array([5.0, 6.0]))[0]
        1.0
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size == 0 or y.size == 0:
        return float("nan"), float("nan")
    res = ks_2samp(x, y)
    return float(res.statistic), float(res.pvalue)


def _shares(a: Sequence[Any], b: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    sa = pd.Series(np.asarray(a, dtype=object)).astype(str).value_counts(normalize=True)
    sb = pd.Series(np.asarray(b, dtype=object)).astype(str).value_counts(normalize=True)
    cats = sorted(set(sa.index) | set(sb.index))
    return sa.reindex(cats, fill_value=0.0).to_numpy(float), sb.reindex(cats, fill_value=0.0).to_numpy(float), cats


def total_variation(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Total variation distance between the category distributions of two samples: ``0.5 * sum |p - q|``.

    Example:
        >>> total_variation(["x", "x"], ["x", "y"])
        0.5
    """
    if len(a) == 0 or len(b) == 0:
        raise InvalidInputError(f"The samples must be non-empty. Got lengths {len(a)} and {len(b)}.")
    p, q, _ = _shares(a, b)
    return float(0.5 * np.abs(p - q).sum())


def category_test(a: Sequence[Any], b: Sequence[Any]) -> float:
    """p-value of the chi-square test that two samples share one category distribution (1.0 for one category).

    Example:
        >>> category_test(["x", "y"] * 50, ["x", "y"] * 50)
        1.0
    """
    sa = pd.Series(np.asarray(a, dtype=object)).astype(str).value_counts()
    sb = pd.Series(np.asarray(b, dtype=object)).astype(str).value_counts()
    cats = sorted(set(sa.index) | set(sb.index))
    if len(cats) < 2 or sa.sum() == 0 or sb.sum() == 0:
        return 1.0
    table = np.stack([sa.reindex(cats, fill_value=0).to_numpy(), sb.reindex(cats, fill_value=0).to_numpy()])
    return float(chi2_contingency(table).pvalue)


def population_stability_index(a: Sequence[Any], b: Sequence[Any], eps: float = 1e-4) -> float:
    """PSI between category distributions: ``sum (p - q) * ln(p / q)`` with shares floored at ``eps``.

    Example:
        >>> population_stability_index(["x", "y"], ["x", "y"])
        0.0
    """
    if len(a) == 0 or len(b) == 0:
        raise InvalidInputError(f"The samples must be non-empty. Got lengths {len(a)} and {len(b)}.")
    p, q, _ = _shares(a, b)
    p, q = np.maximum(p, eps), np.maximum(q, eps)
    return float(np.sum((p - q) * np.log(p / q)))


def single_feature_score(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *,
                         task: str, max_depth: int = 3, seed: int = 0) -> float:
    """How well one feature (its encoded columns) alone predicts the label, on held-out rows.

    A depth-limited decision tree is fitted on the training rows and scored on the test rows: ROC-AUC for binary
    tasks (``max(auc, 1 - auc)``), macro one-vs-rest AUC for multiclass tasks, R2 for regression.

    Args:
        x_train: encoded columns of the feature, (n, c) or (n,).
        y_train: labels, (n,).
        x_test: the same columns on the held-out rows.
        y_test: held-out labels.
        task: "binary" | "multiclass" | "regression".
        max_depth: depth of the tree.
        seed: tree random state.

    Returns:
        The score (NaN when the held-out labels hold a single class).

    Raises:
        InvalidInputError: unknown ``task``.
    """
    xtr = np.asarray(x_train, dtype=np.float64).reshape(len(x_train), -1)
    xte = np.asarray(x_test, dtype=np.float64).reshape(len(x_test), -1)
    xtr, xte = np.nan_to_num(xtr), np.nan_to_num(xte)
    if task == "regression":
        reg = DecisionTreeRegressor(max_depth=max_depth, random_state=seed).fit(xtr, y_train)
        return float(r2_score(y_test, reg.predict(xte))) if np.ptp(y_test) > 0 else float("nan")
    if task not in ("binary", "multiclass"):
        raise InvalidInputError(f"The 'task' argument must be 'binary', 'multiclass' or 'regression'. Got {task!r}.")
    tree = DecisionTreeClassifier(max_depth=max_depth, random_state=seed).fit(xtr, y_train)
    proba = tree.predict_proba(xte)
    classes = list(tree.classes_)
    yte = np.asarray(y_test)
    aucs = []
    targets = [classes[-1]] if task == "binary" and len(classes) == 2 else sorted(set(np.unique(yte)))
    for c in targets:
        positive = (yte == c).astype(int)
        if not 0 < positive.sum() < len(positive):
            continue
        score = proba[:, classes.index(c)] if c in classes else np.zeros(len(yte))
        auc = float(roc_auc_score(positive, score))
        aucs.append(max(auc, 1.0 - auc))
    return float(np.mean(aucs)) if aucs else float("nan")


@dataclass(frozen=True)
class DataProfileCheck:
    """Label balance, feature summaries, train/test drift and a single-feature leakage screen."""

    name: str = "data_profile"
    title: str = "Data profile"
    kinds: frozenset[str] = frozenset({"tabular", "image", "text", "timeseries"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass", "regression", "generative"})
    needs: frozenset[str] = frozenset()
    default_options: Mapping[str, Any] = field(default_factory=lambda: {
        "drift_threshold": 0.1,  # KS statistic (numeric) or total variation (categorical) above which a feature drifts
        "drift_alpha": 0.01,  # ... and only when the KS / chi-square test rejects equal distributions at this level
        "leakage_auc": 0.98,  # single-feature AUC above which a feature is named as likely leakage
        "leakage_r2": 0.95,  # regression: single-feature R2 above which a feature is named
        "max_rows": 20000,  # rows per split used by the leakage trees (seeded sample when larger)
        "tree_depth": 3,  # depth of the single-feature trees
    })

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Profile ``ctx.dataset``."""
        _validate(options)
        ds = ctx.dataset
        task = ds.task if ds.task in ("binary", "multiclass", "regression") else (
            "multiclass" if ds.class_names else "regression")
        tables: dict[str, Any] = {"label_balance": _label_balance(ds, task)}
        groups = _group_balance(ds, task, ctx.sensitive_features, ctx.config.age_bins)
        if groups is not None:
            tables["label_balance_by_group"] = groups
        metrics: dict[str, Any] = {"rows_train": len(ds.train), "rows_val": len(ds.val), "rows_test": len(ds.test)}
        findings: list[Finding] = []
        if task != "regression" and len(ds.train):
            counts = np.bincount(np.asarray(ds.train.y, dtype=np.int64), minlength=max(1, ds.n_classes))
            metrics["minority_class_share"] = float(counts.min() / counts.sum())
        ctx.progress(0.2, "label balance")
        if ds.kind == "tabular" and ds.feature_groups:
            tables["numeric_summary"] = _numeric_summary(ds)
            by_group = _feature_means_by_group(ds, ctx.sensitive_features, ctx.config.age_bins)
            if by_group is not None:
                tables["feature_means_by_group"] = by_group
            ctx.progress(0.4, "drift")
            drift_rows = _drift(ds)
            threshold, alpha = float(options["drift_threshold"]), float(options["drift_alpha"])
            drifting = [r[0] for r in drift_rows if r[2] is not None and r[2] > threshold and r[4] is not None
                        and r[4] < alpha]
            stats = [r[2] for r in drift_rows if r[2] is not None]
            metrics["max_drift"] = float(max(stats)) if stats else None
            metrics["n_drifting_features"] = len(drifting)
            tables["drift"] = {
                "title": "Train vs test drift per feature",
                "columns": ["feature", "type", "statistic", "psi", "p_value", "drifting"],
                "rows": [[*r[:5], "yes" if r[0] in drifting else "no"] for r in drift_rows],
                "note": f"statistic: KS (numeric) or total variation (categorical); p_value: KS or chi-square test; "
                        f"drifting when statistic > {threshold:g} and p_value < {alpha:g}.",
            }
            if drifting:
                findings.append(Finding(self.name, "warning",
                                        f"Train and test distributions differ for {len(drifting)} feature(s): "
                                        f"{', '.join(drifting)} (statistic > {threshold:g}, p < {alpha:g}).",
                                        metric="max_drift", value=metrics["max_drift"], threshold={"max": threshold}))
            ctx.progress(0.6, "leakage")
            metrics_l, table_l, finding_l = self._leakage(ctx, ds, task, options)
            metrics.update(metrics_l)
            tables["single_feature"] = table_l
            findings.extend(finding_l)
        metrics["tables"] = tables
        ctx.progress(1.0, "done")
        return CheckOutput(metrics=metrics, findings=findings)

    def _leakage(self, ctx: AuditContext, ds: Dataset, task: str,
                 options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[Finding]]:
        rng = ctx.rng("data_profile-leakage")
        limit = int(options["max_rows"])
        tr = _rows(len(ds.train), limit, rng)
        te = _rows(len(ds.test), limit, rng)
        ytr, yte = np.asarray(ds.train.y)[tr], np.asarray(ds.test.y)[te]
        xtr, xte = np.asarray(ds.train.x)[tr], np.asarray(ds.test.x)[te]
        scores = []
        for feature, cols in ds.feature_groups.items():
            s = single_feature_score(xtr[:, cols], ytr, xte[:, cols], yte, task=task,
                                     max_depth=int(options["tree_depth"]), seed=ctx.seed)
            scores.append((feature, s))
        scores.sort(key=lambda fs: -np.nan_to_num(fs[1], nan=-np.inf))
        key, label = ("max_single_feature_r2", "R2") if task == "regression" else ("max_single_feature_auc", "AUC")
        limit_value = float(options["leakage_r2" if task == "regression" else "leakage_auc"])
        finite = [(f, s) for f, s in scores if np.isfinite(s)]
        out: dict[str, Any] = {key: float(finite[0][1]) if finite else None,
                               "most_predictive_feature": finite[0][0] if finite else None}
        table = {"title": f"Single-feature {label} (a depth-{int(options['tree_depth'])} tree per original feature, "
                          "fitted on train, scored on test)",
                 "columns": ["feature", label], "rows": [[f, float(s) if np.isfinite(s) else None] for f, s in scores]}
        leaks = [f for f, s in finite if s > limit_value]
        findings = []
        if leaks:
            findings.append(Finding(self.name, "warning",
                                    f"Possible leakage: {', '.join(leaks)} alone predict(s) the label almost perfectly "
                                    f"(single-feature {label} > {limit_value:g}).",
                                    metric=key, value=out[key], threshold={"max": limit_value}))
        return out, table, findings


def _validate(options: Mapping[str, Any]) -> None:
    for key in ("drift_threshold", "drift_alpha", "leakage_auc", "leakage_r2"):
        require_float("data_profile", key, options[key], 0, 1, min_inclusive=False)
    for key, low in (("max_rows", 10), ("tree_depth", 1)):
        require_int("data_profile", key, options[key], low)


def _rows(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= limit else np.sort(rng.choice(n, size=limit, replace=False))


def _label_balance(ds: Dataset, task: str) -> dict[str, Any]:
    splits = [(name, ds.split(name)) for name in _SPLITS if len(ds.split(name))]
    if task == "regression":
        rows = []
        for name, sp in splits:
            y = np.asarray(sp.y, dtype=np.float64)
            rows.append([name, int(len(y)), float(y.mean()), float(y.std()), float(y.min()),
                         *[float(q) for q in np.quantile(y, _QUANTILES)], float(y.max())])
        return {"title": "Target distribution per split", "rows": rows,
                "columns": ["split", "n", "mean", "std", "min", "q25", "median", "q75", "max"]}
    names = _class_names(ds)
    counts = {name: np.bincount(np.asarray(sp.y, dtype=np.int64), minlength=len(names)) for name, sp in splits}
    rows = [[names[c], *[v for name, _ in splits for v in (int(counts[name][c]), float(counts[name][c] / counts[name].sum()))]]
            for c in range(len(names))]
    columns = ["class", *[f"{name} {what}" for name, _ in splits for what in ("n", "share")]]
    return {"title": "Label balance per split", "columns": columns, "rows": rows}


def _class_names(ds: Dataset) -> list[str]:
    k = max([len(ds.class_names)] + [int(np.max(sp.y)) + 1 for sp in (ds.train, ds.val, ds.test) if len(sp)])
    return [str(c) for c in ds.class_names] if len(ds.class_names) == k else [str(i) for i in range(k)]


def _sensitive_of(sp: Split, column: str) -> pd.Series | None:
    if column in sp.sensitive.columns and len(sp.sensitive) == len(sp):
        return sp.sensitive[column].reset_index(drop=True)
    if sp.raw is not None and column in sp.raw.columns and len(sp.raw) == len(sp):
        return sp.raw[column].reset_index(drop=True)
    return None


def _group_balance(ds: Dataset, task: str, sensitive: list[str], bins: Sequence[float]) -> dict[str, Any] | None:
    if not sensitive:
        return None
    names = None if task == "regression" else _class_names(ds)
    rows = []
    for feature in sensitive:
        for split_name in _SPLITS:
            sp = ds.split(split_name)
            col = _sensitive_of(sp, feature)
            if col is None or not len(sp):
                continue
            labels = group_labels(col, bins)
            y = np.asarray(sp.y)
            for g in sorted(set(labels)):
                mask = labels == g
                if names is None:
                    values = [float(np.mean(y[mask]))]
                else:
                    values = [float(v) for v in np.bincount(y[mask].astype(np.int64), minlength=len(names)) / mask.sum()]
                rows.append([feature, str(g), split_name, int(mask.sum()), float(mask.mean()), *values])
    if not rows:
        return None
    tail = ["mean target"] if names is None else [f"share {c}" for c in names]
    return {"title": "Label balance per sensitive group", "rows": rows,
            "columns": ["sensitive feature", "group", "split", "n", "share of split", *tail]}


def _feature_values(ds: Dataset, sp: Split, feature: str) -> tuple[np.ndarray, str]:
    """Raw numeric values of ``feature`` in ``sp`` when the raw rows carry it, else its encoded column."""
    if sp.raw is not None and feature in sp.raw.columns and len(sp.raw) == len(sp):
        values = pd.to_numeric(sp.raw[feature], errors="coerce").to_numpy(dtype=np.float64)
        return values, "raw"
    return np.asarray(sp.x[:, ds.feature_groups[feature][0]], dtype=np.float64), "encoded"


def _categories(ds: Dataset, sp: Split, feature: str) -> np.ndarray:
    """Category of each row: the raw value when available, else the name of the hot column of the one-hot block."""
    if sp.raw is not None and feature in sp.raw.columns and len(sp.raw) == len(sp):
        s = sp.raw[feature]
        return s.astype(object).where(s.notna(), "missing").astype(str).to_numpy(dtype=object)
    cols = ds.feature_groups[feature]
    block = np.asarray(sp.x[:, cols], dtype=np.float64)
    names = np.array([ds.feature_names[c] if c < len(ds.feature_names) else str(c) for c in cols] + ["(none)"], dtype=object)
    hot = np.where(block.max(axis=1) > 0, block.argmax(axis=1), len(cols))
    return names[hot]


def _is_numeric(ds: Dataset, feature: str) -> bool:
    return feature in ds.continuous_features or (len(ds.feature_groups[feature]) == 1 and not ds.continuous_features)


def _numeric_summary(ds: Dataset) -> dict[str, Any]:
    rows = []
    for feature in ds.feature_groups:
        if not _is_numeric(ds, feature):
            continue
        for split_name in _SPLITS:
            sp = ds.split(split_name)
            if not len(sp):
                continue
            v, source = _feature_values(ds, sp, feature)
            ok = v[np.isfinite(v)]
            stats = [None] * 8 if ok.size == 0 else [
                float(ok.mean()), float(ok.std()), float(ok.min()), *[float(q) for q in np.quantile(ok, _QUANTILES)],
                float(ok.max()), float(1 - ok.size / v.size)]
            rows.append([feature, split_name, source, *stats])
    return {"title": "Numeric features per split", "rows": rows,
            "columns": ["feature", "split", "source", "mean", "std", "min", "q25", "median", "q75", "max", "missing share"]}


def _feature_means_by_group(ds: Dataset, sensitive: list[str], bins: Sequence[float]) -> dict[str, Any] | None:
    numeric = [f for f in ds.feature_groups if _is_numeric(ds, f)]
    if not sensitive or not numeric:
        return None
    rows = []
    for feature in sensitive:
        for split_name in ("train", "test"):
            sp = ds.split(split_name)
            col = _sensitive_of(sp, feature)
            if col is None or not len(sp):
                continue
            labels = group_labels(col, bins)
            values = {f: _feature_values(ds, sp, f)[0] for f in numeric}
            for g in sorted(set(labels)):
                mask = labels == g
                rows.append([feature, str(g), split_name, int(mask.sum()),
                             *[float(np.nanmean(values[f][mask])) if np.isfinite(values[f][mask]).any() else None
                               for f in numeric]])
    if not rows:
        return None
    return {"title": "Mean of each numeric feature per sensitive group", "rows": rows,
            "columns": ["sensitive feature", "group", "split", "n", *numeric]}


def _drift(ds: Dataset) -> list[list[Any]]:
    rows = []
    for feature in ds.feature_groups:
        if _is_numeric(ds, feature):
            a, _ = _feature_values(ds, ds.train, feature)
            b, _ = _feature_values(ds, ds.test, feature)
            stat, p = ks_statistic(a, b)
            rows.append([feature, "numeric", None if np.isnan(stat) else stat, None, None if np.isnan(p) else p])
        else:
            a, b = _categories(ds, ds.train, feature), _categories(ds, ds.test, feature)
            if len(a) and len(b):
                rows.append([feature, "categorical", total_variation(a, b), population_stability_index(a, b),
                             category_test(a, b)])
    rows.sort(key=lambda r: -(r[2] if r[2] is not None else -1.0))
    return rows
