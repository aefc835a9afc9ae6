"""``AuditConfig``: which checks run, with what options, seed, device, executor and thresholds.

Loaded from TOML or YAML and validated once, here: every message names the key and the value.

Example ``audit.toml``::

    seed = 0
    device = "auto"            # "auto" | "cpu" | "cuda"
    max_rows = 5000            # rows of the test split audited (stratified, seeded sample when larger)
    checks = ["performance", "fairness", "robustness"]   # default: every registered check
    n_jobs = 2
    backend = "loky"           # "sequential" | "loky" | "threading" | "dask"

    [thresholds]
    "fairness.demographic_parity_difference" = { max = 0.1 }
    "robustness.pgd_accuracy" = { min = 0.5 }

    [options.fairness]
    n_boot = 1000

    [model_card]
    intended_use = "Pre-screening of loan applications; a human decides."
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from audit.errors import ConfigError

__all__ = ["AuditConfig", "Threshold", "DEFAULT_WARNINGS", "BACKENDS", "DEVICES"]

BACKENDS = ("sequential", "loky", "threading", "dask")
DEVICES = ("auto", "cpu", "cuda")
_TOP_KEYS = {
    "seed", "device", "max_rows", "checks", "skip", "n_jobs", "backend", "scheduler_address", "sensitive",
    "thresholds", "options", "model_card", "default_warnings", "batch_size", "age_bins", "sample_indices",
    "compression",  # read by `deepaudit compress` (audit.compression.CompressionSettings)
}
_MODEL_CARD_KEYS = {"intended_use", "limitations", "ethical_considerations", "owner", "model_name", "notes"}


@dataclass(frozen=True)
class Threshold:
    """A bound on one metric: ``metric`` is "check.path.inside.metrics"; breaking it gives a finding.

    ``severity`` is "fail" for thresholds the user configured (the audit does not pass) and "warning" for the
    built-in defaults (reported, but the audit still passes).
    """

    metric: str
    min: float | None = None
    max: float | None = None
    severity: str = "fail"
    rationale: str = ""

    @property
    def check(self) -> str:
        return self.metric.split(".", 1)[0]

    @property
    def path(self) -> str:
        return self.metric.split(".", 1)[1]

    def bounds(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out

    def broken_by(self, value: float) -> bool:
        """True when ``value`` lies outside the bounds."""
        return (self.min is not None and value < self.min) or (self.max is not None and value > self.max)


# Default warning thresholds: a user who configures nothing still learns what is wrong, and a sound model raises
# no alarm. Rationale is printed in the report and the README.
DEFAULT_WARNINGS: tuple[Threshold, ...] = (
    Threshold("fairness.demographic_parity_difference", max=0.1, severity="warning",
              rationale="A gap in selection rate above 10 points between groups is material in most lending and hiring reviews."),
    Threshold("fairness.demographic_parity_ratio", min=0.8, severity="warning",
              rationale="The four-fifths rule (US EEOC): a group's selection rate below 80% of the highest group's."),
    Threshold("fairness.equalized_odds_difference", max=0.1, severity="warning",
              rationale="Error rates (TPR or FPR) that differ by more than 10 points between groups."),
    Threshold("calibration.ece", max=0.1, severity="warning",
              rationale="An expected calibration error above 0.1 means stated confidence misleads by 10 points on average."),
    Threshold("data_profile.max_single_feature_auc", max=0.98, severity="warning",
              rationale="One feature that alone predicts the label almost perfectly is usually leakage."),
    Threshold("robustness.pgd_relative_accuracy", min=0.5, severity="warning",
              rationale="Losing more than half the accuracy under the smallest attack budget is a collapse."),
    Threshold("ood.noise_auroc", min=0.7, severity="warning",
              rationale="A model that cannot tell pure noise from real inputs gives no warning when data shifts."),
)


@dataclass(frozen=True)
class AuditConfig:
    """Validated audit settings. ``AuditConfig()`` is a complete, sensible default.

    Attributes:
        seed: seeds every sample, bootstrap and attack.
        device: "auto" (CUDA when present), "cpu" or "cuda".
        max_rows: rows of the test split audited (a stratified, seeded sample when the split is larger).
        checks: names of the checks to run (None: every registered check).
        skip: names of checks not to run.
        n_jobs, backend, scheduler_address: the executor for row-parallel work (joblib; "dask" for a cluster).
        sensitive: sensitive attributes to audit (None: the data set's own).
        thresholds: user thresholds (severity "fail").
        options: per-check options, validated by each check against its defaults.
        model_card: intended use, limitations, ethical considerations (shown in the report).
        default_warnings: apply ``DEFAULT_WARNINGS`` (as warnings) for metrics the user did not bound.
        batch_size: model batch size.
        age_bins: bin edges for continuous sensitive attributes (e.g. age).
        sample_indices: test rows the user wants explained (besides the automatic choice).
    """

    seed: int = 0
    device: str = "auto"
    max_rows: int = 5000
    checks: tuple[str, ...] | None = None
    skip: tuple[str, ...] = ()
    n_jobs: int = 1
    backend: str = "sequential"
    scheduler_address: str | None = None
    sensitive: tuple[str, ...] | None = None
    thresholds: tuple[Threshold, ...] = ()
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    model_card: Mapping[str, str] = field(default_factory=dict)
    default_warnings: bool = True
    batch_size: int = 1024
    age_bins: tuple[float, ...] = (25.0, 35.0, 45.0, 55.0, 65.0)
    sample_indices: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for key in ("checks", "skip", "sensitive"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, tuple) or not all(isinstance(v, str) for v in value)):
                raise ConfigError(f"The '{key}' key must be a tuple of names. Got {value!r} instead.")
        _require_int("seed", self.seed, minimum=0)
        _require_choice("device", self.device, DEVICES)
        _require_int("max_rows", self.max_rows, minimum=10)
        _require_int("n_jobs", self.n_jobs, minimum=-1)
        if self.n_jobs == 0:
            raise ConfigError("The 'n_jobs' key must be an int >= 1 or -1 (all cores). Got 0 instead.")
        _require_choice("backend", self.backend, BACKENDS)
        _require_int("batch_size", self.batch_size, minimum=1)
        if self.backend == "dask" and self.scheduler_address is not None and not isinstance(self.scheduler_address, str):
            raise ConfigError(f"The 'scheduler_address' key must be a string like 'tcp://host:8786'. Got {self.scheduler_address!r}.")
        edges = list(self.age_bins)
        if any(not isinstance(e, (int, float)) for e in edges) or edges != sorted(set(edges)):
            raise ConfigError(f"The 'age_bins' key must be strictly increasing numbers. Got {self.age_bins!r}.")
        for key in self.model_card:
            if key not in _MODEL_CARD_KEYS:
                raise ConfigError(f"Unknown key 'model_card.{key}'. Expected one of {sorted(_MODEL_CARD_KEYS)}.")
        for idx in self.sample_indices:
            _require_int("sample_indices[]", idx, minimum=0)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "AuditConfig":
        """Build from a parsed TOML/YAML mapping; unknown keys and bad values raise ``ConfigError``."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"An audit config must be a mapping of keys to values. Got {type(data).__name__}.")
        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise ConfigError(f"Unknown config key {unknown[0]!r}. Expected one of {sorted(_TOP_KEYS)}.")
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k not in {"thresholds", "options", "checks", "skip", "sensitive", "age_bins", "sample_indices", "compression"}}
        for key in ("checks", "skip", "sensitive"):
            if key in data and data[key] is not None:
                value = data[key]
                if isinstance(value, str):
                    value = [value]
                if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(f"The '{key}' key must be a list of names. Got {value!r}.")
                kwargs[key] = tuple(value)
        if "age_bins" in data:
            kwargs["age_bins"] = tuple(data["age_bins"])
        if "sample_indices" in data:
            kwargs["sample_indices"] = tuple(data["sample_indices"])
        kwargs["thresholds"] = tuple(parse_thresholds(data.get("thresholds", {})))
        options = data.get("options", {})
        if not isinstance(options, Mapping) or not all(isinstance(v, Mapping) for v in options.values()):
            raise ConfigError(f"The 'options' key must map check names to tables of options. Got {options!r}.")
        kwargs["options"] = {str(k): dict(v) for k, v in options.items()}
        if "model_card" in data and not isinstance(data["model_card"], Mapping):
            raise ConfigError(f"The 'model_card' key must be a table. Got {data['model_card']!r}.")
        try:
            return cls(**kwargs)
        except TypeError as exc:  # wrong types reaching dataclass validation
            raise ConfigError(str(exc)) from exc

    @classmethod
    def from_file(cls, path: str | Path) -> "AuditConfig":
        """Load a ``.toml``, ``.yaml`` or ``.yml`` file."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"The config file {str(p)!r} does not exist.")
        text = p.read_text(encoding="utf-8")
        try:
            if p.suffix.lower() == ".toml":
                data = tomllib.loads(text)
            elif p.suffix.lower() in (".yaml", ".yml"):
                data = yaml.safe_load(text) or {}
            else:
                raise ConfigError(f"The config file must end in .toml, .yaml or .yml. Got {p.name!r}.")
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"The config file {str(p)!r} cannot be parsed: {exc}") from exc
        return cls.from_dict(data)

    def with_options(self, **changes: Any) -> "AuditConfig":
        """A copy with some fields replaced (validated again)."""
        return replace(self, **changes)

    def options_for(self, check: str) -> dict[str, Any]:
        """The user's options for one check (validated by the runner against the check's defaults)."""
        return dict(self.options.get(check, {}))

    def effective_thresholds(self) -> list[Threshold]:
        """User thresholds, plus the default warnings on metrics the user did not bound."""
        out = list(self.thresholds)
        if self.default_warnings:
            bound = {t.metric for t in self.thresholds}
            out += [t for t in DEFAULT_WARNINGS if t.metric not in bound]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in the result's provenance)."""
        return {
            "seed": self.seed, "device": self.device, "max_rows": self.max_rows,
            "checks": list(self.checks) if self.checks is not None else None, "skip": list(self.skip),
            "n_jobs": self.n_jobs, "backend": self.backend, "scheduler_address": self.scheduler_address,
            "sensitive": list(self.sensitive) if self.sensitive is not None else None,
            "thresholds": {t.metric: {**t.bounds(), "severity": t.severity} for t in self.thresholds},
            "options": {k: dict(v) for k, v in self.options.items()},
            "model_card": dict(self.model_card), "default_warnings": self.default_warnings,
            "batch_size": self.batch_size, "age_bins": list(self.age_bins),
            "sample_indices": list(self.sample_indices),
        }


