"""SHAP estimates: shap's own explainers and vectorised paths that compute the same estimators in large batches.

- ``shap_gradient``: expected gradients (shap ``GradientExplainer``). The fast path draws (reference, alpha) pairs
  with a numpy Generator and takes one backward per chunk; ``expected_gradients`` is the exact core, tested
  against shap with shap's own draws.
- ``shap_deep``: DeepLIFT-SHAP (shap ``DeepExplainer``); fast path: captum ``DeepLiftShap`` with batched gradients.
  Models DeepLIFT cannot handle (recurrent or attention layers, functional activations) fall back to expected
  gradients, with a note.
- ``kernel_shap``: Kernel SHAP for black-box models over (optionally grouped) features: exact enumeration of
  coalitions when they fit the budget, else paired kernel-weighted sampling; one model call per chunk of rows.
  ``shap_kernel_reference`` runs shap's ``KernelExplainer`` (the oracle) and ``shap_permutation`` shap's
  permutation explainer.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from audit.checks._common import module_device, require_int
from audit.checks.explain import captum_
from audit.checks.explain._fast_gradients import chunk_rows, gradient_context
from audit.errors import InvalidInputError

__all__ = [
    "DEEPLIFT_MODULES",
    "deeplift_supported",
    "expected_gradients",
    "shap_gradient",
    "shap_gradient_reference",
    "shap_deep",
    "shap_deep_reference",
    "kernel_coalitions",
    "kernel_shap",
    "shap_kernel_reference",
    "shap_permutation",
]

ScoreFn = Callable[[np.ndarray], np.ndarray]

#: Leaf modules DeepLIFT's rescale rule handles (captum and shap hook these); anything else falls back.
DEEPLIFT_MODULES: tuple[type, ...] = (
    nn.Linear, nn.Conv1d, nn.Conv2d, nn.ReLU, nn.ELU, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.MaxPool1d, nn.MaxPool2d,
    nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.BatchNorm1d, nn.BatchNorm2d,
    nn.Dropout, nn.Flatten, nn.Identity,
)


def deeplift_supported(module: nn.Module) -> tuple[bool, str]:
    """Whether every leaf module is one DeepLIFT handles; else the reason (first unsupported layer)."""
    for name, leaf in module.named_modules():
        if list(leaf.children()):
            continue
        if not isinstance(leaf, DEEPLIFT_MODULES):
            return False, f"layer '{name}' ({type(leaf).__name__}) has no DeepLIFT rule"
    return True, ""


# ---------------------------------------------------------------------------------------------- gradient SHAP
def expected_gradients(module: nn.Module, x: np.ndarray, target: np.ndarray, background: np.ndarray,
                       ref_index: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Expected gradients for given draws: mean_k grad(a_k x + (1 - a_k) r_k) * (x - r_k).

    Args:
        module: differentiable score model.
        x: rows (n, ...).
        target: output index per row.
        background: reference rows (m, ...).
        ref_index: (n, s) indices into ``background``.
        alphas: (n, s) interpolation weights in [0, 1].

    Returns:
        Attributions (n, ...) float64.
    """
    n, s = ref_index.shape
    device = module_device(module)
    out = np.zeros(x.shape, dtype=np.float64)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
    size = chunk_rows(module, xt, s)
    bt = torch.as_tensor(np.asarray(background, dtype=np.float32), device=device)
    with gradient_context(module):
        for start in range(0, n, size):
            stop = min(start + size, n)
            refs = bt[torch.as_tensor(ref_index[start:stop].reshape(-1), device=device)]
            xs = xt[start:stop].repeat_interleave(s, dim=0)
            a = torch.as_tensor(alphas[start:stop].reshape(-1), dtype=torch.float32, device=device)
            a = a.reshape((-1,) + (1,) * (x.ndim - 1))
            points = (a * xs + (1 - a) * refs).detach().requires_grad_()
            tg = torch.as_tensor(np.repeat(target[start:stop], s), device=device)
            scores = module(points).gather(1, tg[:, None]).sum()
            (grad,) = torch.autograd.grad(scores, points)
            delta = (xs.double() - refs.double())
            phi = (grad.double() * delta).reshape((stop - start, s) + x.shape[1:]).mean(dim=1)
            out[start:stop] = phi.cpu().numpy()
    return out


def shap_gradient(module: nn.Module, x: np.ndarray, target: Any, *, background: np.ndarray, n_samples: int = 50,
                  seed: int = 0) -> np.ndarray:
    """Expected gradients with vectorised, seeded draws (the GradientExplainer estimator)."""
    x = np.asarray(x)
    t = captum_.check_targets(target, len(x))
    _check_background(background, x)
    rng = np.random.default_rng(seed)
    ref_index = rng.integers(0, len(background), size=(len(x), n_samples))
    alphas = rng.uniform(size=(len(x), n_samples))
    return expected_gradients(module, x, t, np.asarray(background), ref_index, alphas)


