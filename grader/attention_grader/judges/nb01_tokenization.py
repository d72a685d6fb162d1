"""Trusted checks of 01_tokenization: vocabulary, encode/decode, BPE, one-hot, embeddings,
cosine similarity, nearest neighbours. References are written here, independently of the
notebook's solutions."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import numpy as np

from attention_course import wire
from attention_course.checks import check_close, check_equal, check_shape, fail

from ..judging import (
    Case,
    Check,
    Observed,
    any_spelling,
    case,
    describe,
    recorded_calls,
    register,
    sealed,
)

NB = "01_tokenization"
PAD, UNK = "<pad>", "<unk>"


def _plain_dict(got: Observed, name: str) -> dict:
    value = got.raw(name)
    if not isinstance(value, dict):
        fail(f"{got.label}: {name} should be a dict, got {type(value).__name__}.")
    return value


def _str_list(got: Observed, name: str) -> list[str]:
    value = got.raw(name)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        fail(f"{got.label}: {name} should be a list of strings, got {value!r:.120}.")
    return list(value)


def _pairs(got: Observed, name: str) -> list[tuple[str, str]]:
    value = got.raw(name)
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(s, str) for s in p)
        for p in value
    ):
        fail(f"{got.label}: {name} should be a list of (left, right) string pairs.")
    return [tuple(p) for p in value]


# ------------------------------------------------------------------------ references


def ref_vocab(
    token_lists: list[list[str]], max_size: int | None = None, min_freq: int = 1
) -> dict[str, int]:
    counts = Counter(t for tokens in token_lists for t in tokens if t not in (PAD, UNK))
    ranked = sorted((t for t in counts if counts[t] >= min_freq), key=lambda t: (-counts[t], t))
    if max_size is not None:
        ranked = ranked[: max(max_size - 2, 0)]
    return {PAD: 0, UNK: 1, **{t: i + 2 for i, t in enumerate(ranked)}}


def ref_pair_counts(word_freqs: dict[tuple[str, ...], int]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for symbols, freq in word_freqs.items():
        for pair in zip(symbols, symbols[1:], strict=False):
            out[pair] = out.get(pair, 0) + freq
    return out


def ref_merge(
    word_freqs: dict[tuple[str, ...], int], pair: tuple[str, str]
) -> dict[tuple[str, ...], int]:
    out: dict[tuple[str, ...], int] = {}
    for symbols, freq in word_freqs.items():
        merged, i = [], 0
        while i < len(symbols):
            if tuple(symbols[i : i + 2]) == tuple(pair):
                merged.append(pair[0] + pair[1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        out[tuple(merged)] = out.get(tuple(merged), 0) + freq
    return out


def ref_learn(
    word_counts: dict[str, int], num_merges: int, pair_counts=None, merge_pair=None
) -> list[tuple[str, str]]:
    pair_counts, merge_pair = pair_counts or ref_pair_counts, merge_pair or ref_merge
    word_freqs = {tuple(w) + ("</w>",): c for w, c in word_counts.items()}
    merges: list[tuple[str, str]] = []
    for _ in range(num_merges):
        counts = pair_counts(word_freqs)
        if not counts:
            break
        top = max(counts.values())
        merges.append(min(p for p, n in counts.items() if n == top))
        word_freqs = merge_pair(word_freqs, merges[-1])
    pair_counts(word_freqs)  # a loop may count the pairs once more before it stops
    return merges


# The notebook's signatures (parameter names) of the functions that stand in.
def _pair_counts_params(word_freqs): ...


def _merge_pair_params(word_freqs, pair): ...


def _cosine_params(A, B): ...


def _learn_bpe_stand_ins(word_counts: dict[str, int], num_merges: int) -> dict:
    """What pair_counts and merge_pair answer while learn_bpe is graded: the calls a correct
    learn_bpe makes, with the references' results (values only)."""
    tables = recorded_calls(
        lambda pair_counts, merge_pair: ref_learn(word_counts, num_merges, pair_counts, merge_pair),
        pair_counts=ref_pair_counts,
        merge_pair=ref_merge,
    )
    return sealed(
        any_spelling(tables, pair_counts=_pair_counts_params, merge_pair=_merge_pair_params)
    )


