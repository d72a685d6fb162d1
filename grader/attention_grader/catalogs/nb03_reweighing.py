"""Typical mistakes in 03_reweighing, and a different but correct solution.

Each mistake is a small edit of the instructor solution (or a replacement cell) and
names the test cells it must fail; every other test must keep its points. While the
attention tests run, the student's softmax is answered from values the grader computed (and
split/merge/attention while the multi-head tests run), so a mistake costs the points of its own
exercise only: ``softmax_skipped`` and ``heads_skipped`` keep the later exercises' points.
"""

from ..submissions import Mistake

MISTAKES = {
    # --- exercise 1: smoothing weights --------------------------------------------
    "smoothing_columns_normalized": Mistake(
        why="normalised over axis 0 (columns): rows near the edges do not sum to 1",
        breaks=frozenset({"test_smoothing_weights"}),
        edits={
            "smoothing_weights": [
                ("W / W.sum(axis=1, keepdims=True)", "W / W.sum(axis=0, keepdims=True)")
            ]
        },
    ),
    "smoothing_sigma_not_squared": Mistake(
        why="exp(-(i - j)**2 / (2 * sigma)): sigma not squared (right only for sigma = 1)",
        breaks=frozenset({"test_smoothing_weights"}),
        edits={"smoothing_weights": [("(2 * sigma**2)", "(2 * sigma)")]},
    ),
    "smoothing_fixed_normalisation": Mistake(
        why="divided by the Gaussian's constant sigma * sqrt(2 pi) instead of each row's own sum: "
        "rows near the edges (and for small T) do not sum to 1",
        breaks=frozenset({"test_smoothing_weights"}),
        edits={
            "smoothing_weights": [
                ("W / W.sum(axis=1, keepdims=True)", "W / (sigma * np.sqrt(2 * np.pi))")
            ]
        },
    ),
    # --- exercise 2: softmax --------------------------------------------------------
    "softmax_no_max_shift": Mistake(
        why="no subtraction of the maximum: large scores overflow to inf/nan",
        breaks=frozenset({"test_softmax"}),
        edits={"softmax": [("    z = z - np.max(z, axis=axis, keepdims=True)\n", "")]},
    ),
    "softmax_temperature_multiplied": Mistake(
        why="scores multiplied by the temperature instead of divided",
        breaks=frozenset({"test_softmax"}),
        edits={"softmax": [("dtype=np.float64) / temperature", "dtype=np.float64) * temperature")]},
    ),
    "softmax_ignores_axis": Mistake(
        why="always normalises along the last axis, whatever axis is given",
        breaks=frozenset({"test_softmax"}),
        edits={
            "softmax": [
                ("np.max(z, axis=axis, keepdims=True)", "np.max(z, axis=-1, keepdims=True)"),
                ("np.sum(e, axis=axis, keepdims=True)", "np.sum(e, axis=-1, keepdims=True)"),
            ]
        },
    ),
    "softmax_skipped": Mistake(
        why="exercise 2 left undone (softmax raises NotImplementedError): only its own points "
        "go, the attention tests keep theirs (the grader's values answer attention's softmax "
        "calls)",
        breaks=frozenset({"test_softmax"}),
        replace={
            "softmax": """
def softmax(x, axis=-1, temperature=1.0):
    raise NotImplementedError()
"""
        },
    ),
    "softmax_global_max": Mistake(
        why="subtracts the maximum of the whole array, not along the axis: a row far below the "
        "global maximum underflows to 0/0 = nan",
        breaks=frozenset({"test_softmax"}),
        edits={"softmax": [("np.max(z, axis=axis, keepdims=True)", "np.max(z)")]},
    ),
    # --- exercise 3: scaled dot-product attention -----------------------------------
    "attention_no_scaling": Mistake(
        why="scores not divided by sqrt(d_k)",
        breaks=frozenset({"test_attention_values"}),
        edits={"attention": [(" / np.sqrt(d_k)  # (..., T_q, T_k)", "  # (..., T_q, T_k)")]},
    ),
    "attention_softmax_wrong_axis": Mistake(
        why="softmax over the queries axis (-2) instead of the keys axis (-1)",
        breaks=frozenset({"test_attention_values", "test_attention_mask"}),
        edits={"attention": [("softmax(scores, axis=-1)", "softmax(scores, axis=-2)")]},
    ),
    "attention_mask_after_softmax": Mistake(
        why="mask applied to the weights after the softmax (rows no longer sum to 1)",
        breaks=frozenset({"test_attention_mask"}),
        edits={
            "attention": [
                (
                    "        scores = np.where(allowed, scores, -1e9)  # blocked keys: exp(-1e9 - max) == 0\n",
                    "",
                )
            ]
        },
    ),
    "attention_mask_inverted": Mistake(
        why="mask convention inverted: True treated as 'blocked'",
        breaks=frozenset({"test_attention_mask"}),
        edits={"attention": [("np.asarray(mask).astype(bool)", "~np.asarray(mask).astype(bool)")]},
    ),
    "attention_plain_transpose": Mistake(
        why="k.T instead of swapping the last two axes (reverses every axis of a 3-D array)",
        breaks=frozenset({"test_attention_shapes", "test_attention_values", "test_attention_mask"}),
        edits={"attention": [("q @ np.swapaxes(k, -1, -2)", "q @ k.T")]},
    ),
    "attention_scaled_by_d_k": Mistake(
        why="scores divided by d_k instead of sqrt(d_k)",
        breaks=frozenset({"test_attention_values"}),
        edits={"attention": [(" / np.sqrt(d_k)  # (..., T_q, T_k)", " / d_k  # (..., T_q, T_k)")]},
    ),
    "attention_blocked_row_uniform": Mistake(
        why="blocked weights not zeroed after the softmax: a query whose keys are all blocked "
        "gets uniform weights instead of zeros",
        breaks=frozenset({"test_attention_mask"}),
        edits={
            "attention": [
                (
                    "    if mask is not None:\n        weights = np.where(allowed, weights, 0.0)"
                    "  # rows with no allowed key: all zeros\n",
                    "",
                )
            ]
        },
    ),
    "attention_mask_tilde_on_integers": Mistake(
        why="blocked = ~mask: right for booleans, but ~1 and ~0 of a 0/1 integer mask are both "
        "non-zero, so every key is blocked",
        breaks=frozenset({"test_attention_mask"}),
        edits={
            "attention": [
                (
                    "allowed = np.broadcast_to(np.asarray(mask).astype(bool), scores.shape)",
                    "blocked = np.broadcast_to(~np.asarray(mask), scores.shape)",
                ),
                (
                    "scores = np.where(allowed, scores, -1e9)",
                    "scores = np.where(blocked, -1e9, scores)",
                ),
                (
                    "weights = np.where(allowed, weights, 0.0)",
                    "weights = np.where(blocked, 0.0, weights)",
                ),
            ]
        },
    ),
    "attention_mask_boolean_index": Mistake(
        why="scores[~mask] = -1e9: boolean indexing needs the mask's full shape, so a mask that "
        "only broadcasts ((T, T), (batch, 1, T_k), a heads axis of 1) raises IndexError",
        breaks=frozenset({"test_attention_mask"}),
        edits={
            "attention": [
                (
                    "scores = np.where(allowed, scores, -1e9)  # blocked keys: exp(-1e9 - max) == 0",
                    "scores[~np.asarray(mask).astype(bool)] = -1e9",
                )
            ]
        },
    ),
    # --- exercise 4: masks ------------------------------------------------------------
    "padding_mask_inverted": Mistake(
        why="padding mask True on the padding (convention inverted)",
        breaks=frozenset({"test_masks"}),
        edits={"masks": [("(token_ids != pad_id)", "(token_ids == pad_id)")]},
    ),
    "padding_mask_without_query_axis": Mistake(
        why="padding mask of shape (batch, T): broadcasts the batch against the queries",
        breaks=frozenset({"test_masks"}),
        edits={"masks": [("(token_ids != pad_id)[:, None, :]", "(token_ids != pad_id)")]},
    ),
    "causal_mask_transposed": Mistake(
        why="upper triangle: every query attends to the future",
        breaks=frozenset({"test_masks"}),
        edits={"masks": [("np.tril(", "np.triu(")]},
    ),
    "padding_mask_ignores_pad_id": Mistake(
        why="compares with a hard-coded 0 instead of the pad_id argument",
        breaks=frozenset({"test_masks"}),
        edits={"masks": [("(token_ids != pad_id)[:, None, :]", "(token_ids != 0)[:, None, :]")]},
    ),
    "padding_mask_from_lengths": Mistake(
        why="counts the real tokens and keeps the first `length` positions: assumes the padding "
        "is at the end",
        breaks=frozenset({"test_masks"}),
        edits={
            "masks": [
                (
                    "return (token_ids != pad_id)[:, None, :]",
                    "lengths = (token_ids != pad_id).sum(axis=1)\n"
                    "    return (np.arange(token_ids.shape[1])[None, :] < lengths[:, None])[:, None, :]",
                )
            ]
        },
    ),
    "causal_mask_float": Mistake(
        why="np.tril(np.ones((T, T))) is a float array, not the boolean mask the text asks for "
        "(padding_mask(ids) & causal_mask(T) raises TypeError)",
        breaks=frozenset({"test_masks"}),
        edits={"masks": [("np.tril(np.ones((T, T), dtype=bool))", "np.tril(np.ones((T, T)))")]},
    ),
    # --- exercise 5.1: split and merge heads ------------------------------------------
    "merge_without_transpose": Mistake(
        why="heads merged by a plain reshape, without transposing back",
        breaks=frozenset({"test_split_merge_heads"}),
        edits={
            "split_merge_heads": [
                (
                    "return x.transpose(0, 2, 1, 3).reshape(batch, T, num_heads * d)",
                    "return x.reshape(batch, T, num_heads * d)",
                )
            ]
        },
    ),
    "split_without_transpose": Mistake(
        why="heads split by a plain reshape to (batch, h, T, d)",
        breaks=frozenset({"test_split_merge_heads"}),
        edits={
            "split_merge_heads": [
                (
                    "return x.reshape(batch, T, num_heads, width // num_heads).transpose(0, 2, 1, 3)",
                    "return x.reshape(batch, num_heads, T, width // num_heads)",
                )
            ]
        },
    ),
    "heads_skipped": Mistake(
        why="exercise 5.1 left undone (split_heads and merge_heads raise NotImplementedError): "
        "the multi-head tests keep their points (the grader's values answer the helper calls)",
        breaks=frozenset({"test_split_merge_heads"}),
        replace={
            "split_merge_heads": """
def split_heads(x, num_heads):
    raise NotImplementedError()


def merge_heads(x):
    raise NotImplementedError()
"""
        },
    ),
    "heads_strided": Mistake(
        why="every num_heads-th feature goes to one head (reshape to (batch, T, d, h)): merge "
        "undoes it, so the round trip works, but head h is not x[..., h*d:(h+1)*d]",
        breaks=frozenset({"test_split_merge_heads"}),
        edits={
            "split_merge_heads": [
                (
                    "return x.reshape(batch, T, num_heads, width // num_heads).transpose(0, 2, 1, 3)",
                    "return x.reshape(batch, T, width // num_heads, num_heads).transpose(0, 3, 1, 2)",
                ),
                (
                    "return x.transpose(0, 2, 1, 3).reshape(batch, T, num_heads * d)",
                    "return x.transpose(0, 2, 3, 1).reshape(batch, T, num_heads * d)",
                ),
            ]
        },
    ),
    # --- exercise 5.2: multi-head attention -------------------------------------------
    "mha_no_output_projection": Mistake(
        why="output projection Wo, bo missing",
        breaks=frozenset({"test_mha_against_keras", "test_mha_mask"}),
        edits={
            "multi_head_attention": [
                (
                    'output = merge_heads(heads) @ params["Wo"] + params["bo"]',
                    "output = merge_heads(heads)",
                )
            ]
        },
    ),
    "mha_mask_ignored": Mistake(
        why="the mask is not passed on to the attention",
        breaks=frozenset({"test_mha_mask"}),
        edits={
            "multi_head_attention": [
                (
                    "scaled_dot_product_attention(q, k, v, mask)",
                    "scaled_dot_product_attention(q, k, v)",
                )
            ]
        },
    ),
    "mha_key_value_swapped": Mistake(
        why="arguments read as (query, key, value) instead of Keras' (query, value, key); "
        "invisible in self-attention, caught by cross-attention with key != value",
        breaks=frozenset({"test_mha_against_keras"}),
        edits={
            "multi_head_attention": [
                ('np.asarray(key) @ params["Wk"]', 'np.asarray(value) @ params["Wk"]'),
                ('np.asarray(value) @ params["Wv"]', 'np.asarray(key) @ params["Wv"]'),
            ]
        },
    ),
    "mha_no_input_biases": Mistake(
        why="projections without the biases bq, bk, bv",
        breaks=frozenset({"test_mha_against_keras", "test_mha_mask"}),
        edits={
            "multi_head_attention": [
                (' + params["bq"]', ""),
                (' + params["bk"]', ""),
                (' + params["bv"]', ""),
            ]
        },
    ),
    "mha_mask_without_head_axis": Mistake(
        why="the (batch, T_q, T_k) mask passed on as it is: it broadcasts the batch axis against "
        "the heads axis (right only when batch == 1 or every example has the same mask)",
        breaks=frozenset({"test_mha_mask"}),
        edits={
            "multi_head_attention": [
                ("mask = np.asarray(mask)[:, None]", "mask = np.asarray(mask)")
            ]
        },
    ),
    # --- exercise 6: positional encoding ----------------------------------------------
    "pe_sin_cos_swapped": Mistake(
        why="cosines in the even columns, sines in the odd ones",
        breaks=frozenset({"test_positional_encoding"}),
        edits={
            "positional_encoding": [
                ("pe[:, 0::2] = np.sin(angles)", "pe[:, 0::2] = np.cos(angles)"),
                ("pe[:, 1::2] = np.cos(angles)", "pe[:, 1::2] = np.sin(angles)"),
            ]
        },
    ),
    "pe_concatenated": Mistake(
        why="all sines, then all cosines (the concatenated layout, not the stated interleaved one)",
        breaks=frozenset({"test_positional_encoding"}),
        edits={
            "positional_encoding": [
                ("pe[:, 0::2] = np.sin(angles)", "pe[:, : d_model // 2] = np.sin(angles)"),
                ("pe[:, 1::2] = np.cos(angles)", "pe[:, d_model // 2 :] = np.cos(angles)"),
            ]
        },
    ),
    "pe_column_index_exponent": Mistake(
        why="exponent j / d_model for every column j: sin/cos pairs do not share a frequency",
        breaks=frozenset({"test_positional_encoding"}),
        replace={
            "positional_encoding": """
def positional_encoding(seq_len, d_model):
    pos = np.arange(seq_len)[:, None]
    j = np.arange(d_model)[None, :]
    angles = pos / np.power(10000.0, j / d_model)
    return np.where(j % 2 == 0, np.sin(angles), np.cos(angles)).astype(np.float32)
"""
        },
    ),
    "pe_exponent_i_not_2i": Mistake(
        why="frequency 1 / 10000**(i / d_model) with i = 0, 1, 2, ... instead of the even column "
        "index 2i",
        breaks=frozenset({"test_positional_encoding"}),
        edits={
            "positional_encoding": [
                (
                    "two_i = np.arange(0, d_model, 2)[None, :]",
                    "two_i = np.arange(d_model // 2)[None, :]",
                )
            ]
        },
    ),
    # --- exercise 7: encoder block ----------------------------------------------------
    "shapes_forgot_heads": Mistake(
        why="attention weights predicted without the heads axis",
        breaks=frozenset({"test_encoder_shapes"}),
        edits={
            "encoder_shapes": [
                ('"attention_weights": (2, 2, 5, 5),', '"attention_weights": (2, 5, 5),')
            ]
        },
    ),
    "encoder_no_residual": Mistake(
        why="no residual connections: norm(attention(x)) and norm(ffn(h))",
        breaks=frozenset({"test_encoder_block"}),
        edits={
            "encoder_block": [
                (
                    "h = self.norm1(x + self.dropout1(a, training=training))",
                    "h = self.norm1(self.dropout1(a, training=training))",
                ),
                (
                    "return self.norm2(h + self.dropout2(f, training=training))",
                    "return self.norm2(self.dropout2(f, training=training))",
                ),
            ]
        },
    ),
    "encoder_dropout_always_on": Mistake(
        why="dropout called with training=True: the block is random at inference",
        breaks=frozenset({"test_encoder_block"}),
        edits={
            "encoder_block": [
                ("self.dropout1(a, training=training)", "self.dropout1(a, training=True)"),
                ("self.dropout2(f, training=training)", "self.dropout2(f, training=True)"),
            ]
        },
    ),
    "shapes_ffn_hidden_as_d_model": Mistake(
        why="the feed-forward network's hidden layer predicted with d_model units instead of d_ff",
        breaks=frozenset({"test_encoder_shapes"}),
        edits={"encoder_shapes": [('"ffn_hidden": (2, 5, 32),', '"ffn_hidden": (2, 5, 8),')]},
    ),
    "encoder_pre_norm": Mistake(
        why="pre-norm (x + attention(norm1(x)), then h + ffn(norm2(h))) instead of the post-norm "
        "block the text asks for",
        breaks=frozenset({"test_encoder_block"}),
        edits={
            "encoder_block": [
                (
                    "a = self.attention(x, x, x, attention_mask=attention_mask, training=training)",
                    "n = self.norm1(x)\n        "
                    "a = self.attention(n, n, n, attention_mask=attention_mask, training=training)",
                ),
                (
                    "h = self.norm1(x + self.dropout1(a, training=training))",
                    "h = x + self.dropout1(a, training=training)",
                ),
                ("f = self.ffn(h)", "f = self.ffn(self.norm2(h))"),
                (
                    "return self.norm2(h + self.dropout2(f, training=training))",
                    "return h + self.dropout2(f, training=training)",
                ),
            ]
        },
    ),
    "encoder_norm1_twice": Mistake(
        why="norm1 used for both add & norm steps (norm2 never used)",
        breaks=frozenset({"test_encoder_block"}),
        edits={
            "encoder_block": [
                (
                    "return self.norm2(h + self.dropout2(f, training=training))",
                    "return self.norm1(h + self.dropout2(f, training=training))",
                )
            ]
        },
    ),
    "encoder_no_dropout": Mistake(
        why="the dropout layers are never applied: the block ignores training=True",
        breaks=frozenset({"test_encoder_block"}),
        edits={
            "encoder_block": [
                ("self.dropout1(a, training=training)", "a"),
                ("self.dropout2(f, training=training)", "f"),
            ]
        },
    ),
    "encoder_dropout_on_the_sum": Mistake(
        why="dropout applied to the residual sum (norm1(dropout1(x + a)), norm2(dropout2(h + f))) "
        "instead of to each sub-layer's output before the add: in training it drops the residual "
        "path too (seen with dropout=1.0, training=True)",
        breaks=frozenset({"test_encoder_block"}),
        edits={
            "encoder_block": [
                (
                    "h = self.norm1(x + self.dropout1(a, training=training))",
                    "h = self.norm1(self.dropout1(x + a, training=training))",
                ),
                (
                    "return self.norm2(h + self.dropout2(f, training=training))",
                    "return self.norm2(self.dropout2(h + f, training=training))",
                ),
            ]
        },
    ),
    "encoder_mask_not_expanded": Mistake(
        why="mask (batch, T) passed as attention_mask without the query axis: Keras broadcasts "
        "the batch axis against the queries",
        breaks=frozenset({"test_encoder_block_mask"}),
        edits={
            "encoder_block": [
                ('keras.ops.cast(mask, "bool")[:, None, :]', 'keras.ops.cast(mask, "bool")')
            ]
        },
    ),
    "encoder_mask_on_queries": Mistake(
        why="attention_mask (batch, T, 1): blocks the padded queries instead of the padded keys, "
        "so real tokens still attend to the padding",
        breaks=frozenset({"test_encoder_block_mask"}),
        edits={
            "encoder_block": [
                (
                    'keras.ops.cast(mask, "bool")[:, None, :]',
                    'keras.ops.cast(mask, "bool")[:, :, None]',
                )
            ]
        },
    ),
    "encoder_mask_ignored": Mistake(
        why="the padding mask is not passed to the attention",
        breaks=frozenset({"test_encoder_block_mask"}),
        edits={"encoder_block": [("attention_mask=attention_mask", "attention_mask=None")]},
    ),
}

