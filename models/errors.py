"""One exception tree for the whole project (``audit.errors`` re-exports and extends it).

Every error names the argument, the value received and what was expected, e.g.
``InvalidInputError("The 'family' argument must be one of ['cnn', 'mlp']. Got 'rnn' instead.")``.
"""
from __future__ import annotations

__all__ = [
    "DeepAuditError",
    "InvalidInputError",
    "InvalidTypeError",
    "UnknownNameError",
    "CheckpointError",
    "describe_value",
]


class DeepAuditError(Exception):
    """Base class of every error raised on purpose by deepaudit."""


class InvalidInputError(DeepAuditError, ValueError):
    """An argument has the right type but a value we cannot use."""


class InvalidTypeError(DeepAuditError, TypeError):
    """An argument has a type we cannot use."""


class UnknownNameError(InvalidInputError):
    """A name (family, data set, check, metric) that is not registered."""


class CheckpointError(DeepAuditError, ValueError):
    """A checkpoint folder is missing, truncated, tampered with or does not fit its declared family."""


def describe_value(value: object, limit: int = 80) -> str:
    """A short ``repr`` of ``value`` for error messages (long values are cut)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
