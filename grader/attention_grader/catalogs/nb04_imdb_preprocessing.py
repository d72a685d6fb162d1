"""Typical mistakes in 04_imdb_preprocessing, and a different but correct solution.

Each mistake is a small edit of the instructor solution (or a replacement cell) and names
the test cells it must fail; every other test must keep its points. While the vectorizer tests
run, the student's standardize is answered from values the grader computed (and make_vectorizer
while the split test runs), so a mistake costs the points of its own exercise only:
``standardize_skipped`` and ``vectorizer_skipped`` keep the later exercises' points.
"""

from ..submissions import Mistake

_STANDARDIZE_PUNCTUATION_FIRST = r"""
def standardize(text):
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, "\u2019", "'")
    text = tf.strings.regex_replace(text, r"[^\p{L}\p{N}']+", " ")  # '<br />' -> ' br '
    text = tf.strings.regex_replace(text, r"<[^<>]*>", " ")  # nothing left to find
    text = tf.strings.regex_replace(text, r"(^|\s)'+", " ")
    text = tf.strings.regex_replace(text, r"'+(\s|$)", " ")
    text = tf.strings.regex_replace(text, r"\s+", " ")
    return tf.strings.strip(text)
"""

# A standardize that is right but runs only eagerly: .numpy() and Python string methods.
_STANDARDIZE_PYTHON = r"""
import re as _re
import unicodedata as _ud

def _standardize_one(raw):
    s = "".join(ch.lower() for ch in raw.decode("utf-8"))
    s = _re.sub(r"<[^<>]*>", " ", s).replace("\u2019", "'")
    s = "".join(ch if ch == "'" or _ud.category(ch)[0] in "LN" else " " for ch in s)
    return " ".join(w for w in (w.strip("'") for w in s.split(" ")) if w)

def standardize(text):
    array = np.asarray(text.numpy(), dtype=object)
    out = np.array([_standardize_one(s) for s in array.ravel().tolist()], dtype=object)
    return tf.constant(out.reshape(array.shape))
"""

# string.punctuation without the apostrophe: ASCII punctuation only.
_STANDARDIZE_ASCII_PUNCTUATION = r"""
import re as _re
import string as _string

_PUNCTUATION = "[" + _re.escape(_string.punctuation.replace("'", "")) + r"\s]+"

def standardize(text):
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, r"<[^<>]*>", " ")
    text = tf.strings.regex_replace(text, "\u2019", "'")
    text = tf.strings.regex_replace(text, _PUNCTUATION, " ")
    text = tf.strings.regex_replace(text, r"(^|\s)'+", " ")
    text = tf.strings.regex_replace(text, r"'+(\s|$)", " ")
    text = tf.strings.regex_replace(text, r"\s+", " ")
    return tf.strings.strip(text)
"""

# The apostrophes at word edges are removed first, while punctuation still hides the edges.
_STANDARDIZE_APOSTROPHES_FIRST = r"""
def standardize(text):
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, r"<[^<>]*>", " ")
    text = tf.strings.regex_replace(text, "\u2019", "'")
    text = tf.strings.regex_replace(text, r"(^|\s)'+", " ")
    text = tf.strings.regex_replace(text, r"'+(\s|$)", " ")
    text = tf.strings.regex_replace(text, r"[^\p{L}\p{N}']+", " ")
    text = tf.strings.regex_replace(text, r"\s+", " ")
    return tf.strings.strip(text)
"""

_PUNCT = 'r"[^\\p{L}\\p{N}\']+"'  # the solution's pattern, as written in its cell

