"""The course's data sets: IMDB movie reviews and EEG Eye State.

Where the data comes from (``source="auto"``, the default):

1. in fast mode (:func:`attention_course.runmode.fast_mode`: while nbgrader runs a notebook,
   and with ``COURSE_FAST=1`` as in the test suite), always the small deterministic fixtures
   (see :mod:`attention_course.fixtures`), generated once into the cache, whatever the
   settings below say: a grade or a test never depends on the data a machine has;
2. otherwise (a full run) a local copy named by a setting: ``COURSE_IMDB`` (an
   ``aclImdb_v1.tar.gz`` archive, the extracted ``aclImdb`` folder, or its parent) and
   ``COURSE_EEG`` (the ``.arff`` file);
3. otherwise a download from the official source with ``keras.utils.get_file``, checked
   against a known hash and kept in the cache (a good cached file is never fetched again).

``source="fixture"`` always uses the fixtures; ``source="real"`` never does (setting or
download, also in fast mode: ``make bench`` runs in full mode with the real data).

Long loads show their progress: extracting the IMDB archive (once, about a minute) and
reading its 25,000 reviews per split write one self-updating line to stderr once they have
run for :data:`PROGRESS_DELAY` seconds. Nothing is written while nbgrader runs a notebook
(a test cell that writes to stderr scores 0) or for a load that is quick.

The cache root is ``$COURSE_DATA_DIR`` (default ``~/.cache/attention_course``)::

    downloads/          files fetched by keras.utils.get_file
    imdb/<key>/aclImdb  archives extracted once (key: the download's hash, or a local
                        archive's name, size and mtime)
    fixtures/           generated fixtures

Problems (offline without a local copy, corrupt files, bad layout or format) raise
:class:`DataError` with a message that says what to do. Importing this module is cheap: keras
is imported only when a download is really needed.
"""

from __future__ import annotations

import hashlib
import lzma
import math
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np

from .fixtures import EEG_CHANNELS, FIXTURE_VERSION, make_eeg_fixture, make_imdb_fixture
from .runmode import fast_mode, under_nbgrader

__all__ = [
    "EEG_CHANNELS",
    "DataError",
    "data_cache_dir",
    "eeg_path",
    "imdb_dir",
    "load_eeg",
    "load_imdb",
    "parse_arff",
]

Source = Literal["auto", "fixture", "real"]

ENV_DATA_DIR = "COURSE_DATA_DIR"
ENV_IMDB = "COURSE_IMDB"
ENV_EEG = "COURSE_EEG"
DEFAULT_DATA_DIR = "~/.cache/attention_course"

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_FNAME = "aclImdb_v1.tar.gz"
IMDB_MD5 = "7c2ac02c03563afcf9b574c7e56c153a"

EEG_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/00264/EEG%20Eye%20State.arff"
EEG_FNAME = "eeg_eye_state.arff"
EEG_SHA256 = "693c689be416df0b487b45b5b58a44896fbcd0be72b4ef161d5cc34e2c66c928"
EEG_LABEL = "eyeDetection"

#: Size of the fixtures used in fast mode (reviews per split and label; EEG time steps).
FAST_IMDB_PER_CLASS = 100
FAST_EEG_STEPS = 2000

#: Seconds a load runs silently before it shows its progress on stderr (0: at once).
PROGRESS_DELAY = 2.0
#: Seconds between two updates of a progress line.
PROGRESS_EVERY = 0.5

_SOURCES = ("auto", "fixture", "real")
_SPLITS = ("train", "test")
_LABEL_DIRS = (("pos", 1), ("neg", 0))
_IMDB_MEMBER = re.compile(r"aclImdb/(?:README|(?:train|test)/(?:pos|neg)/[^/]+\.txt)")
_FAST_HINT = "or use the small synthetic fixture (COURSE_FAST=1, or source='fixture')"


class DataError(RuntimeError):
    """A data set is unavailable, corrupt or malformed; the message says what to do."""


