"""The "Open results" page: open any saved audit result folder, or pick one of the past runs in the output folder."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages.runs import RESULT_FILE, check_result_dir, find_runs
from app_pages.state import cached_run_summary, open_result
from models.errors import DeepAuditError

__all__ = ["render_open_page", "past_runs_frame"]


def past_runs_frame(out_dir: str) -> pd.DataFrame:
    """One row per run folder under ``out_dir``, newest first (cached per folder and result mtime)."""
    root = Path(out_dir).resolve()
    rows = []
    for folder in find_runs(root):
        mtime = (folder / RESULT_FILE).stat().st_mtime
        rows.append(cached_run_summary(str(folder), str(root), mtime).row())
    return pd.DataFrame(rows, columns=["run", "started", "data", "model", "status", "fails", "errors", "warnings", "path"])


def render_open_page(out_dir: str) -> None:
    """Draw the page; opening a result switches to the Results page."""
    st.header("Open results")
    with st.form("open_folder_form", border=True):
        path = st.text_input("Result folder (holds result.json)", key="open_path",
                             placeholder="runs/demo/mlp")
        submitted = st.form_submit_button("Open folder")
    if submitted:
        try:
            open_result(check_result_dir(path))
            st.rerun()
        except DeepAuditError as exc:
            st.error(str(exc))

    st.subheader(f"Past runs in {out_dir}")
    frame = past_runs_frame(out_dir)
    if frame.empty:
        st.info(f"No audit results under {out_dir!r} yet. Run one on the Run page, or change the output folder in "
                f"the sidebar.")
        return
    st.dataframe(frame.drop(columns=["path"]), width="stretch", hide_index=True, key="past_runs_table")
    choice = st.selectbox("Run", frame["run"].tolist(), key="open_run_choice")
    if st.button("Open this run", key="open_run_button"):
        open_result(frame.loc[frame["run"] == choice, "path"].iloc[0])
        st.rerun()
