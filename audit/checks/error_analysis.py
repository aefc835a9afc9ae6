"""Where errors concentrate: a shallow decision tree fitted on the error indicator of the test rows over the
original features and sensitive attributes; each leaf is a readable cohort with its size, error rate and share of
all errors (like Microsoft's Error Analysis or Deepchecks' weak segments).

Pure functions (``error_indicator``, ``design_matrix``, ``error_cohorts``) plus the thin ``ErrorAnalysisCheck``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

from audit.checks._common import require_float, require_int
from audit.checks.base import AuditContext, CheckOutput
from audit.errors import InvalidInputError
from audit.results import Finding
from models.dataset import Split

__all__ = ["ErrorAnalysisCheck", "Cohort", "Column", "error_indicator", "design_matrix", "error_cohorts"]

_MAX_LEVELS = 30  # categories kept per categorical column (the rarest are pooled as "other")


@dataclass(frozen=True)
class Column:
    """One column of the design matrix: a numeric source column, or one category of a categorical one."""

    source: str
    category: str | None = None  # None: numeric


@dataclass(frozen=True)
class Cohort:
    """One leaf of the error tree.

    Attributes:
        rule: readable conjunction of conditions ("sex = Female and age <= 30.5"; "all rows" for a stump).
        size: rows in the cohort.
        errors: erroneous rows in the cohort.
        error_rate: errors / size.
        error_share: errors / all errors.
        row_share: size / all rows.
        rows: positions of its rows in the analysed data.
    """

    rule: str
    size: int
    errors: int
    error_rate: float
    error_share: float
    row_share: float
    rows: np.ndarray


def error_indicator(task: str, y_true: np.ndarray, y_pred: np.ndarray, quantile: float = 0.8) -> np.ndarray:
    """1 where the model errs: a wrong class, or (regression) an absolute error above its ``quantile``.

    Args:
        task: "binary" | "multiclass" | "regression".
        y_true: labels or targets (n,).
        y_pred: predicted classes or values (n,).
        quantile: regression only: errors above this quantile of the absolute errors count as errors.

    Returns:
        int64 (n,) of 0/1.

    Raises:
        InvalidInputError: unknown task, a quantile outside (0, 1) or mismatched lengths.

    Example:
        >>> error_indicator("binary", np.array([0, 1, 1]), np.array([0, 0, 1])).tolist()
        [0, 1, 0]
    """
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    if yt.shape != yp.shape:
        raise InvalidInputError(f"The 'y_pred' argument must have shape {yt.shape} like 'y_true'. Got {yp.shape}.")
    if task in ("binary", "multiclass"):
        return (yt.astype(np.int64) != yp.astype(np.int64)).astype(np.int64)
    if task != "regression":
        raise InvalidInputError(f"The 'task' argument must be 'binary', 'multiclass' or 'regression'. Got {task!r}.")
    require_float(None, "quantile", quantile, 0.0, 1.0, min_inclusive=False, max_inclusive=False)
    err = np.abs(yp.astype(np.float64) - yt.astype(np.float64))
    return (err > np.quantile(err, quantile)).astype(np.int64)


def design_matrix(frame: pd.DataFrame) -> tuple[np.ndarray, list[Column]]:
    """Numeric columns as they are (NaN -> median), categorical columns one-hot encoded.

    Args:
        frame: the original features (and sensitive attributes), one row per sample.

    Returns:
        ``(x, columns)``: float64 (n, p) and what each column means.
    """
    parts: list[np.ndarray] = []
    columns: list[Column] = []
    for name in frame.columns:
        s = frame[name].reset_index(drop=True)
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = s.to_numpy(dtype=np.float64)
            fill = np.nanmedian(v) if np.isfinite(v).any() else 0.0
            parts.append(np.where(np.isfinite(v), v, fill)[:, None])
            columns.append(Column(str(name)))
            continue
        labels = s.astype(object).where(s.notna(), "missing").astype(str)
        counts = labels.value_counts()
        if len(counts) > _MAX_LEVELS:
            keep = set(counts.index[: _MAX_LEVELS - 1])
            labels = labels.where(labels.isin(keep), "other")
        for level in sorted(labels.unique()):
            parts.append((labels.to_numpy() == level).astype(np.float64)[:, None])
            columns.append(Column(str(name), str(level)))
    x = np.hstack(parts) if parts else np.zeros((len(frame), 0))
    return x, columns


def error_cohorts(x: np.ndarray, columns: list[Column], errors: np.ndarray, *, max_depth: int = 3,
                  min_samples_leaf: int = 20, seed: int = 0) -> list[Cohort]:
    """Fit a shallow tree on the error indicator and describe each leaf; sorted by error rate (highest first).

    Args:
        x: design matrix (n, p) from :func:`design_matrix`.
        columns: meaning of each column of ``x``.
        errors: 0/1 error indicator (n,).
        max_depth: depth of the tree.
        min_samples_leaf: smallest leaf.
        seed: tree random state.

    Returns:
        One ``Cohort`` per leaf.

    Raises:
        InvalidInputError: shapes disagree or there are no rows.
    """
    err = np.asarray(errors, dtype=np.int64)
    if x.ndim != 2 or len(x) != len(err) or len(err) == 0 or x.shape[1] != len(columns):
        raise InvalidInputError(
            f"The 'x' argument must have shape (n, {len(columns)}) with n = len(errors) = {len(err)} >= 1. "
            f"Got shape {x.shape}."
        )
    total_errors = max(int(err.sum()), 1)
    if x.shape[1] == 0 or err.min() == err.max():
        leaves = {"all rows": np.arange(len(err))}
    else:
        tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=seed)
        tree.fit(x, err)
        rules = _leaf_rules(tree, columns)
        leaf_of = tree.apply(x)
        leaves = {rules[leaf]: np.flatnonzero(leaf_of == leaf) for leaf in sorted(rules)}
    cohorts = []
    for rule, rows in leaves.items():
        e = int(err[rows].sum())
        cohorts.append(Cohort(rule=rule, size=int(len(rows)), errors=e, error_rate=e / len(rows),
                              error_share=e / total_errors if err.sum() else 0.0, row_share=len(rows) / len(err),
                              rows=rows))
    cohorts.sort(key=lambda c: (-c.error_rate, -c.size, c.rule))
    return cohorts


def _leaf_rules(tree: DecisionTreeClassifier, columns: list[Column]) -> dict[int, str]:
    t = tree.tree_
    out: dict[int, str] = {}
    stack: list[tuple[int, list[tuple[int, bool, float]]]] = [(0, [])]
    while stack:
        node, conds = stack.pop()
        if t.children_left[node] == t.children_right[node]:  # leaf
            out[node] = _format_rule(conds, columns)
            continue
        f, thr = int(t.feature[node]), float(t.threshold[node])
        stack.append((int(t.children_left[node]), conds + [(f, True, thr)]))  # x[f] <= thr
        stack.append((int(t.children_right[node]), conds + [(f, False, thr)]))
    return out


def _format_rule(conds: list[tuple[int, bool, float]], columns: list[Column]) -> str:
    if not conds:
        return "all rows"
    order: list[str] = []
    numeric: dict[str, list[float]] = {}  # source -> [lower (exclusive), upper (inclusive)]
    equal: dict[str, str] = {}
    not_equal: dict[str, list[str]] = {}
    for f, left, thr in conds:
        col = columns[f]
        if col.source not in order:
            order.append(col.source)
        if col.category is None:
            lo, hi = numeric.setdefault(col.source, [-np.inf, np.inf])
            numeric[col.source] = [lo, min(hi, thr)] if left else [max(lo, thr), hi]
        elif left:  # indicator <= 0.5: not this category
            not_equal.setdefault(col.source, []).append(col.category)
        else:
            equal[col.source] = col.category
    parts = []
    for source in order:
        if source in numeric:
            lo, hi = numeric[source]
            if np.isfinite(lo) and np.isfinite(hi):
                parts.append(f"{lo:.4g} < {source} <= {hi:.4g}")
            elif np.isfinite(hi):
                parts.append(f"{source} <= {hi:.4g}")
            else:
                parts.append(f"{source} > {lo:.4g}")
        elif source in equal:
            parts.append(f"{source} = {equal[source]}")
        else:
            cats = sorted(set(not_equal[source]))
            parts.append(f"{source} != {cats[0]}" if len(cats) == 1 else f"{source} not in {{{', '.join(cats)}}}")
    return " and ".join(parts)


def _feature_frame(split: Split, feature_names: list[str], sensitive: list[str]) -> pd.DataFrame:
    if split.raw is not None and len(split.raw) == len(split):
        frame = split.raw.reset_index(drop=True).copy()
    else:
        x = np.asarray(split.x, dtype=np.float64).reshape(len(split), -1)
        names = feature_names if len(feature_names) == x.shape[1] else [f"x{i}" for i in range(x.shape[1])]
        frame = pd.DataFrame(x, columns=names)
    if len(split.sensitive) == len(split):
        for name in sensitive:
            if name in split.sensitive.columns and name not in frame.columns:
                frame[name] = split.sensitive[name].reset_index(drop=True).to_numpy()
    return frame


@dataclass(frozen=True)
class ErrorAnalysisCheck:
    """Cohorts (readable rules over the original features) where the model's errors concentrate."""

    name: str = "error_analysis"
    title: str = "Error analysis: where errors concentrate"
    kinds: frozenset[str] = frozenset({"tabular"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass", "regression"})
    needs: frozenset[str] = frozenset()
    default_options: Mapping[str, Any] = field(default_factory=lambda: {
        "max_depth": 3,  # depth of the error tree (at most 2**max_depth cohorts)
        "min_samples_leaf": 20,  # smallest cohort the tree may form
        "min_cohort_size": 30,  # cohorts smaller than this never raise a warning
        "error_ratio": 2.0,  # warn when a cohort's error rate is at least this multiple of the overall rate
        "error_quantile": 0.8,  # regression: absolute errors above this quantile count as errors
    })

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Find the error cohorts of ``ctx.model`` on ``ctx.test``."""
        for key, low in (("max_depth", 1), ("min_samples_leaf", 1), ("min_cohort_size", 1)):
            require_int(self.name, key, options[key], low)
        require_float(self.name, "error_ratio", options["error_ratio"], 1.0, min_inclusive=False)
        task = ctx.model.task
        ctx.progress(0.1, "predicting")
        err = error_indicator(task, np.asarray(ctx.test.y), np.asarray(ctx.test_pred()), float(options["error_quantile"]))
        frame = _feature_frame(ctx.test, ctx.dataset.feature_names, ctx.sensitive_features)
        x, columns = design_matrix(frame)
        ctx.progress(0.4, "fitting the error tree")
        cohorts = error_cohorts(x, columns, err, max_depth=int(options["max_depth"]),
                                min_samples_leaf=int(options["min_samples_leaf"]), seed=ctx.seed)
        overall = float(err.mean())
        min_size = int(options["min_cohort_size"])
        eligible = [c for c in cohorts if c.size >= min_size] or cohorts
        worst = eligible[0]
        abs_err = None
        if task == "regression":
            abs_err = np.abs(np.asarray(ctx.test_pred(), dtype=np.float64) - np.asarray(ctx.test.y, dtype=np.float64))
        rows = []
        for c in cohorts:
            row: list[Any] = [c.rule, c.size, c.row_share, c.error_rate, c.errors, c.error_share]
            if abs_err is not None:
                row.append(float(abs_err[c.rows].mean()))
            rows.append(row)
        columns_out = ["cohort", "size", "share of rows", "error rate", "errors", "share of errors"]
        what = "a wrong class"
        if abs_err is not None:
            columns_out.append("mean |error|")
            what = f"an absolute error above its {float(options['error_quantile']):g} quantile"
        metrics: dict[str, Any] = {
            "overall_error_rate": overall,
            "worst_cohort_error_rate": worst.error_rate,
            "worst_cohort_rule": worst.rule,
            "worst_cohort_size": worst.size,
            "worst_cohort_error_share": worst.error_share,
            "n_cohorts": len(cohorts),
            "tables": {"cohorts": {
                "title": "Cohorts of the error tree, highest error rate first",
                "columns": columns_out, "rows": rows,
                "note": f"An error is {what}. A depth-{int(options['max_depth'])} tree on the error indicator over "
                        "the original features and sensitive attributes of the audited test rows.",
            }},
        }
        ratio = float(options["error_ratio"])
        flagged = [c for c in cohorts if c.size >= min_size and overall > 0 and c.error_rate >= ratio * overall]
        findings = [Finding(self.name, "warning",
                            f"Errors concentrate where {c.rule}: error rate {c.error_rate:.1%} vs {overall:.1%} overall "
                            f"({c.size} rows, {c.error_share:.0%} of all errors).",
                            metric="worst_cohort_error_rate" if c is worst else None, value=c.error_rate,
                            threshold={"max": ratio * overall}) for c in flagged]
        ctx.progress(1.0, "done")
        artifacts = {"cohorts": cohorts, "errors": err}
        return CheckOutput(metrics=metrics, findings=findings, artifacts=artifacts)
