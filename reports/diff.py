"""Compare two audit results: which headline and nested numbers moved, for better or worse, and how far the
global feature importances drifted (Spearman rank correlation).

Example:
    >>> d = diff_results(AuditResult.from_json("old.json"), AuditResult.from_json("new.json"))   # doctest: +SKIP
    >>> d.has_regression, [c.path for c in d.regressions]  # doctest: +SKIP
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy.stats import spearmanr

from audit.errors import InvalidInputError, InvalidTypeError
from audit.results import AuditResult, atomic_write_text
from reports._format import format_value, is_number, short_hash
from reports.html import environment

__all__ = ["MetricChange", "ResultDiff", "diff_results", "metric_direction", "render_diff_html", "write_diff_html"]

Direction = Literal["better", "worse", "same", "changed", "added", "removed"]
_SKIPPED_KEYS = {"tables", "curves", "bars", "images", "texts", "samples", "global_importance"}

# Which way is good, by metric path. Explicit paths first, then name patterns matched against the last path part
# (whole words between underscores); "lower" patterns are tried before "higher" ones so "accuracy_drop" is lower.
_EXPLICIT: dict[str, str] = {
    "data_profile.max_single_feature_auc": "lower",   # a feature that alone predicts the label suggests leakage
    "fairness.demographic_parity_ratio": "higher",
    "fairness.equalized_odds_ratio": "higher",
}
_LOWER = ("loss", "ece", "mce", "brier", "mae", "mse", "rmse", "nll", "difference", "diff", "gap", "fid", "error",
          "errors", "infidelity", "sensitivity", "drop", "disparity", "violation", "kl", "divergence", "variance",
          "seconds", "time", "flip", "flips", "rate_change")
_HIGHER = ("accuracy", "acc", "f1", "auc", "auroc", "auprc", "precision", "recall", "r2", "ratio", "robust",
           "robustness", "agreement", "correlation", "spearman", "kendall", "faithfulness", "coverage", "fidelity",
           "stability", "inception", "score", "iou", "map")


def _word_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"(?:^|_)(?:" + "|".join(re.escape(w) for w in words) + r")(?:_|$)")


_LOWER_RE, _HIGHER_RE = _word_pattern(_LOWER), _word_pattern(_HIGHER)


def metric_direction(path: str) -> Literal["higher", "lower"] | None:
    """Whether a higher or a lower value of the metric at dotted ``path`` is better (None: no known direction).

    Example:
        >>> metric_direction("performance.accuracy"), metric_direction("calibration.ece"), metric_direction("x.n")
        ('higher', 'lower', None)
    """
    if path in _EXPLICIT:
        return _EXPLICIT[path]  # type: ignore[return-value]
    last = path.rsplit(".", 1)[-1].lower()
    if _LOWER_RE.search(last):
        return "lower"
    if _HIGHER_RE.search(last):
        return "higher"
    return None


class MetricChange(NamedTuple):
    """One compared metric: ``delta`` = new - old (None for non-numbers); ``regression`` when it got worse."""

    path: str
    old: Any
    new: Any
    delta: float | None
    direction: Direction
    regression: bool


@dataclass
class ResultDiff:
    """The comparison of two results.

    Attributes:
        changes: every compared metric and check status (direction "same" within the tolerance).
        explanation_drift: per explanation method, the Spearman rank correlation of |global importance| between old
            and new over the features both have (1 = same ranking; None when it cannot be computed).
        tolerance: the tolerance used.
        old_info, new_info: model/data fingerprints and start time of each result.
    """

    changes: list[MetricChange]
    explanation_drift: dict[str, float | None]
    tolerance: float
    old_info: dict[str, Any] = field(default_factory=dict)
    new_info: dict[str, Any] = field(default_factory=dict)

    @property
    def regressions(self) -> list[MetricChange]:
        """The changes that are regressions."""
        return [c for c in self.changes if c.regression]

    @property
    def changed(self) -> list[MetricChange]:
        """The changes beyond the tolerance (direction other than "same")."""
        return [c for c in self.changes if c.direction != "same"]

    @property
    def has_regression(self) -> bool:
        """True when any metric got worse beyond the tolerance, a check stopped running or the audit stopped passing."""
        return any(c.regression for c in self.changes)

    def summary_lines(self, limit: int = 20) -> list[str]:
        """Short plain-text lines for a terminal: the verdict, then regressions and other changes, worst first."""
        lines = [f"{len(self.regressions)} regressions, {len(self.changed)} changes beyond tolerance {self.tolerance:g}"]
        shown = self.regressions + [c for c in self.changed if not c.regression]
        for c in shown[:limit]:
            tag = "REGRESSION" if c.regression else c.direction
            old, new = (_short(v) for v in (c.old, c.new))
            lines.append(f"  {tag:<10} {c.path}: {old} -> {new}")
        if len(shown) > limit:
            lines.append(f"  ... and {len(shown) - limit} more (see --html)")
        for method, rho in sorted(self.explanation_drift.items()):
            lines.append(f"  explanation drift ({method}): rank correlation {'n/a' if rho is None else f'{rho:.3f}'}")
        return lines


def _short(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}" if is_number(value) else str(value)


def _flatten(node: Any, prefix: str, out: dict[str, float | None]) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if str(key) in _SKIPPED_KEYS:
                continue
            _flatten(value, f"{prefix}.{key}" if prefix else str(key), out)
    elif node is None or is_number(node):
        out[prefix] = None if node is None or not math.isfinite(float(node)) else float(node)


def _numbers(result: AuditResult, check: str) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    _flatten(result.metrics.get(check, {}), check, out)
    return out


def _compare(path: str, old: float | None, new: float | None, tolerance: float) -> MetricChange:
    if old is None and new is None:
        return MetricChange(path, old, new, None, "same", False)
    if old is None:
        return MetricChange(path, old, new, None, "added", False)
    if new is None:
        return MetricChange(path, old, new, None, "removed", False)
    delta = new - old
    if abs(delta) <= tolerance * max(1.0, abs(old)):
        return MetricChange(path, old, new, delta, "same", False)
    way = metric_direction(path)
    if way is None:
        return MetricChange(path, old, new, delta, "changed", False)
    better = delta > 0 if way == "higher" else delta < 0
    return MetricChange(path, old, new, delta, "better" if better else "worse", not better)


def _importances(result: AuditResult) -> dict[str, dict[str, float]]:
    explanations = result.metrics.get("explanations")
    raw = explanations.get("global_importance") if isinstance(explanations, Mapping) else None
    if not isinstance(raw, Mapping):
        return {}
    return {str(m): {str(f): abs(float(v)) for f, v in vals.items() if is_number(v) and math.isfinite(float(v))}
            for m, vals in raw.items() if isinstance(vals, Mapping)}


def _spearman(old: dict[str, float], new: dict[str, float]) -> float | None:
    common = sorted(set(old) & set(new))
    if len(common) < 2:
        return None
    a, b = np.array([old[f] for f in common]), np.array([new[f] for f in common])
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 1.0 if np.ptp(a) == np.ptp(b) == 0 else None
    rho = float(spearmanr(a, b).statistic)
    return rho if math.isfinite(rho) else None


def _info(result: AuditResult) -> dict[str, Any]:
    prov = result.provenance
    model = prov.get("model") if isinstance(prov.get("model"), Mapping) else {}
    data = prov.get("data") if isinstance(prov.get("data"), Mapping) else {}
    return {"model": model.get("name"), "model_sha256": short_hash(model.get("sha256")), "data": data.get("name"),
            "data_sha256": short_hash(data.get("sha256")), "started_at": prov.get("started_at"),
            "passed": result.passed}


def diff_results(old: AuditResult, new: AuditResult, *, tolerance: float = 0.02) -> ResultDiff:
    """Compare ``new`` against ``old``.

    A numeric metric counts as changed when ``|new - old| > tolerance * max(1, |old|)`` (absolute for metrics in
    [-1, 1], relative above). Its direction comes from ``metric_direction``; metrics with no known direction that
    moved are "changed" (never a regression). A check that ran in ``old`` and is skipped or errored in ``new``, and
    an audit that passed and now fails, are regressions too. Tables, curves, bars, images, texts and samples are
    not compared; global importances are compared by rank (``explanation_drift``).

    Args:
        old: the reference result.
        new: the result under review.
        tolerance: the change ignored as noise (>= 0).

    Returns:
        The ``ResultDiff``.

    Raises:
        InvalidTypeError: an argument is not an ``AuditResult``.
        InvalidInputError: ``tolerance`` is negative or not finite.

    Example:
        >>> diff_results(result, result).has_regression    # doctest: +SKIP
        False
    """
    for name, value in (("old", old), ("new", new)):
        if not isinstance(value, AuditResult):
            raise InvalidTypeError(f"The '{name}' argument must be an audit.AuditResult. Got {type(value).__name__}.")
    if not is_number(tolerance) or not math.isfinite(float(tolerance)) or tolerance < 0:
        raise InvalidInputError(f"The 'tolerance' argument must be a finite number >= 0. Got {tolerance!r} instead.")
    changes: list[MetricChange] = []
    if old.passed != new.passed:
        changes.append(MetricChange("passed", old.passed, new.passed, None,
                                    "worse" if old.passed else "better", old.passed))
    checks = list(old.checks) + [c for c in new.checks if c not in old.checks]
    for check in checks:
        before = old.checks[check].status if check in old.checks else None
        after = new.checks[check].status if check in new.checks else None
        if before != after:
            if before == "ok":
                direction, regression = "worse", True
            elif after == "ok":
                direction, regression = "better", False
            else:
                direction, regression = "changed", False
            changes.append(MetricChange(f"{check}.status", before, after, None, direction, regression))
        if before == "ok" and after == "ok":
            a, b = _numbers(old, check), _numbers(new, check)
            for path in list(a) + [p for p in b if p not in a]:
                changes.append(_compare(path, a.get(path), b.get(path), float(tolerance)))
    imp_old, imp_new = _importances(old), _importances(new)
    drift = {m: _spearman(imp_old[m], imp_new[m]) for m in imp_old if m in imp_new}
    return ResultDiff(changes=changes, explanation_drift=drift, tolerance=float(tolerance),
                      old_info=_info(old), new_info=_info(new))


def render_diff_html(diff: ResultDiff, *, title: str | None = None) -> str:
    """The diff as one self-contained HTML page (no script, no network).

    Raises:
        InvalidTypeError: ``diff`` is not a ``ResultDiff``.
    """
    if not isinstance(diff, ResultDiff):
        raise InvalidTypeError(f"The 'diff' argument must be a reports.ResultDiff. Got {type(diff).__name__}.")
    order = {"worse": 0, "removed": 1, "changed": 2, "added": 3, "better": 4, "same": 5}
    rows = sorted(diff.changes, key=lambda c: (not c.regression, order.get(c.direction, 9)))
    return environment().get_template("diff.html.j2").render(
        diff=diff, rows=rows, title=title or "Audit comparison", fmt=format_value)


def write_diff_html(diff: ResultDiff, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Write the diff page to ``path`` atomically; returns the path.

    Raises:
        InvalidTypeError: ``diff`` is not a ``ResultDiff`` or ``path`` is not a path.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidTypeError(f"The 'path' argument must be a str or os.PathLike. Got {type(path).__name__}.")
    return atomic_write_text(Path(path), render_diff_html(diff, title=title))
