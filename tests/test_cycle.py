"""attention_grader.cycle: the lock of a course root and the list of its assignments.

No nbgrader subprocess: ``release``, ``feedback`` and ``export`` are exercised by the
notebook suites that run nbgrader.
"""

from __future__ import annotations

import fcntl
import threading
import time
from pathlib import Path

import pytest

from attention_grader import cycle


def test_flock_conflicts_between_two_open_files_of_one_process(tmp_path):
    # the premise of the lock tests below, which hold and probe it from one process
    path = tmp_path / "probe.lock"
    with open(path, "w") as first, open(path, "w") as second:
        fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(BlockingIOError):
            fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(first, fcntl.LOCK_UN)
        fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again


def _lock_file(root: Path) -> Path:
    files = [p for p in root.iterdir() if p.is_file()]
    assert len(files) == 1, f"expected one lock file, found {files}"
    return files[0]


def _is_locked(path: Path) -> bool:
    with open(path) as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(probe, fcntl.LOCK_UN)
        return False


def test_exclusive_excludes_a_second_coordinator_until_wait_s(tmp_path):
    with cycle.exclusive(tmp_path, wait_s=0.5):
        assert _is_locked(_lock_file(tmp_path))
        start = time.monotonic()
        with pytest.raises(cycle.CycleError, match="another autograde"):
            with cycle.exclusive(tmp_path, wait_s=0.5):
                pytest.fail("the second lock was granted while the first is held")
        assert time.monotonic() - start >= 0.45, "gave up before wait_s"
    assert not _is_locked(_lock_file(tmp_path))
    with cycle.exclusive(tmp_path, wait_s=0.5):
        pass  # released: free again


def test_exclusive_is_released_when_the_body_raises(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with cycle.exclusive(tmp_path, wait_s=0.5):
            raise RuntimeError("boom")
    assert not _is_locked(_lock_file(tmp_path))
    with cycle.exclusive(tmp_path, wait_s=0.5):
        pass


def test_exclusive_waits_for_a_lock_released_in_time(tmp_path):
    with cycle.exclusive(tmp_path, wait_s=0.5):
        holder = open(_lock_file(tmp_path))  # closed by the timer below
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # someone else holds the lock now
    timer = threading.Timer(0.3, holder.close)  # closing the file releases its lock
    timer.start()
    try:
        start = time.monotonic()
        with cycle.exclusive(tmp_path, wait_s=10):
            waited = time.monotonic() - start
    finally:
        timer.join()
        holder.close()
    assert 0.25 <= waited < 5, f"waited {waited:.2f} s for a lock released after 0.3 s"


def test_assignments_are_the_numbered_folders_of_source_in_order(tmp_path):
    source = tmp_path / "source"
    for name in ("02_metrics", "01_tokenization", "10_extra", "notes", "1_short", "_build"):
        (source / name).mkdir(parents=True)
    (source / "03_not_a_folder.ipynb").write_text("{}", encoding="utf-8")
    (tmp_path / "release" / "04_released_only").mkdir(parents=True)
    assert cycle.assignments(tmp_path) == ["01_tokenization", "02_metrics", "10_extra"]


def test_assignments_of_a_root_without_source(tmp_path):
    assert cycle.assignments(tmp_path) == []


def test_assignments_of_the_repository():
    root = Path(__file__).resolve().parents[1]
    expected = sorted(p.parent.name for p in root.glob("source/*/*.ipynb"))
    assert expected, "source/ holds no notebook"
    assert cycle.assignments(root) == expected