class _Progress:
    """One self-updating progress line on stderr for a load that takes long.

    Silent during its first :data:`PROGRESS_DELAY` seconds (a quick load prints nothing)
    and always while nbgrader runs a notebook: nbgrader scores a test cell 0 when it writes
    to stderr. Once shown, the line is finished with the total and the time taken.
    """

    def __init__(self, what: str, total: int, unit: str) -> None:
        self.what, self.total, self.unit = what, max(int(total), 0), unit
        self.enabled = self.total > 0 and not under_nbgrader()
        self.start = time.monotonic()
        self.last = -math.inf
        self.shown = False

    def _amount(self, done: int) -> str:
        if self.unit == "MB":
            return f"{done / 1e6:.1f} of {self.total / 1e6:.1f} MB"
        return f"{done:,} of {self.total:,} {self.unit}"

    def _write(self, text: str) -> None:
        stream = sys.stderr  # looked up now: Jupyter replaces sys.stderr
        stream.write(text)
        stream.flush()

    def update(self, done: int) -> None:
        """``done`` units of ``total`` are finished."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.start < PROGRESS_DELAY or now - self.last < PROGRESS_EVERY:
            return
        self.last, self.shown = now, True
        share = min(done / self.total, 1.0)
        self._write(f"\r{self.what}: {self._amount(done)} ({share:.0%})")

    def close(self, done: int) -> None:
        """Finish the line (only if it was shown)."""
        if self.shown:
            seconds = time.monotonic() - self.start
            self._write(f"\r{self.what}: {self._amount(done)}, done in {seconds:.0f} s\n")
            self.shown = False

    def stop(self) -> None:
        """End the line after a failure (only if it was shown)."""
        if self.shown:
            self._write(" - stopped\n")
            self.shown = False


# ----------------------------------------------------------------------------- cache & source


def data_cache_dir() -> Path:
    """The cache root: ``$COURSE_DATA_DIR`` or ``~/.cache/attention_course`` (created)."""
    root = Path(os.environ.get(ENV_DATA_DIR, "").strip() or DEFAULT_DATA_DIR).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(
            f"Cannot create the data cache folder {root} ({err}). "
            f"Set {ENV_DATA_DIR} to a writable folder."
        ) from None
    return root


def _resolve(source: str, env_var: str) -> tuple[str, Path | None]:
    """Decide where a data set comes from: ("local", path), ("fixture"|"download", None).

    Fast mode with ``source="auto"`` always gives the fixture, before any setting is read.
    """
    if source not in _SOURCES:
        raise ValueError(f"source must be one of {_SOURCES}, got {source!r}")
    if source == "fixture" or (source == "auto" and fast_mode()):
        return "fixture", None
    setting = os.environ.get(env_var, "").strip()
    if setting:
        path = Path(setting).expanduser()
        if not path.exists():
            raise DataError(
                f"{env_var} is set to {path}, which does not exist. Point {env_var} to a "
                f"local copy of the data, or unset it to download the data."
            )
        return "local", path
    return "download", None


def _hash_matches(path: Path, file_hash: str, algorithm: str) -> bool:
    """True when ``path``'s ``algorithm`` digest equals ``file_hash``."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest() == file_hash.lower()


def _get_file(**kwargs: object) -> str:
    """Call ``keras.utils.get_file`` (imported here, so keras loads only when needed)."""
    from keras.utils import get_file

    return get_file(**kwargs)


