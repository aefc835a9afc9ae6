"""The explanation methods as one table: what each needs, where it applies, and how it runs on a ``Workload``.

Every method returns attributions shaped like the inputs (tabular methods that work over whole feature groups put
each group's value on the group's first column, so summing columns per group gives it back).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from audit.checks._common import module_device
from audit.checks.explain import captum_, lime_, shap_
from audit.executor import Executor, chunked
from models.preprocessing import encode_text

__all__ = [
    "METHODS",
    "GRADIENT_METHODS",
    "BLACKBOX_METHODS",
    "MethodSpec",
    "Workload",
    "MethodOutput",
    "BlackBoxScores",
    "TextScores",
    "TorchScores",
    "auto_methods",
    "applicable",
    "run_method",
]


@dataclass(frozen=True)
class MethodSpec:
    """One explanation method: its family, whether it needs gradients, and the data kinds it fits."""

    name: str
    family: str
    gradients: bool
    kinds: frozenset[str]
    expensive: bool = False


METHODS: dict[str, MethodSpec] = {s.name: s for s in (
    MethodSpec("integrated_gradients", "captum", True, frozenset({"tabular", "image", "timeseries"})),
    MethodSpec("saliency", "captum", True, frozenset({"tabular", "image", "timeseries"})),
    MethodSpec("deeplift", "captum", True, frozenset({"tabular", "image", "timeseries"})),
    MethodSpec("gradient_shap", "captum", True, frozenset({"tabular", "image", "timeseries"})),
    MethodSpec("occlusion", "captum", False, frozenset({"image", "timeseries"}), expensive=True),
    MethodSpec("layer_integrated_gradients", "captum", True, frozenset({"text"})),
    MethodSpec("shap_gradient", "shap", True, frozenset({"tabular", "image", "timeseries"})),
    MethodSpec("shap_deep", "shap", True, frozenset({"tabular", "image", "timeseries"})),
    MethodSpec("kernel_shap", "shap", False, frozenset({"tabular", "timeseries"}), expensive=True),
    MethodSpec("shap_permutation", "shap", False, frozenset({"tabular"}), expensive=True),
    MethodSpec("lime", "lime", False, frozenset({"tabular", "image", "text"}), expensive=True),
)}
GRADIENT_METHODS = tuple(n for n, s in METHODS.items() if s.gradients)
BLACKBOX_METHODS = tuple(n for n, s in METHODS.items() if not s.gradients)

_AUTO: dict[tuple[str, bool], tuple[str, ...]] = {
    ("tabular", True): ("integrated_gradients", "saliency", "deeplift", "gradient_shap", "shap_gradient", "shap_deep",
                        "kernel_shap", "lime"),
    ("image", True): ("integrated_gradients", "saliency", "deeplift", "gradient_shap", "occlusion", "shap_gradient",
                      "lime"),
    ("timeseries", True): ("integrated_gradients", "saliency", "gradient_shap", "occlusion", "kernel_shap"),
    ("text", True): ("layer_integrated_gradients", "lime"),
    ("tabular", False): ("kernel_shap", "lime"),
    ("image", False): ("occlusion", "lime"),
    ("timeseries", False): ("occlusion", "kernel_shap"),
    ("text", False): ("lime",),
}


class BlackBoxScores:
    """Picklable score function over a model adapter: probabilities (n, k), or values (n, 1) for regression."""

    def __init__(self, adapter: Any, regression: bool) -> None:
        self.adapter = adapter
        self.regression = regression

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.regression:
            return np.asarray(self.adapter.predict(x), dtype=np.float64).reshape(-1, 1)
        return np.asarray(self.adapter.predict_proba(x), dtype=np.float64)


class TextScores:
    """Picklable score function over raw strings: encode with the text state, then score the ids."""

    def __init__(self, scores: Callable[[np.ndarray], np.ndarray], state: dict[str, Any]) -> None:
        self.scores = scores
        self.state = state

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self.scores(encode_text(texts, self.state))


@dataclass
class Workload:
    """Everything a method needs, built once per audit by the explanations check.

    Attributes:
        kind, task: data kind and task.
        x: explained rows (n, ...); target: output index per row.
        module: differentiable score module (logits), or None for black boxes.
        scores: black-box score function (n, k).
        baseline: one row (the "absent" input).
        background: training rows (b, ...) for SHAP.
        train: training rows for LIME's perturbations (tabular).
        groups, continuous: tabular feature groups and which are numeric.
        text_state: the fitted text preprocessing (vocab, max_len) for text LIME.
        options: the check's options; seed; executor.
    """

    kind: str
    task: str
    x: np.ndarray
    target: np.ndarray
    module: nn.Module | None
    scores: Callable[[np.ndarray], np.ndarray]
    baseline: np.ndarray
    background: np.ndarray
    train: np.ndarray
    groups: list[list[int]] | None
    continuous: list[bool] | None
    text_state: dict[str, Any] | None
    options: dict[str, Any]
    seed: int
    executor: Executor = field(default_factory=Executor)


@dataclass
class MethodOutput:
    """Attributions like the inputs, the convergence delta (IG), and notes (fallbacks, limits)."""

    values: np.ndarray
    delta: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)


def auto_methods(kind: str, differentiable: bool) -> tuple[str, ...]:
    """The default method list for a data kind and model type."""
    return _AUTO[(kind, differentiable)]


def applicable(name: str, kind: str, module: nn.Module | None, text_state: dict[str, Any] | None) -> str | None:
    """None when ``name`` can run here; otherwise the reason it is skipped."""
    spec = METHODS[name]
    if kind not in spec.kinds:
        return f"{name} does not apply to {kind} data (it fits {sorted(spec.kinds)})"
    if spec.gradients and module is None:
        return f"{name} needs gradients, and this model is a black box (no differentiable torch module)"
    if name == "layer_integrated_gradients" and not isinstance(getattr(_inner(module), "embedding", None),
                                                                nn.Embedding):
        return "layer_integrated_gradients needs a text model with an `embedding` (nn.Embedding) layer"
    if name == "deeplift" and module is not None:
        ok, why = shap_.deeplift_supported(module)
        if not ok:
            return f"DeepLift does not support this model: {why}"
    if name == "lime" and kind == "text" and not (text_state and text_state.get("vocab") is not None):
        return "text LIME needs the fitted text preprocessing (vocabulary) in dataset.preprocessing"
    return None


def _inner(module: nn.Module | None) -> nn.Module | None:
    return getattr(module, "inner", module)


def run_method(name: str, w: Workload, rows: np.ndarray | None = None,
               module: nn.Module | None = None) -> MethodOutput:
    """Run one method on rows ``rows`` of the workload (all rows by default).

    Args:
        name: a key of ``METHODS``.
        w: the workload.
        rows: positions in ``w.x``.
        module: replaces ``w.module`` (and the black-box scores) — used by the randomisation sanity check.
    """
    rows = np.arange(len(w.x)) if rows is None else np.asarray(rows, dtype=np.int64)
    x, t = w.x[rows], w.target[rows]
    net = module if module is not None else w.module
    scores = _ModuleScores(module, w.kind) if module is not None else w.scores
    o, seed, fast = w.options, w.seed, bool(w.options["fast"])
    if name == "integrated_gradients":
        values, delta = captum_.integrated_gradients(net, x, t, baseline=w.baseline, n_steps=o["ig_steps"], fast=fast)
        return MethodOutput(values, delta)
    if name == "saliency":
        return MethodOutput(captum_.saliency(net, x, t, fast=fast))
    if name == "deeplift":
        return MethodOutput(captum_.deeplift(net, x, t, baseline=w.baseline, fast=fast))
    if name == "gradient_shap":
        return MethodOutput(captum_.gradient_shap(net, x, t, background=w.background, n_samples=o["n_samples"],
                                                  seed=seed, fast=fast))
    if name == "shap_gradient":
        fn = shap_.shap_gradient if fast else shap_.shap_gradient_reference
        return MethodOutput(fn(net, x, t, background=w.background, n_samples=o["n_samples"], seed=seed))
    if name == "shap_deep":
        if fast:
            values, notes = shap_.shap_deep(net, x, t, background=w.background, n_samples=o["n_samples"], seed=seed)
            return MethodOutput(values, notes=notes)
        try:
            return MethodOutput(shap_.shap_deep_reference(net, x, t, background=w.background))
        except Exception as exc:  # shap refuses layers it has no rule for: fall back, say so
            values = shap_.shap_gradient_reference(net, x, t, background=w.background, n_samples=o["n_samples"],
                                                   seed=seed)
            return MethodOutput(values, notes=[f"DeepExplainer failed ({type(exc).__name__}: {exc}); "
                                               "used GradientExplainer instead."])
    if name == "layer_integrated_gradients":
        layer = _inner(net).embedding
        values, delta = captum_.layer_integrated_gradients(net, layer, x, t, baseline_ids=np.zeros(x.shape[1:]),
                                                           n_steps=o["ig_steps"])
        return MethodOutput(values, delta)
    if name == "occlusion":
        window, stride = _occlusion_window(w.kind, x.shape[1:], o["occlusion_window"])
        target_net = net if net is not None else TorchScores(scores)
        return MethodOutput(captum_.occlusion(target_net, x, t, window=window, stride=stride,
                                              baseline=float(np.mean(w.baseline))))
    return _run_blackbox(name, w, x, t, scores)


def _occlusion_window(kind: str, shape: Sequence[int], size: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if kind == "image":
        c, h, wd = shape
        k = max(1, min(size, h, wd))
        return (c, k, k), (c, max(1, k // 2), max(1, k // 2))
    steps = shape[0]
    k = max(1, min(size, steps))
    rest = tuple(shape[1:])
    return (k, *rest), (max(1, k // 2), *rest)


class TorchScores(nn.Module):
    """A black-box score function seen as a (non-differentiable) torch forward, for captum's Occlusion."""

    def __init__(self, scores: Callable[[np.ndarray], np.ndarray]) -> None:
        super().__init__()
        self.scores = scores

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self.scores(x.detach().cpu().numpy()), dtype=torch.float32)


