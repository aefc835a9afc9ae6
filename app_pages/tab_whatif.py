"""The What-if tab: edit one row's features (tabular) or pick a sample (image, text, time series) and see the
prediction, its explanation and its counterfactual, all updated together."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app_pages import whatif_compute as wc
from app_pages.render import token_block, upscale
from app_pages.runs import data_spec, model_dir_for
from app_pages.state import cached_dataset, cached_file_dataset, cached_model
from audit import AuditResult
from models import Dataset, TrainedModel
from models.errors import DeepAuditError
from models.preprocessing import encode, tokenize
from reports import plots
from reports.images import image_rgb

__all__ = ["render_whatif", "load_live"]


def load_live(folder: Path, result: AuditResult) -> tuple[TrainedModel, Dataset] | str:
    """The run's model and data (cached), or a sentence saying why they cannot be reloaded."""
    model_dir = model_dir_for(folder)
    if model_dir is None:
        return "This result folder has no model/ checkpoint next to it, so nothing can be re-scored."
    spec = data_spec(folder, result.provenance)
    if spec is None:
        return "The audited data cannot be reloaded (a user table audited outside the dashboard)."
    try:
        model = cached_model(str(model_dir.resolve()), (model_dir / "metadata.json").stat().st_mtime)
        if spec["source"] == "bundled":
            ds = cached_dataset(spec["name"], int(spec.get("seed", 0)), spec.get("max_rows"))
        else:
            path = folder / spec["file"]
            ds = cached_file_dataset(str(path), path.stat().st_mtime, spec["target"], tuple(spec.get("sensitive", [])),
                                     int(spec.get("seed", 0)))
    except (DeepAuditError, OSError) as exc:
        return f"The model or data could not be reloaded: {exc}"
    return model, ds


@st.cache_data(max_entries=256, show_spinner=False)
def _tabular_outcome(model_key: str, row_json: str, target: int, _model: TrainedModel, _ds: Dataset) -> dict[str, Any]:
    """Prediction, attributions and counterfactual of one edited row (cached per model and row values)."""
    row = pd.read_json(io.StringIO(row_json), orient="split")
    x, pred = wc.predict_row(_model, _ds, row)
    out: dict[str, Any] = {"prediction": pred, "attributions": None, "counterfactual": None}
    if _model.task in ("binary", "multiclass"):
        out["attributions"] = wc.tabular_attributions(_model, _ds, x, pred.index)
        out["counterfactual"] = wc.tabular_counterfactual(_model, _ds, row, target)
    return out


def _show_prediction(pred: wc.Prediction, title: str = "Prediction") -> None:
    st.metric(title, pred.label)
    for name, value in sorted(pred.proba.items(), key=lambda kv: -kv[1])[:5]:
        st.progress(min(max(value, 0.0), 1.0), text=f"P({name}) = {value:.3f}")


def _feature_inputs(features: list[dict[str, Any]], base: pd.Series, row_id: int) -> pd.DataFrame:
    values: dict[str, Any] = {}
    cols = st.columns(2)
    for i, feat in enumerate(features):
        name, col, key = feat["name"], cols[i % 2], f"whatif_{row_id}_{feat['name']}"
        current = base.get(name)
        if feat["type"] == "categorical":
            options = list(feat["categories"])
            if current is not None and str(current) not in options:
                options = [str(current), *options]
            index = options.index(str(current)) if str(current) in options else 0
            values[name] = col.selectbox(name, options, index=index, key=key)
        else:
            number = float(current) if current is not None and pd.notna(current) else feat["median"]
            if feat.get("integer"):
                values[name] = col.number_input(name, value=int(round(number)), step=1, key=key)
            else:
                values[name] = col.number_input(name, value=number, key=key, format="%.4g")
    return pd.DataFrame([values])