def _download(
    url: str,
    fname: str,
    file_hash: str,
    algorithm: str,
    *,
    env_var: str,
    example: str,
    what: str,
) -> Path:
    """Path of ``fname`` in ``<cache>/downloads``, fetched from ``url`` only if needed.

    A cached file whose hash matches is returned without calling keras. A failed download
    becomes a :class:`DataError` that names ``env_var`` (e.g. ``env_var=example``); a file
    whose hash does not match is deleted and reported as corrupt.
    """
    root = data_cache_dir()
    cached = root / "downloads" / fname
    if cached.is_file() and _hash_matches(cached, file_hash, algorithm):
        return cached

    def corrupt(path: Path) -> DataError:
        return DataError(
            f"The downloaded {what} file {path} is corrupt: its {algorithm} hash does not match "
            f"{file_hash}. It was deleted; run again to download it again, or set {env_var} to "
            f"a local copy (e.g. {env_var}={example})."
        )

    try:
        got = Path(
            _get_file(
                fname=fname,
                origin=url,
                file_hash=file_hash,
                hash_algorithm=algorithm,
                cache_dir=str(root),
                cache_subdir="downloads",
            )
        )
    except ImportError as err:
        raise DataError(
            f"Downloading {what} needs keras ({err}). Install keras, or set {env_var} to a "
            f"local copy (e.g. {env_var}={example}), {_FAST_HINT}."
        ) from None
    except ValueError as err:
        if "corrupt" not in str(err).lower() and "hash" not in str(err).lower():
            raise
        cached.unlink(missing_ok=True)
        raise corrupt(cached) from None
    except Exception as err:  # keras turns URL errors into a bare Exception
        raise DataError(
            f"Could not download {what} from {url} ({type(err).__name__}: {err}). "
            f"If this machine is offline, set {env_var} to a local copy, e.g. "
            f"{env_var}={example}, {_FAST_HINT}."
        ) from None
    if not got.is_file() or not _hash_matches(got, file_hash, algorithm):
        got.unlink(missing_ok=True)
        raise corrupt(got)
    return got


# ----------------------------------------------------------------------------- IMDB


def _has_txt(folder: Path) -> bool:
    """True when ``folder`` holds at least one ``.txt`` file (stops at the first)."""
    if not folder.is_dir():
        return False
    with os.scandir(folder) as entries:
        return any(entry.name.endswith(".txt") and entry.is_file() for entry in entries)


def _missing_imdb_parts(folder: Path) -> list[str]:
    """The ``split/label`` folders of ``folder`` that are absent or hold no ``.txt`` files."""
    return [
        f"{split}/{label}"
        for split in _SPLITS
        for label, _ in _LABEL_DIRS
        if not _has_txt(folder / split / label)
    ]


def _check_imdb_layout(folder: Path, origin: str) -> Path:
    """Return ``folder`` if it is a valid ``aclImdb`` folder, else raise :class:`DataError`."""
    missing = _missing_imdb_parts(folder)
    if missing:
        raise DataError(
            f"{origin} does not have the IMDB layout: aclImdb/{{train,test}}/{{pos,neg}}/*.txt "
            f"(missing or empty: {', '.join(missing)})."
        )
    return folder


def _extract_archive(archive: Path, dest: Path) -> None:
    """Extract the labeled IMDB members (``aclImdb/README``, ``aclImdb/{train,test}/{pos,neg}/
    *.txt``) of a tar archive into ``dest``; corrupt or truncated input -> :class:`DataError`.
    A long extraction shows its progress (bytes of the archive read) on stderr.
    """
    extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    progress = _Progress(f"Extracting {archive.name} (once)", archive.stat().st_size, "MB")
    try:
        with archive.open("rb") as raw, tarfile.open(fileobj=raw, mode="r:*") as tar:

            def members() -> Iterator[tarfile.TarInfo]:
                for member in tar:
                    progress.update(raw.tell())
                    name = member.name.removeprefix("./")
                    if member.isfile() and _IMDB_MEMBER.fullmatch(name):
                        member.name = name
                        yield member

            tar.extractall(dest, members=members(), **extra)
            # Read to the end of the compressed stream: checks the gzip CRC and end marker.
            while tar.fileobj.read(1 << 20):
                pass
            progress.close(raw.tell())
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as err:
        progress.stop()
        if isinstance(err, OSError) and err.errno is not None:
            raise  # a real I/O problem (disk full, permissions), not a bad archive
        raise DataError(
            f"The IMDB archive {archive} is corrupt or truncated ({type(err).__name__}: {err}): "
            f"delete it and download it again, or point {ENV_IMDB} to a good copy."
        ) from None


def _local_archive_key(archive: Path) -> str:
    """Cache key of a local archive: changes when its name, size or mtime changes."""
    stat = archive.stat()
    ident = f"{archive.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return "local-" + hashlib.sha256(ident.encode()).hexdigest()[:16]


