"""One guard test per reliance on another library's private behaviour (:mod:`compat`).

Each test checks the behaviour against the installed library, so an upgrade that changes it
fails here, by name, and not in the middle of grading.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os

import nbformat
import pytest
import zmq
from nbgrader.api import Gradebook
from nbgrader.preprocessors import SaveAutoGrades

from attention_grader import compat, cycle

# ------------------------------------------------------------------------------ nbgrader


def test_shared_sql_engines_one_engine_per_gradebook_url(tmp_path, monkeypatch):
    """nbgrader's Gradebook creates its engine through ``nbgrader.api.create_engine``: inside
    the block Gradebooks share one engine (and its compiled statements) per URL, outside it
    nbgrader's own function is back."""
    import nbgrader.api

    monkeypatch.setenv("PATH", cycle.environment()["PATH"])  # nbgrader runs alembic

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with compat.shared_sql_engines():
        with Gradebook(url) as one, Gradebook(url) as two:
            assert one.engine is two.engine
            one.add_student("ana")
        with Gradebook(url) as three:  # usable after the others closed (and disposed) it
            assert [s.id for s in three.students] == ["ana"]
        other = Gradebook(f"sqlite:///{tmp_path / 'other.db'}")
        assert other.engine is not three.engine
        other.close()
    with Gradebook(url) as four, Gradebook(url) as five:
        assert four.engine is not five.engine
    assert nbgrader.api.create_engine.__module__.startswith("sqlalchemy")


def test_shared_sql_engines_check_the_tables_once(tmp_path, monkeypatch):
    """``Gradebook`` asks ``nbgrader.api.inspect`` whether its tables exist and calls
    ``Base.metadata.create_all`` each time it is opened: inside the block a new gradebook
    still gets its tables and one alembic version, and the database is asked once."""
    import nbgrader.api
    from sqlalchemy import text

    monkeypatch.setenv("PATH", cycle.environment()["PATH"])
    asked = []
    real = nbgrader.api.inspect
    monkeypatch.setattr(nbgrader.api, "inspect", lambda engine: asked.append(1) or real(engine))
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with compat.shared_sql_engines():
        for student in ("ana", "bo", "cy"):
            with Gradebook(url) as gb:
                gb.add_student(student)
        with Gradebook(url) as gb:
            versions = gb.db.execute(text("SELECT version_num FROM alembic_version")).all()
            assert len(versions) == 1 and versions[0][0]
            assert sorted(s.id for s in gb.students) == ["ana", "bo", "cy"]
    assert len(asked) == 1
    assert "create_all" not in vars(nbgrader.api.Base.metadata)  # nbgrader's own again
    with Gradebook(url) as gb:
        assert len(gb.students) == 3
    assert len(asked) == 2


def test_shared_sql_engines_connect_and_check_the_course_once(tmp_path, monkeypatch):
    """``Gradebook.close`` disposes of its engine and ``Gradebook()`` checks its course row
    (through ``check_course``, which nbgrader calls nowhere else and whose value it ignores):
    inside the block the shared engine keeps one pooled connection and the course is asked
    for once; the connections close when the block ends."""
    import pathlib

    import nbgrader
    import nbgrader.api
    import sqlalchemy as sa

    calls = [
        (path.name, line.strip())
        for path in pathlib.Path(nbgrader.__file__).parent.rglob("*.py")
        if "tests" not in path.parts
        for line in path.read_text().splitlines()
        if "check_course(" in line
    ]
    assert calls == [
        ("api.py", "self.check_course(course_id=course_id)"),
        (
            "api.py",
            'def check_course(self, course_id: str = "default_course", **kwargs: dict) -> Course:',
        ),
    ], calls
    monkeypatch.setenv("PATH", cycle.environment()["PATH"])
    asked, connects = [], []
    real = nbgrader.api.Gradebook.check_course
    monkeypatch.setattr(
        nbgrader.api.Gradebook,
        "check_course",
        lambda self, *a, **k: asked.append(1) or real(self, *a, **k),
    )

    def count(*args):
        connects.append(1)

    sa.event.listen(sa.pool.Pool, "connect", count)
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    try:
        with compat.shared_sql_engines():
            for student in ("ana", "bo", "cy"):
                with Gradebook(url) as gb:
                    gb.add_student(student)
                    engine = gb.engine
            assert engine.pool.checkedin() == 1  # back in the pool, not closed
            with Gradebook(url) as gb:
                assert [c.id for c in gb.db.query(nbgrader.api.Course)] == ["default_course"]
        assert (len(asked), len(connects)) == (1, 1)
        assert engine.pool.checkedin() == 0  # closed when the block ended
        with Gradebook(url) as gb, Gradebook(url) as other:  # nbgrader's own behaviour again
            assert sorted(s.id for s in gb.students) == ["ana", "bo", "cy"] and other
        assert (len(asked), len(connects)) == (3, 3)
    finally:
        sa.event.remove(sa.pool.Pool, "connect", count)