def _bpe_encode_stand_ins(word: str, merges: list[tuple[str, str]]) -> dict:
    """What merge_pair answers while bpe_encode is graded (for a bpe_encode that reuses it:
    the word as a one-word corpus ``{symbols: 1}``, one call per merge)."""

    def run(merge_pair):
        word_freqs = {tuple(word) + ("</w>",): 1}
        for pair in merges:
            word_freqs = merge_pair(word_freqs, tuple(pair))

    return sealed(
        any_spelling(recorded_calls(run, merge_pair=ref_merge), merge_pair=_merge_pair_params)
    )


def _neighbours_stand_ins(word: str, vocab: dict[str, int], embeddings: np.ndarray) -> dict:
    """What cosine_similarity answers while nearest_neighbours is graded: the word's row
    against every row (as (1, d) and (n, d) in either order) and all rows against all."""

    def run(cosine_similarity):
        if word in vocab:
            row = np.asarray(embeddings)[vocab[word]][None]
            cosine_similarity(row, embeddings)
            cosine_similarity(embeddings, row)
        cosine_similarity(embeddings, embeddings)

    return sealed(
        any_spelling(
            recorded_calls(run, cosine_similarity=ref_cosine), cosine_similarity=_cosine_params
        )
    )


def ref_bpe_encode(word: str, merges: list[tuple[str, str]]) -> list[str]:
    symbols = tuple(word) + ("</w>",)
    for pair in merges:
        (symbols,) = ref_merge({symbols: 1}, pair).keys()
    return list(symbols)


def ref_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, float), np.asarray(b, float)
    na, nb = np.linalg.norm(a, axis=1, keepdims=True), np.linalg.norm(b, axis=1, keepdims=True)
    return (a / np.where(na == 0, 1, na)) @ (b / np.where(nb == 0, 1, nb)).T


# ------------------------------------------------------------------------ vocabulary


def _vocab_case(label: str, token_lists: list[list[str]], **options: Any) -> Case:
    return case(label, token_lists=token_lists, options=options)


def _real(vocab: dict) -> dict:
    return {t: i for t, i in vocab.items() if t not in (PAD, UNK)}


def _check_vocab_type(got: Observed) -> dict:
    vocab = _plain_dict(got, "vocab")
    for token, index in vocab.items():
        if not isinstance(token, str) or not _is_integer(index):
            fail(
                f"{got.label}: the vocabulary maps {token!r} to {index!r}: expected "
                "str -> integer id."
            )
    return vocab


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


@register
class BuildVocabReservedIds(Check):
    notebook, cell = NB, "test_build_vocab_reserved_ids"

    def cases(self):
        yield _vocab_case(
            "build_vocab([['b', 'a', 'b'], ['c', 'a', 'b']])", [["b", "a", "b"], ["c", "a", "b"]]
        )
        yield _vocab_case(
            "build_vocab of data containing '<pad>' and '<unk>'",
            [["<unk>", "x", "<pad>", "x", "<unk>", "<unk>"]],
        )
        yield _vocab_case("build_vocab([])", [])
        yield _vocab_case("build_vocab(..., max_size=2)", [["a", "b"]], max_size=2)
        yield _vocab_case(
            "build_vocab([['to', 'be', 'or', 'not', 'to', 'be']])",
            [["to", "be", "or", "not", "to", "be"]],
        )

    def expected(self, inputs):
        """The tokens the vocabulary must hold (without options: every token of the texts),
        and the tokens it may hold (with max_size or min_freq: any subset of them)."""
        allowed = {PAD, UNK} | {t for tokens in inputs["token_lists"] for t in tokens}
        return {"exact": not inputs["options"], "allowed": sorted(allowed)}

    def judge(self, case, got, want):
        vocab = _check_vocab_type(got)
        if want["exact"]:
            check_equal(
                sorted(vocab),
                want["allowed"],
                name=f"the tokens of {case.label}",
                hint="the vocabulary holds <pad>, <unk> and every real token of the texts, "
                "each once (build it from token_lists).",
            )
        else:
            unknown = sorted(set(vocab) - set(want["allowed"]))
            if unknown:
                fail(
                    f"{case.label}: the vocabulary holds {unknown[:5]!r}, which are not tokens "
                    "of the texts.",
                    "the vocabulary holds <pad>, <unk> and tokens of token_lists only.",
                )
        check_equal(
            vocab.get(PAD),
            0,
            name=f'vocab["<pad>"] of {case.label}',
            hint="id 0 is reserved for padding.",
        )
        check_equal(
            vocab.get(UNK),
            1,
            name=f'vocab["<unk>"] of {case.label}',
            hint="id 1 is reserved for unknown tokens.",
        )
        check_equal(
            sorted(vocab.values()),
            list(range(len(vocab))),
            name=f"ids of {case.label}",
            hint="ids are 0..len(vocab)-1 with no gaps or duplicates: skip the reserved "
            "strings when you count tokens.",
        )


