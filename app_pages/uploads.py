"""Checking what a user uploads to the dashboard, once, at the boundary (no Streamlit here).

Tables: CSV / TSV (optionally gzipped) or Parquet, at most :data:`MAX_UPLOAD_MB` MB, parsed with pandas.
Checkpoints: ``metadata.json`` + ``*.safetensors`` files, loose or inside one ``.zip``; nothing else is accepted,
so nothing that can run code (pickles, Python files) is ever written or loaded. Zip archives are extracted entry
by entry with path-traversal, entry-count and size limits; the checkpoint is then read with
``models.load_model``, which only reads JSON and safetensors and checks every weight against the declared family.

Every problem raises ``InvalidInputError`` (or ``CheckpointError`` from the loader) whose message names the file.
"""
from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from models import TrainedModel, load_model
from models.errors import InvalidInputError

__all__ = [
    "MAX_UPLOAD_MB",
    "MAX_UPLOAD_BYTES",
    "TABLE_SUFFIXES",
    "CHECKPOINT_SUFFIXES",
    "MAX_ZIP_ENTRIES",
    "Upload",
    "check_size",
    "table_suffix",
    "read_table",
    "save_table",
    "write_checkpoint",
    "load_uploaded_checkpoint",
]

MAX_UPLOAD_MB = 200
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".tsv", ".parquet", ".pq")
CHECKPOINT_SUFFIXES: tuple[str, ...] = (".json", ".safetensors")
MAX_ZIP_ENTRIES = 256
_CODE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".joblib", ".npy", ".npz", ".py", ".h5")
_PARQUET_MAGIC = b"PAR1"
_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name as the browser sent it and its bytes.

    Attributes:
        name: the file name (no folders are trusted: only the last path part is used).
        data: the content.
    """

    name: str
    data: bytes

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    @property
    def basename(self) -> str:
        """The last part of ``name`` (a browser may send ``C:\\dir\\file.csv``)."""
        return PurePosixPath(self.name.replace("\\", "/")).name


def check_size(name: str, size: int, limit: int = MAX_UPLOAD_BYTES) -> None:
    """Reject a file larger than ``limit`` bytes.

    Args:
        name: the file name, for the message.
        size: its size in bytes.
        limit: the largest accepted size.

    Raises:
        InvalidInputError: ``size`` exceeds ``limit``.

    Example:
        >>> check_size("a.csv", 10)
    """
    if size > limit:
        raise InvalidInputError(
            f"The file {name!r} is {size / 1024 / 1024:.1f} MB; uploads must be at most {limit / 1024 / 1024:.0f} MB. "
            f"Use a smaller sample of the data, or the command line (`deepaudit audit --data FILE`) for large files."
        )


def table_suffix(name: str) -> str:
    """The table suffix of ``name`` (``".csv"``, ``".csv.gz"``, ``".tsv"``, ``".parquet"`` or ``".pq"``).

    Raises:
        InvalidInputError: the name ends in none of :data:`TABLE_SUFFIXES`.
    """
    lower = name.lower()
    for suffix in TABLE_SUFFIXES:
        if lower.endswith(suffix):
            return suffix
    raise InvalidInputError(
        f"The data file {name!r} is not a CSV or Parquet table: its name must end with one of "
        f"{', '.join(TABLE_SUFFIXES)}."
    )


def read_table(upload: Upload) -> pd.DataFrame:
    """Parse an uploaded table after checking its size, suffix and content.

    Args:
        upload: the uploaded file.

    Returns:
        The rows as a DataFrame (at least one row and two columns).

    Raises:
        InvalidInputError: too large, wrong suffix, binary content in a CSV, a Parquet file without its magic
            bytes, a parse failure, or fewer than 2 columns / 1 row.

    Example:
        >>> read_table(Upload("t.csv", b"a,b\\n1,2\\n")).shape
        (1, 2)
    """
    name = upload.basename
    check_size(name, upload.size)
    suffix = table_suffix(name)
    data = upload.data
    if not data:
        raise InvalidInputError(f"The data file {name!r} is empty.")
    try:
        if suffix in (".parquet", ".pq"):
            if data[:4] != _PARQUET_MAGIC or data[-4:] != _PARQUET_MAGIC:
                raise InvalidInputError(f"The data file {name!r} is not a Parquet file (its magic bytes are missing).")
            frame = pd.read_parquet(io.BytesIO(data))
        else:
            text_head = gzip.decompress(data)[:_SNIFF_BYTES] if suffix == ".csv.gz" else data[:_SNIFF_BYTES]
            if b"\x00" in text_head:
                raise InvalidInputError(
                    f"The data file {name!r} is not a text table: it holds binary data (is it an image or a "
                    f"spreadsheet renamed to {suffix}?)."
                )
            frame = pd.read_csv(io.BytesIO(data), sep="\t" if suffix == ".tsv" else ",",
                                compression="gzip" if suffix == ".csv.gz" else None)
    except InvalidInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is bad user input
        raise InvalidInputError(f"The data file {name!r} cannot be read as a {suffix} table: {exc}") from exc
    if frame.shape[1] < 2 or len(frame) == 0:
        raise InvalidInputError(
            f"The data file {name!r} must hold at least one row and two columns (features and a target). "
            f"Got {len(frame)} rows and {frame.shape[1]} columns."
        )
    return frame


def save_table(upload: Upload, folder: Path) -> Path:
    """Write an uploaded table (already checked by :func:`read_table`) as ``folder/data<suffix>``.

    Returns:
        The written path.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"data{table_suffix(upload.basename)}"
    path.write_bytes(upload.data)
    return path


