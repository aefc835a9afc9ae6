"""Cost measures of a model variant: weights size on disk (safetensors), sparsity and CPU latency.

Sizes are of the weights file alone. A float module's state dict is written with safetensors; a dynamically
quantized module is written as its int8 weights (``int_repr``) plus their scales and zero points and the float
tensors it keeps (biases, embeddings), also with safetensors. Nothing is pickled.
"""
from __future__ import annotations

import copy
import statistics
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from torch import nn

from audit.errors import InvalidInputError

__all__ = ["WeightsSize", "weights_size", "quantized_tensors", "sparsity", "count_parameters", "cpu_latency_ms"]

_QUANTIZED_DTYPES = (torch.qint8, torch.quint8, torch.qint32)


@dataclass(frozen=True)
class WeightsSize:
    """Size of one safetensors weights file: bytes on disk and bytes of its zlib (level 6) stream."""

    on_disk: int
    compressed: int


def weights_size(module: nn.Module) -> WeightsSize:
    """Write ``module``'s weights with safetensors into a temporary folder and measure the file.

    Args:
        module: a float module, or one holding dynamically quantized layers.

    Returns:
        ``WeightsSize(on_disk, compressed)``: the file's size in bytes, and the size of its zlib (level 6) stream
        (unstructured pruning leaves the dense size unchanged; its zeros show up in the compressed size).
    """
    tensors = quantized_tensors(module)
    with tempfile.TemporaryDirectory(prefix="deepaudit-compress-") as folder:
        path = Path(folder) / "model.safetensors"
        safetensors.torch.save_file(tensors, str(path))
        data = path.read_bytes()
    return WeightsSize(on_disk=len(data), compressed=len(zlib.compress(data, 6)))


def quantized_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """Plain CPU tensors holding all of ``module``'s weights (quantized ones as int8 + scale + zero point).

    Float parameters and buffers are taken as they are; a dynamically quantized Linear gives its packed weight and
    bias, a dynamically quantized LSTM the weights and biases of ``get_weight`` / ``get_bias``.
    """
    out: dict[str, torch.Tensor] = {}
    packed_prefixes: list[str] = []
    for name, mod in module.named_modules():
        if any(name.startswith(p) for p in packed_prefixes):
            continue
        prefix = f"{name}." if name else ""
        unpacked = _unpack(mod)
        if unpacked is not None:
            packed_prefixes.append(prefix)
            for key, tensor in unpacked.items():
                _add(out, prefix + key, tensor)
            continue
        for key, tensor in list(mod.named_parameters(recurse=False)) + list(mod.named_buffers(recurse=False)):
            if tensor is not None:
                _add(out, prefix + key, tensor)
    return out


def _unpack(mod: nn.Module) -> dict[str, torch.Tensor | None] | None:
    """The tensors of a dynamically quantized layer, or None for any other module."""
    if not type(mod).__module__.startswith("torch.ao.nn.quantized"):
        return None
    if callable(getattr(mod, "get_weight", None)) and callable(getattr(mod, "get_bias", None)):  # LSTM / GRU
        return {**mod.get_weight(), **mod.get_bias()}
    weight = getattr(mod, "weight", None)
    bias = getattr(mod, "bias", None)
    if callable(weight):  # quantized Linear: weight() / bias() unpack the packed params
        return {"weight": weight(), "bias": bias() if callable(bias) else None}
    return None


def _add(out: dict[str, torch.Tensor], key: str, tensor: torch.Tensor | None) -> None:
    if tensor is None:
        return
    t = tensor.detach().cpu()
    if t.dtype in _QUANTIZED_DTYPES:
        out[key] = t.int_repr().contiguous()
        if t.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            out[f"{key}.scale"] = torch.tensor([t.q_scale()], dtype=torch.float32)
            out[f"{key}.zero_point"] = torch.tensor([t.q_zero_point()], dtype=torch.int64)
        else:
            out[f"{key}.scale"] = t.q_per_channel_scales().float().contiguous()
            out[f"{key}.zero_point"] = t.q_per_channel_zero_points().contiguous()
        return
    out[key] = t.contiguous()


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """``(total, nonzero)`` entries over every float parameter (int8 weights of quantized layers included)."""
    total = nonzero = 0
    for key, tensor in quantized_tensors(module).items():
        if key.endswith((".scale", ".zero_point")) or key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue
        total += tensor.numel()
        nonzero += int(torch.count_nonzero(tensor))
    return total, nonzero


def sparsity(layers: list[tuple[nn.Module, str]]) -> float | None:
    """Fraction of exact zeros over the named weights (None when there are none)."""
    total = sum(getattr(m, n).numel() for m, n in layers)
    if total == 0:
        return None
    zeros = sum(int((getattr(m, n) == 0).sum()) for m, n in layers)
    return zeros / total


def cpu_latency_ms(module: nn.Module, x: np.ndarray, *, kind: str, batch: int = 256, runs: int = 5) -> float:
    """Median milliseconds of one forward pass over ``batch`` rows on the CPU with one torch thread.

    A CPU copy of ``module`` runs once to warm up, then ``runs`` timed times; the rows of ``x`` are repeated when
    there are fewer than ``batch``. The process's torch thread count is restored afterwards.

    Raises:
        InvalidInputError: ``x`` is empty or ``batch`` / ``runs`` < 1.
    """
    if len(x) == 0 or batch < 1 or runs < 1:
        raise InvalidInputError(
            f"cpu_latency_ms needs rows and batch, runs >= 1. Got {len(x)} rows, batch={batch}, runs={runs}."
        )
    rows = np.resize(np.asarray(x), (batch, *np.asarray(x).shape[1:]))
    inputs = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int64 if kind == "text" else np.float32))
    cpu = module if _on_cpu(module) else copy.deepcopy(module).cpu()
    cpu.eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        times = []
        with torch.no_grad():
            cpu(inputs)
            for _ in range(runs):
                start = time.perf_counter()
                cpu(inputs)
                times.append((time.perf_counter() - start) * 1000.0)
    finally:
        torch.set_num_threads(threads)
    return float(statistics.median(times))


def _on_cpu(module: nn.Module) -> bool:
    tensors = list(module.parameters()) + list(module.buffers())
    return all(t.device.type == "cpu" for t in tensors)
