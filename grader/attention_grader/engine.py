"""Grade a class: find what needs grading, execute it in parallel, record one at a time.

1. **Plan.** Each submission (one student, one assignment) passes the intake gate first
   (:mod:`intake`): its regular files are copied into ``.intake/files/<student>/<assignment>``
   (owned by the grader; symlinks, FIFOs, devices, unsafe names and ids, too many or too large
   files refuse that submission alone, with the reason), and nothing after this step reads
   ``submitted/``. A submission is graded when it is new or its staged files changed (a
   content hash), or when what grades it changed (:func:`grading_version`: the code of both
   packages, the notebook's judges, nbgrader's configuration, the release, the limits, the
   installed distributions); ``force`` regrades everything. When only its due date or the
   late policy changed (:func:`late_version`), nothing is executed: the penalties are
   computed again on the recorded scores. The hashes that were graded are kept in
   ``autograded/<student>/<assignment>/.course-grading.json``.
2. **Prepare** (this process, trusted): each notebook is read and sanitized with nbgrader's
   own preprocessors (hidden tests restored from the gradebook), exactly as nbgrader will.
3. **Execute** (Dask workers, one per core by default, or a scheduler's workers on other
   machines): :func:`executor.execute` in a sandbox. Workers never see the course.
4. **Record** (this process, one submission at a time): nbgrader's autograde runs in-process
   on ``.intake/submitted/<student>/<assignment>`` (its ``submitted_directory`` here), which
   holds only the submission's notebooks and a checked ``timestamp.txt`` and
   ``submission_secret.txt``: nbgrader copies no other file of a submission into
   ``autograded/`` and so into ``feedback/``. It
   takes the worker's result for the notebook it sanitized (``nbgrader_ext.GradingExecute``),
   has the trusted checks decide every test cell, and writes the gradebook. SIGINT/SIGTERM
   wait until the submission being recorded is complete, so nothing is half written.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import signal
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.converters import Autograde
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import CheckCellMetadata, OverwriteCells
from sqlalchemy.exc import SAWarning
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader
from traitlets.utils.importstring import import_item

from . import cells, executor, intake, judging, late, nbgrader_ext, sandbox, tamper

STAMP = ".course-grading.json"
TIMINGS = ".course-timings.json"  # in autograded/: seconds per notebook, to start long ones first
MAX_NOTEBOOK_BYTES = 20 * 1024**2
INTAKE = ".intake"  # in the course root: the grader's copies of the submissions (git-ignored)
STAGED_FILES = f"{INTAKE}/files"  # every regular file of a submission, as it passed the gate
STAGED_SUBMITTED = f"{INTAKE}/submitted"  # what nbgrader reads: notebooks, timestamp, secret


class GradingError(RuntimeError):
    """A step of the grading cycle cannot run (a message for the instructor)."""


def load_config(root: Path) -> Config:
    """The course's nbgrader configuration, as nbgrader itself reads it."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    return config


# ---------------------------------------------------------------------------- plan


@dataclass
class Submission:
    student: str
    assignment: str
    folder: Path  # the staged copy (never the student's folder in submitted/)
    digest: str = ""
    refused: str = ""  # why the intake gate refused it (then nothing is graded or recorded)
    notes: list[str] = field(default_factory=list)  # what the intake gate left out

    @property
    def name(self) -> str:
        if not intake.safe_name(self.student):  # (refused at intake: shown, not printed raw)
            return f"{intake.shown(self.student)}/{self.assignment}"
        return f"{self.student}/{self.assignment}"


@dataclass
class Outcome:
    submission: Submission
    status: str  # graded, failed, skipped
    reasons: list[str] = field(default_factory=list)  # why it failed (cells after: 0 points)
    notes: list[str] = field(default_factory=list)  # what a human should look at
    log: str = ""
    seconds: float = 0.0
    timings: dict[str, dict[str, float]] = field(default_factory=dict)  # see timing()


