"""Typical mistakes in 04_imdb_preprocessing, and a different but correct solution.

Each mistake is a small edit of the instructor solution (or a replacement cell) and names
the test cells it must fail; every other test must keep its points. The vectorizer tests
run with a reference standardize (and the split test with a reference make_vectorizer), so
a mistake costs the points of its own exercise only.
"""

from attention_grader.submissions import Mistake

_STANDARDIZE_PUNCTUATION_FIRST = r'''
def standardize(text):
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, "\u2019", "'")
    text = tf.strings.regex_replace(text, r"[^\p{L}\p{N}']+", " ")  # '<br />' -> ' br '
    text = tf.strings.regex_replace(text, r"<[^<>]*>", " ")  # nothing left to find
    text = tf.strings.regex_replace(text, r"(^|\s)'+", " ")
    text = tf.strings.regex_replace(text, r"'+(\s|$)", " ")
    text = tf.strings.regex_replace(text, r"\s+", " ")
    return tf.strings.strip(text)
'''

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
    "ascii_only_lowercase": Mistake(
        why="tf.strings.lower without encoding='utf-8': 'CAFÉ' becomes 'cafÉ'",
        breaks=frozenset({"test_standardize"}),
        edits={"standardize": [('tf.strings.lower(text, encoding="utf-8")', "tf.strings.lower(text)")]},
    ),
    "apostrophes_removed_inside_words": Mistake(
        why="every apostrophe removed: \"don't\" becomes 'don t'",
        breaks=frozenset({"test_standardize"}),
        edits={"standardize": [("r\"[^\\p{L}\\p{N}']+\"", 'r"[^\\p{L}\\p{N}]+"')]},
    ),
    "not_stripped": Mistake(
        why="leading/trailing spaces kept (punctuation at the end leaves a space)",
        breaks=frozenset({"test_standardize"}),
        edits={"standardize": [("return tf.strings.strip(text)", "return text")]},
    ),
    # --- exercise 2: vectorizer --------------------------------------------------------------
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
    "vectorizer_ignores_max_tokens": Mistake(
        why="max_tokens not passed: the vocabulary keeps every token",
        breaks=frozenset({"test_make_vectorizer"}),
        edits={"make_vectorizer": [("        max_tokens=max_tokens,\n", "")]},
    ),
    # --- exercise 3: fixed length ------------------------------------------------------------
    "padding_on_the_wrong_side": Mistake(
        why="keras.utils.pad_sequences with its defaults: front padding and front truncation",
        breaks=frozenset({"test_to_fixed_length"}),
        replace={"to_fixed_length": '''
def to_fixed_length(sequences, seq_len, pad_id=0):
    return keras.utils.pad_sequences(sequences, maxlen=seq_len, value=pad_id)
'''},
    ),
    "truncation_keeps_the_end": Mistake(
        why="long sequences keep their last seq_len ids",
        breaks=frozenset({"test_to_fixed_length"}),
        edits={"to_fixed_length": [("ids = list(ids)[:seq_len]", "ids = list(ids)[-seq_len:]")]},
    ),
    # --- exercise 4: vocabulary from train only ----------------------------------------------
    "vocabulary_fitted_on_test_data": Mistake(
        why="the vocabulary is adapted on train + test: test-only words get ids",
        breaks=frozenset({"test_vectorize_splits"}),
        edits={"vectorize_splits": [(
            "make_vectorizer(train_texts, max_tokens, seq_len)",
            "make_vectorizer(list(train_texts) + list(test_texts), max_tokens, seq_len)")]},
    ),
    # --- exercise 5: tf.data -----------------------------------------------------------------
    "shuffles_evaluation_data": Mistake(
        why="shuffled whatever `training` says",
        breaks=frozenset({"test_make_dataset"}),
        edits={"make_dataset": [(
            "    if training:\n        dataset = dataset.shuffle(",
            "    if True:\n        dataset = dataset.shuffle(")]},
    ),
    "shuffles_batches_not_examples": Mistake(
        why="batch before shuffle: whole batches change places, their content never mixes",
        breaks=frozenset({"test_make_dataset"}),
        replace={"make_dataset": '''
def make_dataset(ids, labels, batch_size, training, seed=0):
    dataset = tf.data.Dataset.from_tensor_slices(
        (np.asarray(ids), np.asarray(labels).astype(np.int64))).batch(batch_size)
    if training:
        dataset = dataset.shuffle(len(ids), seed=seed)
    return dataset.prefetch(tf.data.AUTOTUNE)
'''},
    ),
    "float_labels": Mistake(
        why="labels cast to float32 instead of integers",
        breaks=frozenset({"test_make_dataset"}),
        edits={"make_dataset": [("np.asarray(labels).astype(np.int64)",
                                 "np.asarray(labels).astype(np.float32)")]},
    ),
    # --- exercise 6: shapes ------------------------------------------------------------------
    "embedding_without_sequence_axis": Mistake(
        why="embedded shape (batch, 64): the sequence axis is forgotten",
        breaks=frozenset({"test_pipeline_shapes"}),
        edits={"pipeline_shapes": [('"embedded": (BATCH, SEQ_LEN, 64),', '"embedded": (BATCH, 64),')]},
    ),
}

DEMO_MISTAKE = "tags_glued_to_words"

# The vectorizer and split tests swap in reference helpers: every cell is its own family.
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
    "standardize": r'''
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
''',
    "make_vectorizer": '''
def make_vectorizer(texts, max_tokens, seq_len):
    layer = keras.layers.TextVectorization(max_tokens, standardize=standardize,
                                           output_sequence_length=seq_len)
    layer.adapt(tf.data.Dataset.from_tensor_slices(list(texts)).batch(64))
    return layer
''',
    "to_fixed_length": '''
def to_fixed_length(sequences, seq_len, pad_id=0):
    return keras.utils.pad_sequences(sequences, maxlen=seq_len, padding="post",
                                     truncating="post", value=pad_id)
''',
    "vectorize_splits": '''
def vectorize_splits(train_texts, test_texts, max_tokens, seq_len):
    layer = make_vectorizer(train_texts, max_tokens, seq_len)
    return layer, layer(tf.constant(train_texts)), layer(tf.constant(test_texts))
''',
    "make_dataset": '''
def make_dataset(ids, labels, batch_size, training, seed=0):
    xs = tf.data.Dataset.from_tensor_slices(tf.convert_to_tensor(ids))
    ys = tf.data.Dataset.from_tensor_slices(tf.cast(labels, tf.int32))
    ds = tf.data.Dataset.zip((xs, ys))
    if training:
        ds = ds.shuffle(buffer_size=int(len(labels)), seed=seed)
    ds = ds.batch(batch_size)
    return ds.prefetch(buffer_size=tf.data.AUTOTUNE)
''',
    "pipeline_shapes": '''
BATCH = 32
PIPELINE_SHAPES = {"raw_texts": [32], "standardized": [32], "ids": [32, SEQ_LEN],
                   "labels": [BATCH], "embedded": [BATCH, SEQ_LEN, 64]}
''',
}
