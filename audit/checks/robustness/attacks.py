"""The "robustness" check: FGSM and PGD (L-infinity and L2) over a sweep of budgets in the data's own units.

Gives the robust-accuracy curve, the attack success rate on rows the model got right, robustness by group
(robustness bias, with bootstrap intervals), a few adversarial images, and for text both embedding-space attacks and
token-level noise (deletions, character typos), reported separately. Regression models report the increase in MAE
under attacks that maximise the squared error. Classifiers are attacked on the margin loss by default (best other
logit minus the true logit): unlike cross-entropy its gradient does not vanish on confident rows, which would
otherwise fall under captum's zero-gradient threshold and look robust when they are not.

Headline metrics: ``clean_accuracy``, ``fgsm_accuracy`` and ``pgd_accuracy`` (at the ``budget`` option),
``pgd_relative_accuracy`` (PGD accuracy at the smallest budget / clean accuracy), ``pgd_l2_accuracy``,
``pgd_attack_success_rate``, ``robust_accuracy_disparity``; for regression ``clean_mae``, ``pgd_mae``,
``pgd_mae_increase``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from audit.checks._common import require_int
from audit.checks._groups_util import grouping
from audit.checks.base import AuditContext, CheckOutput
from audit.checks.robustness import _report as report
from audit.checks.robustness._common import chunk_size, option_budget, option_budgets, option_rates
from audit.checks.robustness._jobs import AttackJob
from audit.checks.robustness._space import UNITS, input_space
from audit.checks.robustness._sweep import PGD_LINF, Run, SweepPlan, sweep
from audit.checks.robustness.functional import ENGINES, NORMS
from audit.checks.robustness.text import EmbeddingInputs, embed, embedding_scale
from audit.errors import CheckNotApplicable, ConfigError, describe_value

__all__ = ["RobustnessCheck", "RobustnessSettings", "resolve_settings", "DEFAULT_BUDGETS"]

DEFAULT_BUDGETS: dict[str, dict[str, Any]] = {
    "image": {"linf": (0.01, 0.03, 0.05, 0.1), "budget": 0.03, "l2": (0.1, 0.25, 0.5, 1.0), "l2_budget": 0.5},
    "tabular": {"linf": (0.05, 0.1, 0.25, 0.5), "budget": 0.1, "l2": (0.1, 0.25, 0.5, 1.0), "l2_budget": 0.25},
    "timeseries": {"linf": (0.05, 0.1, 0.25, 0.5), "budget": 0.1, "l2": (0.25, 0.5, 1.0, 2.0), "l2_budget": 0.5},
    "text": {"linf": (0.05, 0.1, 0.25, 0.5), "budget": 0.1, "l2": (0.5, 1.0, 2.0, 4.0), "l2_budget": 1.0},
}
"""Default budget sweeps per data kind, in the kind's units (``_space.UNITS``)."""


@dataclass(frozen=True)
class RobustnessSettings:
    """Validated options of the robustness check (see ``RobustnessCheck.default_options``)."""

    n_samples: int
    plan_linf: tuple[float, ...]
    plan_l2: tuple[float, ...]
    budget: float
    l2_budget: float
    norms: tuple[str, ...]
    steps: int
    step_scale: float
    engine: str
    loss: str
    chunk_size: int
    n_boot: int
    min_group_size: int
    n_images: int
    noise_rates: tuple[float, ...]


