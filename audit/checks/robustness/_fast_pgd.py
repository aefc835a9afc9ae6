"""Hand-batched FGSM and PGD with exactly ``captum.robust``'s step, projection and clamp semantics.

captum's ``PGD.perturb`` runs, per step, an unbounded ``FGSM.perturb`` (format inputs, set gradient requirements, one
forward, one backward through ``torch.unbind`` of the per-row losses, ``torch.where(|g| > 1e-6, x + a * sign(g) *
mask, x)``) and then projects onto the ball around the original input (``clamp(diff, -r, r)`` for "Linf",
``torch.renorm(diff, 2, 0, r)`` for "L2") and clamps to the bounds again. This module does the same arithmetic in the
same order with one forward and one backward of the summed per-row loss over the whole batch per step (rows are
independent in eval mode, so the gradient of the sum is every row's own gradient), and nothing else: no per-call
formatting, logging or gradient-requirement bookkeeping.

Private: the functions trust their inputs (``audit.checks.robustness.attacks`` validates at the boundary).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ZERO_THRESH", "LOSSES", "row_loss", "loss_function", "fast_fgsm", "fast_pgd"]

ZERO_THRESH = 1e-6
"""captum's ``FGSM.zero_thresh``: gradient entries at or below this magnitude do not move."""

LOSSES: tuple[str, ...] = ("margin", "ce", "mse")


def row_loss(outputs: Tensor, target: Tensor, loss: str) -> Tensor:
    """Per-row loss (n,) that the attack increases.

    - "margin": best other logit minus the true logit (Carlini-Wagner). Its gradient does not vanish when the model
      is confident, so steep models cannot hide behind captum's zero-gradient threshold (1e-6) the way they do under
      cross-entropy, whose gradient ``softmax - onehot`` underflows on saturated rows.
    - "ce": cross-entropy of logits (``log_softmax`` inside, rather than captum's default ``-log(softmax)``, which
      underflows to ``log(0)`` and a NaN gradient on confident rows).
    - "mse": squared error of the first output column (regression).
    """
    if loss == "margin":
        true = outputs.gather(1, target.reshape(-1, 1)).squeeze(1)
        others = outputs.masked_fill(F.one_hot(target, outputs.shape[1]).bool(), float("-inf"))
        return others.amax(dim=1) - true
    if loss == "ce":
        return F.cross_entropy(outputs, target, reduction="none")
    return (outputs.reshape(outputs.shape[0], -1)[:, 0] - target) ** 2


def loss_function(loss: str) -> Callable[[Tensor, Tensor], Tensor]:
    """``loss_func(outputs, target) -> (n,)`` for captum's ``FGSM``/``PGD`` (the same loss as the fast path)."""
    return _LOSS_FUNCS[loss]


def _ce(outputs: Tensor, target: Tensor) -> Tensor:
    return row_loss(outputs, target, "ce")


def _mse(outputs: Tensor, target: Tensor) -> Tensor:
    return row_loss(outputs, target, "mse")


def _margin(outputs: Tensor, target: Tensor) -> Tensor:
    return row_loss(outputs, target, "margin")


_LOSS_FUNCS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"margin": _margin, "ce": _ce, "mse": _mse}


def _gradient(forward: Callable[..., Tensor], x: Tensor, target: Tensor, loss: str, extra: Sequence[Tensor]) -> Tensor:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        total = row_loss(forward(x, *extra), target, loss).sum()
        (grad,) = torch.autograd.grad(total, x)
    return grad


def _bound(x: Tensor, lower: Tensor | None, upper: Tensor | None) -> Tensor:
    if lower is None and upper is None:
        return x
    return torch.clamp(x, min=lower, max=upper)


def _scaled_mask(step: float, mask: Tensor | None) -> float | Tensor:
    """``step * mask`` once per attack (``step`` alone without a mask)."""
    return step if mask is None else step * mask


def _sign_step(x: Tensor, grad: Tensor, scaled_mask: float | Tensor) -> Tensor:
    """captum's ``torch.where(|g| > 1e-6, x + step * sign(g) * mask, x)`` in fewer passes over memory.

    ``hardshrink(g, 1e-6)`` is ``g`` where ``|g| > 1e-6`` and 0 elsewhere, so its sign is captum's sign where the
    condition holds and 0 (the row stays) where it does not; ``sign * (step * mask)`` equals ``(step * sign) * mask``
    exactly because ``sign`` and ``mask`` are 0 or +-1; ``x + 0`` is ``x``. (Only a NaN gradient differs: captum keeps
    ``x``, this gives NaN.)
    """
    return x + torch.sign(F.hardshrink(grad, ZERO_THRESH)) * scaled_mask


def fast_fgsm(
    forward: Callable[..., Tensor],
    x: Tensor,
    target: Tensor,
    epsilon: float,
    *,
    lower: Tensor | None = None,
    upper: Tensor | None = None,
    mask: Tensor | None = None,
    loss: str = "ce",
    targeted: bool = False,
    extra: Sequence[Tensor] = (),
) -> Tensor:
    """One signed-gradient step, as ``captum.robust.FGSM(forward, loss_func, lower, upper).perturb``.

    Args:
        forward: the differentiable model, called as ``forward(x, *extra)``; in eval mode.
        x: inputs (n, ...), float.
        target: class indices (n,) for "ce", regression targets (n,) for "mse".
        epsilon: the step (= the L-infinity budget).
        lower, upper: bounds broadcastable to ``x`` (None: unbounded).
        mask: 1 where a value may move, 0 where it is frozen, broadcastable to ``x`` (None: all move).
        loss: "ce" or "mse" (see ``row_loss``).
        targeted: step down the loss of ``target`` instead of up.
        extra: further inputs passed to ``forward`` unchanged (e.g. token ids).

    Returns:
        The perturbed inputs (detached).
    """
    grad = _gradient(forward, x, target, loss, extra)
    with torch.no_grad():
        return _bound(_sign_step(x.detach(), grad, _scaled_mask(-epsilon if targeted else epsilon, mask)), lower, upper)


def fast_pgd(
    forward: Callable[..., Tensor],
    x: Tensor,
    target: Tensor,
    radius: float,
    step_size: float,
    step_num: int,
    *,
    norm: str = "Linf",
    lower: Tensor | None = None,
    upper: Tensor | None = None,
    mask: Tensor | None = None,
    loss: str = "ce",
    targeted: bool = False,
    extra: Sequence[Tensor] = (),
) -> Tensor:
    """Projected gradient descent, as ``captum.robust.PGD(...).perturb(..., random_start=False)``.

    Args:
        forward, x, target, lower, upper, mask, loss, targeted, extra: as in ``fast_fgsm``.
        radius: the budget (radius of the ball around ``x`` in ``norm``).
        step_size: the signed step of each iteration.
        step_num: iterations.
        norm: "Linf" (clamp the difference) or "L2" (``torch.renorm`` of each row's difference).

    Returns:
        The perturbed inputs (detached), within ``radius`` of ``x`` and within the bounds.
    """
    origin = x.detach()
    current = origin
    scaled_mask = _scaled_mask(-step_size if targeted else step_size, mask)
    for _ in range(step_num):
        grad = _gradient(forward, current, target, loss, extra)
        with torch.no_grad():
            diff = _sign_step(current, grad, scaled_mask) - origin  # captum's inner FGSM has no bounds
            if norm == "Linf":
                diff = torch.clamp(diff, -radius, radius)
            else:
                diff = torch.renorm(diff, 2, 0, radius)
            current = _bound(origin + diff, lower, upper)
    return current
