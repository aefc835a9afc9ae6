"""Training throughput (samples/s) per model family on small real data, one torch thread, on the CPU.

Each family trains a couple of epochs through ``train_model`` ("ours") and through a bare loop over the same module,
batches and optimiser ("floor": no validation, no early stopping, no progress bar), so ``ours_over_floor`` shows
the loop's overhead. Run: ``python -m benchmarks.train [--quick]``.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from benchmarks._common import emit, one_thread, parse_args, row
from models import load_dataset, train_model
from models.dataset import Dataset
from models.families import build_discriminator, build_module, config_for, train_settings

#: family -> (data set, rows, epochs)
RUNS: dict[str, tuple[str, int, int]] = {
    "mlp": ("adult", 4000, 2),
    "cnn": ("fashion_mnist", 2000, 2),
    "lstm": ("rotten_tomatoes", 2000, 2),
    "transformer": ("rotten_tomatoes", 2000, 2),
    "gan": ("mnist", 1000, 2),
}


def _floor_seconds(family: str, ds: Dataset, epochs: int) -> float:
    """A bare training loop over the same module, batches and optimiser as train_model uses."""
    settings = train_settings(family, ds.kind)
    torch.manual_seed(0)
    config = config_for(family, ds)
    module = build_module(family, config).train()
    x = torch.from_numpy(np.ascontiguousarray(ds.train.x, dtype=np.int64 if ds.kind == "text" else np.float32))
    y = torch.from_numpy(ds.train.y.astype(np.float32 if ds.task == "regression" else np.int64))
    t0 = time.perf_counter()
    if family == "gan":
        disc = build_discriminator(config).train()
        opt_g = torch.optim.Adam(module.parameters(), lr=settings.lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=settings.lr, betas=(0.5, 0.999))
        bce = nn.BCEWithLogitsLoss()
        for _ in range(epochs):
            for index in torch.randperm(len(y)).split(settings.batch_size):
                real, labels = x[index], y[index]
                fake = module(torch.randn(len(index), config.latent_dim), labels)
                real_logits, fake_logits = disc(real, labels), disc(fake.detach(), labels)
                d_loss = bce(real_logits, torch.ones_like(real_logits))
                d_loss = d_loss + bce(fake_logits, torch.zeros_like(fake_logits))
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
                gen_logits = disc(fake, labels)
                g_loss = bce(gen_logits, torch.ones_like(gen_logits))
                opt_g.zero_grad()
                g_loss.backward()
                opt_g.step()
        return time.perf_counter() - t0
    loss_fn = nn.MSELoss() if ds.task == "regression" else nn.CrossEntropyLoss()
    opt = torch.optim.AdamW(module.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    for _ in range(epochs):
        for index in torch.randperm(len(y)).split(settings.batch_size):
            opt.zero_grad()
            loss_fn(module(x[index]), y[index]).backward()
            opt.step()
    return time.perf_counter() - t0


def main() -> None:
    args = parse_args(__doc__ or "")
    one_thread()
    rows = []
    for family, (name, rows_wanted, epochs) in RUNS.items():
        ds = load_dataset(name, max_rows=rows_wanted // (2 if args.quick else 1), seed=0)
        train_model(family, ds, seed=0, device="cpu", epochs=1, progress=False)  # warm-up: first-call costs
        _floor_seconds(family, ds, 1)
        t0 = time.perf_counter()
        tm = train_model(family, ds, seed=0, device="cpu", epochs=epochs, progress=False)
        ours = time.perf_counter() - t0
        floor = _floor_seconds(family, ds, len(tm.history))
        samples = len(ds.train) * len(tm.history)
        rows.append(row("train", f"{family} on {name} ({len(ds.train)} rows x {len(tm.history)} epochs)", ours, None,
                        floor, target="ours_over_floor < 1.5 (validation passes included)",
                        samples_per_s=round(samples / ours, 1), floor_samples_per_s=round(samples / floor, 1)))
    emit(rows, args.json)


if __name__ == "__main__":
    main()
