"""The output gate (attention_grader.outputs): each way a notebook can carry a script into the
instructor's formgrader page or the feedback page is made inert, and honest content (images,
tables, math, text, errors) survives.

Each attack is rendered with nbgrader's formgrade template, as formgrader renders an
autograded notebook, before and after the gate; an HTML parser looks for the attack's marker
in executable places (script text, event attributes, ``javascript:`` URLs, frames, refresh
tags, styles, inline or embedded SVG). Attacks that stock nbconvert already escapes are still
checked after the gate; the others must be found before it, so that the detector is seen to
work.
"""

from __future__ import annotations

import base64
import copy
import html.parser
import struct
import zlib

import nbformat
import pandas as pd
import pytest
from nbconvert.exporters import HTMLExporter
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from attention_grader import outputs
from conftest import ROOT

MARK = "alert_gate_7"  # what every attack would run
v4 = nbformat.v4


def _png(width: int = 2, height: int = 2) -> str:
    """A real PNG image (base64), as matplotlib would display it."""
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return base64.b64encode(png).decode()


SVG = f'<svg xmlns="http://www.w3.org/2000/svg" onload="{MARK}()"><script>{MARK}()</script></svg>'


class Executable(html.parser.HTMLParser):
    """Places in a page where ``MARK`` would run (or, for SVG, could)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._raw: str | None = None

    def handle_starttag(self, tag, attrs):
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            low = value.strip().lower()
            if name.startswith("on") and MARK in value:
                self.found.append(f"<{tag} {name}>")
            if low.startswith("javascript:") and MARK in value:
                self.found.append(f"<{tag} {name}=javascript:>")
            if name == "style" and MARK in value:
                self.found.append(f"<{tag} style>")
            if low.startswith("data:image/svg+xml") and MARK in _data_text(value):
                self.found.append(f"<{tag} {name}=svg data>")
            if low.startswith("data:text/html") and MARK in _data_text(value):
                self.found.append(f"<{tag} {name}=html data>")
        if tag in ("iframe", "frame", "object", "embed") and MARK in str(values):
            self.found.append(f"<{tag}>")
        if tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            self.found.append("<meta refresh>")
        if tag == "svg":
            self.found.append("<svg>")
        if tag in ("script", "style"):
            self._raw = tag

    def handle_endtag(self, tag):
        if tag == self._raw:
            self._raw = None

    def handle_data(self, data):
        if self._raw and MARK in data:
            self.found.append(f"<{self._raw}> text")


def _data_text(url: str) -> str:
    head, _, payload = url.partition(",")
    try:
        return base64.b64decode(payload).decode("utf-8", "replace") if "base64" in head else payload
    except ValueError:
        return payload


def render(nb, student: str = "ana", stock: bool = False) -> str:
    """``nb`` rendered as formgrader renders an autograded notebook (its own exporter
    settings: the formgrade template; ``stock``: without the course's template override)."""
    config = Config()
    config.HTMLExporter.template_name = "formgrade"
    if stock:
        config.HTMLExporter.extra_template_basedirs = outputs.TEMPLATE_BASEDIRS[1:]
    else:
        config.HTMLExporter.extra_template_basedirs = outputs.TEMPLATE_BASEDIRS
        config.HTMLExporter.extra_template_paths = outputs.TEMPLATE_PATHS
        config.HTMLExporter.filters = outputs.TEMPLATE_FILTERS
    resources = {
        "assignment_id": "01_tokenization",
        "notebook_id": "01_tokenization",
        "submission_id": "1",
        "index": 0,
        "total": 1,
        "base_url": "",
        "student": student,
        "last_name": None,
        "first_name": None,
        "notebook_path": "autograded/x.ipynb",
    }
    page, _ = HTMLExporter(config=config).from_notebook_node(
        nbformat.from_dict(copy.deepcopy(nb)), resources=resources
    )
    return page


def executable(page: str) -> list[str]:
    parser = Executable()
    parser.feed(page)
    return parser.found


def _display(data: dict, metadata: dict | None = None) -> dict:
    return v4.new_output("display_data", data=data, metadata=metadata or {})


def _with_output(*outs) -> dict:
    cell = v4.new_code_cell("show()")
    cell.outputs = list(outs)
    return nbformat.from_dict({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]})


