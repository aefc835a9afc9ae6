"""Session keys and the dashboard's caches.

Models and data sets are cached with ``st.cache_resource`` (one shared object, never copied); results and the
bytes offered for download with ``st.cache_data``, keyed by the result file's path and modification time, so a
widget change (switching tabs, samples or methods) never re-reads, re-renders or re-runs an audit.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from app_pages.runs import RESULT_FILE, RunSummary, summarize_run
from audit import AuditResult
from models import Dataset, TrainedModel, load_dataset, load_model
from models.datasets import from_file
from reports import build_view, render_html, write_junit
from reports._model import ReportView

__all__ = [
    "NAV",
    "PAGES",
    "CURRENT",
    "DEFAULT_OUT",
    "OUT_KEY",
    "default_out_dir",
    "apply_pending_nav",
    "session_value",
    "result_key",
    "cached_result",
    "cached_view",
    "cached_downloads",
    "cached_model",
    "cached_dataset",
    "cached_file_dataset",
    "cached_run_summary",
    "open_result",
    "current_dir",
]

NAV = "nav"
PAGES = ("Run an audit", "Open results", "Results")
CURRENT = "current_dir"
_PENDING_NAV = "_pending_nav"
DEFAULT_OUT = "runs/app"
OUT_KEY = "out_dir"


def default_out_dir() -> str:
    """The output folder: ``$DEEPAUDIT_APP_OUT`` when set, else ``runs/app``."""
    return os.environ.get("DEEPAUDIT_APP_OUT", "").strip() or DEFAULT_OUT


def result_key(folder: str | Path) -> tuple[str, float]:
    """(absolute path of ``result.json``, its mtime): the cache key of one saved result."""
    path = (Path(folder) / RESULT_FILE).resolve()
    return str(path), path.stat().st_mtime


@st.cache_data(max_entries=32, show_spinner=False)
def cached_result(path: str, mtime: float) -> AuditResult:
    """The result at ``path`` (``mtime`` only keys the cache)."""
    return AuditResult.from_json(path)


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_view(path: str, mtime: float) -> ReportView:
    """The report view of a saved result: the same view data and plotly figures the HTML report draws.

    Cached as a resource (shared, not copied on each rerun): the figures are only read.
    """
    return build_view(cached_result(path, mtime))


@st.cache_data(max_entries=16, show_spinner=False)
def cached_downloads(path: str, mtime: float) -> dict[str, bytes]:
    """The bytes of ``result.json``, ``report.html`` and ``junit.xml`` (rendered when a file is missing)."""
    folder = Path(path).parent
    result = cached_result(path, mtime)
    out = {"json": Path(path).read_bytes()}
    html = folder / "report.html"
    out["html"] = html.read_bytes() if html.is_file() else render_html(result).encode("utf-8")
    junit = folder / "junit.xml"
    if junit.is_file():
        out["junit"] = junit.read_bytes()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out["junit"] = Path(write_junit(result, Path(tmp) / "junit.xml")).read_bytes()
    return out


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def cached_model(model_dir: str, mtime: float) -> TrainedModel:
    """A checkpoint loaded once (on the CPU) with ``models.load_model``, which never unpickles."""
    return load_model(model_dir, device="cpu")


@st.cache_resource(max_entries=6, show_spinner="Loading the data set…")
def cached_dataset(name: str, seed: int, max_rows: int | None) -> Dataset:
    """A bundled data set, loaded and encoded once."""
    return load_dataset(name, seed=seed, max_rows=max_rows)


@st.cache_resource(max_entries=4, show_spinner="Reading the data file…")
def cached_file_dataset(path: str, mtime: float, target: str, sensitive: tuple[str, ...], seed: int) -> Dataset:
    """A user table read once with ``models.datasets.from_file``."""
    return from_file(path, target=target, sensitive=list(sensitive), seed=seed)


@st.cache_data(max_entries=512, show_spinner=False)
def cached_run_summary(folder: str, root: str, mtime: float) -> RunSummary:
    """The past-runs line of one folder (re-read only when its result changes)."""
    return summarize_run(Path(folder), Path(root))


def open_result(folder: str | Path) -> None:
    """Make ``folder`` the current result and show the Results page on the next run."""
    st.session_state[CURRENT] = str(Path(folder).resolve())
    st.session_state[_PENDING_NAV] = "Results"


def apply_pending_nav() -> None:
    """Move the navigation to the page requested by the previous run (before the widget is drawn)."""
    pending = st.session_state.pop(_PENDING_NAV, None)
    if pending in PAGES:
        st.session_state[NAV] = pending


def current_dir() -> Path | None:
    """The current result folder, if it still holds a result."""
    value = st.session_state.get(CURRENT)
    if not value:
        return None
    folder = Path(value)
    return folder if (folder / RESULT_FILE).is_file() else None


def session_value(key: str, default: Any = None) -> Any:
    """``st.session_state.get`` (a seam for readability)."""
    return st.session_state.get(key, default)
