"""How the coordinator reads a submitted notebook (``preparing.read_submitted``): the notebook
nbformat reads from the file, or the reason it cannot be graded, each from the file alone."""

from __future__ import annotations

import json

import nbformat
import pytest

from attention_grader import preparing


def _notebook() -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("x = 1")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="1.5e300 NaN ünï\n")]
    nb.cells[1].metadata["nbgrader"] = {"grade_id": "answer", "solution": True}
    return nb


def test_a_notebook_is_read_as_nbformat_reads_the_file(tmp_path):
    path = tmp_path / "n.ipynb"
    nbformat.write(_notebook(), str(path))
    nb, problem = preparing.read_submitted(path)
    assert problem is None
    assert nb == nbformat.read(str(path), as_version=4)
    assert isinstance(nb.cells[1].metadata.nbgrader, nbformat.NotebookNode)


def _invalid_cell(nb: dict) -> dict:
    nb["cells"][0]["cell_type"] = "bogus"
    return nb


CASES = {
    "a cell nbformat does not know": (
        lambda p: p.write_text(json.dumps(_invalid_cell(_notebook()))),
        r"not a valid notebook \(NotebookValidationError: .*is not valid under any",
    ),
    "a folder": (lambda p: p.mkdir(), r"not a notebook \(not a regular file\)"),
    "not JSON": (lambda p: p.write_text("{cells: []"), r"not a notebook \(the file is not valid"),
    # nbgrader opens a notebook as strict UTF-8 (json.loads of the bytes would take these)
    "a UTF-8 byte order mark": (
        lambda p: p.write_bytes(b"\xef\xbb\xbf" + nbformat.writes(_notebook()).encode()),
        r"not a notebook \(the file is not valid JSON: Unexpected UTF-8 BOM",
    ),
    "UTF-16": (
        lambda p: p.write_bytes(nbformat.writes(_notebook()).encode("utf-16")),
        r"not a notebook \(the file is not valid JSON: 'utf-8' codec can't decode",
    ),
    "a JSON list": (lambda p: p.write_text("[]"), r"not a notebook \(JSON without a list of"),
    "nbformat 3": (
        lambda p: p.write_text(json.dumps({"nbformat": 3, "cells": []})),
        r"old notebook format \(nbformat 3\)",
    ),
    "a lone surrogate": (
        lambda p: p.write_text(json.dumps({**_notebook(), "metadata": {"x": "\ud800"}})),
        r"not a notebook \(it holds text that is not Unicode",
    ),
}


@pytest.mark.parametrize(("write", "reason"), CASES.values(), ids=CASES.keys())
def test_a_file_that_is_no_gradable_notebook_says_why(tmp_path, write, reason):
    import re

    path = tmp_path / "n.ipynb"
    write(path)
    nb, problem = preparing.read_submitted(path)
    assert nb is None and re.match(reason, problem), problem
