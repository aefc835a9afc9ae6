"""deepaudit's audit engine: adapters -> checks -> runner -> AuditResult.

Example:
    >>> from models import load_dataset, train_model   # doctest: +SKIP
    >>> from audit import run_audit, AuditConfig
    >>> ds = load_dataset("adult"); tm = train_model("mlp", ds)
    >>> result = run_audit(tm, ds, AuditConfig(seed=0)); result.passed
"""
from audit import checks as _checks  # noqa: F401  (registers the built-in checks)
from audit.adapters import ModelAdapter, wrap_model
from audit.checks.base import AuditContext, Check, CheckOutput
from audit.config import DEFAULT_WARNINGS, AuditConfig, Threshold
from audit.errors import (
    CheckNotApplicable,
    ConfigError,
    DeepAuditError,
    InvalidInputError,
    InvalidTypeError,
    ModelCallError,
    ModelOutputError,
)
from audit.registry import REGISTRY, Registry
from audit.results import SCHEMA_VERSION, AuditResult, CheckRecord, Finding
from audit.runner import run_audit

__all__ = [
    "run_audit",
    "AuditConfig",
    "AuditResult",
    "Finding",
    "CheckRecord",
    "Threshold",
    "DEFAULT_WARNINGS",
    "SCHEMA_VERSION",
    "ModelAdapter",
    "wrap_model",
    "Check",
    "CheckOutput",
    "AuditContext",
    "REGISTRY",
    "Registry",
    "DeepAuditError",
    "InvalidInputError",
    "InvalidTypeError",
    "ConfigError",
    "ModelOutputError",
    "ModelCallError",
    "CheckNotApplicable",
]
