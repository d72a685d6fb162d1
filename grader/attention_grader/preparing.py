"""Step 3 (in the coordinator, trusted): turn a staged submission into jobs for the workers.

Each notebook is read and sanitized with nbgrader's own sanitizing preprocessors as the course
configures them (:class:`nbgrader_ext.RestoreLayout` puts the locked cells back, hidden tests
restored from the gradebook), exactly as nbgrader will when it records the submission; the
job carries the notebook, the submission's other files and the hidden checks' inputs.
Workers never see the course.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.converters import Autograde
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import CheckCellMetadata, OverwriteCells
from traitlets.config import Config
from traitlets.utils.importstring import import_item

from . import executor, intake, nbgrader_ext, tamper
from .staging import Submission

MAX_NOTEBOOK_BYTES = 20 * 1024**2


@dataclass
class Prepared:
    """A submission ready to execute: its jobs, the notebooks that cannot be graded (with the
    reason) and what a human should look at."""

    submission: Submission
    jobs: list[executor.Job] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # notebook: reason
    notes: list[str] = field(default_factory=list)


class Preparer:
    def __init__(self, config: Config, unsafe: bool = False) -> None:
        self.config, self.unsafe = config, unsafe
        self.coursedir = CourseDirectory(config=config)

    @functools.cached_property
    def sanitizers(self) -> list[Any]:
        """nbgrader's sanitizing preprocessors as configured, but for those that only check
        against the gradebook (``OverwriteCells``, ``CheckCellMetadata``): after
        ``RestoreLayout`` they change nothing but checksums, which identify nothing here
        (:func:`cells.notebook_digest`); nbgrader runs them when it records."""
        converter = Autograde(coursedir=self.coursedir, config=self.config)
        classes = [
            import_item(p) if isinstance(p, str) else p for p in converter.sanitize_preprocessors
        ]
        return [
            cls(config=self.config)
            for cls in classes
            if not issubclass(cls, (OverwriteCells, CheckCellMetadata))
        ]

    def prepare(self, sub: Submission, notebooks: list[str]) -> Prepared:
        prepared = Prepared(sub, notes=list(sub.notes))
        if sub.refused:
            return prepared
        source = Path(
            self.coursedir.format_path(self.coursedir.source_directory, ".", sub.assignment)
        )
        files, own, dropped = nbgrader_ext.merge_files(
            nbgrader_ext.submission_files(sub.folder), nbgrader_ext.submission_files(source)
        )
        if dropped:
            prepared.notes.append(
                "files left out: the course has its own at these paths: "
                + ", ".join(intake.shown(name) for name in dropped[:10])
            )
        for name in notebooks:
            path = sub.folder / f"{name}.ipynb"
            if not path.exists():
                prepared.notes.append(f"{name}.ipynb was not submitted (0 points)")
                continue
            nb, problem = read_submitted(path)
            if problem:
                prepared.refused[name] = f"{name}.ipynb: {problem}"
                continue
            try:
                nb, resources = self.sanitize(nb, sub, name)
            except Exception as error:  # noqa: BLE001 - reported with its reason
                prepared.refused[name] = (
                    f"{name}.ipynb could not be prepared: {type(error).__name__}: {error}"
                )
                continue
            prepared.notes.extend(f"{name}: {n}" for n in resources.get(nbgrader_ext.NOTES_KEY, []))
            prepared.notes.extend(tamper.scan(path))
            prepared.jobs.append(
                nbgrader_ext.make_job(
                    nb,
                    files,
                    sub.student,
                    sub.assignment,
                    name,
                    isolated=not self.unsafe,
                    student_files=tuple(n for n in own if n not in nbgrader_ext.RECEIPTS),
                )
            )
        return prepared

    def sanitize(self, nb: Any, sub: Submission, name: str) -> tuple[Any, dict]:
        """The submitted notebook ``nb`` (:func:`read_submitted`'s, which this changes) as
        nbgrader's sanitizers leave it, and their resources."""
        resources = {
            "unique_key": name,
            "nbgrader": {
                "student": sub.student,
                "assignment": sub.assignment,
                "notebook": name,
                "db_url": self.coursedir.db_url,
            },
        }
        for preprocessor in self.sanitizers:
            nb, resources = preprocessor(nb, resources)
        return nbformat.reads(nbformat.writes(nb), as_version=4), resources  # as nbgrader reads it


def read_submitted(path: Path) -> tuple[Any, str | None]:
    """The submitted notebook at ``path`` as nbformat reads it, or None and why it cannot
    be graded as a notebook."""
    if not path.is_file():
        return None, "not a notebook (not a regular file)"
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return None, f"the file is larger than {MAX_NOTEBOOK_BYTES // 1024**2} MB"
    try:  # (strict UTF-8, as nbgrader opens it: no BOM, no UTF-16, which json.loads takes)
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        return None, f"not a notebook (the file is not valid JSON: {error})"
    except (RecursionError, MemoryError):  # [[[[... : Python's parser gives up
        return None, "not a notebook (its JSON is nested too deeply to be read)"
    if not isinstance(data, dict) or not isinstance(data.get("cells", []), list):
        return None, "not a notebook (JSON without a list of cells)"
    text = json.dumps(data, ensure_ascii=False)
    try:  # "\ud800" escapes decode to lone surrogates, which no file or page can hold
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None, "not a notebook (it holds text that is not Unicode: a lone surrogate)"
    version = data.get("nbformat")
    if not isinstance(version, int) or version < 4:
        return None, (
            f"old notebook format (nbformat {version}): open it in Jupyter, save it, and "
            "submit it again"
        )
    try:
        invalid: dict[str, Exception] = {}  # (nbformat validates as it reads: once)
        nb = nbformat.reads(text, as_version=4, capture_validation_error=invalid)
        if invalid:
            raise invalid["ValidationError"]
    except Exception as error:  # noqa: BLE001 - any validation problem is the reason
        return None, f"not a valid notebook ({type(error).__name__}: {str(error)[:200]})"
    return nb, None
