"""IMDB sentiment models: the full-run configurations of notebook 05, and ``make bench``.

Instructor-only (students never have it: it holds solutions of notebooks 04 and 05).
Notebook 05 has the student build the attention pooling layer and the embeddings; this
module holds reference versions of the same models so that ``course bench`` can train
them on the official split and print one line per model::

    model=<name> test_acc=<0.xxxx> train_s=<seconds> epochs=<n> seq_len=<n>

Epochs are chosen by early stopping on a validation split carved from the training
reviews (``FULL_RUN["val_fraction"]``); the test split is evaluated once per model.
``train_s`` is the wall time of ``fit`` (vectorization and evaluation excluded).

tests/test_notebook05_matches_bench.py keeps this module faithful to notebook 05: same
networks (outputs compared with copied weights), same ``FULL_RUN``, same standardization
(notebook 05 gives notebook 04's as provided code).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

# The full-run settings. Notebook 05 defines the same dict in its setup cell (students do not
# have this module); tests/test_notebook05_matches_bench.py checks that the two are equal.
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
    # part, so one head of width 32 (2 heads took twice the time for lower test accuracy), and
    # a smaller learning rate than the GRUs (its validation accuracy peaks in the first epochs)
    "transformer_dim": 32,
    "heads": 1,
    "ff_dim": 64,
    "transformer_learning_rate": 1e-3,
    "transformer_seq_len": 400,
    "transformer_max_epochs": 2,
    "seed": 0,
}
BENCH_MODELS = ("tfidf_logreg", "gru", "gru_attention", "transformer")

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


def _layers():
    """Keras layer classes, defined on first use (importing keras costs seconds)."""
    import keras

    class AttentionPooling(keras.layers.Layer):
        """Additive attention pooling over time with a padding mask.

        ``(batch, T, d)`` hidden states -> ``(batch, d)``; weights ``(batch, T)`` sum to 1 over
        the real steps and are 0 on padding.
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
                scores = keras.ops.where(keras.ops.cast(mask, "bool"), scores, -1e9)
            weights = keras.ops.softmax(scores, axis=-1)
            pooled = keras.ops.sum(weights[..., None] * h, axis=1)
            return (pooled, weights) if return_weights else pooled

        def compute_mask(self, inputs, mask=None):
            return None

        def get_config(self):
            return {**super().get_config(), "units": self.units}

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

    return AttentionPooling, TokenAndPositionEmbedding, MaskedAveragePooling, EncoderBlock


def build_model(name: str, vocab_size: int, seq_len: int, cfg: dict | None = None):
    """One of ``gru``, ``gru_attention``, ``transformer``: ids (batch, seq_len) -> (batch, 1)."""
    import keras

    cfg = {**FULL_RUN, **(cfg or {})}
    attention_pooling, token_position, masked_average, encoder_block = _layers()
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
            raise ValueError(f"unknown model {name!r}; expected one of {BENCH_MODELS[1:]}")
    x = keras.layers.Dropout(cfg["dropout"])(x)
    out = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(ids, out, name=name)
    rate = cfg["transformer_learning_rate" if name == "transformer" else "learning_rate"]
    model.compile(
        optimizer=keras.optimizers.Adam(rate), loss="binary_crossentropy", metrics=["accuracy"]
    )
    return model


@dataclass
class BenchResult:
    model: str
    test_acc: float
    train_s: float
    epochs: int
    seq_len: int

    def line(self) -> str:
        return (
            f"model={self.model} test_acc={self.test_acc:.4f} train_s={self.train_s:.0f} "
            f"epochs={self.epochs} seq_len={self.seq_len}"
        )


def _split_train(texts: list[str], labels: np.ndarray, fraction: float, seed: int):
    order = np.random.default_rng(seed).permutation(len(texts))
    n_val = int(round(fraction * len(texts)))
    val, train = order[:n_val], order[n_val:]
    pick = lambda idx: ([texts[i] for i in idx], labels[idx])  # noqa: E731
    return pick(train), pick(val)


