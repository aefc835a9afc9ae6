"""The one ``Dataset`` type shared by every data kind, task and model family.

A ``Dataset`` holds three ``Split``s of *encoded* arrays ready for a model, plus the metadata an audit needs:
which encoded columns came from which original feature, which are sensitive or continuous, class names and the
fitted preprocessing state (a JSON-serialisable dict) so raw rows can be scored later.

Array conventions (per split, ``x`` dtype / shape):
- tabular:    float32 (n, d) — scaled numeric columns and one-hot blocks, names in ``feature_names``
- image:      float32 (n, c, h, w) in [0, 1]
- text:       int64 (n, max_len) token ids, 0 = padding, 1 = unknown; the raw sentences in ``split.raw["text"]``
- timeseries: float32 (n, window, channels) standardised windows
``y`` is int64 class indices (binary/multiclass) or float32 targets (regression, standardised like the inputs).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from models.errors import InvalidInputError

__all__ = ["Kind", "Task", "Split", "Dataset", "KINDS", "TASKS"]

Kind = Literal["tabular", "image", "text", "timeseries"]
Task = Literal["binary", "multiclass", "regression", "generative"]
KINDS: tuple[str, ...] = ("tabular", "image", "text", "timeseries")
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression", "generative")


@dataclass(frozen=True)
class Split:
    """One split: encoded inputs, targets, raw sensitive attributes and (optionally) the raw rows.

    Attributes:
        x: encoded model inputs (see module docstring for shapes).
        y: class indices (int64) or regression targets (float32), length n.
        sensitive: one column per sensitive attribute, raw values (strings or numbers), n rows, index 0..n-1.
            May have no columns.
        raw: the original, unencoded rows (tabular: the user's columns without the target; text: a ``text``
            column; other kinds: None).
    """

    x: np.ndarray
    y: np.ndarray
    sensitive: pd.DataFrame
    raw: pd.DataFrame | None = None

    def __len__(self) -> int:
        return int(len(self.y))

    def subset(self, index: np.ndarray | list[int]) -> "Split":
        """Rows ``index`` of this split (indices re-numbered from 0)."""
        idx = np.asarray(index, dtype=np.int64)
        raw = None if self.raw is None else self.raw.iloc[idx].reset_index(drop=True)
        return Split(
            x=self.x[idx],
            y=self.y[idx],
            sensitive=self.sensitive.iloc[idx].reset_index(drop=True),
            raw=raw,
        )


@dataclass
class Dataset:
    """A data set ready for training and auditing.

    Attributes:
        name: short identifier (``"adult"`` or the user's name).
        kind: ``"tabular" | "image" | "text" | "timeseries"``.
        task: ``"binary" | "multiclass" | "regression"`` (a GAN trained on it makes its own task "generative").
        train, val, test: the splits (seeded, stratified for classification, disjoint).
        feature_names: encoded column names (tabular), e.g. ``["age", "sex=Male", ...]``; empty for other kinds.
        feature_groups: original feature -> list of encoded column indices (tabular). Every encoded column
            belongs to exactly one group. Empty for other kinds.
        continuous_features: original names of numeric features (their single encoded column may be attacked or
            perturbed); the others are categorical one-hot blocks.
        sensitive_features: names of the sensitive attributes (columns of ``split.sensitive``). A sensitive
            attribute may also be a model input (then it is also a key of ``feature_groups``).
        class_names: one name per class (classification); empty for regression.
        preprocessing: JSON-serialisable fitted state (fitted on train only) understood by
            ``models.preprocessing``; travels inside checkpoints.
        metadata: free JSON-serialisable facts (source, licence, sizes, vocab size, window, scaling of y, ...).
    """

    name: str
    kind: str
    task: str
    train: Split
    val: Split
    test: Split
    feature_names: list[str] = field(default_factory=list)
    feature_groups: dict[str, list[int]] = field(default_factory=dict)
    continuous_features: list[str] = field(default_factory=list)
    sensitive_features: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    preprocessing: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one encoded sample."""
        return tuple(int(s) for s in self.train.x.shape[1:])

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.class_names)

    def split(self, name: str) -> Split:
        """The split called ``name`` (``"train" | "val" | "test"``)."""
        if name not in ("train", "val", "test"):
            raise InvalidInputError(f"The 'split' argument must be one of ['train', 'val', 'test']. Got {name!r} instead.")
        return getattr(self, name)

    def fingerprint(self) -> str:
        """sha256 over the encoded arrays of every split (identifies the exact data audited)."""
        digest = hashlib.sha256()
        for split in (self.train, self.val, self.test):
            for array in (split.x, split.y):
                arr = np.ascontiguousarray(array)
                digest.update(str(arr.dtype).encode())
                digest.update(str(arr.shape).encode())
                digest.update(arr.tobytes())
        return digest.hexdigest()
