"""Convention tables -> ``TableView``: cell formatting, 'insufficient data' marks, merged interval columns."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from audit.errors import InvalidInputError
from reports._format import format_value, is_number, is_scalar
from reports._model import CellView, TableView

__all__ = ["table_view", "samples_table"]

_LOWER_SUFFIXES = (" lower", "_lower", " ci lower", "_ci_lower", " ci low", "_ci_low", " low", "_low", " lo", "_lo")
_UPPER_SUFFIXES = (" upper", "_upper", " ci upper", "_ci_upper", " ci high", "_ci_high", " high", "_high", " hi", "_hi")
_LONE_LOWER = {"lower", "ci lower", "ci_lower", "ci low", "ci_low", "low", "lo", "2.5%"}
_LONE_UPPER = {"upper", "ci upper", "ci_upper", "ci high", "ci_high", "high", "hi", "97.5%"}


def _cell(value: Any) -> CellView:
    if value is None:
        return CellView("—", "missing")
    if isinstance(value, bool):
        return CellView(format_value(value), "bool")
    if is_number(value):
        return CellView(format_value(value), "num")
    if isinstance(value, str):
        return CellView(value, "insufficient" if "insufficient" in value.lower() else "text")
    return CellView(json.dumps(value, sort_keys=True, default=str), "text")


def _interval_pairs(columns: list[str], rows: list[list[Any]]) -> dict[int, tuple[int, int]]:
    """base column index -> (lower index, upper index), only where every involved cell is a number or null."""
    lowered = [c.lower().strip() for c in columns]
    index = {name: i for i, name in enumerate(lowered)}
    pairs: dict[int, tuple[int, int]] = {}
    used: set[int] = set()
    for i, name in enumerate(lowered):
        for lo_suffix, hi_suffix in zip(_LOWER_SUFFIXES, _UPPER_SUFFIXES):
            lo, hi = index.get(name + lo_suffix), index.get(name + hi_suffix)
            if lo is not None and hi is not None and i not in used:
                pairs[i] = (lo, hi)
                used.update((i, lo, hi))
                break
    for lo, name in enumerate(lowered):
        if name in _LONE_LOWER and lo not in used:
            hi = next((j for j in range(lo + 1, len(lowered)) if lowered[j] in _LONE_UPPER and j not in used), None)
            base = next((j for j in range(lo - 1, -1, -1) if j not in used), None)
            if hi is not None and base is not None:
                pairs[base] = (lo, hi)
                used.update((base, lo, hi))

    def numeric(j: int) -> bool:
        return all(row[j] is None or is_number(row[j]) for row in rows)

    return {b: (lo, hi) for b, (lo, hi) in pairs.items() if numeric(b) and numeric(lo) and numeric(hi)}


def table_view(key: str, spec: Any, *, collapsed: bool = False) -> TableView:
    """Build the view of one ``metrics[check]["tables"][key]`` entry.

    Args:
        key: the table key.
        spec: ``{"title", "columns", "rows", "note"?}``.
        collapsed: show it folded (e.g. when a figure already shows it).

    Returns:
        The ``TableView``.

    Raises:
        InvalidInputError: ``spec`` does not follow the table convention.
    """
    if not isinstance(spec, Mapping):
        raise InvalidInputError(
            f"The table {key!r} must be an object with 'columns' and 'rows'. Got {type(spec).__name__}."
        )
    columns, rows = spec.get("columns"), spec.get("rows")
    if not isinstance(columns, list) or not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise InvalidInputError(f"The table {key!r} must have a 'columns' list and a 'rows' list of lists.")
    columns = [str(c) for c in columns]
    for n, row in enumerate(rows):
        if len(row) != len(columns):
            raise InvalidInputError(
                f"Row {n} of the table {key!r} has {len(row)} cells; the table has {len(columns)} columns."
            )
    pairs = _interval_pairs(columns, rows)
    hidden = {j for lo_hi in pairs.values() for j in lo_hi}
    keep = [j for j in range(len(columns)) if j not in hidden]
    header = [columns[j] + (" [interval]" if j in pairs else "") for j in keep]
    cells: list[list[CellView]] = []
    for row in rows:
        line = []
        for j in keep:
            cell = _cell(row[j])
            if j in pairs:
                lo, hi = (row[k] for k in pairs[j])
                if lo is not None or hi is not None:
                    cell = CellView(cell.text, cell.kind, f"[{format_value(lo)}, {format_value(hi)}]")
            line.append(cell)
        cells.append(line)
    numeric = [bool(cells) and all(line[n].kind in ("num", "missing") for line in cells) for n in range(len(keep))]
    note = spec.get("note")
    return TableView(key=key, title=str(spec.get("title") or key), columns=columns, rows=[list(r) for r in rows],
                     header=header, cells=cells, note=str(note) if note else None, collapsed=collapsed,
                     numeric=numeric)


def _compact(value: Any) -> str:
    """A nested sample value as short text: ``{"feature", "from", "to"}`` records as "feature: from → to" lines,
    other records as "key: value" pairs (one a line when a value is a long text), numbers formatted like every
    other cell."""
    if isinstance(value, Mapping):
        if {"feature", "from", "to"} <= set(value):
            return f"{value['feature']}: {_compact(value['from'])} → {_compact(value['to'])}"
        sep = "\n" if any(isinstance(v, str) and len(v) > 30 for v in value.values()) else ", "
        return sep.join(f"{k}: {_compact(v)}" for k, v in value.items())
    if isinstance(value, list):
        sep = "\n" if any(isinstance(v, (Mapping, list)) for v in value) else ", "
        return sep.join(_compact(v) for v in value)
    return format_value(value) if is_scalar(value) else json.dumps(value, sort_keys=True, default=str)


def samples_table(records: Any) -> TableView:
    """``metrics[check]["samples"]`` (a list of flat dicts) as a table; nested values are shown as compact text
    (a list of changes as one "feature: from → to" line each).

    Raises:
        InvalidInputError: ``records`` is not a list of objects.
    """
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise InvalidInputError("The 'samples' entry must be a list of objects (one per sample).")
    columns: list[str] = []
    for record in records:
        columns += [str(k) for k in record if str(k) not in columns]
    rows = [[r.get(c) if is_scalar(r.get(c)) else _compact(r.get(c)) for c in columns] for r in records]
    return table_view("samples", {"title": "Samples", "columns": columns, "rows": rows})
