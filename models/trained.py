"""``TrainedModel``: a trained module with everything needed to use, audit and save it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models._checkpoint_io import save_checkpoint
from models.device import autocast, module_device
from models.errors import InvalidInputError, InvalidTypeError, describe_value

__all__ = ["TrainedModel"]

_PREDICT_BATCH = 1024


@dataclass
class TrainedModel:
    """A trained model of one family, its config, provenance and scores.

    Attributes:
        family: ``"mlp" | "cnn" | "lstm" | "transformer" | "gan"``.
        task: the dataset's task (``"binary" | "multiclass" | "regression"``), or ``"generative"`` for the GAN.
        module: the classifier/regressor, or the GAN's generator.
        config: the family's frozen config dataclass (``module`` is rebuilt from it when loading).
        dataset_name: name of the data set trained on.
        class_names: one name per class (classification and GAN); empty for regression.
        feature_names: encoded tabular column names; empty for other kinds.
        preprocessing: the dataset's fitted preprocessing state (JSON-serialisable).
        metrics: final test metrics (empty for the GAN).
        history: one dict per epoch (losses, validation metric, seconds).
        seed: the training seed.
        discriminator: the GAN's discriminator, else None.
        snapshots: GAN only: the generator's state dict at the end of each epoch (on the CPU).
        kind: the data kind trained on (``"tabular" | "image" | "text" | "timeseries"``).
        input_shape: shape of one encoded input sample (GAN: of one image).
    """

    family: str
    task: str
    module: nn.Module
    config: Any
    dataset_name: str
    class_names: list[str]
    feature_names: list[str]
    preprocessing: dict[str, Any]
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    seed: int
    discriminator: nn.Module | None = None
    snapshots: list[dict[str, torch.Tensor]] = field(default_factory=list)
    kind: str = ""
    input_shape: tuple[int, ...] = ()

    @property
    def device(self) -> torch.device:
        """The device the module lives on."""
        return module_device(self.module)

    @property
    def latent_dim(self) -> int:
        """Size of the GAN's noise vector.

        Raises:
            InvalidInputError: the model is not a GAN.
        """
        if self.family != "gan":
            raise InvalidInputError(f"'latent_dim' exists only for the 'gan' family. This model is {self.family!r}.")
        return int(self.config.latent_dim)

    def save(self, directory: str | Path) -> Path:
        """Write the checkpoint (safetensors weights + ``metadata.json``) into ``directory``.

        Returns:
            The checkpoint folder.
        """
        return save_checkpoint(self, directory)

    def predict_proba(self, x: np.ndarray, batch_size: int = _PREDICT_BATCH) -> np.ndarray:
        """Class probabilities (n, n_classes), float32, in eval mode without gradients.

        Args:
            x: encoded inputs, one sample per row, in the dataset's conventions (see ``models.dataset``).
            batch_size: rows per forward pass.

        Returns:
            Softmax probabilities, rows summing to 1.

        Raises:
            InvalidInputError: the model is a regressor or a GAN, or ``x`` has the wrong shape or values.
        """
        if self.task not in ("binary", "multiclass"):
            raise InvalidInputError(
                f"predict_proba needs a classifier; this {self.family!r} model's task is {self.task!r}."
            )
        logits = self._outputs(x, batch_size)
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, x: np.ndarray, batch_size: int = _PREDICT_BATCH) -> np.ndarray:
        """Class indices (int64) for classifiers, standardised predictions (float32, (n,)) for regressors.

        Raises:
            InvalidInputError: the model is a GAN (use ``sample``), or ``x`` has the wrong shape or values.
        """
        if self.family == "gan":
            raise InvalidInputError("predict does not apply to the 'gan' family; use sample(n, labels) instead.")
        outputs = self._outputs(x, batch_size)
        if self.task == "regression":
            return outputs.numpy().astype(np.float32)
        return outputs.argmax(dim=1).numpy().astype(np.int64)

    def sample(self, n: int, labels: np.ndarray | list[int] | None = None, seed: int = 0) -> np.ndarray:
        """Generate ``n`` images with the GAN's generator.

        Args:
            n: number of images.
            labels: class of each image (length n); default round-robin over the classes (0, 1, ..., 0, 1, ...).
            seed: seeds the noise, so the same call gives the same images.

        Returns:
            float32 images (n, channels, size, size) in [0, 1].

        Raises:
            InvalidInputError: not a GAN, ``n`` < 1, or labels of the wrong length or out of range.
        """
        if self.family != "gan":
            raise InvalidInputError(f"sample exists only for the 'gan' family. This model is {self.family!r}.")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise InvalidInputError(f"The 'n' argument must be an int >= 1. Got {describe_value(n)} instead.")
        n_classes = int(self.config.n_classes)
        if labels is None:
            label_array = np.arange(n, dtype=np.int64) % n_classes
        else:
            label_array = np.asarray(labels)
            if label_array.shape != (n,) or not np.issubdtype(label_array.dtype, np.integer):
                raise InvalidInputError(
                    f"The 'labels' argument must hold {n} integer class indices. "
                    f"Got shape {label_array.shape} of dtype {label_array.dtype} instead."
                )
            if label_array.min() < 0 or label_array.max() >= n_classes:
                raise InvalidInputError(
                    f"The 'labels' argument must hold class indices in [0, {n_classes - 1}]. "
                    f"Got values from {label_array.min()} to {label_array.max()} instead."
                )
        generator = torch.Generator().manual_seed(int(seed))
        z = torch.randn(int(n), self.latent_dim, generator=generator)
        label_tensor = torch.as_tensor(label_array.astype(np.int64))
        device = self.device
        was_training = self.module.training
        self.module.eval()
        chunks = []
        try:
            with torch.no_grad(), autocast(device):
                for start in range(0, int(n), _PREDICT_BATCH):
                    stop = start + _PREDICT_BATCH
                    images = self.module(z[start:stop].to(device), label_tensor[start:stop].to(device))
                    chunks.append(images.float().cpu())
        finally:
            self.module.train(was_training)
        return torch.cat(chunks).numpy().astype(np.float32)

    def _outputs(self, x: np.ndarray, batch_size: int) -> torch.Tensor:
        """Raw outputs (logits or regression values) as a float32 CPU tensor."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InvalidInputError(
                f"The 'batch_size' argument must be an int >= 1. Got {describe_value(batch_size)} instead."
            )
        tensor = self._to_tensor(x)
        device = self.device
        was_training = self.module.training
        self.module.eval()
        chunks = []
        try:
            with torch.no_grad(), autocast(device):
                for start in range(0, tensor.shape[0], int(batch_size)):
                    batch = tensor[start : start + int(batch_size)].to(device, non_blocking=True)
                    chunks.append(self.module(batch).float().cpu())
        finally:
            self.module.train(was_training)
        if not chunks:
            width = () if self.task == "regression" else (len(self.class_names),)
            return torch.zeros((0, *width))
        return torch.cat(chunks)

    def _to_tensor(self, x: np.ndarray) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        if not isinstance(x, np.ndarray):
            try:
                x = np.asarray(x)
            except (TypeError, ValueError) as exc:
                raise InvalidTypeError(
                    f"The 'x' argument must be a numpy array. Got {type(x).__name__} instead."
                ) from exc
        if self.input_shape and tuple(x.shape[1:]) != tuple(self.input_shape):
            raise InvalidInputError(
                f"The 'x' argument must have shape (n, {', '.join(map(str, self.input_shape))}) for this "
                f"{self.family!r} model. Got shape {x.shape} instead."
            )
        if self.kind == "text":
            if not np.issubdtype(x.dtype, np.integer):
                raise InvalidInputError(
                    f"The 'x' argument must hold int64 token ids for a text model. Got dtype {x.dtype} instead."
                )
            vocab = int(self.config.vocab_size)
            if x.size and (x.min() < 0 or x.max() >= vocab):
                raise InvalidInputError(
                    f"The 'x' argument must hold token ids in [0, {vocab - 1}] (the model's vocabulary). "
                    f"Got values from {x.min()} to {x.max()} instead."
                )
            return torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64))
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise InvalidInputError(f"The 'x' argument must hold numbers. Got dtype {x.dtype} instead.")
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
