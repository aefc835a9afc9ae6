"""The one Protocol every check implements, the context it receives and what it returns."""
from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from audit.adapters import ModelAdapter
from audit.config import AuditConfig
from audit.errors import ConfigError
from audit.executor import Executor
from audit.results import Finding
from models.dataset import Dataset, Split

__all__ = ["Check", "CheckOutput", "AuditContext", "validate_options", "stratified_sample"]


@dataclass
class CheckOutput:
    """What a check returns.

    Attributes:
        metrics: nested, JSON-ready values. Headline scalars live at the top level so thresholds can name them
            ("fairness.demographic_parity_difference"); tables and curves go deeper.
        findings: the check's own statements (warnings, info) beyond threshold checks.
        artifacts: in-memory objects for later checks in the same audit (e.g. attributions), never saved.
    """

    metrics: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    artifacts: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Check(Protocol):
    """A check: declares where it applies and computes metrics.

    Attributes:
        name: registry key and JSON key ("fairness").
        title: human title for reports.
        kinds: data kinds it applies to.
        tasks: tasks it applies to.
        needs: adapter capabilities required ("proba", "gradients", "generator", "embedding") and
            "sensitive" when the data must carry sensitive attributes.
        default_options: every option the check accepts, with its default.
    """

    name: str
    title: str
    kinds: frozenset[str]
    tasks: frozenset[str]
    needs: frozenset[str]
    default_options: Mapping[str, Any]

    def run(self, ctx: "AuditContext", options: Mapping[str, Any]) -> CheckOutput:
        """Compute the check on ``ctx`` with validated ``options``."""
        ...


@dataclass
class AuditContext:
    """Everything a check may read. Built once per audit by the runner.

    Attributes:
        model: the adapted model.
        dataset: the full data set (train/val/test).
        test: the audited rows of the test split (the whole split, or a stratified seeded sample of max_rows).
        test_index: positions of ``test`` rows within ``dataset.test``.
        config: the audit config.
        executor: the row-parallel seam.
        sensitive_features: sensitive attributes audited (config override or the data set's own).
        metrics: metrics of checks that already ran (read-only by convention).
        artifacts: in-memory artifacts of checks that already ran, by check name.
        progress: ``progress(fraction, message)`` for the current check's bar.
    """

    model: ModelAdapter
    dataset: Dataset
    test: Split
    test_index: np.ndarray
    config: AuditConfig
    executor: Executor
    sensitive_features: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: Callable[[float, str], None] = lambda fraction, message="": None
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return self.config.seed

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator seeded from the audit seed and ``purpose`` (independent of the order checks run in)."""
        return np.random.default_rng([self.config.seed, zlib.crc32(purpose.encode())])

    def test_proba(self) -> np.ndarray:
        """Cached class probabilities of the audited test rows."""
        if "test_proba" not in self._cache:
            self._cache["test_proba"] = self.model.predict_proba(self.test.x)
        return self._cache["test_proba"]

    def test_pred(self) -> np.ndarray:
        """Cached predictions (class index or regression value) of the audited test rows."""
        if "test_pred" not in self._cache:
            if self.model.task in ("binary", "multiclass"):
                self._cache["test_pred"] = self.test_proba().argmax(axis=1)
            else:
                self._cache["test_pred"] = self.model.predict(self.test.x)
        return self._cache["test_pred"]

    def sample(self, n: int, purpose: str) -> np.ndarray:
        """Up to ``n`` positions in ``test``, stratified by label (and first sensitive attribute), seeded."""
        strata = _strata(self.test, self.sensitive_features[:1], self.model.task)
        return stratified_sample(strata, n, self.rng(purpose))


def _strata(split: Split, sensitive: list[str], task: str) -> np.ndarray:
    parts = []
    if task in ("binary", "multiclass"):
        parts.append(np.asarray(split.y).astype(str))
    for name in sensitive:
        if name in split.sensitive.columns:
            parts.append(split.sensitive[name].astype(object).fillna("missing").astype(str).to_numpy().astype(str))
    if not parts:
        return np.zeros(len(split), dtype=np.int64)
    keys = parts[0]
    for p in parts[1:]:
        keys = np.char.add(np.char.add(keys, "|"), p)
    return np.unique(keys, return_inverse=True)[1]


def stratified_sample(strata: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` sorted positions drawn proportionally from each stratum (all positions when n >= len)."""
    total = len(strata)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if n >= total:
        return np.arange(total)
    chosen: list[np.ndarray] = []
    groups = [np.flatnonzero(strata == g) for g in np.unique(strata)]
    quotas = np.array([len(g) * n / total for g in groups])
    counts = np.floor(quotas).astype(int)
    for i in np.argsort(-(quotas - counts))[: n - counts.sum()]:
        counts[i] += 1
    for g, c in zip(groups, counts):
        if c:
            chosen.append(rng.choice(g, size=c, replace=False))
    return np.sort(np.concatenate(chosen))


def validate_options(check: Check, options: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with the user's options; unknown keys or wrongly typed values raise ``ConfigError``."""
    merged = dict(check.default_options)
    for key, value in options.items():
        if key not in check.default_options:
            raise ConfigError(
                f"Unknown option 'options.{check.name}.{key}'. Expected one of {sorted(check.default_options)}."
            )
        default = check.default_options[key]
        if default is not None and not _same_kind(default, value):
            raise ConfigError(
                f"The option 'options.{check.name}.{key}' must be {type(default).__name__} like {default!r}. Got {value!r}."
            )
        merged[key] = value
    return merged


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))
