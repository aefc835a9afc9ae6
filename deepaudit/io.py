"""Reading user data for a saved model and writing an audit's output folder."""
from __future__ import annotations

from pathlib import Path

from audit import AuditResult
from audit.errors import InvalidInputError
from models import Dataset, TrainedModel
from models.datasets import from_file
from reports import write_html, write_junit

__all__ = ["write_outputs", "audit_dataset_for_file"]


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
    """A Dataset from a user CSV/Parquet file, checked against the features the model was trained on."""
    ds = from_file(path, target=target, sensitive=sensitive, seed=seed)
    if model.feature_names and list(ds.feature_names) != list(model.feature_names):
        missing = sorted(set(model.feature_names) - set(ds.feature_names))
        extra = sorted(set(ds.feature_names) - set(model.feature_names))
        raise InvalidInputError(
            f"The data file {str(path)!r} does not encode to the model's {len(model.feature_names)} input features. "
            f"Missing: {missing[:8]}; unexpected: {extra[:8]}."
        )
    return ds
