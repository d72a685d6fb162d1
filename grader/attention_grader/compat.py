"""Every place where the grader relies on another library's private behaviour, in one module.

Each reliance is one name here, written as a small public hook over the private one, and
``tests/test_compat.py`` has one guard test per name that checks the behaviour against the
installed library. An upgrade of nbgrader, nbclient, jupyter_client, nbconvert or SQLAlchemy
that changes one of them fails in that named test, not somewhere in the middle of grading.
No other module of the grader calls or overrides a private name of these libraries. The
nbclient and jupyter_client names live in :mod:`compat_kernel` (exported here too): a grading
worker imports that module alone, not nbgrader and nbconvert.

======================  =========================================================  ===========
name                    what it relies on                                          library
======================  =========================================================  ===========
shared_sql_engines      ``Gradebook`` creates its engine through the module        nbgrader
                        attribute ``nbgrader.api.create_engine``, checks its
                        tables through ``nbgrader.api.inspect`` and
                        ``Base.metadata.create_all``, its course through
                        ``check_course`` (only there), and disposes of its
                        engine through ``engine.dispose`` when it closes
checked_schemas         nbgrader's metadata checks call the module attribute       nbgrader
                        ``nbgrader.nbgraderformat.common.jsonschema.validate``
remove_mark_scheme      ``ClearMarkScheme._remove_mark_scheme_region(cell)``       nbgrader
remove_hidden_tests     ``ClearHiddenTests._remove_hidden_test_region(cell)``      nbgrader
CellLookups             ``OverwriteCells.preprocess`` and                          nbgrader
                        ``SaveAutoGrades.preprocess`` open ``self.gradebook`` and
                        then call the next class's; their cells find the
                        gradebook's rows through its ``find_source_cell``,
                        ``find_graded_cell``, ``find_grade`` and ``find_comment``
                        (looked up on the instance)
ScoreSaver              ``SaveAutoGrades._add_score(cell, resources)`` once per    nbgrader
                        grade cell, ``self.gradebook.db`` its session; its
                        ``preprocess`` opens the gradebook, then calls the next
                        class's, and commits through ``self.gradebook.db.commit``
never_skip_tag          cells tagged ``skip-execution`` are skipped unless         nbclient
                        ``skip_cells_with_tag`` names another tag
stop_channels           nbclient leaves the channels of a kernel manager it was    nbclient
                        given open
SocketLimitClient       ``AsyncKernelClient._create_connected_socket``             jupyter_client
                        makes the socket from ``self.context`` (with its default
                        options) and connects it; ``start_channels`` makes the
                        heartbeat's socket from that context after another
NoHeartbeatClient       a client made by ``km.client()`` asks its manager          jupyter_client
                        whether the kernel lives (``is_alive``), not the
                        heartbeat
CostLimitedSession      the channels parse each message with the session's         jupyter_client
                        ``deserialize(frames)``; a manager gives its client
                        ``session.clone()``, which copies the traits
PromptReadyClient       nbclient waits for a new kernel through the client's       nbclient,
                        ``wait_for_ready``; ``_handle_kernel_info_reply(msg)``     jupyter_client
                        adapts the client to the kernel's protocol version
HookedKernelManager     ``_async_interrupt_kernel``, ``_async_launch_kernel``,     jupyter_client
                        ``provisioner.process``
AttachmentRenderer      ``IPythonRenderer._embed_image_or_attachment(src)``        nbconvert
PostPassHTMLExporter    ``HTMLExporter.from_notebook_node`` is the template's      nbconvert
                        rendering (its two filters, ``_init_resources``,
                        ``_nb_metadata``) and then a BeautifulSoup pass that adds
                        a default ``alt`` to images and focus to JupyterLab cells
create_gradebook        ``Gradebook.__init__`` asks the module attribute           nbgrader
                        ``nbgrader.api.get_alembic_version`` for the migrations'
                        head when it creates the tables (nbgrader runs the
                        ``alembic heads`` command for it)
_zygote._Stash          a finder's loader that returns an existing module from     CPython
                        ``create_module`` gets that object back unrun (its
                        ``__file__``/``__path__`` kept); lives in ``_zygote.py``,
                        which imports nothing of the grader
======================  =========================================================  ===========
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Iterator
from typing import Any

from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.markdown_mistune import IPythonRenderer
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbgrader import api as nbapi
from nbgrader.preprocessors import (
    ClearHiddenTests,
    ClearMarkScheme,
    NbGraderPreprocessor,
    OverwriteCells,
    SaveAutoGrades,
)

from .compat_kernel import (  # noqa: F401 - the kernel-client names, for every other module
    CostLimitedSession,
    HookedKernelManager,
    NoHeartbeatClient,
    PromptReadyClient,
    SocketLimitClient,
    json_objects,
    never_skip_tag,
    stop_channels,
)

# ------------------------------------------------------------------------------ nbgrader


@functools.cache
def _alembic_head() -> str:
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    (head,) = ScriptDirectory(ALEMBIC_DIR).get_heads()
    return head


def create_gradebook(db_url: str, course_id: str) -> None:
    """Open the gradebook at ``db_url`` as nbgrader does, creating its tables, its migration
    version and its course if it has none, with the version read in this process: nbgrader
    runs the ``alembic heads`` command for it (a second Python, about 1.5 s of CPU, for every
    new gradebook)."""
    import nbgrader.api

    asked = nbgrader.api.get_alembic_version
    nbgrader.api.get_alembic_version = _alembic_head
    try:
        nbgrader.api.Gradebook(db_url, course_id).close()
    finally:
        nbgrader.api.get_alembic_version = asked


@contextlib.contextmanager
def shared_sql_engines() -> Iterator[None]:
    """nbgrader's ``Gradebook`` creates a new SQLAlchemy engine each time it is opened (about a
    dozen times per recorded notebook), so every query is compiled again, connects again
    (``Gradebook.close`` disposes of its engine), and asks the database each time whether its
    tables and its course row exist. While the block runs, one engine per URL serves them all:
    its compiled statements and its pooled connections survive ``Gradebook.close`` (each is
    back in the pool, its transaction ended, when a gradebook closes), and an engine's tables
    and course are checked (and created) once."""
    import nbgrader.api

    create, inspect = nbgrader.api.create_engine, nbgrader.api.inspect
    metadata = nbgrader.api.Base.metadata
    check_course = nbgrader.api.Gradebook.check_course
    engines: dict[tuple[str, str], Any] = {}
    ready: list[Any] = []  # shared engines whose gradebook tables exist
    courses: list[tuple[Any, str]] = []  # (shared engine, course id) known to exist

    def shared(url: Any, **kwargs: Any) -> Any:
        key = (str(url), repr(sorted(kwargs.items())))
        if key not in engines:
            engines[key] = create(url, **kwargs)
            engines[key].dispose = _kept_pool  # (disposed of when the block ends)
        return engines[key]

    def course_checked(self: Any, course_id: str = "default_course", **kwargs: Any) -> Any:
        # (nbgrader calls it only from Gradebook.__init__, which ignores what it returns)
        if not kwargs and any(e is self.engine and c == course_id for e, c in courses):
            return None
        course = check_course(self, course_id, **kwargs)
        if any(self.engine is engine for engine in engines.values()):
            courses.append((self.engine, course_id))
        return course

    def inspected(engine: Any) -> Any:
        if any(engine is known for known in ready):
            return _TablesExist()
        return inspect(engine)

    def create_all(bind: Any = None, **kwargs: Any) -> None:
        if not any(bind is known for known in ready):
            type(metadata).create_all(metadata, bind=bind, **kwargs)
            if any(bind is engine for engine in engines.values()):
                ready.append(bind)

    nbgrader.api.create_engine, nbgrader.api.inspect = shared, inspected
    metadata.create_all = create_all
    nbgrader.api.Gradebook.check_course = course_checked
    try:
        yield
    finally:
        nbgrader.api.create_engine, nbgrader.api.inspect = create, inspect
        nbgrader.api.Gradebook.check_course = check_course
        del metadata.create_all
        for sql_engine in engines.values():
            del sql_engine.dispose
            sql_engine.dispose()


def _kept_pool(close: bool = True) -> None:
    """A shared engine's ``dispose`` while it is shared: its connections stay pooled."""


