"""The ``explanations`` check: runs the configured attribution methods on chosen rows (local explanations) and on
a seeded sample (global importance with bootstrap intervals), in the units people read."""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from audit.checks._common import require_int
from audit.checks.base import AuditContext, CheckOutput
from audit.checks.explain import _aggregate as agg
from audit.checks.explain._methods import (
    METHODS,
    BlackBoxScores,
    Workload,
    applicable,
    auto_methods,
    run_method,
)
from audit.checks.explain._selection import select_local
from audit.checks.explain.captum_ import check_baseline
from audit.checks.explain.lime_ import tokens_to_text
from audit.errors import CheckNotApplicable, ConfigError
from audit.results import Finding

__all__ = ["ExplanationsCheck", "ExplanationSet"]

_CHECK = "explanations"
_OPT = f"options.{_CHECK}"


@dataclass
class ExplanationSet:
    """The artifact later checks read (``ctx.artifacts["explanations"]["set"]``).

    Attributes:
        workload: inputs, targets, module, scores and options the methods ran with.
        indices: rows of ``dataset.test`` explained (aligned with ``workload.x``).
        local_rows, global_rows: positions in ``workload.x`` of the local and global samples.
        reasons: why each local row was chosen.
        attributions: method -> attributions like the inputs, for ``rows[method]``.
        rows: method -> positions in ``workload.x`` the method explained.
        readable: method -> attributions in readable units (tabular features, pixels, steps, tokens).
        labels: names of the readable units (empty for images).
        tokens: text only: the tokens of each explained row.
    """

    workload: Workload
    indices: np.ndarray
    local_rows: np.ndarray
    global_rows: np.ndarray
    reasons: tuple[str, ...]
    attributions: dict[str, np.ndarray] = field(default_factory=dict)
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    readable: dict[str, np.ndarray] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    tokens: list[list[str]] = field(default_factory=list)