@register
class BuildVocabOrder(Check):
    notebook, cell = NB, "test_build_vocab_order"

    def cases(self):
        yield _vocab_case("the example vocabulary", [["b", "a", "b"], ["c", "a", "b"]])
        yield _vocab_case(
            "tied counts", [["zeta", "alpha", "mid"], ["mid", "zeta", "alpha"], ["omega"]]
        )
        rng = random.Random(7)
        words = [f"w{i:02d}" for i in range(30)]
        for trial in range(3):
            texts = [
                [rng.choice(words[: 5 + 8 * trial]) for _ in range(rng.randint(1, 12))]
                for _ in range(25)
            ]
            yield _vocab_case(f"random texts #{trial}", texts)

    def expected(self, inputs):
        return _real(ref_vocab(inputs["token_lists"]))

    def judge(self, case, got, want):
        check_equal(
            _real(_check_vocab_type(got)),
            want,
            name=f"real tokens of {case.label}",
            hint="real tokens start at id 2: decreasing count, ties alphabetical (not "
            "by first appearance).",
        )


@register
class BuildVocabLimits(Check):
    notebook, cell = NB, "test_build_vocab_limits"

    def cases(self):
        example = [["a", "a", "a", "b", "b", "c"], ["a", "b", "d"]]
        texts = [["p"] * 5 + ["q"] * 4 + ["r"] * 3 + ["s"] * 2 + ["t"]]
        yield _vocab_case("build_vocab(texts, min_freq=2)", example, min_freq=2)
        yield _vocab_case("build_vocab(texts, max_size=4)", texts, max_size=4)
        yield _vocab_case("build_vocab(texts, max_size=50)", texts, max_size=50)
        yield _vocab_case(
            "build_vocab(texts, min_freq=3, max_size=10)", texts, min_freq=3, max_size=10
        )
        yield _vocab_case("build_vocab(texts, min_freq=6)", texts, min_freq=6)
        yield _vocab_case(
            "build_vocab(texts, max_size=3, min_freq=2)", texts, max_size=3, min_freq=2
        )
        # the most frequent token appears last: max_size keeps the most frequent, not the first
        yield _vocab_case(
            "build_vocab([['c', 'b', 'a', 'a', 'a', 'b']], max_size=4)",
            [["c", "b", "a", "a", "a", "b"]],
            max_size=4,
        )
        # ties straddle the cut: of the equally frequent tokens, the alphabetically first get in
        # (they appear in another order, so first appearance or Counter.most_common differ)
        tied = [["m", "m", "m", "k", "d", "b", "k", "d", "b", "z"]]
        yield _vocab_case("build_vocab(texts with a tie at the cut, max_size=4)", tied, max_size=4)
        yield _vocab_case("build_vocab(texts with a tie at the cut, max_size=5)", tied, max_size=5)
        # y occurs once in each of two texts, z twice in one: min_freq counts over all texts
        yield _vocab_case(
            "build_vocab([['x', 'y'], ['y', 'x'], ['x', 'z', 'z']], min_freq=2)",
            [["x", "y"], ["y", "x"], ["x", "z", "z"]],
            min_freq=2,
        )

    def expected(self, inputs):
        return _real(ref_vocab(inputs["token_lists"], **inputs["options"]))

    def judge(self, case, got, want):
        check_equal(
            _real(_check_vocab_type(got)),
            want,
            name=case.label,
            hint="drop tokens seen fewer than min_freq times over all texts (count every "
            "occurrence); max_size counts the two reserved entries: keep the max_size - 2 most "
            "frequent real tokens (sort first, ties alphabetical, then cut).",
        )


