"""Run a budget sweep of FGSM and PGD over chunks of rows through ``ctx.executor.map``."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from audit.checks.base import AuditContext
from audit.checks.robustness._jobs import AttackJob, AttackOutcome, chunk_jobs, merge, run_attack_job
from audit.checks.robustness.functional import default_step_size

__all__ = ["SweepPlan", "Run", "sweep", "FGSM", "PGD_LINF", "PGD_L2"]

FGSM = "FGSM"
PGD_LINF = "PGD (L-inf)"
PGD_L2 = "PGD (L2)"


@dataclass(frozen=True)
class SweepPlan:
    """What to run.

    Attributes:
        linf: L-infinity budgets (FGSM and PGD), in budget units.
        l2: L2 budgets (PGD), in budget units.
        budget: the headline L-infinity budget (one of ``linf``).
        norms: norms to run ("Linf", "L2").
        steps: PGD iterations.
        step_scale: PGD step = ``step_scale * radius / steps`` (L2: divided by sqrt(moving values)).
        scale: input units per budget unit (1, or the embedding's standard deviation for text).
        n_active: values that may move per row (for the L2 step size).
    """

    linf: tuple[float, ...]
    l2: tuple[float, ...]
    budget: float
    norms: tuple[str, ...]
    steps: int
    step_scale: float
    scale: float
    n_active: int


@dataclass(frozen=True)
class Run:
    """One attack at one budget over every row."""

    attack: str
    norm: str
    budget: float
    outcome: AttackOutcome


def _configs(plan: SweepPlan) -> list[tuple[str, str, str, float]]:
    out: list[tuple[str, str, str, float]] = []
    if "Linf" in plan.norms:
        out += [(FGSM, "fgsm", "Linf", b) for b in plan.linf]
        out += [(PGD_LINF, "pgd", "Linf", b) for b in plan.linf]
    if "L2" in plan.norms:
        out += [(PGD_L2, "pgd", "L2", b) for b in plan.l2]
    return out


def sweep(ctx: AuditContext, template: AttackJob, x: np.ndarray, target: np.ndarray, plan: SweepPlan, chunk: int, *,
          extra: tuple[np.ndarray, ...] = (), mask: np.ndarray | None = None, keep_adv: Callable[[Run], bool] | None = None,
          progress: tuple[float, float] = (0.0, 0.9)) -> tuple[AttackOutcome, list[Run]]:
    """Score the clean rows, then run every configured attack and budget.

    Args:
        ctx: the audit context (executor, progress).
        template: settings shared by every job (forward, loss, engine, bounds, device).
        x, target: the audited rows and their targets.
        plan: the sweep.
        chunk: rows per work item.
        extra: further per-row forward inputs (token ids).
        mask: movable values, per row or broadcastable.
        keep_adv: which runs return their adversarial rows (default none).
        progress: the span of ``ctx.progress`` this sweep covers.

    Returns:
        The clean outcome and one ``Run`` per attack and budget, in plan order.
    """
    configs = _configs(plan)
    start, stop = progress

    def report(done: int, message: str) -> None:
        ctx.progress(start + (stop - start) * done / (len(configs) + 1), message)

    groups = [chunk_jobs(replace(template, attack="none"), x, target, extra, chunk, mask)]
    for label, attack, norm, budget in configs:
        radius = budget * plan.scale
        step = default_step_size(radius, plan.steps, norm, plan.n_active, plan.step_scale)
        keep = bool(keep_adv and keep_adv(Run(label, norm, budget, _EMPTY)))
        job = replace(template, attack=attack, norm=norm, radius=radius, step_size=step, steps=plan.steps,
                      keep_adv=keep)
        groups.append(chunk_jobs(job, x, target, extra, chunk, mask))
    if ctx.executor.backend == "sequential" or ctx.executor.n_jobs == 1:
        outcomes = []  # one map per attack and budget: the progress bar moves as they finish
        for i, jobs in enumerate(groups):
            outcomes.append(merge(ctx.executor.map(run_attack_job, jobs)))
            report(i + 1, "clean outputs" if i == 0 else f"{configs[i - 1][0]} {configs[i - 1][3]:g}")
    else:  # one map over every job: workers start once and stay busy
        flat = ctx.executor.map(run_attack_job, [job for jobs in groups for job in jobs])
        bounds = np.cumsum([0] + [len(jobs) for jobs in groups])
        outcomes = [merge(flat[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        report(len(groups), "attacks done")
    runs = [Run(label, norm, budget, out) for (label, _, norm, budget), out in zip(configs, outcomes[1:])]
    return outcomes[0], runs


_EMPTY = AttackOutcome(outputs=np.zeros(0), linf=np.zeros(0), l2=np.zeros(0))