def _tabular(model: TrainedModel, ds: Dataset, model_key: str) -> None:
    if ds.test.raw is None or not len(ds.test):
        st.info("The test split keeps no raw rows to start from.")
        return
    row_id = int(st.number_input("Start from test row", min_value=0, max_value=len(ds.test) - 1, value=0, step=1,
                                 key="whatif_row"))
    features = wc.editable_features(model, ds)
    inputs, outputs = st.columns([3, 2], gap="large")
    with inputs:
        st.markdown("**Edit the features** (the outputs update as you edit)")
        row = _feature_inputs(features, ds.test.raw.iloc[row_id], row_id)
    class_names = list(model.class_names or ds.class_names)
    target = 0
    with outputs:
        if model.task in ("binary", "multiclass"):
            base_pred = wc.predict_row(model, ds, row)[1]
            others = [c for c in class_names if c != base_pred.label]
            goal = others[0] if len(others) == 1 else st.selectbox("Counterfactual target class", others,
                                                                   key="whatif_target")
            target = class_names.index(goal)
        outcome = _tabular_outcome(model_key, row.to_json(orient="split"), target, model, ds)
        _show_prediction(outcome["prediction"])
        attrs = outcome["attributions"]
        if attrs:
            order = sorted(attrs, key=lambda k: -abs(attrs[k]))[:10]
            fig = plots.bar_figure(order, [attrs[k] for k in order],
                                   title=f"Why '{outcome['prediction'].label}': integrated gradients",
                                   value_label="attribution")
            st.plotly_chart(fig, width="stretch", key="whatif_attr")
        cf: wc.Counterfactual | None = outcome["counterfactual"]
        if cf is not None:
            st.markdown("**Counterfactual**")
            if cf.reached:
                edits = " and ".join(f"**{c.feature}** from `{_fmt(c.before)}` to `{_fmt(c.after)}`"
                                     for c in cf.changes)
                st.markdown(f"The smallest change found: {edits} gives **{cf.target}** (verified by re-scoring; "
                            f"sensitive features never move).")
                _show_prediction(cf.prediction, "Prediction after the change")
            else:
                st.caption(f"No change of at most {wc.MAX_CHANGED} non-sensitive features within the training range "
                           f"reaches {cf.target}.")


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _pick_sample(ds: Dataset) -> int:
    return int(st.number_input("Test sample", min_value=0, max_value=max(0, len(ds.test) - 1), value=0, step=1,
                               key="whatif_sample"))


@st.cache_data(max_entries=128, show_spinner="Explaining…")
def _text_outcome(model_key: str, text: str, _model: TrainedModel, _ds: Dataset) -> dict[str, Any]:
    """Prediction, token attributions and the masking counterfactual of one text (cached per model and text)."""
    state = _model.preprocessing or _ds.preprocessing
    x = encode([text], state)
    pred = wc.predict_rows(_model, x, list(_model.class_names or _ds.class_names))[0]
    tokens = tokenize(text)[: x.shape[1]]
    if not tokens:
        return {"prediction": pred, "tokens": [], "scores": [], "counterfactual": None}
    scores = wc.text_attributions(_model, _ds, x, pred.index)[: len(tokens)]
    return {"prediction": pred, "tokens": tokens, "scores": [float(s) for s in scores],
            "counterfactual": wc.text_counterfactual(_model, _ds, text)}