def test_checked_schemas_same_verdicts_one_schema_check(monkeypatch):
    """nbgrader checks cell metadata with ``nbgrader.nbgraderformat.common.jsonschema
    .validate``: inside the block valid metadata passes, invalid metadata fails with the same
    error as outside, and the schema is checked once, not once per cell."""
    import jsonschema
    from nbgrader.nbgraderformat import MetadataValidator

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("x = 1", points=1, solution=False, task=False, schema_version=3) for _ in range(5)
    ]
    for n, cell in enumerate(nb.cells):
        cell.metadata.nbgrader["grade_id"] = f"t{n}"
    bad = _cell("y = 2", points="many", solution=False, task=False, schema_version=3)
    with pytest.raises(jsonschema.ValidationError) as outside:
        MetadataValidator().validate_cell(bad)
    made = []  # checks of nbgrader's schema
    cls = jsonschema.validators.validator_for(MetadataValidator().schema)
    real = cls.check_schema.__func__
    monkeypatch.setattr(
        cls,
        "check_schema",
        classmethod(lambda c, schema, **kw: made.append(1) or real(c, schema, **kw)),
    )
    MetadataValidator().validate_nb(nb)
    without = len(made)
    made.clear()
    with compat.checked_schemas():
        MetadataValidator().validate_nb(nb)
        with pytest.raises(jsonschema.ValidationError) as inside:
            MetadataValidator().validate_cell(bad)
    assert without == len(nb.cells) and len(made) == 1
    assert inside.value.message == outside.value.message


def _cell(source: str, **meta) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "locked": True, "grade_id": "t", **meta}
    return cell


def test_remove_mark_scheme_removes_the_region():
    cell = nbformat.v4.new_markdown_cell(
        "answer\n### BEGIN MARK SCHEME\nrubric line\n### END MARK SCHEME\nafter"
    )
    compat.remove_mark_scheme(cell)
    assert "rubric line" not in cell.source and "answer" in cell.source
    assert "after" in cell.source


def test_remove_hidden_tests_removes_the_region():
    cell = _cell("visible()\n### BEGIN HIDDEN TESTS\nhidden()\n### END HIDDEN TESTS\nlast()")
    compat.remove_hidden_tests(cell)
    assert "hidden()" not in cell.source and "visible()" in cell.source and "last()" in cell.source


def _scored_notebook(tmp_path, monkeypatch) -> tuple[nbformat.NotebookNode, dict]:
    """A notebook with three grade cells and a plain cell, and a gradebook that knows it
    (no score saved yet); the resources a score saver gets."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("a = 1", grade_id="one", points=1),
        nbformat.v4.new_code_cell("plain"),
        _cell("b = 2", grade_id="two", points=2),
        _cell("c = 3", grade_id="three", points=3),
    ]
    tmp_path.mkdir(exist_ok=True)
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    compat.create_gradebook(url, "default_course")  # Gradebook(url)'s own, without alembic
    with Gradebook(url) as gb:
        gb.add_assignment("a")
        gb.add_student("s")
        gb.add_notebook("n", "a")
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader")
            if meta:
                gb.add_grade_cell(
                    meta["grade_id"], "n", "a", max_score=meta["points"], cell_type="code"
                )
                gb.add_source_cell(
                    meta["grade_id"], "n", "a", cell_type="code", locked=True, source=cell.source
                )
        gb.add_submission("a", "s")
    return nb, {"nbgrader": {"db_url": url, "assignment": "a", "notebook": "n", "student": "s"}}


def _auto_scores(url: str) -> dict[str, float | None]:
    with Gradebook(url) as gb:
        return {
            name: gb.find_grade(name, "n", "a", "s").auto_score for name in ("one", "two", "three")
        }


def test_score_saver_add_score_is_called_once_per_grade_cell(tmp_path, monkeypatch):
    """nbgrader's SaveAutoGrades saves each grade cell's score through ``_add_score`` with its
    gradebook open: ScoreSaver's ``add_score`` hook and ``session`` rely on both."""
    assert "_add_score" in vars(SaveAutoGrades)
    seen = []

    class Spy(compat.ScoreSaver):
        def add_score(self, cell, resources):
            seen.append((cell.metadata["nbgrader"]["grade_id"], self.session is not None))

    nb, resources = _scored_notebook(tmp_path, monkeypatch)
    Spy().preprocess(nb, resources)
    assert seen == [("one", True), ("two", True), ("three", True)]