def _markdown(source: str, **extra) -> dict:
    cell = v4.new_markdown_cell(source)
    cell.update(extra)
    return v4.new_notebook(cells=[cell])


def _solution_cell(source: str) -> dict:
    cell = v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "f", "locked": False}
    return v4.new_notebook(cells=[cell])


def _raw(source: str) -> dict:
    cell = v4.new_raw_cell(source)
    cell.metadata["raw_mimetype"] = "text/html"
    return v4.new_notebook(cells=[cell])


# (notebook carrying the attack, whether stock nbconvert renders it executable)
ATTACKS = {
    "HTML(<script>)": (_with_output(_display({"text/html": f"<script>{MARK}()</script>"})), True),
    "Javascript()": (_with_output(_display({"application/javascript": f"{MARK}()"})), True),
    "img onerror": (
        _with_output(_display({"text/html": f'<img src=x onerror="{MARK}()">'})),
        True,
    ),
    "svg onload (html)": (
        _with_output(_display({"text/html": f'<svg onload="{MARK}()"></svg>'})),
        True,
    ),
    "SVG output": (_with_output(_display({"image/svg+xml": SVG})), True),
    "iframe": (
        _with_output(
            _display({"text/html": f'<iframe srcdoc="<script>{MARK}()</script>"></iframe>'})
        ),
        True,
    ),
    "isolated html": (
        _with_output(
            _display({"text/html": f"<script>{MARK}()</script>"}, {"text/html": {"isolated": True}})
        ),
        True,
    ),
    "javascript: URL": (
        _with_output(_display({"text/html": f'<a href="javascript:{MARK}()">x</a>'})),
        True,
    ),
    "style expression": (
        _with_output(
            _display(
                {
                    "text/html": f"<style>p {{ width: expression({MARK}()) }}</style>"
                    f'<p style="background: url(javascript:{MARK}())">x</p>'
                }
            )
        ),
        True,
    ),
    "meta refresh": (
        _with_output(
            _display(
                {"text/html": f'<meta http-equiv="refresh" content="0;url=javascript:{MARK}()">'}
            )
        ),
        True,
    ),
    "text/markdown output": (
        _with_output(_display({"text/markdown": f"*hi* <img src=x onerror={MARK}()>"})),
        True,
    ),
    "widget view": (
        _with_output(
            _display({"application/vnd.jupyter.widget-view+json": {"model_id": MARK}}),
        ),
        False,
    ),
    "png width metadata": (
        _with_output(
            _display({"image/png": _png()}, {"image/png": {"width": f"1 onerror={MARK}()"}})
        ),
        True,
    ),
    "png data": (
        _with_output(_display({"image/png": f'x" onerror="{MARK}()'})),
        False,  # nbconvert escapes it; the gate drops it (not base64)
    ),
    "markdown cell raw HTML": (
        _markdown(
            f"# Notes\n\n<script>{MARK}()</script>\n\n<img src=x onerror={MARK}()>\n\n"
            f"<svg onload={MARK}()></svg>\n[x](javascript:{MARK}())\n"
            f'<iframe src="javascript:{MARK}()"></iframe>\n'
            f'<meta http-equiv="refresh" content="0;url=javascript:{MARK}()">\n'
        ),
        True,
    ),
    "markdown mermaid block": (
        _markdown(f"```mermaid\n</pre><script>{MARK}()</script>\n```"),
        True,
    ),
    "SVG attachment": (
        _markdown(
            "![a](attachment:a.svg)",
            attachments={"a.svg": {"image/svg+xml": base64.b64encode(SVG.encode()).decode()}},
        ),
        True,
    ),
    "raw cell text/html": (_raw(f'<img src=x onerror="{MARK}()"><script>{MARK}()</script>'), False),
    "script in a solution cell's source": (
        _solution_cell(f"# </pre><script>{MARK}()</script>\nx = '<img src=x onerror={MARK}()>'"),
        False,
    ),
    "error output": (
        _with_output(
            v4.new_output(
                "error",
                ename=f"<script>{MARK}()</script>",
                evalue=f"<img src=x onerror={MARK}()>",
                traceback=[f"<script>{MARK}()</script>"],
            )
        ),
        False,
    ),
    "stream": (
        _with_output(v4.new_output("stream", name="stdout", text=f"<script>{MARK}()</script>")),
        False,
    ),
    "cell tags": (
        _with_output(),
        False,
    ),
}
ATTACKS["cell tags"][0]["cells"][0]["metadata"]["tags"] = [f'x" onmouseover="{MARK}()']


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_the_gate_makes_each_attack_inert(name):
    nb, dangerous_before = ATTACKS[name]
    if dangerous_before:
        assert executable(render(nb)), "the detector must see the attack in the raw notebook"
    cleaned = outputs.clean_notebook(nbformat.from_dict(copy.deepcopy(nb)))
    assert executable(render(cleaned)) == []
    nbformat.validate(cleaned)  # still a valid notebook for nbgrader and JupyterLab


