"""A multilayer perceptron for tabular data.

Every activation is its own module (shap ``DeepExplainer`` needs one module per use), and ``forward`` calls no
functional activations.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models._config import check_float, check_int, check_n_classes

__all__ = ["MLPConfig", "MLP"]


@dataclass(frozen=True)
class MLPConfig:
    """Shape of an :class:`MLP`.

    Example:
        >>> MLP(MLPConfig(input_dim=4, n_classes=2))(torch.zeros(3, 4)).shape
        torch.Size([3, 2])
    """

    input_dim: int  # number of encoded input columns
    n_classes: int = 2  # logits per row; binary uses 2; 0 -> regression with output (n,)
    hidden: tuple[int, ...] = (128, 64)  # hidden layer widths
    dropout: float = 0.1  # dropout after each hidden activation (0 disables)
    batch_norm: bool = False  # BatchNorm1d before each activation

    def __post_init__(self) -> None:
        check_int("MLPConfig", "input_dim", self.input_dim, 1)
        check_n_classes("MLPConfig", self.n_classes)
        for width in self.hidden:
            check_int("MLPConfig", "hidden", width, 1)
        check_float("MLPConfig", "dropout", self.dropout, 0.0, 1.0)


class MLP(nn.Module):
    """Linear -> [BatchNorm] -> ReLU -> Dropout blocks, then a linear head.

    ``forward(x)`` takes float (n, input_dim) and returns logits (n, n_classes), or (n,) for regression.
    """

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = config.input_dim
        for hidden in config.hidden:
            layers.append(nn.Linear(width, hidden))
            if config.batch_norm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(nn.ReLU())
            if config.dropout > 0:
                layers.append(nn.Dropout(config.dropout))
            width = hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, max(config.n_classes, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden representation (n, hidden[-1]) (the input itself when there is no hidden layer)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.body(x))
        return out.squeeze(-1) if self.config.n_classes == 0 else out
