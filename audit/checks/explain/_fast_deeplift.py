"""Vectorised DeepLift (rescale rule) for feed-forward torch models: captum's algorithm without its per-call hooks.

captum's ``DeepLift`` runs the model on ``[x; baseline]`` and, in the backward pass, replaces the local gradient of
every ``nn.ReLU`` by the rescale multiplier ``(f(x) - f(x0)) / (x - x0)`` (the gradient where ``|x - x0| < eps``)
and of every ``nn.MaxPool2d`` by its "delta in / delta out" rule; every other operation keeps its gradient. Because
both halves carry the same multipliers, the gradient of the input half alone decides the attribution. Here:

1. the baseline runs once, without a graph, on its *distinct* rows only (one row when it is broadcast, the ``m``
   background rows for DeepLiftShap), recording each ReLU / MaxPool input and output;
2. the inputs run once with a graph, each ReLU / MaxPool output routed through an ``autograd.Function`` whose
   backward applies captum's multiplier against the recorded baseline activations;
3. one backward of the summed target scores gives every row's multipliers; attribution = multipliers * (x - x0).

Supported models (``supports_fast_deeplift``): eval mode, every leaf module one of ``FAST_DEEPLIFT_MODULES``, each
ReLU / MaxPool called once per forward and not in place, a 2-D score output. Anything else goes to captum.

One deliberate difference: where a MaxPool input's delta is below ``eps``, captum 0.9 uses ``grad_input[0]`` (the
plain gradient of the *first row* of its batch, broadcast); this uses each row's own plain gradient. The two only
differ at positions whose delta is zero, which cannot reach an input feature with a non-zero ``x - x0`` unless
deltas cancel exactly (tests check equality with captum on the project CNN).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "FAST_DEEPLIFT_MODULES", "EPS", "supports_fast_deeplift", "fast_deeplift", "deeplift_rows", "deeplift_shap_rows",
]

EPS = 1e-10
"""captum's default ``eps`` of DeepLift: below this input delta the plain gradient is used."""

FAST_DEEPLIFT_MODULES: tuple[type[nn.Module], ...] = (
    nn.Linear, nn.Conv1d, nn.Conv2d, nn.ReLU, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Flatten, nn.Identity,
    nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
    nn.BatchNorm1d, nn.BatchNorm2d,
)
"""Leaf modules the fast path supports: ReLU and MaxPool2d get captum's rules, the rest are affine in eval mode."""

_RULED = (nn.ReLU, nn.MaxPool2d)


class _Unsupported(Exception):
    """Raised inside the baseline forward when the model turns out not to fit the fast path."""


def _leaves(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if next(m.children(), None) is None]


def _ruled(module: nn.Module) -> list[nn.Module] | None:
    """The ReLU / MaxPool modules of a structurally supported model, or None."""
    if any(m.training or len(m._backward_hooks) > 0 for m in module.modules()):  # captum skips hooked modules
        return None
    leaves = _leaves(module)
    if not leaves or any(type(m) not in FAST_DEEPLIFT_MODULES for m in leaves):
        return None
    if any(isinstance(m, nn.ReLU) and m.inplace for m in leaves):
        return None
    return [m for m in leaves if isinstance(m, _RULED)]


def supports_fast_deeplift(module: nn.Module, sample: torch.Tensor | None = None) -> bool:
    """Whether ``fast_deeplift`` computes captum's DeepLift for this model.

    Args:
        module: the score model.
        sample: optional input rows; with them, one no-grad forward of the first row also checks that every
            ReLU / MaxPool runs once and that the output is (n, k) scores (``fast_deeplift`` checks this itself).

    Returns:
        True for an eval-mode model built from ``FAST_DEEPLIFT_MODULES`` without in-place ReLUs (and, given a
        sample, whose ReLU / MaxPool modules run once each and whose output is 2-D).
    """
    ruled = _ruled(module)
    if ruled is None or sample is None:
        return ruled is not None
    try:
        _baseline_pass(module, sample[:1], ruled)
    except _Unsupported:
        return False
    return True


def _baseline_pass(module: nn.Module, baselines: torch.Tensor,
                   ruled: list[nn.Module]) -> tuple[torch.Tensor, dict[nn.Module, tuple[torch.Tensor, torch.Tensor]]]:
    """Scores of the baseline rows and each rule module's (input, output); raises ``_Unsupported`` on reuse."""
    refs: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        if m in refs:
            raise _Unsupported
        refs[m] = (inp[0], out)

    hooks = [m.register_forward_hook(record) for m in ruled]
    try:
        with torch.no_grad():
            scores = module(baselines)
    finally:
        for h in hooks:
            h.remove()
    if not isinstance(scores, torch.Tensor) or scores.ndim != 2:
        raise _Unsupported
    return scores, refs


