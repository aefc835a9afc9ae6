"""What-if for one input (no Streamlit): prediction, attribution and counterfactual, all computed by ``audit``.

This module only adapts the dashboard's one edited input to the audit's public functions and back to raw values:

- the model is wrapped once with ``audit.adapters.wrap_model`` (the adapter the audit itself scores with);
- attributions: ``audit.checks.explain.captum_.integrated_gradients`` (tabular: train-mean baseline, one-hot
  blocks summed per raw feature; image and series: zero baseline) and ``layer_integrated_gradients`` (text:
  all-padding baseline), as the explanations check does;
- tabular counterfactual: ``audit.checks.explain.counterfactual`` (``sampling_search`` and, for torch models,
  ``gradient_search``; then ``sparsify`` and ``shrink``, verified by re-scoring) over a ``FeatureSpace`` in which
  sensitive features never move;
- text counterfactual: ``audit.checks.explain.quality.deletion_insertion``: the predicted class's probability as
  the words that most support it are masked, in attribution order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from audit.adapters import ModelAdapter, wrap_model
from audit.checks.explain.captum_ import integrated_gradients, layer_integrated_gradients
from audit.checks.explain.counterfactual import FeatureSpace, counterfactual_for_row
from audit.checks.explain.counterfactual import feature_space as audit_feature_space
from audit.checks.explain.quality import deletion_insertion, unit_index
from models import Dataset, TrainedModel
from models.errors import InvalidInputError
from models.preprocessing import PAD_ID, encode, tokenize

__all__ = [
    "MAX_CHANGED",
    "Change",
    "Counterfactual",
    "Prediction",
    "TextCounterfactual",
    "adapter_for",
    "editable_features",
    "feature_space",
    "predict_rows",
    "predict_row",
    "tabular_attributions",
    "tabular_counterfactual",
    "text_attributions",
    "text_counterfactual",
    "image_attributions",
    "series_attributions",
]

_IG_STEPS = 32
MAX_CHANGED = 3


@dataclass(frozen=True)
class Prediction:
    """The model's output for one input: class probabilities (classification) or a value (regression)."""

    label: str
    index: int
    proba: dict[str, float] = field(default_factory=dict)
    value: float | None = None


@dataclass(frozen=True)
class Change:
    """One edited feature, in raw units (numbers in the data's own units, categories by name)."""

    feature: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Counterfactual:
    """The smallest verified edit found that moves the prediction to ``target``.

    Attributes:
        changes: the edited features (empty when none was found).
        prediction: the prediction after the edit (the current one when none was found).
        reached: whether the prediction is now ``target``.
        target: the class aimed at.
    """

    changes: list[Change]
    prediction: Prediction
    reached: bool
    target: str


@dataclass(frozen=True)
class TextCounterfactual:
    """Masking the words that most support the prediction, most supportive first.

    Attributes:
        removed: the masked words in masking order (the fewest that change the prediction, else every word
            tried).
        text: the text with those words removed.
        prediction: the prediction with them masked (re-scored).
        counts: words masked at each point of ``curve``.
        curve: the predicted class's probability as 0, 1, 2, ... of the words are masked.
    """

    removed: list[str]
    text: str
    prediction: Prediction
    counts: list[int]
    curve: list[float]


def _state(model: TrainedModel, ds: Dataset) -> dict[str, Any]:
    return model.preprocessing or ds.preprocessing


def _class_names(model: TrainedModel, ds: Dataset) -> list[str]:
    return list(model.class_names or ds.class_names)


def adapter_for(model: TrainedModel, ds: Dataset) -> ModelAdapter:
    """The audit's adapter of ``model`` on the CPU (what the audit scores and differentiates)."""
    return wrap_model(model, ds, device="cpu")


def editable_features(model: TrainedModel, ds: Dataset) -> list[dict[str, Any]]:
    """The raw features of a tabular model: name, type, categories (categorical) or train range (numeric).

    Raises:
        InvalidInputError: the model is not tabular.
    """
    state = _state(model, ds)
    if state.get("kind") != "tabular":
        raise InvalidInputError(f"What-if editing needs a tabular model. Got preprocessing kind {state.get('kind')!r}.")
    out = []
    for feat in state["features"]:
        entry = {"name": feat["name"], "type": feat["type"]}
        if feat["type"] == "categorical":
            entry["categories"] = list(feat["categories"])
        else:
            raw = ds.train.raw[feat["name"]] if ds.train.raw is not None and feat["name"] in ds.train.raw else None
            values = pd.to_numeric(raw, errors="coerce").dropna() if raw is not None else pd.Series([feat["mean"]])
            entry.update(min=float(values.min()), max=float(values.max()), median=float(feat["median"]),
                         integer=bool(len(values) and np.all(np.mod(values, 1) == 0)))
        out.append(entry)
    return out


