"""The ``explanation_quality`` check: how faithful, stable and model-dependent each explanation method is on this
model, where the methods disagree, and a ranked table of which to trust."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from scipy.stats import rankdata, spearmanr
from torch import nn

from audit.checks._common import require_int
from audit.checks.base import AuditContext, CheckOutput
from audit.checks.explain import quality as q
from audit.checks.explain._aggregate import to_feature_space
from audit.checks.explain._methods import TorchScores, Workload, run_method
from audit.checks.explain.explanations import ExplanationSet
from audit.errors import CheckNotApplicable
from audit.results import Finding

__all__ = ["ExplanationQualityCheck"]

_PROBA_METHODS = ("kernel_shap", "shap_permutation", "lime")
_GROUPED = ("kernel_shap", "lime")  # tabular: one value per feature group, not per input column


@dataclass(frozen=True)
class ExplanationQualityCheck:
    """Faithfulness, infidelity, sensitivity, the randomisation sanity check and agreement, per method."""

    name: str = "explanation_quality"
    title: str = "Explanation quality"
    kinds: frozenset[str] = frozenset({"tabular", "image", "text", "timeseries"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass", "regression"})
    needs: frozenset[str] = frozenset()
    default_options: Mapping[str, Any] = field(default_factory=lambda: {
        "n_rows": 8,                     # explained rows the quality measures use
        "curve_steps": 20,               # points on the deletion / insertion curves
        "infidelity_noise": 0.1,         # std of the Gaussian perturbations (infidelity)
        "infidelity_samples": 20,        # perturbations per row (infidelity)
        "sensitivity_radius": 0.02,      # L-inf radius (sensitivity_max)
        "sensitivity_samples": 4,        # perturbations per row (sensitivity_max)
        "randomisation_threshold": 0.5,  # rank similarity at or above which the sanity check fails
        "top_k": 3,                      # features compared by the top-k overlap
    })

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Measure the explanations the ``explanations`` check produced (``ctx.artifacts["explanations"]``)."""
        o = dict(options)
        for key in ("n_rows", "curve_steps", "infidelity_samples", "sensitivity_samples", "top_k"):
            require_int(self.name, key, o[key], 1)
        ws = ctx.artifacts.get("explanations", {}).get("set")
        if not isinstance(ws, ExplanationSet):
            raise CheckNotApplicable("the explanations check did not run in this audit")
        methods = list(ws.attributions)
        rows = ws.local_rows[: o["n_rows"]]
        if not len(rows):
            rows = ws.global_rows[: o["n_rows"]]
        per: dict[str, dict[str, Any]] = {}
        curves: dict[str, Any] = {}
        for i, name in enumerate(methods):
            ctx.progress(0.05 + 0.8 * i / len(methods), name)
            per[name], curve = _measure(name, ws, rows, o, ctx.seed)
            curves[name] = curve
        agreement = _agreement(ws, methods, rows, o["top_k"], ctx.metrics.get("explanations", {}))
        ranking = _rank(per)
        metrics = _layout(per, curves, agreement, ranking, o)
        return CheckOutput(metrics=metrics, findings=_findings(per, agreement, o))


def _select(ws: ExplanationSet, name: str, rows: np.ndarray) -> np.ndarray:
    """Positions of ``rows`` within the rows method ``name`` explained (sorted; every local row is among them)."""
    return np.searchsorted(ws.rows[name], rows)


