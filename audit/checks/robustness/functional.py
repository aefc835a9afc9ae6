"""Validated FGSM and PGD: the public, functional face of the attacks.

``engine="fast"`` runs the hand-batched implementation (``_fast_pgd``); ``engine="captum"`` runs
``captum.robust.FGSM`` / ``PGD`` with the same loss, bounds and mask. Both give the same adversarial examples
(random start disabled); captum stays the oracle in the tests.

Example:
    >>> net = torch.nn.Linear(3, 2).eval()
    >>> x, y = torch.zeros(4, 3), torch.tensor([0, 1, 0, 1])
    >>> adv = pgd(net, x, y, 0.1, norm="Linf", steps=10)
    >>> float((adv - x).abs().max()) <= 0.1 + 1e-6
    True
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from captum.robust import FGSM, PGD
from torch import Tensor, nn

from audit.adapters import ModelAdapter
from audit.checks._common import require_float, require_int
from audit.checks.robustness._fast_pgd import LOSSES, fast_fgsm, fast_pgd, loss_function
from audit.errors import InvalidInputError, InvalidTypeError, UnknownNameError, describe_value

__all__ = ["NORMS", "ENGINES", "fgsm", "pgd", "check_budget", "check_norm", "default_step_size", "forward_of"]

Norm = Literal["Linf", "L2"]
NORMS: tuple[str, ...] = ("Linf", "L2")
ENGINES: tuple[str, ...] = ("fast", "captum")


def check_budget(value: Any, name: str = "epsilon") -> float:
    """``value`` as a float budget > 0.

    Raises:
        InvalidInputError: not a finite number > 0 (the message names ``name`` and the value).
    """
    return require_float(None, name, value, 0, min_inclusive=False)


def check_norm(value: Any, name: str = "norm") -> str:
    """``value`` if it names a supported norm.

    Raises:
        UnknownNameError: not one of ``NORMS``.
    """
    if not isinstance(value, str) or value not in NORMS:
        raise UnknownNameError(f"The {name!r} argument must be one of {list(NORMS)}. Got {describe_value(value)} instead.")
    return value


def _check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise UnknownNameError(f"The {name!r} argument must be one of {list(choices)}. Got {describe_value(value)} instead.")
    return value


def default_step_size(radius: float, steps: int, norm: str, n_active: int, scale: float = 2.5) -> float:
    """``scale * radius / steps`` (Madry et al.); for "L2" divided by ``sqrt(n_active)`` so that one signed step of
    ``n_active`` moving values has L2 length ``scale * radius / steps``."""
    step = scale * radius / steps
    return step / math.sqrt(max(1, n_active)) if norm == "L2" else step


def forward_of(model: Any) -> Callable[..., Tensor]:
    """The differentiable forward of ``model`` (an ``nn.Module``, a ``ModelAdapter`` with gradients).

    Raises:
        InvalidInputError: an adapter without gradients (a black box).
        InvalidTypeError: anything else.
    """
    if isinstance(model, ModelAdapter):
        return model.score_module(as_proba=False)  # raises for black boxes, naming the reason
    if isinstance(model, nn.Module):
        return model
    raise InvalidTypeError(
        "The 'model' argument must be a torch.nn.Module or a ModelAdapter with gradients (attacks need gradients). "
        f"Got {type(model).__name__} instead."
    )


def _tensor(value: Any, name: str, like: Tensor | None = None) -> Tensor | None:
    if value is None:
        return None
    if not isinstance(value, Tensor):
        try:
            value = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise InvalidTypeError(f"The {name!r} argument must be a tensor or array. Got {type(value).__name__}.") from exc
    if like is not None:
        value = value.to(device=like.device, dtype=like.dtype)
    return value


def _prepare(x: Any, target: Any, lower: Any, upper: Any, mask: Any, loss: str, engine: str) -> tuple[Tensor, ...]:
    _check_choice(loss, "loss", LOSSES)
    _check_choice(engine, "engine", ENGINES)
    xt = _tensor(x, "x")
    if xt is None or not xt.is_floating_point():
        raise InvalidInputError(f"The 'x' argument must be a float tensor. Got {describe_value(x, 40)} instead.")
    tt = _tensor(target, "target")
    if tt is None or tt.shape[:1] != xt.shape[:1]:
        raise InvalidInputError(
            f"The 'target' argument must have one entry per row of 'x' ({xt.shape[0]}). Got {describe_value(target, 40)}."
        )
    tt = tt.to(xt.device).long() if loss != "mse" else tt.to(device=xt.device, dtype=xt.dtype)
    lo, hi, m = _tensor(lower, "lower", xt), _tensor(upper, "upper", xt), _tensor(mask, "mask", xt)
    return xt, tt, lo, hi, m


def fgsm(
    model: Any,
    x: Any,
    target: Any,
    epsilon: float,
    *,
    lower: Any = None,
    upper: Any = None,
    mask: Any = None,
    loss: str = "ce",
    targeted: bool = False,
    engine: str = "fast",
    extra: Sequence[Tensor] = (),
) -> Tensor:
    """Fast Gradient Sign Method: ``x + epsilon * sign(grad of the loss)`` on the unmasked values, within bounds.

    Args:
        model: an ``nn.Module`` (eval mode) returning logits (n, k) or regression outputs, or a ``ModelAdapter``.
        x: float inputs (n, ...).
        target: true classes (n,) for "ce" and "margin", regression targets for ``loss="mse"``.
        epsilon: the L-infinity budget, > 0, in the inputs' units.
        lower, upper: bounds broadcastable to ``x`` (None: unbounded).
        mask: 1 where a value may move, 0 where frozen, broadcastable to ``x``.
        loss: "ce" (cross-entropy of logits), "margin" (best other logit minus the true one; does not saturate on
            confident rows) or "mse" (squared error: regression).
        targeted: move towards ``target`` instead of away from it.
        engine: "fast" or "captum".
        extra: further forward inputs that are not perturbed.

    Returns:
        The adversarial inputs.

    Raises:
        InvalidInputError: ``epsilon`` <= 0, mismatched shapes, or a black-box adapter.
        UnknownNameError: unknown ``loss`` or ``engine``.
    """
    eps = check_budget(epsilon, "epsilon")
    forward = forward_of(model)
    xt, tt, lo, hi, m = _prepare(x, target, lower, upper, mask, loss, engine)
    if engine == "fast":
        return fast_fgsm(forward, xt, tt, eps, lower=lo, upper=hi, mask=m, loss=loss, targeted=targeted, extra=extra)
    return _captum_attack(FGSM, forward, loss, lo, hi, m, extra, xt, eps, tt, targeted=targeted)


def pgd(
    model: Any,
    x: Any,
    target: Any,
    radius: float,
    *,
    norm: str = "Linf",
    steps: int = 20,
    step_size: float | None = None,
    step_scale: float = 2.5,
    lower: Any = None,
    upper: Any = None,
    mask: Any = None,
    loss: str = "ce",
    targeted: bool = False,
    engine: str = "fast",
    extra: Sequence[Tensor] = (),
) -> Tensor:
    """Projected Gradient Descent (captum's semantics: signed steps, projection onto the ``norm`` ball, bounds).

    Args:
        model, x, target, lower, upper, mask, loss, targeted, engine, extra: as in ``fgsm``.
        radius: the budget, > 0: the largest ``norm`` of ``adv - x`` per row.
        norm: "Linf" or "L2".
        steps: iterations (>= 1).
        step_size: the signed step; default ``default_step_size(radius, steps, norm, moving values, step_scale)``.
        step_scale: multiplier of the default step size.

    Returns:
        The adversarial inputs, within ``radius`` of ``x`` and within the bounds.

    Raises:
        InvalidInputError: a budget <= 0, ``steps`` < 1, mismatched shapes, or a black-box adapter.
        UnknownNameError: unknown ``norm``, ``loss`` or ``engine``.
    """
    r = check_budget(radius, "radius")
    check_norm(norm)
    n_steps = require_int(None, "steps", steps, 1)
    forward = forward_of(model)
    xt, tt, lo, hi, m = _prepare(x, target, lower, upper, mask, loss, engine)
    if step_size is None:
        active = int(xt[0].numel()) if m is None else int(m.expand_as(xt)[0].count_nonzero())
        alpha = default_step_size(r, n_steps, norm, active, check_budget(step_scale, "step_scale"))
    else:
        alpha = check_budget(step_size, "step_size")
    if engine == "fast":
        return fast_pgd(forward, xt, tt, r, alpha, n_steps, norm=norm, lower=lo, upper=hi, mask=m, loss=loss,
                        targeted=targeted, extra=extra)
    return _captum_attack(PGD, forward, loss, lo, hi, m, extra, xt, r, alpha, n_steps, tt, targeted=targeted,
                          random_start=False, norm=norm)


def _captum_attack(attack: type[FGSM] | type[PGD], forward: Callable[..., Tensor], loss: str, lower: Tensor | None,
                   upper: Tensor | None, mask: Tensor | None, extra: Sequence[Tensor], x: Tensor, *args: Any,
                   **kwargs: Any) -> Tensor:
    """``attack(forward, loss, lower, upper).perturb(x, *args, **kwargs)`` with the mask expanded to ``x``, the extra
    forward inputs passed through and captum's warning that it set ``requires_grad`` on the inputs muted."""
    bounds = (float("-inf") if lower is None else lower, float("inf") if upper is None else upper)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = attack(forward, loss_function(loss), *bounds).perturb(
            x, *args, additional_forward_args=tuple(extra) if extra else None,
            mask=None if mask is None else mask.expand_as(x), **kwargs)
    return out.detach()
