"""The "Run an audit" page: the quick demo, bundled data or an uploaded table, a model to train or a checkpoint,
target / sensitive features / thresholds, and the run button."""
from __future__ import annotations

import hashlib
from dataclasses import replace
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app_pages.run_exec import QUICK_JOB, AuditJob, execute_job, quick_options
from app_pages.uploads import Upload, load_uploaded_checkpoint, read_table, save_table
from audit import DEFAULT_WARNINGS, REGISTRY
from models import DATASETS, TrainedModel
from models.datasets import dataset_info
from models.errors import DeepAuditError
from models.families import FAMILY_KINDS

__all__ = ["render_run_page", "UPLOAD_ROOT"]

UPLOAD_ROOT = Path(tempfile.gettempdir()) / "deepaudit-app-uploads"
_TRAIN, _PATH, _UPLOAD = "Train a new model", "Saved checkpoint folder", "Upload a checkpoint"


def _digest(uploads: list[Upload]) -> str:
    h = hashlib.sha256()
    for u in uploads:
        h.update(u.basename.encode())
        h.update(hashlib.sha256(u.data).digest())
    return h.hexdigest()[:16]


def _as_uploads(files: Any) -> list[Upload]:
    if not files:
        return []
    items = files if isinstance(files, list) else [files]
    return [Upload(f.name, f.getvalue()) for f in items]


def _uploaded_table() -> tuple[pd.DataFrame, Path] | None:
    """The uploaded data table (checked and parsed once per upload), or None after showing why not."""
    file = st.file_uploader("Data table (CSV or Parquet, at most 200 MB)", key="upload_data",
                            help="A header row, one row per sample, the target among the columns.")
    if file is None:
        st.info("Upload a CSV or Parquet table to audit.")
        return None
    uploads = _as_uploads(file)
    key = _digest(uploads)
    cache = st.session_state.setdefault("_tables", {})
    if key not in cache:
        try:
            frame = read_table(uploads[0])
            cache.clear()
            cache[key] = (frame, save_table(uploads[0], UPLOAD_ROOT / key))
        except DeepAuditError as exc:
            st.error(str(exc))
            return None
    frame, path = cache[key]
    st.caption(f"{uploads[0].basename}: {len(frame):,} rows × {frame.shape[1]} columns")
    st.dataframe(frame.head(5), width="stretch", hide_index=True)
    return frame, path


def _uploaded_checkpoint() -> TrainedModel | None:
    """An uploaded checkpoint, loaded safely once per upload, or None after showing why not."""
    files = st.file_uploader("Checkpoint: metadata.json + model.safetensors, or a .zip of the folder",
                             accept_multiple_files=True, key="upload_ckpt")
    uploads = _as_uploads(files)
    if not uploads:
        st.info("Upload the checkpoint files written by `deepaudit train` (pickles are never accepted).")
        return None
    key = _digest(uploads)
    cache = st.session_state.setdefault("_checkpoints", {})
    if key not in cache:
        try:
            cache.clear()
            cache[key] = load_uploaded_checkpoint(uploads, UPLOAD_ROOT / f"ckpt-{key}")
        except DeepAuditError as exc:
            st.error(str(exc))
            return None
    tm: TrainedModel = cache[key]
    st.success(f"Loaded a {tm.family} checkpoint trained on {tm.dataset_name or 'unknown data'} ({tm.task}).")
    return tm


def _thresholds_editor() -> dict[str, dict[str, float]]:
    """Configured thresholds (breaking one fails the audit), edited as a small table."""
    st.markdown("**Thresholds** (leave min and max empty to only see the built-in warnings)")
    base = pd.DataFrame({"metric": [t.metric for t in DEFAULT_WARNINGS], "min": [None] * len(DEFAULT_WARNINGS),
                         "max": [None] * len(DEFAULT_WARNINGS)}).astype({"min": "float64", "max": "float64"})
    edited = st.data_editor(base, num_rows="dynamic", width="stretch", hide_index=True, key="thresholds_editor")
    out: dict[str, dict[str, float]] = {}
    for row in edited.to_dict("records"):
        metric = str(row.get("metric") or "").strip()
        bounds = {k: float(row[k]) for k in ("min", "max") if row.get(k) is not None and pd.notna(row[k])}
        if metric and bounds:
            out[metric] = bounds
    return out


def _settings() -> dict[str, Any]:
    with st.expander("Audit settings", expanded=False):
        names = REGISTRY.names()
        checks = st.multiselect("Checks", names, default=names, key="run_checks")
        c1, c2 = st.columns(2)
        audit_rows = int(c1.number_input("Test rows audited", min_value=10, value=2000, step=100, key="run_rows"))
        seed = int(c2.number_input("Seed", min_value=0, value=0, step=1, key="run_seed"))
        thresholds = _thresholds_editor()
    return {"checks": tuple(checks) if len(checks) != len(names) else None, "audit_rows": audit_rows,
            "seed": seed, "thresholds": thresholds}