def predict_rows(model: TrainedModel, x: np.ndarray, class_names: list[str]) -> list[Prediction]:
    """Predictions for encoded rows ``x``."""
    if model.task in ("binary", "multiclass"):
        proba = model.predict_proba(x)
        return [Prediction(label=class_names[int(p.argmax())], index=int(p.argmax()),
                           proba={c: float(v) for c, v in zip(class_names, p)}) for p in proba]
    values = model.predict(x).reshape(len(x), -1)[:, 0]
    return [Prediction(label=f"{float(v):.4g}", index=0, value=float(v)) for v in values]


def predict_row(model: TrainedModel, ds: Dataset, row: pd.DataFrame) -> tuple[np.ndarray, Prediction]:
    """Encode one raw tabular row with the model's preprocessing and predict it."""
    x = encode(row, _state(model, ds))
    return x, predict_rows(model, x, _class_names(model, ds))[0]


def _groups(ds: Dataset) -> dict[str, list[int]]:
    return {k: list(v) for k, v in ds.feature_groups.items()} or {n: [i] for i, n in enumerate(ds.feature_names)}


# ---------------------------------------------------------------------------------------------- attributions
def tabular_attributions(model: TrainedModel, ds: Dataset, x: np.ndarray, target: int) -> dict[str, float]:
    """Integrated gradients of one encoded row toward class ``target`` (baseline: the train mean, as the
    explanations check), summed per raw feature (one-hot blocks add up)."""
    module = adapter_for(model, ds).score_module(as_proba=False)
    attr, _ = integrated_gradients(module, x.astype(np.float32), np.array([target]),
                                   baseline=ds.train.x.astype(np.float64).mean(axis=0), n_steps=_IG_STEPS)
    return {name: float(attr[0, idx].sum()) for name, idx in _groups(ds).items()}


def text_attributions(model: TrainedModel, ds: Dataset, x: np.ndarray, target: int) -> np.ndarray:
    """Per-token layer integrated gradients on the embedding layer (baseline: all padding); shape (L,).

    Raises:
        InvalidInputError: the model has no ``embedding`` layer.
    """
    layer = getattr(model.module, "embedding", None)
    if layer is None:
        raise InvalidInputError(f"Token attributions need a text model with an 'embedding' layer; this {model.family!r} has none.")
    module = adapter_for(model, ds).score_module(as_proba=False)
    scores, _ = layer_integrated_gradients(module, layer, x.astype(np.int64), np.array([target]),
                                           baseline_ids=np.full(x.shape[1], PAD_ID), n_steps=_IG_STEPS)
    return scores[0]


def image_attributions(model: TrainedModel, ds: Dataset, x: np.ndarray, target: int) -> np.ndarray:
    """Integrated gradients of one image (1, c, h, w) toward ``target`` (baseline: black), summed over channels."""
    module = adapter_for(model, ds).score_module(as_proba=False)
    attr, _ = integrated_gradients(module, x.astype(np.float32), np.array([target]),
                                   baseline=np.zeros(x.shape[1:]), n_steps=_IG_STEPS)
    return attr[0].sum(axis=0)


def series_attributions(model: TrainedModel, ds: Dataset, x: np.ndarray) -> np.ndarray:
    """Integrated gradients of one window (1, T[, C]) of a forecaster (baseline: zeros), per time step (T,)."""
    module = adapter_for(model, ds).score_module(as_proba=False)
    attr, _ = integrated_gradients(module, x.astype(np.float32), np.array([0]), baseline=np.zeros(x.shape[1:]),
                                   n_steps=_IG_STEPS)
    a = attr[0]
    return a.sum(axis=1) if a.ndim == 2 else a


# ----------------------------------------------------------------------------------------- counterfactuals
def feature_space(ds: Dataset) -> FeatureSpace:
    """The counterfactual search space of the data (as the counterfactuals check searches: sensitive features frozen,
    categories never seen in training left out)."""
    return audit_feature_space(ds, [], [])


def _raw_value(ds: Dataset, state: dict[str, Any], name: str, cols: list[int], numeric: bool, x: np.ndarray) -> Any:
    """One feature of an encoded row back in raw units (a category name, or the value in the data's units)."""
    if not numeric:
        return ds.feature_names[cols[int(np.argmax(x[cols]))]].split("=", 1)[-1]
    feat = next((f for f in state.get("features", []) if f["name"] == name), None)
    value = float(x[cols[0]])
    raw = value * float(feat["std"]) + float(feat["mean"]) if feat and feat.get("type") == "numeric" else value
    return round(raw, 4)


