"""Typical mistakes in 01_tokenization, and a different but correct solution.

Each mistake is a small edit of the instructor solution (or a replacement cell) and
names the test cells it must fail; every other test must keep its points.
"""

from ..submissions import Mistake

MISTAKES = {
    "vocab_specials_swapped": Mistake(
        why="<unk> and <pad> get each other's ids",
        breaks=frozenset({"test_build_vocab_reserved_ids"}),
        edits={"build_vocab": [("vocab = {PAD: PAD_ID, UNK: UNK_ID}", "vocab = {UNK: 0, PAD: 1}")]},
    ),
    "vocab_reserved_strings_counted": Mistake(
        why="a literal '<unk>' in the data is counted as a token and overwrites the reserved id",
        breaks=frozenset({"test_build_vocab_reserved_ids"}),
        edits={"build_vocab": [("    counts.pop(PAD, None)\n    counts.pop(UNK, None)\n", "")]},
    ),
    "vocab_constant": Mistake(
        why="returns only the two reserved entries, whatever the texts (a constant vocabulary)",
        breaks=frozenset(
            {"test_build_vocab_reserved_ids", "test_build_vocab_order", "test_build_vocab_limits"}
        ),
        replace={
            "build_vocab": """
def build_vocab(token_lists, max_size=None, min_freq=1):
    return {PAD: PAD_ID, UNK: UNK_ID}
"""
        },
    ),
    "vocab_ties_by_first_appearance": Mistake(
        why="Counter.most_common order: ties keep first appearance instead of alphabetical "
        "(in the order and at the max_size cut)",
        breaks=frozenset({"test_build_vocab_order", "test_build_vocab_limits"}),
        edits={
            "build_vocab": [
                (
                    "kept.sort(key=lambda tok: (-counts[tok], tok))",
                    "kept.sort(key=lambda tok: -counts[tok])",
                )
            ]
        },
    ),
    "vocab_ignores_min_freq_and_max_size": Mistake(
        why="min_freq and max_size are accepted but not applied",
        breaks=frozenset({"test_build_vocab_limits"}),
        edits={
            "build_vocab": [
                ("if n >= min_freq]", "]"),
                ("kept = kept[: max(max_size - 2, 0)]", "pass"),
            ]
        },
    ),
    "vocab_max_size_without_specials": Mistake(
        why="max_size counts real tokens only (the reserved entries are forgotten)",
        breaks=frozenset({"test_build_vocab_limits"}),
        edits={"build_vocab": [("kept = kept[: max(max_size - 2, 0)]", "kept = kept[:max_size]")]},
    ),
    "vocab_sorted_alphabetically": Mistake(
        why="real tokens sorted alphabetically only, not by decreasing frequency (so max_size "
        "does not keep the most frequent ones either)",
        breaks=frozenset({"test_build_vocab_order", "test_build_vocab_limits"}),
        edits={"build_vocab": [("kept.sort(key=lambda tok: (-counts[tok], tok))", "kept.sort()")]},
    ),
    "vocab_max_size_before_sorting": Mistake(
        why="max_size keeps the first tokens seen, then sorts them (not the most frequent)",
        breaks=frozenset({"test_build_vocab_limits"}),
        edits={
            "build_vocab": [
                (
                    "    kept.sort(key=lambda tok: (-counts[tok], tok))\n"
                    "    if max_size is not None:\n"
                    "        kept = kept[: max(max_size - 2, 0)]\n",
                    "    if max_size is not None:\n"
                    "        kept = kept[: max(max_size - 2, 0)]\n"
                    "    kept.sort(key=lambda tok: (-counts[tok], tok))\n",
                )
            ]
        },
    ),
    "vocab_max_size_cut_by_most_common": Mistake(
        why="max_size keeps Counter.most_common's first tokens (ties by first appearance), "
        "then sorts them: the order is right, but a tie at the cut lets the wrong token in",
        breaks=frozenset({"test_build_vocab_limits"}),
        edits={
            "build_vocab": [
                (
                    "    kept.sort(key=lambda tok: (-counts[tok], tok))\n"
                    "    if max_size is not None:\n"
                    "        kept = kept[: max(max_size - 2, 0)]\n",
                    "    if max_size is not None:\n"
                    "        kept = [tok for tok, _ in counts.most_common() if tok in kept]\n"
                    "        kept = kept[: max(max_size - 2, 0)]\n"
                    "    kept.sort(key=lambda tok: (-counts[tok], tok))\n",
                )
            ]
        },
    ),
    "vocab_min_freq_counts_texts": Mistake(
        why="min_freq compared with the number of texts containing a token, not its count",
        breaks=frozenset({"test_build_vocab_limits"}),
        edits={
            "build_vocab": [
                (
                    "kept = [tok for tok, n in counts.items() if n >= min_freq]",
                    "kept = [tok for tok in counts\n"
                    "            if sum(tok in tokens for tokens in token_lists) >= min_freq]",
                )
            ]
        },
    ),
    "encode_unknown_as_padding": Mistake(
        why="unknown tokens are encoded as 0 (<pad>) instead of 1 (<unk>)",
        breaks=frozenset({"test_encode_decode"}),
        edits={"encode_decode": [("vocab.get(tok, UNK_ID)", "vocab.get(tok, 0)")]},
    ),
    "encode_reserved_strings_as_unknown": Mistake(
        why="a literal '<pad>' or '<unk>' in the text is encoded as UNK_ID instead of looked up",
        breaks=frozenset({"test_encode_decode"}),
        edits={
            "encode_decode": [
                (
                    "return [vocab.get(tok, UNK_ID) for tok in tokens]",
                    "return [UNK_ID if tok in (PAD, UNK) else vocab.get(tok, UNK_ID) "
                    "for tok in tokens]",
                )
            ]
        },
    ),
    "decode_keeps_padding": Mistake(
        why="decode returns '<pad>' tokens",
        breaks=frozenset({"test_encode_decode"}),
        edits={"encode_decode": [(" if int(i) != PAD_ID]", "]")]},
    ),
    "encode_returns_array": Mistake(
        why="encode returns a NumPy array instead of the list of ids",
        breaks=frozenset({"test_encode_decode"}),
        edits={
            "encode_decode": [
                (
                    "return [vocab.get(tok, UNK_ID) for tok in tokens]",
                    "return np.array([vocab.get(tok, UNK_ID) for tok in tokens])",
                )
            ]
        },
    ),
    "decode_unknown_id_raises": Mistake(
        why="decode looks ids up with inverse[i]: an id not in the vocabulary raises KeyError",
        breaks=frozenset({"test_encode_decode"}),
        edits={"encode_decode": [("inverse.get(int(i), UNK)", "inverse[int(i)]")]},
    ),
    "decode_fails_on_numpy_arrays": Mistake(
        why="`if not ids` raises for a NumPy array of several ids",
        breaks=frozenset({"test_encode_decode"}),
        edits={
            "encode_decode": [
                (
                    "    inverse = {i: tok for tok, i in vocab.items()}\n",
                    "    if not ids:\n        return []\n"
                    "    inverse = {i: tok for tok, i in vocab.items()}\n",
                )
            ]
        },
    ),
    "pair_counts_unweighted": Mistake(
        why="pairs counted once per distinct word, ignoring word frequency",
        breaks=frozenset({"test_pair_counts"}),
        edits={"pair_counts": [("counts[(left, right)] += freq", "counts[(left, right)] += 1")]},
    ),
    "pair_counts_across_words": Mistake(
        why="all words are glued into one stream, so pairs cross word boundaries",
        breaks=frozenset({"test_pair_counts"}),
        replace={
            "pair_counts": """
def pair_counts(word_freqs):
    stream = [s for symbols, freq in word_freqs.items() for _ in range(freq) for s in symbols]
    return dict(collections.Counter(zip(stream, stream[1:])))
"""
        },
    ),
    "pair_counts_once_per_word": Mistake(
        why="a pair that occurs twice in one word is counted once (set of the word's pairs)",
        breaks=frozenset({"test_pair_counts"}),
        edits={
            "pair_counts": [
                (
                    "for left, right in zip(symbols, symbols[1:]):",
                    "for left, right in set(zip(symbols, symbols[1:])):",
                )
            ]
        },
    ),
    "pair_counts_returns_most_common": Mistake(
        why="returns Counter.most_common(), a list of (pair, count), instead of a dict",
        breaks=frozenset({"test_pair_counts"}),
        edits={"pair_counts": [("return dict(counts)", "return counts.most_common()")]},
    ),
    "merge_pair_in_place": Mistake(
        why="rewrites the argument in place and returns it instead of a new dict",
        breaks=frozenset({"test_merge_pair"}),
        replace={
            "merge_pair": """
def merge_pair(word_freqs, pair):
    left, right = pair
    for symbols in list(word_freqs):
        out, i = [], 0
        while i < len(symbols):
            if i + 1 < len(symbols) and symbols[i] == left and symbols[i + 1] == right:
                out.append(left + right)
                i += 2
            else:
                out.append(symbols[i])
                i += 1
        freq = word_freqs.pop(symbols)
        word_freqs[tuple(out)] = word_freqs.get(tuple(out), 0) + freq
    return word_freqs
"""
        },
    ),
    "merge_pair_no_skip": Mistake(
        why="after a merge the scan moves one symbol on, so the right symbol is kept too",
        breaks=frozenset({"test_merge_pair"}),
        edits={"merge_pair": [("i += 2", "i += 1")]},
    ),
    "merge_pair_on_joined_string": Mistake(
        why="merging with str.replace on the space-joined word matches across symbol boundaries",
        breaks=frozenset({"test_merge_pair"}),
        replace={
            "merge_pair": """
def merge_pair(word_freqs, pair):
    merged = {}
    for symbols, freq in word_freqs.items():
        joined = " ".join(symbols).replace(pair[0] + " " + pair[1], pair[0] + pair[1])
        merged[tuple(joined.split(" "))] = freq
    return merged
"""
        },
    ),
    "merge_pair_no_skip_reused_by_bpe_encode": Mistake(
        why="a wrong merge_pair that bpe_encode reuses: while bpe_encode is graded merge_pair "
        "answers from the grader's values, so only merge_pair's own test loses points",
        breaks=frozenset({"test_merge_pair"}),
        edits={"merge_pair": [("i += 2", "i += 1")]},
        replace={
            "bpe_encode": """
def bpe_encode(word, merges):
    word_freqs = {tuple(word) + ("</w>",): 1}
    for left, right in merges:
        word_freqs = merge_pair(word_freqs, (left, right))
    (symbols,) = word_freqs
    return list(symbols)
"""
        },
    ),
    "learn_bpe_tie_by_first_seen": Mistake(
        why="max() on the counts dict: ties go to the first pair seen, not the smallest",
        breaks=frozenset({"test_learn_bpe"}),
        edits={
            "learn_bpe": [
                (
                    "best = min(p for p, n in counts.items() if n == best_count)",
                    "best = max(counts, key=counts.get)",
                )
            ]
        },
    ),
    "learn_bpe_without_end_marker": Mistake(
        why="words are split into characters without the end-of-word marker",
        breaks=frozenset({"test_learn_bpe"}),
        edits={"learn_bpe": [('tuple(word) + ("</w>",)', "tuple(word)")]},
    ),
    "learn_bpe_no_early_stop": Mistake(
        why="keeps merging when no pair is left: max() of an empty dict raises",
        breaks=frozenset({"test_learn_bpe"}),
        edits={"learn_bpe": [("        if not counts:\n            break\n", "")]},
    ),
    "bpe_encode_reversed_order": Mistake(
        why="merges are replayed from the last learned to the first",
        breaks=frozenset({"test_bpe_encode"}),
        edits={"bpe_encode": [("for left, right in merges:", "for left, right in merges[::-1]:")]},
    ),
    "bpe_encode_without_end_marker": Mistake(
        why="the word is split into characters without the end-of-word marker",
        breaks=frozenset({"test_bpe_encode"}),
        edits={"bpe_encode": [('symbols = list(word) + ["</w>"]', "symbols = list(word)")]},
    ),
    "bpe_encode_first_occurrence_only": Mistake(
        why="each merge is applied to its first occurrence in the word only",
        breaks=frozenset({"test_bpe_encode"}),
        replace={
            "bpe_encode": """
def bpe_encode(word, merges):
    symbols = list(word) + ["</w>"]
    for left, right in merges:
        for i in range(len(symbols) - 1):
            if symbols[i] == left and symbols[i + 1] == right:
                symbols[i:i + 2] = [left + right]
                break
    return symbols
"""
        },
    ),
    "bpe_encode_on_joined_string": Mistake(
        why="merges with str.replace on the space-joined symbols, matching inside symbols",
        breaks=frozenset({"test_bpe_encode"}),
        replace={
            "bpe_encode": """
def bpe_encode(word, merges):
    text = " ".join(list(word) + ["</w>"])
    for left, right in merges:
        text = text.replace(left + " " + right, left + right)
    return text.split(" ")
"""
        },
    ),
    "one_hot_vocab_axis_first": Mistake(
        why="the vocabulary axis is put before the sequence axis",
        breaks=frozenset({"test_one_hot"}),
        edits={
            "one_hot": [
                (
                    "return np.eye(vocab_size, dtype=np.float32)[ids]",
                    "return np.moveaxis(np.eye(vocab_size, dtype=np.float32)[ids], -1, 1)",
                )
            ]
        },
    ),
    "one_hot_only_2d": Mistake(
        why="assumes ids of shape (batch, seq_len): other shapes fail",
        breaks=frozenset({"test_one_hot"}),
        replace={
            "one_hot": """
def one_hot(ids, vocab_size):
    ids = np.asarray(ids)
    batch, seq_len = ids.shape
    out = np.zeros((batch, seq_len, vocab_size), dtype=np.float32)
    out[np.arange(batch)[:, None], np.arange(seq_len)[None, :], ids] = 1
    return out
"""
        },
    ),
    "one_hot_boolean": Mistake(
        why="returns the boolean comparison ids[..., None] == arange(vocab_size), not floats",
        breaks=frozenset({"test_one_hot"}),
        edits={
            "one_hot": [
                (
                    "return np.eye(vocab_size, dtype=np.float32)[ids]",
                    "return ids[..., None] == np.arange(vocab_size)",
                )
            ]
        },
    ),
    "one_hot_integer": Mistake(
        why="integer one-hot vectors instead of floats",
        breaks=frozenset({"test_one_hot"}),
        edits={
            "one_hot": [("np.eye(vocab_size, dtype=np.float32)", "np.eye(vocab_size, dtype=int)")]
        },
    ),
    "embedding_lookup_columns": Mistake(
        why="selects columns of W (W.T[ids] style confusion of the axes)",
        breaks=frozenset({"test_embedding_lookup"}),
        edits={
            "embedding_lookup": [
                (
                    "return np.asarray(weights)[np.asarray(ids)]",
                    "return np.moveaxis(np.asarray(weights)[:, np.asarray(ids)], 0, -1)",
                )
            ]
        },
    ),
    "cosine_without_norm": Mistake(
        why="plain dot products instead of cosine similarity",
        breaks=frozenset({"test_cosine_similarity"}),
        edits={
            "cosine_similarity": [
                (
                    "    A = np.divide(A, norm_a, out=np.zeros_like(A), where=norm_a > 0)\n"
                    "    B = np.divide(B, norm_b, out=np.zeros_like(B), where=norm_b > 0)\n",
                    "",
                )
            ]
        },
    ),
    "cosine_nan_for_zero_vectors": Mistake(
        why="divides by zero norms, giving NaN for zero vectors",
        breaks=frozenset({"test_cosine_similarity"}),
        edits={
            "cosine_similarity": [
                ("np.divide(A, norm_a, out=np.zeros_like(A), where=norm_a > 0)", "A / norm_a"),
                ("np.divide(B, norm_b, out=np.zeros_like(B), where=norm_b > 0)", "B / norm_b"),
            ]
        },
    ),
    "neighbours_include_self": Mistake(
        why="the query word is returned as its own nearest neighbour",
        breaks=frozenset({"test_nearest_neighbours"}),
        edits={
            "nearest_neighbours": [("for i in order if i != index][:k]", "for i in order][:k]")]
        },
    ),
    "neighbours_by_dot_product": Mistake(
        why="ranks by raw dot product, so long vectors win",
        breaks=frozenset({"test_nearest_neighbours"}),
        edits={
            "nearest_neighbours": [
                (
                    "sims = cosine_similarity(np.asarray(embeddings)[index:index + 1], embeddings)[0]",
                    "sims = np.asarray(embeddings) @ np.asarray(embeddings)[index]",
                )
            ]
        },
    ),
    "neighbours_skip_first": Mistake(
        why="drops the first word of the ranking instead of the word itself",
        breaks=frozenset({"test_nearest_neighbours"}),
        edits={
            "nearest_neighbours": [("for i in order if i != index][:k]", "for i in order[1:]][:k]")]
        },
    ),
    "neighbours_ties_reversed": Mistake(
        why="argsort ascending then reversed: equal similarities come last row first",
        breaks=frozenset({"test_nearest_neighbours"}),
        edits={
            "nearest_neighbours": [
                ('np.argsort(-sims, kind="stable")', 'np.argsort(sims, kind="stable")[::-1]')
            ]
        },
    ),
    "neighbours_words_by_vocab_order": Mistake(
        why="maps rows to words by the order of the vocab dict instead of its ids",
        breaks=frozenset({"test_nearest_neighbours"}),
        edits={
            "nearest_neighbours": [
                (
                    "id_to_word = {i: w for w, i in vocab.items()}",
                    "id_to_word = dict(enumerate(vocab))",
                )
            ]
        },
    ),
    "neighbours_unknown_word_returns_empty": Mistake(
        why="returns [] for a word not in vocab instead of raising KeyError",
        breaks=frozenset({"test_nearest_neighbours"}),
        edits={
            "nearest_neighbours": [
                (
                    "    index = vocab[word]\n",
                    "    if word not in vocab:\n        return []\n    index = vocab[word]\n",
                )
            ]
        },
    ),
}

