"""The "fairness" check: group metrics with bootstrap intervals for every sensitive feature and pairwise intersection.

Binary models are audited on the positive class (index 1). Multiclass models are audited one-vs-rest for every class
(or the class chosen by ``positive_class``); headline numbers are the worst over features and classes.

Headline metrics (top level, point estimates over single sensitive features; intersections have their own):
``demographic_parity_difference`` (largest), ``demographic_parity_ratio`` (lowest), ``equalized_odds_difference``,
``equalized_odds_ratio``, ``equal_opportunity_difference``, ``four_fifths_passed``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.checks._common import require_float, require_int
from audit.checks.base import AuditContext, CheckOutput
from audit.checks.fairness._metrics_frame import GroupFrame, compute_group_frames
from audit.checks.fairness._sensitive import MISSING_LABEL, prepare_sensitive, pairs
from audit.checks.fairness._tables import TITLES, fmt, frame_summary, frame_table, selection_bar, table_key, worst
from audit.errors import CheckNotApplicable, ConfigError
from audit.results import Finding, to_jsonable

__all__ = ["FairnessCheck"]

_HEADLINE_MAX = ("demographic_parity_difference", "equalized_odds_difference", "equal_opportunity_difference")
_HEADLINE_MIN = ("demographic_parity_ratio", "equalized_odds_ratio")
_WARN_ON = ("demographic_parity_difference", "equalized_odds_difference", "equal_opportunity_difference")


@dataclass(frozen=True)
class FairnessCheck:
    """Group fairness of a classifier across sensitive attributes, with uncertainty."""

    name: str = "fairness"
    title: str = "Group fairness"
    kinds: frozenset[str] = frozenset({"tabular", "image", "text", "timeseries"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass"})
    needs: frozenset[str] = frozenset({"sensitive", "proba"})
    default_options: Mapping[str, Any] = field(default_factory=lambda: {
        "n_boot": 1000,           # bootstrap resamples (0: no intervals)
        "ci": 0.95,               # interval coverage
        "min_group_size": 30,     # smaller groups: "insufficient data", never compared
        "intersections": True,   # pairwise intersections (sex x race)
        "max_categories": 10,     # numeric sensitive columns with more values are binned with config.age_bins
        "n_bins": 10,             # probability bins of the calibration error
        "min_effect": 0.05,       # significant disparities at least this large become warnings
        "positive_class": -1,     # -1: class 1 (binary) / every class one-vs-rest (multiclass)
        "chunk_size": 100,        # bootstrap resamples per executor work item
    })

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Compute group metrics, disparities, intervals and findings on the audited test rows."""
        _validate(options)
        prepared = prepare_sensitive(ctx.test.sensitive, ctx.sensitive_features, edges=ctx.config.age_bins,
                                     continuous=ctx.dataset.continuous_features,
                                     max_categories=int(options["max_categories"]))
        if not prepared.labels:
            reasons = "; ".join(f"{k}: {v}" for k, v in prepared.skipped.items())
            raise CheckNotApplicable(f"no sensitive feature has 2 or more groups in the audited rows ({reasons})")
        proba = ctx.test_proba()
        y = np.asarray(ctx.test.y, dtype=np.int64)
        pred = np.asarray(ctx.test_pred(), dtype=np.int64)
        classes = _classes(ctx.model.task, proba.shape[1], int(options["positive_class"]))
        names = list(ctx.model.class_names) or [str(i) for i in range(proba.shape[1])]
        features = list(prepared.labels)
        inters = pairs(features) if options["intersections"] else []
        seed = int(ctx.rng("fairness-bootstrap").integers(0, 2**31 - 1))
        per_class: dict[int, dict[str, GroupFrame]] = {}
        for step, c in enumerate(classes):
            ctx.progress(step / len(classes), f"class {names[c]}")
            per_class[c] = compute_group_frames(
                (y == c).astype(np.int64), (pred == c).astype(np.int64), prepared.labels, y_prob=proba[:, c],
                intersections=inters, n_boot=int(options["n_boot"]), ci=float(options["ci"]),
                min_group_size=int(options["min_group_size"]), seed=seed, n_bins=int(options["n_bins"]),
                map_fn=ctx.executor.map, chunk_size=int(options["chunk_size"]))
        metrics = _layout(per_class, classes, names, features, ctx.model.task, prepared, options)
        findings = _findings(self.name, per_class, classes, names, ctx.model.task, prepared, options)
        ctx.progress(1.0, "done")
        return CheckOutput(metrics=to_jsonable(metrics), findings=findings,
                           artifacts={"frames": per_class, "groups": prepared.labels})


