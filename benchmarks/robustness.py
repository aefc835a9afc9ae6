"""PGD on the Adult MLP: deepaudit's fast path against a hand-batched floor and against captum.robust's PGD.

Target: fast PGD (20 steps) <= 1.3x the floor, producing the same adversarial examples as captum's PGD on the same
inputs (max |fast - captum| <= 1e-5). The floor is the least a batched PGD does per step: one forward and one backward
of the summed per-row loss, a signed step on the movable columns, the projection onto the ball and the clamp to the
observed range. Measured for L-inf and L2 with cross-entropy, and L-inf with the margin loss (the check's default).

Run: ``python -m benchmarks.robustness [--quick] [--rows N] [--steps 20] [--device cpu|cuda|auto] [--json PATH]``.
Prints one JSON row per measurement (collected by ``python -m benchmarks``) and a readable summary.
"""
from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from captum.robust import PGD

from audit.checks.robustness._fast_pgd import fast_pgd, loss_function, row_loss
from audit.checks.robustness._space import input_space, row_bounds
from audit.checks.robustness.functional import default_step_size
from benchmarks._common import emit, one_thread, row
from models import load_dataset, resolve_device, train_model

TARGET = 1.3
TOLERANCE = 1e-5


def floor_pgd(forward: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, radius: float, step: float, steps: int,
              norm: str, loss: str, mask: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """The minimal hand-batched PGD."""
    current = x
    for _ in range(steps):
        current = current.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(row_loss(forward(current), y, loss).sum(), current)
        with torch.no_grad():
            diff = current + step * grad.sign() * mask - x
            diff = diff.clamp(-radius, radius) if norm == "Linf" else torch.renorm(diff, 2, 0, radius)
            current = torch.clamp(x + diff, lower, upper)
    return current.detach()


def _best(fn: Callable[[], torch.Tensor], repeats: int, device: torch.device) -> tuple[float, torch.Tensor]:
    """Best wall time of ``repeats`` calls after one warm-up (CUDA synchronised)."""
    out = fn()
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


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--json", type=Path, default=None, help="write the rows here as JSON")
    parser.add_argument("--rows", type=int, default=None, help="attacked test rows (default 5000; quick 1000)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5; quick 3)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    return parser.parse_args()


def main() -> None:
    args = _args()
    one_thread()
    torch.manual_seed(0)
    device = resolve_device(args.device)
    n_rows = args.rows or (1000 if args.quick else 5000)
    repeats = args.repeats or (3 if args.quick else 5)
    ds = load_dataset("adult", max_rows=8000 if args.quick else None)
    tm = train_model("mlp", ds, seed=0, device=device, epochs=2 if args.quick else 5, progress=False)
    net = tm.module.to(device).eval()
    space = input_space(ds, list(ds.sensitive_features))
    x_np = np.asarray(ds.test.x[:n_rows], dtype=np.float32)
    lo_np, hi_np = row_bounds(x_np, space.lower, space.upper)
    x = torch.as_tensor(x_np, device=device)
    y = torch.as_tensor(np.asarray(ds.test.y[:n_rows]), device=device).long()
    lower, upper = torch.as_tensor(lo_np, device=device), torch.as_tensor(hi_np, device=device)
    mask = torch.as_tensor(space.mask, device=device).expand_as(x).contiguous()
    n_active = int(space.mask.sum())
    rows, lines = [], []
    for norm, loss, radius in (("Linf", "ce", 0.1), ("L2", "ce", 0.25), ("Linf", "margin", 0.1)):
        step = default_step_size(radius, args.steps, norm, n_active)
        common = (radius, step, args.steps)
        t_floor, _ = _best(lambda: floor_pgd(net, x, y, *common, norm, loss, mask, lower, upper), repeats, device)
        t_fast, adv_fast = _best(lambda: fast_pgd(net, x, y, *common, norm=norm, lower=lower, upper=upper, mask=mask,
                                                  loss=loss), repeats, device)
        attack = PGD(net, loss_function(loss), lower, upper)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            t_captum, adv_captum = _best(lambda: attack.perturb(x, *common, y, norm=norm, mask=mask), repeats, device)
        diff = float((adv_fast - adv_captum).abs().max())
        with torch.no_grad():
            flipped = float((net(adv_fast).argmax(1) != y).float().mean())
        method = f"pgd{args.steps}_{norm.lower()}_{loss}"
        rows.append(row("robustness", method, t_fast, t_captum, t_floor, target=f"ours/floor <= {TARGET}",
                        max_abs_diff_vs_captum=diff, same_as_captum=diff <= TOLERANCE, captum_over_floor=round(
                            t_captum / t_floor, 3), misclassified_after=round(flipped, 4), rows=int(len(x)),
                        device=str(device), met=(t_fast / t_floor <= TARGET and diff <= TOLERANCE)))
        lines.append(f"{method:22s} floor {1000 * t_floor:8.1f} ms | fast {1000 * t_fast:8.1f} ms "
                     f"({t_fast / t_floor:.2f}x floor, target <= {TARGET}x) | captum {1000 * t_captum:8.1f} ms "
                     f"({t_captum / t_floor:.2f}x floor) | max |fast - captum| {diff:.1e} | flipped {flipped:.3f}")
    emit(rows, args.json)
    print(f"Adult MLP, {len(x)} rows x {x.shape[1]} columns ({n_active} movable), device {device}, best of {repeats}")
    for line in lines:
        print(line)
    print("target met" if all(r["met"] for r in rows) else "target MISSED")


if __name__ == "__main__":
    main()
