"""deepaudit models: real offline data, five model families, training and safe checkpoints."""
from models.checkpoint import load_model
from models.dataset import KINDS, TASKS, Dataset, Split
from models.datasets import DATASETS, load_dataset
from models.errors import CheckpointError, DeepAuditError, InvalidInputError, InvalidTypeError, UnknownNameError
from models.training import FAMILIES, TrainedModel, resolve_device, train_model

__all__ = [
    "Dataset",
    "Split",
    "KINDS",
    "TASKS",
    "DATASETS",
    "FAMILIES",
    "load_dataset",
    "train_model",
    "load_model",
    "TrainedModel",
    "resolve_device",
    "DeepAuditError",
    "InvalidInputError",
    "InvalidTypeError",
    "UnknownNameError",
    "CheckpointError",
]
