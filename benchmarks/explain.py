"""Benchmark: deepaudit's explanation paths against hand-batched floors and the libraries' own calls.

Models: the Adult MLP (``--rows`` test rows, default 1,000) and the MNIST CNN (``--cnn-rows`` images), one torch
thread. Each floor does the same forward/backward passes (or model evaluations) in large batches with nothing else:

- gradient methods (IG 50 steps, Saliency, DeepLift, GradientShap): target <= 1.5x the floor;
- gradient / DeepLIFT SHAP for torch models (shap GradientExplainer / DeepExplainer estimators): <= 3x the floor;
- Kernel SHAP: <= 1.5x its floor (the model evaluations of the same coalitions x background rows);
- LIME tabular: >= 10x faster than lime's own loop at the same num_samples.

Slow library calls run on fewer rows and are scaled to the full row count (``library_rows`` says how many).
Run: ``python -m benchmarks.explain [--quick] [--json out.json]``; one JSON row per line (see ``_common.row``).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from captum.attr import DeepLift, GradientShap, IntegratedGradients, Saliency
from captum.attr._utils.approximation_methods import approximation_parameters

from benchmarks._common import best_time as _best_time
from benchmarks._common import emit, one_thread, row
from audit.checks.explain import captum_, lime_, shap_
from audit.checks.explain._fast_deeplift import supports_fast_deeplift
from audit.checks.explain._fast_gradients import chunk_rows
from models import load_dataset, train_model

TARGETS = {"gradient": 1.5, "shap": 3.0, "kernel": 1.5, "lime_speedup": 10.0}


def best_time(fn: Callable[[], Any], repeat: int) -> float:
    """Best of ``repeat`` timed calls after one untimed warm-up call."""
    fn()
    return _best_time(fn, repeat)


def _grad_floor(net: torch.nn.Module, points: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """One forward and one backward of the summed target scores over a large batch."""
    points = points.detach().requires_grad_()
    (grad,) = torch.autograd.grad(net(points).gather(1, target[:, None]).sum(), points)
    return grad


def _scaled(fn: Callable[[int], Any], rows: int, total: int, repeat: int) -> float:
    return best_time(lambda: fn(rows), repeat) * total / rows


def gradient_rows(name: str, net: torch.nn.Module, x: np.ndarray, bg: np.ndarray, steps: int, samples: int,
                  repeat: int, lib_rows: int) -> list[dict[str, Any]]:
    """IG, Saliency, DeepLift, GradientShap, GradientExplainer and DeepExplainer estimators on one model."""
    n = len(x)
    xt = torch.as_tensor(x)
    with torch.no_grad():
        t_np = net(xt).argmax(1).numpy()
    tt = torch.as_tensor(t_np)
    base = np.zeros(x.shape[1:], dtype=np.float32)
    bt = torch.zeros_like(xt)
    bgt = torch.as_tensor(bg)
    out: list[dict[str, Any]] = []

    def floor_batches(repeats: int, build: Callable[[slice], torch.Tensor]) -> Callable[[], None]:
        size = chunk_rows(net, xt, repeats)

        def run() -> None:
            for start in range(0, n, size):
                sl = slice(start, min(n, start + size))
                _grad_floor(net, build(sl), tt[sl].repeat_interleave(repeats) if repeats > 1 else tt[sl])
        return run

    _, alphas = approximation_parameters("gausslegendre")
    alpha = torch.tensor(alphas(steps), dtype=torch.float32)

    def ig_points(sl: slice) -> torch.Tensor:
        diff = (xt[sl] - bt[sl])
        return (bt[sl][:, None] + alpha.view(1, -1, *([1] * (x.ndim - 1))) * diff[:, None]).flatten(0, 1)

    lib_ig = IntegratedGradients(net)
    floor = best_time(floor_batches(steps, ig_points), repeat)
    ours = best_time(lambda: captum_.integrated_gradients(net, x, t_np, baseline=base, n_steps=steps), repeat)
    lib = _scaled(lambda r: lib_ig.attribute(xt[:r], baselines=bt[:r], target=tt[:r], n_steps=steps,
                                             internal_batch_size=chunk_rows(net, xt, steps) * steps), lib_rows, n, repeat)
    out.append(row(name, f"IntegratedGradients ({steps} steps)", ours, lib, floor, f"<= {TARGETS['gradient']}x floor",
                   library_rows=lib_rows))

    floor = best_time(floor_batches(1, lambda sl: xt[sl]), repeat)
    ours = best_time(lambda: captum_.saliency(net, x, t_np), repeat)
    lib = best_time(lambda: Saliency(net).attribute(xt, target=tt), repeat)
    out.append(row(name, "Saliency", ours, lib, floor, f"<= {TARGETS['gradient']}x floor", library_rows=n))

    floor = best_time(floor_batches(2, lambda sl: torch.cat([xt[sl], bt[sl]])), repeat)
    ours = best_time(lambda: captum_.deeplift(net, x, t_np, baseline=base), repeat)
    lib = best_time(lambda: DeepLift(net).attribute(xt, baselines=bt, target=tt), repeat)
    out.append(row(name, "DeepLift", ours, lib, floor, f"<= {TARGETS['gradient']}x floor", library_rows=n,
                   note="vectorised rescale rule" if supports_fast_deeplift(net, xt) else "captum fallback"))

    gen = torch.Generator().manual_seed(0)

    def shap_points(sl: slice) -> torch.Tensor:
        k = sl.stop - sl.start
        refs = bgt[torch.randint(0, len(bgt), (k * samples,), generator=gen)]
        a = torch.rand(k * samples, generator=gen).view(-1, *([1] * (x.ndim - 1)))
        return refs + a * (xt[sl].repeat_interleave(samples, 0) - refs)

    floor = best_time(floor_batches(samples, shap_points), repeat)
    ours = best_time(lambda: captum_.gradient_shap(net, x, t_np, background=bg, n_samples=samples), repeat)
    lib = _scaled(lambda r: GradientShap(net).attribute(xt[:r], baselines=bgt, target=tt[:r], n_samples=samples),
                  lib_rows, n, repeat)
    out.append(row(name, f"GradientShap ({samples} samples)", ours, lib, floor, f"<= {TARGETS['gradient']}x floor",
                   library_rows=lib_rows))

    ours = best_time(lambda: shap_.shap_gradient(net, x, t_np, background=bg, n_samples=samples), repeat)
    few = max(2, lib_rows // 10)
    lib = _scaled(lambda r: shap_.shap_gradient_reference(net, x[:r], t_np[:r], background=bg, n_samples=samples),
                  few, n, 1)
    out.append(row(name, f"shap GradientExplainer estimator ({samples} samples)", ours, lib, floor,
                   f"<= {TARGETS['shap']}x floor", library_rows=few))

    m = len(bg)
    floor = best_time(floor_batches(2 * m, lambda sl: torch.cat([xt[sl].repeat_interleave(m, 0),
                                                                  bgt.repeat(sl.stop - sl.start, *[1] * (x.ndim - 1))])),
                      repeat)
    ours = best_time(lambda: shap_.shap_deep(net, x, t_np, background=bg), repeat)
    lib = _scaled(lambda r: shap_.shap_deep_reference(net, x[:r], t_np[:r], background=bg), few, n, 1)
    out.append(row(name, f"shap DeepExplainer estimator ({m} background rows)", ours, lib, floor,
                   f"<= {TARGETS['shap']}x floor", library_rows=few))
    return out


def blackbox_rows(net: torch.nn.Module, ds: Any, n: int, kernel_samples: int, lime_samples: int,
                  repeat: int) -> list[dict[str, Any]]:
    """Kernel SHAP (vs its model-evaluation floor and shap) and LIME tabular (vs lime's loop)."""
    x = np.asarray(ds.test.x[:n], dtype=np.float32)
    groups = [list(g) for g in ds.feature_groups.values()]
    bg = np.asarray(ds.train.x[:10], dtype=np.float32)

    def f(a: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(net(torch.as_tensor(a, dtype=torch.float32)), 1).numpy()

    t = f(x).argmax(1)
    out = []
    masks, _ = shap_.kernel_coalitions(len(groups), kernel_samples, np.random.default_rng(0))
    per_row = len(masks) * len(bg)

    def kernel_floor() -> None:
        big = np.repeat(x, per_row, axis=0)  # the same number of model rows, evaluated in large batches
        for start in range(0, len(big), 65536):
            f(big[start:start + 65536])

    floor = best_time(kernel_floor, repeat)
    ours = best_time(lambda: shap_.kernel_shap(f, x, t, background=bg, groups=groups, n_samples=kernel_samples),
                     repeat)
    few = max(2, n // 50)
    lib = _scaled(lambda r: shap_.shap_kernel_reference(f, x[:r], t[:r], background=bg, n_samples=kernel_samples),
                  few, n, 1)
    out.append(row("adult-mlp", f"Kernel SHAP ({kernel_samples} coalitions x {len(bg)} background)", ours, lib,
                   floor, f"<= {TARGETS['kernel']}x floor", library_rows=few,
                   note="ours over original features (groups); shap's over encoded columns"))
    train = np.asarray(ds.train.x[:2000], dtype=np.float32)
    cont = set(ds.continuous_features)
    continuous = [name in cont for name in ds.feature_groups]
    ours = best_time(lambda: lime_.lime_tabular_fast(f, x, t, train=train, groups=groups, continuous=continuous,
                                                     n_samples=lime_samples), repeat)
    cat_cols = [j for g, c in zip(groups, continuous) if not c for j in g]
    lib = _scaled(lambda r: lime_.lime_tabular(f, x[:r], t[:r], train=train, categorical_columns=cat_cols,
                                               n_samples=lime_samples), few, n, 1)
    out.append(row("adult-mlp", f"LIME tabular ({lime_samples} samples)", ours, lib, None,
                   f">= {TARGETS['lime_speedup']}x faster than lime", library_rows=few))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000, help="Adult test rows explained")
    parser.add_argument("--cnn-rows", type=int, default=100, help="MNIST images explained")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--samples", type=int, default=20, help="GradientShap / GradientExplainer draws per row")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    one_thread()
    warnings.filterwarnings("ignore")
    if args.quick:
        args.rows, args.cnn_rows, args.repeat = 200, 20, 1
    torch.manual_seed(0)
    adult = load_dataset("adult", max_rows=max(6000, 3 * args.rows))
    mlp = train_model("mlp", adult, seed=0, device="cpu", epochs=1, progress=False).module.eval()
    x = np.asarray(adult.test.x[: args.rows], dtype=np.float32)
    bg = np.asarray(adult.train.x[:50], dtype=np.float32)
    rows = gradient_rows("adult-mlp", mlp, x, bg, args.steps, args.samples, args.repeat, min(200, len(x)))
    rows += blackbox_rows(mlp, adult, len(x), 256, 1000, args.repeat)
    mnist = load_dataset("mnist", max_rows=max(1500, 3 * args.cnn_rows))
    cnn = train_model("cnn", mnist, seed=0, device="cpu", epochs=1, progress=False).module.eval()
    xi = np.asarray(mnist.test.x[: args.cnn_rows], dtype=np.float32)
    rows += gradient_rows("mnist-cnn", cnn, xi, np.asarray(mnist.train.x[:10], dtype=np.float32), args.steps,
                          args.samples, args.repeat, min(20, len(xi)))
    for r in rows:
        r["meets_target"] = _meets(r)
    emit(rows, None if args.json is None else Path(args.json))
    return 0


def _meets(r: dict[str, Any]) -> bool | None:
    if "LIME" in r["method"]:
        return r.get("speedup_vs_library", 0) >= TARGETS["lime_speedup"]
    ratio = r.get("ours_over_floor")
    if ratio is None:
        return None
    key = "kernel" if "Kernel" in r["method"] else "shap" if "shap " in r["method"] else "gradient"
    return ratio <= TARGETS[key]


if __name__ == "__main__":
    sys.exit(main())
