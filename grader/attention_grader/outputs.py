"""The output gate: what a submission shows a person passes one sanitizer.

An autograded notebook is rendered for the instructor by formgrader (nbconvert's
``HTMLExporter``, in a page logged in to the Jupyter server) and for the student by
``generate_feedback``. Everything in it that the student controlled (the outputs of every
cell, since the student's code ran before every cell; the markdown, raw cells and attachments
a student may edit; execution counts and output metadata a hostile kernel may forge) is made
inert here, once, before nbgrader writes ``autograded/`` and again before feedback:

- outputs keep only MIME types that render as data: ``text/plain``, ``text/latex`` (escaped by
  the templates), PNG/JPEG/GIF images whose data is base64 (nothing else can reach the
  ``src`` attribute they are written into), and ``text/html``, which goes through ``nh3`` (the
  maintained binding of the Ammonia allow-list sanitizer). ``text/markdown`` is rendered to
  HTML with nbconvert's own markdown renderer and cleaned the same way. JavaScript, widget
  views and any other MIME type are dropped. SVG is dropped too: Ammonia is an HTML sanitizer
  without an SVG allow-list (SVG's ``<use>``, ``<animate>``/``<set>`` of ``href``, event
  attributes and foreign content make a safe one a project of its own), so an SVG output keeps
  its ``text/plain`` or becomes a note. Output metadata keeps numeric image sizes only (the
  templates print ``width=``/``height=`` without quotes) and no ``filenames`` or ``isolated``.
- markdown cells a student can edit (every markdown cell but the locked ones nbgrader
  restores: instructions, mark schemes) are rendered to HTML exactly as nbconvert renders
  markdown (math left for MathJax, attachments inlined), cleaned, and stored as the cell's
  source, in one HTML block that nbconvert's markdown renderer passes through unchanged; so
  the page shows what was cleaned, and a second pass (feedback) changes nothing.
- raw cells a student can edit: their source is cleaned (nbconvert writes ``text/html`` raw
  cells into the page).
- attachments: PNG, JPEG and GIF with base64 data only (no SVG).
- no image is loaded from a server: an ``<img>`` keeps its source only if it is a ``data:``
  URL of a PNG, JPEG or GIF (a remote image would tell its author when and from where the
  instructor opened the page); links stay, inert until followed.
- stream text, error tracebacks and code are escaped by nbconvert's templates
  (``ansi2html``, Pygments) and only coerced to text here; execution counts become integers.
- the notebook's ``widgets`` metadata (which makes the page load a widget manager) is dropped.

The pages' own strings: formgrader's submission page prints the student id and names through
``formgrade_macros.html.j2``, unescaped in nbgrader 0.9. The course ships an override of that
file (``templates/formgrade/``) that calls nbgrader's macros with every string escaped
(:func:`escape_strings`); ``nbgrader_config.py`` puts it first on nbconvert's template path
(:data:`TEMPLATE_BASEDIRS`, :data:`TEMPLATE_PATHS`, :data:`TEMPLATE_FILTERS`).

Scores never depend on this module: :class:`OutputGate` runs after ``SaveAutoGrades`` and
never removes an error output (the mark of a failed test) nor a test cell.
"""

from __future__ import annotations

import base64
import binascii
import functools
import html
import json
import math
import re
from pathlib import Path
from typing import Any

import markupsafe
import nbgrader
import nh3
from nbconvert.filters.markdown_mistune import MarkdownWithMath
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_locked

from . import compat, rubrics

_NBGRADER_TEMPLATES = (
    Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
)
TEMPLATE_BASEDIRS = [str(Path(__file__).parent / "templates"), str(_NBGRADER_TEMPLATES)]
"""``HTMLExporter.extra_template_basedirs``: the course's overrides first, then nbgrader's
templates (``formgrade`` for formgrader, ``feedback`` for generate_feedback)."""
TEMPLATE_PATHS = [str(_NBGRADER_TEMPLATES)]
"""``HTMLExporter.extra_template_paths``: lets the override import nbgrader's macros by
their path (``formgrade/formgrade_macros.html.j2``)."""
TEMPLATE_FILTERS = {
    "course_escape_strings": "attention_grader.outputs.escape_strings",
    **rubrics.FILTERS,  # the rubric before the answer it grades (templates/formgrade/index)
}

IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif")
SVG_NOTE = "[SVG image removed by the course's output gate; only PNG/JPEG/GIF images are shown]"
REMOVED_NOTE = "[output removed by the course's output gate: {kinds}]"

# The allow-list: Ammonia's default tags (text, lists, tables, images, links, details)
# without the ones that only matter for layout tricks, and a few attributes of tables.
TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area"}
ATTRIBUTES = {
    tag: set(attrs) - {"usemap", "coords", "shape"} for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()
}
for _table_tag in ("table", "td", "th", "tr"):
    ATTRIBUTES.setdefault(_table_tag, set()).update({"align", "valign"})
ATTRIBUTES.setdefault("table", set()).add("border")
URL_SCHEMES = {"http", "https", "mailto", "data"}  # data: only for images (_url_filter)


def _url_filter(element: str, attribute: str, value: str) -> str | None:
    """Keep a ``data:`` URL only as an image's source, and only for PNG/JPEG/GIF; an image's
    source must be such a URL (a link to a server would have the reader's browser fetch it
    when the page opens: a tracker that tells a student when and from where the page was
    read). Links (``a href``) stay: nothing is fetched until the reader follows one."""
    is_data = value.strip().lower().startswith("data:")
    if element == "img" and attribute == "src" and not is_data:
        return None
    if is_data:
        mime = value.strip()[5:].split(";", 1)[0].split(",", 1)[0].lower()
        if element != "img" or attribute != "src" or mime not in IMAGE_MIMES:
            return None
    return value


MAX_HTML_BYTES = 512 * 1024  # one output's or cell's HTML; more is shown as a note
MAX_HTML_DEPTH = 200  # nested elements: nh3's time grows with the square of the nesting
TOO_COMPLEX_NOTE = (
    "[HTML removed by the course's output gate: larger than 512 KiB or nested deeper than "
    "200 elements]"
)
_TAG = re.compile(r"<(/?)([A-Za-z][^\s/>]*)")
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip


def too_complex(text: str) -> bool:
    """Whether ``text`` is too large or too deeply nested to be sanitized in bounded time (a
    linear scan of its tags; 40,000 nested ``<div>`` cost nh3 10 s, 150,000 minutes)."""
    if len(text) > MAX_HTML_BYTES:
        return True
    depth = 0
    for match in _TAG.finditer(text):
        if match.group(1):
            depth = max(0, depth - 1)
        elif match.group(2).lower() not in _VOID:
            depth += 1
            if depth > MAX_HTML_DEPTH:
                return True
    return False


def clean_html(text: str) -> str:
    """``text`` through the allow-list (scripts, styles, event handlers, frames, forms,
    ``javascript:`` URLs, SVG and MathML are removed; text is escaped); a note instead when
    it is too large or nested too deeply (:func:`too_complex`)."""
    if too_complex(text):
        return f"<p>{html.escape(TOO_COMPLEX_NOTE)}</p>"
    return nh3.clean(
        text,
        tags=TAGS,
        clean_content_tags={"script", "style"},
        attributes=ATTRIBUTES,
        attribute_filter=_url_filter,
        url_schemes=URL_SCHEMES,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
    )


def _text(value: Any) -> str:
    """A notebook text field as one string (nbformat allows a list of lines)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return json.dumps(value, default=str)


def _is_base64(value: Any) -> bool:
    text = _text(value)
    try:
        base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _one_line(cleaned: str) -> str:
    """Newlines as character references (the same text to a browser): a blank line would end
    an HTML block in markdown and start markdown again."""
    return cleaned.replace("\r", "").replace("\n", "&#10;")


def _passes_verbatim(source: str) -> bool:
    """nbconvert's markdown renderer leaves ``source`` exactly as it is (one HTML block)."""
    return render_markdown(source).strip() == source


