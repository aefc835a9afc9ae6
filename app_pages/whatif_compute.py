"""What-if computations for one input (no Streamlit): prediction, attribution and counterfactual.

Attributions call the audit's own captum wrappers (``audit.checks.explain.captum_``); the counterfactual is a small
greedy search over single-feature edits scored by the model itself. Sensitive attributes are never edited by the
counterfactual (it answers "what would have to change", not "who would have to be someone else").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from audit.checks.explain.captum_ import integrated_gradients, layer_integrated_gradients
from models import Dataset, TrainedModel
from models.errors import InvalidInputError
from models.preprocessing import PAD_ID, encode, tokenize

__all__ = [
    "Change",
    "Counterfactual",
    "Prediction",
    "editable_features",
    "predict_rows",
    "predict_row",
    "tabular_attributions",
    "tabular_counterfactual",
    "text_attributions",
    "text_counterfactual",
    "image_attributions",
]

_NUMERIC_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_IG_STEPS = 32


@dataclass(frozen=True)
class Prediction:
    """The model's output for one input: class probabilities (classification) or a value (regression)."""

    label: str
    index: int
    proba: dict[str, float] = field(default_factory=dict)
    value: float | None = None


@dataclass(frozen=True)
class Change:
    """One edited feature."""

    feature: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Counterfactual:
    """The smallest edit found that moves the prediction to ``target``.

    Attributes:
        changes: the edited features (at most ``max_changes``).
        prediction: the prediction after the edit.
        reached: whether the prediction is now ``target``.
        target: the class aimed at.
    """

    changes: list[Change]
    prediction: Prediction
    reached: bool
    target: str


def _state(model: TrainedModel, ds: Dataset) -> dict[str, Any]:
    return model.preprocessing or ds.preprocessing


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
    return x, predict_rows(model, x, list(model.class_names or ds.class_names))[0]


def _baseline(ds: Dataset) -> np.ndarray:
    return ds.train.x.astype(np.float64).mean(axis=0)


def tabular_attributions(model: TrainedModel, ds: Dataset, x: np.ndarray, target: int) -> dict[str, float]:
    """Integrated gradients of one encoded row toward class ``target`` (baseline: the train mean), summed per
    raw feature (one-hot blocks add up)."""
    attr, _ = integrated_gradients(model.module, x.astype(np.float32), np.array([target]), baseline=_baseline(ds),
                                   n_steps=_IG_STEPS)
    groups = ds.feature_groups or {name: [i] for i, name in enumerate(ds.feature_names)}
    return {name: float(attr[0, idx].sum()) for name, idx in groups.items()}


def _candidates(feat: dict[str, Any], current: Any, ds: Dataset) -> list[Any]:
    if feat["type"] == "categorical":
        return [c for c in feat["categories"] if str(c) != str(current)]
    raw = ds.train.raw[feat["name"]] if ds.train.raw is not None and feat["name"] in ds.train.raw else None
    values = pd.to_numeric(raw, errors="coerce").dropna().to_numpy() if raw is not None else np.array([feat["mean"]])
    qs = np.quantile(values, _NUMERIC_QUANTILES) if len(values) else np.array([feat["mean"]])
    integer = len(values) and np.all(np.mod(values, 1) == 0)
    cands = sorted({float(np.round(q)) if integer else float(q) for q in qs})
    return [c for c in cands if current is None or pd.isna(current) or abs(c - float(current)) > 1e-9]


def _cost(feat: dict[str, Any], before: Any, after: Any) -> float:
    if feat["type"] == "categorical":
        return 1.0
    try:
        return abs(float(after) - float(before)) / float(feat["std"])
    except (TypeError, ValueError):
        return 1.0


