"""Compressed variants of a trained model: dynamic int8 quantization and global magnitude pruning.

Both work on a deep copy; the original ``TrainedModel`` is never changed.

Dynamic quantization runs on the CPU only and its int8 kernels pass no gradient to their inputs (torch computes
``None`` silently, with a warning), so the quantized variant is audited as a black box (``QuantizedPredictor``):
gradient checks are skipped and show "n/a" rather than wrong numbers.
"""
from __future__ import annotations

import copy
import dataclasses
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from audit.errors import InvalidInputError, InvalidTypeError, describe_value
from models.training import TrainedModel

__all__ = ["PRUNABLE", "QuantizedPredictor", "quantize_int8", "prune_global", "prunable_weights"]

#: Module types whose ``weight`` global magnitude pruning considers.
PRUNABLE: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

_BATCH = 1024


class QuantizedPredictor:
    """A CPU dynamic-int8 module behind ``predict_proba``: what ``run_audit`` sees as a black-box classifier.

    Attributes:
        module: the quantized module (CPU, eval mode).
        kind: the data kind (text inputs are int64 token ids, the rest float32).
    """

    def __init__(self, module: nn.Module, kind: str) -> None:
        self.module = module
        self.kind = kind

    def logits(self, x: np.ndarray) -> torch.Tensor:
        """Raw outputs (n, k) of the quantized module, computed in batches without gradients."""
        dtype = np.int64 if self.kind == "text" else np.float32
        parts = []
        with torch.no_grad():
            for start in range(0, len(x), _BATCH):
                batch = torch.from_numpy(np.ascontiguousarray(x[start : start + _BATCH], dtype=dtype))
                parts.append(self.module(batch).float())
        return torch.cat(parts, dim=0)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Softmax probabilities (n, k) as float64."""
        return torch.softmax(self.logits(x), dim=1).double().numpy()


def quantize_int8(model: TrainedModel) -> nn.Module:
    """A CPU copy of ``model.module`` with every ``nn.Linear`` (and ``nn.LSTM``) dynamically quantized to int8.

    Args:
        model: the trained model (any device; it is not changed).

    Returns:
        The quantized module in eval mode, on the CPU.

    Raises:
        InvalidTypeError: ``model`` is not a ``TrainedModel``.
        InvalidInputError: the module has no ``nn.Linear`` or ``nn.LSTM`` layer to quantize.

    Example:
        >>> q = quantize_int8(tm)  # doctest: +SKIP
    """
    _check_model(model)
    module = copy.deepcopy(model.module).cpu().eval()
    targets = {t for t in (nn.Linear, nn.LSTM) if any(isinstance(m, t) for m in module.modules())}
    if not targets:
        raise InvalidInputError(
            f"Dynamic int8 quantization needs nn.Linear or nn.LSTM layers. The {model.family!r} module has none."
        )
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated upstream but still the eager CPU path
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        from torch.ao.quantization import quantize_dynamic  # optional heavy import, deprecated module

        quantized = quantize_dynamic(module, targets, dtype=torch.qint8)
    return quantized.eval()


def prunable_weights(module: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(module, "weight")`` for every Linear / Conv layer of ``module`` (what global pruning ranks)."""
    return [(m, "weight") for m in module.modules()
            if isinstance(m, PRUNABLE) and isinstance(getattr(m, "weight", None), torch.Tensor)]


def prune_global(model: TrainedModel, sparsity: float) -> TrainedModel:
    """A copy of ``model`` whose smallest-magnitude Linear/Conv weights, ranked globally, are set to zero for good.

    ``torch.nn.utils.prune.global_unstructured`` with ``L1Unstructured`` over every Linear/Conv weight, then
    ``prune.remove`` so the zeros are plain weights (the state dict keeps its keys; the checkpoint format is unchanged).

    Args:
        model: the trained model (not changed).
        sparsity: fraction of those weights to zero, in (0, 1).

    Returns:
        A ``TrainedModel`` sharing everything with ``model`` but the pruned module (and ``metrics`` cleared).

    Raises:
        InvalidTypeError: ``model`` is not a ``TrainedModel``.
        InvalidInputError: ``sparsity`` is not in (0, 1), or the module has no Linear/Conv layer.

    Example:
        >>> half = prune_global(tm, 0.5)  # doctest: +SKIP
    """
    _check_model(model)
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0 < float(sparsity) < 1:
        raise InvalidInputError(f"The 'sparsity' argument must be a number in (0, 1). Got {describe_value(sparsity)} instead.")
    module = copy.deepcopy(model.module).eval()
    params = prunable_weights(module)
    if not params:
        raise InvalidInputError(f"Global magnitude pruning needs Linear or Conv layers. The {model.family!r} module has none.")
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=float(sparsity))
    for layer, name in params:
        prune.remove(layer, name)
    return dataclasses.replace(model, module=module, metrics={}, discriminator=None, snapshots=[])


def _check_model(model: Any) -> None:
    if not isinstance(model, TrainedModel):
        raise InvalidTypeError(f"The 'model' argument must be a models.TrainedModel. Got {type(model).__name__} instead.")
