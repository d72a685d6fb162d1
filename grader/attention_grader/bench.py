"""``course bench`` (``make bench``): the IMDB models of notebook 05 on the official split.

Instructor-only. Trains the tf-idf baseline and each network of
:mod:`attention_grader.imdb_models` in its full-run configuration (``FULL_RUN``), and prints
one line per model::

    model=<name> test_acc=<0.xxxx> train_s=<seconds> epochs=<n> seq_len=<n>

Epochs are chosen by early stopping on a validation split carved from the training
reviews (``FULL_RUN["val_fraction"]``); the test split is evaluated once per model.
``train_s`` is the wall time of ``fit`` (vectorization and evaluation excluded).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .imdb_models import FULL_RUN, NEURAL_MODELS, build_model, standardize, standardize_text

BENCH_MODELS = ("tfidf_logreg", *NEURAL_MODELS)


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
