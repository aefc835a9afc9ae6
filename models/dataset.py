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

from models import _loaders_user
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

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        target: str,
        sensitive: str | list[str] | None = None,
        *,
        name: str = "user",
        task: str | None = None,
        categorical: list[str] | None = None,
        features: list[str] | None = None,
        seed: int = 0,
        val_fraction: float = 0.15,
        test_fraction: float = 0.2,
    ) -> "Dataset":
        """A tabular data set from a user table (preprocessing fitted on the train split only).

        Args:
            df: one row per sample, the target among the columns.
            target: the target column (no missing values).
            sensitive: sensitive column name(s), each with at least 2 distinct values; they stay model inputs
                unless ``features`` leaves them out.
            name: data set name.
            task: None infers it: 2 distinct values -> binary; strings / booleans or up to 20 distinct ints ->
                multiclass; floats (or more ints) -> regression.
            categorical: categorical feature names; None infers them from the dtypes (strings, booleans,
                categories). An object column that is mostly numbers with some text is rejected as junk.
            features: input columns; None uses every column but the target.
            seed: seeds the stratified (classification) or random (regression) split.
            val_fraction, test_fraction: split shares.

        Returns:
            The ``Dataset`` (kind ``"tabular"``); regression targets are standardised, ``metadata["y_scaling"]``.

        Raises:
            InvalidTypeError: ``df`` is not a DataFrame.
            InvalidInputError: empty frame, missing target / sensitive column, a constant sensitive column, junk
                in a numeric column, infinities, too few rows to split.

        Example:
            >>> frame = pd.DataFrame({"x": range(40), "g": ["a", "b"] * 20, "y": [0, 1, 1, 0] * 10})
            >>> Dataset.from_frame(frame, "y", sensitive=["g"]).feature_names
            ['x', 'g=a', 'g=b', 'g=<unknown>']
        """
        parts = _loaders_user.frame_parts(
            df, target, sensitive, name=name, task=task, categorical=categorical, features=features, seed=seed,
            val_fraction=val_fraction, test_fraction=test_fraction,
        )
        return cls(**{k: Split(**v) if k in ("train", "val", "test") else v for k, v in parts.items()})

    @classmethod
    def from_arrays(
        cls,
        x: np.ndarray,
        y: np.ndarray | list[Any],
        kind: Literal["image", "timeseries"] = "image",
        class_names: list[str] | None = None,
        sensitive: pd.DataFrame | dict[str, Any] | None = None,
        seed: int = 0,
        *,
        task: str | None = None,
        name: str = "user",
        val_fraction: float = 0.15,
        test_fraction: float = 0.2,
    ) -> "Dataset":
        """An image or timeseries data set from arrays.

        Args:
            x: images (n, h, w) or (n, c, h, w) in [0, 1]; or timeseries windows (n, window[, channels]) in time
                order (split chronologically, standardised per channel with train statistics).
            y: class labels (ints in [0, len(class_names)) or strings), or float regression targets.
            kind: ``"image"`` or ``"timeseries"``.
            class_names: names of the classes; None derives them from the sorted distinct labels.
            sensitive: optional sensitive attributes, one row per sample.
            seed: seeds the split (stratified for classification).
            task: None infers it (float labels without ``class_names`` -> regression).
            name, val_fraction, test_fraction: as in ``from_frame``.

        Returns:
            The ``Dataset``.

        Raises:
            InvalidInputError: NaN / inf, wrong shape, image values outside [0, 1], length mismatch, one class.

        Example:
            >>> rng = np.random.default_rng(0)
            >>> Dataset.from_arrays(rng.random((40, 8, 8)), [0, 1] * 20).input_shape
            (1, 8, 8)
        """
        parts = _loaders_user.arrays_parts(
            x, y, kind=kind, class_names=class_names, sensitive=sensitive, task=task, name=name, seed=seed,
            val_fraction=val_fraction, test_fraction=test_fraction,
        )
        return cls(**{k: Split(**v) if k in ("train", "val", "test") else v for k, v in parts.items()})

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        labels: np.ndarray | list[Any],
        class_names: list[str] | None = None,
        sensitive: pd.DataFrame | dict[str, Any] | None = None,
        seed: int = 0,
        *,
        name: str = "user",
        max_vocab: int = 20_000,
        max_len: int = 64,
        val_fraction: float = 0.15,
        test_fraction: float = 0.2,
    ) -> "Dataset":
        """A text classification data set (vocabulary fitted on the train texts only).

        Args:
            texts: one string per sample.
            labels: class labels (ints in [0, len(class_names)) or strings).
            class_names: names of the classes; None derives them from the sorted distinct labels.
            sensitive: optional sensitive attributes, one row per text.
            seed: seeds the stratified split.
            name: data set name.
            max_vocab: vocabulary size including the padding (0) and unknown (1) ids.
            max_len: token ids per text.
            val_fraction, test_fraction: split shares.

        Returns:
            The ``Dataset`` (kind ``"text"``); ``split.raw["text"]`` holds the sentences.

        Raises:
            InvalidInputError: a non-string text, length mismatch, one class, too few texts.

        Example:
            >>> Dataset.from_texts(["good film", "bad film"] * 20, [1, 0] * 20, ["neg", "pos"]).task
            'binary'
        """
        parts = _loaders_user.texts_parts(
            texts, labels, class_names=class_names, sensitive=sensitive, name=name, seed=seed, max_vocab=max_vocab,
            max_len=max_len, val_fraction=val_fraction, test_fraction=test_fraction,
        )
        return cls(**{k: Split(**v) if k in ("train", "val", "test") else v for k, v in parts.items()})

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
