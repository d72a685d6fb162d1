"""The intake gate on real files: what a hostile student can put into a submission folder."""

from __future__ import annotations

import json
import os
import resource
import shutil
import stat
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from attention_grader import intake
from attention_grader.intake import IntakeLimits, Refused, copy_tree

NOTEBOOK = "01_tokenization.ipynb"


def _submission(tmp_path: Path) -> Path:
    src = tmp_path / "submitted" / "ana" / "01_tokenization"
    (src / "data").mkdir(parents=True)
    (src / NOTEBOOK).write_text('{"cells": []}')
    (src / "data" / "words.txt").write_text("one two three\n")
    return src


DEFAULT = IntakeLimits()


def _refused(src: Path, dst: Path, *words: str, limits: IntakeLimits = DEFAULT) -> str:
    with pytest.raises(Refused) as caught:
        copy_tree(src, dst, limits)
    reason = str(caught.value)
    for word in words:
        assert word in reason, reason
    assert not os.path.lexists(dst), "a refused copy must leave nothing behind"
    return reason


def test_regular_files_and_folders_are_copied_with_private_permissions(tmp_path):
    src = _submission(tmp_path)
    (src / ".ipynb_checkpoints").mkdir()
    (src / ".ipynb_checkpoints" / "x.ipynb").symlink_to("/etc/shadow")  # left out, not read
    dst = tmp_path / "staged" / "ana" / "01_tokenization"
    assert copy_tree(src, dst) == ["01_tokenization.ipynb", "data/words.txt"]
    assert (dst / "data" / "words.txt").read_text() == "one two three\n"
    assert (dst / NOTEBOOK).read_bytes() == (src / NOTEBOOK).read_bytes()
    assert not (dst / ".ipynb_checkpoints").exists()
    assert stat.S_IMODE(dst.stat().st_mode) == 0o700
    assert stat.S_IMODE((dst / NOTEBOOK).stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):  # the destination must be new
        copy_tree(src, dst)


@pytest.mark.parametrize(
    "where",
    ["01_tokenization.ipynb", "extra.txt", "data/deep.txt", "data"],
)
def test_a_symlink_at_any_level_is_refused_and_never_followed(tmp_path, where):
    src = _submission(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("the gradebook")
    target = src / where
    if target.exists():
        if target.is_dir():
            for child in target.iterdir():
                child.unlink()
            target.rmdir()
        else:
            target.unlink()
    target.symlink_to(secret if where != "data" else tmp_path)
    reason = _refused(src, tmp_path / "dst", where, "symbolic link")
    assert "the gradebook" not in reason


def test_the_submission_folder_itself_must_not_be_a_symlink(tmp_path):
    real = _submission(tmp_path)
    link = tmp_path / "submitted" / "bob" / "01_tokenization"
    link.parent.mkdir()
    link.symlink_to(real)
    _refused(link, tmp_path / "dst", "not a real folder", "symbolic link")


def test_a_fifo_is_refused_without_blocking(tmp_path):
    src = _submission(tmp_path)
    (src / NOTEBOOK).unlink()
    os.mkfifo(src / NOTEBOOK)
    done: list[str] = []
    worker = threading.Thread(
        target=lambda: done.append(_refused(src, tmp_path / "dst", NOTEBOOK, "FIFO")),
        daemon=True,
    )
    worker.start()
    worker.join(10)
    assert done, "copying a FIFO blocked (nobody writes to it)"


@pytest.mark.parametrize("target", ["/proc/self/mem", "/dev/null", "/dev/zero"])
def test_symlinks_to_special_files_are_refused(tmp_path, target):
    src = _submission(tmp_path)
    (src / "data" / "x.bin").symlink_to(target)
    _refused(src, tmp_path / "dst", "data/x.bin", "symbolic link")


def test_a_real_device_node_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("this test creates a device node with mknod: run the suite as root")
    src = _submission(tmp_path)
    os.mknod(src / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    _refused(src, tmp_path / "dst", "null", "character device")


def test_a_unix_socket_is_refused(tmp_path):
    import socket

    src = _submission(tmp_path)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "sock"))
        _refused(src, tmp_path / "dst", "sock", "socket")


def test_a_folder_named_like_the_notebook_is_copied_as_a_folder_only(tmp_path):
    """copy_tree copies folders; the engine refuses a folder where a notebook belongs (see
    test_hostile_intake). Here: it is not mistaken for a file."""
    src = _submission(tmp_path)
    (src / NOTEBOOK).unlink()
    (src / NOTEBOOK).mkdir()
    dst = tmp_path / "dst"
    assert copy_tree(src, dst) == ["data/words.txt"]
    assert (dst / NOTEBOOK).is_dir()


def test_twenty_thousand_empty_files_are_refused_quickly(tmp_path):
    src = _submission(tmp_path)
    flood = src / "flood"
    flood.mkdir()
    for i in range(20_000):
        (flood / f"f{i}").touch()
    start = time.monotonic()
    _refused(src, tmp_path / "dst", "too many files", "200")
    seconds = time.monotonic() - start
    assert seconds < 1.0, f"refusing 20,000 files took {seconds:.2f} s"


