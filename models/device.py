"""Pick the torch device and the matching mixed-precision context.

``resolve_device("auto")`` takes CUDA when it is present, else the CPU. On CUDA the models run under bf16 autocast
(no gradient scaler needed); on the CPU everything stays float32 so results are exact and reproducible.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from models.errors import InvalidInputError, InvalidTypeError, describe_value

__all__ = ["DEVICE_CHOICES", "resolve_device", "autocast", "module_device"]

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda"`` (or ``"cuda:N"``, or a ``torch.device``) into a ``torch.device``.

    Args:
        device: ``"auto"`` picks CUDA when available, else the CPU.

    Returns:
        The device to run on.

    Raises:
        InvalidTypeError: ``device`` is neither a string nor a ``torch.device``.
        InvalidInputError: an unknown name, or CUDA asked for on a machine without it.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if isinstance(device, torch.device):
        name = str(device)
    elif isinstance(device, str):
        name = device.strip().lower()
    else:
        raise InvalidTypeError(
            f"The 'device' argument must be a str ('auto', 'cpu' or 'cuda') or a torch.device. "
            f"Got {describe_value(device)} of type {type(device).__name__} instead."
        )
    if name == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InvalidInputError(
                f"The 'device' argument is {device!r} but CUDA is not available on this machine "
                f"(torch {torch.__version__}). Use device='auto' or 'cpu'."
            )
        try:
            resolved = torch.device(name)
        except RuntimeError as exc:
            raise InvalidInputError(
                f"The 'device' argument must be one of {list(DEVICE_CHOICES)} or 'cuda:N'. Got {device!r} instead."
            ) from exc
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise InvalidInputError(
                f"The 'device' argument names GPU {resolved.index} but only {torch.cuda.device_count()} "
                f"CUDA device(s) are present. Got {device!r}."
            )
        return resolved
    raise InvalidInputError(
        f"The 'device' argument must be one of {list(DEVICE_CHOICES)} or 'cuda:N'. "
        f"Got {describe_value(device)} instead."
    )


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """bf16 autocast on CUDA, a no-op on any other device.

    Args:
        device: where the computation runs.
        enabled: ``False`` turns the context into a no-op everywhere.

    Yields:
        Nothing; the body runs under the chosen precision.

    Example:
        >>> with autocast(torch.device("cpu")):
        ...     y = torch.ones(2) * 2
    """
    if enabled and device.type == "cuda":
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of ``module``'s first parameter (or buffer); the CPU for a module without tensors."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")
