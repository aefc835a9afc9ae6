"""Benchmark: the fast PGD path against a hand-batched PGD floor and against captum.robust's PGD on the Adult MLP.

Target: fast PGD (20 steps) <= 1.3x the floor, with the same adversarial examples as captum's PGD on the same inputs.
The floor is the least a batched PGD can do per step: one forward and one backward of the summed per-row loss, a
signed step on the movable columns, the projection onto the L-infinity ball and the clamp to the observed range.

Run: ``python benchmarks/robustness.py [--rows 2000] [--steps 20] [--repeats 5] [--device auto|cpu|cuda]``.
Prints one line per path and the ratios; ``--strict`` exits 1 when the target is missed.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from captum.robust import PGD

from audit.checks.robustness._fast_pgd import fast_pgd, loss_function, row_loss
from audit.checks.robustness._space import input_space, row_bounds
from audit.checks.robustness.functional import default_step_size
from models import load_dataset, resolve_device, train_model

TARGET = 1.3


def floor_pgd(forward: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, radius: float, step: float, steps: int,
              mask: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor, loss: str) -> torch.Tensor:
    """The minimal hand-batched PGD (L-infinity)."""
    current = x
    for _ in range(steps):
        current = current.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(row_loss(forward(current), y, loss).sum(), current)
        with torch.no_grad():
            current = current + step * grad.sign() * mask
            current = torch.clamp(x + torch.clamp(current - x, -radius, radius), lower, upper)
    return current.detach()


def _time(fn: Callable[[], torch.Tensor], repeats: int, device: torch.device) -> tuple[float, torch.Tensor]:
    out = fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="attacked test rows")
    parser.add_argument("--train-rows", type=int, default=8000, help="rows of Adult loaded (train/val/test split)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--budget", type=float, default=0.1, help="L-inf budget in standard deviations")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loss", choices=["ce", "margin"], default="ce")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    device = resolve_device(args.device)
    ds = load_dataset("adult", max_rows=args.train_rows)
    tm = train_model("mlp", ds, seed=0, device=device, epochs=args.epochs, progress=False)
    net = tm.module.to(device).eval()
    space = input_space(ds, list(ds.sensitive_features))
    x_np = np.asarray(ds.test.x[: args.rows], dtype=np.float32)
    lo_np, hi_np = row_bounds(x_np, space.lower, space.upper)
    x = torch.as_tensor(x_np, device=device)
    y = torch.as_tensor(np.asarray(ds.test.y[: args.rows]), device=device).long()
    lower, upper = torch.as_tensor(lo_np, device=device), torch.as_tensor(hi_np, device=device)
    mask = torch.as_tensor(space.mask, device=device).expand_as(x).contiguous()
    step = default_step_size(args.budget, args.steps, "Linf", int(space.mask.sum()))
    common = (args.budget, step, args.steps)

    t_floor, _ = _time(lambda: floor_pgd(net, x, y, *common, mask, lower, upper, args.loss), args.repeats, device)
    t_fast, adv_fast = _time(lambda: fast_pgd(net, x, y, *common, norm="Linf", lower=lower, upper=upper, mask=mask,
                                              loss=args.loss), args.repeats, device)
    attack = PGD(net, loss_function(args.loss), lower, upper)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t_captum, adv_captum = _time(lambda: attack.perturb(x, *common, y, norm="Linf", mask=mask), args.repeats,
                                     device)
    diff = float((adv_fast - adv_captum).abs().max())
    flipped = float((net(adv_fast).argmax(1) != y).float().mean())
    print(f"Adult MLP, {len(x)} rows x {x.shape[1]} columns ({int(space.mask.sum())} movable), PGD L-inf "
          f"{args.budget:g} std, {args.steps} steps, loss={args.loss}, device={device}, best of {args.repeats}")
    print(f"floor  (hand-batched)  {1000 * t_floor:8.1f} ms   1.00x")
    print(f"fast   (deepaudit)     {1000 * t_fast:8.1f} ms   {t_fast / t_floor:.2f}x   target <= {TARGET}x")
    print(f"captum (captum.robust) {1000 * t_captum:8.1f} ms   {t_captum / t_floor:.2f}x")
    print(f"max |fast - captum| = {diff:.2e} (same adversarial examples: {diff <= 1e-5}); "
          f"rows misclassified after the attack: {flipped:.3f}")
    ok = t_fast / t_floor <= TARGET and diff <= 1e-5
    print("target met" if ok else "target MISSED")
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
