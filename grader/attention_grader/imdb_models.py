"""The IMDB sentiment models of notebook 05, as the instructor's reference.

Instructor-only (students never have it: it holds solutions of notebooks 04 and 05).
Notebook 05 has the student build the attention pooling layer and the embeddings; this
module holds reference versions of the same networks, with the full-run configuration
``FULL_RUN`` and notebook 04's standardization, for ``course bench``
(:mod:`attention_grader.bench`), which trains and evaluates them.

tests/test_notebook05_matches_imdb_models.py keeps this module faithful to notebook 05: same
networks (outputs compared with copied weights), same ``FULL_RUN``, same standardization
(notebook 05 gives notebook 04's as provided code).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

# The full-run settings. Notebook 05 defines the same dict in its setup cell (students do not
# have this module); tests/test_notebook05_matches_imdb_models.py checks that the two are equal.
FULL_RUN: dict = {
    "max_tokens": 30000,  # vocabulary incl. the reserved ids 0 (padding) and 1 ([UNK])
    "seq_len": 400,  # tokens per review
    "batch_size": 64,
    "val_fraction": 0.1,  # of the training reviews, for early stopping
    "max_epochs": 4,
    "patience": 1,
    "learning_rate": 2e-3,
    "embed_dim": 64,
    "gru_units": 32,  # per direction (bidirectional)
    "attention_units": 64,
    "dropout": 0.3,
    # the transformer: on two CPU cores the (batch, heads, T, T) attention scores are the slow
    # part, so one head of width 32 (fixed for speed, not tuned), and a smaller learning rate
    # than the GRUs (its validation accuracy peaks in the first epochs)
    "transformer_dim": 32,
    "heads": 1,
    "ff_dim": 64,
    "transformer_learning_rate": 1e-3,
    "transformer_seq_len": 400,
    "transformer_max_epochs": 2,
    "seed": 0,
}
NEURAL_MODELS = ("gru", "gru_attention", "transformer")
"""The networks :func:`build_model` builds."""

_TAG = re.compile(r"<[^<>]*>")
_NON_WORD = re.compile(r"[^\w']+")  # \w is unicode-aware in Python (underscore aside)
_EDGE_APOSTROPHES = re.compile(r"(^|\s)'+|'+(?=\s|$)")
_SPACES = re.compile(r"\s+")


def standardize_text(text: str) -> str:
    """Python twin of :func:`standardize` (for scikit-learn): the rules of notebook 04."""
    text = _TAG.sub(" ", text.lower()).replace("\u2019", "'")
    text = _NON_WORD.sub(" ", text.replace("_", " "))
    text = _EDGE_APOSTROPHES.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def standardize(text):
    """Notebook 04's standardization for ``TextVectorization`` (string tensor in and out)."""
    import tensorflow as tf

    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, r"<[^<>]*>", " ")
    text = tf.strings.regex_replace(text, "\u2019", "'")
    text = tf.strings.regex_replace(text, r"[^\p{L}\p{N}']+", " ")
    text = tf.strings.regex_replace(text, r"(^|\s)'+", " ")
    text = tf.strings.regex_replace(text, r"'+(\s|$)", " ")
    text = tf.strings.regex_replace(text, r"\s+", " ")
    return tf.strings.strip(text)


class Layers(NamedTuple):
    """The Keras layer classes of the models."""

    attention_pooling: Any
    token_and_position_embedding: Any
    masked_average_pooling: Any
    encoder_block: Any


def layer_classes() -> Layers:
    """The Keras layer classes, defined on each call (importing keras costs seconds)."""
    import keras

    return Layers(
        _attention_pooling(keras),
        _token_and_position_embedding(keras),
        _masked_average_pooling(keras),
        _encoder_block(keras),
    )