class _ModuleScores:
    """Softmax scores of a score module, as a numpy function (for black-box methods on a swapped module)."""

    def __init__(self, module: nn.Module, kind: str) -> None:
        self.module = module
        self.kind = kind

    def __call__(self, x: np.ndarray) -> np.ndarray:
        device = module_device(self.module)
        t = torch.as_tensor(np.asarray(x))
        t = t.long() if self.kind == "text" else t.float()
        with torch.no_grad():
            out = self.module(t.to(device))
        return (torch.softmax(out, dim=1) if out.shape[1] > 1 else out).double().cpu().numpy()


def _run_blackbox(name: str, w: Workload, x: np.ndarray, t: np.ndarray,
                  scores: Callable[[np.ndarray], np.ndarray]) -> MethodOutput:
    o = w.options
    size = max(1, int(o["rows_per_task"]))
    items = []
    for i, (start, stop) in enumerate(chunked(len(x), size)):
        items.append({"method": name, "kind": w.kind, "scores": scores, "x": x[start:stop], "t": t[start:stop],
                      "seed": w.seed + 7919 * i, "background": w.background, "train": w.train, "groups": w.groups,
                      "continuous": w.continuous, "text_state": w.text_state, "options": dict(o),
                      "regression": w.task == "regression"})
    parts = w.executor.map(_blackbox_item, items)
    return MethodOutput(np.concatenate(parts), notes=_blackbox_notes(name, w))


