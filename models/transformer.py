"""A small Transformer encoder for text classification and time-series regression.

Text: ``embedding`` (``nn.Embedding``, ``padding_idx=0``) + learned positions -> pre-norm encoder layers with a
key-padding mask -> masked mean (or last-token) pooling -> logits. Series: a linear input projection of each time
step + learned positions -> encoder -> pooling -> one regression output.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models._config import check_choice, check_float, check_int, check_n_classes
from models._pooling import pool
from models.errors import InvalidInputError

__all__ = ["INPUT_KINDS", "POOLINGS", "TransformerConfig", "Transformer"]

INPUT_KINDS: tuple[str, ...] = ("text", "series")
POOLINGS: tuple[str, ...] = ("mean", "last", "mean_max")


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of a :class:`Transformer`.

    Example:
        >>> m = Transformer(TransformerConfig(input_kind="series", input_channels=1, max_len=12, n_classes=0))
        >>> m(torch.zeros(4, 12, 1)).shape
        torch.Size([4])
    """

    input_kind: str = "text"  # "text": int64 ids (n, L), 0 = padding; "series": float (n, window, channels)
    vocab_size: int = 2  # text: rows of the embedding (valid ids are 0 .. vocab_size - 1)
    input_channels: int = 1  # series: channels per time step
    max_len: int = 128  # longest sequence (rows of the learned position table)
    d_model: int = 64  # model width
    n_heads: int = 4  # attention heads (must divide d_model)
    n_layers: int = 2  # encoder layers
    ff_dim: int = 128  # feed-forward width inside each layer
    dropout: float = 0.1  # inside the encoder and before the head
    pooling: str = "mean"  # "mean" over non-padding positions, the "last" one, or "mean_max" (both concatenated)
    token_dropout: float = 0.0  # training only: zero whole token embeddings with this probability (text)
    n_classes: int = 2  # logits per row; 0 -> regression with output (n,)

    def __post_init__(self) -> None:
        check_choice("TransformerConfig", "input_kind", self.input_kind, INPUT_KINDS)
        check_int("TransformerConfig", "vocab_size", self.vocab_size, 2)
        check_int("TransformerConfig", "input_channels", self.input_channels, 1)
        check_int("TransformerConfig", "max_len", self.max_len, 1)
        check_int("TransformerConfig", "d_model", self.d_model, 1)
        check_int("TransformerConfig", "n_heads", self.n_heads, 1)
        if self.d_model % self.n_heads:
            raise InvalidInputError(
                f"The 'n_heads' field of TransformerConfig must divide d_model={self.d_model}. "
                f"Got {self.n_heads} instead."
            )
        check_int("TransformerConfig", "n_layers", self.n_layers, 1)
        check_int("TransformerConfig", "ff_dim", self.ff_dim, 1)
        check_float("TransformerConfig", "dropout", self.dropout, 0.0, 1.0)
        check_choice("TransformerConfig", "pooling", self.pooling, POOLINGS)
        check_float("TransformerConfig", "token_dropout", self.token_dropout, 0.0, 1.0)
        check_n_classes("TransformerConfig", self.n_classes)


class Transformer(nn.Module):
    """Transformer encoder classifier (text) or regressor (series); see the module docstring.

    ``forward(x)`` returns logits (n, n_classes), or (n,) for regression.
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        if config.input_kind == "text":
            self.embedding = nn.Embedding(config.vocab_size, config.d_model, padding_idx=0)
        else:
            self.input_proj = nn.Linear(config.input_channels, config.d_model)
        self.positions = nn.Embedding(config.max_len, config.d_model)
        self.input_dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            config.d_model,
            config.n_heads,
            dim_feedforward=config.ff_dim,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        pooled = 2 * config.d_model if config.pooling == "mean_max" else config.d_model
        self.head = nn.Linear(pooled, max(config.n_classes, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled sequence representation (n, d_model), or (n, 2 * d_model) for ``"mean_max"`` pooling."""
        length = x.shape[1]
        if length > self.config.max_len:
            raise InvalidInputError(
                f"The input of Transformer must have at most max_len={self.config.max_len} positions. "
                f"Got {length} instead."
            )
        if self.config.input_kind == "text":
            mask = x != 0
            h = self.embedding(x)
            if self.training and self.config.token_dropout > 0:
                keep = torch.rand(x.shape, device=x.device) >= self.config.token_dropout
                h = h * keep.unsqueeze(-1).to(h.dtype) / (1.0 - self.config.token_dropout)
        else:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
            h = self.input_proj(x)
        h = self.input_dropout(h + self.positions(torch.arange(length, device=x.device)))
        # A row of padding only would make every attention weight NaN: let it attend everywhere instead.
        padding = ~mask & mask.any(dim=1, keepdim=True)
        h = self.norm(self.encoder(h, src_key_padding_mask=padding))
        if self.config.pooling == "mean_max":
            masked = h.masked_fill(~mask.unsqueeze(-1), torch.finfo(h.dtype).min)
            peak = torch.where(mask.any(dim=1, keepdim=True), masked.amax(dim=1), torch.zeros_like(masked[:, 0]))
            return torch.cat([pool(h, mask, "mean"), peak], dim=1)
        return pool(h, mask, self.config.pooling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.dropout(self.features(x)))
        return out.squeeze(-1) if self.config.n_classes == 0 else out
