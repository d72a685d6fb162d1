"""attention_grader.executor: a report counts only in its own test cell, and no output changes
once shown (small notebooks, each run in the real sandbox)."""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from attention_course import wire
from attention_grader import executor, sandbox

pytestmark = pytest.mark.slow

SHOW = (
    "from IPython.display import display, update_display\n"
    f"MIME = {wire.MIME!r}\n"
    "def rep(check, value, **kw):\n"
    "    display({MIME: {'check': check, 'case': 0, 'values': {'v': value}}}, raw=True, **kw)\n"
    "def upd(check, value, **kw):\n"
    "    update_display({MIME: {'check': check, 'case': 0, 'values': {'v': value}}}, raw=True,"
    " **kw)\n"
)


def _test_cell(grade_id: str, source: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": grade_id,
        "locked": True,
        "points": 1,
        "solution": False,
        "schema_version": 3,
    }
    return cell


def _run(*cells: nbformat.NotebookNode | str, output_bytes: int = 1024**2) -> executor.Result:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(SHOW)] + [
        nbformat.v4.new_code_cell(c) if isinstance(c, str) else c for c in cells
    ]
    limits = sandbox.Limits(cell_seconds=20, notebook_seconds=120, output_bytes=output_bytes)
    result = executor.execute(executor.Job(key="s/a/n", notebook=nb, cases={}, limits=limits))
    assert result.status == "ok", (result.reason, result.log)
    return result


def _reports(cell: dict) -> list[dict]:
    return [o["data"][wire.MIME] for o in cell.outputs if wire.MIME in o.get("data", {})]


def _outputs(result: executor.Result) -> str:
    return json.dumps([c.get("outputs", []) for c in result.notebook.cells])


def _texts(cell: dict) -> list[str]:
    out = []
    for o in cell.outputs:
        out.append(o.get("text") or o.get("data", {}).get("text/plain", ""))
    return out


def test_a_report_counts_only_in_its_own_test_cell():
    result = _run(
        "rep('test_x', 'from a solution cell')",
        _test_cell("test_x", "rep('test_x', 'own')\nrep('test_y', 'for another test')"),
        _test_cell("test_y", "rep('test_y', 'own')"),
        "print({MIME: 'a printed report is text, not a report'})",
    )
    cells = result.notebook.cells
    assert _reports(cells[1]) == []
    assert _reports(cells[2]) == [{"check": "test_x", "case": 0, "values": {"v": "own"}}]
    assert _reports(cells[3]) == [{"check": "test_y", "case": 0, "values": {"v": "own"}}]
    assert any("outside its own test cell" in e for e in result.events), result.events


def test_update_display_never_changes_a_report():
    result = _run(
        _test_cell(
            "test_x",
            "rep('test_x', 'placeholder', display_id='slot')\n"
            "upd('test_x', 'same cell', display_id='slot')",
        ),
        "upd('test_x', 'later cell', display_id='slot')",
        _test_cell("test_x2", "upd('test_x', 'later test cell', display_id='slot')"),
    )
    cells = result.notebook.cells
    assert _reports(cells[1]) == [{"check": "test_x", "case": 0, "values": {"v": "placeholder"}}]
    assert _reports(cells[2]) == [] and _reports(cells[3]) == []
    assert "slot" not in _outputs(result)  # outputs carry no display id


def test_a_display_id_cannot_rewrite_earlier_outputs():
    result = _run(
        "_ = display('original text', display_id='text-slot')",
        _test_cell("test_x", "rep('test_x', 'placeholder', display_id='slot')"),
        "_ = display('rewritten text', display_id='text-slot')\n"
        "rep('test_x', 'rewritten', display_id='slot')",
        _test_cell(
            "test_x",
            "rep('test_x', 'again', display_id='slot')\n"
            "_ = display('rewritten in a test cell', display_id='text-slot')",
        ),
    )
    cells = result.notebook.cells
    assert _texts(cells[1]) == ["'original text'"]
    assert _reports(cells[2]) == [{"check": "test_x", "case": 0, "values": {"v": "placeholder"}}]
    assert _texts(cells[3]) == ["'rewritten text'"]  # its own new output, the report dropped
    assert _reports(cells[4]) == [{"check": "test_x", "case": 0, "values": {"v": "again"}}]
    assert "slot" not in _outputs(result)