def _bundled_job() -> tuple[AuditJob, TrainedModel | None] | None:
    c1, c2 = st.columns(2)
    name = c1.selectbox("Data set", DATASETS, key="run_dataset")
    info = dataset_info(name)
    families = [f for f, kinds in FAMILY_KINDS.items() if info["kind"] in kinds]
    family = c2.selectbox("Model family", families, key="run_family")
    c3, c4 = st.columns(2)
    max_rows = int(c3.number_input("Rows loaded (0 = all)", min_value=0, value=0, step=500, key="run_max_rows"))
    how = c4.radio("Model", (_TRAIN, _PATH, _UPLOAD), key="run_model_source")
    st.caption(f"{info['source']} — {info['kind']}, {info['task']}, licence {info['licence']}")
    epochs, checkpoint, model = None, None, None
    if how == _TRAIN:
        epochs = int(st.number_input("Epochs (0 = the family's default)", min_value=0, value=0, key="run_epochs")) or None
    elif how == _PATH:
        checkpoint = st.text_input("Checkpoint folder", key="run_ckpt_path", placeholder="runs/demo/mlp/model").strip()
        if not checkpoint:
            st.info("Enter the folder of a checkpoint written by `deepaudit train` or this dashboard.")
            return None
    else:
        model = _uploaded_checkpoint()
        if model is None:
            return None
    settings = _settings()
    data = {"source": "bundled", "name": name, "seed": settings["seed"], "max_rows": max_rows or None}
    job = AuditJob(label=f"{name}-{model.family if model else family}", data=data, family=family, epochs=epochs,
                   checkpoint=checkpoint, seed=settings["seed"], audit_rows=settings["audit_rows"],
                   checks=settings["checks"], thresholds=settings["thresholds"])
    return job, model


def _upload_job() -> tuple[AuditJob, TrainedModel | None] | None:
    table = _uploaded_table()
    if table is None:
        return None
    frame, path = table
    how = st.radio("Model", ("Train a new MLP on this table", _UPLOAD), key="run_upload_model", horizontal=True)
    model = _uploaded_checkpoint() if how == _UPLOAD else None
    if how == _UPLOAD and model is None:
        return None
    default_target = (model.preprocessing.get("target", {}).get("name") if model else None) or str(frame.columns[-1])
    c1, c2 = st.columns(2)
    target = c1.text_input("Target column", value=default_target, key="run_target").strip()
    sensitive = c2.multiselect("Sensitive features", [str(c) for c in frame.columns if str(c) != target],
                               key="run_sensitive")
    epochs = None
    if model is None:
        epochs = int(st.number_input("Epochs (0 = default)", min_value=0, value=0, key="run_upload_epochs")) or None
    settings = _settings()
    if target not in [str(c) for c in frame.columns]:
        st.error(f"The target column {target!r} does not exist in the uploaded table. Its columns are: "
                 f"{', '.join(map(str, frame.columns[:40]))}.")
        return None
    data = {"source": "file", "file": str(path), "target": target, "sensitive": list(sensitive),
            "seed": settings["seed"]}
    job = AuditJob(label=f"{path.stem}-{model.family if model else 'mlp'}", data=data, family="mlp", epochs=epochs,
                   seed=settings["seed"], audit_rows=settings["audit_rows"], checks=settings["checks"],
                   sensitive=tuple(sensitive) or None, thresholds=settings["thresholds"])
    return job, model


def render_run_page(out_dir: str) -> None:
    """Draw the Run page; runs the job when asked (results go to ``out_dir``)."""
    st.header("Run an audit")
    with st.container(border=True):
        st.markdown("**Quick demo** — a small MLP on 1,500 rows of the Adult census data, audited on 200 test rows "
                    "with light settings (well under a minute on a laptop).")
        if st.button("Run the quick demo", type="primary", key="quick_demo"):
            job = replace(QUICK_JOB, options=quick_options())
            if execute_job(job, out_dir) is not None:
                st.rerun()
    source = st.radio("Data", ("Bundled data set", "Upload a table"), horizontal=True, key="run_source")
    built = _bundled_job() if source == "Bundled data set" else _upload_job()
    if built is None:
        return
    job, model = built
    if st.button("Run the audit", type="primary", key="run_button"):
        if execute_job(job, out_dir, model=model) is not None:
            st.rerun()
