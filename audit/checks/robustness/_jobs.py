"""Attack work items for ``ctx.executor.map``: one chunk of rows, one attack at one budget.

Items carry everything they need (module, rows, bounds, mask), the worker is a module-level function (picklable
for loky and dask) and attacks are deterministic, so results do not depend on the backend or the chunking.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from audit.checks.robustness._space import row_bounds
from audit.checks.robustness.functional import fgsm, pgd

__all__ = ["AttackJob", "AttackOutcome", "run_attack_job", "chunk_jobs", "merge"]


@dataclass(frozen=True)
class AttackJob:
    """One chunk of rows under one attack.

    Attributes:
        forward: the differentiable model (eval mode), called as ``forward(x, *extra)``.
        x: the rows (float32).
        target: true classes (int64) or regression targets (float32).
        attack: "none" (clean outputs), "fgsm" or "pgd".
        norm: "Linf" or "L2" (pgd).
        radius: the budget in the inputs' units (ignored for "none").
        step_size: pgd's signed step.
        steps: pgd iterations.
        loss: "margin", "ce" or "mse".
        engine: "fast" or "captum".
        lower, upper: observed bounds broadcastable to one sample (None: unbounded); widened per row.
        mask: 1 where values may move, broadcastable to ``x`` (None: all move).
        extra: further forward inputs (token ids for embedding-space attacks).
        device: where the work runs.
        keep_adv: return the adversarial rows too.
    """

    forward: nn.Module
    x: np.ndarray
    target: np.ndarray
    attack: str = "none"
    norm: str = "Linf"
    radius: float = 0.0
    step_size: float = 0.0
    steps: int = 1
    loss: str = "margin"
    engine: str = "fast"
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    mask: np.ndarray | None = None
    extra: tuple[np.ndarray, ...] = ()
    device: str = "cpu"
    keep_adv: bool = False


@dataclass(frozen=True)
class AttackOutcome:
    """What one job returns: model outputs on the attacked rows and the size of each perturbation.

    Attributes:
        outputs: logits (n, k) or regression outputs (n,), float64.
        linf, l2: per-row L-infinity and L2 norms of ``adv - x``.
        adv: the adversarial rows when asked for, else None.
    """

    outputs: np.ndarray
    linf: np.ndarray
    l2: np.ndarray
    adv: np.ndarray | None = None


def _has_rnn(module: nn.Module) -> bool:
    return any(isinstance(m, nn.RNNBase) for m in module.modules())


@contextlib.contextmanager
def _backward_ready(module: nn.Module, device: torch.device) -> Iterator[None]:
    """cuDNN RNNs refuse backward in eval mode: use the native kernels for them (same maths)."""
    if device.type == "cuda" and _has_rnn(module):
        with torch.backends.cudnn.flags(enabled=False):
            yield
    else:
        yield


def run_attack_job(job: AttackJob) -> AttackOutcome:
    """Attack (or just score) one chunk; float32, no autocast, in eval mode."""
    device = torch.device(job.device)
    x = np.asarray(job.x, dtype=np.float32)
    lo, hi = row_bounds(x, job.lower, job.upper)
    xt = torch.as_tensor(x, device=device)
    dtype = torch.float32 if job.loss == "mse" else torch.long
    target = torch.as_tensor(np.asarray(job.target), device=device).to(dtype)
    extra = tuple(torch.as_tensor(np.asarray(e), device=device) for e in job.extra)
    put = (lambda a: None if a is None else torch.as_tensor(a, device=device))
    common = {"lower": put(lo), "upper": put(hi), "mask": put(job.mask), "loss": job.loss, "engine": job.engine,
              "extra": extra}
    forward = job.forward
    with _backward_ready(forward, device):
        if job.attack == "fgsm":
            adv = fgsm(forward, xt, target, job.radius, **common)
        elif job.attack == "pgd":
            adv = pgd(forward, xt, target, job.radius, norm=job.norm, steps=job.steps, step_size=job.step_size,
                      **common)
        else:
            adv = xt
        with torch.no_grad():
            out = forward(adv, *extra).float()
    diff = (adv - xt).reshape(len(x), -1)
    outputs = out.cpu().numpy().astype(np.float64)
    if job.loss == "mse":
        outputs = outputs.reshape(len(x), -1)[:, 0]
    return AttackOutcome(
        outputs=outputs,
        linf=diff.abs().amax(dim=1).cpu().numpy().astype(np.float64) if diff.shape[1] else np.zeros(len(x)),
        l2=torch.linalg.vector_norm(diff, dim=1).cpu().numpy().astype(np.float64),
        adv=adv.cpu().numpy() if job.keep_adv else None,
    )


def chunk_jobs(template: AttackJob, x: np.ndarray, target: np.ndarray, extra: tuple[np.ndarray, ...],
               size: int, mask: np.ndarray | None = None) -> list[AttackJob]:
    """One job per chunk of ``size`` rows, copying ``template``'s settings.

    ``mask`` may be per row (same leading length as ``x``), then it is chunked too.
    """
    jobs = []
    per_row_mask = mask is not None and mask.ndim == x.ndim and mask.shape[0] == x.shape[0] and mask.shape[0] > 1
    for start in range(0, len(x), max(1, size)):
        stop = min(start + size, len(x))
        chunk_mask = mask[start:stop] if per_row_mask else mask
        jobs.append(replace(template, x=x[start:stop], target=target[start:stop],
                            extra=tuple(e[start:stop] for e in extra), mask=chunk_mask))
    return jobs


def merge(outcomes: list[AttackOutcome]) -> AttackOutcome:
    """Concatenate chunk outcomes in order."""
    advs = [o.adv for o in outcomes]
    return AttackOutcome(
        outputs=np.concatenate([o.outputs for o in outcomes]),
        linf=np.concatenate([o.linf for o in outcomes]),
        l2=np.concatenate([o.l2 for o in outcomes]),
        adv=None if any(a is None for a in advs) else np.concatenate(advs),
    )