def tabular_counterfactual(model: TrainedModel, ds: Dataset, row: pd.DataFrame, target: int,
                           max_changes: int = 2) -> Counterfactual:
    """A greedy counterfactual: the cheapest single edit that reaches class ``target``; otherwise the edit that
    raises its probability most, then the next, up to ``max_changes`` edits.

    Args:
        model: a tabular classifier.
        ds: its data set (train rows give the candidate values).
        row: one raw row (a one-row DataFrame).
        target: the class index to reach.
        max_changes: most features edited.

    Returns:
        The edits and the prediction after them.

    Raises:
        InvalidInputError: not a classifier, or ``target`` out of range.
    """
    class_names = list(model.class_names or ds.class_names)
    if model.task not in ("binary", "multiclass"):
        raise InvalidInputError(f"A counterfactual needs a classifier. This model's task is {model.task!r}.")
    if not 0 <= int(target) < len(class_names):
        raise InvalidInputError(f"The 'target' argument must be a class index in 0..{len(class_names) - 1}. Got {target!r}.")
    state = _state(model, ds)
    sensitive = set(ds.sensitive_features)
    feats = [f for f in state["features"] if f["name"] not in sensitive]
    current = row.reset_index(drop=True).copy()
    changes: list[Change] = []
    pred = predict_row(model, ds, current)[1]
    for _ in range(max_changes):
        trials: list[tuple[dict[str, Any], Any]] = []
        frames = []
        for feat in feats:
            if any(c.feature == feat["name"] for c in changes):
                continue
            for value in _candidates(feat, current.at[0, feat["name"]], ds):
                edited = current.copy()
                edited[feat["name"]] = edited[feat["name"]].astype(object)
                edited.at[0, feat["name"]] = value
                frames.append(edited)
                trials.append((feat, value))
        if not frames:
            break
        proba = model.predict_proba(encode(pd.concat(frames, ignore_index=True), state))
        reached = np.flatnonzero(proba.argmax(axis=1) == target)
        if len(reached):
            costs = [_cost(trials[i][0], current.at[0, trials[i][0]["name"]], trials[i][1]) for i in reached]
            best = int(reached[int(np.argmin(costs))])
        else:
            best = int(np.argmax(proba[:, target]))
        feat, value = trials[best]
        changes.append(Change(feat["name"], current.at[0, feat["name"]], value))
        current[feat["name"]] = current[feat["name"]].astype(object)
        current.at[0, feat["name"]] = value
        pred = predict_rows(model, encode(current, state), class_names)[0]
        if pred.index == target:
            break
    return Counterfactual(changes=changes, prediction=pred, reached=pred.index == target, target=class_names[target])


def text_attributions(model: TrainedModel, x: np.ndarray, target: int) -> np.ndarray:
    """Per-token integrated gradients on the embedding layer (baseline: all padding); shape (L,).

    Raises:
        InvalidInputError: the model has no ``embedding`` layer.
    """
    layer = getattr(model.module, "embedding", None)
    if layer is None:
        raise InvalidInputError(f"Token attributions need a text model with an 'embedding' layer; this {model.family!r} has none.")
    scores, _ = layer_integrated_gradients(model.module, layer, x.astype(np.int64), np.array([target]),
                                           baseline_ids=np.full(x.shape[1], PAD_ID), n_steps=_IG_STEPS)
    return scores[0]


def text_counterfactual(model: TrainedModel, ds: Dataset, text: str, max_removed: int = 5) -> tuple[str, list[str], Prediction]:
    """Remove, one at a time, the word that most supports the current prediction, until it changes.

    Returns:
        (the edited text, the removed words, the prediction after the edit).
    """
    state = _state(model, ds)
    class_names = list(model.class_names or ds.class_names)
    words = tokenize(text)
    start = predict_rows(model, encode([text], state), class_names)[0]
    removed: list[str] = []
    pred = start
    for _ in range(min(max_removed, max(0, len(words) - 1))):
        variants = [" ".join(words[:i] + words[i + 1:]) for i in range(len(words))]
        proba = model.predict_proba(encode(variants, state))
        best = int(np.argmin(proba[:, start.index]))
        removed.append(words[best])
        words = words[:best] + words[best + 1:]
        pred = predict_rows(model, encode([" ".join(words)], state), class_names)[0]
        if pred.index != start.index:
            break
    return " ".join(words), removed, pred


def image_attributions(model: TrainedModel, x: np.ndarray, target: int) -> np.ndarray:
    """Integrated gradients of one image (1, c, h, w) toward ``target`` (baseline: black), summed over channels."""
    attr, _ = integrated_gradients(model.module, x.astype(np.float32), np.array([target]),
                                   baseline=np.zeros(x.shape[1:]), n_steps=_IG_STEPS)
    return attr[0].sum(axis=0)