def _digest_files(folder: Path, files: list[str]) -> str:
    """A hash of the staged files (names relative to ``folder``), read in chunks."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0")
        one = hashlib.sha256()
        with open(folder / rel, "rb") as handle:
            for chunk in iter(lambda: handle.read(1024**2), b""):
                one.update(chunk)
        digest.update(one.digest())
    return digest.hexdigest()


GRADING_PACKAGES = ("attention_course", "attention_grader")
NOT_GRADING = (
    "catalogs/*",  # typical mistakes: read by the tests and `make demo`, never when grading
    "judges/nb*.py",  # each notebook's judges: part of its own assignment's version only
)
UNRELATED_SETTINGS = ("CourseDirectory.root",)  # where the course is decides no grade
# (sections whose name holds "Exchange" move files between people and decide no grade either;
#  HTMLExporter renders pages for people; the late policy has a version of its own)


def package_folders() -> dict[str, Path]:
    """``{package: folder}`` of :data:`GRADING_PACKAGES` as imported (installed) here."""
    import importlib

    return {name: Path(importlib.import_module(name).__file__).parent for name in GRADING_PACKAGES}


def code_files(folders: dict[str, Path]) -> list[tuple[str, Path]]:
    """``(package/relative path, path)`` of every ``.py`` file of the packages in ``folders``
    whose code may decide any grade: all of them but :data:`NOT_GRADING`."""
    out = []
    for package, folder in sorted(folders.items()):
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder)
            if "__pycache__" in rel.parts or any(rel.match(p) for p in NOT_GRADING):
                continue
            out.append((f"{package}/{rel.as_posix()}", path))
    return out


def judges_file(folders: dict[str, Path], notebook: str) -> Path | None:
    """The judges module of ``notebook`` in ``folders`` (None when it has none)."""
    package, *parts = judging.judges_module(notebook).split(".")
    path = folders[package].joinpath(*parts[:-1], parts[-1] + ".py")
    return path if path.is_file() else None


def _canonical(value: Any) -> Any:
    """A configuration value as stable text (classes by their import name, never an id)."""
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)


def _late_plugin(config: Config) -> Any:
    from nbgrader.preprocessors import AssignLatePenalties

    name = AssignLatePenalties(config=config).plugin_class
    cls = import_item(name) if isinstance(name, str) else name
    return cls(config=config)


def settings_version(root: Path, config: Config) -> str:
    """nbgrader_config.py as written and every setting it resolved (the environment's
    included), but for those that decide no grade and the late policy (:func:`late_version`)."""
    late_sections = {"AssignLatePenalties"} | {
        cls.__name__ for cls in type(_late_plugin(config)).mro()
    }
    settings = {}
    for section, values in config.items():
        if "exchange" in section.lower() or section in late_sections | {"HTMLExporter"}:
            continue
        for key, value in values.items():
            if f"{section}.{key}" not in UNRELATED_SETTINGS:
                settings[f"{section}.{key}"] = _canonical(value)
    digest = hashlib.sha256((root / "nbgrader_config.py").read_bytes())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


@functools.cache
def distributions_version() -> str:
    """The Python version and every installed distribution (name and version: the first
    found of each name, as imports find it; a folder on ``sys.path`` twice changes nothing)."""
    import importlib.metadata

    versions: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        versions.setdefault(dist.metadata["Name"].lower().replace("_", "-"), dist.version)
    return hashlib.sha256(json.dumps([sys.version, sorted(versions.items())]).encode()).hexdigest()


def common_version(root: Path, config: Config, folders: dict[str, Path]) -> str:
    """What decides every grade of the course: the packages' code (:func:`code_files`), the
    configuration (:func:`settings_version`), the sandbox's limits, the installed
    distributions."""
    digest = hashlib.sha256()
    for name, path in code_files(folders):
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    digest.update(settings_version(root, config).encode())
    limits = dict(sandbox.Limits.from_env().__dict__)
    limits.pop("uid_base")  # which uids the sandboxes get changes no grade
    digest.update(json.dumps(limits, sort_keys=True).encode())
    digest.update(distributions_version().encode())
    return digest.hexdigest()


def grading_version(
    root: Path, config: Config, assignment: str, folders: dict[str, Path] | None = None
) -> str:
    """What decides a grade of ``assignment`` besides the submission (its due date and the
    late policy aside): :func:`common_version`, and each release notebook with its judges."""
    folders = folders or package_folders()
    coursedir = CourseDirectory(config=config)
    digest = hashlib.sha256(common_version(root, config, folders).encode())
    release = Path(coursedir.format_path(coursedir.release_directory, ".", assignment))
    for path in sorted(release.glob("*.ipynb")):
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        judges = judges_file(folders, path.stem)
        if judges is not None:
            digest.update(hashlib.sha256(judges.read_bytes()).digest())
    return digest.hexdigest()


def late_version(config: Config, due: str | None) -> str:
    """What decides a submission's late penalty besides its score and timestamp: its due date
    (the gradebook's, extension included) and the late plugin with its settings."""
    plugin = _late_plugin(config)
    settings = {name: _canonical(getattr(plugin, name)) for name in plugin.trait_names(config=True)}
    cls = type(plugin)
    text = json.dumps([f"{cls.__module__}.{cls.__qualname__}", settings, due], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------- engine


QUIET_DASK = {
    # Dask's defaults suit short tasks; grading runs a few long ones per worker. Measured on 2
    # cores, an idle 2-worker LocalCluster used 5.8 s of CPU per 30 s with the defaults (the
    # workers' sampling profiler, the 20 ms event-loop tick, the system monitor, work stealing)
    # and 0.8 s with these: CPU that the sandboxed kernels need.
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.scheduler.work-stealing": False,
}


@contextlib.contextmanager
def quiet_dask() -> Iterator[None]:
    """:data:`QUIET_DASK` while the block runs (for the local cluster and this client)."""
    import dask
    import distributed  # noqa: F401 - its defaults must be loaded before they are changed

    # (dask.config.set on a missing top-level section removes the whole section afterwards,
    # with the defaults that importing distributed put there meanwhile)
    with dask.config.set(QUIET_DASK):
        yield


@contextlib.contextmanager
def _one_sql_engine_per_url() -> Iterator[None]:
    """nbgrader's ``Gradebook`` creates a new SQLAlchemy engine each time it is opened (about a
    dozen times per recorded submission), so every query is compiled again. While it grades,
    the coordinator keeps one engine per URL (its compiled-statement cache survives
    ``Gradebook.close``, which only closes the connections): recording costs a third less."""
    import nbgrader.api

    create = nbgrader.api.create_engine
    engines: dict[tuple[str, str], Any] = {}

    def shared(url: Any, **kwargs: Any) -> Any:
        key = (str(url), repr(sorted(kwargs.items())))
        if key not in engines:
            engines[key] = create(url, **kwargs)
        return engines[key]

    nbgrader.api.create_engine = shared
    try:
        yield
    finally:
        nbgrader.api.create_engine = create
        for sql_engine in engines.values():
            sql_engine.dispose()


class _Signals:
    """SIGINT/SIGTERM raise KeyboardInterrupt, except inside :meth:`critical`, where they
    are held until the section is complete."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._critical = False
        self._saved: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        self.received = signum
        if not self._critical:
            raise KeyboardInterrupt

    def __enter__(self) -> _Signals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._saved[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self._critical = True
        try:
            yield
        finally:
            self._critical = False
        if self.received is not None:
            raise KeyboardInterrupt


@dataclass
class Summary:
    outcomes: list[Outcome]
    seconds: float
    workers: str
    interrupted: bool = False
    memory: str = ""  # how the sandboxes' memory limit is enforced (sandbox.memory_enforcement)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def flagged(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.notes and o.status != "skipped"]

    def text(self) -> str:
        done = self.count("graded") + self.count("failed")
        rate = done / self.seconds * 60 if self.seconds > 0 else 0.0
        lines = [
            f"{self.count('graded')} graded, {self.count('failed')} failed, "
            f"{len(self.flagged)} flagged, {self.count('skipped')} unchanged (not regraded)"
            f" in {self.seconds:.0f} s ({rate:.1f} submissions/min, {self.workers})"
        ]
        if self.count("penalty"):
            lines.append(
                f"  {self.count('penalty')} unchanged with a new due date or late policy: "
                "late penalties recomputed on the recorded scores (nothing executed)"
            )
        if self.memory:
            lines.append(f"  memory limit: {self.memory}")
        if self.interrupted:
            lines.append(
                "INTERRUPTED: every result above was recorded; run the same command "
                "again to grade the rest."
            )
        for o in self.outcomes:
            if o.status == "failed":
                lines.append(f"  FAILED {o.submission.name}: {'; '.join(o.reasons)}")
                lines.extend(f"      | {line}" for line in o.log.strip().splitlines()[-8:])
        for o in self.flagged:
            lines.append(f"  REVIEW {o.submission.name}: {'; '.join(o.notes)}")
        return "\n".join(lines)


class Engine:
    """Grades submissions of a course root (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        *,
        workers: int | None = None,
        scheduler: str | None = None,
        sequential: bool = False,
        force: bool = False,
        unsafe: bool = False,
        progress: bool = True,
        code: dict[str, Path] | None = None,
    ) -> None:
        """``code``: ``{package: folder}`` whose files the stamps hash (default: the
        imported packages, :func:`package_folders`)."""
        self.root = root.resolve()
        self.config = load_config(self.root)
        if unsafe:
            self.config.GradingExecute.unsafe_no_sandbox = True
        self.coursedir = CourseDirectory(config=self.config)
        # nbgrader records from the staged notebooks, never from submitted/ (see intake)
        self.staged_coursedir = CourseDirectory(config=self.config)
        self.staged_coursedir.submitted_directory = STAGED_SUBMITTED
        self.workers = workers or int(os.environ.get("COURSE_WORKERS", 0) or os.cpu_count() or 1)
        self.scheduler = scheduler or os.environ.get("COURSE_SCHEDULER") or None
        self.sequential, self.force, self.unsafe, self.progress = (
            sequential,
            force,
            unsafe,
            progress,
        )
        self.code = code or package_folders()
        self._versions: dict[str, str] = {}
        self._late: dict[tuple[str, str], str] = {}  # (student, assignment): late_version

    # -- plan ---------------------------------------------------------------------------

    def _autograded(self, sub: Submission) -> Path:
        return Path(
            self.coursedir.format_path(
                self.coursedir.autograded_directory, sub.student, sub.assignment
            )
        )

    def _notebooks(self, assignment: str) -> list[str]:
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                return sorted(nb.name for nb in gb.find_assignment(assignment).notebooks)
            except MissingEntry:
                raise GradingError(
                    f"assignment {assignment!r} is not in the gradebook: run "
                    "`make release` first (it records the hidden tests)."
                ) from None

    def plan(
        self, assignments: list[str], students: list[str] | None = None
    ) -> tuple[list[Submission], list[Submission]]:
        """(to grade, unchanged) submissions of ``assignments``, each through the intake gate
        (refused ones are to grade: they are reported every time)."""
        todo, unchanged = [], []
        base = Path(self.coursedir.format_path(self.coursedir.submitted_directory, ".", "."))
        for assignment in assignments:
            names = self._notebooks(assignment)
            self._versions[assignment] = grading_version(
                self.root, self.config, assignment, self.code
            )
            default_due, due = self._due_dates(assignment)
            for student in _entries(base):
                if students and student not in students:
                    continue
                sub = self.intake(base, student, assignment, names)
                if sub is None:
                    continue
                self._late[(student, assignment)] = late_version(
                    self.config, due.get(student, default_due)
                )
                if sub.refused:
                    todo.append(sub)
                    continue
                previous = self._previous_stamp(sub)
                stamp = self._stamp(sub)
                if not self.force and all(
                    previous.get(key) == stamp[key] for key in ("submission", "grading")
                ):
                    unchanged.append(sub)  # (its late penalty may be stale: stale_penalties)
                else:
                    todo.append(sub)
        return todo, unchanged

    def _due_dates(self, assignment: str) -> tuple[str | None, dict[str, str]]:
        """(the assignment's due date, ``{student: due date with extension}`` of the
        recorded submissions), from the gradebook: the dates nbgrader charges lateness from
        (``make release`` writes them from ``schedule.toml``)."""
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            default = gb.find_assignment(assignment).duedate
            due = {
                s.student.id: None if s.duedate is None else s.duedate.isoformat()
                for s in gb.assignment_submissions(assignment)
            }
        return (None if default is None else default.isoformat()), due

    def _previous_stamp(self, sub: Submission) -> dict[str, str]:
        try:
            previous = json.loads((self._autograded(sub) / STAMP).read_text())
        except (OSError, ValueError):
            return {}
        return previous if isinstance(previous, dict) else {}

    def stale_penalties(self, unchanged: list[Submission]) -> list[Submission]:
        """The unchanged submissions whose due date or late policy changed since they were
        graded: their penalties are recomputed on the recorded scores, nothing is executed."""
        return [
            s for s in unchanged if self._previous_stamp(s).get("late") != self._stamp(s)["late"]
        ]

    def intake(
        self, base: Path, student: str, assignment: str, notebooks: list[str]
    ) -> Submission | None:
        """Copy ``submitted/<student>/<assignment>`` through the gate: its regular files into
        ``.intake/files/...`` (for hashing and the sandbox), its notebooks and a checked
        ``timestamp.txt``/``submission_secret.txt`` into ``.intake/submitted/...`` (what
        nbgrader reads). None when the student has no such submission; a refused
        :class:`Submission` (``refused`` says why) when the gate refuses it."""
        folder = base / student / assignment
        student_entry = base / student
        if not student_entry.is_dir() or student_entry.is_symlink():
            if student_entry.is_symlink() and os.path.lexists(folder):
                return Submission(
                    student,
                    assignment,
                    folder,
                    refused="refused at intake: the student folder is a symbolic link",
                )
            return None  # a stray file in submitted/
        if not os.path.lexists(folder):
            return None
        staging = self.root / INTAKE
        staging.mkdir(mode=0o700, exist_ok=True)
        staging.chmod(0o700)  # the grader's alone: students' files, other students' included
        files_dir = self.root / STAGED_FILES / student / assignment
        view = self.root / STAGED_SUBMITTED / student / assignment
        sub = Submission(student, assignment, files_dir)
        try:
            intake.check_student_id(student)
            for stale in (files_dir, view):
                if os.path.lexists(stale):
                    shutil.rmtree(stale)
            copied = intake.copy_tree(folder, files_dir)
            for name in notebooks:
                path = files_dir / f"{name}.ipynb"
                if os.path.lexists(path) and not path.is_file():
                    raise intake.Refused(
                        f"{name}.ipynb: {intake.kind(path.lstat().st_mode)} where the notebook "
                        "belongs"
                    )
            sub.digest = _digest_files(files_dir, copied)
            view.mkdir(parents=True, mode=0o700)
            for name in notebooks:
                if (files_dir / f"{name}.ipynb").is_file():
                    shutil.copyfile(files_dir / f"{name}.ipynb", view / f"{name}.ipynb")
            _stage_receipts(files_dir, view, sub.notes)
        except intake.Refused as error:
            for stale in (files_dir, view):
                if os.path.lexists(stale):
                    shutil.rmtree(stale)
            sub.folder = folder
            sub.refused = f"refused at intake: {error}"
        return sub

    def _stamp(self, sub: Submission) -> dict[str, str]:
        return {
            "submission": sub.digest,
            "grading": self._versions[sub.assignment],
            "late": self._late[(sub.student, sub.assignment)],
        }

    # -- prepare ------------------------------------------------------------------------

    @functools.cached_property
    def _sanitizers(self) -> list[Any]:
        """nbgrader's sanitizing preprocessors as configured, but for those that only check
        against the gradebook (``OverwriteCells``, ``CheckCellMetadata``): after
        ``RestoreLayout`` they change nothing but checksums, which identify nothing here
        (:func:`nbgrader_ext.notebook_digest`); nbgrader runs them when it records."""
        converter = Autograde(coursedir=self.coursedir, config=self.config)
        classes = [
            import_item(p) if isinstance(p, str) else p for p in converter.sanitize_preprocessors
        ]
        return [
            cls(config=self.config)
            for cls in classes
            if cls not in (OverwriteCells, CheckCellMetadata)
        ]

    def prepare(self, sub: Submission) -> tuple[list[executor.Job], list[str], list[str]]:
        """(jobs, refusals, notes): the notebooks to execute, why others cannot be graded,
        and what a human should look at."""
        jobs, refusals, notes = [], [], list(sub.notes)
        if sub.refused:
            return jobs, refusals, notes
        files = nbgrader_ext.submission_files(sub.folder)
        source = Path(
            self.coursedir.format_path(self.coursedir.source_directory, ".", sub.assignment)
        )
        files.update(nbgrader_ext.submission_files(source))
        for name in self._notebooks(sub.assignment):
            path = sub.folder / f"{name}.ipynb"
            if not path.exists():
                notes.append(f"{name}.ipynb was not submitted (0 points)")
                continue
            problem = _unreadable(path)
            if problem:
                refusals.append(f"{name}.ipynb: {problem}")
                nbgrader_ext.PREEXECUTED[(sub.student, sub.assignment, name)] = problem
                continue
            nb = nbformat.read(str(path), as_version=4)
            resources = {
                "unique_key": name,
                "nbgrader": {
                    "student": sub.student,
                    "assignment": sub.assignment,
                    "notebook": name,
                    "db_url": self.coursedir.db_url,
                },
            }
            try:
                for preprocessor in self._sanitizers:
                    nb, resources = preprocessor(nb, resources)
                nb = nbformat.reads(nbformat.writes(nb), as_version=4)  # as nbgrader re-reads it
            except Exception as error:  # noqa: BLE001 - reported with its reason
                reason = f"{name}.ipynb could not be prepared: {type(error).__name__}: {error}"
                refusals.append(reason)
                nbgrader_ext.PREEXECUTED[(sub.student, sub.assignment, name)] = reason
                continue
            notes.extend(f"{name}: {n}" for n in resources.get(nbgrader_ext.NOTES_KEY, []))
            notes.extend(tamper.scan(path))
            jobs.append(
                nbgrader_ext.make_job(
                    nb, files, sub.student, sub.assignment, name, isolated=not self.unsafe
                )
            )
        return jobs, refusals, notes

    # -- record -------------------------------------------------------------------------

    def record(
        self, sub: Submission, results: list[executor.Result], refusals: list[str], notes: list[str]
    ) -> Outcome:
        """nbgrader's autograde of one submission, in this process, from the results (a
        submission refused at intake is reported, and nothing of it is recorded)."""
        start = time.monotonic()
        if sub.refused:
            return Outcome(sub, "failed", reasons=[sub.refused], notes=list(notes))
        for result in results:
            ident = tuple(result.key.split("/"))
            nbgrader_ext.PREEXECUTED[ident] = (
                result.reason if result.status == "worker-failed" else (result.input_digest, result)
            )
        api = NbGraderAPI(coursedir=self.staged_coursedir, config=self.config)
        nbgrader_ext.STAGED[(sub.student, sub.assignment)] = sub.folder
        try:
            with warnings.catch_warnings():  # nbgrader 0.9 + SQLAlchemy 2.1: harmless notes
                warnings.simplefilter("ignore", SAWarning)
                response = api.autograde(sub.assignment, sub.student, force=True, create=True)
        finally:
            nbgrader_ext.STAGED.pop((sub.student, sub.assignment), None)
        outcome = Outcome(sub, "graded", notes=list(notes))
        outcome.reasons.extend(refusals)
        for result in results:
            nbgrader_ext.PREEXECUTED.pop(tuple(result.key.split("/")), None)
            if result.key in nbgrader_ext.EXECUTED_AGAIN:
                nbgrader_ext.EXECUTED_AGAIN.discard(result.key)
                outcome.notes.append(
                    f"{result.key.split('/')[-1]}: nbgrader's notebook differed "
                    "from the one executed; it was executed again"
                )
            outcome.timings[result.key] = timing(result)
            if result.status != "ok":
                outcome.reasons.append(
                    f"{result.key.split('/')[-1]}: {result.reason} (cells "
                    "that did not run scored 0)"
                )
                outcome.log += result.log
            outcome.notes.extend(f"{result.key.split('/')[-1]}: {e}" for e in result.events)
        if not response.get("success"):
            outcome.log += response.get("log", "") + response.get("error", "")
            if not refusals:
                outcome.reasons.append("nbgrader could not record it (see the log)")
        else:  # written answers a human graded that changed since (nbgrader_ext.KeepHumanGrades)
            outcome.notes.extend(
                nbgrader_ext.KeepHumanGrades.changed_answers(
                    self.coursedir.db_url, sub.assignment, sub.student
                )
            )
        if outcome.reasons:
            outcome.status = "failed"
        else:
            folder = self._autograded(sub)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / STAMP).write_text(json.dumps(self._stamp(sub)))
        outcome.seconds = round(time.monotonic() - start, 3)
        for phases in outcome.timings.values():
            phases["record"] = outcome.seconds / max(len(outcome.timings), 1)
        return outcome

    # -- run ----------------------------------------------------------------------------

    def grade(self, assignments: list[str], students: list[str] | None = None) -> Summary:
        start = time.monotonic()
        if not self.unsafe and sandbox.problem():
            raise GradingError(f"no sandbox: {sandbox.problem()}")
        todo, unchanged = self.plan(assignments, students)
        repriced = self.stale_penalties(unchanged)
        if repriced:
            late.apply_policy(self.root)  # every recorded penalty, from the gradebook's dates
            for sub in repriced:
                (self._autograded(sub) / STAMP).write_text(json.dumps(self._stamp(sub)))
        repriced_names = {s.name for s in repriced}
        outcomes = [
            Outcome(s, "penalty" if s.name in repriced_names else "skipped") for s in unchanged
        ]
        mode = (
            "sequential"
            if self.sequential
            else (f"scheduler {self.scheduler}" if self.scheduler else f"{self.workers} workers")
        )
        summary = Summary(outcomes, 0.0, mode + (", NO SANDBOX" if self.unsafe else ""))
        if not self.unsafe and not self.scheduler:  # remote workers: in each notebook's result
            summary.memory = sandbox.memory_enforcement()
        with (
            _Signals() as signals,
            _progress(len(todo), self.progress) as bar,
            _one_sql_engine_per_url(),
        ):
            try:
                runner = self._sequential if self.sequential or not todo else self._dask
                for outcome in runner(todo, signals):
                    outcomes.append(outcome)
                    bar.set_postfix_str(outcome.submission.name, refresh=False)
                    bar.update(1)
            except KeyboardInterrupt:
                summary.interrupted = True
        summary.seconds = time.monotonic() - start
        return summary

    def _sequential(self, todo: list[Submission], signals: _Signals) -> Iterator[Outcome]:
        for sub in todo:
            jobs, refusals, notes = self.prepare(sub)
            results = [_execute(job) for job in jobs]
            with signals.critical():
                yield self.record(sub, results, refusals, notes)

    def _dask(self, todo: list[Submission], signals: _Signals) -> Iterator[Outcome]:
        with quiet_dask():
            yield from self._dask_run(todo, signals)

    def _dask_run(self, todo: list[Submission], signals: _Signals) -> Iterator[Outcome]:
        from distributed import Client, LocalCluster, as_completed

        cluster = None
        if self.scheduler:
            client = Client(self.scheduler, timeout="30s")
        else:
            cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                memory_limit=0,
                dashboard_address=None,
                # dashboard_address=None alone still starts the scheduler's HTTP server, on
                # Dask's default port 8787 ("Port 8787 is already in use" when another process
                # holds it, and a fixed port on a shared machine): a free loopback port instead
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
        timings_path = (
            Path(self.coursedir.format_path(self.coursedir.autograded_directory, ".", "."))
            / TIMINGS
        )
        try:
            timings = json.loads(timings_path.read_text())
        except (OSError, ValueError):
            timings = {}
        try:
            pending: dict[str, tuple[Submission, list[str], list[str], int]] = {}
            results: dict[str, list[executor.Result]] = {}
            futures: dict[Any, str] = {}
            for sub in todo:
                jobs, refusals, notes = self.prepare(sub)
                pending[sub.name] = (sub, refusals, notes, len(jobs))
                results[sub.name] = []
                if not jobs:
                    with signals.critical():
                        yield self.record(sub, [], refusals, notes)
                    continue
                for job in jobs:  # the longest notebooks first: the last one ends sooner
                    cost = timings.get(job.key.rsplit("/", 1)[-1], 0)
                    futures[
                        client.submit(_execute, job, pure=False, retries=0, priority=int(cost))
                    ] = job.key
            for future in as_completed(list(futures)):
                try:
                    result = future.result()
                except Exception as error:  # noqa: BLE001 - a lost worker is a result too
                    result = executor.Result(
                        key=futures[future],
                        notebook={"cells": []},
                        status="worker-failed",
                        reason=f"the grading worker failed: {type(error).__name__}: {error}",
                    )
                name = "/".join(result.key.split("/")[:2])
                results[name].append(result)
                if result.status == "ok":
                    notebook = result.key.rsplit("/", 1)[-1]
                    timings[notebook] = round(
                        0.5 * timings.get(notebook, result.seconds) + 0.5 * result.seconds, 2
                    )
                sub, refusals, notes, expected = pending[name]
                if len(results[name]) == expected:
                    with signals.critical():
                        yield self.record(sub, results.pop(name), refusals, notes)
        finally:
            client.close(timeout=10)
            if cluster is not None:
                cluster.close(timeout=10)
            if timings and timings_path.parent.is_dir():
                timings_path.write_text(json.dumps(timings, sort_keys=True))


def timing(result: executor.Result) -> dict[str, float]:
    """Where a notebook's grading time went: the whole execution, starting the sandboxed
    kernel, the setup cell (imports), the other cells (``record`` is added when recorded)."""
    setup = sum(
        seconds
        for index, seconds in result.cell_seconds.items()
        if index < len(result.notebook.get("cells", []))
        and cells.grade_id(result.notebook["cells"][index]) == "setup"
    )
    return {
        "execute": result.seconds,
        "kernel_start": result.kernel_start_seconds,
        "setup": round(setup, 3),
        "cells": round(sum(result.cell_seconds.values()) - setup, 3),
    }


def _execute(job: executor.Job) -> executor.Result:
    """What a worker runs (also in this process when grading sequentially)."""
    result = executor.execute(job)
    result.input_digest = nbgrader_ext.notebook_digest(job.notebook)
    return result


def _entries(base: Path) -> list[str]:
    """The names in ``submitted/`` (sorted; editors' leftovers left out). ``submitted/`` itself
    is the instructor's and may be a link to another disk; nothing inside it is followed."""
    if not base.is_dir():
        return []
    with os.scandir(base) as entries:
        return sorted(e.name for e in entries if e.name not in intake.SKIPPED)


def _stage_receipts(files_dir: Path, view: Path, notes: list[str]) -> None:
    """``timestamp.txt`` and ``submission_secret.txt`` into nbgrader's view, checked and
    rewritten (:func:`intake.receipts`)."""
    for name, text in intake.receipts(files_dir, notes).items():
        (view / name).write_text(text)


def _unreadable(path: Path) -> str | None:
    """Why a submitted file cannot be graded as a notebook (None if it can)."""
    if not path.is_file():
        return "not a notebook (not a regular file)"
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return f"the file is larger than {MAX_NOTEBOOK_BYTES // 1024**2} MB"
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as error:
        return f"not a notebook (the file is not valid JSON: {error})"
    if not isinstance(data, dict) or not isinstance(data.get("cells", []), list):
        return "not a notebook (JSON without a list of cells)"
    version = data.get("nbformat")
    if not isinstance(version, int) or version < 4:
        return (
            f"old notebook format (nbformat {version}): open it in Jupyter, save it, and "
            "submit it again"
        )
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # noqa: BLE001 - any validation problem is the reason
        return f"not a valid notebook ({type(error).__name__}: {str(error)[:200]})"
    return None


@contextlib.contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Any]:
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        unit="submission",
        file=sys.stderr,
        disable=not enabled or not total,
        dynamic_ncols=True,
    )
    try:
        yield bar
    finally:
        bar.close()