def _checkpoint_member(name: str, source: str) -> PurePosixPath:
    """A safe relative path for one checkpoint file, or an error naming it."""
    raw = name.replace("\\", "/")
    path = PurePosixPath(raw)
    if raw.startswith("/") or path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise InvalidInputError(f"The checkpoint {source!r} contains the unsafe path {name!r} (absolute or with '..').")
    lower = path.name.lower()
    if lower.endswith(_CODE_SUFFIXES):
        raise InvalidInputError(
            f"The checkpoint {source!r} contains {name!r}: pickled or executable files are never loaded. A "
            f"checkpoint is a metadata.json plus .safetensors weights (as written by `deepaudit train`)."
        )
    if not lower.endswith(CHECKPOINT_SUFFIXES):
        raise InvalidInputError(
            f"The checkpoint {source!r} contains {name!r}; only metadata.json and .safetensors files are accepted."
        )
    return path


def _extract_zip(upload: Upload, folder: Path) -> None:
    """Extract the checkpoint files of a zip archive into ``folder`` (a single top folder is stripped)."""
    name = upload.basename
    try:
        archive = zipfile.ZipFile(io.BytesIO(upload.data))
    except zipfile.BadZipFile as exc:
        raise InvalidInputError(f"The checkpoint archive {name!r} is not a valid zip file ({exc}).") from exc
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > MAX_ZIP_ENTRIES:
            raise InvalidInputError(f"The checkpoint archive {name!r} has {len(infos)} files; at most {MAX_ZIP_ENTRIES} are accepted.")
        total = sum(i.file_size for i in infos)
        check_size(f"{name} (uncompressed)", total)
        members = [(info, _checkpoint_member(info.filename, name)) for info in infos
                   if not PurePosixPath(info.filename).name.startswith(".") and "__MACOSX" not in info.filename]
        tops = {m.parts[0] for _, m in members}
        strip = len(tops) == 1 and all(len(m.parts) > 1 for _, m in members)  # "run/model/..." -> "model/..."
        for info, member in members:
            rel = PurePosixPath(*member.parts[1:]) if strip else member
            if len(rel.parts) > 2:
                raise InvalidInputError(f"The checkpoint archive {name!r} nests {info.filename!r} too deeply.")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise InvalidInputError(f"The checkpoint archive {name!r} contains the symbolic link {info.filename!r}.")
            target = folder.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src:
                data = src.read(MAX_UPLOAD_BYTES + 1)
            check_size(info.filename, len(data))
            target.write_bytes(data)


def write_checkpoint(uploads: Sequence[Upload], folder: Path) -> Path:
    """Write uploaded checkpoint files into ``folder`` after checking them.

    Args:
        uploads: either one ``.zip`` holding the checkpoint folder, or loose ``metadata.json`` and
            ``*.safetensors`` files.
        folder: an empty (or new) folder.

    Returns:
        ``folder``.

    Raises:
        InvalidInputError: no files, a file too large, a name that is not metadata.json / *.safetensors (pickles
            and code are refused by name), an unsafe zip, or no ``metadata.json``.
    """
    if not uploads:
        raise InvalidInputError("No checkpoint files were uploaded: upload metadata.json and model.safetensors (or a .zip of them).")
    folder.mkdir(parents=True, exist_ok=True)
    for upload in uploads:
        check_size(upload.basename, upload.size)
    zips = [u for u in uploads if u.basename.lower().endswith(".zip")]
    if zips:
        if len(uploads) != 1:
            raise InvalidInputError(
                f"Upload either one .zip archive or loose checkpoint files, not both. Got {[u.basename for u in uploads]}."
            )
        _extract_zip(zips[0], folder)
    else:
        for upload in uploads:
            member = _checkpoint_member(upload.basename, upload.basename)
            (folder / member.name).write_bytes(upload.data)
    if not (folder / "metadata.json").is_file():
        raise InvalidInputError(
            f"The uploaded checkpoint has no metadata.json (got {sorted(p.name for p in folder.rglob('*') if p.is_file())}). "
            f"Upload the metadata.json written next to the weights."
        )
    return folder


def load_uploaded_checkpoint(uploads: Sequence[Upload], folder: Path) -> TrainedModel:
    """Write the uploaded checkpoint into ``folder`` and load it with ``models.load_model`` (on the CPU).

    Raises:
        InvalidInputError: see :func:`write_checkpoint`.
        CheckpointError: weights that are corrupt, tampered with, or do not fit the declared family.
    """
    return load_model(write_checkpoint(uploads, folder), device="cpu")
