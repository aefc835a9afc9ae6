"""The Summary tab: pass/fail, counts, worst findings, thresholds, checks, model, data and provenance."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages.render import SEVERITY_ICON, render_findings
from reports._model import ReportView

__all__ = ["render_summary"]

_WORST = 8


def render_summary(view: ReportView) -> None:
    """Draw the executive summary of ``view``."""
    s = view.summary
    if s.passed:
        st.success("Audit PASSED — no configured threshold is broken.", icon=":material/check_circle:")
    else:
        st.error(f"Audit FAILED — {s.counts.get('fail', 0)} configured threshold(s) broken.", icon=":material/cancel:")
    cols = st.columns(4)
    for col, sev in zip(cols, ("fail", "error", "warning", "info")):
        col.metric(f"{SEVERITY_ICON[sev]} {sev}", s.counts.get(sev, 0))
    st.caption(", ".join(f"{n} {status}" for status, n in s.check_counts.items()) + " checks")

    st.subheader("Worst findings")
    render_findings(s.findings, limit=_WORST, empty="No findings: every check ran without a warning.")

    if s.thresholds:
        st.subheader("Thresholds")
        frame = pd.DataFrame([{"metric": t.metric, "bounds": t.bounds_text, "value": t.value_text, "status": t.status,
                               "gate": t.gate, "note": t.note or t.rationale} for t in s.thresholds])
        st.dataframe(frame, width="stretch", hide_index=True, key="summary_thresholds")

    st.subheader("Checks")
    if view.sections:
        frame = pd.DataFrame([{"check": sec.title, "status": sec.status, "seconds": round(sec.seconds, 2),
                               "reason": sec.reason or ""} for sec in view.sections])
        st.dataframe(frame, width="stretch", hide_index=True, key="summary_checks")
    else:
        st.caption("No check was registered or selected for this audit.")

    left, right = st.columns(2)
    with left:
        st.markdown("**Model**")
        st.json({k: v for k, v in s.model.items() if v not in (None, "", [], {})}, expanded=False)
    with right:
        st.markdown("**Data**")
        st.json({k: v for k, v in s.data.items() if v not in (None, "", [], {})}, expanded=False)
    if view.model_card.entries or view.model_card.missing:
        with st.expander("Model card"):
            for _, label, text in view.model_card.entries:
                st.markdown(f"**{label}:** {text}")
            if view.model_card.missing:
                st.caption("Missing: " + ", ".join(view.model_card.missing))
    with st.expander("Provenance"):
        st.dataframe(pd.DataFrame(view.provenance.items, columns=["item", "value"]), width="stretch",
                     hide_index=True, key="summary_provenance")
        st.code(view.provenance.config_json, language="json")