def test_score_saver_saves_a_notebook_in_one_commit(tmp_path, monkeypatch):
    """Stock SaveAutoGrades commits once per saved cell (the control); ScoreSaver saves the
    same scores with one commit for the whole notebook."""
    import sqlalchemy as sa

    commits = []

    def count(connection):
        commits.append(connection)

    sa.event.listen(sa.engine.Engine, "commit", count)
    try:
        nb, resources = _scored_notebook(tmp_path / "stock", monkeypatch)
        commits.clear()  # (only the saving's)
        SaveAutoGrades().preprocess(copy.deepcopy(nb), resources)
        stock, stock_scores = len(commits), _auto_scores(resources["nbgrader"]["db_url"])
        nb, resources = _scored_notebook(tmp_path / "saver", monkeypatch)
        commits.clear()
        compat.ScoreSaver().preprocess(copy.deepcopy(nb), resources)
        ours, our_scores = len(commits), _auto_scores(resources["nbgrader"]["db_url"])
    finally:
        sa.event.remove(sa.engine.Engine, "commit", count)
    assert stock_scores == our_scores == {"one": 1, "two": 2, "three": 3}
    assert stock >= 3, "nbgrader no longer commits per cell: ScoreSaver's patch is moot"
    assert ours <= stock - 3 + 1, (stock, ours)


def test_score_saver_keeps_no_score_of_a_notebook_whose_saving_failed(tmp_path, monkeypatch):
    """A saver that fails at the second grade cell leaves the gradebook as it was (stock
    nbgrader had already committed the first cell's new score)."""

    class Failing(compat.ScoreSaver):
        def add_score(self, cell, resources):
            if cell.metadata["nbgrader"]["grade_id"] == "two":
                raise RuntimeError("the disk is full")
            super().add_score(cell, resources)

    nb, resources = _scored_notebook(tmp_path, monkeypatch)
    with pytest.raises(RuntimeError, match="disk is full"):
        Failing().preprocess(nb, resources)
    assert _auto_scores(resources["nbgrader"]["db_url"]) == {
        "one": None,
        "two": None,
        "three": None,
    }
    compat.ScoreSaver().preprocess(nb, resources)  # and the next saving works
    assert _auto_scores(resources["nbgrader"]["db_url"]) == {"one": 1, "two": 2, "three": 3}


def _two_notebooks(tmp_path) -> str:
    """A gradebook whose assignment ``a`` has notebooks ``n`` and ``m`` with cells of every
    kind (``m`` reuses the names of ``n``) and two students' submissions."""
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    compat.create_gradebook(url, "default_course")
    with Gradebook(url) as gb:
        gb.add_assignment("a")
        for notebook in ("n", "m"):
            gb.add_notebook(notebook, "a")
            for name in ("one", "two", "essay"):  # test cells, a written answer
                gb.add_grade_cell(name, notebook, "a", max_score=2, cell_type="code")
            for name in ("essay", "sol"):
                gb.add_solution_cell(name, notebook, "a")
            gb.add_task_cell("task", notebook, "a", max_score=3, cell_type="markdown")
            for name in ("one", "two", "essay", "sol", "task", "setup"):
                gb.add_source_cell(
                    name, notebook, "a", cell_type="code", source=f"{name}{notebook}"
                )
        for student in ("s", "t"):
            gb.add_student(student)
            gb.add_submission("a", student)
    return url


NAMES = ("one", "two", "essay", "sol", "task", "setup", "absent", "ONE", None)


def _found(find, *args):
    from nbgrader.api import MissingEntry

    try:
        return find(*args)
    except MissingEntry as error:
        return ("MissingEntry", str(error))