# ------------------------------------------------------------------------ encode / decode


@register
class EncodeDecode(Check):
    notebook, cell = NB, "test_encode_decode"
    toy = {"<pad>": 0, "<unk>": 1, "the": 2, "movie": 3, "was": 4, "great": 5}
    v = {"<pad>": 0, "<unk>": 1, "x": 2, "y": 3, "z": 4}

    def cases(self):
        yield case(
            "encode(['the', 'movie', 'was', 'boring'])",
            op="encode",
            tokens=["the", "movie", "was", "boring"],
            vocab=self.toy,
        )
        yield case(
            "decode([2, 3, 4, 5, 0, 0])", op="decode", ids=[2, 3, 4, 5, 0, 0], vocab=self.toy
        )
        yield case("encode([])", op="encode", tokens=[], vocab=self.v)
        yield case(
            "encode(['<pad>', 'q', 'z', 'z', '<unk>']) (literal reserved strings)",
            op="encode",
            tokens=["<pad>", "q", "z", "z", "<unk>"],
            vocab=self.v,
        )
        yield case(
            "decode of a NumPy array with padding in the middle",
            op="decode",
            ids=np.array([4, 0, 2, 3, 0]),
            vocab=self.v,
        )
        yield case("decode([2, 99]) (99 is not a known id)", op="decode", ids=[2, 99], vocab=self.v)
        yield case("decode([])", op="decode", ids=[], vocab=self.v)
        yield case(
            "decode(encode(tokens))",
            op="roundtrip",
            tokens=["y", "q", "x", "x", "unseen"],
            vocab=self.v,
        )

    def expected(self, inputs):
        vocab = inputs["vocab"]
        inverse = {i: t for t, i in vocab.items()}
        encode = [vocab.get(t, 1) for t in inputs.get("tokens", [])]
        ids = encode if inputs["op"] == "roundtrip" else list(inputs.get("ids", []))
        decode = [inverse.get(int(i), UNK) for i in ids if int(i) != 0]
        return encode if inputs["op"] == "encode" else decode

    def error_hint(self, error):
        if error.type_name in ("KeyError", "IndexError"):
            return "decode turns an id that is not in the vocabulary into '<unk>'."
        if "truth value" in error.message:
            return "ids may be a NumPy array: do not test it with `if not ids` or `ids == []`."
        return None

    def judge(self, case, got, want):
        value = got.raw("out")
        if case.inputs["op"] == "encode":
            if not isinstance(value, (list, tuple)) or not all(_is_integer(i) for i in value):
                fail(
                    f"{case.label} should return a list of integer ids, got {describe(value)}.",
                    "build a Python list (not a NumPy array) of ids.",
                )
            check_equal(
                [int(i) for i in value],
                want,
                name=case.label,
                hint="unknown tokens map to UNK_ID = 1; every token is looked up in vocab, "
                "so a literal '<pad>' gets id 0.",
            )
        else:
            check_equal(
                _str_list(got, "out"),
                want,
                name=case.label,
                hint="padding (id 0) is skipped; ids not in the vocabulary become '<unk>'.",
            )


# ------------------------------------------------------------------------ BPE


def _word_freqs_label(word_freqs: dict) -> str:
    return ", ".join(f"{' '.join(w)}: {n}" for w, n in list(word_freqs.items())[:3])


