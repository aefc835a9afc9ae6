"""Explanation quality as pure functions: faithfulness (deletion / insertion curves), captum's infidelity and
sensitivity_max, the model-parameter randomisation sanity check (Adebayo et al. 2018) and agreement between
methods (rank correlation, top-k overlap)."""
from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from captum.metrics import infidelity, sensitivity_max
from scipy.stats import spearmanr
from torch import nn

from audit.checks._common import module_device
from audit.checks.explain._fast_gradients import seeded_global_rngs
from audit.errors import InvalidInputError

__all__ = [
    "unit_index",
    "deletion_insertion",
    "relative_infidelity",
    "max_sensitivity",
    "randomized_copy",
    "rank_similarity",
    "topk_overlap",
]


def unit_index(kind: str, shape: tuple[int, ...], groups: list[list[int]] | None = None) -> np.ndarray:
    """For each input element, the readable unit it belongs to (tabular feature, pixel, time step, token).

    Args:
        kind: data kind.
        shape: one input row's shape.
        groups: tabular feature groups.

    Returns:
        int array shaped like one row.
    """
    if kind == "tabular":
        out = np.arange(int(np.prod(shape)))
        if groups:
            for gi, g in enumerate(groups):
                out[list(g)] = gi
        return out.reshape(shape)
    if kind == "image":
        c, h, w = shape
        return np.broadcast_to(np.arange(h * w).reshape(1, h, w), shape).copy()
    if kind == "timeseries":
        steps = shape[0]
        per = shape[1:] if len(shape) > 1 else ()
        return np.broadcast_to(np.arange(steps).reshape((steps,) + (1,) * len(per)), shape).copy()
    return np.arange(shape[0])


