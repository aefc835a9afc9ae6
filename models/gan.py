"""A small class-conditional DCGAN: generator (z, labels) -> images in [0, 1], discriminator (images, labels) ->
one real/fake logit per image.

Images are (n, channels, image_size, image_size) with ``image_size`` a multiple of 4 (28 for MNIST-like data,
8 for sklearn digits). Every activation is its own module.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models._config import check_int
from models.errors import InvalidInputError

__all__ = ["GANConfig", "Generator", "Discriminator"]


@dataclass(frozen=True)
class GANConfig:
    """Shape of a :class:`Generator` / :class:`Discriminator` pair.

    Example:
        >>> g = Generator(GANConfig(n_classes=10))
        >>> g(torch.zeros(2, 64), torch.tensor([0, 1])).shape
        torch.Size([2, 1, 28, 28])
    """

    latent_dim: int = 64  # size of the noise vector z
    n_classes: int = 10  # classes the generator is conditioned on (1 = unconditional)
    channels: int = 1  # image channels
    image_size: int = 28  # image height = width, a multiple of 4
    label_dim: int = 16  # generator: width of the label embedding concatenated to z
    gen_width: int = 64  # generator: channels of the last hidden feature map (the first has twice as many)
    disc_width: int = 64  # discriminator: channels of the first conv (the second has twice as many)

    def __post_init__(self) -> None:
        check_int("GANConfig", "latent_dim", self.latent_dim, 1)
        check_int("GANConfig", "n_classes", self.n_classes, 1)
        check_int("GANConfig", "channels", self.channels, 1)
        check_int("GANConfig", "image_size", self.image_size, 4)
        if self.image_size % 4:
            raise InvalidInputError(
                f"The 'image_size' field of GANConfig must be a multiple of 4. Got {self.image_size} instead."
            )
        check_int("GANConfig", "label_dim", self.label_dim, 1)
        check_int("GANConfig", "gen_width", self.gen_width, 1)
        check_int("GANConfig", "disc_width", self.disc_width, 1)


class Generator(nn.Module):
    """z (n, latent_dim) and labels (n,) int64 -> images (n, channels, image_size, image_size) in [0, 1]."""

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        self.config = config
        side = config.image_size // 4
        wide = 2 * config.gen_width
        self.label_embedding = nn.Embedding(config.n_classes, config.label_dim)
        self.project = nn.Sequential(
            nn.Linear(config.latent_dim + config.label_dim, wide * side * side),
            nn.BatchNorm1d(wide * side * side),
            nn.ReLU(),
            nn.Unflatten(1, (wide, side, side)),
        )
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(wide, config.gen_width, 4, stride=2, padding=1),
            nn.BatchNorm2d(config.gen_width),
            nn.ReLU(),
            nn.ConvTranspose2d(config.gen_width, config.channels, 4, stride=2, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, self.label_embedding(labels)], dim=1)
        return self.upsample(self.project(h))


class Discriminator(nn.Module):
    """images (n, channels, s, s) in [0, 1] and labels (n,) -> real/fake logits (n,).

    The label enters as one extra input channel (a learned s x s map per class).
    """

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        self.config = config
        side = config.image_size // 4
        size = config.image_size
        self.label_embedding = nn.Embedding(config.n_classes, size * size)
        self.conv = nn.Sequential(
            nn.Conv2d(config.channels + 1, config.disc_width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(config.disc_width, 2 * config.disc_width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.head = nn.Linear(2 * config.disc_width * side * side, 1)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        size = self.config.image_size
        label_map = self.label_embedding(labels).view(-1, 1, size, size)
        h = torch.cat([images * 2.0 - 1.0, label_map], dim=1)
        return self.head(self.conv(h)).squeeze(-1)