@register
class PairCounts(Check):
    notebook, cell = NB, "test_pair_counts"

    def cases(self):
        yield case(
            "pair_counts(example)",
            word_freqs={("l", "o", "w", "</w>"): 5, ("l", "o", "w", "e", "r", "</w>"): 2},
        )
        yield case(
            "pair_counts of a word with a repeated pair", word_freqs={("a", "a", "a", "</w>"): 3}
        )
        yield case("pair_counts of a one-symbol word", word_freqs={("x",): 4})
        yield case(
            "pair_counts with merged symbols",
            word_freqs={("ab", "c", "</w>"): 1, ("c", "ab", "</w>"): 10},
        )
        rng = random.Random(11)
        for trial in range(3):
            wf = {}
            for _ in range(12):
                word = tuple(rng.choice("abcd") for _ in range(rng.randint(1, 6))) + ("</w>",)
                wf[word] = rng.randint(1, 9)
            yield case(f"pair_counts of a random corpus #{trial}", word_freqs=wf)

    def expected(self, inputs):
        return ref_pair_counts(inputs["word_freqs"])

    def judge(self, case, got, want):
        counts = _plain_dict(got, "counts")
        check_equal(
            counts,
            want,
            name=case.label,
            hint="weight each pair by the count of its word; every adjacent position "
            "counts (also overlapping ones); never pair across words.",
        )


@register
class MergePair(Check):
    notebook, cell = NB, "test_merge_pair"

    def cases(self):
        yield case(
            "merge ('l', 'o')",
            word_freqs={("l", "o", "w", "</w>"): 5, ("l", "o", "w", "e", "r", "</w>"): 2},
            pair=("l", "o"),
        )
        yield case(
            "merge ('a', 'a') in a a a", word_freqs={("a", "a", "a", "</w>"): 2}, pair=("a", "a")
        )
        yield case(
            "merge ('a', 'a') in a a a a",
            word_freqs={("a", "a", "a", "a", "</w>"): 1},
            pair=("a", "a"),
        )
        yield case(
            "merge ('a', 'b') next to 'xa'",
            word_freqs={("xa", "b", "</w>"): 3, ("a", "b", "</w>"): 1},
            pair=("a", "b"),
        )
        yield case(
            "merge with the end-of-word marker",
            word_freqs={("e", "s", "t", "</w>"): 4},
            pair=("t", "</w>"),
        )
        yield case(
            "merge of an absent pair", word_freqs={("n", "e", "w", "</w>"): 6}, pair=("z", "z")
        )

    def expected(self, inputs):
        return ref_merge(inputs["word_freqs"], inputs["pair"])

    def judge(self, case, got, want):
        merged = _plain_dict(got, "merged")
        check_equal(
            merged,
            want,
            name=case.label,
            hint="scan left to right and continue after a merged pair (a a a -> aa a), "
            "compare whole symbols (('xa', 'b') has no pair ('a', 'b')).",
        )
        check_equal(
            _plain_dict(got, "input_after"),
            case.inputs["word_freqs"],
            name=f"the input dict after {case.label}",
            hint="return a new dict; do not modify the argument.",
        )
        if got.raw("returned_input") is not False:
            fail(
                f"{case.label} returned the dict it was given.",
                "return a new dict, even when the pair does not occur.",
            )