def tfidf_logreg(
    train: tuple[list[str], np.ndarray], test: tuple[list[str], np.ndarray]
) -> BenchResult:
    """TF-IDF of unigrams and bigrams + logistic regression (the classic baseline)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    vectorizer = TfidfVectorizer(
        preprocessor=standardize_text,
        token_pattern=r"[^ ]+",
        ngram_range=(1, 2),
        min_df=2,
        max_features=200_000,
        sublinear_tf=True,
    )
    features = vectorizer.fit_transform(train[0])
    classifier = LogisticRegression(C=4.0, max_iter=2000).fit(features, train[1])
    train_s = time.perf_counter() - start
    accuracy = float(np.mean(classifier.predict(vectorizer.transform(test[0])) == test[1]))
    return BenchResult("tfidf_logreg", accuracy, train_s, 1, 0)


def neural(
    name: str, train, test, cfg: dict | None = None, log: Callable[[str], None] = lambda _: None
) -> BenchResult:
    """Train ``name`` with early stopping on a validation split; evaluate the test split once."""
    import keras
    import tensorflow as tf

    cfg = {**FULL_RUN, **(cfg or {})}
    if name == "transformer":
        cfg.update(seq_len=cfg["transformer_seq_len"], max_epochs=cfg["transformer_max_epochs"])
    keras.utils.set_random_seed(cfg["seed"])
    (tr_texts, tr_labels), (val_texts, val_labels) = _split_train(
        train[0], train[1], cfg["val_fraction"], cfg["seed"]
    )
    vectorizer = keras.layers.TextVectorization(
        max_tokens=cfg["max_tokens"], standardize=standardize, output_sequence_length=cfg["seq_len"]
    )
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(tr_texts).batch(1024))

    def dataset(texts, labels, training):
        ids = vectorizer(tf.constant(texts)).numpy().astype("int32")
        ds = tf.data.Dataset.from_tensor_slices((ids, labels.astype("float32")))
        if training:
            ds = ds.shuffle(len(ids), seed=cfg["seed"])
        return ds.batch(cfg["batch_size"]).prefetch(tf.data.AUTOTUNE)

    train_ds = dataset(tr_texts, tr_labels, True)
    val_ds = dataset(val_texts, val_labels, False)
    model = build_model(name, cfg["max_tokens"], cfg["seq_len"], cfg)
    stop = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", patience=cfg["patience"], restore_best_weights=True
    )
    start = time.perf_counter()
    history = model.fit(
        train_ds, validation_data=val_ds, epochs=cfg["max_epochs"], callbacks=[stop], verbose=0
    )
    train_s = time.perf_counter() - start
    val_acc = history.history["val_accuracy"]
    best = int(np.argmax(val_acc)) + 1
    log(f"  {name}: val_accuracy per epoch {[round(v, 4) for v in val_acc]} -> epoch {best}")
    _, test_acc = model.evaluate(dataset(test[0], test[1], False), verbose=0)
    return BenchResult(name, float(test_acc), train_s, best, cfg["seq_len"])


def run_benchmark(
    models: Iterable[str] = BENCH_MODELS,
    source: str = "real",
    cfg: dict | None = None,
    limit: int | None = None,
    log: Callable[[str], None] = print,
) -> list[BenchResult]:
    """Train every model of ``models`` on the official split and print its result line."""
    from attention_course.data import load_imdb

    models = list(models)
    unknown = sorted(set(models) - set(BENCH_MODELS))
    if unknown:
        raise ValueError(f"unknown models {unknown}; choose from {list(BENCH_MODELS)}")
    train = load_imdb("train", source=source, limit=limit)
    test = load_imdb("test", source=source, limit=limit)
    results = []
    for name in models:
        if name == "tfidf_logreg":
            result = tfidf_logreg(train, test)
        else:
            result = neural(name, train, test, cfg, log=log)
        print(result.line(), flush=True)
        results.append(result)
    return results
