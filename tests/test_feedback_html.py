"""The feedback exporter (attention_grader.feedback_html) makes the page nbconvert's
HTMLExporter makes: each ``<img>`` without ``alt`` gets nbconvert's default, found as a browser
finds tags (not inside a script, a style, a comment, an attribute or escaped text); a page
with an image tag a browser could end elsewhere than the standard library's tokenizer takes
nbconvert's own pass. The reference is nbconvert's pass, written here with BeautifulSoup as
nbconvert does it; whole pages are compared in test_browser (real feedback, both exporters)."""

from __future__ import annotations

from bs4 import BeautifulSoup

from attention_grader.feedback_html import MISSING_ALT, FeedbackExporter, add_missing_alt


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


# Image tags whose end a browser and the tokenizer see in different places (a dangling "=",
# "==", spaces a browser does not take for spaces), or markup the tokenizer rejects
NOT_PLAIN = {
    "dangling equals": '<p>a</p><img a=><img src="b.png">',
    "empty value": '<img src= ><img src="b.png">',
    "double equals": '<p><img a==">">after</p>',
    "no-break space": '<img a=\xa0">" src=x>',
    "line separator": '<img a=b\u2028c=">">',
    "equals at a line's end": '<img src="a.png" width=\n>',
}


def test_alt_is_added_where_nbconvert_adds_it():
    for name, html in {**PAGES, **NOT_PLAIN}.items():
        ours = FeedbackExporter().post_pass(html)
        reference, _ = nbconverts_pass(html)
        assert str(BeautifulSoup(ours, features="html.parser")) == reference, name


def test_plain_pages_are_not_parsed_into_a_tree():
    for name, html in PAGES.items():
        done = add_missing_alt(html)
        assert done is not None, name
        assert done[1] == nbconverts_pass(html)[1], name


def test_pages_a_browser_could_read_otherwise_take_nbconverts_pass():
    for name, html in NOT_PLAIN.items():
        assert add_missing_alt(html) is None, name
        assert FeedbackExporter().post_pass(html) == nbconverts_pass(html)[0], name
    assert add_missing_alt("<img><![foo]>") is None  # the tokenizer rejects it: nbconvert's


def test_pages_without_a_missing_alt_are_left_as_they_are():
    for name in ("has alt", "empty alt", "in a style", "in a comment", "escaped text"):
        assert add_missing_alt(PAGES[name]) == (PAGES[name], 0), name