@register
class LearnBpe(Check):
    notebook, cell = NB, "test_learn_bpe"

    def cases(self):
        for c in self._cases():
            inputs = c.inputs
            yield case(
                c.label,
                stand_ins=_learn_bpe_stand_ins(inputs["word_counts"], inputs["num_merges"]),
                **inputs,
            )

    def _cases(self):
        yield case(
            "learn_bpe(corpus, 5)",
            word_counts={"low": 5, "lower": 2, "newest": 6, "widest": 3},
            num_merges=5,
        )
        yield case(
            "learn_bpe({'a': 5, 'b': 4, 'ab': 1}, 6)",
            word_counts={"a": 5, "b": 4, "ab": 1},
            num_merges=6,
        )
        yield case("learn_bpe with ties", word_counts={"abcab": 1, "cab": 2, "bc": 1}, num_merges=3)
        yield case("learn_bpe({'ab': 3}, 10)", word_counts={"ab": 3}, num_merges=10)
        yield case("learn_bpe(..., 0)", word_counts={"abc": 2}, num_merges=0)
        rng = random.Random(5)
        for trial in range(3):
            counts = {
                "".join(rng.choice("abcde") for _ in range(rng.randint(2, 7))): rng.randint(1, 20)
                for _ in range(15)
            }
            yield case(f"learn_bpe on random corpus #{trial}", word_counts=counts, num_merges=12)

    def expected(self, inputs):
        return ref_learn(inputs["word_counts"], inputs["num_merges"])

    def error_hint(self, error):
        if error.type_name == "ValueError" and "empty" in error.message:
            return "stop early when no pair is left (every word is a single symbol)."
        return None

    def judge(self, case, got, want):
        merges = _pairs(got, "merges")
        for left, right in merges:
            if left.endswith("</w>"):
                fail(
                    f"{case.label} learned the merge {(left, right)}, which crosses a word "
                    "boundary.",
                    "count pairs inside each word only.",
                )
        check_equal(
            merges,
            want,
            name=case.label,
            hint="weight pairs by word counts; pick the highest count, among equal counts "
            "the smallest pair (min); stop when no pair is left.",
        )


@register
class BpeEncode(Check):
    notebook, cell = NB, "test_bpe_encode"
    merges = [("e", "s"), ("es", "t"), ("est", "</w>"), ("l", "o"), ("lo", "w")]

    def cases(self):
        for c in self._cases():
            stand_ins = _bpe_encode_stand_ins(c.inputs["word"], c.inputs["merges"])
            yield case(c.label, stand_ins=stand_ins, **c.inputs)

    def _cases(self):
        yield case('bpe_encode("lowest")', word="lowest", merges=self.merges)
        yield case(
            'bpe_encode("abc", [("b", "c"), ("a", "b")])',
            word="abc",
            merges=[("b", "c"), ("a", "b")],
        )
        yield case('bpe_encode("")', word="", merges=[("a", "b")])
        yield case("bpe_encode of unseen characters", word="xyz", merges=self.merges)
        yield case(
            "bpe_encode('aaaa', [('a','a'), ('aa','aa')])",
            word="aaaa",
            merges=[("a", "a"), ("aa", "aa")],
        )
        yield case(
            "bpe_encode('abcd', ...) (order matters)",
            word="abcd",
            merges=[("c", "d"), ("b", "c"), ("a", "b")],
        )
        yield case(
            'bpe_encode("abc", [("a", "b"), ("b", "c")]) (whole symbols)',
            word="abc",
            merges=[("a", "b"), ("b", "c")],
        )
        rng = random.Random(3)
        for trial in range(4):
            pool = ["a", "b", "c", "d", "</w>"]
            merges = []
            for _ in range(10):
                pair = (rng.choice(pool), rng.choice(pool[:-1]))
                merges.append(pair)
                pool.append(pair[0] + pair[1])
            word = "".join(rng.choice("abcd") for _ in range(rng.randint(1, 9)))
            yield case(
                f"bpe_encode({word!r}) with random merges #{trial}", word=word, merges=merges
            )

    def expected(self, inputs):
        return ref_bpe_encode(inputs["word"], inputs["merges"])

    def judge(self, case, got, want):
        check_equal(
            _str_list(got, "symbols"),
            want,
            name=case.label,
            hint="start from the characters plus '</w>' and apply the merges in the "
            "order they were learned, each to every occurrence in the word, left to right, "
            "on whole symbols (after ('a', 'b'), 'ab' no longer contains the symbol 'b').",
        )


# ------------------------------------------------------------------------ vectors