MISTAKES = {
    # --- exercise 1: standardize -------------------------------------------------------------
    "tags_glued_to_words": Mistake(
        why="tags replaced by nothing: 'a<br />b' becomes the single word 'ab'",
        breaks=frozenset({"test_standardize"}),
        edits={"standardize": [('r"<[^<>]*>", " ")', 'r"<[^<>]*>", "")')]},
    ),
    "punctuation_before_tags": Mistake(
        why="punctuation removed before the tags: '<br />' leaves the token 'br'",
        breaks=frozenset({"test_standardize"}),
        replace={"standardize": _STANDARDIZE_PUNCTUATION_FIRST},
    ),
    "greedy_tag_pattern": Mistake(
        why="'<.*>' runs from the first '<' to the last '>', eating the text between tags",
        breaks=frozenset({"test_standardize"}),
        edits={"standardize": [('r"<[^<>]*>"', 'r"<.*>"')]},
    ),
    "tag_from_any_less_than": Mistake(
        why="'<[^>]*>' starts a tag at any '<': 'I <3 it<br />more' loses '3 it'",
        breaks=frozenset({"test_standardize"}),
        edits={"standardize": [('r"<[^<>]*>"', 'r"<[^>]*>"')]},
    ),
    "tags_start_with_a_letter": Mistake(
        why="only tags that start with a letter or '/': '<!-- spoiler -->' leaves 'spoiler'",
        breaks=frozenset({"test_standardize"}),
        edits={"standardize": [('r"<[^<>]*>"', 'r"</?[a-z][^<>]*>"')]},
    ),
    "ascii_only_lowercase": Mistake(
        why="tf.strings.lower without encoding='utf-8': 'CAFÉ' becomes 'cafÉ'",
        breaks=frozenset({"test_standardize"}),
        edits={
            "standardize": [('tf.strings.lower(text, encoding="utf-8")', "tf.strings.lower(text)")]
        },
    ),
    "ascii_punctuation_only": Mistake(
        why="string.punctuation (ASCII) becomes spaces: '…', '«»', '—', emoji and € stay",
        breaks=frozenset({"test_standardize"}),
        replace={"standardize": _STANDARDIZE_ASCII_PUNCTUATION},
    ),
    "ascii_word_characters": Mistake(
        why="[^\\w'] keeps RE2's ASCII word characters only: 'café' loses 'é', '_' stays",
        breaks=frozenset({"test_standardize"}),
        edits={"standardize": [(_PUNCT, 'r"[^\\w\']+"')]},
    ),
    "ascii_digits_only": Mistake(
        why="[^\\p{L}0-9'] keeps ASCII digits only: '٣', '²', '½' become spaces",
        breaks=frozenset({"test_standardize"}),
        edits={"standardize": [(_PUNCT, 'r"[^\\p{L}0-9\']+"')]},
    ),
    "apostrophes_removed_inside_words": Mistake(
        why="every apostrophe removed: \"don't\" becomes 'don t'",
        breaks=frozenset({"test_standardize"}),
        edits={"standardize": [(_PUNCT, 'r"[^\\p{L}\\p{N}]+"')]},
    ),
    "typographic_apostrophe_ignored": Mistake(
        why="’ is not turned into ': 'Renée’s' becomes 'renée s'",
        breaks=frozenset({"test_standardize"}),
        edits={
            "standardize": [('    text = tf.strings.regex_replace(text, "\\u2019", "\'")\n', "")]
        },
    ),
    "apostrophe_edges_before_punctuation": Mistake(
        why='apostrophes at word edges removed before punctuation: "(\'Tis)" keeps its apostrophe',
        breaks=frozenset({"test_standardize"}),
        replace={"standardize": _STANDARDIZE_APOSTROPHES_FIRST},
    ),
    "one_apostrophe_at_the_edges": Mistake(
        why="only one apostrophe removed at a word's edge: \"''quoted''\" keeps one on each side",
        breaks=frozenset({"test_standardize"}),
        edits={
            "standardize": [('r"(^|\\s)\'+"', 'r"(^|\\s)\'"'), ('r"\'+(\\s|$)"', 'r"\'(\\s|$)"')]
        },
    ),
    "whitespace_not_collapsed": Mistake(
        why="each character becomes its own space and runs are not collapsed: 'a,  b' has 3 spaces",
        breaks=frozenset({"test_standardize"}),
        edits={
            "standardize": [
                (_PUNCT, 'r"[^\\p{L}\\p{N}\']"'),
                ('    text = tf.strings.regex_replace(text, r"\\s+", " ")\n', ""),
            ]
        },
    ),
    "not_stripped": Mistake(
        why="leading/trailing spaces kept (punctuation at the end leaves a space)",
        breaks=frozenset({"test_standardize"}),
        edits={"standardize": [("return tf.strings.strip(text)", "return text")]},
    ),
    "output_flattened": Mistake(
        why="the input is reshaped to one axis: a (2, 2) tensor comes back as (4,)",
        breaks=frozenset({"test_standardize"}),
        edits={
            "standardize": [
                (
                    '    text = tf.strings.lower(text, encoding="utf-8")\n',
                    '    text = tf.strings.lower(tf.reshape(text, [-1]), encoding="utf-8")\n',
                )
            ]
        },
    ),
    "eager_only_python_strings": Mistake(
        why=".numpy() and Python string methods: right values, but it fails inside tf.data",
        breaks=frozenset({"test_standardize"}),
        replace={"standardize": _STANDARDIZE_PYTHON},
    ),
    "standardize_skipped": Mistake(
        why="exercise 1 left undone (standardize raises NotImplementedError): only its own points "
        "go, the vectorizer tests keep theirs (the grader's values answer standardize's calls)",
        breaks=frozenset({"test_standardize"}),
        replace={
            "standardize": """
def standardize(text):
    raise NotImplementedError()
"""
        },
    ),
    # --- exercise 2: vectorizer --------------------------------------------------------------
    "vectorizer_skipped": Mistake(
        why="exercise 2 left undone (make_vectorizer raises NotImplementedError): the split test "
        "keeps its points (the grader's values answer the make_vectorizer call)",
        breaks=frozenset({"test_make_vectorizer"}),
        replace={
            "make_vectorizer": """
def make_vectorizer(texts, max_tokens, seq_len):
    raise NotImplementedError()
"""
        },
    ),
    "vectorizer_default_standardize": Mistake(
        why="the layer's default standardization: '<br />' becomes the token 'br'",
        breaks=frozenset({"test_make_vectorizer"}),
        edits={"make_vectorizer": [("        standardize=standardize,\n", "")]},
    ),
    "vectorizer_without_sequence_length": Mistake(
        why="no output_sequence_length: sequences are as long as the longest in the batch",
        breaks=frozenset({"test_make_vectorizer"}),
        edits={"make_vectorizer": [("        output_sequence_length=seq_len,\n", "")]},
    ),
    "vectorizer_global_seq_len": Mistake(
        why="output_sequence_length=SEQ_LEN (the notebook's constant) instead of the argument",
        breaks=frozenset({"test_make_vectorizer"}),
        edits={
            "make_vectorizer": [
                ("output_sequence_length=seq_len,", "output_sequence_length=SEQ_LEN,")
            ]
        },
    ),
    "vectorizer_ignores_max_tokens": Mistake(
        why="max_tokens not passed: the vocabulary keeps every token",
        breaks=frozenset({"test_make_vectorizer"}),
        edits={"make_vectorizer": [("        max_tokens=max_tokens,\n", "")]},
    ),
    "vectorizer_max_tokens_without_reserved": Mistake(
        why="max_tokens - 2 real tokens asked for: the vocabulary is 2 entries too small",
        breaks=frozenset({"test_make_vectorizer"}),
        edits={"make_vectorizer": [("max_tokens=max_tokens,", "max_tokens=max_tokens - 2,")]},
    ),
    # --- exercise 3: fixed length ------------------------------------------------------------
    "padding_on_the_wrong_side": Mistake(
        why="keras.utils.pad_sequences with its defaults: front padding and front truncation",
        breaks=frozenset({"test_to_fixed_length"}),
        replace={
            "to_fixed_length": """
def to_fixed_length(sequences, seq_len, pad_id=0):
    return keras.utils.pad_sequences(sequences, maxlen=seq_len, value=pad_id)
"""
        },
    ),
    "truncation_keeps_the_end": Mistake(
        why="long sequences keep their last seq_len ids",
        breaks=frozenset({"test_to_fixed_length"}),
        edits={"to_fixed_length": [("ids = list(ids)[:seq_len]", "ids = list(ids)[-seq_len:]")]},
    ),
    "pad_id_ignored": Mistake(
        why="np.zeros: the padding is always 0, whatever pad_id says",
        breaks=frozenset({"test_to_fixed_length"}),
        edits={
            "to_fixed_length": [
                (
                    "np.full((len(sequences), seq_len), pad_id, dtype=np.int64)",
                    "np.zeros((len(sequences), seq_len), dtype=np.int64)",
                )
            ]
        },
    ),
    "float_array": Mistake(
        why="np.zeros(...) + pad_id without a dtype: the ids come back as float64",
        breaks=frozenset({"test_to_fixed_length"}),
        edits={
            "to_fixed_length": [
                (
                    "np.full((len(sequences), seq_len), pad_id, dtype=np.int64)",
                    "np.zeros((len(sequences), seq_len)) + pad_id",
                )
            ]
        },
    ),
    "returns_a_list": Mistake(
        why="returns out.tolist(): a list of lists, not a NumPy array",
        breaks=frozenset({"test_to_fixed_length"}),
        edits={"to_fixed_length": [("    return out\n", "    return out.tolist()\n")]},
    ),
    # --- exercise 4: vocabulary from train only ----------------------------------------------
    "vocabulary_fitted_on_test_data": Mistake(
        why="the vocabulary is adapted on train + test: test-only words get ids",
        breaks=frozenset({"test_vectorize_splits"}),
        edits={
            "vectorize_splits": [
                (
                    "make_vectorizer(train_texts, max_tokens, seq_len)",
                    "make_vectorizer(list(train_texts) + list(test_texts), max_tokens, seq_len)",
                )
            ]
        },
    ),
    "test_split_with_its_own_vectorizer": Mistake(
        why="a second vectorizer adapted on the test texts turns them into ids",
        breaks=frozenset({"test_vectorize_splits"}),
        edits={
            "vectorize_splits": [
                (
                    "x_test = np.asarray(vectorizer(tf.constant(list(test_texts))))",
                    "x_test = np.asarray(make_vectorizer(test_texts, max_tokens, seq_len)("
                    "tf.constant(list(test_texts))))",
                )
            ]
        },
    ),
    "splits_with_global_constants": Mistake(
        why="make_vectorizer(train_texts, MAX_TOKENS, SEQ_LEN): the arguments are ignored",
        breaks=frozenset({"test_vectorize_splits"}),
        edits={
            "vectorize_splits": [
                (
                    "make_vectorizer(train_texts, max_tokens, seq_len)",
                    "make_vectorizer(train_texts, MAX_TOKENS, SEQ_LEN)",
                )
            ]
        },
    ),
    "x_test_from_training_texts": Mistake(
        why="copy-paste slip: x_test vectorizes the training texts",
        breaks=frozenset({"test_vectorize_splits"}),
        edits={
            "vectorize_splits": [
                (
                    "x_test = np.asarray(vectorizer(tf.constant(list(test_texts))))",
                    "x_test = np.asarray(vectorizer(tf.constant(list(train_texts))))",
                )
            ]
        },
    ),
    # --- exercise 5: tf.data -----------------------------------------------------------------
    "shuffles_evaluation_data": Mistake(
        why="shuffled whatever `training` says",
        breaks=frozenset({"test_make_dataset"}),
        edits={
            "make_dataset": [
                (
                    "    if training:\n        dataset = dataset.shuffle(",
                    "    if True:\n        dataset = dataset.shuffle(",
                )
            ]
        },
    ),
    "shuffles_batches_not_examples": Mistake(
        why="batch before shuffle: whole batches change places, their content never mixes",
        breaks=frozenset({"test_make_dataset"}),
        replace={
            "make_dataset": """
def make_dataset(ids, labels, batch_size, training, seed=0):
    dataset = tf.data.Dataset.from_tensor_slices(
        (np.asarray(ids), np.asarray(labels).astype(np.int64))).batch(batch_size)
    if training:
        dataset = dataset.shuffle(len(ids), seed=seed)
    return dataset.prefetch(tf.data.AUTOTUNE)
"""
        },
    ),
    "shuffle_buffer_smaller_than_the_data": Mistake(
        why="shuffle(10_000) as in tutorials: with 25,000 reviews only neighbours get mixed",
        breaks=frozenset({"test_make_dataset"}),
        edits={"make_dataset": [("dataset.shuffle(len(ids), ", "dataset.shuffle(10_000, ")]},
    ),
    "seed_not_passed": Mistake(
        why="shuffle without seed=seed: the same seed gives different orders",
        breaks=frozenset({"test_make_dataset"}),
        edits={"make_dataset": [("seed=seed, ", "")]},
    ),
    "fixed_seed": Mistake(
        why="shuffle(..., seed=0): every seed gives the same order",
        breaks=frozenset({"test_make_dataset"}),
        edits={"make_dataset": [("seed=seed, ", "seed=0, ")]},
    ),
    "same_order_every_epoch": Mistake(
        why="reshuffle_each_iteration=False: every epoch repeats the first order",
        breaks=frozenset({"test_make_dataset"}),
        edits={
            "make_dataset": [("reshuffle_each_iteration=True", "reshuffle_each_iteration=False")]
        },
    ),
    "drops_last_batch_when_training": Mistake(
        why="drop_remainder=training: the examples of the last, smaller batch are never seen",
        breaks=frozenset({"test_make_dataset"}),
        edits={
            "make_dataset": [
                ("dataset.batch(batch_size)", "dataset.batch(batch_size, drop_remainder=training)")
            ]
        },
    ),
    "no_prefetch": Mistake(
        why="the dataset is not prefetched",
        breaks=frozenset({"test_make_dataset"}),
        edits={
            "make_dataset": [
                (".batch(batch_size).prefetch(tf.data.AUTOTUNE)", ".batch(batch_size)")
            ]
        },
    ),
    "prefetch_one_batch": Mistake(
        why="prefetch(1) instead of tf.data.AUTOTUNE",
        breaks=frozenset({"test_make_dataset"}),
        edits={"make_dataset": [(".prefetch(tf.data.AUTOTUNE)", ".prefetch(1)")]},
    ),
    "float_labels": Mistake(
        why="labels cast to float32 instead of integers",
        breaks=frozenset({"test_make_dataset"}),
        edits={
            "make_dataset": [
                ("np.asarray(labels).astype(np.int64)", "np.asarray(labels).astype(np.float32)")
            ]
        },
    ),
    "labels_not_cast": Mistake(
        why="labels taken as they come: float labels stay floats",
        breaks=frozenset({"test_make_dataset"}),
        edits={"make_dataset": [("np.asarray(labels).astype(np.int64)", "np.asarray(labels)")]},
    ),
    # --- exercise 6: shapes ------------------------------------------------------------------
    "embedding_without_sequence_axis": Mistake(
        why="embedded shape (batch, 64): the sequence axis is forgotten",
        breaks=frozenset({"test_pipeline_shapes"}),
        edits={
            "pipeline_shapes": [('"embedded": (BATCH, SEQ_LEN, 64),', '"embedded": (BATCH, 64),')]
        },
    ),
    "standardized_as_tokens": Mistake(
        why="standardized shape (batch, seq_len): standardize does not split into tokens",
        breaks=frozenset({"test_pipeline_shapes"}),
        edits={
            "pipeline_shapes": [('"standardized": (BATCH,),', '"standardized": (BATCH, SEQ_LEN),')]
        },
    ),
    "standardized_as_adapt_hands_it": Mistake(
        why="standardized shape (batch, 1), the shape adapt hands standardize, instead of what "
        "the vectorizer's call on the (batch,) texts gives: (batch,)",
        breaks=frozenset({"test_pipeline_shapes"}),
        edits={"pipeline_shapes": [('"standardized": (BATCH,),', '"standardized": (BATCH, 1),')]},
    ),
    "labels_as_a_column": Mistake(
        why="labels shape (batch, 1) instead of (batch,)",
        breaks=frozenset({"test_pipeline_shapes"}),
        edits={"pipeline_shapes": [('"labels": (BATCH,),', '"labels": (BATCH, 1),')]},
    ),
}

