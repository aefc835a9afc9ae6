"""An LSTM for text classification (token ids) and for time-series regression (float windows).

Text: ``embedding`` (an ``nn.Embedding`` with ``padding_idx=0``, the layer captum's LayerIntegratedGradients
targets) -> LSTM -> masked mean or last-token pooling -> logits. Series: the float window (n, window, channels) goes
straight into the LSTM -> last-step (or mean) pooling -> one regression output per window.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models._config import check_choice, check_float, check_int, check_n_classes
from models._pooling import pool

__all__ = ["INPUT_KINDS", "POOLINGS", "LSTMConfig", "LSTM"]

INPUT_KINDS: tuple[str, ...] = ("text", "series")
POOLINGS: tuple[str, ...] = ("mean", "last")


@dataclass(frozen=True)
class LSTMConfig:
    """Shape of an :class:`LSTM`.

    Example:
        >>> m = LSTM(LSTMConfig(input_kind="text", vocab_size=50, n_classes=2))
        >>> m(torch.ones(3, 7, dtype=torch.long)).shape
        torch.Size([3, 2])
    """

    input_kind: str = "text"  # "text": int64 ids (n, L), 0 = padding; "series": float (n, window, channels)
    vocab_size: int = 2  # text: rows of the embedding (valid ids are 0 .. vocab_size - 1)
    embed_dim: int = 64  # text: embedding width
    input_channels: int = 1  # series: channels per time step
    hidden: int = 64  # LSTM hidden size (per direction)
    num_layers: int = 1  # stacked LSTM layers
    bidirectional: bool = False  # run a backward LSTM too (pooled outputs are concatenated)
    pooling: str = "mean"  # "mean" over non-padding steps, or "last" non-padding step
    dropout: float = 0.2  # on the embeddings, between LSTM layers and before the head
    n_classes: int = 2  # logits per row; 0 -> regression with output (n,)

    def __post_init__(self) -> None:
        check_choice("LSTMConfig", "input_kind", self.input_kind, INPUT_KINDS)
        check_int("LSTMConfig", "vocab_size", self.vocab_size, 2)
        check_int("LSTMConfig", "embed_dim", self.embed_dim, 1)
        check_int("LSTMConfig", "input_channels", self.input_channels, 1)
        check_int("LSTMConfig", "hidden", self.hidden, 1)
        check_int("LSTMConfig", "num_layers", self.num_layers, 1)
        check_choice("LSTMConfig", "pooling", self.pooling, POOLINGS)
        check_float("LSTMConfig", "dropout", self.dropout, 0.0, 1.0)
        check_n_classes("LSTMConfig", self.n_classes)


class LSTM(nn.Module):
    """LSTM classifier (text) or regressor (series); see the module docstring.

    ``forward(x)`` returns logits (n, n_classes), or (n,) for regression.
    """

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        if config.input_kind == "text":
            self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=0)
            self.embed_dropout = nn.Dropout(config.dropout)
            width = config.embed_dim
        else:
            width = config.input_channels
        self.lstm = nn.LSTM(
            width,
            config.hidden,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        out_width = config.hidden * (2 if config.bidirectional else 1)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(out_width, max(config.n_classes, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled sequence representation (n, hidden * directions)."""
        if self.config.input_kind == "text":
            mask = x != 0
            h = self.embed_dropout(self.embedding(x))
        else:
            h = x
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        out, _ = self.lstm(h)
        return pool(out, mask, self.config.pooling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.dropout(self.features(x)))
        return out.squeeze(-1) if self.config.n_classes == 0 else out