@register
class OneHot(Check):
    notebook, cell = NB, "test_one_hot"

    def cases(self):
        yield case(
            "one_hot([[2, 0, 1], [1, 1, 3]], 4)", ids=np.array([[2, 0, 1], [1, 1, 3]]), vocab_size=4
        )
        rng = np.random.default_rng(21)
        for shape, vocab_size in [((3, 5), 7), ((1, 1), 2), ((2, 6), 11)]:
            yield case(
                f"one_hot of ids with shape {shape}, vocab_size {vocab_size}",
                ids=rng.integers(0, vocab_size, size=shape),
                vocab_size=vocab_size,
            )
        yield case("one_hot of the last id", ids=np.array([[6]]), vocab_size=7)
        # "ids of any shape": not only (batch, seq_len)
        yield case(
            "one_hot of 1-D ids (shape (5,)), vocab_size 6",
            ids=rng.integers(0, 6, size=5),
            vocab_size=6,
        )
        yield case(
            "one_hot of 3-D ids (shape (2, 3, 4)), vocab_size 5",
            ids=rng.integers(0, 5, size=(2, 3, 4)),
            vocab_size=5,
        )

    def expected(self, inputs):
        ids = inputs["ids"]
        return (ids[..., None] == np.arange(inputs["vocab_size"])).astype(np.float64)

    def judge(self, case, got, want):
        value = got.array("encoded", kind="f")
        check_shape(
            value,
            want.shape,
            name=case.label,
            hint="output shape = ids.shape + (vocab_size,) for ids of any shape: the new axis "
            "goes last.",
        )
        if value.dtype.kind != "f":
            fail(
                f"{case.label}: expected a float array, got dtype {value.dtype}.",
                "one-hot vectors are floats (0.0 and 1.0), not booleans or integers.",
            )
        check_close(value, want, name=case.label)


@register
class EmbeddingLookup(Check):
    notebook, cell = NB, "test_embedding_lookup"

    def cases(self):
        yield case(
            "embedding_lookup(ids (1, 2), W (4, 3))",
            ids=np.array([[3, 0]]),
            weights=np.arange(12, dtype=np.float32).reshape(4, 3),
        )
        rng = np.random.default_rng(4)
        for batch, seq_len, vocab_size, dim in [(2, 5, 7, 3), (1, 1, 3, 6), (3, 4, 9, 9)]:
            yield case(
                f"embedding_lookup for batch {batch}, seq_len {seq_len}, W ({vocab_size}, {dim})",
                ids=rng.integers(0, vocab_size, size=(batch, seq_len)),
                weights=rng.normal(size=(vocab_size, dim)),
            )

    def expected(self, inputs):
        ids, weights = inputs["ids"], inputs["weights"]
        return (ids[..., None] == np.arange(len(weights))).astype(float) @ weights  # one-hot @ W

    def judge(self, case, got, want):
        value = got.array("vectors", kind="f")
        check_shape(
            value,
            want.shape,
            name=case.label,
            hint="select rows of W (vocab_size, d): (batch, seq_len, d).",
        )
        check_close(value, want, name=case.label, hint="token id i selects row i of W.")


@register
class CosineSimilarity(Check):
    notebook, cell = NB, "test_cosine_similarity"

    def cases(self):
        yield case(
            "cosine_similarity(A (3, 2), B (2, 2))",
            a=np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 3.0]]),
            b=np.array([[2.0, 0.0], [0.0, -1.0]]),
        )
        rng = np.random.default_rng(8)
        for n, m, d in [(4, 5, 3), (1, 1, 7), (6, 2, 2)]:
            yield case(
                f"cosine_similarity of random ({n}, {d}) and ({m}, {d}) of different lengths",
                a=rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=(n, 1)),
                b=rng.normal(size=(m, d)) * rng.uniform(0.1, 10, size=(m, 1)),
            )
        zero = np.array([[0.0, 0.0], [1.0, 2.0]])
        yield case("cosine_similarity with a zero vector", a=zero, b=zero)

    def expected(self, inputs):
        return ref_cosine(inputs["a"], inputs["b"])

    def judge(self, case, got, want):
        value = got.array("similarity", kind="f")
        check_shape(value, want.shape, name=case.label, hint="(n, d) and (m, d) give (n, m).")
        check_close(
            value,
            want,
            name=case.label,
            rtol=1e-4,
            atol=1e-6,
            hint="divide the dot products by both vector lengths; a zero vector has "
            "similarity 0, not NaN.",
        )