def deletion_insertion(scores: Callable[[np.ndarray], np.ndarray], x: np.ndarray, target: np.ndarray,
                       readable: np.ndarray, units: np.ndarray, baseline: np.ndarray,
                       n_steps: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deletion and insertion curves: the target score as the most important units are removed (replaced by the
    baseline) or revealed (from the baseline), in order of attribution.

    Args:
        scores: model scores (r, ...) -> (r, k).
        x: rows (n, ...); target: output index per row.
        readable: attributions per unit (n, u) — the order is by decreasing value.
        units: unit id of each input element (like one row).
        baseline: one row.
        n_steps: points on each curve besides the start.

    Returns:
        ``(fractions (s+1,), deletion (n, s+1), insertion (n, s+1))``.

    Raises:
        InvalidInputError: ``readable`` does not have one value per unit.
    """
    n, u = readable.shape
    if u != int(units.max()) + 1:
        raise InvalidInputError(f"The 'readable' argument must hold one value per unit ({int(units.max()) + 1}). "
                                f"Got {u} instead.")
    steps = min(n_steps, u)
    counts = np.unique(np.round(np.linspace(0, u, steps + 1)).astype(int))
    order = np.argsort(-readable, axis=1, kind="stable")
    rank = np.empty_like(order)
    rank[np.arange(n)[:, None], order] = np.arange(u)[None, :]
    element_rank = rank[:, units.reshape(-1)].reshape((n,) + units.shape)  # (n, ...)
    base = np.broadcast_to(np.asarray(baseline, dtype=np.float64), x.shape[1:])
    removed = element_rank[:, None] < counts.reshape((1, -1) + (1,) * units.ndim)  # (n, s, ...)
    xs = np.asarray(x, dtype=np.float64)[:, None]
    deleted = np.where(removed, base, xs)
    inserted = np.where(removed, xs, base)
    batch = np.concatenate([deleted, inserted], axis=1).reshape((-1,) + x.shape[1:]).astype(x.dtype)
    out = np.asarray(scores(batch), dtype=np.float64).reshape(n, 2 * len(counts), -1)
    col = target if out.shape[2] > 1 else np.zeros(n, dtype=np.int64)
    picked = out[np.arange(n), :, col] if out.shape[2] > 1 else out[..., 0]
    return counts / u, picked[:, : len(counts)], picked[:, len(counts):]


def relative_infidelity(forward: nn.Module, x: np.ndarray, target: np.ndarray, attributions: np.ndarray, *,
                        noise: float = 0.1, n_perturb: int = 20, seed: int = 0) -> np.ndarray:
    """captum's ``infidelity`` (normalised: best scaling of the attributions), divided by E[(f(x) - f(x - I))^2]:
    the share of the score changes under Gaussian perturbations that the attributions do not explain (0 = all).

    Args:
        forward: a torch forward giving the scores the attributions explain.
        x, target: rows and output indices; attributions: like ``x``.
        noise: standard deviation of the perturbations.
        n_perturb: perturbations per row.
        seed: perturbation draws (the same for both terms).

    Returns:
        Per row, in [0, 1] for a consistent estimate; NaN where the score does not move under the perturbations
        (a saturated prediction: nothing to explain).
    """
    device = module_device(forward)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
    at = torch.as_tensor(np.asarray(attributions, dtype=np.float32), device=device)
    tt = torch.as_tensor(target, device=device)

    def perturb(inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn_like(inputs) * noise
        return z, inputs - z

    with torch.no_grad(), seeded_global_rngs(seed):
        infid = infidelity(forward, perturb, xt, at, target=tt, n_perturb_samples=n_perturb, normalize=True)
    with torch.no_grad(), seeded_global_rngs(seed):
        energy = infidelity(forward, perturb, xt, torch.zeros_like(at), target=tt, n_perturb_samples=n_perturb)
    infid, energy = infid.double().cpu().numpy(), energy.double().cpu().numpy()
    return np.where(energy > 1e-10, infid / np.maximum(energy, 1e-10), np.nan)


def max_sensitivity(explain: Callable[[np.ndarray, np.ndarray], np.ndarray], x: np.ndarray, target: np.ndarray,
                    *, radius: float = 0.02, n_perturb: int = 5, seed: int = 0) -> np.ndarray:
    """captum's ``sensitivity_max``: the largest change of the explanation, relative to its norm, under uniform
    perturbations of L-infinity size ``radius`` (lower is more stable).

    Args:
        explain: ``(rows (r, ...), targets (r,)) -> attributions like the rows``.
        x: rows (n, ...); target: output index per row (expanded by captum with the perturbations).

    Returns:
        Per row.
    """
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))

    def explanation_func(inputs: torch.Tensor | tuple[torch.Tensor, ...],
                         target: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        rows = inputs[0] if isinstance(inputs, tuple) else inputs
        out = explain(rows.detach().cpu().numpy().astype(np.asarray(x).dtype), target.cpu().numpy())
        result = torch.as_tensor(np.asarray(out), dtype=torch.float32)
        return (result,) if isinstance(inputs, tuple) else result  # captum iterates a tuple in, a tuple out

    with seeded_global_rngs(seed):
        result = sensitivity_max(explanation_func, xt, perturb_radius=radius, n_perturb_samples=n_perturb,
                                 target=torch.as_tensor(np.asarray(target, dtype=np.int64)))
    return result.double().cpu().numpy()


def randomized_copy(module: nn.Module, seed: int) -> nn.Module:
    """A copy of ``module`` with every layer's parameters re-initialised (the full randomisation test)."""
    clone = copy.deepcopy(module)
    with seeded_global_rngs(seed):
        for layer in clone.modules():
            reset = getattr(layer, "reset_parameters", None)
            if callable(reset):
                reset()
    return clone.eval()


def rank_similarity(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Spearman correlation of |a| and |b| per row (rows (n, u)) over the units ``mask`` keeps (e.g. real tokens,
    not padding); 0 where either row is constant."""
    out = np.zeros(len(a))
    keep = np.ones(a.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    for i, (ra, rb) in enumerate(zip(np.abs(a), np.abs(b))):
        ra, rb = ra[keep[i]], rb[keep[i]]
        if len(ra) > 1 and np.ptp(ra) > 0 and np.ptp(rb) > 0:
            out[i] = float(spearmanr(ra, rb).statistic)
    return out


def topk_overlap(a: np.ndarray, b: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Share of the ``k`` largest-|value| units that two attributions have in common, per row (units outside
    ``mask`` never count)."""
    k = max(1, min(k, a.shape[1]))
    keep = np.ones(a.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    ta = np.argsort(np.where(keep, -np.abs(a), np.inf), axis=1, kind="stable")[:, :k]
    tb = np.argsort(np.where(keep, -np.abs(b), np.inf), axis=1, kind="stable")[:, :k]
    return np.array([len(set(x) & set(y)) / k for x, y in zip(ta.tolist(), tb.tolist())])