def tabular_counterfactual(model: TrainedModel, ds: Dataset, row: pd.DataFrame, target: int, *, seed: int = 0,
                           steps: int = 200, n_candidates: int = 300) -> Counterfactual:
    """The smallest verified change of non-sensitive features that moves one raw row to class ``target``.

    Args:
        model: a tabular classifier.
        ds: its data set (train rows give the ranges, sampled values and baseline).
        row: one raw row (a one-row DataFrame).
        target: the class index to reach.
        seed: seeds the search.
        steps: gradient steps (torch models).
        n_candidates: sampled candidates (values copied from training rows).

    Returns:
        The edits (raw units) and the re-scored prediction after them; edits of at most ``MAX_CHANGED`` features
        are preferred, larger ones are returned only when no small one flips the prediction.

    Raises:
        InvalidInputError: not a classifier, or ``target`` out of range.
    """
    names = _class_names(model, ds)
    if model.task not in ("binary", "multiclass"):
        raise InvalidInputError(f"A counterfactual needs a classifier. This model's task is {model.task!r}.")
    if not 0 <= int(target) < len(names):
        raise InvalidInputError(f"The 'target' argument must be a class index in 0..{len(names) - 1}. Got {target!r}.")
    state = _state(model, ds)
    adapter = adapter_for(model, ds)
    space = feature_space(ds)
    x = encode(row, state).astype(np.float32)
    cf_row, ok = counterfactual_for_row(adapter, ds, x[0], int(target), steps=steps, n_candidates=n_candidates,
                                       max_changed=MAX_CHANGED, seed=seed)
    cf, found = cf_row[None, :], np.array([ok])
    pred = predict_rows(model, cf.astype(np.float32), names)[0]
    reached = bool(found[0]) and pred.index == int(target)
    changes = []
    if reached:
        for name, cols, numeric in zip(space.names, space.groups, space.numeric):
            if not np.allclose(x[0, cols], cf[0, cols], atol=1e-6):
                changes.append(Change(name, _raw_value(ds, state, name, cols, numeric, x[0]),
                                      _raw_value(ds, state, name, cols, numeric, cf[0])))
    return Counterfactual(changes=changes, prediction=pred, reached=reached, target=names[int(target)])


def text_counterfactual(model: TrainedModel, ds: Dataset, text: str, *, max_words: int = 10) -> TextCounterfactual:
    """Mask the words that most support the current prediction (by layer integrated gradients), most supportive
    first, and find the fewest that change it (``audit``'s deletion curve, then re-scored).

    Args:
        model: a text classifier.
        ds: its data set.
        text: the input text.
        max_words: most words masked.

    Returns:
        The masked words, the edited text, the prediction after masking, and the probability curve.
    """
    state = _state(model, ds)
    names = _class_names(model, ds)
    ids = encode([text], state)
    start = predict_rows(model, ids, names)[0]
    words = tokenize(text)[: ids.shape[1]]
    n = min(len(words), max_words)
    if n == 0:
        return TextCounterfactual([], text, start, [0], [start.proba.get(start.label, 1.0)])
    scores = text_attributions(model, ds, ids, start.index)
    readable = np.where(np.arange(ids.shape[1]) < len(words), scores, -np.inf)[None, :]
    fractions, deletion, _ = deletion_insertion(adapter_for(model, ds).predict_proba, ids, np.array([start.index]),
                                                readable, unit_index("text", ids.shape[1:]),
                                                np.full(ids.shape[1], PAD_ID), n_steps=ids.shape[1])
    counts = np.round(fractions * ids.shape[1]).astype(int)
    keep = counts <= n
    counts, curve = counts[keep], deletion[0, keep]
    order = np.argsort(-readable[0], kind="stable")
    k = next((int(c) for c, p in zip(counts, curve) if c > 0 and p < 0.5), n)
    masked = ids.copy()
    masked[0, order[:k]] = PAD_ID
    after = predict_rows(model, masked, names)[0]
    removed_pos = set(order[:k].tolist())
    return TextCounterfactual(removed=[words[i] for i in order[:k]],
                              text=" ".join(w for i, w in enumerate(words) if i not in removed_pos),
                              prediction=after, counts=[int(c) for c in counts], curve=[float(p) for p in curve])
