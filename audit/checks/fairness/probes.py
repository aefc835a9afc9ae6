"""The "fairness_probes" check: counterfactual probes of sensitive inputs.

- Tabular: every sensitive attribute that is a model input is changed to each of its other values (the whole one-hot
  block; a numeric input such as age is moved to the median of each other bin) and predictions are compared.
- Text: identity terms (gender, religion, nationality, ...) are substituted into the test sentences; the gap between
  groups' mean scores is reported with a paired bootstrap interval. Needs no sensitive column.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.checks._common import require_float, require_int
from audit.checks.base import AuditContext, CheckOutput
from audit.checks.fairness._flips import (
    FlipResult,
    block_current,
    block_targets,
    counterfactual_flips,
    numeric_targets,
)
from audit.checks.fairness._sensitive import prepare_sensitive
from audit.checks.fairness._tables import fmt, table_key
from audit.checks.fairness._text_probe import IdentityProbeResult, identity_probe
from audit.checks.fairness.identity_terms import IDENTITY_TERMS
from audit.errors import CheckNotApplicable, ConfigError
from audit.results import Finding, to_jsonable
from models.preprocessing import encode

__all__ = ["FairnessProbesCheck"]


@dataclass(frozen=True)
class FairnessProbesCheck:
    """Counterfactual probes: does changing the sensitive attribute (or identity term) change the prediction?"""

    name: str = "fairness_probes"
    title: str = "Counterfactual fairness probes"
    kinds: frozenset[str] = frozenset({"tabular", "text"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass"})
    needs: frozenset[str] = frozenset({"proba"})
    default_options: Mapping[str, Any] = field(default_factory=lambda: {
        "max_rows": 2000,            # tabular rows probed (stratified sample)
        "max_categories": 10,        # numeric sensitive inputs with more values are binned with config.age_bins
        "flip_warning": 0.01,        # warn when more than this share of predictions change with the attribute
        "categories": [],            # text: identity categories to probe ([] = all)
        "min_sentences": 20,         # text: fewer sentences mentioning a category -> template method
        "max_sentences": 500,        # text: most mentioning sentences used
        "template_sentences": 200,   # text: sentences prefixed in the template method
        "n_boot": 1000,              # text: bootstrap resamples of the sentences
        "ci": 0.95,
        "min_effect": 0.05,          # text: significant gaps at least this large become warnings
    })

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Probe the model; tabular data needs a sensitive attribute that is a model input."""
        _validate(options)
        if ctx.dataset.kind == "text":
            return _text(self.name, ctx, options)
        return _tabular(self.name, ctx, options)


def _validate(options: Mapping[str, Any]) -> None:
    for key in ("max_rows", "max_categories", "min_sentences", "max_sentences", "template_sentences"):
        require_int("fairness_probes", key, options[key], 1)
    require_int("fairness_probes", "n_boot", options["n_boot"], 0)
    require_float("fairness_probes", "ci", options["ci"], 0, 1, min_inclusive=False, max_inclusive=False)
    unknown = [c for c in options["categories"] if c not in IDENTITY_TERMS]
    if unknown:
        raise ConfigError(f"The option 'options.fairness_probes.categories' must name categories among "
                          f"{sorted(IDENTITY_TERMS)}. Got {unknown!r}.")