def test_cell_lookups_find_what_nbgrader_finds_with_one_query_per_kind(tmp_path):
    """``OverwriteCells`` and ``SaveAutoGrades`` open ``self.gradebook`` and then call the
    next class's ``preprocess``, whose cells call its four finders on the instance: inside
    ``CellLookups`` every finder gives the very object nbgrader's own gives (or the same
    ``MissingEntry``), for every kind of cell, another notebook's and another student's rows
    left out, with one query per kind for the names it knows."""
    import sqlalchemy as sa
    from nbgrader.preprocessors import OverwriteCells

    assert "preprocess" in vars(OverwriteCells) and "preprocess" in vars(SaveAutoGrades)
    url = _two_notebooks(tmp_path)
    asks = {
        "find_source_cell": ("n", "a"),
        "find_graded_cell": ("n", "a"),
        "find_grade": ("n", "a", "s"),
        "find_comment": ("n", "a", "s"),
    }
    statements: list[str] = []
    seen = {}

    class Probe(compat.CellLookups):
        def preprocess_cell(self, cell, resources, index):
            gb, own = self.gradebook, type(self.gradebook)
            for finder, args in asks.items():
                for name in NAMES:
                    ours = _found(getattr(gb, finder), name, *args)
                    before = len(statements)
                    theirs = _found(getattr(own, finder).__get__(gb), name, *args)
                    seen[finder, name] = (ours, theirs, len(statements) > before)
            statements.clear()
            for (finder, name), (ours, _, _) in list(seen.items()):  # (the maps are made)
                # (a task cell is not a grade or solution cell: nbgrader's finder looks for
                # it second, and so do the lookups)
                if not isinstance(ours, tuple) and (name != "task" or "source" in finder):
                    assert getattr(gb, finder)(name, *asks[finder]) is ours
            seen["asked again"] = list(statements)
            grade = seen["find_grade", "one"][0]
            seen["where"] = (grade.notebook.name, grade.student.id, grade.cell.notebook.name)
            return cell, resources

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    try:
        with Gradebook(url) as gb:
            probe = Probe()
            probe.gradebook = gb
            nb = nbformat.v4.new_notebook()
            nb.cells = [nbformat.v4.new_code_cell("x")]
            probe.preprocess(nb, {})
            assert not any(name in vars(gb) for name in asks)  # nbgrader's finders again
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)
    assert seen.pop("asked again") == []
    assert seen.pop("where") == ("n", "s", "n")
    for (finder, name), (ours, theirs, asked) in seen.items():
        assert asked  # (nbgrader's own finder asked the database: the control)
        if isinstance(theirs, tuple):
            assert ours == theirs, (finder, name)
        else:
            assert ours is theirs, (finder, name)
    found = {key for key, (ours, _, _) in seen.items() if not isinstance(ours, tuple)}
    assert found == {
        *(("find_source_cell", n) for n in ("one", "two", "essay", "sol", "task", "setup")),
        *(("find_graded_cell", n) for n in ("one", "two", "essay", "task")),
        *(("find_grade", n) for n in ("one", "two", "essay", "task")),
        *(("find_comment", n) for n in ("essay", "sol", "task")),
    }


def test_lookup_overwrite_cells_asks_less_and_changes_what_nbgrader_changes(tmp_path):
    """``LookupOverwriteCells`` leaves a tampered notebook exactly as nbgrader's
    ``OverwriteCells`` does (a locked cell's source restored, changed points and cell type put
    back, a missing cell added back) with fewer queries."""
    import sqlalchemy as sa
    from nbgrader.preprocessors import OverwriteCells
    from nbgrader.utils import compute_checksum, is_locked

    url = _two_notebooks(tmp_path)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("changed", grade_id="one", points=5),  # locked: the source and points come back
        nbformat.v4.new_markdown_cell("two as markdown"),
        _cell("sol", grade_id="sol", grade=False, solution=True, locked=False),
        _cell("essay answer", grade_id="essay", points=2, solution=True, locked=False),
    ]
    nb.cells[1].metadata["nbgrader"] = {
        "grade": True,
        "locked": False,
        "solution": False,
        "grade_id": "two",
        "points": 2,
    }
    with Gradebook(url) as gb:
        for name, cell in (("one", _cell("onen", grade_id="one", points=2)), ("sol", nb.cells[2])):
            gb.update_or_create_source_cell(
                name,
                "n",
                "a",
                locked=is_locked(cell),
                source=cell.source,
                checksum=compute_checksum(cell),
            )
    resources = {"nbgrader": {"db_url": url, "assignment": "a", "notebook": "n"}}
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    results = {}
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    try:
        for cls in (OverwriteCells, compat.LookupOverwriteCells):
            statements.clear()
            done, _ = cls(add_missing_cells=True).preprocess(copy.deepcopy(nb), resources)
            results[cls.__name__] = (done, len(statements))
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)
    (stock, stock_asked), (ours, ours_asked) = results.values()
    assert ours == stock
    assert stock.cells[0].source == "onen" and stock.cells[0].metadata.nbgrader["points"] == 2
    assert stock.cells[1].cell_type == "code"
    assert any("task" in c.metadata.get("nbgrader", {}).get("grade_id", "") for c in stock.cells)
    assert ours_asked <= stock_asked - 4, (stock_asked, ours_asked)


