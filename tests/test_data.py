"""Tests for attention_course.data and attention_course.fixtures (no network, no real data)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import urllib.error
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from attention_course import data
from attention_course.data import DataError
from attention_course.fixtures import make_eeg_fixture, make_imdb_fixture

# Independent truth, copied by hand from the header of UCI's "EEG Eye State.arff".
REAL_EEG_CHANNELS = [
    "AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4",
]  # fmt: skip
REAL_EEG_HEADER = (
    "@RELATION EEG_DATA\r\n\r\n"
    + "".join(f"@ATTRIBUTE {name} NUMERIC\r\n" for name in REAL_EEG_CHANNELS)
    + "@ATTRIBUTE eyeDetection {0,1}\r\n\r\n@DATA\r\n"
)
SPLIT_LABELS = [(s, lab) for s in ("train", "test") for lab in ("pos", "neg")]


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache and no data settings, fast mode off."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("COURSE_DATA_DIR", str(cache))
    for name in ("COURSE_IMDB", "COURSE_EEG", "COURSE_FAST", "NBGRADER_EXECUTION"):
        monkeypatch.delenv(name, raising=False)
    return cache


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Make any download attempt fail the test; returns the list of attempted calls."""
    calls: list[dict] = []

    def forbidden(**kwargs: object) -> str:
        calls.append(kwargs)
        raise AssertionError(f"unexpected download: {kwargs}")

    monkeypatch.setattr(data, "_get_file", forbidden)
    return calls


@pytest.fixture(scope="module")
def keras_utils():
    """keras.utils, imported once for the few tests that patch the real get_file (a missing
    Keras fails them: conftest checks the environment, nothing here is skipped)."""
    import keras.utils

    return keras.utils


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------- fixtures


def test_import_does_not_load_keras() -> None:
    code = (
        "import sys, attention_course.data, attention_course.fixtures\n"
        "bad = [m for m in ('keras', 'tensorflow') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_imdb_fixture_layout_and_ratings(tmp_path: Path) -> None:
    folder = make_imdb_fixture(tmp_path, n_per_class=12)
    assert folder == tmp_path / "aclImdb"
    assert (folder / "README").is_file()
    for split, label in SPLIT_LABELS:
        files = sorted((folder / split / label).iterdir())
        assert len(files) == 12
        ids = set()
        for f in files:
            match = re.fullmatch(r"(\d+)_(\d+)\.txt", f.name)
            assert match, f.name
            ids.add(int(match[1]))
            rating = int(match[2])
            assert (7 <= rating <= 10) if label == "pos" else (1 <= rating <= 4)
        assert ids == set(range(12))


def test_imdb_fixture_is_deterministic(tmp_path: Path) -> None:
    a = tree_bytes(make_imdb_fixture(tmp_path / "a", n_per_class=8, seed=3))
    b = tree_bytes(make_imdb_fixture(tmp_path / "b", n_per_class=8, seed=3))
    c = tree_bytes(make_imdb_fixture(tmp_path / "c", n_per_class=8, seed=4))
    assert a == b
    assert a != c
    arch1 = make_imdb_fixture(tmp_path / "d", n_per_class=8, seed=3, archive=True)
    arch2 = make_imdb_fixture(tmp_path / "e", n_per_class=8, seed=3, archive=True)
    assert arch1.name == "aclImdb_v1.tar.gz"
    assert arch1.read_bytes() == arch2.read_bytes()
    assert not (tmp_path / "d" / "aclImdb").exists()  # archive instead of a folder


def test_imdb_fixture_text_is_messy(tmp_path: Path) -> None:
    folder = make_imdb_fixture(tmp_path, n_per_class=30)
    texts = [p.read_text(encoding="utf-8") for p in folder.rglob("*.txt")]
    joined = "".join(texts)
    assert sum("<br /><br />" in t for t in texts) > len(texts) // 4
    assert "  " in joined and "'" in joined and "!" in joined and "..." in joined
    assert any(ord(ch) > 127 for ch in joined)  # an accented character
    assert re.search(r"\b[A-Z]{4,}\b", joined)  # a shouted word
    assert len(set(texts)) == len(texts)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower().replace("<br />", " "))


