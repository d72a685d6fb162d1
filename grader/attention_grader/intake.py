"""The intake gate: the only code that reads a student's folder.

Everything a student hands in is hostile, the folder itself included: a notebook may be a
symlink to ``source/`` or to a classmate's submission, an extra file a symlink to
``/etc/shadow`` or the gradebook, a FIFO (reading it blocks for ever), a symlink to
``/proc/self/mem`` or a device, a directory where the notebook belongs, 20,000 empty files,
or a 2 GiB sparse file. :func:`copy_tree` copies a submission into a folder the grader owns,
taking only regular files and folders, never following a symlink at any level, within
:class:`IntakeLimits`; anything else is a :class:`Refused` whose message names the path and
the reason. Downstream code (planning, hashing, the sandbox, nbgrader) reads only the copy.

How a file is opened: ``O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY`` (a symlink fails
with ELOOP, a FIFO does not block, a terminal is not taken), then ``fstat`` on the open
descriptor decides: only ``S_ISREG`` is read, and its ``st_size`` is checked against the
limits before a single byte is read, so a sparse file costs nothing. The copy is made in
chunks and stops at the size ``fstat`` reported plus one chunk (a file that grows while it is
copied is refused). Folders are listed with ``os.scandir`` and entries are examined with
``follow_symlinks=False``; a folder is opened with ``O_DIRECTORY | O_NOFOLLOW`` relative to
its parent's descriptor, so swapping a folder for a symlink during the copy is refused too.
"""

from __future__ import annotations

import datetime
import importlib.machinery
import os
import re
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._ +@()\-]*")
_STUDENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@+\-]*")
MAX_NAME = 128
MAX_STUDENT = 64
SKIPPED = frozenset({".ipynb_checkpoints", "__pycache__", ".DS_Store"})
"""Names that editors and Python leave behind: not copied, not refused, never opened."""


class Refused(Exception):
    """A submission the grader will not take; ``str(e)`` is the reason, for the report."""


def _module_name(path: Path) -> str | None:
    """The module ``import <name>`` would find at ``path`` if its folder were first on
    ``sys.path`` (a kernel's working folder is): a source, bytecode or extension file, or a
    package folder (one with an ``__init__`` module; a folder without is a namespace portion,
    which never hides a real module)."""
    suffixes = importlib.machinery.all_suffixes()
    if stat.S_ISDIR(path.lstat().st_mode):
        if not any(os.path.isfile(path / f"__init__{s}") for s in suffixes):
            return None
        name = path.name
    else:
        suffix = next((s for s in suffixes if path.name.endswith(s)), None)
        if suffix is None:
            return None
        name = path.name[: -len(suffix)]
    return name if name.isidentifier() else None


def _after_working_folder() -> list[str]:
    """The entries of ``sys.path`` that a kernel's working folder comes before: IPython puts
    it before the first ``site-packages`` (or ``dist-packages``), after the standard library,
    so only installed packages can be shadowed."""
    here = {"", os.getcwd()}
    entries = [p for p in sys.path if p not in here]
    for index, entry in enumerate(entries):
        if os.path.basename(entry) in ("site-packages", "dist-packages"):
            return entries[index:]
    return entries


def shadowing(folder: Path) -> str | None:
    """Why ``folder`` cannot be graded as it is, if a file or package at its top is named
    like an installed package's module: the kernel runs in the submission's folder, which is
    on ``sys.path`` before the installed packages, so a ``numpy.py`` there would be what the
    setup cell imports, making the instructor's cell fail as if the environment were broken.
    (The standard library comes first: ``json.py`` hides nothing.) None when nothing
    shadows."""
    search = _after_working_folder()
    for path in sorted(folder.iterdir()):
        name = _module_name(path)
        if name is None:
            continue
        if importlib.machinery.PathFinder.find_spec(name, search) is not None:
            return (
                f"{shown(path.name)}: named like the module {name} that Python would import "
                "instead of the course's; rename it"
            )
    return None


@dataclass(frozen=True)
class IntakeLimits:
    """What one submission (one student, one assignment) may hold.

    - ``max_files``: files and folders together. A course submission is a notebook or a few,
      perhaps with a small data file; 200 leaves room for a folder of images.
    - ``max_total_bytes``: 100 MB for the whole submission.
    - ``max_file_bytes``: 50 MB per file (a notebook itself is limited to 20 MB later, by
      ``preparing.MAX_NOTEBOOK_BYTES``, with its own reason).
    - ``max_depth``: folders inside the submission folder (0 = files at its top only).
    """

    max_files: int = 200
    max_total_bytes: int = 100 * 1024**2
    max_file_bytes: int = 50 * 1024**2
    max_depth: int = 4