def _blackbox_notes(name: str, w: Workload) -> list[str]:
    if name == "lime" and w.kind == "text":
        return ["Masked words become the unknown token."]
    if name == "kernel_shap" and w.kind == "tabular":
        return ["Computed over original features (one-hot blocks switched together)."]
    return []


def _blackbox_item(item: dict[str, Any]) -> np.ndarray:
    """One chunk of rows for a black-box method (module level: picklable for loky and dask)."""
    name, kind, f, x, t, seed, o = (item["method"], item["kind"], item["scores"], item["x"], item["t"],
                                    item["seed"], item["options"])
    if name == "kernel_shap":
        groups = item["groups"] if kind == "tabular" else _step_groups(x.shape[1:])
        values = shap_.kernel_shap(f, x, t, background=item["background"][: o["n_background_kernel"]],
                                   groups=groups, n_samples=o["kernel_samples"], seed=seed)
        return _spread(values, groups, x.shape)
    if name == "shap_permutation":
        values = shap_.shap_permutation(f, x, t, background=item["background"][: o["n_background_kernel"]],
                                        n_samples=o["kernel_samples"], seed=seed)
        return values.reshape(x.shape)
    if kind == "tabular":
        if o["fast"]:
            values = lime_.lime_tabular_fast(f, x, t, train=item["train"], groups=item["groups"],
                                             continuous=item["continuous"], n_samples=o["lime_samples"], seed=seed)
            return _spread(values, item["groups"], x.shape)
        cat_cols = [j for g, c in zip(item["groups"], item["continuous"]) if not c for j in g]
        return lime_.lime_tabular(f, x, t, train=item["train"], categorical_columns=cat_cols,
                                  n_samples=o["lime_samples"], seed=seed, regression=item["regression"])
    if kind == "image":
        return lime_.lime_image(f, x, t, n_samples=o["lime_samples"], n_segments=o["lime_segments"], seed=seed)
    state = item["text_state"]
    tokens = [lime_.tokens_to_text(row, state["vocab"]) for row in x]
    return lime_.lime_text(TextScores(f, state), tokens, t, max_len=x.shape[1], n_samples=o["lime_samples"],
                           seed=seed)


def _step_groups(shape: Sequence[int]) -> list[list[int]]:
    """Kernel SHAP over time steps: every channel of one step switched together."""
    steps = shape[0]
    per = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return [list(range(s * per, (s + 1) * per)) for s in range(steps)]


def _spread(values: np.ndarray, groups: list[list[int]] | None, shape: tuple[int, ...]) -> np.ndarray:
    """Group values (n, m) back to input shape, each on its group's first column (column sums recover them)."""
    if groups is None:
        return values.reshape(shape)
    out = np.zeros((shape[0], int(np.prod(shape[1:]))))
    for gi, g in enumerate(groups):
        out[:, g[0]] = values[:, gi]
    return out.reshape(shape)