def test_misplaced_reports_count_against_the_output_limit():
    flood = (
        "for i in range(400):\n"
        "    display({MIME: {'check': 'test_x', 'case': i, 'values': {'pad': 'x' * 1000}}},"
        " raw=True)\n"
    )
    result = _run(
        flood,
        "print('after the flood')",
        _test_cell("test_x", "rep('test_x', 'own')"),
        output_bytes=100_000,
    )
    cells = result.notebook.cells
    assert any(e.startswith("output: more than the output limit") for e in result.events)
    assert "after the flood\n" not in _texts(cells[2])  # the normal budget is spent
    assert _reports(cells[1]) == []
    assert _reports(cells[3]) == [{"check": "test_x", "case": 0, "values": {"v": "own"}}]
    assert len(json.dumps(result.notebook)) < 50_000


def test_empty_outputs_are_not_free(monkeypatch):
    """Displayed outputs cost a fixed amount each and are capped in number: 30,000 empty
    displays once made a 35 MB notebook and minutes of the grader's time, unnoticed. (The
    cap is lowered to 1,000 here, the byte budget to 64 KiB: the same rules at a tenth of the
    messages, which the grader would otherwise spend 15 s of CPU reading.)"""
    monkeypatch.setattr(executor, "MAX_DISPLAYS", 1_000)
    # The kernel's IOPub socket drops what a slow reader cannot take (ZeroMQ's high-water
    # mark: 1000 messages on its side, RECEIVE_QUEUE on the grader's): paced, so that more
    # than MAX_DISPLAYS reach the grader on a busy machine too.
    flood = (
        "import time\n"
        "for i in range(3_000):\n"
        "    display({}, raw=True)\n"
        "    if i % 250 == 249:\n"
        "        time.sleep(0.05)"
    )
    result = _run(flood, output_bytes=64 * 1024**2)
    outputs = result.notebook.cells[1].outputs
    shown = len([o for o in outputs if o.output_type != "error"])  # (a timeout on a busy machine)
    assert 1_000 <= shown <= 1_000 + 1  # + the grader's note
    assert any(e.startswith("displays: more than the output limit") for e in result.events)
    assert "1000 displayed outputs was dropped" in _outputs(result)
    # 3,000 x 256 bytes is 750 KiB of output: the byte budget keeps 256 of them, and says so
    small = _run("for _ in range(3_000):\n    display({}, raw=True)", output_bytes=64 * 1024)
    kept = small.notebook.cells[1].outputs
    assert len(kept) <= 64 * 1024 // executor.OUTPUT_COST + 1
    assert "65536 bytes was dropped" in _outputs(small)
    assert any(e.startswith("output: more than the output limit") for e in small.events)


def test_a_report_costs_what_it_costs_once_parsed():
    """A report of 600 KB of JSON text made of empty lists is about 10 MB once parsed: it is
    charged per list, so a flood of them stops at the report budget, not at the grader's
    memory."""
    payload = "{'check': 'test_x', 'case': 0, 'values': {'v': [[]] * 150_000}}"
    result = _run(
        _test_cell("test_x", f"for _ in range(4):\n    display({{MIME: {payload}}}, raw=True)"),
        output_bytes=6 * 1024**2,  # report budget 24 MiB: 2.4 MB of text fits by length
    )
    # each about 600 KB of text + 64 bytes per list = 10.2 MB: two fit in the 24 MiB budget
    assert len(_reports(result.notebook.cells[1])) == 2
    assert any(e.startswith("report: more than the output limit") for e in result.events)


def test_a_message_costing_more_than_any_budget_is_not_parsed():
    """One message whose JSON would cost more than the largest budget (the reports', 4 MiB
    here) once parsed: the grader does not parse it, and stops the notebook as for any
    message it cannot process (a kernel's 60 MiB of empty lists once took the grader 1.6 GB
    and 8 s of CPU to parse before the budget dropped it)."""
    flood = "display({'application/json': [[]] * 200_000}, raw=True)\nprint('after')"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(flood), nbformat.v4.new_code_cell("print('next')")]
    limits = sandbox.Limits(cell_seconds=20, notebook_seconds=120, output_bytes=1024**2)
    result = executor.execute(executor.Job(key="s/a/n", notebook=nb, cases={}, limits=limits))
    assert result.status == "kernel-misbehaved", (result.status, result.reason)
    assert re.search(
        r"take 224\d{5} bytes once parsed, over 4194304", result.reason
    )  # 200,001 lists x 64 + 200,000 commas x 48
    small = "display({'application/json': [[]] * 10_000}, raw=True)\nprint('after')"
    nb.cells[0] = nbformat.v4.new_code_cell(small)  # 1.1 MB once parsed: parsed, and kept
    result = executor.execute(executor.Job(key="s/a/n", notebook=nb, cases={}, limits=limits))
    assert result.status == "ok", (result.status, result.reason)
    assert "after" in _outputs(result) and "next" in _outputs(result)
    assert len(result.notebook.cells[0].outputs[0]["data"]["application/json"]) == 10_000
