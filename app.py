"""deepaudit dashboard: ``streamlit run app.py``.

A thin shell over ``models`` (data, training, checkpoints), ``audit`` (run_audit) and ``reports`` (the view data and
plotly figures the HTML report draws too). Pages: Run an audit, Open results, Results (one tab per area).
"""
from __future__ import annotations

import sys
import traceback

import streamlit as st

from app_pages.open_page import render_open_page
from app_pages.results_page import render_results_page
from app_pages.run_page import render_run_page
from app_pages.state import CURRENT, DEFAULT_OUT, NAV, OUT_KEY, PAGES, apply_pending_nav, current_dir, default_out_dir
from models.errors import DeepAuditError

st.set_page_config(page_title="deepaudit", page_icon=":material/troubleshoot:", layout="wide")


def main() -> None:
    """Draw the sidebar and the chosen page."""
    apply_pending_nav()
    with st.sidebar:
        st.title(":material/troubleshoot: deepaudit")
        st.caption("Audit deep models: explanations, fairness, robustness, calibration.")
        page = st.radio("Page", PAGES, key=NAV)
        st.session_state.setdefault(OUT_KEY, default_out_dir())
        out_dir = st.text_input("Output folder", key=OUT_KEY,
                                help="New runs are written here; past runs are listed from here.").strip() or DEFAULT_OUT
        folder = current_dir()
        if folder is not None:
            st.caption(f"Current result: {folder.name}")
        elif st.session_state.get(CURRENT):
            st.warning("The current result folder no longer holds a result.json.")
    try:
        if page == "Run an audit":
            render_run_page(out_dir)
        elif page == "Open results":
            render_open_page(out_dir)
        else:
            render_results_page(folder, out_dir)
    except DeepAuditError as exc:  # bad input that got past a page's own checks: the message names it
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 - the page shows a sentence, never a stack trace
        st.error(f"Something went wrong while drawing this page ({type(exc).__name__}: {exc}). "
                 f"The details are in the server log.")
        print(traceback.format_exc(), file=sys.stderr, flush=True)


main()