# ------------------------------------------------------------------------------ nbclient


def _run(nb, **options):
    from nbclient import NotebookClient

    client = NotebookClient(nb, kernel_name="python3", timeout=60, **options)
    client.execute()
    return nb


def test_nbclient_skips_skip_execution_cells_unless_told_another_tag():
    def notebook():
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("print('ran')")
        cell.metadata["tags"] = ["skip-execution"]
        nb.cells = [cell]
        return nb

    assert _run(notebook()).cells[0].outputs == []  # nbclient's default skips it
    ran = _run(notebook(), skip_cells_with_tag=compat.never_skip_tag())
    assert "ran" in ran.cells[0].outputs[0]["text"]
    assert compat.never_skip_tag() != compat.never_skip_tag()  # a student cannot guess it


def test_nbclient_leaves_the_channels_of_a_given_kernel_manager_open():
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    async def main():
        km = AsyncKernelManager(kernel_name="python3")
        await km.start_kernel()
        try:
            nb = nbformat.v4.new_notebook()
            nb.cells = [nbformat.v4.new_code_cell("1 + 1")]
            client = NotebookClient(nb, km=km, timeout=60)
            await client.async_execute()
            assert client.kc is not None and client.kc.channels_running  # left open
            compat.stop_channels(client)
            assert not client.kc.channels_running
        finally:
            await km.shutdown_kernel(now=True)

    asyncio.run(main())


# ------------------------------------------------------------------------ jupyter_client


class _OptionsClient(compat.SocketLimitClient):
    reconnect_ms = 7

    def socket_options(self):
        return {**super().socket_options(), zmq.MAXMSGSIZE: 12345}


@pytest.mark.parametrize("client", ["options", "grader"])
def test_socket_limit_client_options_reach_every_socket_the_heartbeats_too(client):
    """Every socket the client makes, and the heartbeat channel's, has the options of
    ``socket_options`` (ZeroMQ's own: a 100 ms reconnection interval, no size limit, 1000
    messages held); the grader's client, which has no heartbeat, limits every message the
    kernel sends and how many it holds, and tries to connect every 5 ms."""
    from jupyter_client.manager import AsyncKernelManager

    from attention_grader import executor

    cls, expected, channels = {
        "options": (_OptionsClient, (7, 12345, 1000), ("shell", "iopub", "stdin", "control", "hb")),
        # (no heartbeat: NoHeartbeatClient)
        "grader": (
            executor.SandboxKernelClient,
            (5, executor.MAX_MESSAGE_BYTES, executor.RECEIVE_QUEUE),
            ("shell", "iopub", "stdin", "control"),
        ),
    }[client]
    sockets = {}

    async def main():
        km = AsyncKernelManager(kernel_name="python3")
        await km.start_kernel()
        try:
            kc = cls(connection_file=km.connection_file)
            kc.load_connection_file()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=60)
                for name in channels:
                    channel = getattr(kc, f"{name}_channel")
                    for _ in range(500):  # (the heartbeat's thread makes its socket itself)
                        if channel.socket is not None:
                            break
                        await asyncio.sleep(0.01)
                    sockets[name] = tuple(
                        channel.socket.getsockopt(option)
                        for option in (zmq.RECONNECT_IVL, zmq.MAXMSGSIZE, zmq.RCVHWM)
                    )
            finally:
                kc.stop_channels()
        finally:
            await km.shutdown_kernel(now=True)

    asyncio.run(main())
    assert sockets == dict.fromkeys(channels, expected)


