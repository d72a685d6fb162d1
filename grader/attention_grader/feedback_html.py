"""The feedback pages' exporter: nbconvert's ``HTMLExporter`` without its slow last pass.

After rendering its template, nbconvert 7's ``HTMLExporter`` parses the whole page with
BeautifulSoup (``html.parser``) to give every ``<img>`` without ``alt`` a default one and to
make JupyterLab cells focusable, then prints the tree again. On a feedback page (the classic
template, thousands of highlighted-code spans) that pass is about three quarters of
``nbgrader generate_feedback``'s time. :class:`FeedbackExporter` renders the same template and
makes the same changes without building a tree: the standard library's HTML tokenizer finds
the ``<img>`` start tags (not text inside ``<script>``, ``<style>`` or an attribute), and the
default ``alt`` goes at the end of each tag, where BeautifulSoup puts it. A page with
JupyterLab's cells (another template), or with an image tag a browser could read otherwise than
the tokenizer (:data:`PLAIN_IMG`), takes nbconvert's pass
(:class:`compat.PostPassHTMLExporter` holds what this relies on in nbconvert).

``c.GenerateFeedback.exporter_class`` names it in ``nbgrader_config.py``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from . import compat

MISSING_ALT, LAB_CELLS = compat.MISSING_ALT, compat.LAB_CELLS  # nbconvert's text, lab cells

_SPACE = "[ \t\n\r\f]"  # what a browser takes for space between attributes
# An <img> start tag whose end both the standard library's tokenizer and a browser see at its
# last ">": attributes of plain names, with quoted values or unquoted ones without quotes,
# "=", "<", ">" or "`" (a dangling "=", "==" or a Unicode space is read differently)
PLAIN_IMG = re.compile(
    rf"<img(?:{_SPACE}+[^\s\"'<>/=]+(?:{_SPACE}*={_SPACE}*"
    rf"(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*{_SPACE}*/?>\Z",
    re.IGNORECASE | re.ASCII,
)


class _ImagesWithoutAlt(HTMLParser):
    """The offset of the closing ``>`` of each ``<img>`` start tag without an ``alt``;
    ``plain``: each of them is a :data:`PLAIN_IMG`."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=False)
        self.ends: list[int] = []
        self.plain = True
        self._lines = [0]  # where each line starts (the tokenizer counts "\n" only)
        for line in text.split("\n")[:-1]:
            self._lines.append(self._lines[-1] + len(line) + 1)
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img" and not any(name == "alt" for name, _ in attrs):
            line, column = self.getpos()  # where this tag starts
            text = self.get_starttag_text() or ""
            self.plain = self.plain and PLAIN_IMG.match(text) is not None
            self.ends.append(self._lines[line - 1] + column + len(text) - 1)

    handle_startendtag = handle_starttag


def add_missing_alt(html: str) -> tuple[str, int] | None:
    """``html`` with `` alt="..."`` (nbconvert's default text) before the ``>`` of every
    ``<img>`` start tag that has none (after a ``/`` too: a browser ignores that one; an
    unquoted value keeps it), and how many there were. None for a page with an image tag
    that is not plain (:data:`PLAIN_IMG`) or markup the tokenizer rejects: that page takes
    nbconvert's pass. (What students hand in reaches a page escaped or cleaned by nh3,
    which writes plain tags; other tags come from the instructor's notebooks.)"""
    if "<img" not in html.lower():
        return html, 0
    try:
        found = _ImagesWithoutAlt(html)
    except AssertionError:  # (the tokenizer's answer to some "<![" markup)
        return None
    if not found.plain:
        return None
    parts, start = [], 0
    for end in found.ends:
        parts += [html[start:end], f' alt="{MISSING_ALT}"']
        start = end
    parts.append(html[start:])
    return "".join(parts), len(found.ends)


class FeedbackExporter(compat.PostPassHTMLExporter):
    """``HTMLExporter`` with the same result, minus its BeautifulSoup pass (module doc)."""

    def post_pass(self, html: str) -> str:
        done = None if any(name in html for name in LAB_CELLS) else add_missing_alt(html)
        if done is None:  # another template, or an image tag that is not plain
            return super().post_pass(html)
        html, missing = done
        if missing:
            self.log.warning("Alternative text is missing on %s image(s).", missing)
        return html
