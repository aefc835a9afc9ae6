"""Masked pooling over the time axis, shared by the sequence families."""
from __future__ import annotations

import torch

__all__ = ["masked_mean", "last_valid", "pool"]


def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``h`` (n, L, d) over the positions where ``mask`` (n, L) is True (zeros for an all-False row)."""
    weights = mask.to(h.dtype).unsqueeze(-1)
    return (h * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def last_valid(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``h`` at the last position where ``mask`` is True (position 0 for an all-False row), any padding side."""
    positions = torch.arange(h.shape[1], device=h.device).unsqueeze(0).expand(h.shape[0], -1)
    last = (positions * mask.long()).argmax(dim=1)
    return h[torch.arange(h.shape[0], device=h.device), last]


def pool(h: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """``masked_mean`` for ``how == "mean"``, else ``last_valid``."""
    return masked_mean(h, mask) if how == "mean" else last_valid(h, mask)