def test_the_file_count_limit_counts_files_in_every_folder(tmp_path):
    src = _submission(tmp_path)
    for d in range(5):
        (src / f"d{d}").mkdir()
        for i in range(5):
            (src / f"d{d}" / f"f{i}").touch()
    limits = IntakeLimits(max_files=20)
    _refused(src, tmp_path / "dst", "too many files", limits=limits)
    assert len(copy_tree(src, tmp_path / "ok", IntakeLimits(max_files=40))) == 27


def test_a_sparse_two_gib_file_is_refused_without_being_read(tmp_path):
    src = _submission(tmp_path)
    with open(src / "data" / "huge.bin", "wb") as handle:
        handle.truncate(2 * 1024**3)
    before = resource.getrusage(resource.RUSAGE_SELF)
    tracemalloc.start()
    start = time.monotonic()
    try:
        reason = _refused(src, tmp_path / "dst", "data/huge.bin", "too large", "2.0 GB")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    after = resource.getrusage(resource.RUSAGE_SELF)
    assert time.monotonic() - start < 1.0, reason
    assert peak < 2 * 1024**2, f"refusing it allocated {peak} bytes"
    assert after.ru_inblock - before.ru_inblock < 1000  # (512-byte blocks: no 2 GiB read)


def test_total_size_and_file_size_limits(tmp_path):
    src = _submission(tmp_path)
    (src / "a.bin").write_bytes(b"x" * 3000)
    (src / "b.bin").write_bytes(b"x" * 3000)
    _refused(src, tmp_path / "d1", "a.bin", "too large", limits=IntakeLimits(max_file_bytes=2000))
    _refused(
        src,
        tmp_path / "d2",
        "b.bin",
        "submission is too large",
        limits=IntakeLimits(max_total_bytes=5000),
    )
    assert "a.bin" in copy_tree(src, tmp_path / "d3", IntakeLimits(max_total_bytes=7000))


def test_a_file_is_copied_in_chunks_not_read_whole(tmp_path):
    src = _submission(tmp_path)
    (src / "data" / "big.bin").write_bytes(os.urandom(8 * 1024**2))
    tracemalloc.start()
    try:
        copy_tree(src, tmp_path / "dst")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (tmp_path / "dst" / "data" / "big.bin").read_bytes() == (
        src / "data" / "big.bin"
    ).read_bytes()
    assert peak < 3 * intake.CHUNK, f"copying 8 MiB allocated {peak} bytes at once"


def test_folders_nested_too_deep_are_refused(tmp_path):
    src = _submission(tmp_path)
    deep = src.joinpath(*[f"l{i}" for i in range(6)])
    deep.mkdir(parents=True)
    (deep / "x.txt").touch()
    _refused(src, tmp_path / "dst", "nested too deep", "l0/l1/l2/l3/l4")


@pytest.mark.parametrize(
    "name",
    [
        "<svg onload=alert(1)>.txt",
        '"quoted".txt',
        ".hidden",
        "-rf",
        "tab\there",
        "new\nline",
        "é.txt",
        "a&b",
        "x" * 200,
        "back\\slash",
        "ends ",
    ],
)
def test_unsafe_names_are_refused(tmp_path, name):
    assert not intake.safe_name(name)
    src = _submission(tmp_path)
    (src / "data" / name).write_text("x")
    reason = _refused(src, tmp_path / "dst", "unsafe file name")
    assert "<" not in reason and "\n" not in reason  # the reason itself is plain text


@pytest.mark.parametrize(
    "name", ["01_tokenization.ipynb", "my data (1).csv", "a-b_c.d", "x@y+z", "README"]
)
def test_safe_names(name):
    assert intake.safe_name(name)


@pytest.mark.parametrize("student", ["ana", "bob.smith", "u_123", "a-b", "c@uni.edu", "x+y"])
def test_student_ids_from_the_safe_alphabet_pass(student):
    intake.check_student_id(student)


@pytest.mark.parametrize(
    "student",
    ["<svg onload=alert(1)>", "", ".hidden", "-x", "a b", "a/b", "..", "é", "x" * 65, "a'b"],
)
def test_unsafe_student_ids_are_refused(student):
    with pytest.raises(Refused) as caught:
        intake.check_student_id(student)
    assert "student id" in str(caught.value)