def test_imdb_fixture_sentiment_is_learnable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COURSE_IMDB", str(make_imdb_fixture(tmp_path / "copy")))
    x_train, y_train = data.load_imdb("train")
    x_test, y_test = data.load_imdb("test")
    vocab = {w: i for i, w in enumerate(sorted({w for t in x_train for w in _words(t)}))}

    def counts(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(vocab)))
        for row, text in enumerate(texts):
            for word in _words(text):
                if word in vocab:
                    out[row, vocab[word]] += 1
        return out

    # Multinomial naive Bayes with add-one smoothing, numpy only.
    c_train = counts(x_train)
    log_probs = []
    for label in (0, 1):
        totals = c_train[y_train == label].sum(axis=0) + 1.0
        log_probs.append(np.log(totals / totals.sum()))
    scores = counts(x_test) @ np.stack(log_probs, axis=1)
    accuracy = float(np.mean(scores.argmax(axis=1) == y_test))
    assert accuracy > 0.7, accuracy


# ----------------------------------------------------------------------------- IMDB loading


def test_load_imdb_from_folder_labels_match_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_download: list
) -> None:
    folder = make_imdb_fixture(tmp_path / "copy", n_per_class=10)
    monkeypatch.setenv("COURSE_IMDB", str(folder))
    truth = {}
    for split, label in SPLIT_LABELS:
        for f in (folder / split / label).iterdir():
            truth[(split, f.read_text(encoding="utf-8"))] = 1 if label == "pos" else 0
    for split in ("train", "test"):
        texts, labels = data.load_imdb(split)
        assert len(texts) == 20 and labels.shape == (20,) and labels.dtype == np.int64
        assert Counter(labels.tolist()) == {0: 10, 1: 10}
        assert [truth[(split, t)] for t in texts] == labels.tolist()
    assert no_download == []


def test_load_imdb_order_seed_and_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_IMDB", str(make_imdb_fixture(tmp_path / "copy", n_per_class=20)))
    texts_a, labels_a = data.load_imdb("train", seed=1)
    texts_b, labels_b = data.load_imdb("train", seed=1)
    texts_c, _ = data.load_imdb("train", seed=2)
    assert texts_a == texts_b and np.array_equal(labels_a, labels_b)
    assert texts_a != texts_c and sorted(texts_a) == sorted(texts_c)
    assert labels_a[:20].sum() not in (0, 20)  # shuffled, not sorted by label
    for limit in (1, 7, 10, 40, 100):
        texts, labels = data.load_imdb("train", limit=limit)
        assert len(texts) == len(labels) == min(limit, 40)
        assert abs(int(labels.sum()) * 2 - len(labels)) <= 1  # balanced
    with pytest.raises(ValueError, match="split"):
        data.load_imdb("valid")
    with pytest.raises(ValueError, match="limit"):
        data.load_imdb("train", limit=0)
    with pytest.raises(ValueError, match="source"):
        data.load_imdb("train", source="web")


def test_local_folder_parent_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_imdb_fixture(tmp_path / "copy", n_per_class=5)
    monkeypatch.setenv("COURSE_IMDB", str(folder.parent))
    assert data.imdb_dir() == folder
    assert len(data.load_imdb("test")[0]) == 10


def test_local_folder_bad_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_imdb_fixture(tmp_path / "copy", n_per_class=5)
    for f in (folder / "test" / "neg").iterdir():
        f.unlink()
    monkeypatch.setenv("COURSE_IMDB", str(folder))
    with pytest.raises(DataError, match="test/neg"):
        data.imdb_dir()


def test_local_archive_is_extracted_once(
    tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch, no_download: list
) -> None:
    archive = make_imdb_fixture(tmp_path / "copy", n_per_class=6, archive=True)
    monkeypatch.setenv("COURSE_IMDB", str(archive))
    extractions: list[Path] = []
    real_extract = data._extract_archive

    def counting(archive_path: Path, dest: Path) -> None:
        extractions.append(archive_path)
        real_extract(archive_path, dest)

    monkeypatch.setattr(data, "_extract_archive", counting)
    first = data.imdb_dir()
    assert first.name == "aclImdb" and clean_env in first.parents
    assert tree_bytes(first) == tree_bytes(make_imdb_fixture(tmp_path / "ref", n_per_class=6))
    texts, labels = data.load_imdb("train")
    assert len(texts) == 12 and labels.sum() == 6
    assert data.imdb_dir() == first
    data.load_imdb("test")
    assert len(extractions) == 1
    # A different archive at the same path must not reuse the old extraction.
    make_imdb_fixture(tmp_path / "copy", n_per_class=7, archive=True)
    os.utime(archive, ns=(1_000_000_000, 1_000_000_000))
    assert len(data.load_imdb("train")[0]) == 14
    assert len(extractions) == 2
    assert no_download == []