class _Renderer(compat.AttachmentRenderer):
    """nbconvert's markdown renderer, where a reference to an attachment the gate dropped
    (SVG, anything but PNG/JPEG/GIF) becomes an empty image instead of an error."""

    def attachment_missing(self, src: str) -> bool:
        prefix = "attachment:"
        return src.startswith(prefix) and src[len(prefix) :] not in self.attachments


def render_markdown(source: str, attachments: dict | None = None) -> str:
    """Markdown as nbconvert renders it (math kept for MathJax, attachments inlined); a
    source over :data:`MAX_HTML_BYTES` is shown as the note instead of being rendered."""
    if len(source) > MAX_HTML_BYTES:
        return f"<p>{html.escape(TOO_COMPLEX_NOTE)}</p>"
    renderer = _Renderer(escape=False, attachments=attachments or {}, exclude_anchor_links=True)
    return MarkdownWithMath(renderer=renderer).render(source)


def markdown_as_clean_html(source: str, attachments: dict | None = None) -> str:
    """The cell source that renders, through nbconvert, as the cleaned rendering of the
    markdown ``source``. Checked: nbconvert's renderer passes the result through unchanged;
    where it would not, the text is shown escaped. (A cell without attachments is rendered
    once per text: most students hand the released markdown cells back unchanged.)"""
    if not attachments:
        return _markdown_as_clean_html(source)
    return _clean_markdown(source, attachments)


@functools.lru_cache(maxsize=1024)
def _markdown_as_clean_html(source: str) -> str:
    return _clean_markdown(source, None)


def _clean_markdown(source: str, attachments: dict | None) -> str:
    try:
        rendered = render_markdown(source, attachments)
    except Exception:  # a missing attachment, a parser error: show the text
        rendered = f"<pre>{html.escape(source)}</pre>"
    cleaned = _one_line(clean_html(rendered).strip())
    for stored in (cleaned, f"<div>{cleaned}</div>"):  # already one block (a second pass)
        if _passes_verbatim(stored):
            return stored
    return f"<div><pre>{_one_line(html.escape(source, quote=False))}</pre></div>"


def _output_metadata(metadata: Any) -> dict:
    """Only numeric image sizes and ``unconfined`` survive (the templates print them)."""
    out: dict = {}
    if not isinstance(metadata, dict):
        return out
    for mime in IMAGE_MIMES:
        entry = metadata.get(mime)
        if not isinstance(entry, dict):
            continue
        kept = {}
        for key in ("width", "height"):
            value = entry.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if math.isfinite(value) and 0 < value < 100_000:
                    kept[key] = value
        if entry.get("unconfined") is True:
            kept["unconfined"] = True
        if kept:
            out[mime] = kept
    return out


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def clean_data(data: Any) -> tuple[dict, list[str]]:
    """A MIME bundle reduced to what renders as data; also the MIME types dropped."""
    if not isinstance(data, dict):
        return {}, ["malformed data"]
    out: dict[str, Any] = {}
    dropped = []
    for mime, value in data.items():
        if mime in ("text/plain", "text/latex"):
            out[mime] = _text(value)
        elif mime in IMAGE_MIMES and _is_base64(value):
            out[mime] = "".join(_text(value).split())
        elif mime == "text/html":
            out[mime] = clean_html(_text(value))
        elif mime == "text/markdown":
            continue  # below, after text/html (a bundle may carry both)
        else:
            dropped.append(str(mime))
    if "text/markdown" in data and "text/html" not in out:
        out["text/html"] = clean_html(render_markdown(_text(data["text/markdown"])))
    if "image/svg+xml" in data and not any(m in out for m in ("text/plain", *IMAGE_MIMES)):
        out["text/plain"] = SVG_NOTE
    return out, dropped


