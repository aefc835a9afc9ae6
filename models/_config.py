"""Small helpers shared by the family config dataclasses: validation and a JSON round trip."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from models.errors import InvalidInputError, InvalidTypeError, describe_value

__all__ = ["check_int", "check_float", "check_choice", "check_n_classes", "config_to_dict", "config_from_dict"]

C = TypeVar("C")


def check_int(owner: str, name: str, value: Any, minimum: int) -> None:
    """Raise unless ``value`` is an int (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(
            f"The '{name}' field of {owner} must be an int >= {minimum}. Got {describe_value(value)} instead."
        )


def check_float(owner: str, name: str, value: Any, low: float, high: float, high_open: bool = True) -> None:
    """Raise unless ``low <= value < high`` (or ``<= high`` when ``high_open`` is False)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = low <= float(value) and (float(value) < high if high_open else float(value) <= high)
    if not ok:
        bracket = ")" if high_open else "]"
        raise InvalidInputError(
            f"The '{name}' field of {owner} must be a number in [{low}, {high}{bracket}. "
            f"Got {describe_value(value)} instead."
        )


def check_choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise InvalidInputError(
            f"The '{name}' field of {owner} must be one of {list(choices)}. Got {describe_value(value)} instead."
        )


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def config_from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
    """Rebuild ``cls`` from ``data`` (lists become tuples where the default is a tuple).

    Raises:
        InvalidTypeError: ``data`` is not a mapping.
        InvalidInputError: unknown or missing fields, or values the config rejects.
    """
    if not isinstance(data, Mapping):
        raise InvalidTypeError(
            f"The 'config' of {cls.__name__} must be a mapping of field names to values. "
            f"Got {type(data).__name__} instead."
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InvalidInputError(
            f"The 'config' of {cls.__name__} has unknown field(s) {unknown}; valid fields are {sorted(fields)}."
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        kwargs[name] = tuple(value) if isinstance(value, list) else value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise InvalidInputError(f"The 'config' of {cls.__name__} is incomplete: {exc}.") from exc


def check_n_classes(owner: str, value: Any) -> None:
    """Raise unless ``value`` is 0 (regression) or an int >= 2 (classification)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value == 1:
        raise InvalidInputError(
            f"The 'n_classes' field of {owner} must be 0 (regression) or an int >= 2. "
            f"Got {describe_value(value)} instead."
        )
