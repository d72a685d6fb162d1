"""A real browser: what students submit never runs as code in the instructor's formgrader
page nor in the feedback page.

Notebooks 01 (autograded) and 02 (with a written answer graded by hand) are graded through
the engine, sandboxed, with an honest full and a blank submission next to submissions that
carry scripts in every place a notebook can: HTML, JavaScript, SVG, markdown and image outputs
and their metadata, markdown cells (raw HTML, ``javascript:`` links, frames, styles, refresh
tags, an SVG attachment), a raw HTML cell, cell tags, a solution cell's source and the written
answer. A student whose id is itself HTML is added to the gradebook as stock nbgrader would
create it. Then one Jupyter server with nbgrader's formgrader runs in the course root, one
headless Chromium (Debian's ``chromium``, driven over the DevTools protocol) logs in with the
server's token as an instructor does and opens the manual-grading page of each submission and
the pages that list students, and finally the feedback pages as files.

Every student script tries to change ``document.title`` and to write a file through the
Jupyter REST API with the page's XSRF cookie; the test fails if a title changed or such a file
exists, and proves both detectors work by running the same script itself at the end.

One more submission points images, styles, posters and markdown images at a server of the
student's (a local one that records requests): no page may fetch anything from it.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import websocket
from bs4 import BeautifulSoup

from attention_grader import authoring, cycle, submissions
from attention_grader.feedback_html import MISSING_ALT
from courses import grade_submitted, make_course, release_course, submit
from support.ports import free_ports

pytestmark = pytest.mark.slow

A01, A02 = "01_tokenization", "02_metrics"
PWNED = "PWNED"
TITLE_PREFIX = f"{PWNED}-"


def attack(tag: str) -> str:
    """JavaScript that marks the page's title and writes ``pwned-<tag>.txt`` into the server's
    root through the REST API (as an instructor's page may), written as
    ``eval(decodeURIComponent('%..%..'))``: no slash, space or double quote, so it fits a
    folder name, any attribute and a Python string."""
    script = (
        f"document.title='{TITLE_PREFIX}{tag}';"
        "var m=document.cookie.match(/_xsrf=([^;]+)/);"
        f"fetch('/api/contents/pwned-{tag}.txt',{{method:'PUT',"
        "headers:{'X-XSRFToken':m?decodeURIComponent(m[1]):'','Content-Type':'application/json'},"
        "body:JSON.stringify({type:'file',format:'text',content:'pwned'})});"
    )
    assert "%" not in script
    encoded = "".join(f"%{byte:02X}" for byte in script.encode())
    return f"eval(decodeURIComponent('{encoded}'))"


# A student id that is HTML (short: it is a folder name; it only marks the title).
HTML_ID = f"<img src=x onerror=document.title='{TITLE_PREFIX}student-id'>"


def _svg(tag: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" onload="{attack(tag)}">'
        f"<script>{attack(tag + '-script')}</script><rect width='9' height='9'/></svg>"
    )


OUTPUT_ATTACKS = f'''
from IPython.display import HTML, Javascript, Markdown, SVG, display
display(HTML("<script>{attack("html-script")}</script><b>bold stays</b>"))
display(HTML("<img src=x onerror=\\"{attack("html-onerror")}\\">"))
display(Javascript("{attack("javascript")}"))
display(SVG("""{_svg("svg-output")}"""))
display(Markdown("<img src=x onerror=\\"{attack("markdown-output")}\\"> *markdown*"))
display({{"text/html": "<iframe srcdoc=\\"<script>parent.{attack("iframe")}</script>\\"></iframe>"
          "<a href=\\"javascript:{attack("js-url")}\\">link</a>"
          "<meta http-equiv=\\"refresh\\" content=\\"0;url=javascript:{attack("refresh")}\\">"
          "<style>body {{ background: url(javascript:{attack("style")}) }}</style>"}}, raw=True)
display({{"image/png": "x\\" onerror=\\"{attack("png-data")}", "text/plain": "png"}}, raw=True)
display({{"image/png": "iVBORw0KGgo="}},
        metadata={{"image/png": {{"width": "1 onerror={attack("png-width")}"}}}}, raw=True)
display({{"application/vnd.jupyter.widget-view+json": {{"model_id": "x", "version_major": 2}},
          "text/plain": "widget"}}, raw=True)
import pandas as pd
display(pd.DataFrame({{"word": ["<b>", "cat"], "count": [3, 1]}}))
print("<script>{attack("stream")}</script>")
'''

MARKDOWN_ATTACKS = f"""A student's note with **markdown**, math $x < y$ and a table:

| a | b |
|---|---|
| 1 | 2 |

<script>{attack("md-script")}</script>
<img src=x onerror="{attack("md-onerror")}">
<svg onload="{attack("md-svg")}"></svg>
[a link](javascript:{attack("md-js-url")})
<iframe src="javascript:{attack("md-iframe")}"></iframe>
<meta http-equiv="refresh" content="0;url=javascript:{attack("md-refresh")}">
<style>body {{ background: url("javascript:{attack("md-style")}") }}</style>

![attached](attachment:evil.svg)
"""

ESSAY = (
    "False positives burden healthy patients; false negatives burden sick ones. "
    f'<img src=x onerror="{attack("essay")}"><script>{attack("essay-script")}</script>'
)


def _code_cell(source: str, tags: list[str] | None = None) -> dict:
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
    cell["source"] = source
    cell["id"] = f"added-{abs(hash(source)) % 10**8}"
    if tags:
        cell["metadata"]["tags"] = tags
    return cell


def _beacon_cells(url: str) -> list[dict]:
    """Outputs and markdown that would make the reader's browser fetch from ``url`` (a server
    of the student's: a tracker of when, and from where, the page was opened)."""
    tags = (
        f'<img src="{url}/html-img"><video poster="{url}/video-poster"></video>'
        f'<link rel="stylesheet" href="{url}/link-css">'
        f"<style>@import url({url}/style-import);</style>"
        f'<table background="{url}/table-background"><tr><td>t</td></tr></table>'
        f'<svg><image href="{url}/svg-image"/></svg><img srcset="{url}/srcset 1x">'
        f'<object data="{url}/object"></object><embed src="{url}/embed">'
    )
    code = (
        "from IPython.display import HTML, Markdown, display\n"
        f"display(HTML({tags!r}))\n"
        f"display(Markdown('![tracker]({url}/markdown-output)'))\n"
        f"display({{'image/png': 'iVBORw0KGgo=', 'text/html': '<img src={url}/png-html>'}},"
        " raw=True)\n"
    )
    markdown = {
        "cell_type": "markdown",
        "id": "student-tracker",
        "metadata": {},
        "source": f"My figure: ![tracker]({url}/markdown-cell)\n\n{tags}",
    }
    return [_code_cell(code), markdown]


def _hostile_01(release_nb: dict, source_nb: dict, beacon_url: str) -> dict[str, dict]:
    code = submissions.solution_code(source_nb)
    outputs_nb = submissions.solved(release_nb, source_nb)
    outputs_nb["cells"].append(
        _code_cell(OUTPUT_ATTACKS, tags=[f'x" onmouseover="{attack("tag")}'])
    )
    markdown_nb = submissions.solved(release_nb, source_nb)
    svg = base64.b64encode(_svg("attachment").encode()).decode()
    markdown_nb["cells"] += [
        {
            "cell_type": "markdown",
            "id": "student-note",
            "metadata": {},
            "source": MARKDOWN_ATTACKS,
            "attachments": {"evil.svg": {"image/svg+xml": svg}},
        },
        {
            "cell_type": "raw",
            "id": "student-raw",
            "metadata": {"raw_mimetype": "text/html"},
            "source": (
                f'<img src=x onerror="{attack("raw-cell")}"><script>{attack("raw-script")}</script>'
            ),
        },
    ]
    sourced = dict(code)
    sourced["build_vocab"] = (
        f"# </pre><script>{attack('source-script')}</script>\n"
        f"_note = '<img src=x onerror=\"{attack('source-img')}\">'\n" + code["build_vocab"]
    )
    tracker_nb = submissions.solved(release_nb, source_nb)
    tracker_nb["cells"] += _beacon_cells(beacon_url)
    return {
        "solution": submissions.solved(release_nb, source_nb),
        "blank": copy.deepcopy(release_nb),
        "tracker": tracker_nb,
        "xss-outputs": outputs_nb,
        "xss-markdown": markdown_nb,
        "xss-source": submissions.fill(release_nb, sourced),
    }


def _hostile_02(release_nb: dict, source_nb: dict) -> dict[str, dict]:
    code = submissions.solution_code(source_nb)
    essay = dict(code)
    essay["ethics_answer"] = ESSAY
    return {
        "solution": submissions.solved(release_nb, source_nb),
        "blank": copy.deepcopy(release_nb),
        "xss-essay": submissions.fill(release_nb, essay),
    }


def _grade(root: Path, assignment: str, make) -> None:
    notebook = f"{assignment}.ipynb"
    release_nb = authoring.read_notebook(root / "release" / assignment / notebook)
    source_nb = authoring.read_notebook(root / "source" / assignment / notebook)
    for student, nb in make(release_nb, source_nb).items():
        submit(root, student, assignment, notebook, nb)
    graded = grade_submitted(root, assignment, notebook)
    assert graded.total("solution")[0] == graded.total("solution")[1] > 0, graded.results
    assert graded.total("blank")[0] == 0, graded.results


def _add_html_student(root: Path) -> None:
    """A student whose id is HTML, with a 02 submission, as stock nbgrader's autograde of a
    folder of that name would leave it (the course's own intake refuses such names)."""
    from nbgrader.api import Gradebook

    from attention_grader.gradebook import db_url

    with Gradebook(db_url(root)) as gb:
        gb.add_student(HTML_ID)
        gb.add_submission(A02, HTML_ID)
    shutil.copytree(root / "autograded" / "blank" / A02, root / "autograded" / HTML_ID / A02)


class Beacon(http.server.ThreadingHTTPServer):
    """A server outside the course (a student's): the paths of the requests it received."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        beacon = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the handler's API
                beacon.hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", free_ports(1)[0]), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture(scope="module")
def beacon():
    server = Beacon()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def course(tmp_path_factory, course_env, beacon) -> Path:
    root = make_course(tmp_path_factory.mktemp("browser"), [A01, A02])
    release_course(root, [A01, A02])
    _grade(root, A01, functools.partial(_hostile_01, beacon_url=beacon.url))
    _grade(root, A02, _hostile_02)
    _add_html_student(root)
    return root


# ------------------------------------------------------------------------------ the browser


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "Chromium is not installed: this test opens formgrader in a real browser "
        "(`make setup` installs Debian's chromium, or: apt-get install chromium)"
    )


def _wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args[0]} exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=2).close()
            return
        time.sleep(0.25)
    pytest.fail(f"{url} did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


class Browser:
    """One headless Chromium page driven over the Chrome DevTools Protocol (and more tabs
    of the same browser: :meth:`visit_all`)."""

    def __init__(self, ws_url: str):
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.devtools: int | None = None  # the browser's DevTools port (to open more tabs)
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def wait_event(self, name: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            message = json.loads(self.ws.recv())
            if message.get("method") == name:
                return
        raise TimeoutError(name)

    def open(self, url: str, settle: float = 1.5) -> None:
        """Navigate, wait for the load event, then let timers, image errors and API
        requests of the page run."""
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")
        time.sleep(settle)

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def close(self) -> None:
        self.ws.close()

    def visit_all(self, pages: dict[str, tuple[str, str]], settle: float = 1.5) -> dict:
        """``{label: (url, expression)}``: each url in a tab of its own, all at once (the
        same browser, so the same login); once every page has loaded and ``settle`` seconds
        of timers, image errors and API requests have run, ``{label: the expression's
        value}``. The tabs are closed after."""
        endpoint = f"http://127.0.0.1:{self.devtools}/json"
        tabs: dict[str, tuple[str, Browser]] = {}
        try:
            for label in pages:
                request = urllib.request.Request(f"{endpoint}/new?about:blank", method="PUT")
                target = json.load(urllib.request.urlopen(request))
                tabs[label] = (target["id"], Browser(target["webSocketDebuggerUrl"]))
            for label, (url, _) in pages.items():
                tabs[label][1].call("Page.navigate", url=url)
            for _, tab in tabs.values():
                tab.wait_event("Page.loadEventFired")
            time.sleep(settle)
            return {label: tab.js(pages[label][1]) for label, (_, tab) in tabs.items()}
        finally:
            for ident, tab in tabs.values():
                tab.close()
                urllib.request.urlopen(f"{endpoint}/close/{ident}").close()


@pytest.fixture(scope="module")
def browser(course, tmp_path_factory):
    """The formgrader server in the course root, and a logged-in Chromium page."""
    chromium = _chromium()
    work = tmp_path_factory.mktemp("browser-run")
    (port,), token = free_ports(1), base64.b32encode(os.urandom(20)).decode().lower()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(work / "jupyter-config"),  # no user configuration
        "JUPYTER_RUNTIME_DIR": str(work / "jupyter-runtime"),
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
    }
    server_log = work / "server.log"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter"),
            "server",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--port-retries=0",
            "--allow-root",  # the test may run as root (CI containers)
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={course}",
        ],
        cwd=course,
        env=env,
        stdout=server_log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    chrome_log = work / "chromium.log"
    profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=work))
    chrome = None
    page = None
    try:
        _wait_http(f"{base}/api/status?token={token}", 60, server, server_log)
        assert "formgrader's pages escape what they print" in server_log.read_text(), (
            "attention_grader.formgrader_guard is not enabled in this environment (make setup "
            "installs etc/jupyter/jupyter_server_config.d/attention_grader.json)"
        )
        chrome = subprocess.Popen(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=chrome_log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if chrome.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Chromium did not start:\n{chrome_log.read_text()[-3000:]}")
            time.sleep(0.1)
        devtools = int(port_file.read_text().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{devtools}/json/list"))
        page = Browser(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        page.devtools = devtools
        # Log in as an instructor does: the server's login page, the token in its form.
        page.open(f"{base}/login", settle=0.2)
        page.js(
            "document.querySelector('input[name=password]').value = "
            f"{json.dumps(token)}; document.querySelector('form').submit()"
        )
        page.wait_event("Page.loadEventFired")
        cookies = page.call("Network.getCookies", urls=[base])["cookies"]
        assert any(c["name"].startswith("username-") for c in cookies), cookies
        yield page, base
    finally:
        if page is not None:
            page.close()
        for proc in (chrome, server):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, 15)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)
                    proc.wait()


def _pwned_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("pwned-*"))


def _submission_ids(root: Path) -> dict[tuple[str, str], str]:
    from nbgrader.api import Gradebook

    from attention_grader.gradebook import db_url

    out = {}
    with Gradebook(db_url(root)) as gb:
        for assignment in (A01, A02):
            for sub in gb.notebook_submissions(assignment, assignment):
                out[(assignment, sub.student.id)] = sub.id
    return out


def test_no_student_script_runs_in_formgrader_or_feedback(course, browser, tmp_path):
    page, base = browser
    ids = _submission_ids(course)
    assert (A02, HTML_ID) in ids
    pages: dict[str, tuple[str, str]] = {}

    def visit(label: str, url: str, checks: str = "null") -> None:
        pages[label] = (
            url,
            "({title: document.title, text: document.body ? document.body.innerText : '',"
            f" check: {checks}}})",
        )

    for (assignment, student), sub_id in sorted(ids.items()):
        visit(
            f"submission {student}/{assignment}",
            f"{base}/formgrader/submissions/{sub_id}/",
            "Array.from(document.querySelectorAll('.name-shown')).map(e => e.textContent.trim())",
        )
    quoted = urllib.parse.quote(HTML_ID, safe="")
    visit("manage students", f"{base}/formgrader/manage_students")
    visit("submissions of 02", f"{base}/formgrader/manage_submissions/{A02}")
    visit(
        "gradebook 02",
        f"{base}/formgrader/gradebook/{A02}/{A02}",
        f"document.body.textContent.includes({json.dumps(HTML_ID)})",
    )
    visit("student's assignments", f"{base}/formgrader/manage_students/{quoted}")
    visit("student's notebooks", f"{base}/formgrader/manage_students/{quoted}/{A02}")

    for assignment in (A01, A02):
        assert cycle.feedback(course, assignment, allow_pending=True)  # every page, 0 / 4 too
    for page_path in sorted((course / "feedback").glob("*/*/*.html")):
        visit(f"feedback {page_path.relative_to(course / 'feedback')}", page_path.as_uri())
    # The detector's control, among the tabs: a page whose script marks it a second late
    control = tmp_path / "control.html"
    control.write_text(
        f"<script>setTimeout(() => {{ document.title = '{TITLE_PREFIX}late'; }}, 1000)</script>"
    )
    visit("control", control.as_uri())
    seen = page.visit_all(pages)
    time.sleep(1.0)  # a last fetch in flight

    assert seen.pop("control")["title"] == f"{TITLE_PREFIX}late"
    ran = {label: v["title"] for label, v in seen.items() if v["title"].startswith(PWNED)}
    assert ran == {}, f"student scripts ran: {ran}"
    assert _pwned_files(course) == [], "a student script wrote through the REST API"

    # The pages show what they must: the id as text, the answers, the rubric, the tables.
    html_page = seen[f"submission {HTML_ID}/{A02}"]
    assert HTML_ID in html_page["check"], html_page["check"]
    assert HTML_ID in seen["manage students"]["text"]
    assert HTML_ID in seen["submissions of 02"]["text"]
    assert any(HTML_ID in label for label in seen if label.startswith("feedback"))
    assert seen["gradebook 02"]["check"] is True  # listed as text (shown on demand)
    solution_02 = seen[f"submission solution/{A02}"]["text"]
    assert "Rubric (4 points)" in solution_02 and "false positive" in solution_02
    essay = seen[f"submission xss-essay/{A02}"]["text"]
    assert "False positives burden healthy patients" in essay
    outputs = seen[f"submission xss-outputs/{A01}"]["text"]
    assert "bold stays" in outputs and "markdown" in outputs and "<b>" in outputs
    note = seen[f"submission xss-markdown/{A01}"]["text"]
    assert "A student's note with markdown" in note and "x < y" in note
    source = seen[f"submission xss-source/{A01}"]["text"]
    assert "<script>" in source  # the student's code is shown as text
    assert "Rubric" not in seen[f"feedback solution/{A02}/{A02}.html"]["text"]

    # Both detectors work: the same script, run by the test in the same page, is seen.
    page.open(f"{base}/formgrader/manage_students")
    page.js(attack("control"))
    deadline = time.monotonic() + 10
    while not _pwned_files(course) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert page.js("document.title") == f"{TITLE_PREFIX}control"
    assert _pwned_files(course) == ["pwned-control.txt"]


def test_formgrader_shows_the_rubric_before_the_written_answer(course, browser):
    """In formgrader's page of a written answer, the rubric panel comes before the answer
    box (in the page's order), and no heading shows the mark scheme's markers."""
    page, base = browser
    ids = _submission_ids(course)
    page.open(f"{base}/formgrader/submissions/{ids[(A02, 'solution')]}/")
    found = page.js(
        """(() => {
        const rubric = Array.from(document.querySelectorAll('.course-rubric'))
            .filter(e => e.innerText.includes('Rubric (4 points)'));
        const box = document.querySelector('.nbgrader_cell input.score#ethics_answer')
            .closest('.nbgrader_cell');
        const headings = Array.from(document.querySelectorAll('h1,h2,h3,h4,h5,h6'))
            .map(h => h.innerText).filter(t => t.includes('MARK SCHEME'));
        return {rubrics: rubric.length, headings: headings,
                before: rubric.length > 0 &&
                    !!(rubric[0].compareDocumentPosition(box) & Node.DOCUMENT_POSITION_FOLLOWING),
                text: document.body.innerText.includes('BEGIN MARK SCHEME')};
    })()"""
    )
    assert found == {"rubrics": 1, "headings": [], "before": True, "text": False}, found


def test_no_student_output_makes_the_readers_browser_fetch_from_a_server(course, browser, beacon):
    """Images, styles, posters, objects and markdown images that point at a student's server
    (here a local one that records what it is asked for), in outputs and in a markdown cell:
    neither formgrader's page nor the feedback page fetches anything from it. The same
    browser, told to load an image from that server, does (the detector works)."""
    page, base = browser
    sub_id = _submission_ids(course)[(A01, "tracker")]
    page.open(f"{base}/formgrader/submissions/{sub_id}/")
    shown = page.js("document.body.innerText")
    assert "My figure" in shown  # the page did render the student's cells
    assert cycle.feedback(course, A01, allow_pending=True)
    page.open((course / "feedback" / "tracker" / A01 / f"{A01}.html").as_uri())
    time.sleep(1.0)
    assert beacon.hits == [], f"the student's server was asked for {beacon.hits}"

    page.js(f"new Image().src = {json.dumps(beacon.url + '/control')}")
    deadline = time.monotonic() + 10
    while not beacon.hits and time.monotonic() < deadline:
        time.sleep(0.1)
    assert beacon.hits == ["/control"]


def test_feedback_pages_are_the_pages_nbconvert_makes(course):
    """The course's feedback exporter (attention_grader.feedback_html, without nbconvert's
    BeautifulSoup pass) against nbconvert's HTMLExporter on these hostile submissions' pages:
    once read, the same page; a student's images without alt text get nbconvert's default."""
    stock = course / "feedback-nbconvert"
    every = "*"  # (an assignment id is a pattern: both assignments in one command)
    cycle.nbgrader(
        course,
        "generate_feedback",
        every,
        "--force",
        "--GenerateFeedback.exporter_class=nbconvert.exporters.HTMLExporter",
    )
    shutil.copytree(course / "feedback", stock)
    cycle.nbgrader(course, "generate_feedback", every, "--force")
    shutil.copytree(course / "feedback", course / "feedback-command")
    pages = sorted(p.relative_to(stock) for p in stock.glob("*/*/*.html"))
    assert len(pages) >= 10
    assert pages == sorted(
        p.relative_to(course / "feedback") for p in course.glob("feedback/*/*/*.html")
    )
    rewritten, defaults = 0, 0
    for path in pages:
        ours = (course / "feedback" / path).read_text()
        theirs = (stock / path).read_text()
        assert str(BeautifulSoup(ours, features="html.parser")) == theirs, path
        rewritten += ours != theirs  # ours, not BeautifulSoup's printing
        defaults += ours.count(f'alt="{MISSING_ALT}"')
    assert rewritten == len(pages)
    assert defaults > 0  # the pages had images without alt text
    # cycle.feedback runs generate_feedback in this process (NbGraderAPI): the same pages
    for assignment in (A01, A02):
        assert cycle.feedback(course, assignment, allow_pending=True)
    for path in pages:
        command = course / "feedback-command" / path
        assert (course / "feedback" / path).read_bytes() == command.read_bytes(), path
