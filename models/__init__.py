"""deepaudit models: real offline data, five model families, training and safe checkpoints."""
from models.dataset import KINDS, TASKS, Dataset, Split
from models.errors import CheckpointError, DeepAuditError, InvalidInputError, InvalidTypeError, UnknownNameError

__all__ = [
    "Dataset",
    "Split",
    "KINDS",
    "TASKS",
    "DeepAuditError",
    "InvalidInputError",
    "InvalidTypeError",
    "UnknownNameError",
    "CheckpointError",
]

# Filled in as the modules land (kept explicit, no star imports).
try:  # pragma: no cover - removed once datasets/training exist
    from models.datasets import DATASETS, load_dataset  # noqa: F401

    __all__ += ["load_dataset", "DATASETS"]
except ImportError:  # noqa: S110
    pass
try:  # pragma: no cover
    from models.checkpoint import load_model  # noqa: F401
    from models.training import FAMILIES, TrainedModel, resolve_device, train_model  # noqa: F401

    __all__ += ["train_model", "load_model", "TrainedModel", "FAMILIES", "resolve_device"]
except ImportError:
    pass