def safe_name(name: str) -> bool:
    """A file or folder name from a safe alphabet: letters, digits, ``. _ - + @ ( )`` and
    spaces, not starting with a dot, a dash or a space, at most 128 characters, no
    trailing space. (HTML, shell and path characters, control characters and
    non-ASCII look-alikes are all outside it.)"""
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_NAME
        and _NAME.fullmatch(name) is not None
        and not name.endswith(" ")
    )


def check_student_id(student: str) -> None:
    """Raise :class:`Refused` unless ``student`` is a usable student id: letters, digits and
    ``. _ - @ +``, not starting with a dot or a dash, at most 64 characters."""
    if (
        not isinstance(student, str)
        or not 0 < len(student) <= MAX_STUDENT
        or _STUDENT.fullmatch(student) is None
    ):
        raise Refused(
            f"the student id {shown(student)} is not from the safe alphabet (letters, digits "
            f"and . _ - @ +, not starting with a dot or a dash, at most {MAX_STUDENT} "
            "characters)"
        )


def shown(text: object) -> str:
    """A name as it may appear in a report: printable ASCII without HTML's special characters
    (others as ``\\xNN``, so ``<svg>`` reads ``\\x3csvg\\x3e``), shortened."""
    text = str(text)
    shown = "".join(
        ch if 32 <= ord(ch) < 127 and ch not in "<>&\"'`\\" else f"\\x{ord(ch) & 0xFF:02x}"
        for ch in text
    )
    return "'" + shown[:80] + ("..." if len(shown) > 80 else "") + "'"


_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISREG, "a regular file"),
)


def kind(mode: int) -> str:
    """What a file is, in words (from its ``st_mode``)."""
    return next((words for test, words in _KINDS if test(mode)), "a special file")


class _Copier:
    def __init__(self, src: Path, limits: IntakeLimits) -> None:
        self.src = src
        self.limits = limits
        self.count = 0
        self.total = 0
        self.copied: list[str] = []

    def refuse(self, rel: str, why: str) -> Refused:
        return Refused(f"{shown(rel)}: {why}" if rel else why)

    def tree(self, dir_fd: int, dst: Path, rel: str, depth: int) -> None:
        entries = []
        try:
            with os.scandir(dir_fd) as listing:
                for entry in listing:  # (stops at the limit: a huge folder is not listed whole)
                    entries.append(entry)
                    if self.count + len(entries) > self.limits.max_files:
                        raise self.refuse(
                            rel,
                            f"too many files: more than {self.limits.max_files} files and "
                            "folders in the submission",
                        )
        except OSError as error:
            raise self.refuse(rel, f"the folder cannot be listed ({error.strerror})") from None
        entries.sort(key=lambda e: e.name)
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            if entry.name in SKIPPED:
                continue
            if not safe_name(entry.name):
                raise self.refuse(
                    child,
                    "unsafe file name (allowed: letters, digits, spaces and . _ - + @ ( ), "
                    f"not starting with a dot or a dash, at most {MAX_NAME} characters)",
                )
            self.count += 1
            if self.count > self.limits.max_files:
                raise self.refuse(
                    child, f"too many files: more than {self.limits.max_files} in the submission"
                )
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as error:  # a folder the grader may list but not enter
                raise self.refuse(child, f"cannot be examined ({error.strerror})") from None
            if stat.S_ISDIR(mode):
                if depth >= self.limits.max_depth:
                    raise self.refuse(
                        child,
                        f"folders nested too deep (more than {self.limits.max_depth} levels)",
                    )
                sub_fd = self._open(dir_fd, entry.name, child, directory=True)
                try:
                    target = dst / entry.name
                    target.mkdir(mode=0o700)
                    self.tree(sub_fd, target, child, depth + 1)
                finally:
                    os.close(sub_fd)
            elif stat.S_ISREG(mode):
                self.file(dir_fd, entry.name, dst / entry.name, child)
            else:
                raise self.refuse(child, f"{kind(mode)}; only regular files are accepted")

    def _open(self, dir_fd: int, name: str, rel: str, *, directory: bool) -> int:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        if directory:
            flags |= os.O_DIRECTORY
        try:
            fd = os.open(name, flags, dir_fd=dir_fd)
        except OSError as error:
            try:
                now = kind(os.lstat(name, dir_fd=dir_fd).st_mode)
            except OSError:
                now = "gone"
            raise self.refuse(
                rel, f"cannot be opened without following links ({error.strerror}; it is {now})"
            ) from None
        mode = os.fstat(fd).st_mode
        wanted = stat.S_ISDIR if directory else stat.S_ISREG
        if not wanted(mode):
            os.close(fd)
            raise self.refuse(rel, f"{kind(mode)}; only regular files are accepted")
        return fd

    def file(self, dir_fd: int, name: str, target: Path, rel: str) -> None:
        fd = self._open(dir_fd, name, rel, directory=False)
        try:
            size = os.fstat(fd).st_size
            self._account(rel, size)
            out = os.open(
                target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
            )
            try:
                written = 0
                while True:
                    chunk = os.read(fd, CHUNK)
                    if not chunk:
                        break
                    written += len(chunk)
                    if written > size:
                        raise self.refuse(rel, "the file grew while it was copied")
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(out, view) :]
            finally:
                os.close(out)
        finally:
            os.close(fd)
        self.copied.append(rel)

    def _account(self, rel: str, size: int) -> None:
        if size > self.limits.max_file_bytes:
            raise self.refuse(
                rel,
                f"the file is too large ({_mb(size)}; at most {_mb(self.limits.max_file_bytes)} "
                "per file)",
            )
        self.total += size
        if self.total > self.limits.max_total_bytes:
            raise self.refuse(
                rel,
                f"the submission is too large (more than {_mb(self.limits.max_total_bytes)} "
                "in all)",
            )


