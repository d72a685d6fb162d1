"""The feedback exporter (attention_grader.feedback_html) makes the page nbconvert's
HTMLExporter makes: each ``<img>`` without ``alt`` gets nbconvert's default, found as a browser
finds tags (not inside a script, a style, a comment, an attribute or escaped text). The
reference is nbconvert's own pass, written here with BeautifulSoup as nbconvert does it; the
whole pages are compared in test_browser (real feedback, both exporters)."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from attention_grader.feedback_html import MISSING_ALT, add_missing_alt


def nbconverts_pass(html: str) -> tuple[str, int]:
    """What nbconvert 7's HTMLExporter does to a rendered page (its alt part)."""
    soup = BeautifulSoup(html, features="html.parser")
    missing = soup.select("img:not([alt])")
    for elem in missing:
        elem.attrs["alt"] = MISSING_ALT
    return str(soup), len(missing)


PAGES = {
    "data image": '<div class="output"><img src="data:image/png;base64,iVBORw0KGgo="></div>',
    "has alt": '<img src="a.png" alt="the loss curve">',
    "empty alt": '<img alt src="a.png"><img ALT="" src="b.png">',
    "upper case": '<P><IMG SRC="a.png" WIDTH=3></P>',
    "self-closing": '<img src="a.png"/><img src="b.png" />',
    "unquoted slash": "<img src=a/>",
    "two on a line": '<img src="a.png"><span>x</span><img src="b.png" alt="b">',
    "in a script": '<script>var s = "<img src=x>"; document.write(s)</script><img src="y">',
    "in a style": "<style>/* <img src=x> */ p { color: red }</style>",
    "in a comment": "<!-- <img src=x> --><p>after</p>",
    "in an attribute": '<div title="<img src=x>">text</div>',
    "escaped text": "<pre>&lt;img src=x&gt; <b>bold</b></pre>",
    "across lines": '<pre>\nline\n</pre>\n<img\n  src="a.png"\n  width="3"\n>\n<img src="b">',
    "windows lines": '<p>one</p>\r\n<p>two</p>\r\n<img src="a.png">\r\n',
    "unicode lines": '<p>\u2028sé\u2029</p>\x0c\n<img src="a.png">\x1c<img src="b.png">',
    "no image": "<p>nothing to do</p>",
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_alt_is_added_where_nbconvert_adds_it(name):
    html = PAGES[name]
    ours, count = add_missing_alt(html)
    reference, expected = nbconverts_pass(html)
    assert count == expected
    assert str(BeautifulSoup(ours, features="html.parser")) == reference


def test_pages_without_a_missing_alt_are_left_as_they_are():
    for name in ("has alt", "empty alt", "in a style", "in a comment", "escaped text"):
        assert add_missing_alt(PAGES[name]) == (PAGES[name], 0), name