DEMO_MISTAKE = "attention_no_scaling"

# Solution cells that call each other inside their own tests. While the attention tests run the
# grader's values answer softmax's calls, and the multi-head tests' calls of the helpers, so
# those cells are independent families (a call that a correct solution does not make goes to the
# student's own function: a mistake that changes the calls fails on its own).
FAMILIES = [
    {"smoothing_weights"},
    {"softmax"},
    {"attention"},
    {"masks"},
    {"split_merge_heads"},
    {"multi_head_attention"},
    {"positional_encoding"},
    {"encoder_shapes"},
    {"encoder_block"},
]

# A different but correct solution: loops, TensorFlow instead of NumPy, einsum instead
# of matmul, float64, tensors as return values, lists instead of tuples, one Dropout layer for
# both sub-layer outputs of the encoder block.
ALTERNATIVE = {
    "smoothing_weights": """
import math

def smoothing_weights(T, sigma):
    W = np.zeros((T, T))
    for i in range(T):
        for j in range(T):
            W[i, j] = math.exp(-((i - j) ** 2) / (2 * sigma * sigma))
        W[i] = W[i] / W[i].sum()
    return W
""",
    "softmax": """
import tensorflow as tf

def softmax(x, axis=-1, temperature=1.0):
    return tf.nn.softmax(tf.convert_to_tensor(x, tf.float64) / temperature, axis=axis)
""",
    "attention": """
import tensorflow as tf

def scaled_dot_product_attention(q, k, v, mask=None):
    q, k, v = (tf.convert_to_tensor(t, tf.float64) for t in (q, k, v))
    d_k = tf.cast(tf.shape(q)[-1], tf.float64)
    scores = tf.einsum("...qd,...kd->...qk", q, k) / tf.sqrt(d_k)
    if mask is None:
        weights = tf.nn.softmax(scores, axis=-1)
    else:
        allowed = tf.broadcast_to(tf.cast(mask, tf.bool), tf.shape(scores))
        weights = tf.nn.softmax(tf.where(allowed, scores, tf.constant(-1e30, tf.float64)), axis=-1)
        weights = tf.where(allowed, weights, tf.zeros_like(weights))
    return tf.einsum("...qk,...kd->...qd", weights, v), weights
""",
    "masks": """
import tensorflow as tf

def padding_mask(token_ids, pad_id=0):
    return tf.not_equal(tf.convert_to_tensor(token_ids), pad_id)[:, tf.newaxis, :]


def causal_mask(T):
    return tf.linalg.band_part(tf.ones((T, T)), -1, 0) > 0
""",
    "split_merge_heads": """
import tensorflow as tf

def split_heads(x, num_heads):
    x = tf.convert_to_tensor(x)
    batch, T = tf.shape(x)[0], tf.shape(x)[1]
    return tf.transpose(tf.reshape(x, (batch, T, num_heads, -1)), perm=(0, 2, 1, 3))


def merge_heads(x):
    x = tf.transpose(tf.convert_to_tensor(x), perm=(0, 2, 1, 3))
    return tf.reshape(x, (tf.shape(x)[0], tf.shape(x)[1], -1))
""",
    "multi_head_attention": """
import tensorflow as tf

def multi_head_attention(query, value, key, params, num_heads, mask=None):
    P = {name: tf.constant(np.asarray(w, dtype=np.float64)) for name, w in params.items()}

    def project(x, name):
        return tf.einsum("btd,de->bte", tf.cast(x, tf.float64), P["W" + name]) + P["b" + name]

    q = split_heads(project(query, "q"), num_heads)
    k = split_heads(project(key, "k"), num_heads)
    v = split_heads(project(value, "v"), num_heads)
    if mask is not None:
        mask = tf.expand_dims(tf.cast(mask, tf.bool), axis=1)
    heads, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    merged = tf.convert_to_tensor(merge_heads(heads), tf.float64)
    return tf.einsum("bte,ed->btd", merged, P["Wo"]) + P["bo"], weights
""",
    "positional_encoding": """
import math

import tensorflow as tf

def positional_encoding(seq_len, d_model):
    pe = np.empty((seq_len, d_model))
    for pos in range(seq_len):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            pe[pos, 2 * i] = math.sin(angle)
            pe[pos, 2 * i + 1] = math.cos(angle)
    return tf.constant(pe)
""",
    "encoder_shapes": """
batch, T, d_model, heads, d_ff = 2, 5, 8, 2, 32
ENCODER_SHAPES = {
    "input": [batch, T, d_model],
    "attention_weights": [batch, heads, T, T],
    "attention_output": np.zeros((batch, T, d_model)).shape,
    "after_add_norm_1": (batch, T, d_model),
    "ffn_hidden": (batch, T, d_ff),
    "block_output": (batch, T, d_model),
}
""",
    "encoder_block": """
class TransformerEncoderBlock(keras.layers.Layer):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.attention = keras.layers.MultiHeadAttention(num_heads=num_heads,
                                                         key_dim=d_model // num_heads)
        self.dropout1 = keras.layers.Dropout(dropout)
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.ffn = keras.Sequential([keras.layers.Dense(d_ff, activation="relu"),
                                     keras.layers.Dense(d_model)])
        self.dropout2 = keras.layers.Dropout(dropout)
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6)

    def call(self, x, mask=None, training=False):
        extra = {}
        if mask is not None:
            extra["attention_mask"] = keras.ops.expand_dims(keras.ops.cast(mask, "bool"), 1)
        attended = self.attention(query=x, value=x, key=x, training=training, **extra)
        x = self.norm1(keras.ops.add(x, self.dropout1(attended, training=training)))
        # one Dropout layer for both sub-layer outputs: the same rate, the same placement
        return self.norm2(keras.ops.add(x, self.dropout1(self.ffn(x, training=training),
                                                         training=training)))
""",
}