DEMO_MISTAKE = "learn_bpe_tie_by_first_seen"

# Solution cells that call each other (a mistake in one may show in the other's tests).
# The test suite grades mistakes of *different* families in one submission, which keeps
# a cascade along a dependency visible while saving a kernel start per mistake.
FAMILIES = [
    {"build_vocab"},
    {"encode_decode"},
    {"pair_counts", "merge_pair", "learn_bpe", "bpe_encode"},
    {"one_hot", "embedding_lookup"},
    {"cosine_similarity", "nearest_neighbours"},
]

# A different but correct solution: other algorithms, tensors instead of arrays,
# float64 instead of float32, generators instead of lists.
ALTERNATIVE = {
    "build_vocab": """
def build_vocab(token_lists, max_size=None, min_freq=1):
    counts = {}
    for tokens in token_lists:
        for tok in tokens:
            if tok not in (PAD, UNK):
                counts[tok] = counts.get(tok, 0) + 1
    ranked = sorted((tok for tok in counts if counts[tok] >= min_freq),
                    key=lambda tok: (-counts[tok], tok))
    limit = len(ranked) if max_size is None else max(0, max_size - 2)
    return {PAD: 0, UNK: 1, **{tok: i + 2 for i, tok in enumerate(ranked[:limit])}}
""",
    "encode_decode": """
def encode(tokens, vocab):
    ids = []
    for tok in tokens:
        ids.append(vocab[tok] if tok in vocab else UNK_ID)
    return ids


def decode(ids, vocab):
    id_to_token = sorted(vocab, key=vocab.get)
    out = []
    for i in list(np.asarray(ids, dtype=int)):
        if i == PAD_ID:
            continue
        out.append(id_to_token[i] if 0 <= i < len(id_to_token) else UNK)
    return out
""",
    "pair_counts": """
def pair_counts(word_freqs):
    counts = collections.defaultdict(int)
    for symbols, freq in word_freqs.items():
        for i in range(len(symbols) - 1):
            counts[symbols[i], symbols[i + 1]] += freq
    return counts
""",
    "merge_pair": """
def merge_pair(word_freqs, pair):
    result = collections.Counter()
    for symbols, freq in word_freqs.items():
        out = list(symbols)
        i = 0
        while i < len(out) - 1:
            if (out[i], out[i + 1]) == tuple(pair):
                out[i:i + 2] = [out[i] + out[i + 1]]
            i += 1
        result[tuple(out)] += freq
    return dict(result)
""",
    "learn_bpe": """
def learn_bpe(word_counts, num_merges):
    state = {tuple(w) + ("</w>",): c for w, c in word_counts.items()}
    merges = []
    while len(merges) < num_merges:
        counts = pair_counts(state)
        if len(counts) == 0:
            break
        best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        merges.append(tuple(best))
        state = merge_pair(state, best)
    return merges
""",
    "bpe_encode": """
def bpe_encode(word, merges):
    word_freqs = {tuple(word) + ("</w>",): 1}
    for pair in merges:
        word_freqs = merge_pair(word_freqs, tuple(pair))
    (symbols,) = word_freqs
    return list(symbols)
""",
    "one_hot": """
import tensorflow as tf

def one_hot(ids, vocab_size):
    return tf.one_hot(tf.convert_to_tensor(ids), depth=vocab_size, dtype=tf.float64)
""",
    "embedding_lookup": """
import keras

def embedding_lookup(ids, weights):
    return keras.ops.take(keras.ops.convert_to_tensor(weights, dtype="float64"),
                          keras.ops.convert_to_tensor(ids), axis=0)
""",
    "cosine_similarity": """
def cosine_similarity(A, B):
    A = np.array(A, dtype=np.float32)
    B = np.array(B, dtype=np.float32)
    dots = np.einsum("nd,md->nm", A, B)
    norms = np.outer(np.sqrt((A * A).sum(1)), np.sqrt((B * B).sum(1)))
    return np.where(norms == 0, 0.0, dots / np.where(norms == 0, 1.0, norms))
""",
    "nearest_neighbours": """
def nearest_neighbours(word, vocab, embeddings, k=5):
    row = vocab[word]
    sims = cosine_similarity(np.asarray(embeddings)[[row]], np.asarray(embeddings))[0]
    words = sorted((w for w in vocab if vocab[w] != row), key=lambda w: (-sims[vocab[w]], vocab[w]))
    return words[:k]
""",
}

# Tampering: a wrong answer plus attempts to make the checks pass anyway.
TAMPER_SETUP = """
import builtins
import numpy
numpy.allclose = lambda *a, **k: True
numpy.isclose = lambda a, b, **k: numpy.ones(numpy.broadcast(a, b).shape, dtype=bool)
numpy.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
builtins.AssertionError = type("Silent", (Exception,), {})
check_equal = check_close = check_shape = lambda *a, **k: None
try:
    import attention_course.checks as _c
    _c.check_equal = lambda *a, **k: None
except AttributeError:
    pass
"""