# ------------------------------------------------------------------------------------------------ tabular
def _tabular(check: str, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
    ds = ctx.dataset
    if not ctx.sensitive_features:
        raise CheckNotApplicable("the data has no sensitive attribute to flip")
    inputs = [s for s in ctx.sensitive_features if s in ds.feature_groups]
    if not inputs:
        raise CheckNotApplicable(f"no sensitive attribute ({ctx.sensitive_features}) is a model input, so none can be "
                                 "flipped; the 'proxies' check covers indirect use")
    rows = ctx.sample(int(options["max_rows"]), "fairness-probes")
    split = ctx.test.subset(rows)
    x = np.asarray(split.x)
    base = ctx.test_proba()[rows]
    positive = 1 if ctx.model.task == "binary" else None
    prepared = prepare_sensitive(split.sensitive, inputs, edges=ctx.config.age_bins, continuous=ds.continuous_features,
                                 max_categories=int(options["max_categories"]))
    results: list[FlipResult] = []
    notes: dict[str, str] = {}
    for step, name in enumerate(inputs):
        ctx.progress(step / len(inputs), f"flipping {name}")
        cols = list(ds.feature_groups[name])
        if len(cols) > 1:
            targets = block_targets(ds.feature_names, cols, name)
            current = block_current(x, ds.feature_names, cols, name)
            mode = "one-hot block"
        elif name in prepared.labels:
            current = prepared.labels[name].astype(str)
            targets = numeric_targets(x[:, cols[0]], current)
            mode = "numeric column moved to each other bin's median" if name in prepared.binned else "numeric column"
        else:
            notes[name] = prepared.skipped.get(name, "no groups to move between")
            continue
        if len(targets) < 2:
            notes[name] = f"fewer than 2 values to flip between ({list(targets)})"
            continue
        results.append(counterfactual_flips(ctx.model.predict_proba, x, cols, targets, current, feature=name,
                                            mode=mode, positive=positive, base=base))
    if not results:
        raise CheckNotApplicable(f"no sensitive input could be flipped: {notes}")
    return CheckOutput(metrics=to_jsonable(_tabular_layout(results, notes, len(rows))),
                       findings=_tabular_findings(check, results, float(options["flip_warning"])),
                       artifacts={"flips": results})


def _tabular_layout(results: list[FlipResult], notes: dict[str, str], n_rows: int) -> dict[str, Any]:
    top = max(results, key=lambda r: (r.flip_rate, r.mean_abs_change))
    out: dict[str, Any] = {
        "flip_rate": top.flip_rate,
        "mean_abs_change": max(r.mean_abs_change for r in results),
        "max_abs_change": max(r.max_abs_change for r in results),
        "worst_feature": top.feature,
        "n_rows": n_rows,
        "features": {r.feature: {"mode": r.mode, "flip_rate": r.flip_rate, "mean_abs_change": r.mean_abs_change,
                                 "max_abs_change": r.max_abs_change, "pairs": r.pairs} for r in results},
        "not_probed": notes,
    }
    tables = {"flip_summary": {
        "title": "Counterfactual flips of sensitive inputs",
        "columns": ["feature", "mode", "rows", "flip_rate", "mean_abs_change", "max_abs_change"],
        "rows": [[r.feature, r.mode, r.n_rows, r.flip_rate, r.mean_abs_change, r.max_abs_change] for r in results],
        "note": "flip_rate: share of rows whose predicted class changes for at least one other value of the attribute. "
                "Changes are total-variation distances between probability vectors (binary: |change of P(positive)|).",
    }}
    for r in results:
        tables[table_key("flips", r.feature)] = {
            "title": f"Changing '{r.feature}' ({r.mode})",
            "columns": ["from", "to", "rows", "flip_rate", "mean_change_positive", "mean_abs_change"],
            "rows": [[p["source"], p["target"], p["rows"], p["flip_rate"], p["mean_change"], p["mean_abs_change"]]
                     for p in r.pairs],
            "note": "mean_change_positive: mean signed change of the positive-class probability (binary models).",
        }
    out["tables"] = tables
    return out


def _tabular_findings(check: str, results: list[FlipResult], warn_at: float) -> list[Finding]:
    out = []
    for r in results:
        text = (f"Changing '{r.feature}' alone changes {100 * r.flip_rate:.1f}% of predictions (mean probability change "
                f"{fmt(r.mean_abs_change)}, largest {fmt(r.max_abs_change)})")
        if r.flip_rate > warn_at:
            out.append(Finding(check, "warning", text + ": the model uses the sensitive attribute directly.",
                               metric=f"features.{r.feature}.flip_rate", value=r.flip_rate, threshold={"max": warn_at}))
        else:
            out.append(Finding(check, "info", text + ".", metric=f"features.{r.feature}.flip_rate", value=r.flip_rate))
    return out


# ------------------------------------------------------------------------------------------------ text
def _text(check: str, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
    raw = ctx.test.raw
    state = ctx.dataset.preprocessing
    if raw is None or "text" not in raw.columns:
        raise CheckNotApplicable("the test split carries no raw sentences (split.raw['text'])")
    if not isinstance(state, dict) or state.get("kind") != "text":
        raise CheckNotApplicable("the data set has no fitted text preprocessing to encode rewritten sentences")
    texts = [str(t) for t in raw["text"].tolist()]

    def predict(batch: list[str]) -> np.ndarray:
        return ctx.model.predict_proba(encode(batch, state))

    categories = list(options["categories"]) or list(IDENTITY_TERMS)
    positive = 1 if ctx.model.task == "binary" else None
    results: list[IdentityProbeResult] = []
    for step, category in enumerate(categories):
        ctx.progress(step / len(categories), f"identity terms: {category}")
        results.append(identity_probe(predict, texts, category, rng=ctx.rng(f"fairness-probes-{category}"),
                                      min_sentences=int(options["min_sentences"]),
                                      max_sentences=int(options["max_sentences"]),
                                      template_sentences=int(options["template_sentences"]),
                                      n_boot=int(options["n_boot"]), ci=float(options["ci"]), positive=positive))
    return CheckOutput(metrics=to_jsonable(_text_layout(results, ctx.model.task)),
                       findings=_text_findings(check, results, float(options["min_effect"]), float(options["ci"])),
                       artifacts={"identity": results})


def _text_layout(results: list[IdentityProbeResult], task: str) -> dict[str, Any]:
    top = max(results, key=lambda r: r.gap)
    score = "P(positive class)" if task == "binary" else "P(class predicted for the unmodified sentence)"
    out: dict[str, Any] = {
        "identity_max_gap": top.gap,
        "identity_worst_category": top.category,
        "identity_flip_rate": max(r.flip_rate for r in results),
        "n_significant_categories": sum(1 for r in results if r.significant),
        "score": score,
        "categories": {r.category: {"method": r.method, "n_sentences": r.n_sentences, "gap": r.gap,
                                    "gap_ci_low": r.gap_low, "gap_ci_high": r.gap_high, "significant": r.significant,
                                    "higher_group": r.higher, "lower_group": r.lower_group, "flip_rate": r.flip_rate,
                                    "mean_score": dict(zip(r.groups, r.mean_score.tolist()))} for r in results},
        "samples": [{"category": r.category, **e} for r in results for e in r.examples],
    }
    tables = {"identity_summary": {
        "title": "Identity-term substitution: gap between groups",
        "columns": ["category", "method", "sentences", "gap", "gap_ci_low", "gap_ci_high", "significant",
                    "higher_group", "lower_group", "flip_rate"],
        "rows": [[r.category, r.method, r.n_sentences, r.gap, r.gap_low, r.gap_high,
                  "n/a" if r.significant is None else ("yes" if r.significant else "no"), r.higher, r.lower_group,
                  r.flip_rate] for r in results],
        "note": f"Score: {score}. 'substitution' rewrites test sentences that mention the category; 'template' prefixes "
                "sampled sentences with 'This review was written by a critic who is <group>.'. The gap interval is a "
                "paired bootstrap over sentences; flip_rate: share of sentences whose predicted class depends on the group.",
    }}
    for r in results:
        tables[table_key("identity", r.category)] = {
            "title": f"Identity terms: {r.category} ({r.method}, {r.n_sentences} sentences)",
            "columns": ["group", "mean_score", "ci_low", "ci_high", "positive_rate"],
            "rows": [[g, r.mean_score[i], r.lower[i], r.upper[i], r.positive_rate[i]] for i, g in enumerate(r.groups)],
        }
    out["tables"] = tables
    return out


def _text_findings(check: str, results: list[IdentityProbeResult], min_effect: float, ci: float) -> list[Finding]:
    out = []
    for r in results:
        if r.significant and r.gap >= min_effect:
            out.append(Finding(check, "warning",
                               f"Identity terms ({r.category}, {r.method}): sentences naming '{r.higher}' score "
                               f"{fmt(r.gap)} higher than the same sentences naming '{r.lower_group}' ({100 * ci:g}% "
                               f"interval {fmt(r.gap_low)} to {fmt(r.gap_high)}); {100 * r.flip_rate:.1f}% of "
                               "predictions change with the group word.",
                               metric=f"categories.{r.category}.gap", value=r.gap))
    return out