def test_no_heartbeat_client_knows_from_its_manager_whether_the_kernel_lives():
    """A client made by its kernel manager, with no heartbeat, is ready, and says the kernel
    is gone once it is (jupyter_client asks the manager); no heartbeat thread runs."""
    from jupyter_client.manager import AsyncKernelManager

    seen = {}

    async def main():
        km = AsyncKernelManager(
            kernel_name="python3", client_class="attention_grader.compat.NoHeartbeatClient"
        )
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            seen["alive"] = await kc.is_alive()
            seen["heartbeat"] = kc.hb_channel.is_alive()
            await km.shutdown_kernel(now=True)
            seen["after"] = await kc.is_alive()
        finally:
            kc.stop_channels()
            if await km.is_alive():
                await km.shutdown_kernel(now=True)

    asyncio.run(main())
    assert seen == {"alive": True, "heartbeat": False, "after": False}


def test_cost_limited_session_refuses_before_parsing_and_its_clone_keeps_the_limit():
    """A message whose JSON would cost more than ``max_cost`` once parsed is refused before
    it is parsed: 64 bytes per list or object, 48 per other value (not what its strings
    hold: brackets, commas); the clone a manager gives its client keeps the limit."""
    from jupyter_client.session import Session

    session = compat.CostLimitedSession(key=b"k")
    session.max_cost = 100_000
    clone = session.clone()
    sender = Session(key=b"k")
    lists = sender.serialize(sender.msg("display_data", {"data": [[]] * 2_000}))
    short = sender.serialize(sender.msg("display_data", {"data": ["ab"] * 2_000}))
    text = sender.serialize(sender.msg("stream", {"text": "[[]], " * 100_000}))  # 600 KB
    # the content: 2,002 x 64 + 2,000 x 48 = 224,128 bytes (+ about 1 KB of header)
    assert compat.json_objects(lists[5]) == (2_002, 2_000)
    assert compat.json_objects(short[5]) == (2, 2_000 + 1_999 + 1)  # strings, commas, key
    assert compat.json_objects(text[5]) == (1, 2)
    with pytest.raises(ValueError, match=r"take 22[45]\d{3} bytes once parsed, over 100000"):
        clone.deserialize(lists[1:])
    # (refused on its strings alone: 2,001 and the header's, at 48 bytes, are over 100,000)
    with pytest.raises(ValueError, match=r"take 10[01]\d{3} bytes once parsed, over 100000"):
        clone.deserialize(short[1:])
    assert clone.deserialize(text[1:])["content"]["text"].startswith("[[]], ")
    assert compat.CostLimitedSession(key=b"k").deserialize(lists[1:])["content"]["data"]


class _RecordingReadyClient(compat.PromptReadyClient):
    """Records what the readiness wait got from IOPub ("message" or "empty") and the
    kernel_info replies it handled."""

    outcomes: list = []
    handled: list = []

    def _handle_kernel_info_reply(self, msg):
        type(self).handled.append(msg["msg_type"])
        super()._handle_kernel_info_reply(msg)

    async def _iopub_connected(self):
        connected = await super()._iopub_connected()
        type(self).outcomes.append("message" if connected else "empty")
        return connected


def test_prompt_ready_client_is_what_nbclient_waits_with_and_the_first_output_arrives():
    """nbclient waits for a new kernel through the client's ``wait_for_ready`` (with
    jupyter_client's own, nothing is recorded here); this one returns when IOPub brought a
    message, handles the kernel_info reply, and the first cell's output arrives."""
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    _RecordingReadyClient.outcomes, _RecordingReadyClient.handled = [], []

    async def main():
        km = AsyncKernelManager(
            kernel_name="python3", client_class="test_compat._RecordingReadyClient"
        )
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("print('first cell')")]
        client = NotebookClient(nb, km=km, timeout=60)
        try:
            await client.async_execute()
        finally:
            compat.stop_channels(client)
            await km.shutdown_kernel(now=True)  # nbclient leaves a kernel it was given
        return nb

    nb = asyncio.run(main())
    assert _RecordingReadyClient.handled == ["kernel_info_reply"]  # nbclient used the client's
    assert _RecordingReadyClient.outcomes[-1] == "message"
    assert nb.cells[0].outputs[0]["text"] == "first cell\n"


def test_prompt_ready_client_says_when_the_kernel_died_before_answering():
    from jupyter_client.manager import AsyncKernelManager

    async def main():
        km = AsyncKernelManager(
            kernel_name="python3", client_class="attention_grader.compat.PromptReadyClient"
        )
        await km.start_kernel()
        kc = km.client()
        await km.shutdown_kernel(now=True)  # gone before any kernel_info
        kc.start_channels()
        try:
            with pytest.raises(RuntimeError, match="died before replying"):
                await kc.wait_for_ready(timeout=30)
        finally:
            kc.stop_channels()

    asyncio.run(main())