def parse_thresholds(raw: Any) -> list[Threshold]:
    """Accept ``{"check.metric": {"max": 0.1}}`` and nested ``{"check": {"metric": {"max": 0.1}}}``."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"The 'thresholds' key must be a table of metric -> {{min/max}}. Got {raw!r}.")
    out: list[Threshold] = []

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, Mapping) and node and set(node) <= {"min", "max", "severity"}:
            out.append(_make_threshold(prefix, node))
            return
        if not isinstance(node, Mapping) or not node:
            raise ConfigError(f"The threshold 'thresholds.{prefix}' must be a table with 'min' and/or 'max'. Got {node!r}.")
        for key, child in node.items():
            walk(f"{prefix}.{key}" if prefix else str(key), child)

    walk("", raw) if raw else None
    return out


def _make_threshold(metric: str, spec: Mapping[str, Any]) -> Threshold:
    if "." not in metric:
        raise ConfigError(f"The threshold key {metric!r} must be 'check.metric' (e.g. 'fairness.demographic_parity_difference').")
    values: dict[str, float] = {}
    for bound in ("min", "max"):
        if bound in spec:
            v = spec[bound]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
                raise ConfigError(f"The threshold 'thresholds.{metric}.{bound}' must be a finite number. Got {v!r}.")
            values[bound] = float(v)
    if not values:
        raise ConfigError(f"The threshold 'thresholds.{metric}' must set 'min' and/or 'max'. Got {dict(spec)!r}.")
    if "min" in values and "max" in values and values["min"] > values["max"]:
        raise ConfigError(f"The threshold 'thresholds.{metric}' has min {values['min']} > max {values['max']}.")
    severity = spec.get("severity", "fail")
    if severity not in ("fail", "warning"):
        raise ConfigError(f"The threshold 'thresholds.{metric}.severity' must be 'fail' or 'warning'. Got {severity!r}.")
    return Threshold(metric, min=values.get("min"), max=values.get("max"), severity=severity)


def _require_int(key: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"The '{key}' key must be an int >= {minimum}. Got {value!r} instead.")


def _require_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"The '{key}' key must be one of {list(choices)}. Got {value!r} instead.")