def test_receipts_are_checked_and_rewritten(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    notes: list[str] = []
    assert intake.receipts(folder, notes) == {}
    (folder / "timestamp.txt").write_text("2026-03-01 10:00:00.123456 UTC\n")
    (folder / "submission_secret.txt").write_text("ab" * 64)
    assert intake.receipts(folder, notes) == {
        "timestamp.txt": "2026-03-01 10:00:00.123456 UTC",
        "submission_secret.txt": "ab" * 64,
    }
    (folder / "submission_secret.txt").write_text("<script>")
    assert "submission_secret.txt" not in intake.receipts(folder, notes)
    assert notes and "left out" in notes[0]
    for bad in ("yesterday", "2026-03-01 10:00:00 /proc/self/mem", "<b>2026</b>"):
        (folder / "timestamp.txt").write_text(bad)
        with pytest.raises(Refused, match="timestamp.txt"):
            intake.receipts(folder, notes)
    (folder / "timestamp.txt").unlink()
    (folder / "timestamp.txt").symlink_to("/etc/shadow")  # never read through a link
    assert "timestamp.txt" not in intake.receipts(folder, notes)


# A grader that does not run as root (a hub's instructor account) may list a folder whose
# owner left it readable but not searchable (mode 744), and not examine what is in it. As
# root, the test drops the two capabilities that let root ignore file modes.
NO_DAC = [
    "setpriv",
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
    "--",
]
STAGE_ALL = """
import json, sys
from pathlib import Path
from attention_grader import staging
root = Path(sys.argv[1])
out = {}
for student in ("ana", "mallory", "eve"):
    sub = staging.stage(root, root / "submitted", student, "01_tokenization", ["01_tokenization"])
    out[student] = sub.refused
print(json.dumps(out))
"""


def test_a_folder_the_grader_may_list_but_not_enter_is_refused_for_that_student_alone(tmp_path):
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to grade as a user without root's rights")
    root = tmp_path / "course"
    for student in ("ana", "mallory", "eve"):
        folder = root / "submitted" / student / "01_tokenization"
        folder.mkdir(parents=True)
        (folder / NOTEBOOK).write_text('{"cells": []}')
    for path in [root / "submitted" / "mallory" / "01_tokenization", root / "submitted" / "eve"]:
        for inner in [path, *path.rglob("*")]:
            os.chown(inner, 65534, 65534)  # the student's own (nobody stands in)
        path.chmod(0o744)  # readable, not searchable: its entries cannot be examined
    command = [sys.executable, "-c", STAGE_ALL, str(root)]
    if os.geteuid() == 0:
        command = NO_DAC + command
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    refused = json.loads(proc.stdout)
    assert refused["ana"] == ""  # staged
    assert refused["mallory"] == (
        f"refused at intake: '{NOTEBOOK}': cannot be examined (Permission denied)"
    )
    assert refused["eve"] == (
        "refused at intake: the student folder cannot be read (Permission denied)"
    )
    staged = root / ".intake" / "submitted"
    assert sorted(p.name for p in staged.iterdir()) == ["ana"]


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("numpy.py", "numpy"),  # an installed package
        ("pandas.pyc", "pandas"),  # bytecode is imported too
        ("numpy.cpython-311-x86_64-linux-gnu.so", "numpy"),  # an extension module
        ("sklearn/__init__.py", "sklearn"),  # a package
        ("attention_course/__init__.py", "attention_course"),  # the course's own package
        # what `python -m ipykernel_launcher` runs, from the working folder first on sys.path:
        # the student's own code, as the kernel, before the sandbox is sealed
        ("ipykernel_launcher.py", "ipykernel_launcher"),
    ],
)
def test_a_file_or_package_named_like_an_importable_module_is_named(tmp_path, name, module):
    folder = tmp_path / "submission"
    (folder / name).parent.mkdir(parents=True)
    (folder / name).write_bytes(b"")
    (folder / "my_helpers.py").write_text("X = 1\n")
    top = name.split("/")[0]
    assert intake.shadowing(folder) == (
        f"'{top}': named like the module {module} that Python would import instead of the "
        "course's; rename it"
    )


def test_own_modules_data_folders_and_other_files_shadow_nothing(tmp_path):
    folder = tmp_path / "submission"
    (folder / "numpy").mkdir(parents=True)  # no __init__: a namespace portion, not a package
    (folder / "numpy" / "words.txt").write_text("one\n")
    (folder / "my_helpers.py").write_text("X = 1\n")
    (folder / "json.txt").write_text("{}\n")
    (folder / "01_tokenization.ipynb").write_text("{}")
    (folder / "not-an-identifier.py").write_text("")
    # the standard library comes before the working folder on a kernel's sys.path (where
    # IPython puts it): these hide nothing, and a tokenization course's student may well
    # hand in a tokenize.py or a test.py
    for name in ("json.py", "sys.py", "random.pyc", "test.py", "tokenize.py", "token.py"):
        (folder / name).write_text("")
    assert intake.shadowing(folder) is None


def test_the_kernel_gets_the_courses_files_and_the_students_that_collide_with_none():
    from attention_grader.nbgrader_ext import merge_files

    student = {
        "data": b"a file where the course has a folder",
        "words.txt": b"the student's words",
        "lists/a/b.txt": b"inside a course file's path",
        "mine/notes.txt": b"the student's own",
        "lists.txt": b"a name that only starts like a course file",
    }
    course = {"data/words.txt": b"course data", "words.txt": b"course words", "lists/a": b"c"}
    files, own, dropped = merge_files(student, course)
    assert files == {
        "data/words.txt": b"course data",
        "words.txt": b"course words",
        "lists/a": b"c",
        "mine/notes.txt": b"the student's own",
        "lists.txt": b"a name that only starts like a course file",
    }
    assert own == ("mine/notes.txt", "lists.txt")
    assert sorted(dropped) == ["data", "lists/a/b.txt", "words.txt"]
