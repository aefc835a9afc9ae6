"""The audit's exception tree (extends ``models.errors``; one tree for the whole project)."""
from __future__ import annotations

from models.errors import (
    CheckpointError,
    DeepAuditError,
    InvalidInputError,
    InvalidTypeError,
    UnknownNameError,
    describe_value,
)

__all__ = [
    "DeepAuditError",
    "InvalidInputError",
    "InvalidTypeError",
    "UnknownNameError",
    "CheckpointError",
    "ConfigError",
    "ModelOutputError",
    "ModelCallError",
    "CheckNotApplicable",
    "describe_value",
]


class ConfigError(InvalidInputError):
    """An audit configuration key or value that is not valid (the message names the key and the value)."""


class ModelOutputError(InvalidInputError):
    """A model returned outputs that cannot be right (wrong shape, NaN, probabilities that do not sum to one)."""


class ModelCallError(DeepAuditError, RuntimeError):
    """Calling the model raised; the message names the batch that failed and the original error."""


class CheckNotApplicable(DeepAuditError):
    """Raised inside a check to skip itself with a reason (reported as skipped, not as an error)."""