class _Link:
    """Passes a downstream rule's plain local gradient to the rule feeding it (captum's hook order, see module doc)."""

    __slots__ = ("plain",)

    def __init__(self) -> None:
        self.plain: torch.Tensor | None = None


class _Rescale(torch.autograd.Function):
    """Identity on a ReLU's output whose backward applies captum's rescale rule."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, y: torch.Tensor, mult: torch.Tensor,  # type: ignore[override]
                near: torch.Tensor, link_in: _Link | None, link_out: _Link) -> torch.Tensor:
        ctx.save_for_backward(x, mult, near)
        ctx.links = (link_in, link_out)
        return y.detach().view_as(y)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        x, mult, near = ctx.saved_tensors
        link_in, link_out = ctx.links
        if link_in is not None:
            link_in.plain = grad * (x > 0)
        stale, link_out.plain = link_out.plain, None
        out = grad * mult if stale is None else torch.where(near, grad * (x > 0), stale * mult)
        return out, None, None, None, None, None


def _relu_multiplier(x: torch.Tensor, y: torch.Tensor, x_ref: torch.Tensor,
                     y_ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """captum's ``nonlinear`` rule as a multiplier: (y - y_ref) / (x - x_ref), relu'(x) where |x - x_ref| < eps."""
    delta_in = x - x_ref
    mult = (y - y_ref).div_(delta_in)
    near = delta_in.abs_() < EPS
    if bool(near.any()):
        mult = torch.where(near, (x > 0).to(x.dtype), mult)
    return mult, near


class _MaxPoolRule(torch.autograd.Function):
    """Identity on a MaxPool2d's output whose backward is captum's ``maxpool`` rule (per row in the eps case)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, y: torch.Tensor, x_ref: torch.Tensor,  # type: ignore[override]
                y_ref: torch.Tensor, pool: nn.MaxPool2d, link_in: _Link | None, link_out: _Link,
                index: torch.Tensor | None) -> torch.Tensor:
        with torch.no_grad():  # the reference rows are pooled once (k distinct rows), then laid out per input row
            args = (pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode, True)
            _, idx = F.max_pool2d(x, *args)
            _, idx_ref = F.max_pool2d(x_ref, *args)
            x_ref, y_ref, idx_ref = (_expand(t, index, len(x)) for t in (x_ref, y_ref, idx_ref))
            xmax = torch.max(y, y_ref)
        ctx.save_for_backward(x, x_ref, idx, idx_ref, xmax - y_ref, y - xmax)
        ctx.pool, ctx.links = pool, (link_in, link_out)
        return y.detach().view_as(y)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        x, x_ref, idx, idx_ref, out_x, out_ref = ctx.saved_tensors
        p = ctx.pool
        link_in, link_out = ctx.links
        stale, link_out.plain = link_out.plain, None
        g_rule = grad if stale is None else stale
        size = list(x.shape)
        unpooled = (F.max_unpool2d(g_rule * out_x, idx, p.kernel_size, p.stride, p.padding, size)
                    + F.max_unpool2d(g_rule * out_ref, idx_ref, p.kernel_size, p.stride, p.padding, size))
        plain = torch.ops.aten.max_pool2d_with_indices_backward(
            grad, x, _pair(p.kernel_size), _pair(p.stride), _pair(p.padding), _pair(p.dilation), p.ceil_mode, idx)
        if link_in is not None:
            link_in.plain = plain
        delta_in = x - x_ref
        return torch.where(delta_in.abs() < EPS, plain, unpooled / delta_in), None, None, None, None, None, None, None


def _pair(v: Any) -> list[int]:
    return list(v) if isinstance(v, (tuple, list)) else [int(v), int(v)]


def _expand(t: torch.Tensor, index: torch.Tensor | None, n: int, contiguous: bool = True) -> torch.Tensor:
    """Baseline rows laid out per input row (a broadcast view of a single row unless ``contiguous``)."""
    if index is not None:
        return t.index_select(0, index)
    if len(t) == n:
        return t
    view = t.expand(n, *t.shape[1:])
    return view.contiguous() if contiguous else view


