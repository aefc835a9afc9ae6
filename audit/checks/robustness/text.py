"""Text robustness helpers: attacks in embedding space and token-level noise.

Text inputs are token ids, so gradient attacks move the output of the model's ``embedding`` layer instead
(``EmbeddingInputs`` replaces that output with the attacked tensor; padding positions stay fixed). Budgets are counted
in standard deviations of the embedding table's entries. Token-level noise (deletions, character typos) needs no
gradients and is reported separately: it is what real text shift looks like.
"""
from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from audit.checks._common import require_float
from models.preprocessing import encode_text

__all__ = ["EmbeddingInputs", "embedding_scale", "embed", "delete_tokens", "unknown_tokens", "typo_texts",
           "typo_ids", "check_rate"]

_LETTERS = string.ascii_lowercase


class EmbeddingInputs(nn.Module):
    """``forward(embedded, ids)``: the score module run on ``ids`` with its embedding output replaced by ``embedded``.

    Args:
        score: the differentiable score module (logits) of a text model.
        embedding: the model's ``nn.Embedding`` layer (inside ``score``).
    """

    def __init__(self, score: nn.Module, embedding: nn.Embedding) -> None:
        super().__init__()
        self.score = score
        self.embedding = embedding

    def forward(self, embedded: Tensor, ids: Tensor) -> Tensor:
        handle = self.embedding.register_forward_hook(_Replace(embedded))
        try:
            return self.score(ids)
        finally:
            handle.remove()


class _Replace:
    def __init__(self, value: Tensor) -> None:
        self.value = value

    def __call__(self, module: nn.Module, inputs: Any, output: Tensor) -> Tensor:
        return self.value


def embedding_scale(embedding: nn.Embedding) -> float:
    """Standard deviation of the embedding table's entries (the padding row left out): a budget's unit."""
    weight = embedding.weight.detach().float()
    rows = weight[1:] if weight.shape[0] > 1 else weight
    return float(rows.std()) or 1.0


def embed(embedding: nn.Embedding, ids: np.ndarray, device: torch.device) -> np.ndarray:
    """The embedding layer's output for ``ids`` (n, L) as float32 (n, L, D)."""
    with torch.no_grad():
        out = embedding(torch.as_tensor(np.asarray(ids, dtype=np.int64), device=device))
    return out.float().cpu().numpy()


def check_rate(rate: Any, name: str = "rate") -> float:
    """``rate`` as a probability in [0, 1].

    Raises:
        InvalidInputError: not a number in [0, 1].
    """
    return require_float(None, name, rate, 0.0, 1.0)


def delete_tokens(ids: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Drop each non-padding token with probability ``rate``; the rest move left, padding (0) fills the end.

    Example:
        >>> delete_tokens(np.array([[5, 6, 7, 0]]), 0.0, np.random.default_rng(0)).tolist()
        [[5, 6, 7, 0]]
    """
    ids = np.asarray(ids, dtype=np.int64)
    keep = (ids != 0) & (rng.random(ids.shape) >= check_rate(rate))
    out = np.zeros_like(ids)
    order = np.argsort(~keep, axis=1, kind="stable")  # kept positions first, original order preserved
    kept = np.take_along_axis(ids, order, axis=1)
    count = keep.sum(axis=1, keepdims=True)
    out[np.arange(ids.shape[1])[None, :] < count] = kept[np.arange(ids.shape[1])[None, :] < count]
    return out


def unknown_tokens(ids: np.ndarray, rate: float, rng: np.random.Generator, unk_id: int = 1) -> np.ndarray:
    """Replace each non-padding token by ``unk_id`` with probability ``rate`` (a misspelt word the vocabulary does not
    know): the stand-in for typos when the raw sentences or the tokenizer are not available."""
    ids = np.asarray(ids, dtype=np.int64)
    hit = (ids != 0) & (rng.random(ids.shape) < check_rate(rate))
    return np.where(hit, np.int64(unk_id), ids)


def _typo(word: str, rng: np.random.Generator) -> str:
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    if not letters:
        return word
    kind = int(rng.integers(4)) if len(letters) >= 2 else 2
    i = letters[int(rng.integers(len(letters)))]
    if kind == 0:  # swap with the next character
        j = min(i + 1, len(word) - 1) if i + 1 < len(word) else i - 1
        chars = list(word)
        chars[i], chars[j] = chars[j], chars[i]
        return "".join(chars)
    if kind == 1:  # delete
        return word[:i] + word[i + 1:]
    if kind == 2:  # substitute
        return word[:i] + _LETTERS[int(rng.integers(26))] + word[i + 1:]
    return word[:i] + _LETTERS[int(rng.integers(26))] + word[i:]  # insert


def typo_texts(texts: Sequence[str], rate: float, rng: np.random.Generator) -> list[str]:
    """Give each whitespace-separated word a one-character typo (swap, deletion, substitution or insertion) with
    probability ``rate``.

    Example:
        >>> typo_texts(["a good film"], 0.0, np.random.default_rng(0))
        ['a good film']
    """
    p = check_rate(rate)
    out = []
    for text in texts:
        words = str(text).split(" ")
        hits = rng.random(len(words)) < p
        out.append(" ".join(_typo(w, rng) if hit else w for w, hit in zip(words, hits)))
    return out


def typo_ids(ids: np.ndarray, texts: Sequence[str] | None, state: dict[str, Any], rate: float,
             rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Token ids after character typos.

    Re-encodes typo'd raw sentences with the data's fitted text state when both are available; otherwise replaces
    tokens by the unknown id with probability ``rate``.

    Returns:
        The ids and the method used ("characters" or "unknown-token").
    """
    if texts is not None and state.get("kind") == "text" and "vocab" in state:
        return encode_text(typo_texts(texts, rate, rng), state), "characters"
    return unknown_tokens(ids, rate, rng, int(state.get("unk_id", 1))), "unknown-token"