def test_hooked_kernel_manager_hooks_run():
    calls = []

    class Manager(compat.HookedKernelManager):
        def before_interrupt(self):
            calls.append("interrupt")
            self.kernel_spec.interrupt_mode = "message"

        @contextlib.contextmanager
        def launch_options(self, kw):
            calls.append(("launch", sorted(kw)))
            kw["env"] = {**kw.get("env", {}), "COURSE_COMPAT_PROBE": "1"}
            yield kw
            calls.append("launched")

    async def main():
        km = Manager(kernel_name="python3")
        await km.start_kernel()
        try:
            assert km.process is not None and km.process.poll() is None
            await km.interrupt_kernel()
            kc = km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=60)
                reply = await kc.execute_interactive(
                    "import os; print(os.environ.get('COURSE_COMPAT_PROBE'))", timeout=60
                )
                assert reply["content"]["status"] == "ok"
            finally:
                kc.stop_channels()
        finally:
            await km.shutdown_kernel(now=True)

    asyncio.run(main())
    assert calls[0][0] == "launch" and "env" in calls[0][1] and calls[1] == "launched"
    assert "interrupt" in calls


# ------------------------------------------------------------------------------ nbconvert


def test_attachment_renderer_asks_for_each_image():
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    asked = []

    class Renderer(compat.AttachmentRenderer):
        def attachment_missing(self, src):
            asked.append(src)
            return src == "attachment:gone.svg"

    png = "iVBORw0KGgo="
    renderer = Renderer(escape=False, attachments={"kept.png": {"image/png": png}})
    html = MarkdownWithMath(renderer=renderer).render(
        "![a](attachment:gone.svg) ![b](attachment:kept.png)"
    )
    assert asked == ["attachment:gone.svg", "attachment:kept.png"]
    assert "gone.svg" not in html and f"data:image/png;base64,{png}" in html


def _page_notebook() -> nbformat.NotebookNode:
    """Code, a markdown image with alt text, an output image without: what the pass changes."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    code = nbformat.v4.new_code_cell("import numpy as np\nprint(np.arange(3) * 2)")
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="[0 2 4]\n"),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="}),
    ]
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# A page\n\n![a figure](data:image/png;base64,iVBORw0KGgo=)"
        ),
        code,
    ]
    return nb


@pytest.mark.parametrize("template", ["classic", "lab"])
def test_post_pass_html_exporter_makes_nbconverts_page(template):
    from nbconvert.exporters import HTMLExporter

    nb = _page_notebook()
    theirs, _ = HTMLExporter(template_name=template).from_notebook_node(copy.deepcopy(nb))
    ours, _ = compat.PostPassHTMLExporter(template_name=template).from_notebook_node(nb)
    assert ours == theirs
    assert "No description has been provided for this image" in ours  # the pass did run

    class Marked(compat.PostPassHTMLExporter):
        def post_pass(self, html):
            return "<!-- marked -->" + html

    marked, _ = Marked(template_name=template).from_notebook_node(nb)
    assert marked.startswith("<!-- marked -->")
    assert "No description has been provided" not in marked  # nbconvert's pass is post_pass


def test_create_gradebook_makes_nbgraders_gradebook_without_running_alembic(tmp_path, monkeypatch):
    """The same tables, migration version and course as nbgrader's own creation (which runs
    the ``alembic`` command, from the environment's bin folder); without that command."""
    import sqlite3
    import sys
    from pathlib import Path

    monkeypatch.setenv("PATH", str(Path(sys.executable).parent), prepend=":")
    Gradebook(f"sqlite:///{tmp_path / 'theirs.db'}", "course101").close()
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))  # no alembic command to run
    with pytest.raises(FileNotFoundError):
        Gradebook(f"sqlite:///{tmp_path / 'stock.db'}", "course101")
    compat.create_gradebook(f"sqlite:///{tmp_path / 'ours.db'}", "course101")

    def contents(name: str) -> tuple:
        with contextlib.closing(sqlite3.connect(tmp_path / name)) as db:
            tables = db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
            version = db.execute("SELECT version_num FROM alembic_version").fetchall()
            course = db.execute("SELECT id FROM course").fetchall()
        return tables, version, course

    theirs = contents("theirs.db")
    assert theirs[1] and theirs[2] == [("course101",)]
    assert contents("ours.db") == theirs


