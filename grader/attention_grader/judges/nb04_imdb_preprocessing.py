"""Trusted checks of 04_imdb_preprocessing: the standardization function, the vectorizer and
the vocabulary of the training split, fixed-length id arrays, tf.data batches and the shapes
through the pipeline. References are written here in plain Python/NumPy, from the rules the
notebook states, independently of its solutions."""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import Counter
from typing import Any

import numpy as np

from attention_course import probe, standins, wire
from attention_course.checks import check_equal, fail

from ..judging import Case, Check, Observed, case, describe, register

NB = "04_imdb_preprocessing"
PAD, OOV = "", "[UNK]"

# ------------------------------------------------------------------------ references

_TAG = re.compile(r"<[^<>]*>")


def ref_standardize(text: str) -> str:
    """The four rules of the notebook, in plain Python.

    Lowercase character by character (like ``tf.strings.lower(..., encoding="utf-8")``, no
    context rules); every ``<[^<>]*>`` becomes a space; ``’`` counts as ``'``; every
    character that is not a letter (category L*), a number (N*) or an apostrophe becomes a
    space; apostrophes at either end of a word go; words joined by single spaces.
    """
    text = "".join(ch.lower() for ch in text)
    text = _TAG.sub(" ", text).replace("\u2019", "'")
    kept = "".join(ch if ch == "'" or unicodedata.category(ch)[0] in "LN" else " " for ch in text)
    words = (word.strip("'") for word in kept.split(" "))
    return " ".join(word for word in words if word)


def ref_vocabulary(texts: list[str], max_tokens: int | None = None) -> list[str]:
    """TextVectorization's vocabulary after ``adapt``: ``""``, ``"[UNK]"``, then tokens by
    decreasing count, ties by decreasing token (Keras documents "ties broken by sort order
    of the tokens (high to low)"), cut to ``max_tokens`` entries in all."""
    counts = Counter(token for text in texts for token in ref_standardize(text).split())
    ranked = sorted(counts, key=lambda t: (counts[t], t.encode("utf-8")), reverse=True)
    if max_tokens is not None:
        ranked = ranked[: max(max_tokens - 2, 0)]
    return [PAD, OOV, *ranked]


def ref_ids(texts: list[str], vocabulary: list[str], seq_len: int) -> np.ndarray:
    """Integer ids (N, seq_len): unknown tokens 1, keep the first seq_len, pad with 0 after."""
    index = {token: i for i, token in enumerate(vocabulary) if i >= 2}
    out = np.zeros((len(texts), seq_len), dtype=np.int64)
    for row, text in enumerate(texts):
        ids = [index.get(token, 1) for token in ref_standardize(text).split()][:seq_len]
        out[row, : len(ids)] = ids
    return out


def ref_fixed_length(sequences: list, seq_len: int, pad_id: int) -> np.ndarray:
    out = np.full((len(sequences), seq_len), pad_id, dtype=np.int64)
    for row, ids in enumerate(sequences):
        ids = [int(i) for i in ids][:seq_len]
        out[row, : len(ids)] = ids
    return out


# ------------------------------------------------------------------------ stand-ins
#
# While make_vectorizer is graded, the student's standardize is answered from values: each case
# carries, for every text a correct solution standardizes, the standardized text
# (attention_course.standins.ElementMap looks them up, also inside TextVectorization and tf.data).
# While vectorize_splits is graded, make_vectorizer is answered too: the call a correct solution
# makes returns an object that answers the case's texts with their ids and get_vocabulary() with
# the vocabulary. No reference code enters the student's kernel, and the tables are sealed
# (seal_table): a text's standardized form or ids open only for that text, make_vectorizer's
# object only for the call a correct solution makes, so reading a table (its _table, _calls,
# the grading cases file) gives nothing that making the calls would not.


def standardize_table(texts: list[str]) -> dict[str, Any]:
    """``standardize``'s answers for ``texts`` (each text on its own)."""
    unique = list(dict.fromkeys(str(t) for t in texts))
    return {"kind": "elementwise", "pairs": [[t, ref_standardize(t)] for t in unique]}


def seal_table(table: dict[str, Any]) -> dict[str, Any]:
    """``table`` (elementwise or factory) sealed: each text's answer encrypted with a key
    derived from the text (standins.seal_pairs); each factory call by probe.seal_entry, its
    object (with its own sealed pairs) the result that only the call's arguments open."""
    if table["kind"] == "elementwise":
        return standins.seal_pairs(table["pairs"])
    calls = []
    for entry in table["calls"]:
        obj = dict(entry["object"])
        obj["call"] = seal_table(obj["call"])
        calls.append(probe.seal_entry({**entry, "result": obj}))
    return {"kind": "factory", "calls": calls}


def vectorizer_table(train: list[str], texts: list[str], max_tokens: int, seq_len: int) -> dict:
    """``make_vectorizer(train, max_tokens, seq_len)``'s answer: a vectorizer that knows the ids
    of ``texts`` and its vocabulary."""
    vocab = ref_vocabulary(train, max_tokens)
    unique = list(dict.fromkeys(str(t) for t in texts))
    ids = ref_ids(unique, vocab, seq_len)
    return {
        "kind": "factory",
        "calls": [
            {
                "args": [list(train), max_tokens, seq_len],
                "kwargs": {},
                "params": ["texts", "max_tokens", "seq_len"],
                "defaults": {},
                "object": {
                    "call": {
                        "kind": "elementwise",
                        "pairs": [[t, row] for t, row in zip(unique, ids, strict=True)],
                    },
                    "methods": {"get_vocabulary": vocab, "vocabulary_size": len(vocab)},
                },
            }
        ],
    }


