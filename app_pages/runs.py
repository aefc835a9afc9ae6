"""Audit run folders on disk: finding past runs, naming new ones, and remembering how each was made.

A run folder holds ``result.json`` (and usually ``report.html`` / ``junit.xml``, see ``deepaudit.io``), optionally a
``model/`` checkpoint and, when the dashboard made it, ``app_run.json``: which data the model was audited on, so the
What-if tab can reload the same rows. Folders written by ``deepaudit demo`` (``out/<family>/result.json`` with
``out/<family>/model``) are read the same way.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.results import atomic_write_text
from models import DATASETS
from models.errors import InvalidInputError

__all__ = [
    "RESULT_FILE",
    "MODEL_DIR",
    "RUN_INFO_FILE",
    "RunSummary",
    "find_runs",
    "summarize_run",
    "check_result_dir",
    "new_run_dir",
    "write_run_info",
    "read_run_info",
    "data_spec",
    "model_dir_for",
]

RESULT_FILE = "result.json"
MODEL_DIR = "model"
RUN_INFO_FILE = "app_run.json"
_MAX_RUNS = 200


@dataclass(frozen=True)
class RunSummary:
    """One line of the past-runs table.

    Attributes:
        path: the run folder.
        name: its path relative to the output folder.
        started_at: ISO time the audit started ("" when unknown).
        data: data set name and kind.
        model: model family / adapter kind.
        status: "passed", "FAILED" or "unreadable: <reason>".
        fails, errors, warnings: finding counts by severity.
    """

    path: Path
    name: str
    started_at: str
    data: str
    model: str
    status: str
    fails: int
    errors: int
    warnings: int

    def row(self) -> dict[str, Any]:
        """A JSON-ready dict for a table."""
        return {"run": self.name, "started": self.started_at, "data": self.data, "model": self.model,
                "status": self.status, "fails": self.fails, "errors": self.errors, "warnings": self.warnings,
                "path": str(self.path)}


def find_runs(out_dir: str | Path, max_depth: int = 3) -> list[Path]:
    """Folders under ``out_dir`` (itself included) that hold a ``result.json``, newest first.

    Args:
        out_dir: the output folder (a missing folder gives an empty list).
        max_depth: how many folder levels below ``out_dir`` to search.

    Returns:
        At most 200 folders, sorted by the modification time of their ``result.json``, newest first.
    """
    root = Path(out_dir)
    if not root.is_dir():
        return []
    found: list[Path] = []
    frontier = [root]
    for _ in range(max_depth + 1):
        nxt: list[Path] = []
        for folder in frontier:
            if (folder / RESULT_FILE).is_file():
                found.append(folder)
            try:
                nxt.extend(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != MODEL_DIR)
            except OSError:
                continue
        frontier = nxt
    found.sort(key=lambda p: (p / RESULT_FILE).stat().st_mtime, reverse=True)
    return found[:_MAX_RUNS]


def summarize_run(folder: Path, root: Path | None = None) -> RunSummary:
    """Read the headline facts of one run folder (never raises: an unreadable result says why).

    Args:
        folder: a folder holding ``result.json``.
        root: the output folder the name is made relative to.
    """
    name = str(folder.relative_to(root)) if root is not None and folder.is_relative_to(root) else folder.name
    if name == ".":
        name = folder.name
    try:
        data = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
        prov = data.get("provenance", {})
        severities = [f.get("severity") for f in data.get("findings", [])]
        ds = prov.get("data", {})
        model = prov.get("model", {})
        family = model.get("name") or model.get("family") or model.get("kind") or "?"
        return RunSummary(
            path=folder, name=name, started_at=str(prov.get("started_at", "")),
            data=f"{ds.get('name', '?')} ({ds.get('kind', '?')})", model=str(family),
            status="passed" if data.get("passed", "fail" not in severities) else "FAILED",
            fails=severities.count("fail"), errors=severities.count("error"), warnings=severities.count("warning"),
        )
    except (OSError, ValueError, AttributeError) as exc:
        return RunSummary(folder, name, "", "?", "?", f"unreadable: {type(exc).__name__}", 0, 0, 0)


def check_result_dir(path: str | Path) -> Path:
    """The folder ``path`` if it holds a ``result.json`` (a path to the file itself is accepted too).

    Raises:
        InvalidInputError: empty path, missing folder, or no ``result.json`` in it.
    """
    text = str(path).strip()
    if not text:
        raise InvalidInputError("Enter the path of an audit result folder (one that holds result.json).")
    folder = Path(text).expanduser()
    if folder.is_file() and folder.name.endswith(".json"):
        folder = folder.parent if folder.name == RESULT_FILE else folder
        if folder.is_file():
            raise InvalidInputError(f"The result file must be called {RESULT_FILE}. Got {text!r}.")
    if not folder.is_dir():
        raise InvalidInputError(f"The folder {text!r} does not exist.")
    if not (folder / RESULT_FILE).is_file():
        raise InvalidInputError(
            f"The folder {text!r} holds no {RESULT_FILE}; pick a folder written by `deepaudit audit`, "
            f"`deepaudit demo` or this dashboard."
        )
    return folder


def new_run_dir(out_dir: str | Path, label: str, now: float | None = None) -> Path:
    """Create and return a fresh run folder ``out_dir/<YYYYmmdd-HHMMSS>-<label>`` (suffixed when taken).

    Args:
        out_dir: the output folder (created when missing).
        label: a short description such as ``"adult-mlp"`` (unsafe characters become ``-``).
        now: the time to stamp (default: now).
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-.")[:60] or "run"
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        folder = root / (f"{stamp}-{safe}" + (f"-{n}" if n else ""))
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise InvalidInputError(f"Could not create a new run folder in {str(root)!r}: too many runs with the same name.")


def write_run_info(folder: Path, info: dict[str, Any]) -> Path:
    """Write ``app_run.json`` (how the run's data was obtained) atomically."""
    return atomic_write_text(folder / RUN_INFO_FILE, json.dumps(info, indent=1, sort_keys=True))


def read_run_info(folder: Path) -> dict[str, Any] | None:
    """The run's ``app_run.json``, or None when absent or unreadable."""
    try:
        data = json.loads((folder / RUN_INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def data_spec(folder: Path, provenance: dict[str, Any]) -> dict[str, Any] | None:
    """How to reload the audited data: the dashboard's record, else the bundled data set named in provenance.

    Returns:
        ``{"source": "bundled", "name", "seed", "max_rows"}`` or ``{"source": "file", "file", "target",
        "sensitive", "seed"}``; None when the data cannot be reloaded (a user table audited elsewhere).
    """
    info = read_run_info(folder)
    if info and info.get("data", {}).get("source") in ("bundled", "file"):
        return dict(info["data"])
    data = provenance.get("data", {})
    name = data.get("name")
    if name not in DATASETS:
        return None
    split = data.get("metadata", {}).get("split", {}) if isinstance(data.get("metadata"), dict) else {}
    max_rows = split.get("max_rows")
    return {"source": "bundled", "name": name, "seed": int(split.get("seed", provenance.get("seed", 0)) or 0),
            "max_rows": int(max_rows) if isinstance(max_rows, int) else None}


def model_dir_for(folder: Path) -> Path | None:
    """The checkpoint that produced the run: ``folder/model`` when it holds ``metadata.json``."""
    candidate = folder / MODEL_DIR
    return candidate if (candidate / "metadata.json").is_file() else None