def resolve_settings(options: Mapping[str, Any], kind: str) -> RobustnessSettings:
    """Validate the robustness options and fill the kind's default budgets.

    Raises:
        ConfigError: a budget <= 0, an unknown norm or engine, or a count out of range (the message names the option
            and the value).
    """
    name = "robustness"
    defaults = DEFAULT_BUDGETS.get(kind, DEFAULT_BUDGETS["tabular"])
    norms = options.get("norms", ["Linf", "L2"])
    if isinstance(norms, str) or not isinstance(norms, (list, tuple)) or not norms:
        raise ConfigError(f"The option 'options.robustness.norms' must be a non-empty list of norms from {list(NORMS)}. "
                          f"Got {describe_value(norms)} instead.")
    for norm in norms:
        if norm not in NORMS:
            raise ConfigError(f"The option 'options.robustness.norms' names the norm {describe_value(norm)}, which does "
                              f"not exist. Expected norms from {list(NORMS)}.")
    engine = options.get("engine", "fast")
    if engine not in ENGINES:
        raise ConfigError(f"The option 'options.robustness.engine' must be one of {list(ENGINES)}. "
                          f"Got {describe_value(engine)} instead.")
    loss = options.get("loss", "margin")
    if loss not in ("margin", "ce"):
        raise ConfigError(f"The option 'options.robustness.loss' must be 'margin' or 'ce'. Got {describe_value(loss)} "
                          "instead.")
    budget = defaults["budget"] if options.get("budget") is None else option_budget(name, "budget", options["budget"])
    l2_budget = (defaults["l2_budget"] if options.get("l2_budget") is None
                 else option_budget(name, "l2_budget", options["l2_budget"]))
    linf = option_budgets(name, "linf_budgets", options.get("linf_budgets"), defaults["linf"])
    l2 = option_budgets(name, "l2_budgets", options.get("l2_budgets"), defaults["l2"])
    return RobustnessSettings(
        n_samples=require_int(name, "n_samples", options.get("n_samples", 500), 1),
        plan_linf=tuple(sorted(set(linf) | {budget})),
        plan_l2=tuple(sorted(set(l2) | {l2_budget})),
        budget=budget,
        l2_budget=l2_budget,
        norms=tuple(n for n in NORMS if n in norms),
        steps=require_int(name, "steps", options.get("steps", 20), 1),
        step_scale=option_budget(name, "step_scale", options.get("step_scale", 2.5)),
        engine=engine,
        loss=loss,
        chunk_size=require_int(name, "chunk_size", options.get("chunk_size", 0), 0),
        n_boot=require_int(name, "n_boot", options.get("n_boot", 500), 1),
        min_group_size=require_int(name, "min_group_size", options.get("min_group_size", 10), 1),
        n_images=require_int(name, "n_images", options.get("n_images", 4), 0),
        noise_rates=option_rates(name, "noise_rates", options.get("noise_rates"), (0.05, 0.1, 0.2, 0.3)),
    )


def _default_options() -> dict[str, Any]:
    return {
        "n_samples": 500,  # audited rows attacked (a stratified, seeded sample)
        "budget": None,  # headline L-inf budget in the data's units; None: the kind's default (DEFAULT_BUDGETS)
        "l2_budget": None,  # headline L2 budget; None: the kind's default
        "linf_budgets": None,  # L-inf sweep (FGSM and PGD); None: the kind's default
        "l2_budgets": None,  # L2 sweep (PGD); None: the kind's default
        "norms": ["Linf", "L2"],
        "steps": 20,  # PGD iterations
        "step_scale": 2.5,  # PGD step = step_scale * budget / steps
        "engine": "fast",  # "fast" (hand-batched, captum's semantics) or "captum"
        "loss": "margin",  # classification: "margin" (does not saturate on confident rows) or "ce"
        "chunk_size": 0,  # rows per work item; 0: one batch per worker
        "n_boot": 500,  # bootstrap resamples for the per-group intervals
        "min_group_size": 10,  # smaller groups are shown but left out of the disparity
        "n_images": 4,  # adversarial images kept for the report
        "noise_rates": None,  # text: token deletion / typo rates; None: 0.05, 0.1, 0.2, 0.3
    }