def _measure(name: str, ws: ExplanationSet, rows: np.ndarray, o: dict[str, Any],
             seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    w = ws.workload
    sel = _select(ws, name, rows)
    x, t = w.x[rows], w.target[rows]
    readable = ws.readable[name][sel].reshape(len(rows), -1)
    units = q.unit_index(w.kind, x.shape[1:], w.groups)
    out: dict[str, Any] = {}
    frac, deletion, insertion = q.deletion_insertion(w.scores, x, t, readable, units, w.baseline, o["curve_steps"])
    out["deletion_auc"] = float(np.trapezoid(deletion.mean(axis=0), frac))
    out["insertion_auc"] = float(np.trapezoid(insertion.mean(axis=0), frac))
    out["faithfulness"] = out["insertion_auc"] - out["deletion_auc"]
    grouped = w.kind == "tabular" and name in _GROUPED
    if w.kind != "text" and not grouped:
        forward = _forward(name, w)
        infid = q.relative_infidelity(forward, x, t, ws.attributions[name][sel], noise=o["infidelity_noise"],
                                      n_perturb=o["infidelity_samples"], seed=seed)
        if np.isfinite(infid).any():
            out["infidelity"] = float(np.nanmean(infid))
    if w.kind != "text":
        explain = _Explainer(name, w)
        out["sensitivity"] = float(np.mean(q.max_sensitivity(explain, x, t, radius=o["sensitivity_radius"],
                                                             n_perturb=o["sensitivity_samples"], seed=seed)))
    if w.module is not None:
        randomized = q.randomized_copy(w.module, seed + 1)
        again = run_method(name, w, rows, module=randomized).values
        rand_readable = to_feature_space(again, w.kind, w.groups).reshape(len(rows), -1)
        sim = float(np.mean(q.rank_similarity(readable, rand_readable, _unit_mask(w, rows))))
        out["randomisation_similarity"] = sim
        out["randomisation_passed"] = bool(sim < o["randomisation_threshold"])
    curve = {"x": frac.tolist(), "deletion": deletion.mean(axis=0).tolist(), "insertion": insertion.mean(axis=0).tolist()}
    return out, curve


def _forward(name: str, w: Workload) -> nn.Module:
    if w.module is not None and name not in _PROBA_METHODS:
        return w.module
    return TorchScores(w.scores)


def _unit_mask(w: Workload, rows: np.ndarray) -> np.ndarray | None:
    """Text: only real tokens count (padding has no attribution in any method and would inflate similarity)."""
    return np.asarray(w.x[rows]) != 0 if w.kind == "text" else None


class _Explainer:
    """Re-runs one method on new rows (for sensitivity_max)."""

    def __init__(self, name: str, w: Workload) -> None:
        self.name, self.w = name, w

    def __call__(self, x: np.ndarray, target: np.ndarray) -> np.ndarray:
        w = dataclasses.replace(self.w, x=x, target=np.asarray(target, dtype=np.int64))
        return run_method(self.name, w).values


def _agreement(ws: ExplanationSet, methods: list[str], rows: np.ndarray, k: int,
               explain_metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    gi = explain_metrics.get("global_importance", {})
    out = []
    for a, b in combinations(methods, 2):
        ra = ws.readable[a][_select(ws, a, rows)].reshape(len(rows), -1)
        rb = ws.readable[b][_select(ws, b, rows)].reshape(len(rows), -1)
        mask = _unit_mask(ws.workload, rows)
        rec = {"pair": f"{a} vs {b}", "local_rank_corr": float(np.mean(q.rank_similarity(ra, rb, mask))),
               "local_topk_overlap": float(np.mean(q.topk_overlap(ra, rb, k, mask)))}
        if a in gi and b in gi and len(gi[a]) > 1:
            keys = sorted(set(gi[a]) & set(gi[b]))
            va, vb = np.array([gi[a][f] for f in keys]), np.array([gi[b][f] for f in keys])
            rec["global_rank_corr"] = float(spearmanr(va, vb).statistic) if np.ptp(va) and np.ptp(vb) else 0.0
            rec["global_topk_overlap"] = float(q.topk_overlap(va[None], vb[None], k)[0])
        out.append(rec)
    return out


def _rank(per: dict[str, dict[str, Any]]) -> list[str]:
    names = list(per)
    criteria = [("faithfulness", -1), ("infidelity", 1), ("sensitivity", 1)]
    scores = np.zeros(len(names))
    used = 0
    for key, sign in criteria:
        if all(key in per[n] for n in names):
            scores += rankdata([sign * per[n][key] for n in names])
            used += 1
    failed = np.array([not per[n].get("randomisation_passed", True) for n in names], dtype=float)
    order = np.lexsort((scores / max(used, 1), failed))
    return [names[i] for i in order]


def _layout(per: dict[str, dict[str, Any]], curves: dict[str, Any], agreement: list[dict[str, Any]],
            ranking: list[str], o: dict[str, Any]) -> dict[str, Any]:
    cols = ["faithfulness", "insertion_auc", "deletion_auc", "infidelity", "sensitivity", "randomisation_similarity",
            "randomisation_passed"]
    first = next(iter(curves.values()))
    metrics: dict[str, Any] = {
        "best_method": ranking[0],
        "ranking": ranking,
        "methods_failing_randomisation": int(sum(not p.get("randomisation_passed", True) for p in per.values())),
        "per_method": per,
        "agreement": agreement,
        "tables": {
            "trust_ranking": {
                "title": "Which explainer to trust for this model (best first)",
                "columns": ["rank", "method", *cols],
                "rows": [[i + 1, m, *[_cell(per[m].get(c)) for c in cols]] for i, m in enumerate(ranking)],
                "note": "faithfulness = insertion AUC - deletion AUC (higher is better); infidelity = share of "
                        "score changes the attributions miss (lower is better); sensitivity = captum sensitivity_max "
                        "(lower is better); the randomisation check fails when the explanation of a model with "
                        "re-initialised weights still ranks features alike (Adebayo et al. 2018).",
            },
            "agreement": {
                "title": "Agreement between methods (least agreeing pairs first)",
                "columns": ["pair", "local_rank_corr", "local_topk_overlap", "global_rank_corr", "global_topk_overlap"],
                "rows": [[a["pair"], *[_cell(a.get(c)) for c in ("local_rank_corr", "local_topk_overlap",
                                                                   "global_rank_corr", "global_topk_overlap")]]
                         for a in sorted(agreement, key=lambda r: r["local_rank_corr"])],
                "note": f"Spearman correlation of |attribution| and overlap of the top {o['top_k']} units.",
            },
        },
        "curves": {
            "deletion": {"title": "Deletion curves (lower is more faithful)", "x_label": "fraction removed",
                         "y_label": "target score", "x": first["x"],
                         "series": {m: c["deletion"] for m, c in curves.items()}},
            "insertion": {"title": "Insertion curves (higher is more faithful)", "x_label": "fraction revealed",
                          "y_label": "target score", "x": first["x"],
                          "series": {m: c["insertion"] for m, c in curves.items()}},
        },
    }
    if agreement:
        metrics["min_agreement"] = float(min(a["local_rank_corr"] for a in agreement))
        metrics["mean_agreement"] = float(np.mean([a["local_rank_corr"] for a in agreement]))
    metrics["best_faithfulness"] = float(per[ranking[0]]["faithfulness"])
    return metrics


def _cell(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return "pass" if value else "FAIL"
    if value is None:
        return None
    return round(float(value), 4)


def _findings(per: dict[str, dict[str, Any]], agreement: list[dict[str, Any]], o: dict[str, Any]) -> list[Finding]:
    out = []
    for name, p in per.items():
        if p.get("randomisation_passed") is False:
            out.append(Finding("explanation_quality", "warning",
                               f"'{name}' barely changes when the model's weights are randomised (rank similarity "
                               f"{p['randomisation_similarity']:.2f}): it reflects the input more than the model.",
                               metric=f"per_method.{name}.randomisation_similarity",
                               value=p["randomisation_similarity"], threshold={"max": o["randomisation_threshold"]}))
    for a in agreement:
        if a.get("global_rank_corr", 1.0) < 0.3:
            out.append(Finding("explanation_quality", "info",
                               f"{a['pair']} disagree on global feature importance (rank correlation "
                               f"{a['global_rank_corr']:.2f}).", metric="agreement", value=a["global_rank_corr"]))
    return out
