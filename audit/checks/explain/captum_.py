"""captum attribution methods as plain functions over numpy arrays.

Each public function validates its inputs once (clear errors naming the argument), then runs captum, by default
through the batched gradient seed of ``_fast_gradients`` (same algorithm, one backward per chunk of rows;
``fast=False`` runs captum unchanged). Attributions come back as float64 arrays shaped like the inputs.

Example:
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> x = np.ones((4, 3), dtype=np.float32)
    >>> attr, delta = integrated_gradients(net, x, np.zeros(4, dtype=int), baseline=np.zeros(3), n_steps=8)
    >>> attr.shape
    (4, 3)
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import starmap
from typing import Any

import numpy as np
import torch
from captum.attr import (
    DeepLift,
    DeepLiftShap,
    GradientShap,
    IntegratedGradients,
    LayerIntegratedGradients,
    Occlusion,
    Saliency,
)
from torch import nn

from audit.checks._common import module_device, require_int
from audit.checks.explain._fast_deeplift import deeplift_rows, deeplift_shap_rows
from audit.checks.explain._fast_gradients import (
    batched,
    gradient_context,
    rows_independent,
    chunk_rows,
    seeded_global_rngs,
)
from audit.errors import InvalidInputError, InvalidTypeError
from audit.executor import chunked

__all__ = [
    "integrated_gradients",
    "saliency",
    "deeplift",
    "deeplift_shap",
    "gradient_shap",
    "occlusion",
    "layer_integrated_gradients",
    "check_baseline",
    "check_targets",
]


# ---------------------------------------------------------------------------------------------- validation
def check_targets(target: Any, n: int, n_outputs: int | None = None) -> np.ndarray:
    """Validated target indices (int64, length ``n``).

    Raises:
        InvalidInputError: wrong length, or an index outside ``0 .. n_outputs - 1``.
    """
    t = np.asarray(target)
    if t.ndim == 0:
        t = np.full(n, int(t))
    if t.shape != (n,) or not np.issubdtype(t.dtype, np.integer):
        raise InvalidInputError(f"The 'target' argument must be {n} integer class indices, one per row. "
                                f"Got an array of shape {t.shape} and dtype {t.dtype} instead.")
    if n_outputs is not None and n and (t.min() < 0 or t.max() >= n_outputs):
        raise InvalidInputError(f"The 'target' argument must hold class indices in 0..{n_outputs - 1}. "
                                f"Got values in {int(t.min())}..{int(t.max())} instead.")
    return t.astype(np.int64)


def check_baseline(baseline: Any, x: np.ndarray, name: str = "baseline") -> np.ndarray:
    """A baseline shaped like one input row (broadcast to every row) or like ``x`` itself.

    Raises:
        InvalidInputError: any other shape, or non-finite values.
    """
    b = np.asarray(baseline, dtype=np.float64)
    row_shape = tuple(x.shape[1:])
    if b.shape == row_shape:
        b = np.broadcast_to(b, x.shape)
    elif b.shape != tuple(x.shape):
        raise InvalidInputError(f"The '{name}' argument must have the shape of one input row {row_shape} or of the "
                                f"inputs {tuple(x.shape)}. Got shape {b.shape} instead.")
    if not np.all(np.isfinite(b)):
        raise InvalidInputError(f"The '{name}' argument must hold finite numbers. Got NaN or inf instead.")
    return np.ascontiguousarray(b)


def _check_module(module: Any) -> nn.Module:
    if not isinstance(module, nn.Module):
        raise InvalidTypeError(f"The 'module' argument must be a torch.nn.Module (gradient methods need a "
                               f"differentiable model). Got {type(module).__name__} instead.")
    return module


def _check_x(x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim < 2 or arr.shape[0] == 0:
        raise InvalidInputError(f"The 'x' argument must be a batch of at least 1 row (n, ...). Got shape {arr.shape}.")
    return arr


def _tensor(a: np.ndarray, module: nn.Module) -> torch.Tensor:
    arr = np.ascontiguousarray(a)
    t = torch.as_tensor(arr if arr.flags.writeable else arr.copy())
    if t.is_floating_point():
        t = t.float()
    return t.to(module_device(module))


def _use_fast(module: nn.Module, xt: torch.Tensor, fast: bool) -> bool:
    return fast and rows_independent(module, xt)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy().astype(np.float64)


# ---------------------------------------------------------------------------------------------- methods
def integrated_gradients(module: nn.Module, x: np.ndarray, target: Any, *, baseline: Any, n_steps: int = 50,
                         fast: bool = True, method: str = "gausslegendre") -> tuple[np.ndarray, np.ndarray]:
    """captum ``IntegratedGradients`` with its convergence delta.

    Args:
        module: differentiable model returning scores (n, k).
        x: inputs (n, ...).
        target: class index per row (or one int).
        baseline: one row's shape or ``x``'s shape.
        n_steps: integration steps.
        fast: one backward per chunk (``False``: captum's per-row seeds).
        method: captum's integral approximation.

    Returns:
        ``(attributions like x, convergence delta per row)``; delta = sum(attr) - (f(x) - f(baseline)).

    Raises:
        InvalidInputError: bad shapes, targets or steps.
        InvalidTypeError: ``module`` is not a torch module.
    """
    module, x = _check_module(module), _check_x(x)
    n_steps = require_int(None, "n_steps", n_steps, 1)
    t = check_targets(target, len(x))
    b = check_baseline(baseline, x)
    xt, bt, tt = _tensor(x, module), _tensor(b, module), torch.as_tensor(t, device=module_device(module))
    use_fast = _use_fast(module, xt, fast)
    size = chunk_rows(module, xt, n_steps) if use_fast else len(x)
    attrs, deltas = [], []
    with gradient_context(module):
        for sl in starmap(slice, chunked(len(x), size)):
            ig = IntegratedGradients(module)
            if use_fast:
                batched(ig)
            a, d = ig.attribute(xt[sl], baselines=bt[sl], target=tt[sl], n_steps=n_steps, method=method,
                                return_convergence_delta=True)
            attrs.append(_np(a))
            deltas.append(_np(d))
    return np.concatenate(attrs), np.concatenate(deltas)


def saliency(module: nn.Module, x: np.ndarray, target: Any, *, fast: bool = True, absolute: bool = True) -> np.ndarray:
    """captum ``Saliency``: |d score / d input| (signed when ``absolute`` is False)."""
    module, x = _check_module(module), _check_x(x)
    t = check_targets(target, len(x))
    xt, tt = _tensor(x, module), torch.as_tensor(t, device=module_device(module))
    use_fast = _use_fast(module, xt, fast)
    size = chunk_rows(module, xt, 1) if use_fast else len(x)
    out = []
    with gradient_context(module):
        for sl in starmap(slice, chunked(len(x), size)):
            sal = Saliency(module)
            if use_fast:
                batched(sal)
            out.append(_np(sal.attribute(xt[sl], target=tt[sl], abs=absolute)))
    return np.concatenate(out)


def deeplift(module: nn.Module, x: np.ndarray, target: Any, *, baseline: Any, fast: bool = True) -> np.ndarray:
    """captum ``DeepLift`` (rescale rule) against one baseline per row."""
    module, x = _check_module(module), _check_x(x)
    t = check_targets(target, len(x))
    b = check_baseline(baseline, x)
    xt, bt, tt = _tensor(x, module), _tensor(b, module), torch.as_tensor(t, device=module_device(module))
    use_fast = _use_fast(module, xt, fast)
    size = chunk_rows(module, xt, 2) if use_fast else len(x)
    with gradient_context(module):  # vectorised rescale rule, equal to captum's; None: not supported
        fast_attr = deeplift_rows(module, xt, bt, tt, size) if use_fast else None
    if fast_attr is not None:
        return _np(fast_attr)
    out = []
    with gradient_context(module):
        for sl in starmap(slice, chunked(len(x), size)):
            dl = DeepLift(module)
            if use_fast:
                batched(dl)
            out.append(_np(dl.attribute(xt[sl], baselines=bt[sl], target=tt[sl])))
    return np.concatenate(out)


def deeplift_shap(module: nn.Module, x: np.ndarray, target: Any, *, background: np.ndarray,
                  fast: bool = True) -> np.ndarray:
    """captum ``DeepLiftShap``: DeepLift averaged over background rows (the DeepExplainer estimate)."""
    module, x = _check_module(module), _check_x(x)
    t = check_targets(target, len(x))
    bg = np.asarray(background)
    if bg.ndim != x.ndim or bg.shape[1:] != x.shape[1:] or len(bg) < 2:
        raise InvalidInputError(f"The 'background' argument must be at least 2 rows shaped like the inputs "
                                f"(m, {', '.join(map(str, x.shape[1:]))}). Got shape {bg.shape} instead.")
    xt, bt, tt = _tensor(x, module), _tensor(bg, module), torch.as_tensor(t, device=module_device(module))
    use_fast = _use_fast(module, xt, fast)
    size = chunk_rows(module, xt, 2 * len(bg)) if use_fast else len(x)
    with gradient_context(module):  # vectorised rescale rule, equal to captum's; None: not supported
        fast_attr = deeplift_shap_rows(module, xt, bt, tt, size) if use_fast else None
    if fast_attr is not None:
        return _np(fast_attr)
    out = []
    with gradient_context(module):
        for sl in starmap(slice, chunked(len(x), size)):
            dls = DeepLiftShap(module)
            if use_fast:
                batched(dls)
            out.append(_np(dls.attribute(xt[sl], baselines=bt, target=tt[sl])))
    return np.concatenate(out)


def gradient_shap(module: nn.Module, x: np.ndarray, target: Any, *, background: np.ndarray, n_samples: int = 20,
                  seed: int = 0, fast: bool = True) -> np.ndarray:
    """captum ``GradientShap`` (expected gradients over background rows), seeded.

    Args:
        background: reference rows (m, ...) drawn from the training data.
        n_samples: random (reference, alpha) draws per row.
        seed: seeds captum's draws (global generators are restored afterwards).
    """
    module, x = _check_module(module), _check_x(x)
    n_samples = require_int(None, "n_samples", n_samples, 1)
    t = check_targets(target, len(x))
    bg = np.asarray(background)
    if bg.ndim != x.ndim or bg.shape[1:] != x.shape[1:]:
        raise InvalidInputError(f"The 'background' argument must be rows shaped like the inputs "
                                f"(m, {', '.join(map(str, x.shape[1:]))}). Got shape {bg.shape} instead.")
    xt, bt, tt = _tensor(x, module), _tensor(bg, module), torch.as_tensor(t, device=module_device(module))
    use_fast = _use_fast(module, xt, fast)
    size = chunk_rows(module, xt, n_samples) if use_fast else len(x)
    out = []
    with gradient_context(module), seeded_global_rngs(seed):
        for sl in starmap(slice, chunked(len(x), size)):
            gs = GradientShap(module)
            if use_fast:
                batched(gs)
            out.append(_np(gs.attribute(xt[sl], baselines=bt, target=tt[sl], n_samples=n_samples)))
    return np.concatenate(out)


def occlusion(module: nn.Module, x: np.ndarray, target: Any, *, window: Sequence[int], stride: Sequence[int],
              baseline: float = 0.0, per_eval: int = 64) -> np.ndarray:
    """captum ``Occlusion``: the score drop when a sliding window is replaced by ``baseline``.

    Args:
        window: window shape over one row (images: (c, k, k); series: (k, channels)).
        stride: stride per axis, same length as ``window``.
        per_eval: occluded copies per forward pass.
    """
    module, x = _check_module(module), _check_x(x)
    t = check_targets(target, len(x))
    window, stride = tuple(int(w) for w in window), tuple(int(s) for s in stride)
    row = tuple(x.shape[1:])
    if len(window) != len(row) or any(w < 1 or w > r for w, r in zip(window, row)):
        raise InvalidInputError(f"The 'window' argument must have one size per input axis {row}, each 1..axis. "
                                f"Got {window} instead.")
    if len(stride) != len(row) or any(s < 1 for s in stride):
        raise InvalidInputError(f"The 'stride' argument must have one int >= 1 per input axis {row}. Got {stride}.")
    xt, tt = _tensor(x, module), torch.as_tensor(t, device=module_device(module))
    with torch.no_grad():
        attr = Occlusion(module).attribute(xt, sliding_window_shapes=window, strides=stride, baselines=float(baseline),
                                           target=tt, perturbations_per_eval=max(1, int(per_eval)))
    return _np(attr)


def layer_integrated_gradients(module: nn.Module, layer: nn.Module, x: np.ndarray, target: Any, *,
                               baseline_ids: Any, n_steps: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """captum ``LayerIntegratedGradients`` on an embedding layer, summed over the embedding width (per token).

    Args:
        layer: the ``nn.Embedding`` whose outputs are attributed.
        x: token ids (n, L).
        baseline_ids: ids of the baseline (one row (L,) or (n, L)), e.g. all padding.

    Returns:
        ``(token scores (n, L), convergence delta per row)``; the delta compares with the model run on the real
        ids but the baseline's layer output (the path layer IG integrates along).
    """
    module, x = _check_module(module), _check_x(x)
    if not isinstance(layer, nn.Module):
        raise InvalidTypeError(f"The 'layer' argument must be a torch module. Got {type(layer).__name__} instead.")
    n_steps = require_int(None, "n_steps", n_steps, 1)
    t = check_targets(target, len(x))
    b = check_baseline(baseline_ids, x, "baseline_ids").astype(np.int64)
    device = module_device(module)
    xt = torch.as_tensor(np.asarray(x, dtype=np.int64), device=device)
    bt = torch.as_tensor(b, device=device)
    tt = torch.as_tensor(t, device=device)
    size = chunk_rows(module, xt, n_steps)
    attrs, deltas = [], []
    with gradient_context(module):
        for sl in starmap(slice, chunked(len(x), size)):
            lig = LayerIntegratedGradients(module, layer)
            a = lig.attribute(xt[sl], baselines=bt[sl], target=tt[sl], n_steps=n_steps)
            attrs.append(_np(a.sum(dim=-1)))
            deltas.append(attrs[-1].sum(axis=1) - _layer_gap(module, layer, xt[sl], bt[sl], tt[sl]))
    return np.concatenate(attrs), np.concatenate(deltas)


def _layer_gap(module: nn.Module, layer: nn.Module, x: torch.Tensor, baseline: torch.Tensor,
               target: torch.Tensor) -> np.ndarray:
    """f(x) - f(x with the layer's output replaced by its output on the baseline): what layer IG integrates.

    (captum's own delta compares with f(baseline), which differs when the model also reads the raw ids, e.g. a
    padding mask.)
    """
    with torch.no_grad():
        replacement = layer(baseline)
        handle = layer.register_forward_hook(lambda _m, _i, _o: replacement)
        try:
            start = module(x).gather(1, target[:, None])[:, 0]
        finally:
            handle.remove()
        end = module(x).gather(1, target[:, None])[:, 0]
    return _np(end - start)