@register
class NearestNeighbours(Check):
    notebook, cell = NB, "test_nearest_neighbours"

    def cases(self):
        for c in self._cases():
            inputs = c.inputs
            stand_ins = _neighbours_stand_ins(inputs["word"], inputs["vocab"], inputs["embeddings"])
            yield case(c.label, stand_ins=stand_ins, **inputs)

    def _cases(self):
        yield case(
            'nearest_neighbours("cat", k=2)',
            word="cat",
            vocab={"cat": 0, "dog": 1, "car": 2, "kitten": 3},
            embeddings=np.array([[1.0, 0.1], [0.9, 0.3], [0.0, 1.0], [2.0, 0.25]]),
            k=2,
        )
        rng = np.random.default_rng(17)
        words = [f"w{i}" for i in range(12)]
        vocab = {w: i for i, w in enumerate(words)}
        embeddings = rng.normal(size=(12, 5)) * rng.uniform(0.2, 5, size=(12, 1))
        for query in ["w0", "w7", "w11"]:
            for k in (1, 4):
                yield case(
                    f"nearest_neighbours({query!r}, k={k})",
                    word=query,
                    vocab=vocab,
                    embeddings=embeddings,
                    k=k,
                )
        # exact ties (vectors scaled by powers of 2): equal similarities by row index, and
        # "twin" (row 1) points exactly like "query" (row 4): exclude the word, not the first
        # row of the ranking; the order of the vocab dict is not the order of the rows
        tied = np.array(
            [[0, 1], [4, 0], [1, 1], [0, -2], [1, 0], [2, -2], [4, 4], [-1, 0]], dtype=float
        )
        tied_vocab = {
            "query": 4,
            "delta": 6,
            "alpha": 5,
            "foxtrot": 7,
            "echo": 0,
            "bravo": 3,
            "charlie": 2,
            "twin": 1,
        }
        yield case(
            'nearest_neighbours("query", k=6) with equal similarities',
            word="query",
            vocab=tied_vocab,
            embeddings=tied,
            k=6,
        )
        yield case(
            'nearest_neighbours("alpha", k=3) with equal similarities',
            word="alpha",
            vocab=tied_vocab,
            embeddings=tied,
            k=3,
        )
        yield case(
            "nearest_neighbours of an unknown word",
            word="not-a-word",
            vocab=vocab,
            embeddings=embeddings,
            k=3,
        )

    def expected(self, inputs):
        vocab, word = inputs["vocab"], inputs["word"]
        if word not in vocab:
            return None
        sims = ref_cosine(inputs["embeddings"][vocab[word]][None], inputs["embeddings"])[0]
        id_to_word = {i: w for w, i in vocab.items()}
        order = [id_to_word[i] for i in np.argsort(-sims, kind="stable") if i != vocab[word]]
        return order[: inputs["k"]]

    def judge(self, case, got, want):
        if want is None:
            value = got.values.get("neighbours")
            if not (isinstance(value, wire.Raised) and value.type_name == "KeyError"):
                if isinstance(value, wire.Raised):
                    came = f"raised {value!r}"
                else:
                    came = f"returned {describe(value)}"
                fail(
                    f"{case.label} should raise KeyError; your function {came}.",
                    "an unknown word raises KeyError (vocab[word]).",
                )
            return
        check_equal(
            _str_list(got, "neighbours"),
            want,
            name=case.label,
            hint="exclude the word itself (by its row, not by its place in the ranking); rank "
            "by cosine similarity (vector lengths differ), most similar first, equal "
            "similarities by row index; vocab[word] is the row (the dict's order is not).",
        )