DEMO_MISTAKE = "tags_glued_to_words"

# While the vectorizer and split tests run, the grader's values answer the helpers' calls (a call
# that a correct solution does not make goes to the student's own function, so a mistake that
# changes the calls fails on its own): every cell is its own family.
FAMILIES = [
    {"standardize"},
    {"make_vectorizer"},
    {"to_fixed_length"},
    {"vectorize_splits"},
    {"make_dataset"},
    {"pipeline_shapes"},
]

# Correct in a different style: spaces around the text instead of ^/$ anchors, tags
# removed before lowercasing with a `+` pattern, adapt on a tf.data pipeline, keras.utils.pad_sequences
# with explicit sides, tensors as return values, Dataset.zip, int32 labels, lists of shapes.
ALTERNATIVE = {
    "standardize": r"""
def standardize(text):
    t = tf.strings.regex_replace(text, r"<[^<>]+>", " ")
    t = tf.strings.lower(t, encoding="utf-8")
    t = tf.strings.regex_replace(t, "’", "'")
    t = tf.strings.regex_replace(t, r"[^\p{L}\p{N}']", " ")
    t = tf.strings.join([" ", t, " "])
    t = tf.strings.regex_replace(t, r" '+", " ")
    t = tf.strings.regex_replace(t, r"'+ ", " ")
    t = tf.strings.regex_replace(t, r" +", " ")
    return tf.strings.strip(t)
""",
    "make_vectorizer": """
def make_vectorizer(texts, max_tokens, seq_len):
    layer = keras.layers.TextVectorization(max_tokens, standardize=standardize,
                                           output_sequence_length=seq_len)
    layer.adapt(tf.data.Dataset.from_tensor_slices(list(texts)).batch(64))
    return layer
""",
    "to_fixed_length": """
def to_fixed_length(sequences, seq_len, pad_id=0):
    return keras.utils.pad_sequences(sequences, maxlen=seq_len, padding="post",
                                     truncating="post", value=pad_id)
""",
    "vectorize_splits": """
def vectorize_splits(train_texts, test_texts, max_tokens, seq_len):
    layer = make_vectorizer(train_texts, max_tokens, seq_len)
    return layer, layer(tf.constant(train_texts)), layer(tf.constant(test_texts))
""",
    "make_dataset": """
def make_dataset(ids, labels, batch_size, training, seed=0):
    xs = tf.data.Dataset.from_tensor_slices(tf.convert_to_tensor(ids))
    ys = tf.data.Dataset.from_tensor_slices(tf.cast(labels, tf.int32))
    ds = tf.data.Dataset.zip((xs, ys))
    if training:
        ds = ds.shuffle(buffer_size=int(len(labels)), seed=seed)
    ds = ds.batch(batch_size)
    return ds.prefetch(buffer_size=tf.data.AUTOTUNE)
""",
    "pipeline_shapes": """
BATCH = 32
PIPELINE_SHAPES = {"raw_texts": [32], "standardized": [32], "ids": [32, SEQ_LEN],
                   "labels": [BATCH], "embedded": [BATCH, SEQ_LEN, 64]}
""",
}