def _leftover_dirs(cache: Path) -> list[Path]:
    root = cache / "imdb"
    return sorted(root.iterdir()) if root.exists() else []


@pytest.mark.parametrize("damage", ["random_bytes", "truncated", "gzip_trailer_cut"])
def test_bad_archive_raises_and_leaves_nothing(
    tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    good = make_imdb_fixture(tmp_path / "good", n_per_class=6, archive=True)
    bad = tmp_path / "bad" / "aclImdb_v1.tar.gz"
    bad.parent.mkdir()
    if damage == "random_bytes":
        bad.write_bytes(np.random.default_rng(0).bytes(5000))
    elif damage == "truncated":
        content = good.read_bytes()
        bad.write_bytes(content[: len(content) // 2])
    else:  # every file is complete, only the end of the gzip stream is missing
        bad.write_bytes(good.read_bytes()[:-4])
    monkeypatch.setenv("COURSE_IMDB", str(bad))
    for _ in range(2):  # a second call must not accept anything left by the first
        with pytest.raises(DataError, match="corrupt or truncated") as info:
            data.load_imdb("train")
        assert str(bad) in str(info.value) and "delete it" in str(info.value)
        assert _leftover_dirs(clean_env) == []
    monkeypatch.setenv("COURSE_IMDB", str(good))
    assert len(data.load_imdb("train")[0]) == 12


@pytest.mark.parametrize(
    ("variable", "call"), [("COURSE_IMDB", data.imdb_dir), ("COURSE_EEG", data.eeg_path)]
)
@pytest.mark.parametrize("course_fast", [None, "0"])
def test_missing_setting_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, call, course_fast
) -> None:
    missing = tmp_path / "nowhere" / "copy.tar.gz"
    monkeypatch.setenv(variable, str(missing))
    if course_fast is not None:
        monkeypatch.setenv("COURSE_FAST", course_fast)  # a full run: the setting is used
    with pytest.raises(DataError) as info:
        call()
    assert variable in str(info.value) and str(missing) in str(info.value)
    with pytest.raises(DataError, match=variable):
        call(source="real")


def test_fast_mode_ignores_the_settings(
    tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch, no_download: list
) -> None:
    """Fast mode (grading, tests) always uses the fixtures: a setting applies to full runs."""
    real_imdb = make_imdb_fixture(tmp_path / "real", n_per_class=3, seed=9)
    real_eeg = make_eeg_fixture(tmp_path / "real.arff", n_steps=40, seed=9)
    monkeypatch.setenv("COURSE_IMDB", str(real_imdb))
    monkeypatch.setenv("COURSE_EEG", str(real_eeg))
    monkeypatch.setenv("COURSE_FAST", "1")
    n = data.FAST_IMDB_PER_CLASS
    assert clean_env / "fixtures" in data.imdb_dir().parents
    assert len(data.load_imdb("train")[0]) == 2 * n
    assert clean_env / "fixtures" in data.eeg_path().parents
    assert data.load_eeg()[0].shape == (data.FAST_EEG_STEPS, 14)
    # source="real" (make bench) still reads the settings in fast mode
    assert data.imdb_dir(source="real") == real_imdb
    assert len(data.load_imdb("train", source="real")[0]) == 6
    assert data.eeg_path(source="real") == real_eeg
    # under nbgrader too (fast mode follows NBGRADER_EXECUTION), and even a setting that
    # points nowhere does not matter there
    monkeypatch.delenv("COURSE_FAST")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("COURSE_IMDB", str(tmp_path / "nowhere"))
    monkeypatch.setenv("COURSE_EEG", str(tmp_path / "nowhere.arff"))
    assert len(data.load_imdb("test")[0]) == 2 * n
    assert data.load_eeg()[0].shape == (data.FAST_EEG_STEPS, 14)
    # a full run (COURSE_FAST=0 wins over nbgrader) uses the settings again
    monkeypatch.setenv("COURSE_FAST", "0")
    monkeypatch.setenv("COURSE_IMDB", str(real_imdb))
    monkeypatch.setenv("COURSE_EEG", str(real_eeg))
    assert len(data.load_imdb("test")[0]) == 6
    assert data.load_eeg()[0].shape == (40, 14)
    assert no_download == []


# ----------------------------------------------------------------------------- progress


class SlowClock:
    """time.monotonic for data.py that advances 1 s at every call: every load is 'long'."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
def slow_clock(monkeypatch: pytest.MonkeyPatch) -> SlowClock:
    clock = SlowClock()
    monkeypatch.setattr(data.time, "monotonic", clock)
    return clock


def _progress_lines(err: str) -> list[str]:
    return [part for line in err.split("\n") for part in line.split("\r") if part]


def test_long_loads_show_progress_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, slow_clock
) -> None:
    archive = make_imdb_fixture(tmp_path / "copy", n_per_class=6, archive=True)
    monkeypatch.setenv("COURSE_IMDB", str(archive))
    texts, _ = data.load_imdb("train")
    out, err = capsys.readouterr()
    assert out == ""
    lines = _progress_lines(err)
    extracting = [line for line in lines if line.startswith("Extracting aclImdb_v1.tar.gz")]
    reading = [line for line in lines if line.startswith("IMDB train: reading reviews")]
    assert extracting and reading and len(extracting) + len(reading) == len(lines)
    size = archive.stat().st_size / 1e6
    assert extracting[-1].startswith(
        f"Extracting aclImdb_v1.tar.gz (once): {size:.1f} of {size:.1f} MB, done in "
    )
    assert reading[-1].startswith("IMDB train: reading reviews: 12 of 12 reviews, done in ")
    assert any(re.search(r" of 12 reviews \(\d+%\)$", line) for line in reading)  # states
    assert err.endswith(" s\n") and err.count("\n") == 2  # one finished line per step
    assert len(texts) == 12
    # extracted once: a second load only reads
    data.load_imdb("test")
    err = capsys.readouterr().err
    assert "Extracting" not in err and "IMDB test: reading reviews: 12 of 12 reviews" in err


def test_quick_loads_print_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(data, "PROGRESS_DELAY", 60.0)
    archive = make_imdb_fixture(tmp_path / "copy", n_per_class=6, archive=True)
    monkeypatch.setenv("COURSE_IMDB", str(archive))
    data.load_imdb("train")
    assert capsys.readouterr() == ("", "")


def test_no_progress_under_nbgrader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, slow_clock
) -> None:
    """A test cell that writes to stderr scores 0: nothing is written while nbgrader runs,
    also for a load that is long (here: a full run under nbgrader reading a setting)."""
    archive = make_imdb_fixture(tmp_path / "copy", n_per_class=6, archive=True)
    monkeypatch.setenv("COURSE_IMDB", str(archive))
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("COURSE_FAST", "0")
    assert len(data.load_imdb("train")[0]) == 12
    assert capsys.readouterr() == ("", "")
    monkeypatch.delenv("COURSE_FAST")  # fast mode under nbgrader: the fixture, silently
    assert len(data.load_imdb("test")[0]) == 2 * data.FAST_IMDB_PER_CLASS
    assert capsys.readouterr() == ("", "")


def test_failed_extraction_ends_its_progress_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, slow_clock
) -> None:
    good = make_imdb_fixture(tmp_path / "good", n_per_class=6, archive=True)
    bad = tmp_path / "bad" / "aclImdb_v1.tar.gz"
    bad.parent.mkdir()
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    monkeypatch.setenv("COURSE_IMDB", str(bad))
    with pytest.raises(DataError, match="corrupt or truncated"):
        data.load_imdb("train")
    err = capsys.readouterr().err
    assert err.startswith("\rExtracting aclImdb_v1.tar.gz (once): ")
    assert err.endswith(" - stopped\n") and err.count("\n") == 1


# ----------------------------------------------------------------------------- downloads


def test_offline_with_real_keras_get_file(
    keras_utils, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict] = []

    def offline(*args: object, **kwargs: object) -> str:
        calls.append(kwargs)
        if "eeg" in str(kwargs.get("fname")):
            raise OSError("Network is unreachable")
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras_utils, "get_file", offline)
    with pytest.raises(DataError) as info:
        data.load_imdb("train")
    message = str(info.value)
    assert "COURSE_IMDB=/path/to/aclImdb_v1.tar.gz" in message
    assert data.IMDB_URL in message and "offline" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(DataError, match="COURSE_EEG=") as info:
        data.load_eeg()
    assert "Network is unreachable" in str(info.value)
    imdb_call, eeg_call = calls
    assert imdb_call["origin"] == data.IMDB_URL and imdb_call["file_hash"] == data.IMDB_MD5
    assert eeg_call["origin"] == data.EEG_URL and eeg_call["file_hash"] == data.EEG_SHA256
    assert Path(str(eeg_call["cache_dir"])) == clean_env


def test_keras_style_url_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def keras_like(**kwargs: object) -> str:  # keras wraps URLError into a bare Exception
        raise Exception(f"URL fetch failure on {kwargs['origin']}: None -- [Errno 111] refused")

    monkeypatch.setattr(data, "_get_file", keras_like)
    with pytest.raises(DataError, match="COURSE_EEG"):
        data.eeg_path(source="real")


def test_cache_hit_never_fetches(clean_env: Path, no_download: list) -> None:
    content = b"cached bytes"
    cached = clean_env / "downloads" / "x.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    got = data._download(
        "http://127.0.0.1:9/x", "x.bin", digest, "sha256", env_var="X", example="x", what="x"
    )
    assert got == cached and got.read_bytes() == content
    assert no_download == []


def test_cached_eeg_download_is_used(
    tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch, no_download: list
) -> None:
    fixture = make_eeg_fixture(tmp_path / "e.arff", n_steps=50)
    cached = clean_env / "downloads" / data.EEG_FNAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(fixture.read_bytes())
    monkeypatch.setattr(data, "EEG_SHA256", hashlib.sha256(fixture.read_bytes()).hexdigest())
    monkeypatch.setattr(data, "EEG_URL", "http://127.0.0.1:9/x")
    x, y, _ = data.load_eeg(source="real")
    assert x.shape == (50, 14) and y.shape == (50,)
    assert no_download == []


@pytest.mark.parametrize("how", ["wrong_bytes", "keras_hash_error"])
def test_hash_mismatch_is_corrupt(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    cached = clean_env / "downloads" / data.EEG_FNAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"stale, wrong content")  # wrong hash: must be fetched again

    def fake_get_file(**kwargs: object) -> str:
        target = Path(str(kwargs["cache_dir"])) / str(kwargs["cache_subdir"]) / "eeg_eye_state.arff"
        target.write_bytes(b"not the real file")
        if how == "keras_hash_error":
            raise ValueError("Incomplete or corrupted file detected. The sha256 file hash ...")
        return str(target)

    monkeypatch.setattr(data, "_get_file", fake_get_file)
    with pytest.raises(DataError, match="corrupt") as info:
        data.load_eeg(source="real")
    assert "COURSE_EEG" in str(info.value)
    assert not cached.exists()  # deleted, so the next run downloads again


# ----------------------------------------------------------------------------- ARFF / EEG


def test_eeg_fixture_format_and_parse(tmp_path: Path) -> None:
    path = make_eeg_fixture(tmp_path / "eeg.arff", n_steps=600)
    raw = path.read_bytes()
    assert raw.startswith(REAL_EEG_HEADER.encode())
    assert make_eeg_fixture(tmp_path / "again.arff", n_steps=600).read_bytes() == raw
    assert make_eeg_fixture(tmp_path / "other.arff", n_steps=600, seed=1).read_bytes() != raw
    x, y, channels = data.parse_arff(path)
    assert x.shape == (600, 14) and x.dtype == np.float32
    assert y.shape == (600,) and y.dtype == np.int64
    assert channels == REAL_EEG_CHANNELS
    assert set(np.unique(y).tolist()) == {0, 1}
    first_row = raw.decode().split("\r\n")[19].split(",")
    assert np.allclose(x[0], [float(v) for v in first_row[:14]])  # file order kept
    runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, y, -1])))
    assert len(runs) >= 4 and runs.min() >= 5 and len(set(runs.tolist())) > 2
    typical = np.median(x, axis=0)
    assert np.all((typical > 3900) & (typical < 4700))
    assert np.mean((x > 4000) & (x < 4700)) > 0.95
    assert np.any((x < 3500) | (x > 5500))  # outlier spikes


def test_eeg_fixture_eye_state_is_learnable(tmp_path: Path) -> None:
    x, y, _ = data.parse_arff(make_eeg_fixture(tmp_path / "eeg.arff", n_steps=1200))
    half = len(y) // 2
    centres = [np.median(x[:half][y[:half] == label], axis=0) for label in (0, 1)]
    scale = np.median(np.abs(x[:half] - np.median(x[:half], axis=0)), axis=0) + 1e-6
    dist = [np.abs((x[half:] - c) / scale).sum(axis=1) for c in centres]
    accuracy = float(np.mean((dist[1] < dist[0]).astype(int) == y[half:]))
    assert accuracy > 0.7, accuracy


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_bytes("\r\n".join(lines).encode())


def _arff_lines(tmp_path: Path) -> list[str]:
    return make_eeg_fixture(tmp_path / "eeg.arff", n_steps=30).read_bytes().decode().split("\r\n")


@pytest.mark.parametrize("cut", [1, 2, 6, 20])
def test_arff_truncated_last_line(tmp_path: Path, cut: int) -> None:
    lines = _arff_lines(tmp_path)
    path = tmp_path / "cut.arff"
    path.write_bytes("\r\n".join(lines)[:-cut].encode())
    with pytest.raises(DataError, match=rf"line {len(lines)}\b"):
        data.parse_arff(path)


@pytest.mark.parametrize(
    ("bad_value", "message"),
    [("abc", "not a finite number"), ("?", "not a finite number"), ("nan", "not a finite")],
)
def test_arff_non_numeric_value(tmp_path: Path, bad_value: str, message: str) -> None:
    lines = _arff_lines(tmp_path)
    fields = lines[24].split(",")
    fields[3] = bad_value
    lines[24] = ",".join(fields)
    path = tmp_path / "bad.arff"
    _write_lines(path, lines)
    with pytest.raises(DataError, match=rf"line 25: .*{message}"):
        data.parse_arff(path)


def test_arff_bad_label(tmp_path: Path) -> None:
    lines = _arff_lines(tmp_path)
    lines[21] = lines[21][:-1] + "2"
    path = tmp_path / "bad.arff"
    _write_lines(path, lines)
    with pytest.raises(DataError, match="line 22: eyeDetection must be 0 or 1"):
        data.parse_arff(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda ls: ls[1:], "@RELATION"),
        (lambda ls: [line for line in ls if line != "@DATA"], "@DATA"),
        (lambda ls: [ls[0], "@ATTRIBUTE AF3 STRING", *ls[1:]], "unsupported attribute type"),
        (lambda ls: [line.replace("eyeDetection", "eye") for line in ls], "eyeDetection"),
        (lambda ls: ["hello world", *ls], "line 1"),
    ],
)
def test_arff_bad_header(tmp_path: Path, edit, message: str) -> None:
    path = tmp_path / "bad.arff"
    _write_lines(path, edit(_arff_lines(tmp_path)))
    with pytest.raises(DataError, match=message):
        data.parse_arff(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda ls: [], "not an ARFF file"),
        (lambda ls: ["% only a comment", ""], "not an ARFF file"),
        (lambda ls: ls[: ls.index("@DATA")], "no '@DATA' line"),
        (lambda ls: ls[: ls.index("@DATA") + 1], "no data rows"),
        (lambda ls: [*ls[: ls.index("@DATA") + 1], "% a comment", ""], "no data rows"),
        (
            lambda ls: [line.replace("eyeDetection {0,1}", "eyeDetection NUMERIC") for line in ls],
            "must be nominal",
        ),
        (
            lambda ls: [line.replace("F7 NUMERIC", "F7 {a,b}") for line in ls],
            "channel 'F7' must be NUMERIC",
        ),
        (lambda ls: [line.replace("F7 NUMERIC", "'F7 NUMERIC") for line in ls], "unterminated"),
        (lambda ls: [line.replace("F7 NUMERIC", "F7") for line in ls], "expected '@ATTRIBUTE"),
        (lambda ls: [line.replace("F7 NUMERIC", "'F7'") for line in ls], "expected '@ATTRIBUTE"),
        (lambda ls: [ls[0], "@FOO bar", *ls[1:]], "line 2: expected '@ATTRIBUTE' or '@DATA'"),
    ],
    ids=[
        "empty",
        "comments only",
        "no @DATA",
        "@DATA and nothing after",
        "@DATA and comments after",
        "numeric label",
        "nominal channel",
        "unterminated quote",
        "no type",
        "quoted, no type",
        "unknown keyword",
    ],
)
def test_arff_malformed_files(tmp_path: Path, edit, message: str) -> None:
    path = tmp_path / "bad.arff"
    _write_lines(path, edit(_arff_lines(tmp_path)))
    with pytest.raises(DataError, match=message):
        data.parse_arff(path)


def test_arff_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Cannot read the ARFF file"):
        data.parse_arff(tmp_path)  # a folder


def test_arff_quoted_names_comments_and_blank_lines(tmp_path: Path) -> None:
    lines = _arff_lines(tmp_path)
    expected = data.parse_arff(tmp_path / "eeg.arff")
    lines = [
        line.replace("@ATTRIBUTE F7 ", "@attribute 'F7' ")
        .replace("@ATTRIBUTE AF4 ", '@Attribute "AF4"  ')
        .replace("@ATTRIBUTE O1 NUMERIC", "@ATTRIBUTE O1 real")
        .replace("@ATTRIBUTE O2 NUMERIC", "@ATTRIBUTE O2 INTEGER")
        for line in lines
    ]
    at = lines.index("@DATA")
    lines[at + 3 : at + 3] = ["", "% a comment between rows", "   "]
    lines[1:1] = ["% a comment in the header"]
    path = tmp_path / "edited.arff"
    _write_lines(path, lines)
    x, y, channels = data.parse_arff(path)
    assert channels == expected[2] and np.array_equal(y, expected[1])
    assert np.array_equal(x, expected[0]) and x.shape == (30, 14)


def test_load_eeg_from_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_eeg_fixture(tmp_path / "copy.arff", n_steps=80, seed=5)
    monkeypatch.setenv("COURSE_EEG", str(path))
    x, y, channels = data.load_eeg()
    assert x.shape == (80, 14) and y.shape == (80,) and channels == REAL_EEG_CHANNELS
    monkeypatch.setenv("COURSE_EEG", str(tmp_path))
    with pytest.raises(DataError, match="COURSE_EEG"):
        data.load_eeg()


# ----------------------------------------------------------------------------- fast mode


def test_fast_mode_uses_fixtures_without_download(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, no_download: list
) -> None:
    monkeypatch.setenv("COURSE_FAST", "1")
    texts, labels = data.load_imdb("train")
    folder = data.imdb_dir()
    assert clean_env / "fixtures" in folder.parents
    n = data.FAST_IMDB_PER_CLASS
    assert len(texts) == 2 * n and int(labels.sum()) == n
    x, y, channels = data.load_eeg()
    assert x.shape == (data.FAST_EEG_STEPS, 14) and channels == REAL_EEG_CHANNELS
    path = data.eeg_path()
    assert clean_env / "fixtures" in path.parents
    # Generated once: a second call reuses the files (same mtimes).
    eeg_mtime = path.stat().st_mtime_ns
    readme_mtime = (folder / "README").stat().st_mtime_ns
    assert data.eeg_path().stat().st_mtime_ns == eeg_mtime
    assert data.imdb_dir() == folder and (folder / "README").stat().st_mtime_ns == readme_mtime
    assert no_download == []


def test_source_fixture_override_when_not_fast(no_download: list) -> None:
    texts, labels = data.load_imdb("test", source="fixture", limit=10)
    assert len(texts) == 10 and int(labels.sum()) == 5
    assert data.load_eeg(source="fixture")[0].shape[1] == 14
    assert no_download == []