SECRET = re.compile(r"[0-9A-Fa-f]{1,256}")
TIMESTAMP = re.compile(
    r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d{1,6})?)?( ?([A-Za-z]{1,5}|[+-]\d\d:?\d\d))?"
)
RECEIPT_BYTES = 1024


def plain_time(text: str) -> datetime.datetime | None:
    """``text`` as a UTC time if it is a plain time (``2026-03-01 12:00:00 UTC``, an ISO time
    with an offset), else None. Only such text reaches nbgrader's parser: given a zone name it
    opens a time zone file named by it, a path a student chooses."""
    from nbgrader.utils import parse_utc

    text = text.strip()
    if not TIMESTAMP.fullmatch(text):
        return None
    try:
        return parse_utc(text)
    except Exception:  # noqa: BLE001 - dateutil raises several kinds; any is "not a time"
        return None


def read_small(path: Path, limit: int = RECEIPT_BYTES) -> bytes | None:
    """The first ``limit`` bytes of ``path`` if it is a regular file (no link followed, a
    FIFO never waited for); None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit)
    finally:
        os.close(fd)


def receipts(folder: Path, notes: list[str]) -> dict[str, str]:
    """nbgrader's receipts of a submission, checked and rewritten: ``timestamp.txt`` (the
    late penalty) and ``submission_secret.txt`` (``release_feedback``). A timestamp that is
    not a plain time refuses the submission (nbgrader would stop on it, and its parser opens a
    time zone named by a path); a secret that is not hexadecimal is left out, with a note."""
    out = {}
    data = read_small(folder / "timestamp.txt")
    if data is not None:
        text = data.decode("utf-8", "replace").strip()
        when = plain_time(text)
        if when is None:
            raise Refused(f"timestamp.txt does not hold a time ({shown(text[:64])})")
        out["timestamp.txt"] = when.strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    data = read_small(folder / "submission_secret.txt")
    if data is not None:
        text = data.decode("ascii", "replace").strip()
        if SECRET.fullmatch(text):
            out["submission_secret.txt"] = text
        else:
            notes.append("submission_secret.txt is not nbgrader's; it was left out")
    return out


def _mb(size: int) -> str:
    return f"{size / 1024**2:.1f} MB" if size < 1024**3 else f"{size / 1024**3:.1f} GB"


def copy_tree(src: Path, dst: Path, limits: IntakeLimits = IntakeLimits()) -> list[str]:
    """Copy the regular files and folders of ``src`` into ``dst`` (which must not exist;
    created with mode 0700, files 0600); return their paths relative to ``src``, files only,
    in sorted order (``.ipynb_checkpoints``, ``__pycache__`` and ``.DS_Store`` are left out).
    Raises :class:`Refused` (and leaves no ``dst``) for anything else: see
    the module docstring."""
    src, dst = Path(src), Path(dst)
    copier = _Copier(src, limits)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        src_fd = os.open(src, flags)
    except OSError as error:
        try:
            what = kind(os.lstat(src).st_mode)
        except OSError:
            what = "missing"
        raise Refused(
            f"the submission folder is not a real folder ({what}; {error.strerror})"
        ) from None
    try:
        dst.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        dst.mkdir(mode=0o700)
    except BaseException:
        os.close(src_fd)
        raise
    try:
        copier.tree(src_fd, dst, "", 0)
    except BaseException:
        shutil.rmtree(dst, ignore_errors=True)
        raise
    finally:
        os.close(src_fd)
    return sorted(copier.copied)