class _TablesExist:
    """What ``Gradebook`` asks of an inspector, for an engine whose tables were made."""

    def get_table_names(self) -> list[str]:
        return ["(checked)"]


@contextlib.contextmanager
def checked_schemas() -> Iterator[None]:
    """nbgrader checks each cell's nbgrader metadata with ``jsonschema.validate``, which
    checks the schema itself again on every call (a tenth of a recording's CPU). While the
    block runs, the metadata is checked against a validator made once per schema, with the
    same result and the same error."""
    import jsonschema
    import nbgrader.nbgraderformat.common as common

    validators: list[tuple[Any, Any]] = []

    def validator(schema: Any) -> Any:
        for known, made in validators:
            if known is schema or known == schema:  # (each nbgrader validator loads its own)
                return made
        cls = jsonschema.validators.validator_for(schema)
        frozen = copy.deepcopy(schema)
        cls.check_schema(frozen)
        validators.append((frozen, cls(frozen)))
        return validators[-1][1]

    def validate(instance: Any, schema: Any, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            return jsonschema.validate(instance, schema, *args, **kwargs)
        error = jsonschema.exceptions.best_match(validator(schema).iter_errors(instance))
        if error is not None:
            raise error
        return None

    module = common.jsonschema
    common.jsonschema = type("CheckedSchemas", (), {"validate": staticmethod(validate)})
    try:
        yield
    finally:
        common.jsonschema = module


def remove_mark_scheme(cell: Any) -> None:
    """Remove the ``### BEGIN MARK SCHEME`` regions (rubrics) of a cell, in place."""
    remover = ClearMarkScheme(enforce_metadata=False, check_attachment_leakage=False)
    remover._remove_mark_scheme_region(cell)


def remove_hidden_tests(cell: Any) -> None:
    """Remove the ``### BEGIN HIDDEN TESTS`` regions of a cell, in place."""
    ClearHiddenTests(enforce_metadata=False)._remove_hidden_test_region(cell)


def _later() -> None:
    """nbgrader's commit after each saved cell, while a notebook's scores are saved."""


class _OneTransaction(NbGraderPreprocessor):
    """What runs inside ``SaveAutoGrades.preprocess`` (after it in a subclass's method order):
    the cells' scores, with nbgrader's commit after each cell doing nothing (the session
    flushes what changed before any query, and every change at the end), and one commit when
    every cell is saved (a rollback when one fails)."""

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        session = self.gradebook.db
        session.commit = _later  # (an attribute of this scoped session only)
        try:
            nb, resources = super().preprocess(nb, resources)
        except BaseException:
            session.rollback()
            raise
        finally:
            del session.commit
        session.commit()
        return nb, resources


_FINDERS = ("find_source_cell", "find_graded_cell", "find_grade", "find_comment")


class _Lookups:
    """A gradebook's four finders of one notebook's cells (and one student's grades and
    comments) answered from maps, each made with one query on first use. A name that is not
    in a map (a task cell, a name added since, one that is not there) goes to nbgrader's own
    finder, which finds it or raises ``MissingEntry`` as it always does."""

    def __init__(self, gradebook: Any) -> None:
        self.db = gradebook.db
        self.own = {name: getattr(gradebook, name) for name in _FINDERS}
        self.maps: dict[tuple, dict[str, Any]] = {}

    def _find(self, finder: str, name: Any, where: tuple[str, ...], rows: Any) -> Any:
        key = (finder, *where)
        if key not in self.maps:
            found: dict[str, Any] = {}
            twice = set()
            for found_name, row in rows(*where):
                if found_name in found:  # (nbgrader's .one() would raise: let it)
                    twice.add(found_name)
                found[found_name] = row
            self.maps[key] = {n: row for n, row in found.items() if n not in twice}
        known = self.maps[key]
        if isinstance(name, str) and name in known:
            return known[name]
        return self.own[finder](name, *where)

    def _cells(self, cls: Any, notebook: str, assignment: str) -> Any:
        """(name, cell) of ``notebook``'s cells of class ``cls``, as nbgrader's finders join."""
        return (
            (cell.name, cell)
            for cell in self.db.query(cls)
            .join(nbapi.Notebook, nbapi.Notebook.id == cls.notebook_id)
            .join(nbapi.Assignment, nbapi.Assignment.id == nbapi.Notebook.assignment_id)
            .filter(nbapi.Notebook.name == notebook, nbapi.Assignment.name == assignment)
        )

    def _submitted(self, cls: Any, cell: Any, notebook: str, assignment: str, student: str):
        """(cell name, row) of the rows of class ``cls`` (grades, comments) of ``student``'s
        ``notebook``, whose cell is of class ``cell``, as nbgrader's finders join."""
        api = nbapi
        return (
            (name, row)
            for row, name in self.db.query(cls, cell.name)
            .join(cell, cell.id == cls.cell_id)
            .join(api.SubmittedNotebook, api.SubmittedNotebook.id == cls.notebook_id)
            .join(api.Notebook, api.Notebook.id == api.SubmittedNotebook.notebook_id)
            .join(
                api.SubmittedAssignment,
                api.SubmittedAssignment.id == api.SubmittedNotebook.assignment_id,
            )
            .join(api.Assignment, api.Assignment.id == api.SubmittedAssignment.assignment_id)
            .join(api.Student, api.Student.id == api.SubmittedAssignment.student_id)
            .filter(
                api.Notebook.name == notebook,
                api.Assignment.name == assignment,
                api.Student.id == student,
            )
        )

    # nbgrader's signatures
    def find_source_cell(self, name: Any, notebook: str, assignment: str) -> Any:
        rows = functools.partial(self._cells, nbapi.SourceCell)
        return self._find("find_source_cell", name, (notebook, assignment), rows)

    def find_graded_cell(self, name: Any, notebook: str, assignment: str) -> Any:
        rows = functools.partial(self._cells, nbapi.GradeCell)  # (a task cell: nbgrader's)
        return self._find("find_graded_cell", name, (notebook, assignment), rows)

    def find_grade(self, name: Any, notebook: str, assignment: str, student: str) -> Any:
        rows = functools.partial(self._submitted, nbapi.Grade, nbapi.GradeCell)
        return self._find("find_grade", name, (notebook, assignment, student), rows)

    def find_comment(self, name: Any, notebook: str, assignment: str, student: str) -> Any:
        rows = functools.partial(self._submitted, nbapi.Comment, nbapi.SolutionCell)
        return self._find("find_comment", name, (notebook, assignment, student), rows)


class CellLookups(NbGraderPreprocessor):
    """What runs inside ``OverwriteCells.preprocess`` and ``SaveAutoGrades.preprocess`` (after
    it in a subclass's method order), with ``self.gradebook`` open: while the cells are
    processed, its ``find_source_cell``, ``find_graded_cell``, ``find_grade`` and
    ``find_comment`` answer from one query per notebook and kind (:class:`_Lookups`).
    nbgrader asks the database once per cell for each (ORM queries with four to seven joins:
    a fifth of a recording's CPU). The returned rows are the session's own objects, the same
    that nbgrader's finders return."""

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        gradebook = self.gradebook
        lookups = _Lookups(gradebook)
        for name in _FINDERS:
            setattr(gradebook, name, getattr(lookups, name))  # (this gradebook only)
        try:
            return super().preprocess(nb, resources)
        finally:
            for name in _FINDERS:
                delattr(gradebook, name)


class LookupOverwriteCells(OverwriteCells, CellLookups):
    """nbgrader's ``OverwriteCells``, its cells found with :class:`CellLookups`."""


class ScoreSaver(SaveAutoGrades, _OneTransaction, CellLookups):
    """nbgrader's ``SaveAutoGrades`` with :meth:`add_score` as the hook that saves one grade
    cell's score (nbgrader's private ``_add_score``) and :attr:`session` its gradebook's
    SQLAlchemy session, open while the scores are saved.

    A notebook's scores are saved in one transaction: stock nbgrader commits after each cell
    (on SQLite a commit writes and syncs the file: tens per notebook, most of a recording's
    time in the gradebook), and a notebook whose saving failed half way kept half of its new
    scores. Here all of them are saved, or none."""

    def _add_score(self, cell: Any, resources: dict) -> None:
        self.add_score(cell, resources)

    def add_score(self, cell: Any, resources: dict) -> None:
        """Save the score of one grade cell (override, and call this for nbgrader's)."""
        super()._add_score(cell, resources)

    @property
    def session(self) -> Any:
        return self.gradebook.db


# ------------------------------------------------------------------------------ nbconvert


class AttachmentRenderer(IPythonRenderer):
    """nbconvert's markdown renderer where :meth:`attachment_missing` decides that a reference
    to an attachment renders as nothing."""

    def _embed_image_or_attachment(self, src: str) -> str:
        if self.attachment_missing(src):
            return ""
        return super()._embed_image_or_attachment(src)

    def attachment_missing(self, src: str) -> bool:
        """True when ``src`` must render as nothing (override)."""
        return False


# nbconvert's pass: the alt text it gives an image without one, the cells it makes focusable
MISSING_ALT = "No description has been provided for this image"
LAB_CELLS = ("jp-Cell-inputWrapper", "jp-OutputArea-output")


class PostPassHTMLExporter(HTMLExporter):
    """nbconvert's ``HTMLExporter`` whose pass over the rendered page is :meth:`post_pass`
    (nbconvert's own, with BeautifulSoup, by default)."""

    def from_notebook_node(  # type: ignore[override]
        self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[str, dict[str, Any]]:
        language = nb.metadata.get("language_info", {})
        lexer = language.get("pygments_lexer", language.get("name", None))
        highlight_code = self.filters.get(
            "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)
        )
        resources = self._init_resources(resources)
        filter_data_type = WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources
        )
        self.register_filter("highlight_code", highlight_code)
        self.register_filter("filter_data_type", filter_data_type)
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return self.post_pass(html), resources

    def post_pass(self, html: str) -> str:
        """The rendered page as it is written (override): nbconvert's pass."""
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(html, features="html.parser")
        missing = soup.select("img:not([alt])")
        for elem in missing:
            elem.attrs["alt"] = MISSING_ALT
        if missing:
            self.log.warning("Alternative text is missing on %s image(s).", len(missing))
        for name in LAB_CELLS:
            for elem in soup.select(f".jp-Notebook div.{name}"):
                elem.attrs["tabindex"] = "0"
        return str(soup)