def _publish_imdb(tmp: Path, final: Path) -> Path:
    """Rename the complete folder ``tmp`` (holding ``aclImdb``) to ``final``; return its
    ``aclImdb``. The rename is atomic, so ``final`` never exists half-written."""
    os.chmod(tmp, 0o755)  # mkdtemp makes it private
    if final.exists():
        shutil.rmtree(final)  # an old, damaged copy
    try:
        os.rename(tmp, final)
    except OSError:
        if _missing_imdb_parts(final / "aclImdb"):
            raise  # not a concurrent call that finished first
    return final / "aclImdb"


def _extracted_imdb(archive: Path, key: str) -> Path:
    """The ``aclImdb`` folder of ``archive``, extracted once into ``<cache>/imdb/<key>``.

    Extraction goes to a temporary folder that is renamed only once complete and valid, so
    a failed or interrupted extraction never leaves a folder that a later call accepts.
    """
    root = data_cache_dir() / "imdb"
    final = root / key
    if not _missing_imdb_parts(final / "aclImdb"):
        return final / "aclImdb"
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=root))
    try:
        _extract_archive(archive, tmp)
        _check_imdb_layout(tmp / "aclImdb", f"The archive {archive}")
        return _publish_imdb(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fixture_imdb_dir() -> Path:
    """The fast-mode IMDB fixture (``aclImdb`` folder), generated once into the cache."""
    root = data_cache_dir() / "fixtures"
    final = root / f"imdb-v{FIXTURE_VERSION}-n{FAST_IMDB_PER_CLASS}-s0"
    if not _missing_imdb_parts(final / "aclImdb"):
        return final / "aclImdb"
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-imdb-", dir=root))
    try:
        make_imdb_fixture(tmp, n_per_class=FAST_IMDB_PER_CLASS, seed=0)
        return _publish_imdb(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def imdb_dir(source: Source = "auto") -> Path:
    """The ``aclImdb`` folder (with ``{train,test}/{pos,neg}/<id>_<rating>.txt``).

    ``source``: ``"auto"`` (the fixture in fast mode, else the setting ``COURSE_IMDB``, else
    the download), ``"fixture"`` or ``"real"`` (setting or download, also in fast mode).
    Archives are extracted once into the cache (with progress on stderr: it takes about a
    minute for the real archive). Raises :class:`DataError` when the data cannot be found or
    is corrupt.
    """
    kind, path = _resolve(source, ENV_IMDB)
    if kind == "fixture":
        return _fixture_imdb_dir()
    if kind == "local":
        assert path is not None
        if path.is_dir():
            nested = (path / "aclImdb").is_dir() and not (path / "train").is_dir()
            folder = path / "aclImdb" if nested else path
            return _check_imdb_layout(folder, f"{ENV_IMDB}={path}")
        return _extracted_imdb(path, _local_archive_key(path))
    final = data_cache_dir() / "imdb" / f"md5-{IMDB_MD5[:16]}" / "aclImdb"
    if not _missing_imdb_parts(final):
        return final  # extracted earlier: no need to look at the archive again
    archive = _download(
        IMDB_URL,
        IMDB_FNAME,
        IMDB_MD5,
        "md5",
        env_var=ENV_IMDB,
        example="/path/to/aclImdb_v1.tar.gz",
        what="the IMDB data set",
    )
    return _extracted_imdb(archive, final.parent.name)


def _txt_files(folder: Path) -> list[Path]:
    """The ``.txt`` files of ``folder``, sorted by name."""
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if e.name.endswith(".txt") and e.is_file())
    return [folder / name for name in names]


def load_imdb(
    split: str = "train", source: Source = "auto", limit: int | None = None, seed: int = 0
) -> tuple[list[str], np.ndarray]:
    """Reviews and labels of one IMDB split.

    Returns ``(texts, labels)``: ``texts`` a list of N raw review strings (HTML ``<br />`` and
    all), ``labels`` an int64 array of shape ``(N,)`` with 1 = positive, 0 = negative.
    The order is a seeded shuffle (same ``seed`` -> same order). With ``limit``, N = min(limit,
    available) reviews, half from each class (as far as available), so small subsets stay
    balanced. ``split`` is ``"train"`` or ``"test"``; ``source`` as in :func:`imdb_dir`: in
    fast mode ``"auto"`` gives the small fixture even when ``COURSE_IMDB`` is set. Reading the
    25,000 reviews of a real split takes seconds and shows its progress on stderr (never under
    nbgrader).
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    folder = imdb_dir(source)
    rng = np.random.default_rng(seed)
    by_label = []
    for label_dir, label in _LABEL_DIRS:
        files = _txt_files(folder / split / label_dir)
        by_label.append(([files[i] for i in rng.permutation(len(files))], label))
    (pos, _), (neg, _) = by_label
    n_pos, n_neg = len(pos), len(neg)
    if limit is not None:
        n_pos = min(len(pos), math.ceil(limit / 2))
        n_neg = min(len(neg), limit - n_pos)
        n_pos = min(len(pos), limit - n_neg)
    files = pos[:n_pos] + neg[:n_neg]
    labels = np.array([1] * n_pos + [0] * n_neg, dtype=np.int64)
    order = rng.permutation(len(files))
    progress = _Progress(f"IMDB {split}: reading reviews", len(files), "reviews")
    texts = []
    for i in order:
        texts.append(files[i].read_text(encoding="utf-8", errors="replace"))
        progress.update(len(texts))
    progress.close(len(texts))
    return texts, labels[order]


# ----------------------------------------------------------------------------- EEG


def _fixture_eeg_path() -> Path:
    """The fast-mode EEG fixture (ARFF), generated once into the cache."""
    root = data_cache_dir() / "fixtures"
    final = root / f"eeg_eye_state-v{FIXTURE_VERSION}-n{FAST_EEG_STEPS}-s0.arff"
    if final.is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=".tmp-eeg-", suffix=".arff", dir=root)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        make_eeg_fixture(tmp, n_steps=FAST_EEG_STEPS, seed=0)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def eeg_path(source: Source = "auto") -> Path:
    """Path of the EEG Eye State ARFF file.

    ``source``: ``"auto"`` (the fixture in fast mode, else the setting ``COURSE_EEG``, else
    the download), ``"fixture"`` or ``"real"`` (setting or download, also in fast mode).
    """
    kind, path = _resolve(source, ENV_EEG)
    if kind == "fixture":
        return _fixture_eeg_path()
    if kind == "local":
        assert path is not None
        if not path.is_file():
            raise DataError(f"{ENV_EEG}={path} is not a file: point it to the .arff file.")
        return path
    return _download(
        EEG_URL,
        EEG_FNAME,
        EEG_SHA256,
        "sha256",
        env_var=ENV_EEG,
        example="/path/to/eeg_eye_state.arff",
        what="the EEG Eye State data set",
    )


def _attribute(line: str, where: str) -> tuple[str, str]:
    """Parse ``@ATTRIBUTE name type`` into ``(name, type)``; type is ``numeric`` or ``{...}``."""
    rest = line[len("@attribute") :].strip()
    if rest[:1] in {"'", '"'}:
        end = rest.find(rest[0], 1)
        if end < 0:
            raise DataError(f"{where}: unterminated quoted attribute name")
        name, kind = rest[1:end], rest[end + 1 :].strip()
    else:
        name, _, kind = rest.partition(" ")
        kind = kind.strip()
    if not name or not kind:
        raise DataError(f"{where}: expected '@ATTRIBUTE <name> <type>', got {line!r}")
    if kind.lower() in {"numeric", "real", "integer"}:
        return name, "numeric"
    if kind.startswith("{") and kind.endswith("}"):
        return name, kind
    raise DataError(f"{where}: unsupported attribute type {kind!r} (numeric or {{...}} only)")


def parse_arff(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read an EEG Eye State ARFF file (a small, strict, dense-ARFF parser).

    Returns ``(X, y, channels)``: ``X`` float32 of shape ``(T, C)`` in file (time) order (C =
    14 for EEG Eye State), ``y`` int64 of shape ``(T,)`` (the ``eyeDetection`` column, 0/1),
    ``channels`` the C channel names in header order.

    The header must have ``@RELATION``, ``@ATTRIBUTE`` lines (numeric channels and a nominal
    ``eyeDetection``) and ``@DATA``; every data row must have one value per attribute, all
    numbers, the label 0 or 1. Anything else (including a truncated last line) raises
    :class:`DataError` naming the line.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as err:
        raise DataError(f"Cannot read the ARFF file {path}: {err}") from None
    lines = text.splitlines()
    attributes, data_start = _arff_header(lines, path)
    label_col, channels = _arff_columns(attributes, path)
    rows: list[list[float]] = []
    labels: list[int] = []
    for number in range(data_start + 1, len(lines) + 1):
        line = lines[number - 1].strip()
        if not line or line.startswith("%"):
            continue
        values, label = _arff_row(line, f"{path}, line {number}", label_col, channels)
        rows.append(values)
        labels.append(label)
    if not rows:
        raise DataError(f"{path}: no data rows after '@DATA'")
    x = np.asarray(rows, dtype=np.float32).reshape(len(rows), len(channels))
    return x, np.asarray(labels, dtype=np.int64), channels


def _arff_header(lines: list[str], path: Path) -> tuple[list[tuple[str, str]], int]:
    """The attributes ``(name, type)`` of the header, and the line number of ``@DATA``."""
    attributes: list[tuple[str, str]] = []
    seen_relation = False
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        where = f"{path}, line {number}"
        keyword = line.split(maxsplit=1)[0].lower()
        if not seen_relation:
            if keyword != "@relation":
                raise DataError(f"{where}: expected '@RELATION <name>' first, got {line[:60]!r}")
            seen_relation = True
        elif keyword == "@attribute":
            attributes.append(_attribute(line, where))
        elif keyword == "@data":
            return attributes, number
        else:
            raise DataError(f"{where}: expected '@ATTRIBUTE' or '@DATA', got {line[:60]!r}")
    if not seen_relation:
        raise DataError(f"{path}: not an ARFF file (no '@RELATION' line)")
    raise DataError(f"{path}: no '@DATA' line after the header")


def _arff_columns(attributes: list[tuple[str, str]], path: Path) -> tuple[int, list[str]]:
    """The label's column and the channel names; the label nominal, the channels numeric."""
    names = [name for name, _ in attributes]
    if EEG_LABEL not in names:
        raise DataError(f"{path}: no '@ATTRIBUTE {EEG_LABEL} {{0,1}}' in the header")
    label_col = names.index(EEG_LABEL)
    if attributes[label_col][1] == "numeric":
        raise DataError(f"{path}: {EEG_LABEL} must be nominal {{0,1}}")
    channels = [name for i, name in enumerate(names) if i != label_col]
    for i, (name, kind) in enumerate(attributes):
        if i != label_col and kind != "numeric":
            raise DataError(f"{path}: channel {name!r} must be NUMERIC, got {kind}")
    return label_col, channels


def _arff_row(
    line: str, where: str, label_col: int, channels: list[str]
) -> tuple[list[float], int]:
    """One data line: the channels' values (finite numbers) and the label (0 or 1)."""
    fields = [field.strip() for field in line.split(",")]
    if len(fields) != len(channels) + 1:
        raise DataError(
            f"{where}: expected {len(channels) + 1} comma-separated values, found {len(fields)} "
            f"(truncated or malformed line)"
        )
    label = fields.pop(label_col)
    if label not in {"0", "1"}:
        raise DataError(f"{where}: {EEG_LABEL} must be 0 or 1, got {label!r}")
    values = []
    for name, field in zip(channels, fields, strict=True):
        try:
            value = float(field)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise DataError(f"{where}: value {field!r} of {name} is not a finite number")
        values.append(value)
    return values, int(label)


def load_eeg(source: Source = "auto") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """EEG Eye State: ``(X, y, channels)``.

    ``X`` float32 of shape ``(T, 14)`` in time order (T = 14,980 for the real recording),
    ``y`` int64 of shape ``(T,)`` (1 = eyes closed, 0 = open), ``channels`` the 14 names.
    ``source`` as in :func:`eeg_path`: in fast mode ``"auto"`` gives the small fixture
    (T = :data:`FAST_EEG_STEPS`) even when ``COURSE_EEG`` is set.
    """
    path = eeg_path(source)
    x, y, channels = parse_arff(path)
    if tuple(channels) != EEG_CHANNELS:
        raise DataError(
            f"{path}: expected the 14 EEG Eye State channels {list(EEG_CHANNELS)}, got {channels}"
        )
    return x, y, channels
