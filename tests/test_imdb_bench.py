"""`course bench` (`make bench`, attention_grader.bench): the IMDB models of notebook 05 trained
and evaluated, one line per model."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from attention_grader import bench
from conftest import ROOT

LINE = re.compile(
    r"^model=(\w+) seed=(\d+) val_acc=(\d\.\d{4}) test_acc=(\d\.\d{4}) train_s=(\d+) "
    r"epochs=(\d+) seq_len=(\d+)$"
)
SUMMARY = re.compile(
    r"^summary model=(\w+) seeds=(\d+) val_acc_mean=(\d\.\d{4}) val_acc_sd=(\d\.\d{4}) "
    r"test_acc_mean=(\d\.\d{4}) test_acc_sd=(\d\.\d{4}) train_s_mean=(\d+)$"
)


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
    assert [m.group(1) for m in parsed] == list(bench.BENCH_MODELS)
    assert {m.group(2) for m in parsed} == {"0"}  # one seed: FULL_RUN's
    for m in parsed:
        assert 0.0 <= float(m.group(3)) <= 1.0 and 0.0 <= float(m.group(4)) <= 1.0
        assert 1 <= int(m.group(6)) <= 2  # epochs chosen by early stopping, at most max_epochs
    # the fixture's reviews carry clear sentiment cues: the bag-of-words baseline finds them
    assert float(parsed[0].group(4)) > 0.8, lines
    assert [m.group(7) for m in parsed[1:]] == ["32"] * 3


def test_bench_with_seeds_prints_each_seed_then_mean_and_spread(tmp_path):
    from attention_course.fixtures import make_imdb_fixture

    archive = make_imdb_fixture(tmp_path, n_per_class=40, archive=True)
    proc = _bench(
        "--imdb",
        str(archive),
        "--models",
        "tfidf_logreg",
        "--seeds",
        "3",
        env_extra={"COURSE_DATA_DIR": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    *lines, last = proc.stdout.strip().splitlines()
    runs = [LINE.match(line) for line in lines]
    assert all(runs) and [m.group(2) for m in runs] == ["0", "1", "2"], lines
    summary = SUMMARY.match(last)
    assert summary and summary.group(1) == "tfidf_logreg" and summary.group(2) == "3", last
    for group, column in ((3, 3), (5, 4)):  # val_acc, test_acc: the mean of the three runs
        values = [float(m.group(column)) for m in runs]
        assert abs(float(summary.group(group)) - sum(values) / 3) < 1e-4
        spread = (sum((v - sum(values) / 3) ** 2 for v in values) / 2) ** 0.5  # sample sd
        assert abs(float(summary.group(group + 1)) - spread) < 1e-4
    # a seed draws another validation split: the held-out accuracies are not all the same
    assert len({m.group(3) for m in runs}) > 1, lines


def test_bench_refuses_fewer_than_one_seed():
    proc = _bench("--models", "tfidf_logreg", "--seeds", "0")
    assert proc.returncode == 2 and "seeds must be at least 1" in proc.stderr
