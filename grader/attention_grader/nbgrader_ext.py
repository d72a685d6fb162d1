"""nbgrader preprocessors that make grading honest (configured in ``nbgrader_config.py``).

Autograde, sanitizing (before nbgrader's ``OverwriteCells``):

- :class:`IntakeGate` (first) refuses, in stock ``nbgrader autograde`` and formgrader, which
  read ``submitted/`` themselves, a notebook reached through a symbolic link or that is not a
  regular file and a student id outside the safe alphabet, and keeps every file of the
  submission but notebooks and checked receipts out of ``autograded/`` (``course autograde``
  reads only the intake's copy, :mod:`intake`).
- :class:`RestoreLayout` rebuilds the submission on the assignment's own skeleton: every
  locked cell (setup cell, test cells) in its released order and with its recorded source,
  also when a student deleted or moved it; the student's answers in their cells; cells the
  student added stay after the cell they followed. nbgrader metadata a student invented is
  dropped. So no cell can run before the cells it was written to follow. Released cells
  tagged ``demo`` (plots, training runs: no graded cell depends on them) that the student
  left unchanged are marked to be skipped while grading (all of them run when the student
  changed one, or when another cell reads a name a demonstration assigns, such as 06's
  ``WINDOW``: see :func:`reads_demo_names`).

Autograde, grading (in place of nbgrader's ``Execute``):

- :class:`GradingExecute` runs the notebook in the sandbox (:mod:`executor`), or takes the
  result a grading worker already produced for exactly this notebook.
- :class:`TrustedVerdicts` decides every test cell from the values its hidden checks
  reported, with :mod:`judging` (outside the student's kernel). Errors raised inside the
  kernel are shown, not scored; a failed verdict becomes the cell's error output, which is
  what nbgrader's ``SaveAutoGrades`` scores as 0.
- :class:`KeepHumanGrades` (in place of ``SaveAutoGrades``) saves the scores, and keeps a
  written answer graded by hand graded when a regrade finds it unchanged.

Feedback:

- :class:`ScrubHiddenTests` removes hidden tests from test cells and mark schemes (rubrics)
  from every cell, shortens tracebacks, and removes any output that quotes a line of a hidden
  test.

Each subclasses nbgrader's preprocessor base class (a plain nbconvert preprocessor would be
disabled by default and silently do nothing).
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
import json
import os
import re
import shutil
import stat
import symtable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import sqlalchemy as sa
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_locked, is_solution
from traitlets import Bool, Instance

from attention_course import wire

from . import compat, executor, intake, judging, sandbox, zygote
from .cells import grade_id, notebook_digest
from .cells import source as source_of

NOTES_KEY = "course_grading_notes"
DEMO_TAG = "demo"  # source cells that only demonstrate (plots, training): not run in grading
SKIP_KEY = executor.SKIP_KEY  # set by RestoreLayout on unchanged demo cells only
RESULT_KEY = "course_grading_result"
MAX_FILES_BYTES = 50 * 1024**2
_SKIP_PARTS = {"__pycache__"}  # (and every name that starts with a dot)


def submission_files(folder: Path) -> dict[str, bytes]:
    """The files of a submission folder a kernel may read: its regular files but notebooks
    and names that start with a dot, as :mod:`intake` refuses them (no symbolic link
    followed, no FIFO or device opened, at most ``MAX_FILES_BYTES`` in all). The engine calls
    it on the staged copy (:mod:`intake`); stock ``nbgrader autograde`` on the folder in
    ``submitted/``. (The files land in the kernel's home folder: a dot folder there is
    configuration read as the kernel starts, ``.ipython/profile_default/startup/`` code run
    before the sandbox is sealed.)"""
    out: dict[str, bytes] = {}
    total = 0
    if folder.is_symlink() or not folder.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(folder):  # (symlinked folders: not entered)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_PARTS and d[0] != ".")
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.endswith(".ipynb") or name[0] == ".":
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                continue
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    continue
                total += info.st_size
                if total > MAX_FILES_BYTES:
                    return out
                out[path.relative_to(folder).as_posix()] = handle.read(info.st_size)
    return out


def merge_files(
    student: dict[str, bytes], course: dict[str, bytes]
) -> tuple[dict[str, bytes], tuple[str, ...], list[str]]:
    """The files a kernel gets: the course's (``source/<assignment>``'s other files) and the
    student's, but for a student's file at a course file's path or where one is a folder of
    the other (``data`` the student's file, ``data/words.txt`` the course's). Returns the files,
    the names of the student's among them, and the student's names left out."""
    course_folders = {folder for name in course for folder in _folders(name)}
    files = dict(course)
    kept, dropped = [], []
    for name, data in student.items():
        if name in course or name in course_folders or _folders(name) & set(course):
            dropped.append(name)
            continue
        files[name] = data
        kept.append(name)
    return files, tuple(kept), dropped


def _folders(name: str) -> set[str]:
    """The folders a relative file name is in (``a/b/c``: ``a``, ``a/b``)."""
    parts = name.split("/")
    return {"/".join(parts[:i]) for i in range(1, len(parts))}


# ------------------------------------------------------------------------------ sanitize


RECEIPTS = ("timestamp.txt", "submission_secret.txt")


class IntakeGate(NbGraderPreprocessor):
    """The first sanitizing step. ``course autograde`` reads only the intake's copy
    (:mod:`intake`), so this matters for stock ``nbgrader autograde`` and formgrader, which read
    ``submitted/`` themselves: a notebook whose path below the course root is a symbolic link
    at any level, or is not a regular file, or a student id outside the safe alphabet is
    refused (nbgrader records the failure for that submission and goes on). Then the graded
    folder keeps no file of the submission but the notebooks and nbgrader's receipts
    (``timestamp.txt``, ``submission_secret.txt``), checked and rewritten (nbgrader copied the
    other files before any preprocessor could run; ``nbgrader_config.py`` stops that copy for
    the ``nbgrader autograde`` command)."""

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        info = resources["nbgrader"]
        try:
            intake.check_student_id(info["student"])
            folder = (resources.get("metadata") or {}).get("path")
            if folder:  # (nbgrader is reading a folder; the engine's preparation is not)
                self._check_folder(Path(folder), info)
        except intake.Refused as error:
            raise GradingRefused(f"refused at intake: {error}") from None
        return nb, resources

    def _check_folder(self, folder: Path, info: dict) -> None:
        coursedir = CourseDirectory(config=self.config)
        root = Path(coursedir.root)
        path = folder / f"{info['notebook']}.ipynb"
        try:
            rel = path.relative_to(root)
        except ValueError:
            raise intake.Refused(f"{path} is outside the course root") from None
        for depth in range(len(rel.parts), 0, -1):
            part = root.joinpath(*rel.parts[:depth])
            mode = part.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise intake.Refused(
                    f"{intake.shown('/'.join(rel.parts[:depth]))} is a symbolic link"
                )
            if depth == len(rel.parts) and not stat.S_ISREG(mode):
                raise intake.Refused(
                    f"{intake.shown(rel.name)} is {intake.kind(mode)}, not a notebook file"
                )
        shadow = intake.shadowing(folder)
        if shadow:
            raise intake.Refused(shadow)
        notes: list[str] = []
        receipts = intake.receipts(folder, notes)
        dest = Path(
            coursedir.format_path(
                coursedir.autograded_directory, info["student"], info["assignment"]
            )
        )
        if dest.is_dir() and not dest.is_symlink():
            for entry in list(dest.iterdir()):
                if entry.name.endswith(".ipynb") and entry.is_file() and not entry.is_symlink():
                    continue
                if entry.name.startswith(".course-") or entry.name in RECEIPTS:
                    if entry.is_file() and not entry.is_symlink():
                        continue
                self.log.warning("Removing %s (not a graded notebook)", entry)
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        dest.mkdir(parents=True, exist_ok=True)
        for name in RECEIPTS:
            target = dest / name
            if os.path.lexists(target):
                target.unlink()
            if name in receipts:
                target.write_text(receipts[name])


@functools.lru_cache(maxsize=16)
def _read_release(path: str, version: tuple[int, int, int]) -> Any:
    """A released notebook, read once per ``version`` of its file (inode, size, mtime):
    :class:`RestoreLayout` reads it for every notebook it restores, and never changes it."""
    return nbformat.read(path, as_version=4)


# Reading a cell costs the coordinator's CPU (a symbol table per statement, whose lookups grow
# with its names times its scopes): a longer cell or notebook, more statements, or a statement
# with more scopes is not read, and the demonstrations run (in the sandbox's time, as they did
# before they were skipped). The course's cells stay far below (at most 40 statements a cell
# and 7 scopes a statement; 1-6 ms a notebook); hostile cells within the limits: see the tests.
READ_CELL_CHARS = 20_000
READ_NOTEBOOK_CHARS = 150_000
READ_STATEMENTS = 300  # top-level statements of one cell
READ_NOTEBOOK_STATEMENTS = 1_500
READ_SCOPES = 40  # functions, lambdas, classes and comprehensions of one statement
_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ClassDef,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


@dataclass(frozen=True)
class Statement:
    """What one top-level statement of a cell (statements sharing a line: one) binds and reads,
    as :func:`cell_names` reads it. ``binds``: what it binds when it runs to its end (an
    assignment, an import, a ``def``, a ``class``, a ``del``; not a loop's, a ``with``'s or an
    ``except``'s target, which may not happen); ``may_bind``: everything it might bind or
    change (an item or attribute it assigns, in its functions too; a package whose submodule
    it imports); ``reads``: the global names it reads as it runs (its class bodies and list,
    set and dict comprehensions run with it); ``reads_later``: those its functions, lambdas
    and generator expressions read, whenever they run."""

    binds: frozenset[str]
    may_bind: frozenset[str]
    reads: frozenset[str]
    reads_later: frozenset[str]
    imported: tuple[tuple[str, str], ...] = ()  # of binds: (name, what import gave it)
    changes: frozenset[str] = frozenset()  # of may_bind: objects changed, not names bound


def _surely_bound(node: ast.stmt) -> set[str]:
    def names(target: ast.expr) -> set[str]:
        if isinstance(target, ast.Name):
            return {target.id}
        if isinstance(target, (ast.Tuple, ast.List)):
            return set().union(*(names(e) for e in target.elts))
        if isinstance(target, ast.Starred):
            return names(target.value)
        return set()  # (an attribute or an item: no name)

    if isinstance(node, ast.Assign):
        return set().union(*(names(t) for t in node.targets))
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return names(node.target) if getattr(node, "value", None) is not None else set()
    if isinstance(node, ast.Delete):
        return set().union(*(names(t) for t in node.targets))
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    return set()


def _deferred(scope: symtable.SymbolTable, parent: bool) -> bool:
    """Whether the code of ``scope`` may run after its statement (inside a function, lambda
    or generator expression)."""
    immediate = scope.get_type() == "class" or scope.get_name() in (
        "listcomp",
        "setcomp",
        "dictcomp",
    )
    return parent or not immediate


def _statement(text: str, nodes: list[ast.stmt]) -> Statement | None:
    table = symtable.symtable(text, "<cell>", "exec")
    top = table.get_symbols()
    reads = {s.get_name() for s in top if s.is_referenced()}
    may_bind = {s.get_name() for s in top if s.is_assigned() or s.is_imported()}
    later: set[str] = set()
    # (a list, set or dict comprehension and a class body run as the statement runs; a
    # function, a lambda and a generator whenever they are called or consumed)
    scopes = [(scope, _deferred(scope, False)) for scope in table.get_children()]
    seen = 0
    while scopes:
        scope, deferred = scopes.pop()
        seen += 1
        if seen > READ_SCOPES:
            return None
        for symbol in scope.get_symbols():
            name = symbol.get_name()
            if symbol.is_declared_global() and symbol.is_assigned():
                may_bind.add(name)  # (and `global WINDOW; WINDOW *= 2` reads it: below)
                later.add(name)
            if symbol.is_referenced() and (
                symbol.is_global() or (scope.get_type() == "class" and symbol.is_assigned())
            ):  # (a class body reads a global before it binds its own: `WINDOW = WINDOW`)
                (later if deferred else reads).add(name)
        scopes.extend((child, _deferred(child, deferred)) for child in scope.get_children())
    reads |= _rebound_names(nodes)
    changes = _changed_objects(nodes)
    may_bind |= changes
    binds = _surely_bound(nodes[0]) if len(nodes) == 1 else set()
    return Statement(
        frozenset(binds),
        frozenset(may_bind),
        frozenset(reads),
        frozenset(later),
        _imports(nodes[0]) if len(nodes) == 1 else (),
        frozenset(changes),
    )


def _imports(node: ast.stmt) -> tuple[tuple[str, str], ...]:
    """``(name, module or module:attribute)`` of each name an import statement binds: the
    same import binds the same object (a module is loaded once)."""
    if isinstance(node, ast.Import):
        return tuple(
            (a.asname, a.name) if a.asname else (a.name.split(".")[0], a.name.split(".")[0])
            for a in node.names
        )
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return tuple(
            (a.asname or a.name, f"{node.module}:{a.name}") for a in node.names if a.name != "*"
        )
    return ()


def _rebound_names(nodes: list[ast.stmt]) -> set[str]:
    """The names ``+=`` (and the like) and ``del`` need bound as the statements run (the symbol
    table counts them as bound, not read), outside functions and lambdas."""
    found: set[str] = set()
    todo: list[ast.AST] = list(nodes)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            found.add(node.target.id)
        elif isinstance(node, ast.Delete):
            found.update(t.id for t in node.targets if isinstance(t, ast.Name))
        todo.extend(ast.iter_child_nodes(node))
    return found


def _changed_objects(nodes: list[ast.stmt]) -> set[str]:
    """The names whose object a statement may change: by assigning to an item or an attribute
    (``histories["transformer"] = ...``, in its functions too) or by importing a submodule
    (``import matplotlib.pyplot as plt`` adds ``pyplot`` to ``matplotlib``). For a
    demonstration, as good as binding them (a method that changes its object, ``.append``, is
    not seen)."""
    found: set[str] = set()
    todo: list[ast.AST] = list(nodes)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names if "." in a.name)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
        if isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(
            node.ctx, (ast.Store, ast.Del)
        ):
            base = node.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                found.add(base.id)
        todo.extend(ast.iter_child_nodes(node))
    return found


@functools.lru_cache(maxsize=1024)
def cell_names(source: str) -> tuple[Statement, ...] | None:
    """What each top-level statement of a code cell binds and reads (:class:`Statement`), from
    Python's own parser and symbol table (nothing is run); None when it cannot be told: not
    Python, a line of IPython's own syntax (``%``, ``!``: what they run is in a string), a
    star import (it binds what the module has), longer than :data:`READ_CELL_CHARS`, more
    than :data:`READ_STATEMENTS` statements, or a statement with more than
    :data:`READ_SCOPES` scopes."""
    if len(source) > READ_CELL_CHARS:
        return None
    if any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()):
        return None  # (splitlines also breaks at a form feed...: more lines, never fewer)
    lines = re.split(r"\r\n|\r|\n", source)  # the lines Python's parser numbers
    try:
        tree = ast.parse(source)
        if any(
            isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names)
            for n in ast.walk(tree)
        ):
            return None
        if len(tree.body) > READ_STATEMENTS or any(
            sum(isinstance(n, _SCOPES) for n in ast.walk(node)) > READ_SCOPES for node in tree.body
        ):
            return None
        spans: list[tuple[int, int, list[ast.stmt]]] = []
        for node in tree.body:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            last = node.end_lineno or node.lineno
            if spans and first <= spans[-1][1]:  # (`a = 1; b = a`: one statement here)
                spans[-1] = (spans[-1][0], max(last, spans[-1][1]), spans[-1][2] + [node])
            else:
                spans.append((first, last, [node]))
        statements = []
        for first, last, nodes in spans:
            text = "\n".join(lines[first - 1 : last])
            read = _statement(text, nodes)
            if read is None:
                return None
            statements.append(read)
        return tuple(statements)
    except Exception:  # noqa: BLE001 - SyntaxError, or the parser's limits (RecursionError,
        return None  # MemoryError) on a cell nested 40,000 deep: not Python it can tell


def reads_demo_names(nb: Any, demos: set[Any]) -> set[str] | None:
    """The names that cells of ``nb`` other than the demonstrations (cell ids ``demos``) read
    where the value they find, top to bottom, may be one a demonstration assigned: such a
    notebook needs its demonstrations run. 06's exercise 7 shows
    ``keras.Input(shape=(WINDOW, 14))``, and only a demonstration sets ``WINDOW = 64``; a
    demonstration that rebinds a name an earlier cell bound changes what later cells read as
    well. A statement reads before it binds (``WINDOW = int(WINDOW)``); a function, lambda or
    generator may run at any later time, so what it reads counts when a demonstration assigned
    the name before it or assigns it after it. None: some cell cannot be read
    (:func:`cell_names`), or the notebook is too large (:data:`READ_NOTEBOOK_CHARS`,
    :data:`READ_NOTEBOOK_STATEMENTS`); nobody can tell and the demonstrations run.

    Names, not values: an item or attribute a demonstration assigns counts as assigning its
    name, and a submodule it imports as assigning the package; not seen are a change made
    through another name for the same object or through a method (``.append``), a global that
    a demonstration changes by calling a function of the student's, a student's binding that
    did not happen because its cell raised first, and names read through ``globals()`` or
    ``eval``."""
    code = [c for c in nb.cells if c.get("cell_type") == "code"]
    if sum(len(source_of(c)) for c in code) > READ_NOTEBOOK_CHARS:
        return None
    read = [cell_names(source_of(c)) for c in code]
    if any(r is None for r in read) or sum(map(len, read)) > READ_NOTEBOOK_STATEMENTS:
        return None
    assigned = _demo_assignments(code, read, demos)
    last_demo: dict[str, int] = {}  # name -> the last code cell of a demonstration assigning it
    for (index, _), names in assigned.items():
        last_demo.update({name: max(index, last_demo.get(name, -1)) for name in names})
    by_demo: dict[str, bool] = {}  # name -> whether the value it holds here is a demo's
    changed: set[str] = set()  # objects a demonstration changed so far (a module stays so)
    needed: set[str] = set()
    for index, cell in enumerate(code):
        demo = cell.get("id") in demos
        for number, statement in enumerate(read[index] or ()):
            if demo:
                by_demo.update(dict.fromkeys(assigned[index, number], True))
                changed |= statement.changes
                continue
            # (importing a module a demonstration changed gives the same, changed module)
            kept = {name for name, _ in statement.imported} & changed
            needed.update(name for name in statement.reads if by_demo.get(name))
            needed.update(
                name
                for name in statement.reads_later
                if by_demo.get(name) or last_demo.get(name, -1) > index
            )
            by_demo.update(dict.fromkeys(statement.binds - kept, False))
    return needed


def _demo_assignments(
    code: list[Any], read: list[Any], demos: set[Any]
) -> dict[tuple[int, int], set[str]]:
    """For each statement of a demonstration (code cell, statement): the names whose value it
    may change. Not an import that binds what the name already holds (01's Keras demonstration
    imports ``keras``, as an answer above it may have: the same module)."""
    holds: dict[str, str] = {}  # name -> the import that bound what it holds now
    assigned: dict[tuple[int, int], set[str]] = {}
    for index, cell in enumerate(code):
        for number, statement in enumerate(read[index] or ()):
            imports = dict(statement.imported)
            if cell.get("id") in demos:
                assigned[index, number] = {
                    name
                    for name in statement.may_bind
                    if name in statement.changes or holds.get(name, "") != imports.get(name)
                }
            for name in statement.may_bind - statement.changes:
                if name in imports:
                    holds[name] = imports[name]
                else:
                    holds.pop(name, None)
    return assigned


class RestoreLayout(NbGraderPreprocessor):
    """Put the submission back on the released skeleton (see the module docstring)."""

    def _release_notebook(self, assignment: str, notebook: str) -> Any:
        coursedir = CourseDirectory(config=self.config)
        path = (
            Path(coursedir.format_path(coursedir.release_directory, ".", assignment))
            / f"{notebook}.ipynb"
        )
        info = path.stat()
        return _read_release(str(path), (info.st_ino, info.st_size, info.st_mtime_ns))

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        info = resources["nbgrader"]
        notes = resources.setdefault(NOTES_KEY, [])
        release = self._release_notebook(info["assignment"], info["notebook"])
        with Gradebook(info["db_url"]) as gb:
            recorded = {
                c.name: c.source
                for c in gb.find_notebook(info["notebook"], info["assignment"]).source_cells
            }
        skeleton = [c for c in release.cells if grade_id(c)]
        known = {grade_id(c): c for c in skeleton}
        demos = {
            c.get("id"): c.source
            for c in release.cells
            if DEMO_TAG in c.get("metadata", {}).get("tags", [])
        }
        anchors: dict[str, Any] = {}
        followers: dict[str | None, list[Any]] = {None: []}
        current: str | None = None
        # Demonstrations are skipped only when the student changed none of them (a changed
        # one may use what an unchanged one defines) and no other cell reads a name they assign
        # (below, once the cells are in their order).
        present = {c.get("id"): c.get("source") for c in nb.cells}
        skip_demos = all(present.get(i, source) == source for i, source in demos.items())
        for cell in nb.cells:
            if isinstance(cell.get("metadata"), dict):
                cell.metadata.pop(SKIP_KEY, None)
                if skip_demos and cell.get("id") in demos:
                    cell.metadata[SKIP_KEY] = True
            gid = grade_id(cell)
            if (
                gid in known
                and gid not in anchors
                and cell.get("cell_type") == known[gid].cell_type
            ):
                anchors[gid] = cell
                current = gid
                continue
            if isinstance(cell.get("metadata"), dict) and "nbgrader" in cell.metadata:
                notes.append(
                    f"cell {gid or cell.get('id', '?')}: nbgrader metadata that is not "
                    "the assignment's was removed"
                )
                del cell.metadata["nbgrader"]
            followers.setdefault(current, []).append(cell)
        order = [grade_id(c) for c in nb.cells if grade_id(c) in anchors]
        if order != [g for g in known if g in anchors]:
            notes.append("cells of the assignment were moved; they were put back in order")
        self._setup_first(known, followers, notes)
        cells = list(followers[None])
        for gid, released in known.items():
            cell = anchors.get(gid)
            if released.metadata["nbgrader"].get("locked"):
                if cell is None:
                    notes.append(f"locked cell {gid} was deleted; it was put back")
                elif cell.source != released.source:
                    notes.append(f"locked cell {gid} was edited; it was restored")
                cell = copy.deepcopy(released)
                cell.source = recorded.get(gid, released.source)
            elif cell is None:
                notes.append(f"answer cell {gid} was deleted; the empty answer was put back")
                cell = copy.deepcopy(released)
            else:
                cell.metadata["nbgrader"] = copy.deepcopy(released.metadata["nbgrader"])
            cells.append(cell)
            cells.extend(followers.get(gid, []))
        nb.cells = cells
        if skip_demos and reads_demo_names(nb, set(demos)) != set():  # (None: cannot tell)
            for cell in nb.cells:
                if isinstance(cell.get("metadata"), dict):
                    cell.metadata.pop(SKIP_KEY, None)
        return nb, resources

    @staticmethod
    def _setup_first(
        known: dict[str, Any], followers: dict[str | None, list[Any]], notes: list[str]
    ) -> None:
        """No code runs before the setup cell (the instructor's imports): a student's code
        cell placed above it is moved right after it. Otherwise it
        could break the setup cell (``sys.modules['numpy'] = None``, a file named like the
        course package), whose failure counts as a fault of the environment."""
        setup = executor.SETUP_CELL
        if setup not in known or known[setup].cell_type != "code":
            return
        moved: list[Any] = []
        for key in [None, *list(known)[: list(known).index(setup)]]:
            group = followers.get(key, [])
            moved += [c for c in group if c.get("cell_type") == "code"]
            followers[key] = [c for c in group if c.get("cell_type") != "code"]
        if moved:
            followers[setup] = moved + followers.get(setup, [])
            notes.append(f"code cells above the setup cell {setup} were moved after it")


# ------------------------------------------------------------------------------ execute


@dataclass(eq=False)
class Recording:
    """What the engine hands nbgrader's autograde for one submission it records: the staged
    folder whose files the sandbox gets and, for each notebook, the worker's result with the
    digest of the notebook it executed (``results``) or why the engine refused it
    (``refused``). The engine sets it as ``GradingExecute.recording`` on a copy of the
    configuration made for this one recording (:mod:`recording`), so it lives exactly as long
    as that recording; :class:`GradingExecute` lists in ``executed_again`` the notebooks it
    had to execute itself because nbgrader's notebook was not the one a worker executed."""

    student: str
    assignment: str
    folder: Path
    results: dict[str, tuple[str, executor.Result]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    executed_again: list[str] = field(default_factory=list)
    waiting_again: list[str] = field(default_factory=list)  # see KeepHumanGrades

    def __deepcopy__(self, memo: dict) -> Recording:
        return self  # (traitlets copies configurations: the engine's object must stay one)


def _recording_trait() -> Instance:
    """The :class:`Recording` a preprocessor gets from the engine's configuration."""
    return Instance(
        Recording,
        allow_none=True,
        help="Set by the engine for one recorded submission (never in nbgrader_config.py).",
    ).tag(config=True)


class GradingRefused(RuntimeError):
    """The coordinator found the submission ungradable; nbgrader records it for a human."""


@functools.cache
def _encoded_cases(notebook: str) -> Any:
    """The hidden checks' inputs of ``notebook`` in the wire format, encoded once per process
    (the checks and their cases live as long as the process: every job of a notebook gets the
    same cases, which nothing changes after this)."""
    return wire.encode(judging.cases_for(notebook))


def make_job(
    nb: Any,
    files: dict[str, bytes],
    student: str,
    assignment: str,
    notebook: str,
    isolated: bool = True,
    student_files: tuple[str, ...] = (),
) -> executor.Job:
    cases = _encoded_cases(notebook)
    return executor.Job(
        key=f"{student}/{assignment}/{notebook}",
        notebook=nb,
        files=files,
        student_files=student_files,
        cases=cases,
        limits=sandbox.Limits.from_env(),
        isolated=isolated,
    )


class GradingExecute(NbGraderPreprocessor):
    """Execute in the sandbox, or take the worker's result for this exact notebook."""

    unsafe_no_sandbox = Bool(
        False,
        help="Run students' code without isolation (it can read and change the "
        "course). Only for machines where no sandbox can be had.",
    ).tag(config=True)

    recording = _recording_trait()

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        info = resources["nbgrader"]
        ident = (info["student"], info["assignment"], info["notebook"])
        recording = self.recording
        if recording is not None and (recording.student, recording.assignment) != ident[:2]:
            raise GradingRefused(f"{'/'.join(ident)} is not the submission being recorded")
        if recording is not None and ident[2] in recording.refused:
            raise GradingRefused(recording.refused[ident[2]])
        done = None if recording is None else recording.results.get(ident[2])
        if done is not None and done[0] == notebook_digest(nb):
            result = done[1]
        else:
            if done is not None:  # the coordinator prepared another notebook than nbgrader's
                recording.executed_again.append(ident[2])
            if not self.unsafe_no_sandbox and sandbox.problem():
                raise sandbox.SandboxUnavailable(
                    f"refusing to run students' code without a sandbox: {sandbox.problem()}"
                )
            folder = recording.folder if recording else Path(resources["metadata"]["path"])
            files = submission_files(folder)
            job = make_job(
                nb,
                files,
                *ident,
                isolated=not self.unsafe_no_sandbox,
                student_files=tuple(n for n in files if n not in RECEIPTS),
            )
            # (stock autograde, one notebook at a time: a template with TensorFlow once a
            # notebook imports it outside its skipped demonstrations; 01 and 02 need none)
            job.template_tensorflow = zygote.worth_waiting(nb)
            result = executor.execute(job)
        resources[RESULT_KEY] = result
        if result.status != "ok":
            self.log.error("%s: %s\n%s", result.key, result.reason, result.log[-1500:])
        for event in result.events:
            self.log.warning("%s: %s", result.key, event)
        return nbformat.from_dict(result.notebook), resources


# ------------------------------------------------------------------------------ verdicts


def _error_text(output: Any) -> str:
    return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()


class TrustedVerdicts(NbGraderPreprocessor):
    """Score test cells by the trusted checks, from what their hidden checks reported."""

    def preprocess_cell(self, cell: Any, resources: dict, index: int) -> tuple[Any, dict]:
        if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
            return cell, resources
        reports, outputs, kernel_errors = [], [], []
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            data = output.get("data") or {}
            if kind == "display_data" and wire.MIME in data:
                payload = json.loads(json.dumps(data[wire.MIME]))  # plain dicts, not nodes
                if isinstance(payload, dict) and payload.get("check") == grade_id(cell):
                    reports.append(payload)
                continue  # reports are for the grader, not for the feedback
            if kind == "execute_result":
                continue  # a value at the end of a test cell must not become partial credit
            if kind == "error":
                kernel_errors.append(output)
                outputs.append(
                    nbformat.v4.new_output(
                        "stream", name="stdout", text=f"[in the notebook] {_error_text(output)}\n"
                    )
                )
                continue
            if kind == "stream" and output.get("name") == "stderr":
                output["name"] = "stdout"
                output["text"] = "".join(
                    f"[stderr] {line}" for line in output.get("text", "").splitlines(keepends=True)
                )
            outputs.append(output)
        verdict = self._verdict(resources, cell, reports, kernel_errors)
        if not verdict.passed:
            outputs.append(
                nbformat.v4.new_output(
                    "error",
                    ename="AssertionError",
                    evalue=verdict.message,
                    traceback=[f"AssertionError: {verdict.message}"],
                )
            )
        elif kernel_errors:
            outputs.append(
                nbformat.v4.new_output(
                    "stream", name="stdout", text=self._cost_nothing(resources, cell)
                )
            )
        cell.outputs = outputs
        return cell, resources

    @staticmethod
    def _cost_nothing(resources: dict, cell: Any) -> str:
        """Why an error shown under a test cell with full marks cost nothing."""
        check = judging.checks_of(resources["nbgrader"]["notebook"]).get(grade_id(cell))
        helped = check is not None and any(case.stand_ins for case in check.all_cases)
        because = (
            "the hidden checks ran your function with reference versions of the functions it "
            "builds on standing in, and it passed them: the error above most likely comes from "
            "one of those earlier functions (its own test cell shows what is wrong)"
            if helped
            else "the hidden checks, which decide the points, passed: read the error above to "
            "see what your notebook's own run tripped over"
        )
        return f"[grader] Full marks for this cell, and the error above cost nothing: {because}.\n"

    def _verdict(
        self, resources: dict, cell: Any, reports: list[dict], kernel_errors: list[Any]
    ) -> judging.Verdict:
        notebook = resources["nbgrader"]["notebook"]
        for error in kernel_errors:
            if error.get("ename") in ("NotRun", "CellTimeoutError"):
                return judging.Verdict(
                    False, f"the test cell did not finish: {error.get('evalue', '')}"
                )
        try:
            decoded = [
                {"case": r.get("case"), "values": wire.decode(r.get("values"))} for r in reports
            ]
        except wire.WireError as error:
            return judging.Verdict(False, f"the test cell reported malformed results ({error}).")
        verdict = judging.verdict(notebook, grade_id(cell), decoded)
        if not verdict.passed and kernel_errors and "no result came back" in verdict.message:
            return judging.Verdict(
                False, f"{verdict.message} Your code raised {_error_text(kernel_errors[-1])}"
            )
        return verdict


# ------------------------------------------------------------------------------ human grades


class KeepHumanGrades(compat.ScoreSaver):
    """nbgrader's ``SaveAutoGrades``, except that a regrade keeps what a human decided.

    Stock nbgrader marks every answer that has a manual score "needs manual grading" again
    whenever a submission is autograded again (``FORCE=1``, or anything that decides grades
    changed): a class's hand-graded essays would all reappear in formgrader. Here a written
    answer (an nbgrader solution cell that is also a grade cell) keeps its manual grade and
    stays graded when its content (cell type, source, attachments) is the one that was in
    the notebook when the human graded it; a changed answer keeps nbgrader's flag (its old
    score is kept until someone grades it again; :meth:`changed_answers` lists it for the
    engine's summary).

    What was graded is known from a digest of each answer kept in the gradebook itself (table
    ``course_graded_answer``: one row per student, assignment, notebook and answer, holding
    the SHA-256 of the answer as last autograded, which is what formgrader showed). A
    gradebook without a digest for an answer (graded before this existed) gets nbgrader's
    behaviour once. Test cells whose score a human overrode are left to nbgrader (flagged
    for review after a regrade). With a ``recording`` (set by the engine), each written answer
    that has a manual score but waits for a human again is listed in its ``waiting_again``.
    """

    recording = _recording_trait()

    table = sa.Table(
        "course_graded_answer",
        sa.MetaData(),
        sa.Column("key", sa.String(64), primary_key=True),  # sha256 of the ids (see _key)
        sa.Column("digest", sa.String(64), nullable=False),
    )

    @staticmethod
    def answer_digest(cell: Any) -> str:
        """What identifies a written answer: its type, source and attachments."""
        content = [cell.get("cell_type"), source_of(cell), cell.get("attachments") or {}]
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    def _key(self, cell: Any) -> str:
        ids = [self.student_id, self.assignment_id, self.notebook_id, grade_id(cell)]
        return hashlib.sha256(json.dumps(ids).encode()).hexdigest()

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        self._table_ready = False
        return super().preprocess(nb, resources)

    def add_score(self, cell: Any, resources: dict) -> None:
        if not is_solution(cell):
            super().add_score(cell, resources)
            return
        session = self.session
        if not self._table_ready:
            self.table.create(session.connection(), checkfirst=True)
            self._table_ready = True
        grade = self.gradebook.find_grade(
            grade_id(cell), self.notebook_id, self.assignment_id, self.student_id
        )
        decided = grade.manual_score is not None and not grade.needs_manual_grade
        key, digest = self._key(cell), self.answer_digest(cell)
        seen = session.execute(
            sa.select(self.table.c.digest).where(self.table.c.key == key)
        ).scalar_one_or_none()
        super().add_score(cell, resources)  # (sets needs_manual_grade when a manual score exists)
        if decided and seen == digest:
            grade.needs_manual_grade = False
        elif decided:
            self.log.warning(
                "%s/%s: written answer %s changed since it was graded by hand: it needs "
                "manual grading again",
                self.student_id,
                self.notebook_id,
                grade_id(cell),
            )
        session.execute(sa.delete(self.table).where(self.table.c.key == key))
        session.execute(sa.insert(self.table).values(key=key, digest=digest))
        session.commit()
        if self.recording is not None and grade.manual_score is not None:
            if grade.needs_manual_grade:
                self.recording.waiting_again.append(
                    f"{self.notebook_id}: written answer {grade_id(cell)} changed since it was "
                    f"graded by hand: it needs manual grading again in formgrader (its earlier "
                    f"score, {grade.manual_score:g} of {grade.max_score:g}, counts until then)"
                )


# ------------------------------------------------------------------------------ feedback

REDACTED = "[output removed: it showed hidden test code]\n"


def _output_text(output: Any) -> str:
    parts = [output.get("text", "")]
    for value in (output.get("data") or {}).values():
        parts.append(value if isinstance(value, str) else json.dumps(value))
    parts.extend(output.get("traceback", []))
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


class ScrubHiddenTests(NbGraderPreprocessor):
    """Keep hidden tests out of feedback (see the module docstring)."""

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        hidden: set[str] = set()
        for cell in nb.cells:
            compat.remove_mark_scheme(cell)
            if cell.cell_type == "code" and is_grade(cell) and is_locked(cell):
                before = set(cell.source.splitlines())
                compat.remove_hidden_tests(cell)
                hidden |= {
                    line.strip()
                    for line in before - set(cell.source.splitlines())
                    if len(line.strip()) >= 24
                }
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        output["traceback"] = [_error_text(output)]
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for i, output in enumerate(cell.get("outputs", [])):
                text = _output_text(output)
                if any(line in text for line in hidden):
                    cell.outputs[i] = nbformat.v4.new_output("stream", name="stdout", text=REDACTED)
        return nb, resources