def _validate(options: Mapping[str, Any]) -> None:
    checks = (("n_boot", 0), ("min_group_size", 1), ("max_categories", 1), ("n_bins", 1), ("chunk_size", 1))
    for key, low in checks:
        require_int("fairness", key, options[key], low)
    require_float("fairness", "ci", options["ci"], 0, 1, min_inclusive=False, max_inclusive=False)
    require_float("fairness", "min_effect", options["min_effect"], 0)
    if options["positive_class"] < -1:
        raise ConfigError(f"The option 'options.fairness.positive_class' must be -1 or a class index. Got {options['positive_class']!r}.")


def _classes(task: str, k: int, positive: int) -> list[int]:
    if positive >= k:
        raise ConfigError(f"The option 'options.fairness.positive_class' must be < {k} (the number of classes). Got {positive}.")
    if positive >= 0:
        return [positive]
    return [1] if task == "binary" else list(range(k))


def _layout(per_class: dict[int, dict[str, GroupFrame]], classes: list[int], names: list[str], features: list[str],
            task: str, prepared: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    multi = task == "multiclass" and len(classes) > 1
    groupings = list(per_class[classes[0]])
    single = [g for g in groupings if g in features]
    inter = [g for g in groupings if g not in features]

    def collect(name: str, keys: list[str]) -> list[float]:
        return [per_class[c][g].disparities[name].value for c in classes for g in keys]

    out: dict[str, Any] = {}
    for name in _HEADLINE_MAX:
        out[name] = worst(collect(name, single))
    for name in _HEADLINE_MIN:
        out[name] = worst(collect(name, single), lowest=True)
    passed = [per_class[c][g].four_fifths_passed for c in classes for g in single]
    out["four_fifths_passed"] = all(p for p in passed if p is not None) if any(p is not None for p in passed) else None
    dp = [(per_class[c][g].disparities["demographic_parity_difference"].value, g) for c in classes for g in single]
    finite = [(v, g) for v, g in dp if np.isfinite(v)]
    out["worst_feature"] = max(finite)[1] if finite else None
    out["intersectional_demographic_parity_difference"] = worst(collect("demographic_parity_difference", inter))
    out["intersectional_equalized_odds_difference"] = worst(collect("equalized_odds_difference", inter))
    out["n_insufficient_groups"] = sum(len(per_class[classes[0]][g].insufficient) for g in groupings)
    out["n_significant_disparities"] = sum(
        1 for c in classes for g in groupings for n in _WARN_ON if per_class[c][g].disparities[n].significant)
    out["positive_class"] = "one-vs-rest, every class" if multi else names[classes[0]]
    out["binned_features"] = list(prepared.binned)
    out["skipped_features"] = dict(prepared.skipped)
    out["features"] = {
        g: ({names[c]: frame_summary(per_class[c][g]) for c in classes} if multi else frame_summary(per_class[classes[0]][g]))
        for g in groupings
    }
    tables: dict[str, Any] = {}
    bars: dict[str, Any] = {}
    for g in groupings:
        pairs_ = [([names[c]] if multi else [], per_class[c][g]) for c in classes]
        what = "one-vs-rest per class" if multi else f"positive class '{names[classes[0]]}'"
        tables[table_key(g)] = frame_table(pairs_, f"Group metrics by {g} ({what})", ["class"] if multi else [])
        if g in single and not multi:
            bars[table_key("selection_rate", g)] = selection_bar(per_class[classes[0]][g], f"Selection rate by {g}")
    tables["disparities"] = _disparity_table(per_class, classes, names, groupings, multi)
    out["tables"] = tables
    out["bars"] = bars
    return out


def _disparity_table(per_class: dict[int, dict[str, GroupFrame]], classes: list[int], names: list[str],
                     groupings: list[str], multi: bool) -> dict[str, Any]:
    rows = []
    for c in classes:
        for g in groupings:
            for name, d in per_class[c][g].disparities.items():
                rows.append([*([names[c]] if multi else []), g, name, d.value, d.ci_low, d.ci_high, d.gap_low,
                             d.gap_high, "n/a" if d.significant is None else ("yes" if d.significant else "no"),
                             d.higher, d.lower])
    cols = [*(["class"] if multi else []), "feature", "disparity", "value", "ci_low", "ci_high", "gap_ci_low",
            "gap_ci_high", "significant", "higher_group", "lower_group"]
    return {"title": "Disparities between groups (eligible groups only)", "columns": cols, "rows": rows,
            "note": "A difference is max minus min over groups, a ratio min over max; ci_low/ci_high bound the statistic "
                    "itself. 'significant': the interval of the signed gap between the two extreme groups (higher minus "
                    "lower, recomputed in every resample) excludes 0; it is simultaneous over the pairs of groups "
                    "(Bonferroni, normal approximation with the bootstrap standard error) because the pair is chosen "
                    "after looking at the data."}


def _findings(check: str, per_class: dict[int, dict[str, GroupFrame]], classes: list[int], names: list[str],
              task: str, prepared: Any, options: Mapping[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    multi = task == "multiclass" and len(classes) > 1
    pct = f"{100 * float(options['ci']):g}%"
    for c in classes:
        tag = f" (class '{names[c]}' one-vs-rest)" if multi else ""
        for g, frame in per_class[c].items():
            eo_is_tpr = frame.disparities["equalized_odds_difference"].metric == "true_positive_rate"
            for name in _WARN_ON:
                d = frame.disparities[name]
                if d.significant is None or not np.isfinite(d.value) or d.value < float(options["min_effect"]):
                    continue
                if name == "equal_opportunity_difference" and eo_is_tpr:
                    continue  # the same gap was just reported as the equalized odds difference
                title = TITLES[name] + (" (also the equal opportunity difference)"
                                        if name == "equalized_odds_difference" and eo_is_tpr else "")
                metric = d.metric.replace("_", " ")
                title = title[:1].upper() + title[1:]
                detail = (f"{title} for '{g}'{tag} is {fmt(d.value)}: {metric} {fmt(_value(frame, d.metric, d.higher))} "
                          f"for '{d.higher}' vs {fmt(_value(frame, d.metric, d.lower))} for '{d.lower}'")
                path = f"features.{g}" + (f".{names[c]}" if multi else "") + f".disparities.{name}.value"
                if d.significant:
                    out.append(Finding(check, "warning", f"{detail}; significant (simultaneous {pct} interval of the "
                                       f"gap {fmt(d.gap_low)} to {fmt(d.gap_high)}).", metric=path, value=float(d.value)))
                else:
                    out.append(Finding(check, "info", f"{detail}, but not significant: the simultaneous {pct} interval "
                                       f"of the gap ({fmt(d.gap_low)} to {fmt(d.gap_high)}) includes 0.", metric=path,
                                       value=float(d.value)))
    first = per_class[classes[0]]
    for g, frame in first.items():
        if frame.insufficient:
            counts = {lab: int(n) for lab, n in zip(frame.labels, frame.values["count"])}
            listed = ", ".join(f"'{lab}' ({counts[lab]})" for lab in frame.insufficient[:8])
            more = f" and {len(frame.insufficient) - 8} more" if len(frame.insufficient) > 8 else ""
            out.append(Finding(check, "info", f"Groups of '{g}' with fewer than {frame.min_group_size} rows are reported as "
                               f"insufficient data and never compared: {listed}{more}."))
    for name, n in prepared.missing.items():
        out.append(Finding(check, "info", f"{n} audited rows have no value for '{name}'; they form the group '{MISSING_LABEL}'."))
    for name, reason in prepared.skipped.items():
        out.append(Finding(check, "info", f"The sensitive feature '{name}' was not audited: {reason}."))
    return out


def _value(frame: GroupFrame, metric: str, label: str | None) -> float:
    if label is None:
        return float("nan")
    return float(frame.values[metric][frame.labels.index(label)])
