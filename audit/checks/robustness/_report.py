"""Lay the robustness sweep out as metrics: headline numbers, curves, tables, group tables, images."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from audit.checks._common import nan_to_none
from audit.checks.base import AuditContext
from audit.checks.robustness._common import GROUP_COLUMNS, group_rows, image_entries
from audit.checks.robustness._jobs import AttackOutcome
from audit.checks.robustness._sweep import FGSM, PGD_L2, PGD_LINF, Run
from audit.checks.robustness.by_group import group_summary
from audit.checks.robustness.text import delete_tokens, typo_ids
from audit.results import Finding

if TYPE_CHECKING:  # typing only: attacks imports this module
    from audit.checks.robustness.attacks import RobustnessSettings

__all__ = ["classification_layout", "regression_layout", "token_noise", "adversarial_images", "example_window"]

_RUN_COLUMNS = ["attack", "norm", "budget", "{stat}", "{second}", "mean L-inf perturbation", "max L-inf perturbation",
                "mean L2 perturbation", "max L2 perturbation"]


def _find(runs: list[Run], attack: str, budget: float) -> Run | None:
    return next((r for r in runs if r.attack == attack and r.budget == budget), None)


def _series(runs: list[Run], attack: str, budgets: tuple[float, ...], stat: Any) -> list[Any]:
    out = []
    for b in budgets:
        run = _find(runs, attack, b)
        out.append(None if run is None else nan_to_none(stat(run.outcome)))
    return out


def _curve(title: str, x_label: str, y_label: str, x: tuple[float, ...], series: dict[str, list[Any]]) -> dict[str, Any]:
    return {"title": title, "x_label": x_label, "y_label": y_label, "x": list(x),
            "series": {k: v for k, v in series.items() if any(e is not None for e in v)}}


def _ratio(num: float, den: float) -> float | None:
    return nan_to_none(num / den) if den > 0 else None


def classification_layout(ctx: AuditContext, y: np.ndarray, clean: AttackOutcome, runs: list[Run],
                          s: "RobustnessSettings", unit: str,
                          groups: dict[str, np.ndarray]) -> tuple[dict[str, Any], list[Finding]]:
    """Headline numbers, curves, the per-run table and robustness by group for a classifier."""
    correct = clean.outputs.argmax(axis=1) == y

    def acc(o: AttackOutcome) -> float:
        return float((o.outputs.argmax(axis=1) == y).mean())

    def success(o: AttackOutcome) -> float:
        return float((o.outputs.argmax(axis=1) != y)[correct].mean()) if correct.any() else float("nan")

    clean_acc = float(correct.mean())
    out: dict[str, Any] = {"clean_accuracy": clean_acc}
    for key, attack, budget in (("fgsm", FGSM, s.budget), ("pgd", PGD_LINF, s.budget), ("pgd_l2", PGD_L2, s.l2_budget)):
        run = _find(runs, attack, budget)
        if run is not None:
            out[f"{key}_accuracy"] = acc(run.outcome)
            out[f"{key}_attack_success_rate"] = nan_to_none(success(run.outcome))
    smallest = _find(runs, PGD_LINF, s.plan_linf[0])
    if smallest is not None:
        out["pgd_relative_accuracy"] = _ratio(acc(smallest.outcome), clean_acc)
    curves = {
        "robust_accuracy": _curve("Accuracy under attack (L-inf)", f"budget ({unit})", "accuracy", s.plan_linf,
                                  {FGSM: _series(runs, FGSM, s.plan_linf, acc),
                                   PGD_LINF: _series(runs, PGD_LINF, s.plan_linf, acc),
                                   "clean": [clean_acc] * len(s.plan_linf)}),
        "robust_accuracy_l2": _curve("Accuracy under attack (L2)", f"budget ({unit})", "accuracy", s.plan_l2,
                                     {PGD_L2: _series(runs, PGD_L2, s.plan_l2, acc),
                                      "clean": [clean_acc] * len(s.plan_l2)}),
        "attack_success": _curve("Attack success on correctly classified rows (L-inf)", f"budget ({unit})",
                                 "success rate", s.plan_linf, {FGSM: _series(runs, FGSM, s.plan_linf, success),
                                                               PGD_LINF: _series(runs, PGD_LINF, s.plan_linf, success)}),
        "attack_success_l2": _curve("Attack success on correctly classified rows (L2)", f"budget ({unit})",
                                    "success rate", s.plan_l2, {PGD_L2: _series(runs, PGD_L2, s.plan_l2, success)}),
    }
    out["curves"] = {k: v for k, v in curves.items() if v["series"]}
    columns = [c.format(stat="accuracy", second="attack success rate") for c in _RUN_COLUMNS]
    columns[2] = f"budget ({unit})"
    out["tables"] = {"attacks": {"title": "Accuracy and attack success per attack and budget", "columns": columns,
                                 "rows": [_run_row(r, acc(r.outcome), success(r.outcome)) for r in runs],
                                 "note": "Attack success counts the rows the model classified correctly before the "
                                         "attack whose prediction the attack changed."}}
    findings = _groups_layout(ctx, out, y, correct, runs, s, groups)
    return out, findings


def _run_row(run: Run, first: float, second: float) -> list[Any]:
    o = run.outcome
    return [run.attack, run.norm, run.budget, nan_to_none(first), nan_to_none(second),
            nan_to_none(o.linf.mean()), nan_to_none(o.linf.max()), nan_to_none(o.l2.mean()), nan_to_none(o.l2.max())]


def _groups_layout(ctx: AuditContext, out: dict[str, Any], y: np.ndarray, correct: np.ndarray, runs: list[Run],
                   s: "RobustnessSettings", groups: dict[str, np.ndarray]) -> list[Finding]:
    findings: list[Finding] = []
    headline = _find(runs, PGD_LINF, s.budget)
    if headline is None or not groups:
        return findings
    bias_rows = []
    worst: dict[str, tuple[float, float, float, str]] = {}
    for feature, labels in groups.items():
        rng = ctx.rng(f"robustness-groups-{feature}")
        kw = {"n_boot": s.n_boot, "rng": rng, "min_group_size": s.min_group_size}
        robust_at = {}
        for b in s.plan_linf:
            run = _find(runs, PGD_LINF, b)
            if run is not None:
                robust_at[b] = group_summary((run.outcome.outputs.argmax(axis=1) == y).astype(float), labels, **kw)
        adv_pred = headline.outcome.outputs.argmax(axis=1)
        clean_s = group_summary(correct.astype(float), labels, **kw)
        robust_s = robust_at[s.budget]
        success_s = group_summary(np.where(correct, (adv_pred != y).astype(float), np.nan), labels, **kw)
        out["tables"][f"by_group_{feature}"] = {
            "title": f"Robustness by {feature} (PGD L-inf, budget {s.budget:g})", "columns": GROUP_COLUMNS,
            "rows": group_rows(clean_s, robust_s, success_s),
            "note": f"95% percentile bootstrap intervals ({s.n_boot} resamples within each group)."}
        out["curves"][f"robust_accuracy_by_{feature}"] = {
            "title": f"PGD L-inf accuracy by {feature}", "x_label": "budget", "y_label": "accuracy",
            "x": list(robust_at), "series": {g: [nan_to_none(robust_at[b].mean[i]) for b in robust_at]
                                             for i, g in enumerate(robust_s.groups)},
            "bands": {g: {"lower": [nan_to_none(robust_at[b].lower[i]) for b in robust_at],
                          "upper": [nan_to_none(robust_at[b].upper[i]) for b in robust_at]}
                      for i, g in enumerate(robust_s.groups)}}
        most_attacked = success_s.most_group
        bias_rows.append([feature, robust_s.worst_group, most_attacked, *(nan_to_none(v) for v in (
            robust_s.disparity, robust_s.disparity_lower, robust_s.disparity_upper, success_s.disparity,
            success_s.disparity_lower, success_s.disparity_upper, clean_s.disparity))])
        for key, summary in (("robust", robust_s), ("success", success_s)):
            if np.isfinite(summary.disparity) and (key not in worst or summary.disparity > worst[key][0]):
                worst[key] = (summary.disparity, summary.disparity_lower, summary.disparity_upper, feature)
        # the robustness-specific gap: among rows the model got right, how much more often the attack succeeds on
        # one group (a robust-accuracy gap alone mostly repeats the clean-accuracy gap the fairness check reports)
        if np.isfinite(success_s.disparity_lower) and success_s.disparity_lower > 0.05:
            findings.append(Finding(
                "robustness", "info" if feature == "class" else "warning",
                f"Robustness bias: at budget {s.budget:g} the PGD attack succeeds on correctly classified rows of "
                f"{feature}={most_attacked} more often than on another group, by {success_s.disparity:.3f} "
                f"(95% CI {success_s.disparity_lower:.3f}-{success_s.disparity_upper:.3f}).",
                metric=f"tables.by_group_{feature}", value=float(success_s.disparity)))
    out["tables"]["robustness_bias"] = {
        "title": f"Robustness bias: best-minus-worst group gap (PGD L-inf, budget {s.budget:g})",
        "columns": ["grouping", "least robust group", "most attacked group", "robust accuracy gap", "CI lower",
                    "CI upper", "attack success gap", "CI lower", "CI upper", "clean accuracy gap"],
        "rows": bias_rows,
        "note": f"Groups with fewer than {s.min_group_size} rows are left out of the gaps. Compare the robust gap with "
                "the clean gap: a larger robust gap means the attack hurts some groups more."}
    for key, name in (("robust", "robust_accuracy_disparity"), ("success", "attack_success_disparity")):
        gap, lo, hi, feature = worst.get(key, (np.nan, np.nan, np.nan, None))
        out[name] = nan_to_none(gap)
        out[f"{name}_ci"] = [nan_to_none(lo), nan_to_none(hi)]
        out[f"{name}_grouping"] = feature
    return findings


def regression_layout(y: np.ndarray, clean: AttackOutcome, runs: list[Run], s: "RobustnessSettings",
                      unit: str) -> dict[str, Any]:
    """MAE under attack (attacks maximise the squared error) for a regressor."""
    def mae(o: AttackOutcome) -> float:
        return float(np.abs(o.outputs - y).mean())

    clean_mae = mae(clean)
    out: dict[str, Any] = {"clean_mae": clean_mae}
    for key, attack, budget in (("fgsm", FGSM, s.budget), ("pgd", PGD_LINF, s.budget), ("pgd_l2", PGD_L2, s.l2_budget)):
        run = _find(runs, attack, budget)
        if run is not None:
            out[f"{key}_mae"] = mae(run.outcome)
            out[f"{key}_mae_increase"] = mae(run.outcome) - clean_mae
    smallest = _find(runs, PGD_LINF, s.plan_linf[0])
    if smallest is not None:
        out["pgd_relative_mae"] = _ratio(mae(smallest.outcome), clean_mae)
    out["curves"] = {k: v for k, v in {
        "mae_under_attack": _curve("MAE under attack (L-inf)", f"budget ({unit})", "MAE (standardised)", s.plan_linf,
                                   {FGSM: _series(runs, FGSM, s.plan_linf, mae),
                                    PGD_LINF: _series(runs, PGD_LINF, s.plan_linf, mae),
                                    "clean": [clean_mae] * len(s.plan_linf)}),
        "mae_under_attack_l2": _curve("MAE under attack (L2)", f"budget ({unit})", "MAE (standardised)", s.plan_l2,
                                      {PGD_L2: _series(runs, PGD_L2, s.plan_l2, mae),
                                       "clean": [clean_mae] * len(s.plan_l2)}),
    }.items() if v["series"]}
    columns = [c.format(stat="MAE", second="MAE increase") for c in _RUN_COLUMNS]
    columns[2] = f"budget ({unit})"
    out["tables"] = {"attacks": {"title": "MAE per attack and budget", "columns": columns,
                                 "rows": [_run_row(r, mae(r.outcome), mae(r.outcome) - clean_mae) for r in runs]}}
    return out


def token_noise(ctx: AuditContext, positions: np.ndarray, s: "RobustnessSettings") -> dict[str, Any]:
    """Accuracy (MAE for regression) of a text model under token deletions and character typos, per rate."""
    ids = np.asarray(ctx.test.x)[positions].astype(np.int64)
    y = np.asarray(ctx.test.y)[positions]
    raw = ctx.test.raw
    texts = raw["text"].iloc[positions].astype(str).tolist() if raw is not None and "text" in raw.columns else None
    regression = ctx.model.task == "regression"

    def score(x: np.ndarray) -> float:
        pred = ctx.model.predict(x)
        return float(np.abs(pred - y).mean()) if regression else float((pred == y).mean())

    clean = score(ids)
    deletions, typos, method = [], [], "unknown-token"
    for i, rate in enumerate(s.noise_rates):
        deletions.append(score(delete_tokens(ids, rate, ctx.rng(f"robustness-deletions-{rate:g}"))))
        noisy, method = typo_ids(ids, texts, ctx.dataset.preprocessing, rate, ctx.rng(f"robustness-typos-{rate:g}"))
        typos.append(score(noisy))
        ctx.progress(0.1 * (i + 1) / len(s.noise_rates), f"token noise {rate:g}")
    stat = "MAE" if regression else "accuracy"
    head = int(np.argmin(np.abs(np.asarray(s.noise_rates) - 0.1)))
    prefix = "token_noise_clean_mae" if regression else "token_noise_clean_accuracy"
    return {
        prefix: clean,
        f"token_deletion_{stat.lower()}": deletions[head],
        f"typo_{stat.lower()}": typos[head],
        "token_noise_rate": s.noise_rates[head],
        "typo_method": method,
        "curves": {"token_noise": _curve(f"{stat} under token-level noise", "rate (share of tokens / words)", stat,
                                         s.noise_rates, {"deletions": deletions, "typos": typos,
                                                         "clean": [clean] * len(s.noise_rates)})},
        "tables": {"token_noise": {"title": f"{stat} under token-level noise",
                                   "columns": ["rate", f"{stat} with deletions", f"{stat} with typos"],
                                   "rows": [[r, d, t] for r, d, t in zip(s.noise_rates, deletions, typos)],
                                   "note": "Typos: one-character edits of words re-encoded with the data's tokenizer"
                                           if method == "characters" else
                                           "Typos approximated by unknown tokens (no raw text or tokenizer)."}},
    }


def adversarial_images(ctx: AuditContext, x: np.ndarray, y: np.ndarray, clean: AttackOutcome, runs: list[Run],
                       s: "RobustnessSettings") -> dict[str, Any]:
    """A few originals next to their PGD L-inf adversarial images (successful attacks first)."""
    run = _find(runs, PGD_LINF, s.budget)
    if run is None or run.outcome.adv is None:
        return {}
    before, after = clean.outputs.argmax(axis=1), run.outcome.outputs.argmax(axis=1)
    flipped = np.flatnonzero((before == y) & (after != y))
    rest = np.setdiff1d(np.arange(len(x)), flipped)
    pick = np.concatenate([flipped, rest])[: s.n_images]
    names = ctx.model.class_names
    labels = [f"true {names[y[i]]}, predicted {names[before[i]]} -> {names[after[i]]}" for i in pick]
    return image_entries(x[pick], run.outcome.adv[pick], labels, s.budget, "pixel intensity")


def example_window(x: np.ndarray, runs: list[Run], budget: float) -> dict[str, Any]:
    """The first attacked window (first channel) next to the original, as a curve."""
    run = _find(runs, PGD_LINF, budget)
    if run is None or run.outcome.adv is None or not len(x):
        return {}
    orig = np.asarray(x[0]).reshape(x.shape[1], -1)[:, 0]
    adv = np.asarray(run.outcome.adv[0]).reshape(x.shape[1], -1)[:, 0]
    return {"example_window": {"title": f"An input window under PGD L-inf {budget:g}", "x_label": "time step",
                               "y_label": "value (standardised)", "x": list(range(len(orig))),
                               "series": {"original": orig.tolist(), "adversarial": adv.tolist()}}}