def shap_gradient_reference(module: nn.Module, x: np.ndarray, target: Any, *, background: np.ndarray,
                            n_samples: int = 50, seed: int = 0) -> np.ndarray:
    """shap's own ``GradientExplainer`` (one output per row: the target)."""
    import shap  # heavy optional import

    x = np.asarray(x)
    t = captum_.check_targets(target, len(x))
    device = module_device(module)
    bg = torch.as_tensor(np.asarray(background, dtype=np.float32), device=device)
    explainer = shap.GradientExplainer(module, bg)
    values = explainer.shap_values(torch.as_tensor(np.asarray(x, dtype=np.float32), device=device),
                                   nsamples=n_samples, rseed=seed)
    return _pick_output(values, t)


def _pick_output(values: Any, target: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)  # (n, ..., k)
    return np.take_along_axis(v, target.reshape((-1,) + (1,) * (v.ndim - 1)), axis=-1)[..., 0]


def _check_background(background: Any, x: np.ndarray) -> None:
    bg = np.asarray(background)
    if bg.ndim != x.ndim or bg.shape[1:] != x.shape[1:] or len(bg) < 1:
        raise InvalidInputError(f"The 'background' argument must be rows shaped like the inputs "
                                f"(m, {', '.join(map(str, x.shape[1:]))}). Got shape {bg.shape} instead.")