# ------------------------------------------------------------------------ helpers


def _value(got: Observed, name: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = got.raw(name)
    if not isinstance(value, kind):
        fail(f"{got.label}: expected {what}, got {describe(value)}.")
    return value


def _int_array(value: Any, name: str, label: str) -> np.ndarray:
    if isinstance(value, (list, tuple)):
        try:
            value = np.asarray(value)
        except ValueError:
            fail(f"{label}: {name} is a ragged list, not an array.")
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu":
        fail(f"{label}: {name} should be an integer array, got {describe(value)}.")
    return value


def _nice(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


# ------------------------------------------------------------------------ 1. standardize

_GENERAL = (
    "rules: lowercase (utf-8), every <...> tag -> space (stop at the first '>'), then "
    "everything but letters, numbers and apostrophes -> space, apostrophes at the "
    "edges of words removed, single spaces, no space at either end."
)

# (input, the rule it shows): every rule the text states, with inputs that separate it from
# its typical violations. The expected outputs are computed by ref_standardize.
RULE_TEXTS: dict[str, list[tuple[str, str]]] = {
    "the examples of the text": [
        (
            "Great movie!<br /><br />I LOVED it.",
            "lowercase, tags -> space, punctuation -> space, collapse and strip whitespace.",
        ),
        ("a<br />b", "replace a tag by a SPACE, not by nothing: otherwise the words are glued."),
        ("Don't 'quote' me", "keep apostrophes inside words, drop the ones around them."),
        (
            "Café   Zürich...",
            "letters of every alphabet stay (\\p{L}: RE2's \\w and [a-z] are "
            "ASCII only) and are lowercased with encoding='utf-8'; dots "
            "become spaces.",
        ),
        ("Hello <b><i>World</i></b>!", "every tag becomes a space."),
        (
            "I <3 it<br />more<!-- spoiler -->",
            "a tag is '<', then no '<' or '>', then '>': <br /> and <!-- spoiler --> are tags "
            "(the comment goes, words and all), '<3' is not.",
        ),
        (
            "(Don’t) say ‘no’… 10/10 😀",
            "’ counts as '; punctuation, symbols and emoji become spaces; then the apostrophes "
            "at the edges of words go.",
        ),
    ],
    "HTML/XML tags": [
        ("<br /><br />", "a review made of tags only becomes ''."),
        (
            'See <a href="http://x.org/a.html">this link</a>now',
            "a tag runs from '<' to the first '>', attributes included, and becomes a space.",
        ),
        ("<p>First paragraph.</p><p>Second one.</p>", "every tag becomes a space."),
        ("line<br/>break and<BR>more", "tags come in any spelling and case: <br/>, <BR>."),
        ("end of review<br /><br />", "no space at the end: strip after replacing the tags."),
        (
            "I <3 it<br />more",
            "a tag contains no '<': the tag here is <br /> only ('<[^<>]*>'); '<[^>]*>' would "
            "start at '<3' and swallow '3 it'.",
        ),
        (
            "Loved it<!-- spoiler: he dies -->a lot",
            "<!-- ... --> is a tag too: whatever lies between '<' and '>' goes, also when it "
            "does not start with a letter (the words of the comment go with it).",
        ),
        (
            "Greedy <i>tags</i> eat <b>text</b>!",
            "the pattern must stop at the first '>' ('<.*>' runs to the last one and eats the "
            "words between two tags).",
        ),
        (
            "<i>'Quoted'</i>, they said",
            "a tag becomes a space, so the apostrophes next to it are at the edge of a word.",
        ),
    ],
    "lowercase in every alphabet": [
        (
            "CAFÉ Zürich, SÃO PAULO, Kraków",
            "tf.strings.lower(text, encoding='utf-8') (without the encoding only A-Z are lowered), "
            "and letters of every alphabet stay: \\p{L}, not \\w or [a-z] (ASCII only in RE2).",
        ),
        (
            "ÆØÅ ÇA ŁÓDŹ ЖУРНАЛ",
            "lowercase every alphabet (encoding='utf-8') and keep its letters (\\p{L}).",
        ),
    ],
    "punctuation beyond ASCII": [
        (
            "Wait… what?! «Génial» — “Oscar-worthy” ¿no? ¡sí!",
            "Unicode punctuation (… « » — “ ” ¿ ¡) becomes a space like ASCII punctuation: "
            "replace everything that is not a letter or a number ([^\\p{L}\\p{N}']), not a list "
            "of ASCII characters ([[:punct:]] is ASCII only in RE2).",
        ),
        ("1999–2003, 5—6 stars", "dashes (– —) are punctuation: they become spaces."),
        ("snake_case_title", "'_' is punctuation too (RE2's \\w keeps it): it becomes a space."),
        (
            "‘Single’ quotes",
            "‘ is punctuation; ’ counts as an apostrophe (here at a word's end, so it goes).",
        ),
    ],
    "symbols and emoji": [
        (
            "5$ + 3€ = 100% ^_^ ~ | © @home #1 *",
            "symbols ($ € + = ^ ~ | © ...) are neither letters nor numbers: they become spaces.",
        ),
        ("Loved it 😀👍🏽 10/10", "emoji (and skin-tone modifiers) become spaces."),
        (
            "love ❤️ it",
            "❤️ is two characters, ❤ and the invisible variation selector U+FE0F; "
            "neither is a letter or a number: both become spaces.",
        ),
    ],
    "whitespace": [
        ("x  \t\n y  ", "runs of whitespace become one space; none at either end."),
        (
            "a\u00a0b\u2003c\u3000d\u200be",
            "non-breaking and other Unicode spaces (U+00A0, U+2003, U+3000) and the zero-width "
            "space U+200B are not letters: they become spaces and separate words (RE2's \\s is "
            "ASCII only).",
        ),
        (
            "\u00a0padded\u00a0",
            "no space at either end: tf.strings.strip removes ASCII "
            "whitespace only, so other spaces must become ' ' first.",
        ),
        ("   ", "only whitespace gives ''."),
        ("", "the empty string stays ''."),
        ("!!! ... ???", "no letters or numbers: ''."),
    ],
    "numbers beyond ASCII": [
        (
            "٣ stars out of ٥",
            "numbers of every script stay: \\p{N}, not [0-9] or \\d (ASCII only in RE2).",
        ),
        (
            "x² ½ Ⅻ １２３",
            "\\p{N} includes ², ½, Roman numerals and full-width digits: they stay "
            "(Ⅻ is lowercased to ⅻ).",
        ),
    ],
    "apostrophes": [
        ("Renée’s favourite", "the typographic apostrophe ’ counts as ': replace it by ' first."),
        ("rock'n'roll '' '", "apostrophes inside a word stay; a word of apostrophes only goes."),
        ("'Tis the 'season'", "apostrophes at the start or the end of a word go."),
        (
            "(Don't) say 'no'! 'Twas…",
            "an apostrophe next to punctuation is still at the edge of its word: turn the "
            "punctuation into spaces first, then remove the apostrophes at word edges.",
        ),
        (
            "the dogs' toys, the '90s",
            "an apostrophe ending or starting a word goes, also next to digits.",
        ),
        (
            "rock''n'roll ''quoted'' ’’x’’ '''",
            "runs of apostrophes at a word's edge go entirely ('+); inside a word they stay, also "
            "two in a row.",
        ),
        (
            "L’ÉTÉ, café's, ÇA'",
            "an apostrophe next to a non-ASCII letter is inside the word "
            "too (RE2's \\b and \\w know ASCII letters only).",
        ),
        ("'a'b'", "only the apostrophes at the edges go: 'a'b' -> a'b."),
    ],
}
_RULE_OF = {text: rule for group in RULE_TEXTS.values() for text, rule in group}

SHAPED = [
    ("a (2, 2) tensor", [["A<br />B", "’Tis"], ["C. D", "''"]]),
    ("a (3, 1) tensor, as TextVectorization.adapt hands it", [["Nice<br />film"], ["x"], ["Y!"]]),
    ("a scalar tensor", "Scalar INPUT!"),
]
GRAPH_TEXTS = ["Graph <b>MODE</b>!", "Don’t stop", "«x»", "Y…"]
LAYER_TEXTS = ["Nice<br />film, NICE!", "nice FILM…", "Nice’s film’s «nice»", "Don’t"]


@register
class Standardize(Check):
    notebook, cell = NB, "test_standardize"

    def cases(self):
        for topic, items in RULE_TEXTS.items():
            yield case(
                f"standardize of a batch: {topic}", op="batch", texts=[text for text, _ in items]
            )
        for label, texts in SHAPED:
            yield case(f"standardize of {label}", op="batch", texts=texts)
        yield case(
            "standardize inside tf.data: Dataset.from_tensor_slices(texts).batch(2)"
            ".map(standardize) (graph mode)",
            op="graph",
            texts=GRAPH_TEXTS,
        )
        yield case(
            "the vocabulary of TextVectorization(standardize=standardize) adapted on "
            f"{LAYER_TEXTS!r}",
            op="layer",
            texts=LAYER_TEXTS,
        )

    def expected(self, inputs):
        texts = inputs["texts"]
        if inputs["op"] == "layer":
            return ref_vocabulary(texts)
        array = np.array(texts, dtype=object)
        flat = [ref_standardize(t) for t in array.ravel().tolist()]
        return {"shape": list(array.shape), "texts": flat}

    def judge(self, case, got, want):
        out = _value(got, "out", dict, "the observations of the test")
        if case.inputs["op"] == "layer":
            vocab = out.get("vocab")
            check_equal(
                vocab,
                want,
                name=case.label,
                hint="TextVectorization calls standardize on a string tensor and "
                "splits its output on spaces: the rules as above.",
            )
            return
        shape, texts = out.get("shape"), out.get("texts")
        if shape != want["shape"]:
            fail(
                f"{case.label}: the output has shape {tuple(shape or ())}, the input "
                f"{tuple(want['shape'])}.",
                "a string tensor of any shape in, the same shape out: tf.strings.lower, "
                "regex_replace and strip work elementwise and keep the shape; do not reshape "
                "or squeeze the input.",
            )
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            fail(f"{case.label}: the output should hold UTF-8 strings, got {_nice(texts)}.")
        inputs = np.array(case.inputs["texts"], dtype=object).ravel().tolist()
        for raw, out_text, want_text in zip(inputs, texts, want["texts"], strict=True):
            if out_text != want_text:
                rule = _RULE_OF.get(raw, _GENERAL)
                if " ".join(word for word in out_text.split(" ") if word) == want_text:
                    rule = (
                        "runs of spaces become ONE space and the result has no space at the "
                        "start or the end (tf.strings.strip after collapsing)."
                    )
                fail(
                    f"{case.label}: standardize({raw!r}) gave {out_text!r}, expected "
                    f"{want_text!r}.",
                    rule,
                )

    def error_hint(self, error):
        text = f"{error.type_name}: {error.message}"
        if error.type_name == "NotImplementedError":
            return "replace `raise NotImplementedError()` with your code."
        if "numpy" in text or "symbolic" in text.lower() or "iterat" in text.lower():
            return (
                "inside tf.data (graph mode) a tensor has no .numpy() and Python string "
                "methods do not apply: use only tf.strings operations."
            )
        return None


# ------------------------------------------------------------------------ 2. vectorizer


def _vocab_of(out: dict, label: str) -> list[str]:
    vocab = out.get("vocab")
    if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
        fail(f"{label}: get_vocabulary() should give a list of strings, got {_nice(vocab)}.")
    return vocab


_W_TEXTS = [" ".join(f"w{i}" for i in range(k)) for k in range(1, 40)]  # w0 39x ... w38 1x


@register
class MakeVectorizer(Check):
    notebook, cell = NB, "test_make_vectorizer"

    @functools.cached_property
    def all_cases(self) -> list[Case]:
        return [
            Case(
                c.label,
                c.inputs,
                {
                    "standardize": seal_table(
                        standardize_table(c.inputs["texts"] + c.inputs["probe"])
                    )
                },
            )
            for c in self.cases()
        ]

    def cases(self):
        yield case(
            "make_vectorizer(['Good film.<br /><br />Good actors!', 'A bad, bad film', "
            "'good GOOD good'], max_tokens=10, seq_len=6)",
            texts=["Good film.<br /><br />Good actors!", "A bad, bad film", "good GOOD good"],
            max_tokens=10,
            seq_len=6,
            probe=["good unseen film", "Bad <i>ACTORS</i>"],
        )
        yield case(
            "make_vectorizer of 39 reviews w0, w0 w1, ... with 39 distinct tokens, "
            "max_tokens=12, seq_len=50",
            texts=_W_TEXTS,
            max_tokens=12,
            seq_len=50,
            probe=["w0 w38 <br />W1", " ".join(["w0"] * 30 + ["w1"] * 30), ""],
        )
        yield case(
            "make_vectorizer with max_tokens larger than the vocabulary, seq_len=3",
            texts=["It's a <b>GREAT</b> film", "great, great… it's great", "Don’t miss it"],
            max_tokens=100,
            seq_len=3,
            probe=["great film don't", "it's", "a b c d e great"],
        )
        yield case(
            "make_vectorizer(texts, max_tokens=5, seq_len=4)",
            texts=_W_TEXTS[:20],
            max_tokens=5,
            seq_len=4,
            probe=["w3 w2 w1 w0 w2", "w19 w4"],
        )

    def expected(self, inputs):
        vocab = ref_vocabulary(inputs["texts"], inputs["max_tokens"])
        return vocab, ref_ids(inputs["probe"], vocab, inputs["seq_len"])

    def judge(self, case, got, want):
        want_vocab, want_ids = want
        out = _value(got, "out", dict, "the observations of the test")
        vocab = _vocab_of(out, case.label)
        check_equal(
            vocab[:2],
            [PAD, OOV],
            name=f"the first two vocabulary entries of {case.label}",
            hint="use TextVectorization: id 0 = '' (padding), id 1 = '[UNK]'.",
        )
        if "br" in vocab and "br" not in want_vocab:
            fail(
                f"{case.label}: 'br' is in the vocabulary.",
                "pass standardize=standardize (yours): the layer's default standardization "
                "keeps 'br' from '<br />'.",
            )
        if len(vocab) != len(want_vocab):
            fail(
                f"{case.label}: the vocabulary has {len(vocab)} entries, expected "
                f"{len(want_vocab)}.",
                f"max_tokens={case.inputs['max_tokens']} counts the two reserved ids too: "
                "pass max_tokens=max_tokens.",
            )
        check_equal(
            vocab,
            want_vocab,
            name=f"the vocabulary of {case.label}",
            hint="pass standardize=standardize, split on whitespace, adapt on `texts`: "
            "the most frequent token gets id 2.",
        )
        ids = _int_array(out.get("ids"), "the ids", case.label)
        if ids.shape != want_ids.shape:
            fail(
                f"{case.label}: the ids of {len(case.inputs['probe'])} reviews have shape "
                f"{ids.shape}, expected {want_ids.shape}.",
                "output_mode='int' and output_sequence_length=seq_len (the argument, not SEQ_LEN).",
            )
        check_equal(
            ids,
            want_ids,
            name=f"the ids of {case.inputs['probe']!r} with {case.label}",
            hint="unknown tokens get id 1; TextVectorization keeps the first seq_len "
            "tokens and pads with 0 at the end.",
        )

    def error_hint(self, error):
        if error.type_name == "NotImplementedError":
            return "replace `raise NotImplementedError()` with your code."
        return None


# ------------------------------------------------------------------------ 3. fixed length


@register
class ToFixedLength(Check):
    notebook, cell = NB, "test_to_fixed_length"

    def cases(self):
        yield case(
            "to_fixed_length([[5, 6], [7, 8, 9, 10, 11]], seq_len=4)",
            sequences=[[5, 6], [7, 8, 9, 10, 11]],
            seq_len=4,
        )
        yield case(
            "to_fixed_length with an empty sequence, seq_len=5, pad_id=-1",
            sequences=[[], [3], list(range(2, 12)), [4, 4, 4]],
            seq_len=5,
            pad_id=-1,
        )
        yield case(
            "to_fixed_length of TextVectorization-like ids, seq_len=7",
            sequences=[[11, 10, 9], [2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [10]],
            seq_len=7,
        )
        rng = np.random.default_rng(4)
        yield case(
            "to_fixed_length of NumPy arrays of ids up to 19999, seq_len=6, pad_id=7",
            sequences=[rng.integers(2, 20000, size=n) for n in (0, 6, 9, 3)],
            seq_len=6,
            pad_id=7,
        )
        yield case("to_fixed_length with seq_len=1", sequences=[[3, 1, 2], [9], [4, 4]], seq_len=1)

    def expected(self, inputs):
        return ref_fixed_length(inputs["sequences"], inputs["seq_len"], inputs.get("pad_id", 0))

    def judge(self, case, got, want):
        value = got.raw("fixed")
        if not got.raw("is_numpy"):
            fail(
                f"{case.label} returned {describe(value)}, not a NumPy array.",
                "return an np.ndarray (not a list, not a tensor): e.g. build it with "
                "np.full((N, seq_len), pad_id, dtype=...).",
            )
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu":
            fail(
                f"{case.label} returned {describe(value)}: expected an integer dtype.",
                "token ids are integers: np.zeros/np.full without dtype=int give floats.",
            )
        if value.shape != want.shape:
            fail(
                f"{case.label}: expected shape {want.shape}, got {value.shape}.",
                "one row per sequence, seq_len columns.",
            )
        pad_id = case.inputs.get("pad_id", 0)
        check_equal(
            value,
            want,
            name=case.label,
            hint=f"keep the FIRST seq_len ids and pad with pad_id ({pad_id}) at the END, "
            "like TextVectorization (keras.utils.pad_sequences defaults to the "
            "front for both).",
        )

    def error_hint(self, error):
        if error.type_name == "NotImplementedError":
            return "replace `raise NotImplementedError()` with your code."
        return None


# ------------------------------------------------------------------------ 4. splits


@register
class VectorizeSplits(Check):
    notebook, cell = NB, "test_vectorize_splits"

    @functools.cached_property
    def all_cases(self) -> list[Case]:
        out = []
        for c in self.cases():
            train, test = c.inputs["train"], c.inputs["test"]
            tables = {
                "standardize": seal_table(standardize_table(train + test)),
                "make_vectorizer": seal_table(
                    vectorizer_table(
                        train, train + test, c.inputs["max_tokens"], c.inputs["seq_len"]
                    )
                ),
            }
            out.append(Case(c.label, c.inputs, tables))
        return out

    def cases(self):
        yield case(
            "vectorize_splits(['the plot was good', 'the acting was bad'], "
            "['the soundtrack was wonderful'], max_tokens=50, seq_len=5)",
            train=["the plot was good", "the acting was bad"],
            test=["the soundtrack was wonderful"],
            max_tokens=50,
            seq_len=5,
        )
        yield case(
            "vectorize_splits of 20 training and 10 test reviews, max_tokens=1000, seq_len=3",
            train=[f"common word{i} train{i}" for i in range(20)],
            test=[f"common test{i} word{i}" for i in range(20, 30)],
            max_tokens=1000,
            seq_len=3,
        )
        yield case(
            "vectorize_splits(3 training and 4 test reviews, max_tokens=6, seq_len=7)",
            train=["Good good GOOD film", "bad film, good actors", "a good plot"],
            test=[
                "Good plot",
                "excellent film",
                "actors actors actors actors",
                "good good good good good good good good",
            ],
            max_tokens=6,
            seq_len=7,
        )

    def expected(self, inputs):
        vocab = ref_vocabulary(inputs["train"], inputs["max_tokens"])
        return (
            vocab,
            ref_ids(inputs["train"], vocab, inputs["seq_len"]),
            ref_ids(inputs["test"], vocab, inputs["seq_len"]),
        )

    def judge(self, case, got, want):
        want_vocab, want_train, want_test = want
        out = _value(got, "out", dict, "the observations of the test")
        if out.get("parts") != 3:
            fail(
                f"{case.label} should return three values (vectorizer, x_train, x_test), got "
                f"{out.get('parts')}."
            )
        vocab = _vocab_of(out, case.label)
        test_only = sorted(
            {t for t in ref_vocabulary(case.inputs["test"])[2:] if t not in want_vocab} & set(vocab)
        )
        if test_only:
            fail(
                f"{case.label}: the vocabulary holds tokens that occur only in the test texts: "
                f"{test_only[:6]}.",
                "adapt the vectorizer on the training texts only.",
            )
        check_equal(
            vocab,
            want_vocab,
            name=f"the vocabulary of {case.label}",
            hint="make_vectorizer(train_texts, max_tokens, seq_len): the arguments, "
            "not MAX_TOKENS and SEQ_LEN.",
        )
        for name, want_ids in (("x_train", want_train), ("x_test", want_test)):
            ids = _int_array(out.get(name), name, case.label)
            if ids.shape != want_ids.shape:
                fail(
                    f"{case.label}: {name} has shape {ids.shape}, expected {want_ids.shape}.",
                    f"{name} = vectorizer({name.replace('x_', '')}_texts), with seq_len "
                    "(the argument).",
                )
            check_equal(
                ids,
                want_ids,
                name=f"{name} of {case.label}",
                hint="vectorize both splits with the ONE vectorizer adapted on the "
                "training texts: words seen only in the test texts map to [UNK] "
                "(id 1).",
            )

    def error_hint(self, error):
        if error.type_name == "NotImplementedError":
            return "replace `raise NotImplementedError()` with your code."
        return None


# ------------------------------------------------------------------------ 5. tf.data


class _RowIndex:
    """Where each row of a batch is among a case's ids rows (unique rows): a large batch of
    integers at once, by a mixed-radix key (numpy); a small one, or one of floats or booleans,
    row by row, by a dict of tuples, as Python compares them (``2.0`` is the row value ``2``).
    (Numpy's fixed cost per batch would make thousands of tiny batches slow.) Made once per
    case."""

    SMALL = 64  # rows: below this a batch is looked up row by row

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids
        self.base = int(ids.max()) + 1
        self.keys: np.ndarray | None = None
        if ids.min() >= 0 and self.base ** ids.shape[1] < 2**62:
            self.powers = self.base ** np.arange(ids.shape[1], dtype=np.int64)
            keys = ids.astype(np.int64) @ self.powers
            if len(np.unique(keys)) == len(ids):
                self.order = np.argsort(keys)
                self.keys = keys[self.order]

    @functools.cached_property
    def row_of(self) -> dict[tuple, int]:
        return {tuple(row): i for i, row in enumerate(self.ids.tolist())}

    def find(self, x: np.ndarray) -> list[int]:
        """The index of each row of ``x`` (2-D, as many columns as the ids), -1 where a row
        is none of the ids."""
        if self.keys is None or x.dtype.kind not in "iu" or len(x) < self.SMALL:
            return [self.row_of.get(tuple(r), -1) for r in x.tolist()]
        inside = np.all((x >= 0) & (x < self.base), axis=1)
        keys = np.where(inside[:, None], x, 0).astype(np.int64) @ self.powers
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(inside & (self.keys[at] == keys), self.order[at], -1).tolist()

    @classmethod
    def labels_match(cls, y: np.ndarray, labels: np.ndarray, rows: list[int]) -> bool:
        """Whether the served labels ``y`` (integers) are the labels of ``rows``, each read
        as ``int(label)``."""
        if len(rows) < cls.SMALL:
            return y.tolist() == [int(labels[i]) for i in rows]
        return np.array_equal(y, labels[rows].astype(np.int64))


def _dataset_case(
    label: str,
    n: int,
    seq_len: int,
    batch_size: int,
    training: bool,
    builds: list[dict],
    float_labels: bool = False,
):
    ids = np.stack([np.arange(n) * seq_len + j for j in range(seq_len)], axis=1)
    labels = (np.arange(n) * 7 // 3) % 2
    return case(
        label,
        ids=ids.astype(np.int64),
        labels=labels.astype(np.float32 if float_labels else np.int64),
        batch_size=batch_size,
        training=training,
        builds=builds,
    )


@register
class MakeDataset(Check):
    notebook, cell = NB, "test_make_dataset"

    def cases(self):
        yield _dataset_case(
            "make_dataset(10 examples, batch_size=4, training=False)",
            10,
            4,
            4,
            False,
            [{"seed": None, "epochs": 1}],
        )
        yield _dataset_case(
            "make_dataset(64 examples with float labels, batch_size=10, training=False, seed=5)",
            64,
            3,
            10,
            False,
            [{"seed": 5, "epochs": 2}],
            float_labels=True,
        )
        yield _dataset_case(
            "make_dataset(64 examples, batch_size=16, training=True): two "
            "epochs with seed=1, then again seed=1, then seed=2",
            64,
            4,
            16,
            True,
            [{"seed": 1, "epochs": 2}, {"seed": 1, "epochs": 1}, {"seed": 2, "epochs": 1}],
        )
        yield _dataset_case(
            "make_dataset(37 examples, batch_size=8, training=True, seed=3)",
            37,
            2,
            8,
            True,
            [{"seed": 3, "epochs": 2}],
        )
        yield _dataset_case(
            "make_dataset(12000 examples, batch_size=2000, training=True, seed=4)",
            12000,
            1,
            2000,
            True,
            [{"seed": 4, "epochs": 1}],
        )

    def expected(self, inputs):
        n, seq_len = inputs["ids"].shape
        b = inputs["batch_size"]
        return {
            "n": n,
            "seq_len": seq_len,
            "batches": math.ceil(n / b),
            "sizes": [b] * (n // b) + ([n % b] if n % b else []),
        }

    @functools.cache  # noqa: B019 - one instance per check for the process' lifetime
    def _rows(self, index: int) -> _RowIndex:
        return _RowIndex(self.all_cases[index].inputs["ids"])

    def _rows_of(self, case: Case) -> _RowIndex:
        for index, known in enumerate(self.all_cases):
            if known is case:
                return self._rows(index)
        return _RowIndex(case.inputs["ids"])

    def _epoch(self, label: str, epoch: Any, inputs: dict, rows_of: _RowIndex) -> np.ndarray:
        """The input rows of one epoch, in the order served (checks batches and labels);
        ``rows_of`` finds each input row's index."""
        if (
            not isinstance(epoch, dict)
            or not isinstance(epoch.get("ids"), list)
            or not isinstance(epoch.get("labels"), list)
        ):
            fail(f"{label}: no batches could be read.")
        if len(epoch["ids"]) != len(epoch["labels"]):
            fail(
                f"{label}: {len(epoch['ids'])} batches of ids but {len(epoch['labels'])} "
                "batches of labels."
            )
        ids, labels = inputs["ids"], inputs["labels"]
        order: list[int] = []
        seq_len = ids.shape[1]
        for k, (x, y) in enumerate(zip(epoch["ids"], epoch["labels"], strict=True)):
            if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != seq_len:
                fail(
                    f"{label}: batch {k} of ids is {describe(x)}, expected (batch, {seq_len}).",
                    "batch the (ids, label) examples: ids batches are (batch, seq_len).",
                )
            if not isinstance(y, np.ndarray) or y.shape != (len(x),):
                fail(
                    f"{label}: batch {k} of labels is {describe(y)}, expected ({len(x)},).",
                    "labels batches are (batch,).",
                )
            if y.dtype.kind not in "iu":
                fail(
                    f"{label}: the labels have dtype {y.dtype}, expected integers.",
                    "cast the labels to integers (they may come as floats).",
                )
            rows = rows_of.find(x)
            if -1 in rows:
                fail(f"{label}: batch {k} holds an ids row that is not a row of the input.")
            if not rows_of.labels_match(y, labels, rows):
                fail(
                    f"{label}: in batch {k} labels do not belong to their ids.",
                    "keep (ids, label) pairs together: from_tensor_slices((ids, labels)).",
                )
            order.extend(rows)
        return np.array(order, dtype=np.int64)

    def judge(self, case, got, want):
        builds = _value(got, "builds", list, "one observation per dataset built")
        inputs = case.inputs
        if len(builds) != len(inputs["builds"]):
            fail(
                f"{case.label}: {len(builds)} datasets observed, expected {len(inputs['builds'])}."
            )
        rows_of = self._rows_of(case)
        orders = [
            self._build_orders(case.label, build, plan, inputs, want, rows_of)
            for build, plan in zip(builds, inputs["builds"], strict=True)
        ]
        if inputs["training"]:
            self._judge_shuffle(case.label, inputs, orders, want["n"], inputs["batch_size"])
        else:
            self._judge_kept_order(case.label, orders, want["n"])

    def _build_orders(
        self, case_label: str, build: Any, plan: dict, inputs: dict, want: dict, rows_of: Any
    ) -> list[np.ndarray]:
        """The order of the examples in each epoch of one dataset built (checked)."""
        seed = plan["seed"]
        label = case_label if seed is None else f"{case_label} (seed={seed})"
        self._judge_build(label, build, want, inputs["batch_size"])
        epochs = build.get("epochs")
        if not isinstance(epochs, list) or len(epochs) != plan["epochs"]:
            fail(f"{label}: {plan['epochs']} epochs expected, got {describe(epochs)}.")
        return [
            self._epoch_order(f"{label}, epoch {e + 1}", epoch, inputs, want, rows_of)
            for e, epoch in enumerate(epochs)
        ]

    def _judge_build(self, label: str, build: Any, want: dict, b: int) -> None:
        """The dataset as built: its element spec, size and last step."""
        if isinstance(build, wire.Raised):
            hint = (
                "replace `raise NotImplementedError()` with your code."
                if build.type_name == "NotImplementedError"
                else None
            )
            fail(f"{label}: your code raised {build!r}", hint)
        if not isinstance(build, dict):
            fail(f"{label}: no observation came back, got {describe(build)}.")
        self._judge_spec(label, build.get("spec"), want)
        if build.get("cardinality") != want["batches"]:
            fail(
                f"{label}: cardinality {build.get('cardinality')}, expected "
                f"{want['batches']} batches of {b} ({want['n']} examples).",
                "one pass over the data per epoch: no repeat(), no drop_remainder.",
            )
        if build.get("final") != "_PrefetchDataset":
            fail(
                f"{label}: the last step of the dataset is {build.get('final')}, not a prefetch.",
                "end with .prefetch(tf.data.AUTOTUNE), after batching.",
            )
        if build.get("prefetch_buffer") != -1:
            fail(
                f"{label}: the prefetch buffer is {build.get('prefetch_buffer')}, "
                "expected tf.data.AUTOTUNE (-1).",
                "prefetch(tf.data.AUTOTUNE).",
            )

    @staticmethod
    def _judge_spec(label: str, spec: Any, want: dict) -> None:
        """``element_spec``: (ids batch, labels batch) of shapes (None, seq_len), (None,)."""
        if not isinstance(spec, list) or len(spec) != 2:
            fail(
                f"{label}: each element should be a pair (ids_batch, labels_batch), the "
                f"element_spec is {_nice(spec)}.",
                "from_tensor_slices((ids, labels)) and then batch.",
            )
        (ids_shape, _), (labels_shape, labels_dtype) = spec
        if list(ids_shape) != [None, want["seq_len"]] or list(labels_shape) != [None]:
            fail(
                f"{label}: element_spec shapes {tuple(ids_shape)} and "
                f"{tuple(labels_shape)}, expected (None, {want['seq_len']}) and (None,).",
                "batch(batch_size) without drop_remainder: the batch size is not fixed, "
                "the last batch holds the remainder.",
            )
        if not str(labels_dtype).startswith(("int", "uint")):
            fail(
                f"{label}: the labels have dtype {labels_dtype}, expected integers.",
                "cast the labels to integers (they may come as floats).",
            )

    def _epoch_order(
        self, where: str, epoch: Any, inputs: dict, want: dict, rows_of: Any
    ) -> np.ndarray:
        """The order of the examples in one epoch: each exactly once, in batches of the size."""
        order = self._epoch(where, epoch, inputs, rows_of)
        n = want["n"]
        if sorted(order.tolist()) != list(range(n)):
            fail(
                f"{where}: {len(order)} examples served, expected each of the {n} exactly once.",
                "one pass over all examples: do not drop the last, smaller batch "
                "(no drop_remainder), do not repeat.",
            )
        sizes = [len(x) for x in epoch["ids"]]  # arrays: checked by _epoch
        if sizes != want["sizes"]:
            fail(
                f"{where}: batch sizes {sizes[:12]}, expected {want['sizes'][:12]}.",
                f"batch({inputs['batch_size']}): the last batch holds the remainder.",
            )
        return order

    @staticmethod
    def _judge_kept_order(label: str, orders: list[list[np.ndarray]], n: int) -> None:
        """Without training, every epoch serves the examples in their order."""
        for these in orders:
            for order in these:
                if order.tolist() != list(range(n)):
                    fail(
                        f"{label}: the examples came in the order "
                        f"{order[:12].tolist()}..., expected 0, 1, 2, ...",
                        "shuffle only when training=True.",
                    )

    def _judge_shuffle(self, label: str, inputs: dict, orders: list, n: int, b: int) -> None:
        plans = inputs["builds"]
        first = orders[0][0]
        for these in orders:
            for order in these:
                if order.tolist() == list(range(n)):
                    fail(
                        f"{label}: training=True served the examples in their order.",
                        "when training, shuffle the examples before batching.",
                    )
                blocks = [order[i : i + b] for i in range(0, n, b)]
                if all(
                    np.array_equal(np.sort(block), np.arange(block.min(), block.min() + len(block)))
                    for block in blocks
                ):
                    fail(
                        f"{label}: every batch holds consecutive examples: the batches were "
                        "shuffled, not the examples.",
                        "shuffle the examples BEFORE batching, not the batches after it.",
                    )
                # A buffer of B examples moves no example forward by B places or more; a
                # full shuffle of thousands moves some by nearly N (P(not) ~ 0.9**1000).
                jump = int(np.max(order - np.arange(n)))
                if n >= 1000 and jump < 0.9 * n:
                    fail(
                        f"{label}: no example moved forward by more than {jump} places in an "
                        f"epoch of {n}: the shuffle buffer is smaller than the data.",
                        "shuffle over all N examples: shuffle(buffer_size=len(ids)), not a "
                        "fixed size such as 1000 or 10000 (a buffer of B examples only "
                        "mixes neighbours within B places).",
                    )
        if len(orders[0]) > 1 and np.array_equal(orders[0][0], orders[0][1]):
            fail(
                f"{label}: two epochs served the same order.",
                "a new order in every epoch: reshuffle_each_iteration=True (the default).",
            )
        seeds = [plan["seed"] for plan in plans]
        for i in range(1, len(plans)):
            same = np.array_equal(orders[i][0], first)
            if seeds[i] == seeds[0] and not same:
                fail(
                    f"{label}: two datasets built with the same seed={seeds[0]} served "
                    "different orders.",
                    "pass seed=seed to shuffle.",
                )
            if seeds[i] != seeds[0] and same:
                fail(
                    f"{label}: seed={seeds[0]} and seed={seeds[i]} served the same order.",
                    "pass the argument: shuffle(..., seed=seed), not a fixed seed.",
                )


# ------------------------------------------------------------------------ 6. shapes

BATCH, SEQ_LEN, EMBED = 32, 400, 64


@register
class PipelineShapes(Check):
    notebook, cell = NB, "test_pipeline_shapes"
    hints = {
        "raw_texts": "one string per review: (BATCH,).",
        "standardized": "the vectorizer's call hands standardize the (BATCH,) texts as they "
        "came, and standardize keeps the shape: (BATCH,) (only adapt on a list of texts hands "
        "it (N, 1)).",
        "ids": "TextVectorization adds the sequence axis: (BATCH, SEQ_LEN).",
        "labels": "one label per review: (BATCH,).",
        "embedded": "the embedding adds a feature axis of size 64: (BATCH, SEQ_LEN, 64).",
    }

    def cases(self):
        yield case("PIPELINE_SHAPES for BATCH = 32, SEQ_LEN = 400, Embedding(MAX_TOKENS, 64)")

    def expected(self, inputs):
        return {
            "raw_texts": (BATCH,),
            "standardized": (BATCH,),
            "ids": (BATCH, SEQ_LEN),
            "labels": (BATCH,),
            "embedded": (BATCH, SEQ_LEN, EMBED),
        }

    def judge(self, case, got, want):
        shapes = _value(got, "shapes", dict, "PIPELINE_SHAPES as a dict")
        for key, shape in want.items():
            value = shapes.get(key)
            ok = isinstance(value, (tuple, list)) and all(
                isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_))
                for d in value
            )
            if not ok:
                fail(
                    f"PIPELINE_SHAPES[{key!r}] should be a tuple of ints, got {_nice(value)}.",
                    self.hints[key],
                )
            if tuple(int(d) for d in value) != shape:
                fail(
                    f"PIPELINE_SHAPES[{key!r}]: expected {shape}, got "
                    f"{tuple(int(d) for d in value)}.",
                    self.hints[key],
                )
