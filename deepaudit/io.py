"""Reading user data for a saved model and writing an audit's output folder."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from audit import AuditResult
from audit.errors import InvalidInputError
from models import Dataset, TrainedModel
from models.dataset import Split
from models.datasets import from_file
from models.preprocessing import encode, feature_groups, feature_names
from reports import write_html, write_junit

__all__ = ["write_outputs", "audit_dataset_for_file", "reencode_for_model"]


def write_outputs(result: AuditResult, out: str | Path) -> dict[str, Path]:
    """Write ``result.json``, ``report.html`` and ``junit.xml`` into ``out`` (each atomically)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "json": result.to_json(folder / "result.json"),
        "html": write_html(result, folder / "report.html"),
        "junit": write_junit(result, folder / "junit.xml"),
    }


def audit_dataset_for_file(path: Path, model: TrainedModel, *, target: str, sensitive: list[str], seed: int) -> Dataset:
    """A Dataset from a user CSV/Parquet file of raw rows, encoded with the model's own preprocessing.

    Raises:
        InvalidInputError: the file cannot be read, the target or a sensitive column is missing, or the rows lack
            a feature the model was trained on.
    """
    ds = from_file(path, target=target, sensitive=sensitive or None, seed=seed)
    return reencode_for_model(ds, model)


def reencode_for_model(ds: Dataset, model: TrainedModel) -> Dataset:
    """Re-encode a tabular data set's raw rows with the preprocessing state stored in ``model``'s checkpoint."""
    state = model.preprocessing
    if ds.kind != "tabular" or not state or state.get("kind") != "tabular":
        return ds
    splits = {}
    for name in ("train", "val", "test"):
        split = ds.split(name)
        if split.raw is None:
            raise InvalidInputError(f"The {name} split has no raw rows to encode for the model.")
        splits[name] = Split(x=encode(split.raw, state), y=split.y, sensitive=split.sensitive, raw=split.raw)
    if model.class_names and list(ds.class_names) != list(model.class_names):
        raise InvalidInputError(
            f"The target's classes {ds.class_names} differ from the model's {model.class_names}; "
            "the file must use the labels the model was trained on."
        )
    groups = feature_groups(state)
    numeric = [f["name"] for f in state["features"] if f["type"] == "numeric"]
    return dataclasses.replace(ds, train=splits["train"], val=splits["val"], test=splits["test"],
                               feature_names=feature_names(state), feature_groups=groups,
                               continuous_features=numeric, preprocessing=state)