@dataclass(frozen=True)
class ExplanationsCheck:
    """Attributions from captum, shap and LIME: local (chosen rows) and global (mean |attribution| with CIs)."""

    name: str = "explanations"
    title: str = "Explanations"
    kinds: frozenset[str] = frozenset({"tabular", "image", "text", "timeseries"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass", "regression"})
    needs: frozenset[str] = frozenset()
    default_options: Mapping[str, Any] = field(default_factory=lambda: {
        "methods": ["auto"],        # method names (see METHODS) or "auto" (by data kind and model type)
        "target": "predicted",      # explain the "predicted" or the "true" class
        "n_local": 3,               # rows per automatic reason (errors, uncertain, random)
        "n_global": 200,            # rows for global importance (gradient methods)
        "n_global_blackbox": 40,    # rows for global importance (Kernel SHAP, LIME, occlusion)
        "n_boot": 200,              # bootstrap resamples for the intervals
        "ig_steps": 50,             # integration steps (IG, layer IG)
        "n_samples": 20,            # GradientShap / GradientExplainer draws per row
        "n_background": 50,         # training rows used as SHAP background
        "n_background_kernel": 20,  # background rows for Kernel / permutation SHAP
        "kernel_samples": 256,      # coalitions per row (Kernel SHAP)
        "lime_samples": 500,        # perturbations per row (LIME)
        "lime_segments": 16,        # superpixels per image (LIME)
        "occlusion_window": 4,      # window size (pixels or time steps)
        "rows_per_task": 16,        # rows per executor task (black-box methods)
        "baseline": None,           # None (auto: train mean / zeros / padding), "zeros", "mean" or one row
        "fast": True,               # batched paths (False: the libraries' own loops)
        "top_k": 10,                # features shown per local explanation
    })

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Explain ``ctx.model`` on ``ctx.test``; see the module docstring."""
        o = dict(options)
        ds, kind = ctx.dataset, ctx.dataset.kind
        if ctx.model.task not in self.tasks:
            raise CheckNotApplicable(f"explanations apply to classification and regression, not {ctx.model.task!r}")
        module = ctx.model.score_module(as_proba=False) if ctx.model.differentiable else None
        text_state = ds.preprocessing if ds.preprocessing.get("kind") == "text" else None
        methods, skipped = _resolve_methods(o["methods"], kind, module, text_state)
        if not methods:
            raise CheckNotApplicable("no explanation method applies: " + "; ".join(skipped.values()))
        ctx.progress(0.02, "choosing rows")
        ws = _build_set(ctx, o, module, text_state)
        metrics: dict[str, Any] = {"skipped_methods": skipped, "notes": {}, "seconds": {}, "target": o["target"]}
        deltas: dict[str, float] = {}
        for i, name in enumerate(methods):
            ctx.progress(0.05 + 0.85 * i / len(methods), name)
            rows = np.arange(len(ws.indices))
            if METHODS[name].expensive:
                rows = np.unique(np.concatenate([ws.local_rows, ws.global_rows[: o["n_global_blackbox"]]]))
            t0 = time.perf_counter()
            out = run_method(name, ws.workload, rows)
            metrics["seconds"][name] = round(time.perf_counter() - t0, 4)
            ws.attributions[name], ws.rows[name] = out.values, rows
            ws.readable[name] = agg.to_feature_space(out.values, kind, ws.workload.groups)
            if out.notes:
                metrics["notes"][name] = out.notes
            if out.delta is not None:
                deltas[name] = float(np.max(np.abs(out.delta)))
        ctx.progress(0.92, "aggregating")
        metrics.update(_summaries(ctx, ws, methods, o, deltas))
        findings = _findings(ctx, ws, metrics, methods, skipped)
        return CheckOutput(metrics=metrics, findings=findings, artifacts={"set": ws})


# ------------------------------------------------------------------------------------------------ set-up
def _resolve_methods(requested: Any, kind: str, module: nn.Module | None,
                     text_state: dict[str, Any] | None) -> tuple[list[str], dict[str, str]]:
    names = list(requested)
    if names == ["auto"]:
        names = list(auto_methods(kind, module is not None))
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ConfigError(f"The option '{_OPT}.methods' must list methods among {sorted(METHODS)} or be ['auto']. "
                          f"Got {unknown[0]!r} instead.")
    run, skipped = [], {}
    for n in dict.fromkeys(names):
        why = applicable(n, kind, module, text_state)
        if why is None:
            run.append(n)
        else:
            skipped[n] = why
    return run, skipped


def _build_set(ctx: AuditContext, o: dict[str, Any], module: nn.Module | None,
               text_state: dict[str, Any] | None) -> ExplanationSet:
    ds, kind, task = ctx.dataset, ctx.dataset.kind, ctx.model.task
    for key in ("n_local", "n_global", "n_global_blackbox", "n_boot", "ig_steps", "n_samples", "n_background",
                "n_background_kernel", "kernel_samples", "lime_samples", "lime_segments", "occlusion_window",
                "rows_per_task", "top_k"):
        require_int(_CHECK, key, o[key], 0 if key in ("n_local", "n_boot", "n_global_blackbox") else 1)
    if o["target"] not in ("predicted", "true"):
        raise ConfigError(f"The option '{_OPT}.target' must be 'predicted' or 'true'. Got {o['target']!r} instead.")
    classification = task in ("binary", "multiclass")
    proba = ctx.test_proba() if classification else None
    preds = None if classification else ctx.test_pred()
    local = select_local(proba, ctx.test.y, ctx.test_index, n_per_reason=o["n_local"], rng=ctx.rng("explain-local"),
                         user=ctx.config.sample_indices, n_test=len(ds.test), predictions=preds)
    glob = ctx.test_index[ctx.sample(o["n_global"], "explain-global")]
    indices = np.concatenate([local.indices, glob[~np.isin(glob, local.indices)]])
    x = ds.test.x[indices]
    if classification:
        target = (ctx.model.predict_proba(x).argmax(axis=1) if o["target"] == "predicted"
                  else np.asarray(ds.test.y[indices], dtype=np.int64))
    else:
        target = np.zeros(len(x), dtype=np.int64)
    rng = ctx.rng("explain-background")
    bg = ds.train.x[np.sort(rng.choice(len(ds.train), size=min(o["n_background"], len(ds.train)), replace=False))]
    train = ds.train.x[np.sort(rng.choice(len(ds.train), size=min(2000, len(ds.train)), replace=False))]
    groups = [list(g) for g in ds.feature_groups.values()] if kind == "tabular" and ds.feature_groups else None
    if kind == "tabular" and groups is None:
        groups = [[j] for j in range(x.shape[1])]
    continuous = None
    if kind == "tabular":
        names = list(ds.feature_groups) or [f"x{j}" for j in range(x.shape[1])]
        cont = set(ds.continuous_features)
        continuous = [(n in cont) if cont else len(g) == 1 for n, g in zip(names, groups)]
    workload = Workload(kind=kind, task=task, x=x, target=np.asarray(target, dtype=np.int64), module=module,
                        scores=BlackBoxScores(ctx.model, task == "regression"),
                        baseline=_baseline(o["baseline"], kind, ds.train.x, x), background=bg, train=train,
                        groups=groups, continuous=continuous, text_state=text_state, options=o, seed=ctx.seed,
                        executor=ctx.executor)
    n_local = len(local.indices)
    ws = ExplanationSet(workload, indices, np.arange(n_local), np.arange(len(indices))[np.isin(indices, glob)],
                        local.reasons)
    shape = tuple(x.shape[1:])
    ws.labels = agg.feature_labels(kind, shape, list(ds.feature_groups) if kind == "tabular" else ())
    if kind == "tabular" and not ws.labels:
        ws.labels = [f"x{j}" for j in range(shape[0])]
    if kind == "text" and text_state is not None:
        ws.tokens = [tokens_to_text(row, text_state["vocab"]) for row in x]
    elif kind == "text":
        ws.tokens = [[f"#{t}" for t in row if t != 0] for row in np.asarray(x).tolist()]
    return ws


def _baseline(spec: Any, kind: str, train: np.ndarray, x: np.ndarray) -> np.ndarray:
    if spec is None:
        spec = "mean" if kind == "tabular" else "zeros"
    if isinstance(spec, str):
        if spec == "zeros":
            return np.zeros(x.shape[1:])
        if spec == "mean":
            return np.asarray(train, dtype=np.float64).mean(axis=0)
        raise ConfigError(f"The option '{_OPT}.baseline' must be 'zeros', 'mean', a row of numbers or None. "
                          f"Got {spec!r} instead.")
    return check_baseline(spec, x, name=f"{_OPT}.baseline")[0].copy()


# ------------------------------------------------------------------------------------------------ summaries
def _summaries(ctx: AuditContext, ws: ExplanationSet, methods: list[str], o: dict[str, Any],
               deltas: dict[str, float]) -> dict[str, Any]:
    kind = ws.workload.kind
    out: dict[str, Any] = {"methods": methods, "methods_run": len(methods), "n_local": int(len(ws.local_rows)),
                           "n_global": int(len(ws.global_rows)), "global_importance": {}, "global_importance_ci": {},
                           "bars": {}, "images": {}, "texts": {}, "tables": {}}
    if "integrated_gradients" in deltas:
        out["ig_max_convergence_delta"] = deltas["integrated_gradients"]
    if "layer_integrated_gradients" in deltas:
        out["layer_ig_max_convergence_delta"] = deltas["layer_integrated_gradients"]
    rng = ctx.rng("explain-bootstrap")
    for name in methods:
        readable, rows = ws.readable[name], ws.rows[name]
        in_global = np.isin(rows, ws.global_rows)
        values = readable[in_global] if in_global.any() else readable
        if kind in ("tabular", "timeseries"):
            mean, lo, hi = agg.global_importance(values, o["n_boot"], rng)
            out["global_importance"][name] = {lab: float(v) for lab, v in zip(ws.labels, mean)}
            out["global_importance_ci"][name] = {lab: [float(a), float(b)] for lab, a, b in zip(ws.labels, lo, hi)}
            out["bars"][f"global_{name}"] = agg.bars_layout(
                f"Global importance: {name} (mean |attribution|, 95% bootstrap CI)", ws.labels, mean, lo, hi,
                top=30 if kind == "tabular" else None)
        elif kind == "image":
            out["global_importance"][name] = agg.patch_importance(values)
            out["images"][f"global_{name}"] = agg.image_layout(
                f"Global importance: {name}", "mean |attribution| per pixel", np.abs(values).mean(axis=0), None)
        else:
            toks = [ws.tokens[r] for r in rows[in_global]] if in_global.any() else [ws.tokens[r] for r in rows]
            imp = agg.token_importance(values, toks)
            out["global_importance"][name] = imp
            out["bars"][f"global_{name}"] = agg.bars_layout(f"Global token importance: {name}", list(imp),
                                                            np.array(list(imp.values())), top=20)
    primary = methods[0]
    gi = out["global_importance"][primary]
    out["top_feature"] = max(gi, key=lambda k: gi[k]) if gi else ""
    out["local"] = _local_records(ctx, ws, methods, o, out)
    if kind in ("tabular", "timeseries", "text"):
        out["tables"]["global_ranking"] = _ranking_table(out["global_importance"], methods)
    return out


def _local_records(ctx: AuditContext, ws: ExplanationSet, methods: list[str], o: dict[str, Any],
                   out: dict[str, Any]) -> list[dict[str, Any]]:
    kind, w = ws.workload.kind, ws.workload
    names = ctx.model.class_names
    records = []
    budget = 40
    for pos, why in zip(ws.local_rows, ws.reasons):
        idx = int(ws.indices[pos])
        rec: dict[str, Any] = {"index": idx, "reason": why, "target": int(w.target[pos]),
                               "label": _label(ctx.dataset.test.y[idx], names), "top": {}}
        for name in methods:
            where = np.flatnonzero(ws.rows[name] == pos)
            if not len(where):
                continue
            values = ws.readable[name][where[0]]
            key = f"local_{idx}_{name}"
            if kind in ("tabular", "timeseries"):
                order = np.argsort(-np.abs(values), kind="stable")[: o["top_k"]]
                rec["top"][name] = [[ws.labels[j], float(values[j])] for j in order]
                if budget > 0:
                    if kind == "tabular":
                        out["bars"][key] = agg.bars_layout(f"Row {idx} ({why}): {name}", [ws.labels[j] for j in order],
                                                           values[order])
                    else:
                        out["bars"][key] = {"title": f"Row {idx} ({why}): {name} per time step",
                                            "labels": ws.labels, "values": [float(v) for v in values]}
                    budget -= 1
            elif kind == "image":
                if budget > 0:
                    base = np.asarray(w.x[pos], dtype=np.float64).mean(axis=0)
                    out["images"][key] = agg.image_layout(f"Row {idx} ({why}): {name}",
                                                          f"class {_label(w.target[pos], names)}", values, base)
                    budget -= 1
            else:
                toks = ws.tokens[pos]
                rec["top"][name] = [[toks[j], float(values[j])] for j in
                                    np.argsort(-np.abs(values[: len(toks)]), kind="stable")[: o["top_k"]]]
                if budget > 0:
                    out["texts"][key] = agg.text_layout(f"Row {idx} ({why}): {name}", toks, values,
                                                        f"class {_label(w.target[pos], names)}")
                    budget -= 1
        records.append(rec)
    return records


def _label(value: Any, names: list[str]) -> str | float:
    if names:
        return names[int(value)]
    return float(value)


def _ranking_table(gi: dict[str, dict[str, float]], methods: list[str]) -> dict[str, Any]:
    features = list(gi[methods[0]])
    ranks = {m: {f: r + 1 for r, f in enumerate(sorted(gi[m], key=lambda k: -gi[m][k]))} for m in methods}
    order = sorted(features, key=lambda f: np.mean([ranks[m].get(f, len(features)) for m in methods]))[:30]
    rows = [[f] + [ranks[m].get(f) for m in methods] for f in order]
    return {"title": "Global rank of each feature per method (1 = most important)", "columns": ["feature", *methods],
            "rows": rows}


def _findings(ctx: AuditContext, ws: ExplanationSet, metrics: dict[str, Any], methods: list[str],
              skipped: dict[str, str]) -> list[Finding]:
    out: list[Finding] = []
    for name, why in skipped.items():
        out.append(Finding("explanations", "info", f"Method '{name}' skipped: {why}."))
    if ws.workload.kind == "tabular":
        gi = metrics["global_importance"][methods[0]]
        ranked = sorted(gi, key=lambda k: -gi[k])
        for feat in ctx.sensitive_features:
            if feat in ranked[:3]:
                out.append(Finding("explanations", "warning",
                                   f"The sensitive attribute '{feat}' is among the 3 most important features "
                                   f"(rank {ranked.index(feat) + 1} of {len(ranked)} by {methods[0]}).",
                                   metric=f"global_importance.{methods[0]}.{feat}", value=gi[feat]))
    tops = {m: max(metrics["global_importance"][m], key=lambda k: metrics["global_importance"][m][k])
            for m in methods if metrics["global_importance"].get(m)}
    if len(set(tops.values())) > 1:
        out.append(Finding("explanations", "info", "Methods disagree on the most important feature: "
                           + ", ".join(f"{m}: {f}" for m, f in tops.items()) + "."))
    return out