def _text(model: TrainedModel, ds: Dataset, model_key: str) -> None:
    idx = _pick_sample(ds)
    raw = ds.test.raw["text"].iloc[idx] if ds.test.raw is not None and "text" in ds.test.raw else ""
    text = st.text_area("Text (edit it; the outputs update when you leave the box)", value=str(raw),
                        key=f"whatif_text_{idx}")
    out = _text_outcome(model_key, text, model, ds)
    pred: wc.Prediction = out["prediction"]
    left, right = st.columns([2, 3], gap="large")
    with left:
        _show_prediction(pred)
    with right:
        if not out["tokens"]:
            st.caption("The text has no words the model knows.")
            return
        st.markdown(f"**Why '{pred.label}': layer integrated gradients per word** (red supports it, blue opposes it)")
        st.markdown(token_block(plots.token_html(out["tokens"], out["scores"])), unsafe_allow_html=True)
        cf: wc.TextCounterfactual = out["counterfactual"]
        st.markdown("**Counterfactual**")
        words = ", ".join(f"`{w}`" for w in cf.removed)
        if cf.prediction.index != pred.index:
            st.markdown(f"Removing words in order of their attribution toward '{pred.label}' (most supporting "
                        f"first), the prediction changes to **{cf.prediction.label}** after {len(cf.removed)}: "
                        f"{words}.")
        else:
            st.markdown(f"Removing the {len(cf.removed)} words with the highest attribution toward "
                        f"'{pred.label}' ({words}) does not change the prediction: "
                        f"P({pred.label}) = {cf.prediction.proba.get(pred.label, 0.0):.3f}.")
        fig = plots.curve_figure(cf.counts, {f"P({pred.label})": cf.curve},
                                 title="Probability as the most supporting words are removed",
                                 x_label="words removed", y_label="probability")
        fig.update_xaxes(dtick=1)
        st.plotly_chart(fig, width="stretch", key="whatif_text_curve")


def _image(model: TrainedModel, ds: Dataset) -> None:
    idx = _pick_sample(ds)
    x = ds.test.x[idx: idx + 1]
    pred = wc.predict_rows(model, x, list(model.class_names or ds.class_names))[0]
    base = x[0].mean(axis=0)
    left, mid, right = st.columns([1, 1, 2], gap="large")
    with left:
        st.image(upscale(image_rgb(base.tolist(), kind="grayscale"), 168), caption="input")
    with mid:
        attr = wc.image_attributions(model, ds, x, pred.index)
        st.image(upscale(image_rgb(attr.tolist(), kind="overlay", base=base.tolist()), 168),
                 caption=f"integrated gradients toward '{pred.label}' (red for, blue against)")
    with right:
        _show_prediction(pred)
        st.caption("Counterfactual edits are offered for tabular and text models; the Robustness tab shows the "
                   "smallest pixel changes that fool this model.")


def _series(model: TrainedModel, ds: Dataset) -> None:
    idx = _pick_sample(ds)
    x = ds.test.x[idx: idx + 1]
    pred = wc.predict_rows(model, x, list(model.class_names or ds.class_names))[0]
    _show_prediction(pred)
    steps = list(range(x.shape[1]))
    left, right = st.columns(2)
    with left:
        fig = plots.curve_figure([i - len(steps) + 1 for i in steps],
                                 {"input": x[0, :, 0].astype(float).tolist() if x.ndim == 3
                                  else x[0].astype(float).tolist()},
                                 title="Input window", x_label="step (0 = the latest)", y_label="standardised value")
        st.plotly_chart(fig, width="stretch", key="whatif_series")
    with right:
        attr = wc.series_attributions(model, ds, x)
        labels = [f"t-{len(steps) - 1 - i}" for i in steps]
        fig = plots.step_bar_figure(labels, [float(a) for a in attr], title="Integrated gradients per time step",
                                    x_label="step", value_label="attribution")
        st.plotly_chart(fig, width="stretch", key="whatif_series_attr")


def render_whatif(folder: Path, result: AuditResult) -> None:
    """Draw the What-if tab for the run in ``folder``."""
    live = load_live(folder, result)
    if isinstance(live, str):
        st.info(live)
        return
    model, ds = live
    if model.family == "gan":
        st.info("What-if applies to classifiers and regressors; see the Generative tab for this GAN.")
        return
    model_key = str(folder.resolve())
    try:
        if ds.kind == "tabular":
            _tabular(model, ds, model_key)
        elif ds.kind == "text":
            _text(model, ds, model_key)
        elif ds.kind == "image":
            _image(model, ds)
        else:
            _series(model, ds)
    except DeepAuditError as exc:
        st.error(str(exc))