@dataclass(frozen=True)
class RobustnessCheck:
    """Adversarial robustness (FGSM, PGD L-inf and L2) with robustness by group; needs a differentiable model."""

    name: str = "robustness"
    title: str = "Adversarial robustness"
    kinds: frozenset[str] = frozenset({"tabular", "image", "text", "timeseries"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass", "regression"})
    needs: frozenset[str] = frozenset({"gradients"})
    default_options: Mapping[str, Any] = field(default_factory=_default_options)

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Attack a stratified sample of the audited rows over the budget sweep and lay out the results."""
        kind = ctx.dataset.kind
        s = resolve_settings(options, kind)
        if ctx.model.task not in ("binary", "multiclass", "regression"):
            raise CheckNotApplicable(f"attacks apply to classifiers and regressors, not {ctx.model.task!r} models")
        positions = ctx.sample(s.n_samples, "robustness")
        y = np.asarray(ctx.test.y)[positions]
        regression = ctx.model.task == "regression"
        target = y.astype(np.float32) if regression else y.astype(np.int64)
        score = ctx.model.score_module(as_proba=False)
        template = AttackJob(forward=score, x=np.zeros((0,)), target=target, loss="mse" if regression else s.loss,
                             engine=s.engine, device=str(ctx.model.device))
        metrics: dict[str, Any] = {"n_samples": int(len(positions)), "engine": s.engine, "steps": s.steps,
                                   "loss": "squared error" if regression else s.loss}
        findings = []
        if kind == "text":
            _merge(metrics, report.token_noise(ctx, positions, s))
            if "embedding" not in ctx.model.capabilities or not hasattr(ctx.model, "module"):
                metrics["embedding_attack"] = "skipped: the model has no `embedding` layer to attack"
                return CheckOutput(metrics=metrics)
            layer = ctx.model.module.embedding
            ids = np.asarray(ctx.test.x)[positions].astype(np.int64)
            x = embed(layer, ids, ctx.model.device)
            mask = np.broadcast_to((ids != 0)[:, :, None], x.shape).astype(np.float32)
            active = int(np.median(mask.reshape(len(x), -1).sum(axis=1))) if len(x) else 1
            template = replace(template, forward=EmbeddingInputs(score, layer))
            plan = _plan(s, scale=embedding_scale(layer), n_active=active)
            metrics["embedding_scale"] = plan.scale
            extra: tuple[np.ndarray, ...] = (ids,)
        else:
            space = input_space(ctx.dataset, ctx.sensitive_features)
            x = np.asarray(ctx.test.x, dtype=np.float32)[positions]
            mask = space.mask
            template = replace(template, lower=space.lower, upper=space.upper)
            plan = _plan(s, scale=1.0, n_active=space.n_active or int(np.prod(x.shape[1:])))
            extra = ()
            if kind == "tabular":
                metrics["movable_features"] = list(space.movable)
                metrics["frozen_features"] = list(space.frozen)
        metrics["budget"] = s.budget
        metrics["l2_budget"] = s.l2_budget
        metrics["budget_unit"] = UNITS.get(kind, "input units")

        def keep(run: Run) -> bool:
            return kind in ("image", "timeseries") and run.attack == PGD_LINF and run.budget == s.budget

        chunk = chunk_size(ctx, len(x), s.chunk_size)
        clean, runs = sweep(ctx, template, x, target, plan, chunk, extra=extra, mask=mask, keep_adv=keep)
        ctx.progress(0.92, "summarising")
        if regression:
            _merge(metrics, report.regression_layout(y, clean, runs, s, metrics["budget_unit"]))
        else:
            groups = grouping(ctx, positions, y)
            layout, group_findings = report.classification_layout(ctx, y, clean, runs, s, metrics["budget_unit"], groups)
            _merge(metrics, layout)
            findings += group_findings
            if kind == "image" and s.n_images:
                metrics["images"] = report.adversarial_images(ctx, x, y, clean, runs, s)
        if kind == "timeseries":
            metrics.setdefault("curves", {}).update(report.example_window(x, runs, s.budget))
        return CheckOutput(metrics=metrics, findings=findings)


def _merge(metrics: dict[str, Any], more: Mapping[str, Any]) -> None:
    """Add ``more`` to ``metrics``, merging the "curves" / "tables" / "images" sections instead of replacing them."""
    for key, value in more.items():
        if key in ("curves", "tables", "images") and isinstance(metrics.get(key), dict):
            metrics[key].update(value)
        else:
            metrics[key] = value


def _plan(s: RobustnessSettings, *, scale: float, n_active: int) -> SweepPlan:
    return SweepPlan(linf=s.plan_linf, l2=s.plan_l2, budget=s.budget, norms=s.norms, steps=s.steps,
                     step_scale=s.step_scale, scale=scale, n_active=max(1, n_active))