# ------------------------------------------------------------- the import system (CPython)


def test_stash_brings_back_the_same_module_without_running_it(tmp_path, monkeypatch):
    """``_zygote._Stash`` (the kernel template's hidden modules) relies on the import system:
    a meta path finder's spec whose loader's ``create_module`` returns an existing module gets
    that very object (it is not run again, ``__file__`` and ``__path__`` stay, ``__spec__`` is
    the finder's until ``exec_module`` puts the module's own back), a submodule's import
    imports its parent first, and ``importlib.util.find_spec`` asks the finder too."""
    import importlib.util
    import random
    import sys

    from attention_grader import sandbox

    package = tmp_path / "stashed_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("RUNS = [1]\n")
    (package / "sub.py").write_text("from . import RUNS\nRUNS.append(2)\n")
    (tmp_path / "came_along.py").write_text("RUNS = [1]\n")  # imported by the warm package
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = importlib.util.spec_from_file_location(
        "_zygote_under_test", sandbox.LAUNCHER.with_name("_zygote.py")
    )
    zygote = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(zygote)

    import came_along
    import stashed_pkg.sub  # noqa: F401 - imported to be stashed

    top, sub = sys.modules["stashed_pkg"], sys.modules["stashed_pkg.sub"]
    own = (top.__spec__, top.__file__, list(top.__path__), sub.__spec__)
    # (its import set STASHED_SET and removed STASHED_GONE: the same again when it comes back)
    monkeypatch.delenv("STASHED_SET", raising=False)
    monkeypatch.setenv("STASHED_GONE", "1")
    changes = [{"STASHED_SET": "yes", "STASHED_GONE": None}]
    stash = zygote._Stash([{"stashed_pkg", "came_along"}], [1], {"stashed_pkg"}, changes, {})
    try:
        stash.hide()
        assert "stashed_pkg" not in sys.modules and "stashed_pkg.sub" not in sys.modules
        assert "came_along" not in sys.modules
        random.seed(7)  # a package that only came with a warm one comes back alone, no draw
        expected = random.getstate()
        import came_along as along

        assert along is came_along and along.RUNS == [1] and random.getstate() == expected
        assert "stashed_pkg" not in sys.modules
        assert "STASHED_SET" not in os.environ and os.environ["STASHED_GONE"] == "1"
        random.seed(7)
        random.getrandbits(32)
        expected = random.getstate()
        random.seed(7)
        import stashed_pkg.sub as again  # noqa: F811 - the point: the same module comes back

        assert again is sub and sys.modules["stashed_pkg"] is top
        assert (top.__spec__, top.__file__, list(top.__path__), sub.__spec__) == own
        assert top.RUNS == [1, 2]  # neither ran again
        assert random.getstate() == expected  # the recorded draw was made again
        assert os.environ["STASHED_SET"] == "yes" and "STASHED_GONE" not in os.environ
        sys.meta_path.remove(stash)
        stash = zygote._Stash([{"stashed_pkg"}], [0], {"stashed_pkg"}, [{}], {})
        stash.hide()
        assert importlib.util.find_spec("stashed_pkg") is not None  # finding is not loading
        assert importlib.import_module("stashed_pkg") is top and top.RUNS == [1, 2]
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(stash)
        for name in ("stashed_pkg", "stashed_pkg.sub", "came_along"):
            sys.modules.pop(name, None)


def test_release_in_this_process_makes_what_the_nbgrader_command_makes(tmp_path):
    """``cycle.release`` runs ``generate_assignment`` through ``NbGraderAPI`` in this process;
    the stock command, in the same course, must make the same release files and gradebook."""
    import shutil

    from conftest import ROOT
    from courses import release_made

    names = ["01_tokenization", "02_metrics"]
    roots = []
    for way in ("api", "command"):
        root = tmp_path / way
        root.mkdir()
        shutil.copy(ROOT / "nbgrader_config.py", root)
        for name in names:
            shutil.copytree(ROOT / "source" / name, root / "source" / name)
        roots.append(root)
    cycle.release(roots[0], names)
    for name in names:
        cycle.nbgrader(roots[1], "generate_assignment", name, "--force")
    ours, theirs = release_made(roots[0]), release_made(roots[1])
    assert len(ours[0]) == len(names) and len(ours[1]) >= 4  # (both notebooks, graded cells)
    assert ours == theirs
