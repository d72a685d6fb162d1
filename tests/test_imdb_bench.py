"""attention_grader.bench (the full-run models of notebook 05, instructor-only) and
`make bench`."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from attention_grader import bench as imdb
from conftest import ROOT

# Inputs and outputs written from the rules of notebook 04 (lowercase in utf-8, tags to a
# space, letters/digits and inner apostrophes kept, whitespace collapsed and stripped).
RULE_CASES = {
    "Great movie!<br /><br />I LOVED it.": "great movie i loved it",
    "a<br />b": "a b",
    "Hello <b><i>World</i></b>!": "hello world",
    "<br /><br />": "",
    "": "",
    "CAFÉ Zürich, Kraków": "café zürich kraków",
    "Don't 'quote' me": "don't quote me",
    "Renée’s film": "renée's film",
    "rock'n'roll '' '": "rock'n'roll",
    "It was 10/10!!! :)": "it was 10 10",
    "snake_case and x  \t\n y": "snake case and x y",
}
LINE = re.compile(r"^model=(\w+) test_acc=(\d\.\d{4}) train_s=(\d+) epochs=(\d+) seq_len=(\d+)$")


@pytest.mark.parametrize(("raw", "want"), list(RULE_CASES.items()))
def test_python_standardization_follows_the_rules(raw, want):
    assert imdb.standardize_text(raw) == want


def test_tensorflow_standardization_follows_the_rules():
    import tensorflow as tf

    got = [s.decode("utf-8") for s in imdb.standardize(tf.constant(list(RULE_CASES))).numpy()]
    assert got == list(RULE_CASES.values())


def test_reference_attention_pooling_masks_padding():
    pooling = imdb._layers()[0](units=5)
    rng = np.random.default_rng(0)
    h = rng.normal(size=(2, 6, 4)).astype("float32")
    mask = np.array([[1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=bool)
    pooled, weights = pooling(h, mask=mask, return_weights=True)
    weights = np.asarray(weights)
    assert weights.shape == (2, 6) and np.asarray(pooled).shape == (2, 4)
    assert np.all(weights[0, 2:] == 0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    h2 = h.copy()
    h2[0, 2:] = 99.0  # padding content cannot matter
    np.testing.assert_allclose(np.asarray(pooling(h2, mask=mask)), np.asarray(pooled), rtol=1e-5)


@pytest.mark.parametrize("name", ["gru", "gru_attention", "transformer"])
def test_models_map_ids_to_one_probability(name):
    model = imdb.build_model(
        name,
        vocab_size=50,
        seq_len=12,
        cfg={
            "embed_dim": 8,
            "transformer_dim": 8,
            "gru_units": 4,
            "attention_units": 4,
            "heads": 2,
            "ff_dim": 8,
        },
    )
    ids = np.zeros((3, 12), dtype="int32")
    ids[:, :5] = [[4, 5, 6, 7, 8]] * 3
    out = np.asarray(model(ids))
    assert out.shape == (3, 1) and np.all((out > 0) & (out < 1))
    with pytest.raises(ValueError, match="unknown model"):
        imdb.build_model("lstm", 50, 12)


def _bench(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "attention_grader", "bench", *args],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )


def test_bench_rejects_unknown_models_and_missing_data(tmp_path):
    proc = _bench("--models", "lstm")
    assert proc.returncode == 2 and "unknown models ['lstm']" in proc.stderr
    proc = _bench("--imdb", str(tmp_path / "nowhere.tar.gz"), "--models", "tfidf_logreg")
    assert proc.returncode == 2 and "COURSE_IMDB" in proc.stderr and proc.stdout == ""


@pytest.mark.slow
def test_bench_prints_one_line_per_model_in_the_documented_format(tmp_path):
    from attention_course.fixtures import make_imdb_fixture

    archive = make_imdb_fixture(tmp_path, n_per_class=40, archive=True)
    proc = _bench(
        "--imdb",
        str(archive),
        env_extra={
            "COURSE_DATA_DIR": str(tmp_path / "cache"),
            "COURSE_BENCH_OVERRIDES": '{"seq_len": 32, "max_epochs": 2, "embed_dim": 8, '
            '"gru_units": 4, "attention_units": 4, "ff_dim": 8, '
            '"transformer_dim": 8, "transformer_seq_len": 32}',
        },
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert [m.group(1) for m in parsed] == list(imdb.BENCH_MODELS)
    for m in parsed:
        assert 0.0 <= float(m.group(2)) <= 1.0
        assert 1 <= int(m.group(4)) <= 2  # epochs chosen by early stopping, at most max_epochs
    # the fixture's reviews carry clear sentiment cues: the bag-of-words baseline finds them
    assert float(parsed[0].group(2)) > 0.8, lines
    assert [m.group(5) for m in parsed[1:]] == ["32"] * 3
