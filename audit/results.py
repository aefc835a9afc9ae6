"""Typed audit results: findings, per-check records and the versioned, JSON-ready ``AuditResult``."""
from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from audit.errors import InvalidInputError

__all__ = [
    "SCHEMA_VERSION",
    "Severity",
    "Finding",
    "CheckRecord",
    "AuditResult",
    "to_jsonable",
    "atomic_write_text",
    "lookup_metric",
]

SCHEMA_VERSION = "1.0"
Severity = Literal["fail", "error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"fail": 0, "error": 1, "warning": 2, "info": 3}


@dataclass(frozen=True)
class Finding:
    """One statement about the model.

    Attributes:
        check: name of the check that produced it.
        severity: "fail" (broke a configured threshold), "error" (the check raised), "warning" (a default
            warning threshold or heuristic), "info".
        message: one human sentence.
        metric: dotted metric path inside the check's metrics, when the finding is about a number.
        value: the metric's value.
        threshold: e.g. ``{"max": 0.1}``.
    """

    check: str
    severity: str
    message: str
    metric: str | None = None
    value: float | None = None
    threshold: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))


@dataclass
class CheckRecord:
    """What happened to one check: ran ("ok"), was "skipped" (with the reason) or raised ("error")."""

    name: str
    status: str
    seconds: float = 0.0
    reason: str | None = None
    traceback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))


@dataclass
class AuditResult:
    """Everything one audit found, JSON-ready.

    Attributes:
        provenance: model and data fingerprints, config, package versions, device, seed, timings.
        checks: one ``CheckRecord`` per registered check, in run order.
        metrics: nested, JSON-ready numbers per check (``metrics[check][...]``).
        findings: sorted worst first.
        schema_version: version of the JSON document layout.
    """

    provenance: dict[str, Any]
    checks: dict[str, CheckRecord]
    metrics: dict[str, Any]
    findings: list[Finding]
    schema_version: str = SCHEMA_VERSION
    model_card: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """False when any finding broke a configured threshold."""
        return not any(f.severity == "fail" for f in self.findings)

    def findings_by_severity(self, severity: str) -> list[Finding]:
        """The findings of one severity."""
        return [f for f in self.findings if f.severity == severity]

    def metric(self, path: str) -> Any:
        """The metric at dotted ``path`` (``"performance.accuracy"``); KeyError when absent."""
        return lookup_metric(self.metrics, path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "passed": self.passed,
            "provenance": to_jsonable(self.provenance),
            "model_card": dict(self.model_card),
            "checks": {name: rec.to_dict() for name, rec in self.checks.items()},
            "findings": [f.to_dict() for f in self.findings],
            "metrics": to_jsonable(self.metrics),
        }

    def to_json(self, path: str | os.PathLike[str]) -> Path:
        """Write the result atomically as JSON; returns the path."""
        text = json.dumps(self.to_dict(), indent=1, sort_keys=False, allow_nan=False)
        return atomic_write_text(Path(path), text)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AuditResult":
        if not isinstance(data, dict) or "schema_version" not in data:
            raise InvalidInputError(
                f"An audit result must be a JSON object with a 'schema_version' key. Got {type(data).__name__}."
            )
        major = str(data["schema_version"]).split(".")[0]
        if major != SCHEMA_VERSION.split(".")[0]:
            raise InvalidInputError(
                f"The result's 'schema_version' must be {SCHEMA_VERSION.split('.')[0]}.x. Got {data['schema_version']!r}."
            )
        try:
            return cls._from_checked_dict(data)
        except (TypeError, AttributeError) as exc:
            raise InvalidInputError(f"The audit result JSON does not have the expected layout: {exc}.") from exc

    @classmethod
    def _from_checked_dict(cls, data: dict[str, Any]) -> "AuditResult":
        return cls(
            schema_version=str(data["schema_version"]),
            provenance=dict(data.get("provenance", {})),
            model_card=dict(data.get("model_card", {})),
            checks={name: CheckRecord(**rec) for name, rec in data.get("checks", {}).items()},
            metrics=dict(data.get("metrics", {})),
            findings=[Finding(**f) for f in data.get("findings", [])],
        )

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> "AuditResult":
        """Read a result written by ``to_json``."""
        p = Path(path)
        if not p.is_file():
            raise InvalidInputError(f"The 'path' argument must name an audit result JSON file. Got {str(p)!r} (not found).")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"The file {str(p)!r} is not valid JSON: {exc}.") from exc
        return cls.from_dict(data)


def lookup_metric(metrics: dict[str, Any], path: str) -> Any:
    """Follow a dotted ``path`` through nested dicts; raises KeyError naming the missing part."""
    node: Any = metrics
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(path)
    return node


def to_jsonable(value: Any) -> Any:
    """Numpy/torch scalars and arrays -> plain Python; NaN/inf -> None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensor
        return to_jsonable(value.detach().cpu().numpy())
    return value


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
