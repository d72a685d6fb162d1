"""Typical mistakes in 05_imdb_attention, and a different but correct solution.

Each mistake is a small edit of the instructor solution (or a replacement cell) and names
the test cells it must fail; every other test must keep its points. While the model test runs,
the student's AttentionPooling is answered from values the grader computed, so a mistake in the
layer costs the layer's points only (``pooling_skipped``, ``weights_not_returned``). The trusted checks are in
grader/attention_grader/judges/nb05_imdb_attention.py.
"""

from ..submissions import Mistake

_POOLING_CLASS = """
class AttentionPooling(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.units = units
        self.score_hidden = keras.layers.Dense(units, activation="tanh")
        self.score_out = keras.layers.Dense(1, use_bias=False)

    def call(self, h, mask=None):
{body}
    def compute_mask(self, inputs, mask=None):
        return None
"""

MISTAKES = {
    # --- exercise 1: attention pooling -------------------------------------------------------
    "softmax_includes_padding": Mistake(
        why="the mask is ignored: padded steps take part in the softmax",
        breaks=frozenset({"test_attention_pooling"}),
        replace={
            "attention_pooling": _POOLING_CLASS.format(
                body="""
        scores = keras.ops.squeeze(self.score_out(self.score_hidden(h)), axis=-1)
        weights = keras.ops.softmax(scores, axis=-1)
        return keras.ops.sum(keras.ops.expand_dims(weights, -1) * h, axis=1), weights
"""
            )
        },
    ),
    "empty_review_uniform": Mistake(
        why="a review with no real token gets the softmax's uniform weights on its padding "
        "(the mask is applied before the softmax only), not notebook 3's all-zero weights",
        breaks=frozenset({"test_attention_pooling"}),
        edits={
            "attention_pooling": [
                (
                    "        if mask is not None:  # a review with no real token: all weights 0 "
                    "(notebook 3)\n"
                    "            weights = keras.ops.where(real, weights, 0.0)\n",
                    "",
                )
            ]
        },
    ),
    "softmax_over_features": Mistake(
        why="softmax over the last axis of the (batch, T, 1) scores: the feature axis, not time",
        breaks=frozenset({"test_attention_pooling"}),
        replace={
            "attention_pooling": _POOLING_CLASS.format(
                body="""
        scores = self.score_out(self.score_hidden(h))  # (batch, T, 1)
        if mask is not None:
            scores = keras.ops.where(keras.ops.cast(mask, "bool")[..., None], scores, -1e9)
        weights = keras.ops.softmax(scores, axis=-1)  # over the size-1 feature axis: all ones
        return keras.ops.sum(weights * h, axis=1), keras.ops.squeeze(weights, -1)
"""
            )
        },
    ),
    "mask_inverted": Mistake(
        why="True in the mask treated as padding",
        breaks=frozenset({"test_attention_pooling"}),
        edits={
            "attention_pooling": [
                (
                    'real = keras.ops.cast(mask, "bool")',
                    'real = keras.ops.logical_not(keras.ops.cast(mask, "bool"))',
                )
            ]
        },
    ),
    "weights_masked_after_softmax": Mistake(
        why="padding weights set to 0 after the softmax: real weights no longer sum to 1",
        breaks=frozenset({"test_attention_pooling"}),
        replace={
            "attention_pooling": _POOLING_CLASS.format(
                body="""
        scores = keras.ops.squeeze(self.score_out(self.score_hidden(h)), axis=-1)
        weights = keras.ops.softmax(scores, axis=-1)
        if mask is not None:
            weights = weights * keras.ops.cast(mask, weights.dtype)
        return keras.ops.sum(keras.ops.expand_dims(weights, -1) * h, axis=1), weights
"""
            )
        },
    ),
    "mean_instead_of_weighted_sum": Mistake(
        why="pooled = mean over time of weights * h (divided by T once more)",
        breaks=frozenset({"test_attention_pooling"}),
        edits={
            "attention_pooling": [
                (
                    "keras.ops.sum(keras.ops.expand_dims(weights, -1) * h, axis=1)",
                    "keras.ops.mean(keras.ops.expand_dims(weights, -1) * h, axis=1)",
                )
            ]
        },
    ),
    "pooling_with_numpy": Mistake(
        why="NumPy inside call: right when called eagerly, but it cannot run inside a Keras model",
        breaks=frozenset({"test_attention_pooling"}),
        replace={
            "attention_pooling": _POOLING_CLASS.format(
                body="""
        scores = np.asarray(self.score_out(self.score_hidden(h)))[..., 0]
        if mask is not None:
            scores = np.where(np.asarray(mask).astype(bool), scores, -1e9)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights = weights / weights.sum(axis=-1, keepdims=True)
        return (weights[..., None] * np.asarray(h)).sum(axis=1), weights
"""
            )
        },
    ),
    "pooling_skipped": Mistake(
        why="exercise 1 left undone (call raises NotImplementedError): the model test keeps its "
        "points (the grader's values answer the layer inside the student's model)",
        breaks=frozenset({"test_attention_pooling"}),
        replace={
            "attention_pooling": _POOLING_CLASS.format(body="        raise NotImplementedError()\n")
        },
    ),
    "weights_not_returned": Mistake(
        why="call returns the pooled vector only, not (pooled, weights): the model test keeps its "
        "points (the grader's values answer the layer inside the student's model)",
        breaks=frozenset({"test_attention_pooling"}),
        edits={
            "attention_pooling": [("        return pooled, weights\n", "        return pooled\n")]
        },
    ),
    # --- exercise 2: the model ------------------------------------------------------------------
    "embedding_without_mask_zero": Mistake(
        why="Embedding without mask_zero=True: no padding mask reaches the attention",
        breaks=frozenset({"test_gru_attention"}),
        edits={"gru_attention": [("embed_dim, mask_zero=True)", "embed_dim)")]},
    ),
    "gru_last_state_only": Mistake(
        why="GRU without return_sequences: attention gets one vector per review, not per step",
        breaks=frozenset({"test_gru_attention"}),
        edits={
            "gru_attention": [
                (
                    "keras.layers.GRU(gru_units, return_sequences=True)",
                    "keras.layers.GRU(gru_units)",
                )
            ]
        },
    ),
    "unidirectional_gru": Mistake(
        why="a plain GRU instead of the bidirectional one asked for",
        breaks=frozenset({"test_gru_attention"}),
        edits={
            "gru_attention": [
                (
                    "states = keras.layers.Bidirectional(\n"
                    "        keras.layers.GRU(gru_units, return_sequences=True))(x)",
                    "states = keras.layers.GRU(gru_units, return_sequences=True)(x)",
                )
            ]
        },
    ),
    "sizes_from_config": Mistake(
        why="the sizes come from CONFIG instead of the arguments (right for the notebook's own call only)",
        breaks=frozenset({"test_gru_attention"}),
        edits={
            "gru_attention": [
                (
                    "keras.layers.Embedding(vocab_size, embed_dim, mask_zero=True)",
                    'keras.layers.Embedding(vocab_size, CONFIG["embed_dim"], mask_zero=True)',
                ),
                (
                    "keras.layers.GRU(gru_units, return_sequences=True)",
                    'keras.layers.GRU(CONFIG["gru_units"], return_sequences=True)',
                ),
                (
                    "AttentionPooling(attention_units,",
                    'AttentionPooling(CONFIG["attention_units"],',
                ),
            ]
        },
    ),
    "dropout_argument_ignored": Mistake(
        why="fixed dropout rates of 0.3 whatever the dropout argument",
        breaks=frozenset({"test_gru_attention"}),
        edits={
            "gru_attention": [
                (
                    "keras.layers.SpatialDropout1D(dropout)(x)",
                    "keras.layers.SpatialDropout1D(0.3)(x)",
                ),
                ("keras.layers.Dropout(dropout)(pooled)", "keras.layers.Dropout(0.3)(pooled)"),
            ]
        },
    ),
    "last_states_concatenated": Mistake(
        why="the GRU's last states are concatenated to the pooled vector before the head",
        breaks=frozenset({"test_gru_attention"}),
        edits={
            "gru_attention": [
                (
                    "states = keras.layers.Bidirectional(\n"
                    "        keras.layers.GRU(gru_units, return_sequences=True))(x)",
                    "states, *last = keras.layers.Bidirectional(\n"
                    "        keras.layers.GRU(gru_units, return_sequences=True, return_state=True))(x)",
                ),
                (
                    "x = keras.layers.Dropout(dropout)(pooled)",
                    "x = keras.layers.Dropout(dropout)(keras.layers.Concatenate()([pooled, *last]))",
                ),
            ]
        },
    ),
    "logits_head": Mistake(
        why="Dense(1) without the sigmoid: the model outputs logits, not probabilities",
        breaks=frozenset({"test_gru_attention"}),
        edits={
            "gru_attention": [
                ('keras.layers.Dense(1, activation="sigmoid")(x)', "keras.layers.Dense(1)(x)")
            ]
        },
    ),
    # --- exercise 3: shapes ---------------------------------------------------------------------
    "bidirectional_width_forgotten": Mistake(
        why="GRU states of width 32: the two directions are concatenated (64)",
        breaks=frozenset({"test_model_shapes"}),
        edits={"model_shapes": [('"gru_states": (32, 200, 80),', '"gru_states": (32, 200, 40),')]},
    ),
    "pooled_width_of_attention": Mistake(
        why="the pooled vector given the attention's width (24) instead of the GRU states' (80)",
        breaks=frozenset({"test_model_shapes"}),
        edits={"model_shapes": [('"pooled": (32, 80),', '"pooled": (32, 24),')]},
    ),
    # --- exercise 4: token + position embedding ---------------------------------------------------
    "positions_not_added": Mistake(
        why="only the token embedding: attention cannot tell positions apart",
        breaks=frozenset({"test_token_position_embedding"}),
        edits={
            "token_position_embedding": [
                (
                    "return self.token(ids) + keras.ops.expand_dims(self.position(positions), 0)",
                    "return self.token(ids)",
                )
            ]
        },
    ),
    "position_embedding_of_ids": Mistake(
        why="the position table looked up with the token ids instead of the positions",
        breaks=frozenset({"test_token_position_embedding"}),
        edits={
            "token_position_embedding": [
                ("keras.ops.expand_dims(self.position(positions), 0)", "self.position(ids)")
            ]
        },
    ),
    "no_padding_mask": Mistake(
        why="compute_mask returns None: padding is attended to and averaged",
        breaks=frozenset({"test_token_position_embedding"}),
        edits={"token_position_embedding": [("return keras.ops.not_equal(ids, 0)", "return None")]},
    ),
    "static_sequence_length": Mistake(
        why="T from ids.shape: None inside a model whose inputs have an unknown length",
        breaks=frozenset({"test_token_position_embedding"}),
        edits={
            "token_position_embedding": [
                ("keras.ops.arange(keras.ops.shape(ids)[-1])", "keras.ops.arange(ids.shape[-1])")
            ]
        },
    ),
    "mask_as_integers": Mistake(
        why="compute_mask returns 0/1 integers instead of booleans",
        breaks=frozenset({"test_token_position_embedding"}),
        edits={
            "token_position_embedding": [
                (
                    "return keras.ops.not_equal(ids, 0)",
                    'return keras.ops.cast(keras.ops.not_equal(ids, 0), "int32")',
                )
            ]
        },
    ),
    # --- exercise 5: nearest neighbours (notebook 01's contract) --------------------------------
    "dot_product_not_cosine": Mistake(
        why="ranked by dot product: long vectors win whatever their direction",
        breaks=frozenset({"test_nearest_neighbours"}),
        edits={
            "nearest_neighbours": [
                (
                    "unit = embeddings / np.where(norms > 0, norms, 1.0)[:, None]",
                    "unit = embeddings",
                )
            ]
        },
    ),
    "neighbours_include_the_word": Mistake(
        why="the word itself is its own nearest neighbour",
        breaks=frozenset({"test_nearest_neighbours"}),
        edits={"nearest_neighbours": [("for i in order if i != index]", "for i in order]")]},
    ),
    "first_of_ranking_dropped": Mistake(
        why="the word excluded as the first of the ranking, not by its row: a word pointing "
        "exactly the same way may be dropped instead",
        breaks=frozenset({"test_nearest_neighbours"}),
        edits={
            "nearest_neighbours": [
                (
                    "[str(id_to_word[i]) for i in order if i != index][:k]",
                    "[str(id_to_word[i]) for i in order[1:]][:k]",
                )
            ]
        },
    ),
    "ties_in_reverse_row_order": Mistake(
        why="np.argsort(sims)[::-1]: the most similar first, but equal similarities in reverse "
        "row order",
        breaks=frozenset({"test_nearest_neighbours"}),
        edits={
            "nearest_neighbours": [
                ('np.argsort(-sims, kind="stable")', 'np.argsort(sims, kind="stable")[::-1]')
            ]
        },
    ),
    "dict_order_as_rows": Mistake(
        why="the words taken in the dict's order as if it were the order of the rows",
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
    "unknown_word_returns_empty": Mistake(
        why="an unknown word gives an empty list instead of raising KeyError",
        breaks=frozenset({"test_nearest_neighbours"}),
        edits={
            "nearest_neighbours": [
                (
                    "    index = vocab[word]  # KeyError for an unknown word\n",
                    "    if word not in vocab:\n        return []\n    index = vocab[word]\n",
                )
            ]
        },
    ),
    "zero_vector_gives_nan": Mistake(
        why="dividing by the norms without guarding zero vectors: nan similarity, ranked last",
        breaks=frozenset({"test_nearest_neighbours"}),
        edits={
            "nearest_neighbours": [
                (
                    "unit = embeddings / np.where(norms > 0, norms, 1.0)[:, None]",
                    "unit = embeddings / norms[:, None]",
                )
            ]
        },
    ),
}

DEMO_MISTAKE = "softmax_includes_padding"

# While the model test runs, the grader's values answer AttentionPooling (an input that a correct
# model does not give it goes to the student's own call, so a mistake in the model fails on its
# own): every cell is its own family.
FAMILIES = [
    {"attention_pooling"},
    {"gru_attention"},
    {"model_shapes"},
    {"token_position_embedding"},
    {"nearest_neighbours"},
]

# Correct in a different style: an additive -1e9 mask and a hand-written softmax, einsum,
# keras.ops.take, explicit merge_mode, row-normalised vectors and sorted(), list shapes.
ALTERNATIVE = {
    "attention_pooling": """
class AttentionPooling(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.units = units
        self.score_hidden = keras.layers.Dense(units, activation="tanh")
        self.score_out = keras.layers.Dense(1, use_bias=False)

    def call(self, h, mask=None):
        e = self.score_out(self.score_hidden(h))[:, :, 0]
        if mask is not None:
            e = e + (1.0 - keras.ops.cast(mask, e.dtype)) * -1e9
        e = e - keras.ops.max(e, axis=1, keepdims=True)
        w = keras.ops.exp(e)
        w = w / keras.ops.sum(w, axis=1, keepdims=True)
        if mask is not None:
            w = w * keras.ops.cast(mask, w.dtype)
        return keras.ops.einsum("bt,btd->bd", w, h), w

    def compute_mask(self, inputs, mask=None):
        return None
""",
    "gru_attention": """
def build_gru_attention(vocab_size, embed_dim=64, gru_units=32, attention_units=64, dropout=0.3):
    inputs = keras.Input(shape=(None,), dtype="int32")
    embedding = keras.layers.Embedding(input_dim=vocab_size, output_dim=embed_dim, mask_zero=True)
    recurrent = keras.layers.Bidirectional(
        keras.layers.GRU(units=gru_units, return_sequences=True), merge_mode="concat")
    pooling = AttentionPooling(units=attention_units, name="attention_pooling")
    h = recurrent(keras.layers.SpatialDropout1D(rate=dropout)(embedding(inputs)))
    context, attention = pooling(h)
    output = keras.layers.Dense(units=1, activation="sigmoid")(keras.layers.Dropout(rate=dropout)(context))
    model = keras.Model(inputs=inputs, outputs=output)
    return model, keras.Model(inputs=inputs, outputs=attention)
""",
    "model_shapes": """
GRU_ATTENTION_SHAPES = dict(ids=[32, 200], embedded=[32, 200, 48], gru_states=[32, 200, 2 * 40],
                            attention_hidden=[32, 200, 24], weights=[32, 200], pooled=[32, 2 * 40],
                            probability=[32, 1])
""",
    "token_position_embedding": """
class TokenAndPositionEmbedding(keras.layers.Layer):
    def __init__(self, vocab_size, max_len, dim, **kwargs):
        super().__init__(**kwargs)
        self.token = keras.layers.Embedding(vocab_size, dim)
        self.position = keras.layers.Embedding(max_len, dim)

    def call(self, ids):
        length = keras.ops.shape(ids)[1]
        table = self.position(keras.ops.arange(0, length, 1))
        return self.token(ids) + table[None, :, :]

    def compute_mask(self, ids, mask=None):
        return keras.ops.cast(ids, "int32") > 0
""",
    "nearest_neighbours": """
def nearest_neighbours(word, vocab, embeddings, k=5):
    v = np.asarray(embeddings, dtype=float)
    lengths = np.sqrt((v ** 2).sum(axis=1, keepdims=True))
    unit = v / np.where(lengths == 0, 1, lengths)
    me = vocab[word]
    scores = unit @ unit[me]
    words = sorted(vocab, key=lambda w: (-scores[vocab[w]], vocab[w]))
    return [w for w in words if w != word][:k]
""",
}
