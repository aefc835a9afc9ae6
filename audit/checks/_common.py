"""Small helpers every check shares: option validation, JSON-safe numbers, the device of a module and a scoped,
seeded torch generator.

Example:
    >>> require_int("calibration", "n_bins", 15, 1)
    15
    >>> nan_to_none(float("nan")) is None
    True
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from audit.errors import ConfigError, InvalidInputError, describe_value
from models.device import module_device as _module_device

__all__ = ["option_name", "require_int", "require_float", "nan_to_none", "module_device", "seeded_torch_rng"]


def option_name(check: str, key: str) -> str:
    """The dotted name users write in a config: ``options.<check>.<key>``."""
    return f"options.{check}.{key}"


def _fail(check: str | None, key: str, expected: str, value: Any) -> InvalidInputError:
    if check is None:
        return InvalidInputError(f"The '{key}' argument must be {expected}. Got {describe_value(value)} instead.")
    return ConfigError(f"The option '{option_name(check, key)}' must be {expected}. Got {describe_value(value)} instead.")


def require_int(check: str | None, key: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools are not ints).

    Args:
        check: the check whose option this is; None for a plain function argument.
        key: the option (or argument) name.
        value: the value received.
        minimum: the smallest allowed value.

    Returns:
        ``int(value)``.

    Raises:
        ConfigError: (an option) not an int >= ``minimum``: "The option 'options.<check>.<key>' must be an int >= N.
            Got X instead."
        InvalidInputError: (an argument, ``check`` None) the same, naming "the 'key' argument".

    Example:
        >>> require_int("robustness", "steps", 0, 1)
        Traceback (most recent call last):
        ...
        audit.errors.ConfigError: The option 'options.robustness.steps' must be an int >= 1. Got 0 instead.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise _fail(check, key, f"an int >= {minimum}", value)
    return int(value)


def _range_text(minimum: float | None, maximum: float | None, min_inclusive: bool, max_inclusive: bool) -> str:
    if minimum is not None and maximum is not None:
        return (f"a number in {'[' if min_inclusive else '('}{minimum:g}, {maximum:g}"
                f"{']' if max_inclusive else ')'}")
    if minimum is not None:
        return f"a finite number {'>=' if min_inclusive else '>'} {minimum:g}"
    if maximum is not None:
        return f"a finite number {'<=' if max_inclusive else '<'} {maximum:g}"
    return "a finite number"


def require_float(check: str | None, key: str, value: Any, minimum: float | None = None,
                  maximum: float | None = None, *, min_inclusive: bool = True, max_inclusive: bool = True) -> float:
    """``value`` as a finite float within the given bounds (ints accepted, bools not).

    Args:
        check: the check whose option this is; None for a plain function argument.
        key: the option (or argument) name.
        value: the value received.
        minimum: lower bound (None: none).
        maximum: upper bound (None: none).
        min_inclusive: whether ``minimum`` itself is allowed.
        max_inclusive: whether ``maximum`` itself is allowed.

    Returns:
        ``float(value)``.

    Raises:
        ConfigError: (an option) not a finite number within the bounds, e.g. "The option 'options.fairness.ci' must
            be a number in (0, 1). Got 1.5 instead."
        InvalidInputError: (an argument, ``check`` None) the same, naming "the 'key' argument".

    Example:
        >>> require_float("fairness", "ci", 0.9, 0, 1, min_inclusive=False, max_inclusive=False)
        0.9
    """
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        x = float(value)
        ok = math.isfinite(x)
        if ok and minimum is not None:
            ok = x >= minimum if min_inclusive else x > minimum
        if ok and maximum is not None:
            ok = x <= maximum if max_inclusive else x < maximum
    if not ok:
        raise _fail(check, key, _range_text(minimum, maximum, min_inclusive, max_inclusive), value)
    return float(value)


def nan_to_none(value: Any) -> Any:
    """A JSON-safe number: ``None`` for NaN/inf, a plain float for floats, a plain int for numpy ints; anything else
    (None, strings, Python ints) unchanged.

    Example:
        >>> nan_to_none(np.float32(0.5)), nan_to_none(np.int64(3)), nan_to_none(float("inf"))
        (0.5, 3, None)
    """
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def module_device(module: Any) -> torch.device:
    """The device of a torch module's first parameter (or buffer); the CPU for a module without tensors or for a
    callable that is not a module (``models.device.module_device`` for modules).

    Example:
        >>> module_device(torch.nn.ReLU())
        device(type='cpu')
    """
    return _module_device(module) if isinstance(module, nn.Module) else torch.device("cpu")


@contextlib.contextmanager
def seeded_torch_rng(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Seed torch's CPU generator (and the CUDA generator of ``device``, or of the current CUDA device when CUDA is in
    use) for the body, then restore every generator it touched; other devices' generators are left alone.

    Args:
        seed: the seed.
        device: where the body draws (None: the CPU, plus the current CUDA device if CUDA is initialised).
    """
    cuda: list[int] = []
    if device is not None and device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    elif torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = [torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(int(seed))
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(int(seed))
        yield
