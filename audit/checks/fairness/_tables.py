"""Lay ``GroupFrame``s out as JSON-ready metrics: generic "tables", "bars" and nested per-feature summaries."""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from audit.checks.fairness._groups import DISPARITY_NAMES, METRIC_NAMES
from audit.checks.fairness._metrics_frame import Disparity, GroupFrame

__all__ = ["INSUFFICIENT", "table_key", "frame_table", "frame_summary", "selection_bar", "fmt", "worst", "TITLES"]

INSUFFICIENT = "insufficient data"
TITLES = {
    "selection_rate": "selection rate",
    "accuracy": "accuracy",
    "true_positive_rate": "TPR",
    "false_positive_rate": "FPR",
    "false_negative_rate": "FNR",
    "precision": "precision",
    "calibration_error": "calibration error",
    "demographic_parity_difference": "demographic parity difference",
    "demographic_parity_ratio": "demographic parity ratio",
    "equalized_odds_difference": "equalized odds difference",
    "equalized_odds_ratio": "equalized odds ratio",
    "equal_opportunity_difference": "equal opportunity difference",
}


def table_key(*parts: str) -> str:
    """A safe metrics key: ``("sex x race",)`` -> ``"sex_x_race"``."""
    return re.sub(r"[^0-9A-Za-z]+", "_", "_".join(parts)).strip("_").lower() or "table"


def _num(value: Any) -> float | None:
    f = float(value)
    return f if math.isfinite(f) else None


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a sentence (``"n/a"`` when undefined)."""
    return "n/a" if value is None or not math.isfinite(float(value)) else f"{float(value):.{digits}f}"


def _rows(frame: GroupFrame, prefix: Sequence[Any]) -> list[list[Any]]:
    rows = []
    for i, label in enumerate(frame.labels):
        row: list[Any] = [*prefix, label, int(frame.values["count"][i]), "ok" if frame.eligible[i] else INSUFFICIENT]
        for m in METRIC_NAMES:
            row += [_num(frame.values[m][i]), _num(frame.lower[m][i]), _num(frame.upper[m][i])]
        row.append(_num(frame.four_fifths_ratio[i]))
        rows.append(row)
    return rows


def frame_table(frames: Sequence[tuple[Sequence[Any], GroupFrame]], title: str, prefix_columns: Sequence[str] = ()) -> dict[str, Any]:
    """One table for one grouping (rows per group; a ``class`` prefix column for multiclass one-vs-rest).

    Args:
        frames: ``(prefix cells, frame)`` pairs, rows concatenated in order.
        title: table title.
        prefix_columns: names of the prefix cells.

    Returns:
        ``{"title", "columns", "rows", "note"}``.
    """
    columns = [*prefix_columns, "group", "count", "status"]
    for m in METRIC_NAMES:
        columns += [m, f"{m}_low", f"{m}_high"]
    columns.append("four_fifths_ratio")
    rows = [row for prefix, frame in frames for row in _rows(frame, prefix)]
    first = frames[0][1]
    pct = f"{100 * first.ci:g}%"
    note = (f"Intervals: {pct} percentile bootstrap over {first.n_boot} resamples of the audited rows. Groups with fewer "
            f"than {first.min_group_size} rows are marked '{INSUFFICIENT}' and left out of every comparison. "
            "Undefined rates (no positives, no predicted positives) are empty. four_fifths_ratio: the group's selection "
            "rate over the highest group's (the four-fifths rule asks >= 0.8). calibration_error: the positive-class "
            "calibration error (sum over equal-width bins of the positive-class probability of |sum(p) - sum(y)| / n), "
            "not the top-label ECE of the calibration check.")
    if not first.n_boot:
        note = note.replace(f"Intervals: {pct} percentile bootstrap over 0 resamples of the audited rows. ", "No intervals (n_boot = 0). ")
    return {"title": title, "columns": columns, "rows": rows, "note": note}


def _disparity_json(d: Disparity) -> dict[str, Any]:
    return {
        "value": _num(d.value), "ci_low": _num(d.ci_low), "ci_high": _num(d.ci_high),
        "gap_ci_low": _num(d.gap_low), "gap_ci_high": _num(d.gap_high), "significant": d.significant,
        "metric": d.metric, "higher_group": d.higher, "lower_group": d.lower,
    }


def frame_summary(frame: GroupFrame) -> dict[str, Any]:
    """Nested JSON of one grouping: disparities with intervals, four-fifths result, insufficient groups."""
    return {
        "groups": list(frame.labels),
        "counts": [int(c) for c in frame.values["count"]],
        "insufficient_data": frame.insufficient,
        "four_fifths_passed": frame.four_fifths_passed,
        "disparities": {name: _disparity_json(frame.disparities[name]) for name in DISPARITY_NAMES},
    }


def selection_bar(frame: GroupFrame, title: str) -> dict[str, Any]:
    """Selection rate per eligible group with its interval (the generic "bars" layout)."""
    keep = [i for i in range(len(frame.labels)) if frame.eligible[i]]
    return {
        "title": title,
        "labels": [frame.labels[i] for i in keep],
        "values": [_num(frame.values["selection_rate"][i]) for i in keep],
        "lower": [_num(frame.lower["selection_rate"][i]) for i in keep],
        "upper": [_num(frame.upper["selection_rate"][i]) for i in keep],
    }


def worst(values: Sequence[float], *, lowest: bool = False) -> float | None:
    """The largest (or lowest) finite value, None when there is none."""
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return None
    return min(finite) if lowest else max(finite)
