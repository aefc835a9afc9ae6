"""Batched gradients for captum's gradient methods: the same algorithms, one backward pass per batch.

captum's ``compute_gradients`` seeds autograd with one gradient per output row (``torch.unbind``); for a model
whose rows do not interact (eval mode, no batch statistics), the gradient of the *sum* of the selected outputs
gives exactly the same per-row gradients in one seed. ``batched(method)`` swaps that one function into a captum
attribution object (captum itself does the same for its neuron methods), so IG, Saliency, DeepLift, DeepLiftShap
and GradientShap keep captum's code for everything else (alphas, step sizes, rescale rules, baseline draws) and
captum stays the oracle.
"""
from __future__ import annotations

import contextlib
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from captum._utils.common import _run_forward  # the exact forward/target selection captum's own gradients use
from torch import nn

from audit.checks._common import seeded_torch_rng

__all__ = [
    "sum_gradients",
    "batched",
    "rows_independent",
    "rows_per_chunk",
    "row_cost",
    "chunk_rows",
    "seeded_global_rngs",
    "gradient_context",
    "MAX_BATCH_ELEMENTS",
]

MAX_BATCH_ELEMENTS = 2**24
"""Activation elements (all layers) in one forward/backward pass on the CPU: large enough to amortise per-call
overhead, small enough to stay in cache-friendly sizes (a 28x28 CNN is 4x slower at 16x this). CUDA: 8x more."""


def sum_gradients(
    forward_fn: Callable[..., torch.Tensor],
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    target_ind: Any = None,
    additional_forward_args: Any = None,
) -> tuple[torch.Tensor, ...]:
    """Drop-in for captum's ``compute_gradients``: one backward of the summed target outputs.

    Args:
        forward_fn: the model (or captum's wrapped forward).
        inputs: tensors requiring gradients.
        target_ind: captum target (int, list or tensor per row).
        additional_forward_args: extra forward arguments, as captum passes them.

    Returns:
        Gradients of each input, same as captum's when rows are independent.
    """
    with torch.autograd.set_grad_enabled(True):
        outputs = _run_forward(forward_fn, inputs, target_ind, additional_forward_args)
        inputs_tuple = inputs if isinstance(inputs, tuple) else (inputs,)
        return torch.autograd.grad(outputs.sum(), inputs_tuple)


def batched(method: Any) -> Any:
    """Give a captum ``GradientAttribution`` the one-seed gradient function; returns the same object."""
    method.gradient_func = sum_gradients
    return method


# Per-module probe results (structural facts of a module for one input shape), so repeated attributions on the
# same model do not pay the probe forwards again. Weak keys: a module that is dropped drops its entries.
_PROBES: "weakref.WeakKeyDictionary[nn.Module, dict[tuple[Any, ...], Any]]" = weakref.WeakKeyDictionary()


def _probe_key(name: str, module: nn.Module, x: torch.Tensor) -> tuple[Any, ...]:
    return (name, tuple(x.shape[1:]), x.dtype, str(x.device), module.training)


def rows_independent(module: nn.Module, sample: torch.Tensor) -> bool:
    """Cached ``_rows_independent`` (per module, input shape, dtype, device and mode)."""
    if sample.shape[0] < 2:
        return True
    cache = _PROBES.setdefault(module, {})
    key = _probe_key("independent", module, sample)
    if key not in cache:
        cache[key] = _rows_independent(module, sample)
    return cache[key]


def _rows_independent(module: nn.Module, sample: torch.Tensor) -> bool:
    """True when changing one row of a batch leaves the other rows' outputs unchanged (eval mode, no batch stats).

    Args:
        module: the score module (in eval mode).
        sample: at least two input rows.

    Returns:
        Whether the sum-of-outputs gradient equals per-row gradients for this module.
    """
    if sample.shape[0] < 2:
        return True
    with torch.no_grad():
        base = module(sample[:2])
        changed = sample[:2].clone()
        if changed.is_floating_point():
            changed[0] = changed[0] + 1.0
        else:
            changed[0] = torch.flip(changed[0], dims=[0])
        after = module(changed)
    return bool(torch.allclose(base[1], after[1], atol=1e-6, rtol=1e-5))


def rows_per_chunk(row_elements: int, repeats: int, budget: int = MAX_BATCH_ELEMENTS) -> int:
    """Rows per pass so that ``rows * repeats * row_elements`` stays within ``budget`` (at least 1)."""
    return max(1, budget // max(1, row_elements * max(1, repeats)))


def row_cost(module: nn.Module, row: torch.Tensor) -> int:
    """Elements of the input and of every leaf module's output for one row (one no-grad forward)."""
    sizes: list[int] = [int(row.numel())]

    def record(_m: nn.Module, _i: Any, out: Any) -> None:
        sizes.append(int(out.numel()) if isinstance(out, torch.Tensor) else 0)

    hooks = [m.register_forward_hook(record) for m in module.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            module(row)
    finally:
        for h in hooks:
            h.remove()
    return max(1, sum(sizes))


def chunk_rows(module: nn.Module, x: torch.Tensor, repeats: int) -> int:
    """Rows of ``x`` per forward/backward pass when each row is expanded ``repeats`` times."""
    budget = MAX_BATCH_ELEMENTS * (8 if x.device.type == "cuda" else 1)
    cache = _PROBES.setdefault(module, {})
    key = _probe_key("row_cost", module, x)
    if key not in cache:
        cache[key] = row_cost(module, x[:1])
    return rows_per_chunk(cache[key], repeats, budget)


@contextlib.contextmanager
def seeded_global_rngs(seed: int) -> Iterator[None]:
    """Seed numpy's and torch's global generators (captum and shap draw from them) and restore them afterwards
    (torch: the CPU generator and, when CUDA is in use, the current CUDA device's; see ``seeded_torch_rng``)."""
    state = np.random.get_state()
    with seeded_torch_rng(seed):
        np.random.seed(seed % (2**32))
        try:
            yield
        finally:
            np.random.set_state(state)


@contextlib.contextmanager
def gradient_context(module: nn.Module) -> Iterator[None]:
    """Gradients enabled; cuDNN off for recurrent modules on CUDA (cuDNN RNN backward refuses eval mode)."""
    has_rnn = any(isinstance(m, nn.RNNBase) for m in module.modules())
    cudnn = torch.backends.cudnn.flags(enabled=False) if has_rnn else contextlib.nullcontext()
    with torch.enable_grad(), cudnn, warnings.catch_warnings():
        # captum warns on every call that it sets requires_grad and adds hooks: expected here, not news.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"captum\.")
        yield