# ---------------------------------------------------------------------------------------------- deep SHAP
def shap_deep(module: nn.Module, x: np.ndarray, target: Any, *, background: np.ndarray, n_samples: int = 50,
              seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """DeepLIFT-SHAP over the background (captum DeepLiftShap, batched); expected gradients when unsupported.

    Returns:
        ``(attributions, notes)``; a note says when the fallback was used and why.
    """
    ok, why = deeplift_supported(module)
    if not ok:
        note = f"DeepExplainer does not support this model ({why}); used GradientExplainer's estimator instead."
        return shap_gradient(module, x, target, background=background, n_samples=n_samples, seed=seed), [note]
    return captum_.deeplift_shap(module, x, target, background=background), []


def shap_deep_reference(module: nn.Module, x: np.ndarray, target: Any, *, background: np.ndarray) -> np.ndarray:
    """shap's own ``DeepExplainer`` (one output per row: the target)."""
    import shap  # heavy optional import

    x = np.asarray(x)
    t = captum_.check_targets(target, len(x))
    device = module_device(module)
    bg = torch.as_tensor(np.asarray(background, dtype=np.float32), device=device)
    explainer = shap.DeepExplainer(module, bg)
    values = explainer.shap_values(torch.as_tensor(np.asarray(x, dtype=np.float32), device=device),
                                   check_additivity=False)
    return _pick_output(values, t)


# ---------------------------------------------------------------------------------------------- kernel SHAP
def kernel_coalitions(m: int, n_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Coalitions (s, m) and their regression weights.

    Every coalition (sizes 1..m-1) with its Shapley kernel weight when ``2**m - 2 <= n_samples``; otherwise
    ``n_samples`` coalitions drawn in complementary pairs with sizes proportional to the kernel's total weight per
    size (each drawn coalition then weighs the same).
    """
    if m < 2:
        return np.ones((1, max(m, 1)), dtype=bool), np.ones(1)
    if m <= 20 and 2**m - 2 <= n_samples:
        codes = np.arange(1, 2**m - 1)
        masks = ((codes[:, None] >> np.arange(m)) & 1).astype(bool)
        sizes = masks.sum(axis=1)
        weights = (m - 1) / (np.array([math.comb(m, int(k)) for k in sizes]) * sizes * (m - sizes))
        return masks, weights
    sizes = np.arange(1, m)
    size_w = (m - 1) / (sizes * (m - sizes))
    half = max(1, n_samples // 2)
    drawn = rng.choice(sizes, size=half, p=size_w / size_w.sum())
    keys = rng.random((half, m))
    order = np.argsort(keys, axis=1)
    ranks = np.argsort(order, axis=1)
    masks = ranks < drawn[:, None]
    masks = np.concatenate([masks, ~masks])
    return masks, np.ones(len(masks))


def kernel_shap(f: ScoreFn, x: np.ndarray, target: Any, *, background: np.ndarray,
                groups: Sequence[Sequence[int]] | None = None, n_samples: int = 256, seed: int = 0,
                max_rows_per_call: int = 65536) -> np.ndarray:
    """Kernel SHAP of ``f``'s target output over features or feature groups, vectorised over coalitions and rows.

    Args:
        f: black-box score function: rows (r, d) -> scores (r, k).
        x: rows to explain (n, d) (other shapes are flattened).
        target: output index per row.
        background: reference rows (b, d) (the "missing" values).
        groups: encoded column indices per feature (None: every column alone).
        n_samples: coalitions per row (all of them when ``2**m - 2`` fits).
        seed: coalition draws.
        max_rows_per_call: model rows per ``f`` call.

    Returns:
        Shapley values per group (n, m) float64; ``sum = f(x) - mean f(background)`` exactly.

    Raises:
        InvalidInputError: bad shapes, groups or budget.
    """
    shape = np.asarray(x).shape[1:]
    x2 = np.asarray(x).reshape(len(x), -1)
    bg = np.asarray(background).reshape(len(background), -1)
    if bg.shape[1] != x2.shape[1] or len(bg) < 1:
        raise InvalidInputError(f"The 'background' argument must be rows with {x2.shape[1]} values. "
                                f"Got shape {np.asarray(background).shape} instead.")
    require_int(None, "n_samples", n_samples, 2)
    t = captum_.check_targets(target, len(x2))
    groups = [list(g) for g in groups] if groups is not None else [[j] for j in range(x2.shape[1])]
    covered = sorted(j for g in groups for j in g)
    if covered != list(range(x2.shape[1])):
        raise InvalidInputError(f"The 'groups' argument must cover every one of the {x2.shape[1]} columns exactly "
                                f"once. Got {len(covered)} column entries instead.")
    m = len(groups)
    masks, weights = kernel_coalitions(m, n_samples, np.random.default_rng(seed))
    col_of = np.zeros(x2.shape[1], dtype=np.int64)
    for gi, g in enumerate(groups):
        col_of[g] = gi
    col_masks = masks[:, col_of]  # (s, d)
    s, b = len(masks), len(bg)
    f_bg = np.asarray(f(bg.reshape((-1,) + shape)), dtype=np.float64)
    out = np.zeros((len(x2), m))
    per_row = s * b
    rows_per = max(1, max_rows_per_call // max(1, per_row))
    for start in range(0, len(x2), rows_per):
        xs = x2[start:start + rows_per]
        r = len(xs)
        batch = np.where(col_masks[None, :, None, :], xs[:, None, None, :], bg[None, None, :, :])  # (r, s, b, d)
        batch = batch.reshape((r * per_row,) + shape).astype(x2.dtype, copy=False)
        scores = np.asarray(f(batch), dtype=np.float64)
        scores = scores.reshape(r, s, b, -1)
        fx = np.asarray(f(xs.reshape((r,) + shape)), dtype=np.float64)
        for i in range(r):
            k = t[start + i]
            v = scores[i, :, :, k].mean(axis=1)
            e = f_bg[:, k].mean()
            out[start + i] = _solve_kernel(masks, weights, v - e, fx[i, k] - e)
    return out


def _solve_kernel(masks: np.ndarray, weights: np.ndarray, y: np.ndarray, total: float) -> np.ndarray:
    """Weighted least squares of ``y ~ masks @ phi`` with ``sum(phi) = total`` (last variable eliminated)."""
    z = masks.astype(np.float64)
    m = z.shape[1]
    if m == 1:
        return np.array([total])
    a = z[:, :-1] - z[:, -1:]
    rhs = y - z[:, -1] * total
    sw = np.sqrt(weights)
    coef, *_ = np.linalg.lstsq(a * sw[:, None], rhs * sw, rcond=None)
    return np.append(coef, total - coef.sum())


def shap_kernel_reference(f: ScoreFn, x: np.ndarray, target: Any, *, background: np.ndarray,
                          n_samples: int = 256, seed: int = 0) -> np.ndarray:
    """shap's own ``KernelExplainer`` on every column (the oracle for ``kernel_shap`` without groups)."""
    import shap  # heavy optional import

    x2 = np.asarray(x).reshape(len(x), -1)
    t = captum_.check_targets(target, len(x2))
    bg = np.asarray(background).reshape(len(background), -1)
    shape = np.asarray(x).shape[1:]

    def flat_f(rows: np.ndarray) -> np.ndarray:
        return np.asarray(f(rows.reshape((len(rows),) + shape).astype(np.asarray(x).dtype)), dtype=np.float64)

    explainer = shap.KernelExplainer(flat_f, bg)
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        values = explainer.shap_values(x2, nsamples=n_samples, silent=True)
    finally:
        np.random.set_state(state)
    return _pick_output(values, t)


def shap_permutation(f: ScoreFn, x: np.ndarray, target: Any, *, background: np.ndarray, n_samples: int = 256,
                     seed: int = 0) -> np.ndarray:
    """shap's permutation explainer (antithetic permutations) on every column, target output per row."""
    import shap  # heavy optional import

    x2 = np.asarray(x).reshape(len(x), -1)
    t = captum_.check_targets(target, len(x2))
    bg = np.asarray(background).reshape(len(background), -1)
    shape = np.asarray(x).shape[1:]
    out = np.zeros(x2.shape)
    for k in np.unique(t):
        rows = np.flatnonzero(t == k)

        def fk(a: np.ndarray, _k: int = int(k)) -> np.ndarray:
            return np.asarray(f(a.reshape((len(a),) + shape).astype(np.float32)), dtype=np.float64)[:, _k]

        explainer = shap.PermutationExplainer(fk, shap.maskers.Independent(bg, max_samples=len(bg)), seed=seed)
        max_evals = max(n_samples, 2 * x2.shape[1] + 1)
        out[rows] = explainer(x2[rows], max_evals=max_evals, silent=True).values
    return out
