"""Compare compressed variants with the original: pure metric functions, the typed report and its flags.

A *flag* is the failure compression audits exist to catch: a variant whose overall accuracy barely moves
(``|change| < tolerance``) while one group's or one class's accuracy drops by more than ``tolerance``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from audit.errors import InvalidInputError
from audit.results import AuditResult, Finding, to_jsonable

__all__ = [
    "GroupScore",
    "VariantRow",
    "Flag",
    "CompressionReport",
    "accuracy_by",
    "rank_correlation",
    "importance_drift",
    "find_flags",
]


@dataclass(frozen=True)
class GroupScore:
    """Accuracy of one group (or class) of audited rows."""

    n: int
    accuracy: float | None  # None for an empty group


def accuracy_by(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray) -> dict[str, GroupScore]:
    """Accuracy of ``y_pred`` within each distinct value of ``labels`` (sorted by label).

    Args:
        y_true: true class indices (n,).
        y_pred: predicted class indices (n,).
        labels: group label of each row (n,).

    Returns:
        ``{str(label): GroupScore(n, accuracy)}``.

    Raises:
        InvalidInputError: the three arrays differ in length.

    Example:
        >>> accuracy_by(np.array([1, 0, 1]), np.array([1, 1, 1]), np.array(["a", "a", "b"]))["a"].accuracy
        0.5
    """
    yt, yp, lab = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1), np.asarray(labels).reshape(-1)
    if not len(yt) == len(yp) == len(lab):
        raise InvalidInputError(
            f"The 'y_pred' and 'labels' arguments must have {len(yt)} entries like 'y_true'. "
            f"Got {len(yp)} and {len(lab)} instead."
        )
    correct = yt == yp
    out: dict[str, GroupScore] = {}
    for value in sorted(set(lab.tolist()), key=str):
        mask = lab == value
        n = int(mask.sum())
        out[str(value)] = GroupScore(n=n, accuracy=float(correct[mask].mean()) if n else None)
    return out


def rank_correlation(reference: Mapping[str, float], other: Mapping[str, float]) -> float | None:
    """Spearman rank correlation of two importance maps over their common features (None if < 3 or constant)."""
    keys = [k for k in reference if k in other and _finite(reference[k]) and _finite(other[k])]
    if len(keys) < 3:
        return None
    a = np.array([float(reference[k]) for k in keys])
    b = np.array([float(other[k]) for k in keys])
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def importance_drift(reference: Mapping[str, Any] | None, other: Mapping[str, Any] | None) -> dict[str, float | None]:
    """Per explanation method, the rank correlation of ``other``'s global importances with ``reference``'s.

    Both arguments are ``metrics["explanations"]["global_importance"]`` maps (``{method: {feature: value}}``);
    methods missing from either side, or not laid out as feature maps (image patches), are left out.
    """
    out: dict[str, float | None] = {}
    if not isinstance(reference, Mapping) or not isinstance(other, Mapping):
        return out
    for method, ref in reference.items():
        mine = other.get(method)
        if isinstance(ref, Mapping) and isinstance(mine, Mapping):
            out[str(method)] = rank_correlation(ref, mine)
    return out


@dataclass
class VariantRow:
    """Everything measured about one variant (the original is the first row).

    ``None`` means "n/a": the check did not run for this variant (``check_status`` says why) or the value does not
    apply (e.g. sparsity of a quantized model).
    """

    name: str
    kind: str  # "original" | "quantized" | "pruned" | "distilled"
    audited_as: str  # "torch" (differentiable) | "black box"
    size_on_disk_bytes: int
    compressed_size_bytes: int
    n_parameters: int
    n_nonzero_parameters: int
    sparsity: float | None
    cpu_latency_ms_per_batch: float
    accuracy: float
    accuracy_change: float
    prediction_agreement: float
    fairness: dict[str, float | None] = field(default_factory=dict)
    robust_accuracy: float | None = None
    ece: float | None = None
    explanation_rank_corr: float | None = None  # mean over methods of the Spearman correlation with the original
    explanation_rank_corr_by_method: dict[str, float | None] = field(default_factory=dict)
    group_accuracy: dict[str, dict[str, GroupScore]] = field(default_factory=dict)
    class_accuracy: dict[str, GroupScore] = field(default_factory=dict)
    check_status: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))


@dataclass(frozen=True)
class Flag:
    """A variant that keeps its overall accuracy while one group or class loses more than the tolerance."""

    variant: str
    axis: str  # "group" | "class"
    feature: str | None  # the sensitive feature (None for classes)
    group: str
    n: int
    original_accuracy: float
    variant_accuracy: float
    drop: float
    overall_change: float

    @property
    def message(self) -> str:
        where = f"group {self.feature}={self.group}" if self.axis == "group" else f"class {self.group!r}"
        return (f"{self.variant}: overall accuracy moved by {self.overall_change:+.3f} but {where} (n={self.n}) "
                f"dropped from {self.original_accuracy:.3f} to {self.variant_accuracy:.3f} ({-self.drop:+.3f}).")

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({**asdict(self), "message": self.message})


def find_flags(original: VariantRow, variants: Sequence[VariantRow], *, tolerance: float,
               min_group_size: int) -> list[Flag]:
    """Flags of ``variants`` against ``original`` (groups and classes with fewer than ``min_group_size`` rows skipped).

    A variant is examined when ``|accuracy_change| < tolerance``; each group (of every sensitive feature) and each
    class whose accuracy falls by more than ``tolerance`` gives one flag, largest drop first within a variant.
    """
    flags: list[Flag] = []
    for row in variants:
        if not abs(row.accuracy_change) < tolerance:
            continue
        found: list[Flag] = []
        axes: list[tuple[str, str | None, Mapping[str, GroupScore], Mapping[str, GroupScore]]] = [
            ("group", feature, original.group_accuracy.get(feature, {}), groups)
            for feature, groups in row.group_accuracy.items()
        ]
        axes.append(("class", None, original.class_accuracy, row.class_accuracy))
        for axis, feature, before, after in axes:
            for label, score in after.items():
                ref = before.get(label)
                if ref is None or ref.accuracy is None or score.accuracy is None or score.n < min_group_size:
                    continue
                drop = ref.accuracy - score.accuracy
                if drop > tolerance:
                    found.append(Flag(row.name, axis, feature, label, score.n, ref.accuracy, score.accuracy, drop,
                                      row.accuracy_change))
        flags.extend(sorted(found, key=lambda f: -f.drop))
    return flags


@dataclass
class CompressionReport:
    """The result of ``compress_and_audit``.

    Attributes:
        model: family, task and dataset of the original model.
        rows: one ``VariantRow`` per variant, the original first.
        flags: see ``find_flags``.
        settings: the ``CompressionSettings`` used (as a dict).
        audited_rows: test rows every variant was audited on.
        results: the full ``AuditResult`` of each variant by name (in memory; not part of ``to_dict``).
    """

    model: dict[str, Any]
    rows: list[VariantRow]
    flags: list[Flag]
    settings: dict[str, Any]
    audited_rows: int
    results: dict[str, AuditResult] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def row(self, name: str) -> VariantRow:
        """The row of variant ``name``.

        Raises:
            InvalidInputError: no variant has that name.
        """
        for row in self.rows:
            if row.name == name:
                return row
        raise InvalidInputError(f"The 'name' argument must name a variant {[r.name for r in self.rows]}. Got {name!r}.")

    def findings(self) -> list[Finding]:
        """One warning per flag (check ``"compression"``)."""
        return [Finding("compression", "warning", f.message, metric="max_hidden_group_drop", value=f.drop,
                        threshold={"max": float(self.settings.get("tolerance", 0.05))}) for f in self.flags]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the per-variant ``AuditResult`` objects; their check statuses are in the rows)."""
        return to_jsonable({"model": self.model, "audited_rows": self.audited_rows, "settings": self.settings,
                            "rows": [r.to_dict() for r in self.rows], "flags": [f.to_dict() for f in self.flags]})


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) and np.isfinite(value)
