"""A small convolutional classifier for images (n, c, h, w) with h, w >= 8.

Conv -> [BatchNorm] -> ReLU -> MaxPool blocks, an adaptive average pool to a fixed grid, then an MLP head. Every
activation is its own module; ``features(x)`` returns the penultimate embedding (for FID-style metrics).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models._config import check_float, check_int, check_n_classes
from models.errors import InvalidInputError

__all__ = ["CNNConfig", "CNN"]


@dataclass(frozen=True)
class CNNConfig:
    """Shape of a :class:`CNN`.

    Example:
        >>> CNN(CNNConfig(in_channels=1, n_classes=10))(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    in_channels: int = 1  # image channels
    n_classes: int = 10  # logits per image; 0 -> regression with output (n,)
    channels: tuple[int, ...] = (32, 64)  # output channels of each conv block (each block halves h and w)
    kernel_size: int = 3  # odd conv kernel, 'same' padding
    pool_size: int = 3  # adaptive average pool grid (pool_size x pool_size) before the head
    hidden: int = 128  # width of the embedding returned by features()
    dropout: float = 0.25  # dropout before the output layer
    batch_norm: bool = False  # BatchNorm2d after each conv
    augment_shift: int = 0  # training only: shift each image by up to this many pixels (zero fill), 0 disables
    augment_flip: bool = False  # training only: mirror half of the images left-right (for mirror-symmetric classes)

    def __post_init__(self) -> None:
        check_int("CNNConfig", "in_channels", self.in_channels, 1)
        check_n_classes("CNNConfig", self.n_classes)
        if not self.channels:
            raise InvalidInputError("The 'channels' field of CNNConfig must hold at least one width. Got () instead.")
        for width in self.channels:
            check_int("CNNConfig", "channels", width, 1)
        check_int("CNNConfig", "kernel_size", self.kernel_size, 1)
        if self.kernel_size % 2 == 0:
            raise InvalidInputError(
                f"The 'kernel_size' field of CNNConfig must be an odd int >= 1. Got {self.kernel_size} instead."
            )
        check_int("CNNConfig", "pool_size", self.pool_size, 1)
        check_int("CNNConfig", "hidden", self.hidden, 1)
        check_float("CNNConfig", "dropout", self.dropout, 0.0, 1.0)
        check_int("CNNConfig", "augment_shift", self.augment_shift, 0)


class CNN(nn.Module):
    """Conv blocks -> adaptive pool -> Linear -> ReLU -> Dropout -> Linear.

    ``forward(x)`` takes float (n, c, h, w) and returns logits (n, n_classes), or (n,) for regression.
    """

    def __init__(self, config: CNNConfig) -> None:
        super().__init__()
        self.config = config
        blocks: list[nn.Module] = []
        width = config.in_channels
        for out_channels in config.channels:
            blocks.append(nn.Conv2d(width, out_channels, config.kernel_size, padding=config.kernel_size // 2))
            if config.batch_norm:
                blocks.append(nn.BatchNorm2d(out_channels))
            blocks.append(nn.ReLU())
            blocks.append(nn.MaxPool2d(2, ceil_mode=True))
            width = out_channels
        self.conv = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(config.pool_size)
        self.flatten = nn.Flatten()
        self.embed = nn.Sequential(
            nn.Linear(width * config.pool_size * config.pool_size, config.hidden),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, max(config.n_classes, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate embedding (n, hidden), after the last ReLU and before dropout."""
        return self.embed(self.flatten(self.pool(self.conv(x))))

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """Random shifts and flips of a batch (n, c, h, w) from torch's global RNG; ``x`` itself in eval mode."""
        if not self.training:
            return x
        n, _, h, w = x.shape
        if self.config.augment_flip:
            flip = torch.rand(n, device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        s = self.config.augment_shift
        if s > 0:
            padded = nn.functional.pad(x, (s, s, s, s))
            dy = torch.randint(0, 2 * s + 1, (n, 1), device=x.device)
            dx = torch.randint(0, 2 * s + 1, (n, 1), device=x.device)
            rows = (torch.arange(h, device=x.device) + dy)[:, None, :, None]  # (n, 1, h, 1)
            cols = (torch.arange(w, device=x.device) + dx)[:, None, None, :]  # (n, 1, 1, w)
            batch = torch.arange(n, device=x.device)[:, None, None, None]
            chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
            x = padded[batch, chans, rows, cols]
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.augment(x)
        out = self.head(self.dropout(self.features(x)))
        return out.squeeze(-1) if self.config.n_classes == 0 else out
