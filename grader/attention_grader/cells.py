"""Cells of a notebook read as JSON: their source and their nbgrader metadata, in one place.

Submissions are written by students, so these helpers accept any JSON and never fail on odd
metadata (a student can write anything there): missing or malformed nbgrader metadata reads as
none. Where a notebook was read by nbgrader itself (``NotebookNode``), nbgrader's own
``nbgrader.utils.is_grade`` / ``is_solution`` / ``is_locked`` decide, with the same meaning.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def source(cell: Any) -> str:
    """The cell's source as one string (notebook files may store a list of lines)."""
    text = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(text) if isinstance(text, list) else str(text)


def nbgrader(cell: Any) -> dict[str, Any]:
    """The cell's nbgrader metadata ({} when absent or not a dict)."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def grade_id(cell: Any) -> str | None:
    value = nbgrader(cell).get("grade_id")
    return value if isinstance(value, str) else None


def is_grade(cell: Any) -> bool:
    return bool(nbgrader(cell).get("grade"))


def is_solution(cell: Any) -> bool:
    return bool(nbgrader(cell).get("solution"))


def is_locked(cell: Any) -> bool:
    return bool(nbgrader(cell).get("locked"))


def notebook_digest(nb: Any) -> str:
    """What identifies a notebook to execute: cell types, sources and grading metadata (a
    worker's result carries it; nbgrader's recording checks it, :mod:`nbgrader_ext`)."""
    rows = []
    for cell in nb["cells"]:
        meta = {k: v for k, v in nbgrader(cell).items() if k != "checksum"}
        rows.append([cell["cell_type"], source(cell), meta])
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
