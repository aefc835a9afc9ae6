"""Built-in data sets (shipped, compressed, in ``models/data``) and user tables read from CSV / Parquet.

Example:
    >>> ds = load_dataset("german", max_rows=200)
    >>> ds.kind, ds.task, ds.class_names
    ('tabular', 'binary', ['bad', 'good'])
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models import _loaders_builtin as builtin
from models._loaders_split import (
    DEFAULT_TEST_FRACTION,
    DEFAULT_VAL_FRACTION,
    SPLITS,
    check_fractions,
    check_max_rows,
    check_seed,
)
from models.dataset import Dataset, Split
from models.errors import InvalidInputError, InvalidTypeError, UnknownNameError

__all__ = ["DATASETS", "load_dataset", "split_indices", "from_file", "assemble", "dataset_info"]

DATASETS: tuple[str, ...] = tuple(builtin.SPECS)
_FILE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".parquet", ".pq")


def assemble(parts: dict[str, Any]) -> Dataset:
    """Build a ``Dataset`` from the parts dict returned by the internal builders."""
    fields = {key: (Split(**value) if key in SPLITS else value) for key, value in parts.items()}
    return Dataset(**fields)


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidTypeError(f"The 'name' argument must be a str, one of {list(DATASETS)}. Got {name!r} instead.")
    if name not in builtin.SPECS:
        raise UnknownNameError(f"The 'name' argument must be one of {list(DATASETS)}. Got {name!r} instead.")
    return name


def dataset_info(name: str) -> dict[str, Any]:
    """Static facts about a built-in data set: kind, task, source, licence (and window / vocabulary sizes).

    Raises:
        UnknownNameError: ``name`` is not in ``DATASETS``.
    """
    spec = builtin.SPECS[_check_name(name)]
    return {"name": name, "kind": spec.kind, "task": spec.task, "source": spec.source, "licence": spec.licence,
            **({"window": spec.window} if spec.window else {}),
            **({"max_vocab": spec.max_vocab, "max_len": spec.max_len} if spec.max_vocab else {})}


def _checked(name: object, seed: object, max_rows: object, val_fraction: object,
             test_fraction: object) -> tuple[str, int, int | None, float, float | None]:
    name = _check_name(name)
    seed = check_seed(seed)
    spec = builtin.SPECS[name]
    max_rows = check_max_rows(max_rows, minimum=max(20, 2 * spec.window + 10))
    check_fractions(val_fraction, DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction)
    test = None if test_fraction is None else float(test_fraction)  # type: ignore[arg-type]
    return name, seed, max_rows, float(val_fraction), test  # type: ignore[arg-type]


def split_indices(
    name: str, *, seed: int = 0, max_rows: int | None = None, val_fraction: float = DEFAULT_VAL_FRACTION,
    test_fraction: float | None = None,
) -> dict[str, np.ndarray]:
    """The source rows behind each split of ``load_dataset`` with the same arguments.

    Rows index the shipped raw data in file order (adult: train file then test file); for timeseries they are the
    positions, in the whole series, of the values each split predicts. The arrays are disjoint.

    Raises:
        UnknownNameError: unknown ``name``.
        InvalidInputError: a bad seed, size or fraction.
    """
    name, seed, max_rows, val_fraction, test_fraction = _checked(name, seed, max_rows, val_fraction, test_fraction)
    return builtin.split_indices(name, seed, max_rows, val_fraction, test_fraction, DEFAULT_TEST_FRACTION)


def load_dataset(
    name: str, *, seed: int = 0, max_rows: int | None = None, val_fraction: float = DEFAULT_VAL_FRACTION,
    test_fraction: float | None = None,
) -> Dataset:
    """Load a built-in data set, split (seeded, stratified for classification) and encoded.

    Args:
        name: one of ``DATASETS``: ``adult``, ``german``, ``credit_default`` (tabular binary, with sensitive
            attributes), ``fashion_mnist``, ``mnist``, ``digits`` (image multiclass), ``rotten_tomatoes`` (text
            binary), ``sunspots``, ``co2`` (timeseries regression, chronological splits).
        seed: seeds the subset and the split.
        max_rows: a seeded stratified subset of this many rows is taken before splitting (timeseries: the last
            ``max_rows`` values). None uses every row.
        val_fraction: share of rows for validation (of the training file when an official test file is used).
        test_fraction: share of rows for test. None: the official test file where there is one (adult,
            fashion_mnist) unless ``max_rows`` is given, else 0.2.

    Returns:
        The ``Dataset``; preprocessing is fitted on train only; ``metadata`` records source, licence, sizes, the
        split and, for regression, ``y_scaling`` (mean, std) to report errors in original units.

    Raises:
        UnknownNameError: ``name`` is not in ``DATASETS``.
        InvalidInputError: bad ``seed``, ``max_rows`` or fractions.

    Example:
        >>> load_dataset("digits", max_rows=300).train.x.shape[1:]
        (1, 8, 8)
    """
    name, seed, max_rows, val_fraction, test_fraction = _checked(name, seed, max_rows, val_fraction, test_fraction)
    splits = builtin.split_indices(name, seed, max_rows, val_fraction, test_fraction, DEFAULT_TEST_FRACTION)
    official = max_rows is None and test_fraction is None and builtin.source(name).is_test is not None
    metadata = {
        "split": {
            "method": "chronological" if builtin.SPECS[name].kind == "timeseries" else "stratified",
            "seed": seed, "max_rows": max_rows, "val_fraction": val_fraction,
            "test_fraction": "official test file" if official else (test_fraction or DEFAULT_TEST_FRACTION),
        }
    }
    return assemble(builtin.build_parts(name, splits, metadata))


def from_file(
    path: str | Path, target: str, sensitive: str | Sequence[str] | None = None, **kwargs: Any,
) -> Dataset:
    """Read a CSV (``.csv``, ``.csv.gz``, ``.tsv``) or Parquet (``.parquet``, ``.pq``) table into a Dataset.

    Args:
        path: the file.
        target: the target column.
        sensitive: sensitive column name(s).
        **kwargs: passed to ``Dataset.from_frame`` (``task``, ``categorical``, ``seed``, ...); ``name`` defaults
            to the file name without suffix.

    Returns:
        The ``Dataset``.

    Raises:
        InvalidInputError: the file is missing, has an unsupported suffix, cannot be parsed, or fails the checks
            of ``Dataset.from_frame``.
    """
    file = Path(path)
    suffix = next((s for s in _FILE_SUFFIXES if file.name.lower().endswith(s)), None)
    if suffix is None:
        raise InvalidInputError(
            f"The 'path' argument must end with one of {list(_FILE_SUFFIXES)}. Got {str(path)!r}."
        )
    if not file.is_file():
        raise InvalidInputError(
            f"The 'path' argument must name an existing file. Got {str(path)!r}, which does not exist."
        )
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(file)
        else:
            frame = pd.read_csv(file, sep="\t" if suffix == ".tsv" else ",")
    except Exception as exc:  # noqa: BLE001 - any parser failure is bad user input
        raise InvalidInputError(
            f"The 'path' argument must be a readable {suffix} table. Got {str(path)!r}: {exc}"
        ) from exc
    kwargs.setdefault("name", file.name[: -len(suffix)])
    return Dataset.from_frame(frame, target, sensitive=sensitive, **kwargs)
