"""``course bench`` (``make bench``): the IMDB models of notebook 05 on the official split.

Instructor-only. Trains the tf-idf baseline and each network of
:mod:`attention_grader.imdb_models` in its full-run configuration (``FULL_RUN``), and prints
one line per model and seed::

    model=<name> seed=<s> val_acc=<0.xxxx> test_acc=<0.xxxx> train_s=<s> epochs=<n> seq_len=<n>

For one seed, every model learns from the same part of the training reviews; the rest
(``FULL_RUN["val_fraction"]``) is the validation split, on which the epochs are chosen (early
stopping) and on which settings are to be compared; the test split is evaluated once per model.
``train_s`` is the wall time of ``fit`` (vectorization and evaluation excluded). With several
seeds (``seeds=n``: seeds ``FULL_RUN["seed"]`` to ``FULL_RUN["seed"] + n - 1``; a seed sets the
validation split, the initial weights and the order of the batches), one summary line per model
follows, with the mean and the sample standard deviation over the seeds::

    summary model=<name> seeds=<n> val_acc_mean=<0.xxxx> val_acc_sd=<0.xxxx>
        test_acc_mean=<0.xxxx> test_acc_sd=<0.xxxx> train_s_mean=<s>     (on one line)
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
    val_acc: float
    test_acc: float
    train_s: float
    epochs: int
    seq_len: int
    seed: int = 0

    def line(self) -> str:
        return (
            f"model={self.model} seed={self.seed} val_acc={self.val_acc:.4f} "
            f"test_acc={self.test_acc:.4f} train_s={self.train_s:.0f} epochs={self.epochs} "
            f"seq_len={self.seq_len}"
        )


def summary_line(results: list[BenchResult]) -> str:
    """Mean and sample standard deviation over the seeds of one model's results."""
    val = np.array([r.val_acc for r in results])
    test = np.array([r.test_acc for r in results])
    ddof = 1 if len(results) > 1 else 0
    return (
        f"summary model={results[0].model} seeds={len(results)} "
        f"val_acc_mean={val.mean():.4f} val_acc_sd={val.std(ddof=ddof):.4f} "
        f"test_acc_mean={test.mean():.4f} test_acc_sd={test.std(ddof=ddof):.4f} "
        f"train_s_mean={np.mean([r.train_s for r in results]):.0f}"
    )


def _split_train(texts: list[str], labels: np.ndarray, fraction: float, seed: int):
    order = np.random.default_rng(seed).permutation(len(texts))
    n_val = int(round(fraction * len(texts)))
    val, train = order[:n_val], order[n_val:]
    pick = lambda idx: ([texts[i] for i in idx], labels[idx])  # noqa: E731
    return pick(train), pick(val)


def tfidf_logreg(
    train: tuple[list[str], np.ndarray],
    test: tuple[list[str], np.ndarray],
    cfg: dict | None = None,
) -> BenchResult:
    """TF-IDF of unigrams and bigrams + logistic regression (the classic baseline), fitted on
    the training part, as notebook 05 does (the validation split is held out)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    cfg = {**FULL_RUN, **(cfg or {})}
    train, val = _split_train(train[0], train[1], cfg["val_fraction"], cfg["seed"])
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

    def accuracy(texts, labels) -> float:
        return float(np.mean(classifier.predict(vectorizer.transform(texts)) == labels))

    return BenchResult(
        "tfidf_logreg", accuracy(*val), accuracy(*test), train_s, 1, 0, seed=cfg["seed"]
    )


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
    return BenchResult(
        name, float(val_acc[best - 1]), float(test_acc), train_s, best, cfg["seq_len"], cfg["seed"]
    )


def run_benchmark(
    models: Iterable[str] = BENCH_MODELS,
    source: str = "real",
    cfg: dict | None = None,
    limit: int | None = None,
    log: Callable[[str], None] = print,
    seeds: int = 1,
) -> list[BenchResult]:
    """Train every model of ``models`` on the official split with ``seeds`` seeds, print a
    result line per model and seed, then (several seeds) a summary line per model."""
    from attention_course.data import load_imdb

    models = list(models)
    unknown = sorted(set(models) - set(BENCH_MODELS))
    if unknown:
        raise ValueError(f"unknown models {unknown}; choose from {list(BENCH_MODELS)}")
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    train = load_imdb("train", source=source, limit=limit)
    test = load_imdb("test", source=source, limit=limit)
    cfg = {**FULL_RUN, **(cfg or {})}
    results = []
    for seed in range(cfg["seed"], cfg["seed"] + seeds):  # a complete set of models per seed
        seeded = {**cfg, "seed": seed}
        for name in models:
            if name == "tfidf_logreg":
                result = tfidf_logreg(train, test, seeded)
            else:
                result = neural(name, train, test, seeded, log=log)
            print(result.line(), flush=True)
            results.append(result)
    if seeds > 1:
        for name in models:
            print(summary_line([r for r in results if r.model == name]), flush=True)
    return results
