"""Loading (and saving) checkpoints without ever unpickling.

``load_model(dir)`` reads ``metadata.json``, rebuilds the module from its family and config, checks every weights
file against its recorded sha256 and against the shapes the config implies, and only then loads the tensors.
Only ``.safetensors`` and ``.json`` files are read; a pickle (``.pt``/``.pkl``) is never opened.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import nn

from models._checkpoint_io import (
    DISCRIMINATOR_FILE,
    FORMAT,
    FORMAT_VERSION,
    METADATA_FILE,
    MODEL_FILE,
    save_checkpoint,
    sha256_bytes,
)
from models._config import config_from_dict
from models.device import resolve_device
from models.errors import CheckpointError, DeepAuditError
from models.families import CONFIG_CLASSES, FAMILIES, build_discriminator, build_module
from models.trained import TrainedModel

__all__ = ["load_model", "save_model", "read_metadata"]

_REQUIRED = ("format", "format_version", "family", "task", "config", "sha256")


def save_model(model: TrainedModel, directory: str | Path) -> Path:
    """Write ``model`` into ``directory`` (same as ``model.save(directory)``)."""
    return save_checkpoint(model, directory)


def read_metadata(directory: str | Path) -> dict[str, Any]:
    """The parsed, format-checked ``metadata.json`` of a checkpoint folder.

    Raises:
        CheckpointError: the folder or file is missing, not JSON, or not a deepaudit checkpoint of a known version.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise CheckpointError(f"The checkpoint folder '{folder}' does not exist or is not a folder.")
    path = folder / METADATA_FILE
    if not path.is_file():
        raise CheckpointError(f"The checkpoint folder '{folder}' has no {METADATA_FILE}: '{path}' is missing.")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"The checkpoint metadata '{path}' is truncated or not valid JSON ({exc}).") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"The checkpoint metadata '{path}' must hold a JSON object. Got {type(meta).__name__}.")
    missing = [key for key in _REQUIRED if key not in meta]
    if missing:
        raise CheckpointError(f"The checkpoint metadata '{path}' lacks the key(s) {missing}.")
    if meta["format"] != FORMAT:
        raise CheckpointError(
            f"'{path}' is not a deepaudit checkpoint: format {meta['format']!r}, expected {FORMAT!r}."
        )
    if meta["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"The checkpoint '{path}' has format_version {meta['format_version']!r}; this deepaudit reads "
            f"version {FORMAT_VERSION}."
        )
    if meta["family"] not in FAMILIES:
        raise CheckpointError(
            f"The checkpoint '{path}' declares family {meta['family']!r}; known families are {list(FAMILIES)}."
        )
    if not isinstance(meta["sha256"], dict):
        raise CheckpointError(f"The 'sha256' entry of '{path}' must map file names to digests.")
    return meta


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Load a checkpoint written by ``TrainedModel.save``.

    Args:
        directory: the checkpoint folder.
        device: where to put the module (``"cpu"``, ``"cuda"`` or ``"auto"``).

    Returns:
        The model in eval mode; its outputs equal those of the saved model exactly.

    Raises:
        CheckpointError: missing, truncated, corrupt or tampered files, or weights that do not fit the config.

    Example:
        >>> tm = load_model("runs/mlp")  # doctest: +SKIP
    """
    target = resolve_device(device)
    folder = Path(directory)
    meta = read_metadata(folder)
    family = meta["family"]
    try:
        config = config_from_dict(CONFIG_CLASSES[family], meta["config"])
    except DeepAuditError as exc:
        raise CheckpointError(
            f"The config in '{folder / METADATA_FILE}' does not fit family {family!r}: {exc}"
        ) from exc
    module = build_module(family, config)
    _load_into(module, _read_weights(folder, MODEL_FILE, meta["sha256"]), folder / MODEL_FILE)
    discriminator: nn.Module | None = None
    snapshots: list[dict[str, torch.Tensor]] = []
    if family == "gan":
        discriminator = build_discriminator(config)
        disc_state = _read_weights(folder, DISCRIMINATOR_FILE, meta["sha256"])
        _load_into(discriminator, disc_state, folder / DISCRIMINATOR_FILE)
        discriminator.to(target).eval()
        for name in meta.get("snapshots", []):
            state = _read_weights(folder, name, meta["sha256"])
            _check_fits(module.state_dict(), state, folder / name)
            snapshots.append(state)
    module.to(target).eval()
    return TrainedModel(
        family=family,
        task=str(meta["task"]),
        module=module,
        config=config,
        dataset_name=str(meta.get("dataset_name", "")),
        class_names=list(meta.get("class_names", [])),
        feature_names=list(meta.get("feature_names", [])),
        preprocessing=dict(meta.get("preprocessing") or {}),
        metrics=dict(meta.get("metrics") or {}),
        history=list(meta.get("history") or []),
        seed=int(meta.get("seed", 0)),
        discriminator=discriminator,
        snapshots=snapshots,
        kind=str(meta.get("kind", "")),
        input_shape=tuple(int(s) for s in meta.get("input_shape", [])),
    )


def _read_weights(folder: Path, name: str, digests: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Read and verify one safetensors file listed in the metadata."""
    path = folder / name
    if name not in digests:
        raise CheckpointError(f"'{folder / METADATA_FILE}' records no sha256 for the weights file '{name}'.")
    if not path.is_file():
        raise CheckpointError(f"The weights file '{path}' is missing from the checkpoint.")
    data = path.read_bytes()
    try:
        tensors = safetensors.torch.load(data)
    except safetensors.SafetensorError as exc:
        raise CheckpointError(f"The weights file '{path}' is truncated or corrupt ({exc}).") from exc
    if sha256_bytes(data) != digests[name]:
        raise CheckpointError(
            f"The weights file '{path}' does not match the sha256 recorded in {METADATA_FILE}: it was tampered "
            f"with or replaced."
        )
    return tensors


def _check_fits(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor], path: Path) -> None:
    """Raise CheckpointError naming the first key that is missing, unexpected or of the wrong shape/dtype."""
    missing = sorted(set(expected) - set(state))
    if missing:
        raise CheckpointError(f"The weights file '{path}' lacks the key {missing[0]!r} (missing: {missing[:5]}).")
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise CheckpointError(
            f"The weights file '{path}' has the key {unexpected[0]!r}, which the config does not use "
            f"(unexpected: {unexpected[:5]})."
        )
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"The weights file '{path}' does not fit the config: key {key!r} has shape "
                f"{tuple(state[key].shape)}, expected {tuple(tensor.shape)}."
            )
        if state[key].dtype != tensor.dtype:
            raise CheckpointError(
                f"The weights file '{path}' does not fit the config: key {key!r} has dtype {state[key].dtype}, "
                f"expected {tensor.dtype}."
            )


def _load_into(module: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    _check_fits(module.state_dict(), state, path)
    module.load_state_dict(state, strict=True)