def fast_deeplift(module: nn.Module, x: torch.Tensor, baselines: torch.Tensor, target: torch.Tensor,
                  baseline_index: torch.Tensor | None = None,
                  ruled: list[nn.Module] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """DeepLift (rescale) attributions and convergence deltas, equal to captum's ``DeepLift.attribute``.

    Trusts its inputs (shapes, targets); check the model with ``supports_fast_deeplift`` first.

    Args:
        module: an eval-mode model accepted by ``supports_fast_deeplift``.
        x: inputs (n, ...).
        baselines: distinct baseline rows (k, ...): k == n (one per row), k == 1 (broadcast), or any k with
            ``baseline_index``.
        target: class index per row, int64 (n,).
        baseline_index: baseline row of each input row (n,), or None.
        ruled: the model's ReLU / MaxPool modules when already known.

    Returns:
        ``(attributions like x, delta (n,))``; delta = sum(attr) - (f(x)[t] - f(x0)[t]) as captum returns it.

    Raises:
        _Unsupported: (private) the model does not fit the fast path; ``deeplift_rows`` turns it into None.
    """
    n = len(x)
    if ruled is None:
        ruled = _ruled(module)
        if ruled is None:
            raise _Unsupported
    ref_scores, refs = _baseline_pass(module, baselines, ruled)
    links: dict[int, tuple[torch.Tensor, _Link]] = {}  # id(rule output) -> (output, its link)

    def route(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> torch.Tensor:
        fed = links.get(id(inp[0]))
        link_in = fed[1] if fed is not None and fed[0] is inp[0] else None
        link_out = _Link()
        if isinstance(m, nn.ReLU):
            x_ref, y_ref = (_expand(t, baseline_index, n, contiguous=False) for t in refs[m])
            with torch.no_grad():
                mult, near = _relu_multiplier(inp[0], out, x_ref, y_ref)
            routed = _Rescale.apply(inp[0], out, mult, near, link_in, link_out)
        else:
            routed = _MaxPoolRule.apply(inp[0], out, *refs[m], m, link_in, link_out, baseline_index)
        links[id(routed)] = (routed, link_out)
        return routed

    hooks = [m.register_forward_hook(route) for m in ruled]
    try:
        with torch.enable_grad():
            xg = x.detach().requires_grad_()
            scores = module(xg).gather(1, target[:, None])[:, 0]
            (grad,) = torch.autograd.grad(scores.sum(), xg)
    finally:
        for h in hooks:
            h.remove()
    attr = (x - _expand(baselines, baseline_index, n, contiguous=False)) * grad
    ref = _expand(ref_scores, baseline_index, n, contiguous=False).gather(1, target[:, None])[:, 0]
    delta = attr.reshape(n, -1).sum(1) - (scores.detach() - ref)
    return attr.detach(), delta.detach()


def deeplift_rows(module: nn.Module, x: torch.Tensor, baselines: torch.Tensor, target: torch.Tensor,
                  chunk: int) -> torch.Tensor | None:
    """``fast_deeplift`` over chunks of ``chunk`` rows, one baseline row per input row (``baselines`` like ``x``).

    A baseline whose rows are all equal runs once (one row), as captum's broadcast baseline would.

    Returns:
        Attributions like ``x``, or None when the model does not fit the fast path (use captum).
    """
    ruled = _ruled(module)
    if ruled is None:
        return None
    one = bool(torch.equal(baselines, baselines[:1].expand_as(baselines)))
    step = max(1, chunk)
    out = []
    try:
        for start in range(0, len(x), step):
            sl = slice(start, start + step)
            out.append(fast_deeplift(module, x[sl], baselines[:1] if one else baselines[sl], target[sl],
                                     ruled=ruled)[0])
    except _Unsupported:
        return None
    return torch.cat(out)


def deeplift_shap_rows(module: nn.Module, x: torch.Tensor, background: torch.Tensor, target: torch.Tensor,
                       chunk: int) -> torch.Tensor | None:
    """captum ``DeepLiftShap``: DeepLift of every (row, background row) pair, averaged over the background.

    Pairs are laid out as captum does (inputs ``repeat_interleave``, background ``repeat``); the background runs
    once per chunk.

    Returns:
        Attributions like ``x``, or None when the model does not fit the fast path (use captum).
    """
    ruled = _ruled(module)
    if ruled is None:
        return None
    m = len(background)
    step = max(1, chunk)
    out = []
    try:
        for start in range(0, len(x), step):
            rows = x[start:start + step]
            k = len(rows)
            index = torch.arange(m, device=x.device).repeat(k)
            tgt = target[start:start + k].repeat_interleave(m)
            attr, _ = fast_deeplift(module, rows.repeat_interleave(m, dim=0), background, tgt, index, ruled)
            out.append(attr.view(k, m, *attr.shape[1:]).mean(dim=1))
    except _Unsupported:
        return None
    return torch.cat(out)
