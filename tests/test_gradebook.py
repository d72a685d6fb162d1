"""attention_grader.gradebook: where the gradebook is, and its backups.

Each test builds a tiny course root holding only the repository's ``nbgrader_config.py``:
the gradebook URL is read from it as nbgrader reads it. No nbgrader subprocess; reading
scores out of a real gradebook is covered by the notebook suites.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from attention_grader import gradebook

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = "postgresql://grader@db.example/lesson5"


@pytest.fixture
def course(tmp_path, monkeypatch) -> Path:
    """A course root with the repository's nbgrader config, gradebook URL left at its default."""
    monkeypatch.delenv("COURSE_DB_URL", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the config prepends its grader/ and src/
    root = tmp_path.resolve() / "course"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    return root


# --- db_url, sqlite_path ------------------------------------------------------------------


def test_db_url_defaults_to_the_sqlite_file_of_the_course_root(course):
    assert gradebook.db_url(course) == f"sqlite:///{course}/gradebook.db"
    assert gradebook.sqlite_path(gradebook.db_url(course)) == course / "gradebook.db"


def test_db_url_follows_course_db_url(course, monkeypatch):
    monkeypatch.setenv("COURSE_DB_URL", POSTGRES_URL)
    assert gradebook.db_url(course) == POSTGRES_URL
    assert gradebook.sqlite_path(gradebook.db_url(course)) is None


def test_db_url_is_read_from_the_course_config(course):
    other = course / "elsewhere.db"
    config = course / "nbgrader_config.py"
    config.write_text(
        config.read_text(encoding="utf-8") + f"\nc.CourseDirectory.db_url = 'sqlite:///{other}'\n",
        encoding="utf-8",
    )
    assert gradebook.db_url(course) == f"sqlite:///{other}"


def test_db_url_of_two_course_roots_differ(course, tmp_path):
    second = tmp_path.resolve() / "second"
    second.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", second / "nbgrader_config.py")
    assert gradebook.db_url(second) == f"sqlite:///{second}/gradebook.db"
    assert gradebook.db_url(course) != gradebook.db_url(second)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:////srv/course/gradebook.db", Path("/srv/course/gradebook.db")),
        ("sqlite:///gradebook.db", Path("gradebook.db")),
        (POSTGRES_URL, None),
        ("mysql://grader@db.example/course", None),
    ],
)
def test_sqlite_path(url, path):
    assert gradebook.sqlite_path(url) == path


# --- backup -------------------------------------------------------------------------------


def test_backup_copies_the_bytes(course):
    db = course / "gradebook.db"
    payload = bytes(range(256)) * 40 + b"hidden tests live here"
    db.write_bytes(payload)
    target = gradebook.backup(course)
    assert target is not None and target.exists()
    assert target.parent == course / "backups"
    assert target.read_bytes() == payload
    assert db.read_bytes() == payload  # the original is untouched


def test_backup_keeps_at_most_keep_the_newest(course):
    db = course / "gradebook.db"
    for version in range(1, 6):
        db.write_bytes(f"version {version}".encode())
        gradebook.backup(course, keep=3)
    kept = sorted((course / "backups").iterdir())
    assert [p.read_bytes() for p in kept] == [b"version 3", b"version 4", b"version 5"]


class _FakeClock:
    """Calls 100 microseconds apart, all within one wall-clock second."""

    def __init__(self):
        self.ns = 1_700_000_000_000_850_000

    def strftime(self, fmt):
        return "20250101-120000"

    def time_ns(self):
        self.ns += 100_000
        return self.ns

    def __getattr__(self, name):
        return getattr(time, name)


def test_backup_keeps_the_newest_within_one_second(course, monkeypatch):
    monkeypatch.setattr(gradebook, "time", _FakeClock())
    db = course / "gradebook.db"
    for version in range(1, 6):
        db.write_bytes(f"version {version}".encode())
        target = gradebook.backup(course, keep=2)
        assert target is not None and target.exists(), (
            f"backup #{version} was deleted by its own pruning "
            f"(kept: {sorted(p.name for p in (course / 'backups').iterdir())})"
        )
    kept = sorted(p.read_bytes() for p in (course / "backups").iterdir())
    assert kept == [b"version 4", b"version 5"]


def test_backup_within_one_nanosecond_keeps_both(course, monkeypatch):
    clock = _FakeClock()
    clock.time_ns = lambda: 1_700_000_000_000_000_000  # the clock does not move
    monkeypatch.setattr(gradebook, "time", clock)
    db = course / "gradebook.db"
    db.write_bytes(b"first")
    first = gradebook.backup(course, keep=5)
    db.write_bytes(b"second")
    second = gradebook.backup(course, keep=5)
    assert first != second
    assert (first.read_bytes(), second.read_bytes()) == (b"first", b"second")


def test_backup_without_a_gradebook_returns_none(course):
    assert gradebook.backup(course) is None
    assert not (course / "backups").exists()


def test_backup_of_a_server_gradebook_returns_none(course, monkeypatch):
    monkeypatch.setenv("COURSE_DB_URL", POSTGRES_URL)
    (course / "gradebook.db").write_bytes(b"x")  # not the configured gradebook
    assert gradebook.backup(course) is None
    assert not (course / "backups").exists()