def test_outputs_keep_only_inert_mime_types():
    nb = _with_output(
        _display(
            {
                "application/javascript": "x()",
                "image/svg+xml": SVG,
                "application/vnd.custom+json": {"a": 1},
                "text/plain": "figure",
            }
        ),
        _display({"image/svg+xml": SVG}),
    )
    cleaned = outputs.clean_notebook(nb)
    first, second = cleaned.cells[0].outputs
    assert dict(first.data) == {"text/plain": "figure"}
    assert dict(second.data) == {"text/plain": outputs.SVG_NOTE}


def test_honest_content_survives():
    png = _png()
    table = pd.DataFrame({"word": ["<b>", "cat"], "count": [3, 1]})._repr_html_()
    nb = _with_output(
        _display({"image/png": png, "text/plain": "<Figure>"}, {"image/png": {"width": 300}}),
        _display({"text/html": table, "text/plain": "table"}),
        _display({"text/latex": r"$\frac{a}{b}$", "text/plain": "a/b"}),
        v4.new_output("stream", name="stdout", text="loss 0.25\n"),
        v4.new_output("error", ename="AssertionError", evalue="wrong", traceback=["Boom"]),
    )
    nb.cells.append(
        v4.new_markdown_cell(
            "My answer: the **recall** is $\\frac{TP}{TP+FN}$ and $x < y$.\n\n"
            "| a | b |\n|---|---|\n| 1 | 2 |\n\n![plot](attachment:p.png)",
        )
    )
    nb.cells[-1]["attachments"] = {"p.png": {"image/png": png}}
    cleaned = outputs.clean_notebook(copy.deepcopy(nb))
    image, html_table, latex, stream, error = cleaned.cells[0].outputs
    assert image.data["image/png"] == png and image.metadata == {"image/png": {"width": 300}}
    assert "<table" in html_table.data["text/html"] and "&lt;b&gt;" in html_table.data["text/html"]
    assert latex.data["text/latex"] == r"$\frac{a}{b}$"
    assert stream.text == "loss 0.25\n"
    assert (error.ename, error.evalue, error.traceback) == ("AssertionError", "wrong", ["Boom"])
    page = render(cleaned)
    assert f"data:image/png;base64,{png}" in page  # output and attachment both shown
    assert page.count(f"data:image/png;base64,{png}") == 2
    assert "<strong>recall</strong>" in page and "$\\frac{TP}{TP+FN}$" in page
    assert "$x &lt; y$" in page and "<td>2</td>" in page


def test_error_outputs_and_their_count_are_kept():
    """Scores come from error outputs in test cells: the gate never removes one."""
    outs = [
        v4.new_output("error", ename="AssertionError", evalue="x", traceback=["x"]),
        _display({"application/javascript": "x()"}),
        nbformat.from_dict(  # as a forged kernel message could leave it
            {"output_type": "error", "ename": ["Not", "Text"], "evalue": None, "traceback": "tb"}
        ),
    ]
    cleaned = outputs.clean_notebook(_with_output(*outs))
    kinds = [o.output_type for o in cleaned.cells[0].outputs]
    assert kinds == ["error", "display_data", "error"]
    assert cleaned.cells[0].outputs[2].ename == "NotText"
    nbformat.validate(cleaned)


def test_a_second_pass_changes_nothing():
    nb = copy.deepcopy(ATTACKS["markdown cell raw HTML"][0])
    nb.cells += copy.deepcopy(ATTACKS["HTML(<script>)"][0]).cells
    once = outputs.clean_notebook(nb)
    twice = outputs.clean_notebook(copy.deepcopy(once))
    assert twice == once