def clean_output(output: Any) -> Any:
    """One output made inert (see the module docstring); never drops an error output."""
    kind = output.get("output_type")
    if kind == "stream":
        output["name"] = "stderr" if output.get("name") == "stderr" else "stdout"
        output["text"] = _text(output.get("text", ""))
        return output
    if kind == "error":
        output["ename"] = _text(output.get("ename", ""))
        output["evalue"] = _text(output.get("evalue", ""))
        traceback = output.get("traceback", [])
        output["traceback"] = (
            [_text(line) for line in traceback]
            if isinstance(traceback, list)
            else [_text(traceback)]
        )
        return output
    if kind in ("display_data", "execute_result"):
        data, dropped = clean_data(output.get("data"))
        if not data:
            kinds = ", ".join(sorted(set(dropped))) or "no displayable data"
            data = {"text/plain": REMOVED_NOTE.format(kinds=kinds)}
        output["data"] = data
        output["metadata"] = _output_metadata(output.get("metadata"))
        output.pop("transient", None)
        if kind == "execute_result":
            output["execution_count"] = _count(output.get("execution_count"))
        return output
    # an unknown output type: keep nothing of it but a note
    output.clear()
    output.update(
        {
            "output_type": "stream",
            "name": "stdout",
            "text": REMOVED_NOTE.format(kinds=f"unknown output type {kind!r}"),
        }
    )
    return output


def clean_attachments(attachments: Any) -> dict:
    """PNG, JPEG and GIF attachments with base64 data; nothing else."""
    out: dict = {}
    if not isinstance(attachments, dict):
        return out
    for name, bundle in attachments.items():
        if not isinstance(name, str) or not isinstance(bundle, dict):
            continue
        kept = {
            mime: "".join(_text(v).split())
            for mime, v in bundle.items()
            if mime in IMAGE_MIMES and _is_base64(v)
        }
        if kept:
            out[name] = kept
    return out


def _student_editable(cell: Any) -> bool:
    """Everything but the locked cells nbgrader restores from the assignment."""
    meta = cell.get("metadata", {})
    return not (isinstance(meta, dict) and "nbgrader" in meta and is_locked(cell))


def clean_cell(cell: Any) -> Any:
    """One cell made inert (its outputs, attachments, and its source where the student may
    have written markup)."""
    cell["source"] = _text(cell.get("source", ""))
    kind = cell.get("cell_type")
    if not isinstance(cell.get("metadata"), dict):
        cell["metadata"] = {}
    tags = cell["metadata"].get("tags")
    if tags is not None:
        cell["metadata"]["tags"] = (
            [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
        )
    if "attachments" in cell:
        cell["attachments"] = clean_attachments(cell["attachments"])
        if not cell["attachments"]:
            del cell["attachments"]
    if kind == "code":
        cell["execution_count"] = _count(cell.get("execution_count"))
        outputs = cell.get("outputs", [])
        cell["outputs"] = [clean_output(o) for o in outputs if isinstance(o, dict)]
    elif kind == "markdown" and _student_editable(cell):
        cell["source"] = markdown_as_clean_html(cell["source"], cell.get("attachments"))
    elif kind == "raw" and _student_editable(cell):
        cell["source"] = clean_html(cell["source"])
    return cell


def clean_notebook(nb: Any) -> Any:
    """Every cell made inert, and the notebook metadata that makes pages load scripts
    dropped."""
    for cell in nb.get("cells", []):
        clean_cell(cell)
    if isinstance(nb.get("metadata"), dict):
        nb["metadata"].pop("widgets", None)
    return nb


def escape_strings(values: dict) -> dict:
    """A template's ``resources`` with every string HTML-escaped (numbers kept)."""
    return {k: markupsafe.escape(v) if isinstance(v, str) else v for k, v in values.items()}


class OutputGate(NbGraderPreprocessor):
    """The output gate as an nbgrader preprocessor (autograde, after ``SaveAutoGrades``;
    feedback, before the HTML is written)."""

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        return clean_notebook(nb), resources