def _attention_pooling(keras: Any) -> type:
    class AttentionPooling(keras.layers.Layer):
        """Attention pooling over time (additive scores, one learned query) with a padding mask.

        ``(batch, T, d)`` hidden states -> ``(batch, d)``; weights ``(batch, T)`` sum to 1 over
        the real steps and are 0 on padding; a row with no real step gets weights 0 and a zero
        pooled vector (notebook 03's choice for a query that may attend to nothing).
        """

        def __init__(self, units: int, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True
            self.units = units
            self.score_hidden = keras.layers.Dense(units, activation="tanh")
            self.score_out = keras.layers.Dense(1, use_bias=False)

        def call(self, h, mask=None, return_weights=False):
            scores = keras.ops.squeeze(self.score_out(self.score_hidden(h)), -1)  # (batch, T)
            if mask is not None:
                real = keras.ops.cast(mask, "bool")
                scores = keras.ops.where(real, scores, -1e9)
            weights = keras.ops.softmax(scores, axis=-1)
            if mask is not None:  # a row with no real step: all weights 0
                weights = keras.ops.where(real, weights, 0.0)
            pooled = keras.ops.sum(weights[..., None] * h, axis=1)
            return (pooled, weights) if return_weights else pooled

        def compute_mask(self, inputs, mask=None):
            return None

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return AttentionPooling


def _token_and_position_embedding(keras: Any) -> type:
    class TokenAndPositionEmbedding(keras.layers.Layer):
        """Token embedding (id 0 = padding, masked) plus a learned position embedding."""

        def __init__(self, vocab_size: int, seq_len: int, dim: int, **kwargs):
            super().__init__(**kwargs)
            self.token = keras.layers.Embedding(vocab_size, dim, mask_zero=True)
            self.position = keras.layers.Embedding(seq_len, dim)

        def call(self, ids):
            positions = keras.ops.arange(keras.ops.shape(ids)[-1])
            return self.token(ids) + self.position(positions)[None]

        def compute_mask(self, ids, mask=None):
            return keras.ops.not_equal(ids, 0)

    return TokenAndPositionEmbedding


def _masked_average_pooling(keras: Any) -> type:
    class MaskedAveragePooling(keras.layers.Layer):
        """Mean over the real steps: ``(batch, T, d)`` -> ``(batch, d)``."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, x, mask=None):
            if mask is None:
                return keras.ops.mean(x, axis=1)
            m = keras.ops.cast(mask, x.dtype)[..., None]
            return keras.ops.sum(x * m, axis=1) / keras.ops.maximum(keras.ops.sum(m, axis=1), 1.0)

        def compute_mask(self, inputs, mask=None):
            return None

    return MaskedAveragePooling


def _encoder_block(keras: Any) -> type:
    class EncoderBlock(keras.layers.Layer):
        """Post-norm transformer encoder block (notebook 03) that honours a padding mask."""

        def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True
            self.attention = keras.layers.MultiHeadAttention(heads, dim // heads, dropout=dropout)
            self.ffn = keras.Sequential(
                [keras.layers.Dense(ff_dim, activation="relu"), keras.layers.Dense(dim)]
            )
            self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6)
            self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6)
            self.drop1 = keras.layers.Dropout(dropout)
            self.drop2 = keras.layers.Dropout(dropout)

        def call(self, x, mask=None, training=False):
            attention_mask = None
            if mask is not None:
                attention_mask = keras.ops.expand_dims(keras.ops.cast(mask, "bool"), 1)
            a = self.attention(x, x, x, attention_mask=attention_mask, training=training)
            h = self.norm1(x + self.drop1(a, training=training))
            return self.norm2(h + self.drop2(self.ffn(h), training=training))

    return EncoderBlock


def build_model(name: str, vocab_size: int, seq_len: int, cfg: dict | None = None):
    """One of ``gru``, ``gru_attention``, ``transformer``: ids (batch, seq_len) -> (batch, 1)."""
    import keras

    cfg = {**FULL_RUN, **(cfg or {})}
    attention_pooling, token_position, masked_average, encoder_block = layer_classes()
    ids = keras.Input(shape=(seq_len,), dtype="int32")
    if name == "transformer":
        x = token_position(vocab_size, seq_len, cfg["transformer_dim"])(ids)
        x = keras.layers.Dropout(cfg["dropout"])(x)
        x = encoder_block(cfg["transformer_dim"], cfg["heads"], cfg["ff_dim"], cfg["dropout"])(x)
        x = masked_average()(x)
    else:
        x = keras.layers.Embedding(vocab_size, cfg["embed_dim"], mask_zero=True)(ids)
        x = keras.layers.SpatialDropout1D(cfg["dropout"])(x)
        if name == "gru":
            x = keras.layers.Bidirectional(keras.layers.GRU(cfg["gru_units"]))(x)
        elif name == "gru_attention":
            x = keras.layers.Bidirectional(
                keras.layers.GRU(cfg["gru_units"], return_sequences=True)
            )(x)
            x = attention_pooling(cfg["attention_units"], name="attention_pooling")(x)
        else:
            raise ValueError(f"unknown model {name!r}; expected one of {NEURAL_MODELS}")
    x = keras.layers.Dropout(cfg["dropout"])(x)
    out = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(ids, out, name=name)
    rate = cfg["transformer_learning_rate" if name == "transformer" else "learning_rate"]
    model.compile(
        optimizer=keras.optimizers.Adam(rate), loss="binary_crossentropy", metrics=["accuracy"]
    )
    return model
