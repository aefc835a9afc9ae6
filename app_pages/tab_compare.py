"""The Compare tab: the diff (``reports.diff_results``) of the current run against another saved run."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages.runs import RESULT_FILE, check_result_dir, find_runs
from app_pages.state import cached_result, cached_run_summary, result_key
from models.errors import DeepAuditError
from reports import ResultDiff, diff_results, render_diff_html

__all__ = ["render_compare", "cached_diff"]

_ARROWS = {"better": "better ↑", "worse": "worse ↓", "changed": "changed", "same": "same", "added": "added",
           "removed": "removed"}


@st.cache_data(max_entries=16, show_spinner="Comparing the runs…")
def cached_diff(old_path: str, old_mtime: float, new_path: str, new_mtime: float, tolerance: float) -> ResultDiff:
    """``diff_results(old, new)`` of two saved results (cached by paths, mtimes and tolerance)."""
    return diff_results(cached_result(old_path, old_mtime), cached_result(new_path, new_mtime), tolerance=tolerance)


@st.cache_data(max_entries=16, show_spinner=False)
def _diff_html(old_path: str, old_mtime: float, new_path: str, new_mtime: float, tolerance: float) -> bytes:
    return render_diff_html(cached_diff(old_path, old_mtime, new_path, new_mtime, tolerance)).encode("utf-8")


def _describe(folder: Path, root: Path) -> tuple[str, str]:
    """(data, model) of a run, from its cached past-runs line."""
    summary = cached_run_summary(str(folder), str(root), (folder / RESULT_FILE).stat().st_mtime)
    return summary.data, summary.model


def _other_run(current: Path, out_dir: str) -> Path | None:
    root = Path(out_dir).resolve()
    found = [p.resolve() for p in find_runs(root) if p.resolve() != current.resolve()]
    mine = _describe(current.resolve(), root)
    labels = {str(p): f"{p.name} — {' · '.join(_describe(p, root))}" for p in found}
    same = [p for p in found if _describe(p, root) == mine]  # same data and model first (newest first)
    candidates = same + [p for p in found if p not in same]
    choice = st.selectbox("Compare against (the older run; runs of the same model and data first)",
                          ["(enter a folder)", *map(str, candidates)], index=1 if same else 0, key="compare_choice",
                          format_func=lambda v: labels.get(v, v))
    if choice != "(enter a folder)":
        return Path(choice)
    typed = st.text_input("Result folder to compare against", key="compare_path")
    if not typed.strip():
        st.info("Pick a past run or enter a result folder to compare with the current one (no other run of the "
                "same model on the same data was found in the output folder).")
        return None
    try:
        return check_result_dir(typed)
    except DeepAuditError as exc:
        st.error(str(exc))
        return None


def render_compare(current: Path, out_dir: str) -> None:
    """Draw the diff of ``current`` (new) against a chosen older run."""
    other = _other_run(current, out_dir)
    if other is None:
        return
    tolerance = float(st.number_input("Tolerance", min_value=0.0, max_value=1.0, value=0.02, step=0.01,
                                      key="compare_tolerance"))
    args = (*result_key(other), *result_key(current), tolerance)
    try:
        diff = cached_diff(*args)
    except DeepAuditError as exc:
        st.error(str(exc))
        return
    if diff.has_regression:
        st.error(f"{len(diff.regressions)} regression(s) against {other.name}.", icon=":material/trending_down:")
    else:
        st.success(f"No regression against {other.name} (tolerance {tolerance:g}).", icon=":material/check_circle:")
    c1, c2, c3 = st.columns(3)
    c1.metric("Compared", len(diff.changes))
    c2.metric("Changed", len(diff.changed))
    c3.metric("Regressions", len(diff.regressions))
    only = st.toggle("Only what changed", value=True, key="compare_only_changed")
    rows = [{"metric": c.path, "old": c.old, "new": c.new, "delta": c.delta, "direction": _ARROWS.get(c.direction, c.direction),
             "regression": c.regression} for c in (diff.changed if only else diff.changes)]
    frame = pd.DataFrame(rows, columns=["metric", "old", "new", "delta", "direction", "regression"])
    for col in ("old", "new"):  # mixed types (numbers, text, status): shown as text, numbers to 4 digits
        frame[col] = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in frame[col]]
    st.dataframe(frame, width="stretch", hide_index=True, key="compare_table")
    if diff.explanation_drift:
        st.markdown("**Explanation drift** (Spearman rank correlation of global importance; 1 = same ranking)")
        st.dataframe(pd.DataFrame([{"method": k, "spearman": v} for k, v in diff.explanation_drift.items()]),
                     width="stretch", hide_index=True, key="compare_drift")
    st.download_button("Download the diff (HTML)", _diff_html(*args), file_name="diff.html", mime="text/html",
                       key="download_diff", icon=":material/download:", on_click="ignore")

