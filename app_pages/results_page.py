"""The Results page: header, downloads and one lazy tab per area (only the open tab runs; nothing re-audits)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.sections import OTHER_TAB, RESULT_TABS, group_sections
from app_pages.state import cached_downloads, cached_result, cached_view, result_key
from app_pages.tab_checks import render_explanations, render_fairness, render_group, render_robustness
from app_pages.tab_compare import render_compare
from app_pages.tab_summary import render_summary
from app_pages.tab_whatif import render_whatif
from audit import AuditResult
from reports import ReportView, SectionView

__all__ = ["render_results_page", "render_downloads", "TAB_KEY"]

TAB_KEY = "result_tab"


def render_downloads(folder: Path, *, where: str = "main") -> None:
    """Download buttons for the HTML report, the JSON result and the JUnit file of ``folder``."""
    files = cached_downloads(*result_key(folder))
    cols = st.columns(3)
    icon = ":material/download:"
    cols[0].download_button("HTML report", files["html"], file_name="report.html", mime="text/html",
                            key=f"dl_html_{where}", icon=icon, on_click="ignore")
    cols[1].download_button("JSON result", files["json"], file_name="result.json", mime="application/json",
                            key=f"dl_json_{where}", icon=icon, on_click="ignore")
    cols[2].download_button("JUnit XML", files["junit"], file_name="junit.xml", mime="application/xml",
                            key=f"dl_junit_{where}", icon=icon, on_click="ignore")


def render_results_page(folder: Path | None, out_dir: str) -> None:
    """Draw the current result (or say how to get one)."""
    if folder is None:
        st.header("Results")
        st.info("No result is open yet: run an audit, or open a saved result folder.")
        return
    key = result_key(folder)
    result = cached_result(*key)
    view = cached_view(*key)
    st.header(view.title)
    st.caption(f"{folder} · started {result.provenance.get('started_at', '?')} · "
               f"{'PASSED' if view.summary.passed else 'FAILED'}")
    render_downloads(folder)
    groups = group_sections(view.sections)
    tabs = st.tabs(list(RESULT_TABS), key=TAB_KEY, on_change="rerun")
    for name, tab in zip(RESULT_TABS, tabs):
        if not tab.open:
            continue
        with tab:
            _render_tab(name, groups.get(name, []), view, folder, result, out_dir)


def _render_tab(name: str, sections: list[SectionView], view: ReportView, folder: Path, result: AuditResult,
                out_dir: str) -> None:
    if name == "Summary":
        render_summary(view)
    elif name == "Explanations":
        render_explanations(sections, result.metrics)
    elif name == "Fairness":
        render_fairness(sections, list(view.summary.data.get("sensitive_features") or []))
    elif name == "Robustness":
        render_robustness(sections)
    elif name == "What-if":
        render_whatif(folder, result)
    elif name == "Compare":
        render_compare(folder, out_dir)
    elif name == OTHER_TAB and not sections:
        st.info("Every check of this audit has its own tab.")
    else:
        render_group(name, sections)

