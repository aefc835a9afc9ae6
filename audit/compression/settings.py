"""``CompressionSettings``: the validated knobs of a compression audit (the proposed ``[compression]`` config table).

Example ``audit.toml`` section::

    [compression]
    sparsities = [0.5, 0.9]    # global L1 magnitude pruning levels (fraction of Linear/Conv weights set to 0)
    quantize = true            # dynamic int8 quantization (Linear, LSTM; CPU)
    distill = true             # knowledge distillation into a smaller student of the same family
    tolerance = 0.05           # flag: overall accuracy moves < tolerance while a group/class drops > tolerance
    min_group_size = 20        # smaller groups are shown but never flagged
    temperature = 2.0          # distillation softmax temperature
    alpha = 0.5                # weight of the soft (teacher) loss; 1 - alpha on the labels
    distill_epochs = 5
    student_scale = 0.25       # student widths = teacher widths x student_scale
    latency_runs = 5           # timed forward passes (median reported)
    latency_batch = 256        # rows per timed forward pass (one CPU thread)
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from audit.errors import ConfigError, describe_value

__all__ = ["CompressionSettings"]


@dataclass(frozen=True)
class CompressionSettings:
    """What ``compress_and_audit`` builds and how it compares (see the module docstring for each field)."""

    sparsities: tuple[float, ...] = (0.5, 0.9)
    quantize: bool = True
    distill: bool = True
    tolerance: float = 0.05
    min_group_size: int = 20
    temperature: float = 2.0
    alpha: float = 0.5
    distill_epochs: int = 5
    student_scale: float = 0.25
    latency_runs: int = 5
    latency_batch: int = 256

    def __post_init__(self) -> None:
        if isinstance(self.sparsities, (str, bytes)) or not isinstance(self.sparsities, (list, tuple)):
            raise ConfigError(
                f"The 'sparsities' setting must be a list of numbers in (0, 1). Got {describe_value(self.sparsities)}."
            )
        for value in self.sparsities:
            if not _number(value) or not 0 < float(value) < 1:
                raise ConfigError(
                    f"The 'sparsities' setting must hold numbers in (0, 1). Got {describe_value(value)} instead."
                )
        object.__setattr__(self, "sparsities", tuple(sorted({float(v) for v in self.sparsities})))
        for name in ("quantize", "distill"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"The '{name}' setting must be true or false. Got {describe_value(getattr(self, name))}.")
        _in_range("tolerance", self.tolerance, 0.0, 1.0, low_open=False)
        _in_range("alpha", self.alpha, 0.0, 1.0, low_open=False, high_open=False)
        _in_range("temperature", self.temperature, 0.0, math.inf)
        _in_range("student_scale", self.student_scale, 0.0, 1.0, high_open=False)
        for name, low in (("min_group_size", 1), ("distill_epochs", 1), ("latency_runs", 1), ("latency_batch", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"The '{name}' setting must be an int >= {low}. Got {describe_value(value)} instead.")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "CompressionSettings":
        """Build from a parsed ``[compression]`` table (``None`` or empty: the defaults).

        Raises:
            ConfigError: an unknown key or a bad value (the message names the key and the value).
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigError(f"The 'compression' key must be a table of settings. Got {describe_value(data)}.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"Unknown key 'compression.{unknown[0]}'. Expected one of {sorted(known)}.")
        kwargs = dict(data)
        if isinstance(kwargs.get("sparsities"), list):
            kwargs["sparsities"] = tuple(kwargs["sparsities"])
        return cls(**kwargs)

    def as_kwargs(self) -> dict[str, Any]:
        """The settings as keyword arguments of ``compress_and_audit``."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = self.as_kwargs()
        out["sparsities"] = list(self.sparsities)
        return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def _in_range(name: str, value: Any, low: float, high: float, *, low_open: bool = True,
              high_open: bool = True) -> None:
    ok = _number(value)
    if ok:
        v = float(value)
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ConfigError(
            f"The '{name}' setting must be a number in {left}{low}, {high}{right}. Got {describe_value(value)} instead."
        )
