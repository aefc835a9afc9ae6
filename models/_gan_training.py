"""The class-conditional GAN training loop (non-saturating BCE loss, Adam(0.5, 0.999)).

A copy of the generator's weights is kept at the end of every epoch so that mode coverage over training can be
audited later.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from models._train_loop import EpochCallback, to_device_data
from models.dataset import Split
from models.device import autocast
from models.families import TrainSettings
from models.gan import Discriminator, Generator

__all__ = ["GANResult", "fit_gan"]

_REAL_TARGET = 0.9  # one-sided label smoothing for real images


@dataclass
class GANResult:
    """History and generator snapshots of one GAN run."""

    history: list[dict[str, Any]]
    snapshots: list[dict[str, torch.Tensor]]
    stop_reason: str  # "epochs" | "time_budget"


def fit_gan(
    generator: Generator,
    discriminator: Discriminator,
    train: Split,
    *,
    settings: TrainSettings,
    device: torch.device,
    seed: int,
    max_seconds: float | None,
    progress: bool,
    on_epoch: EpochCallback | None,
    desc: str,
) -> GANResult:
    """Train ``generator`` and ``discriminator`` in place (both already on ``device``) on ``train``'s images.

    The caller seeds torch's global RNG (noise); shuffling uses its own generator seeded with ``seed``.
    """
    data = to_device_data(train, "image", "multiclass", device)
    betas = (0.5, 0.999)
    opt_g = torch.optim.Adam(generator.parameters(), lr=settings.lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=settings.lr, betas=betas)
    bce = nn.BCEWithLogitsLoss()
    shuffle = torch.Generator().manual_seed(int(seed))
    latent = generator.config.latent_dim
    history: list[dict[str, Any]] = []
    snapshots: list[dict[str, torch.Tensor]] = []
    stop_reason = "epochs"
    started = time.perf_counter()
    bar = tqdm(total=settings.epochs, desc=desc, disable=not progress, leave=False, unit="epoch")
    try:
        for epoch in range(1, settings.epochs + 1):
            epoch_start = time.perf_counter()
            generator.train()
            discriminator.train()
            order = torch.randperm(len(data), generator=shuffle)
            # summed on the device (no synchronisation per step): d_loss, g_loss, mean D(real), mean D(fake)
            sums = torch.zeros(4, dtype=torch.float64, device=device)
            seen = 0
            for start in range(0, len(data), settings.batch_size):
                index = order[start : start + settings.batch_size]
                if len(index) < 2:  # BatchNorm needs two rows
                    continue
                real, labels = data.batch(index)
                n = real.shape[0]
                z = torch.randn(n, latent, device=device)
                with autocast(device):
                    fake = generator(z, labels)
                    real_logits = discriminator(real, labels).float()
                    fake_logits = discriminator(fake.detach(), labels).float()
                d_loss = bce(real_logits, torch.full_like(real_logits, _REAL_TARGET)) + bce(
                    fake_logits, torch.zeros_like(fake_logits)
                )
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                with autocast(device):
                    gen_logits = discriminator(fake, labels).float()
                g_loss = bce(gen_logits, torch.ones_like(gen_logits))
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                sums += torch.stack([
                    d_loss.detach() * n,
                    g_loss.detach() * n,
                    torch.sigmoid(real_logits.detach()).sum(),
                    torch.sigmoid(fake_logits.detach()).sum(),
                ]).double()
                seen += n
                if max_seconds is not None and time.perf_counter() - started > max_seconds:
                    stop_reason = "time_budget"
                    break
            means = (sums / max(seen, 1)).tolist()
            record: dict[str, Any] = {"epoch": epoch, **dict(zip(("d_loss", "g_loss", "d_real", "d_fake"), means))}
            record["seconds"] = time.perf_counter() - epoch_start
            history.append(record)
            snapshots.append({key: value.detach().to("cpu").clone() for key, value in generator.state_dict().items()})
            bar.update(1)
            bar.set_postfix(d_loss=round(record["d_loss"], 4), g_loss=round(record["g_loss"], 4))
            if on_epoch is not None:
                on_epoch(dict(record, epochs=settings.epochs))
            if stop_reason == "time_budget":
                break
    finally:
        bar.close()
    generator.eval()
    discriminator.eval()
    return GANResult(history=history, snapshots=snapshots, stop_reason=stop_reason)
