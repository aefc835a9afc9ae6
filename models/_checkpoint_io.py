"""Writing checkpoints: safetensors weights, ``metadata.json``, sha256 digests, atomic file replacement.

Layout of a checkpoint folder::

    metadata.json                    format, family, config, provenance, metrics, sha256 of every weights file
    model.safetensors                the module (the GAN's generator)
    discriminator.safetensors        GAN only
    snapshots/epoch_001.safetensors  GAN only: the generator at the end of each epoch

Nothing here pickles; ``models.checkpoint.load_model`` reads it back.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import safetensors
import safetensors.torch
import torch

from models._config import config_to_dict
from models.errors import CheckpointError

if TYPE_CHECKING:  # pragma: no cover
    from models.trained import TrainedModel

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "METADATA_FILE",
    "MODEL_FILE",
    "DISCRIMINATOR_FILE",
    "SNAPSHOT_DIR",
    "snapshot_file",
    "sha256_bytes",
    "atomic_write_bytes",
    "jsonable",
    "package_versions",
    "save_checkpoint",
]

FORMAT = "deepaudit-checkpoint"
FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
MODEL_FILE = "model.safetensors"
DISCRIMINATOR_FILE = "discriminator.safetensors"
SNAPSHOT_DIR = "snapshots"


def snapshot_file(epoch: int) -> str:
    """Relative path of the generator snapshot taken after ``epoch`` (1-based)."""
    return f"{SNAPSHOT_DIR}/epoch_{epoch:03d}.safetensors"


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def jsonable(value: Any) -> Any:
    """``value`` with numpy/torch scalars and arrays turned into plain Python and non-finite floats into None."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, torch.Tensor):
        return jsonable(value.detach().cpu().tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if value is None or isinstance(value, str):
        return value
    raise CheckpointError(
        f"Checkpoint metadata must be JSON-serialisable. Got a value of type {type(value).__name__}: {value!r:.80}."
    )


def package_versions() -> dict[str, str]:
    """Versions of torch, numpy, safetensors and deepaudit (``"unknown"`` when not installed as a package)."""
    try:
        deepaudit_version = importlib_metadata.version("deepaudit")
    except importlib_metadata.PackageNotFoundError:
        deepaudit_version = "unknown"
    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": getattr(safetensors, "__version__", "unknown"),
        "deepaudit": deepaudit_version,
    }


def _weights_bytes(state: dict[str, torch.Tensor]) -> bytes:
    tensors = {key: value.detach().to("cpu").contiguous() for key, value in state.items()}
    return safetensors.torch.save(tensors)


def save_checkpoint(model: "TrainedModel", directory: str | Path) -> Path:
    """Write ``model`` into ``directory`` (created if needed; an older checkpoint there is replaced).

    Weights go first and ``metadata.json`` last, each file atomically, so a crash never leaves a metadata file that
    points at missing weights.

    Args:
        model: the trained model.
        directory: the checkpoint folder.

    Returns:
        ``directory`` as a ``Path``.

    Raises:
        CheckpointError: the metadata holds something that is not JSON-serialisable.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    blobs: dict[str, bytes] = {MODEL_FILE: _weights_bytes(model.module.state_dict())}
    if model.discriminator is not None:
        blobs[DISCRIMINATOR_FILE] = _weights_bytes(model.discriminator.state_dict())
    snapshot_names = [snapshot_file(index + 1) for index in range(len(model.snapshots))]
    for name, state in zip(snapshot_names, model.snapshots):
        blobs[name] = _weights_bytes(state)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "family": model.family,
        "task": model.task,
        "kind": model.kind,
        "input_shape": list(model.input_shape),
        "config": config_to_dict(model.config),
        "dataset_name": model.dataset_name,
        "class_names": list(model.class_names),
        "feature_names": list(model.feature_names),
        "preprocessing": model.preprocessing,
        "metrics": model.metrics,
        "history": model.history,
        "seed": model.seed,
        "snapshots": snapshot_names,
        "versions": package_versions(),
        "sha256": {name: sha256_bytes(data) for name, data in blobs.items()},
    }
    text = json.dumps(jsonable(meta), indent=2, sort_keys=False, allow_nan=False)
    for name, data in blobs.items():
        atomic_write_bytes(folder / name, data)
    stale_dir = folder / SNAPSHOT_DIR
    if stale_dir.is_dir():
        for stale in stale_dir.glob("epoch_*.safetensors"):
            if f"{SNAPSHOT_DIR}/{stale.name}" not in blobs:
                stale.unlink()
    atomic_write_bytes(folder / METADATA_FILE, (text + "\n").encode("utf-8"))
    return folder