def test_locked_instructor_markdown_is_left_as_written():
    rubric = "### BEGIN MARK SCHEME\n**Rubric (4 points).**\n### END MARK SCHEME"
    cell = v4.new_markdown_cell(rubric)
    cell.metadata["nbgrader"] = {"locked": True, "grade_id": "r", "solution": False}
    answer = v4.new_markdown_cell("*my answer*")
    answer.metadata["nbgrader"] = {"solution": True, "grade": True, "grade_id": "a", "points": 4}
    cleaned = outputs.clean_notebook(v4.new_notebook(cells=[cell, answer]))
    assert cleaned.cells[0].source == rubric  # feedback's scrubber still finds its markers
    assert cleaned.cells[1].source == "<p><em>my answer</em></p>"


def test_formgrader_page_prints_the_student_id_as_text():
    student = f"<img src=x onerror={MARK}()>"
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("hello")])
    assert executable(render(nb, student, stock=True)) == ["<img onerror>"]  # nbgrader's page
    page = render(nb, student)
    assert executable(page) == [] and "&lt;img src=x onerror=" in page


def test_the_gate_runs_after_the_scores_are_saved_and_before_feedback():
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    autograde = [getattr(p, "__name__", p) for p in config.Autograde.autograde_preprocessors]
    saves = autograde.index("attention_grader.nbgrader_ext.KeepHumanGrades")  # SaveAutoGrades
    assert autograde.index("OutputGate") > saves
    assert autograde[-1] == "OutputGate"
    feedback = [getattr(p, "__name__", p) for p in config.GenerateFeedback.preprocessors]
    assert "OutputGate" in feedback
    assert config.HTMLExporter.extra_template_basedirs == outputs.TEMPLATE_BASEDIRS


def test_a_dropped_attachment_leaves_the_markdown_rendered():
    nb = copy.deepcopy(ATTACKS["SVG attachment"][0])
    nb.cells[0].source = "*my figure*: ![a](attachment:a.svg)"
    cell = outputs.clean_notebook(nb).cells[0]
    assert cell.source == '<p><em>my figure</em>: <img alt="a"></p>'
    assert "attachments" not in cell


PNG_URL = "data:image/png;base64,iVBORw0KGgo="


@pytest.mark.parametrize(
    "url",
    [
        "http://tracker.example/p.gif",
        "https://tracker.example/p.gif",
        "//tracker.example/p",
        "p.gif",
    ],
)
def test_no_image_is_loaded_from_a_server_and_links_stay(url):
    """An image whose source is a server (or a path: a page served by formgrader resolves it
    against the instructor's own server) loses its source: opening the page fetches nothing. An
    image's data URL and a link stay."""
    html_text = (
        f'<img src="{url}" alt="x"><img src="{PNG_URL}"><a href="https://docs.python.org/">doc</a>'
    )
    for cleaned in (
        outputs.clean_html(html_text),
        outputs.markdown_as_clean_html(
            f"![x]({url}) ![y]({PNG_URL}) [doc](https://docs.python.org/)"
        ),
    ):
        assert url not in cleaned, cleaned
        assert f'src="{PNG_URL}"' in cleaned, cleaned
        assert 'href="https://docs.python.org/"' in cleaned, cleaned


@pytest.mark.parametrize(
    "html_text",
    ["<div>" * 150_000, "<div>" * 250 + "deep", "<p>x</p>" * 70_000],
    ids=["150k nested", "250 nested", "over 512 KiB"],
)
def test_html_too_deep_or_too_large_becomes_a_note_in_bounded_time(html_text):
    """nh3's time grows with the square of the nesting (150,000 nested divs: minutes of the
    coordinator's time, for every later student too): such HTML is never handed to it."""
    import time

    start = time.monotonic()
    cleaned = outputs.clean_html(html_text)
    md = outputs.markdown_as_clean_html(html_text)
    assert time.monotonic() - start < 1.0
    assert "output gate" in cleaned and "output gate" in md
    assert "<div>" not in cleaned


def test_nesting_within_the_limit_is_kept():
    nested = "<div>" * 150 + "kept" + "</div>" * 150
    assert outputs.clean_html(nested) == nested
