"""The exchange as on a JupyterHub: real Linux users hand in through a shared exchange
folder, and one of them attacks it by writing straight into ``inbound/``.

Two users are created for the run (``useradd``, unique names, removed at the end); the
instructor is root, as on a hub where the grader runs as an admin. The students run the
stock ``nbgrader fetch_assignment``/``submit``/``fetch_feedback`` as themselves
(``runuser``), from the students' environment of ``make student-env`` (the test suite's copy
under ``/tmp``, ``tools/student_env.py --for-tests``, with ``EXCHANGE=`` the shared exchange),
with that environment first on their ``PATH`` as a hub's spawner sets it and no other help:
no course id or exchange on the command line (the environment's ``nbgrader_config.py`` says
them), nothing of the instructor's ``.venv`` or interpreter (pyenv under ``/root``, which they
cannot enter). The instructor runs the stock ``nbgrader release_assignment``, ``collect``
(with and without ``--update``), ``generate_feedback`` and ``release_feedback`` with the
course's ``nbgrader_config.py``, and grades with the engine. Another test checks what that
environment holds: readable by everyone, no grader, no solution.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import importlib.util
import json
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from attention_grader import authoring, cycle, exchange, gradebook, submissions
from conftest import ROOT
from courses import grade_submitted, make_course, release_course

pytestmark = pytest.mark.slow

A = "01_tokenization"
NB = f"{A}.ipynb"
COURSE = "lesson5-attention"
STAMP = "%Y-%m-%d %H:%M:%S.%f UTC"


def _student_env_tool():
    """tools/student_env.py, the code behind ``make student-env`` (not a package)."""
    spec = importlib.util.spec_from_file_location("student_env", ROOT / "tools" / "student_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


student_env_tool = _student_env_tool()


# ------------------------------------------------------------------ the students' environment
@pytest.fixture(scope="session")
def student_env():
    """The test suite's students' environment (``make test`` builds or updates it before the
    tests start: ``tools/student_env.py --for-tests``; a run of pytest alone does it here):
    the environment's folder and the exchange folder its ``nbgrader_config.py`` names (the
    ``hub`` fixture creates and removes the exchange itself). This session holds the
    folder's lock: another session of the same clone waits."""
    if os.geteuid() != 0:
        pytest.fail("this test creates Linux users: run it as root (CI and the dev box do)")
    if shutil.which("runuser") is None:
        pytest.fail("`runuser` is missing: install the util-linux package")
    started = time.monotonic()
    folder = student_env_tool.for_tests(quiet=True)
    print(f"the students' environment: {folder / 'env'} ({time.monotonic() - started:.0f} s)")
    lock = os.open(folder / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(folder / "exchange", ignore_errors=True)  # (a session that was killed)
        yield folder / "env", folder / "exchange"
    finally:
        os.close(lock)


def test_the_suites_copy_is_updated_when_what_it_is_built_from_changes(tmp_path, monkeypatch):
    """The digest ``for_tests`` compares: the pins, the course id and the student package's
    files change it; compiled files, the package's build metadata and files outside those do
    not (else every build would change the digest it is recorded under), wherever the clone
    is (here in folders whose names are those of build metadata)."""
    tmp_path = tmp_path / "clone.egg-info" / "__pycache__"
    tmp_path.mkdir(parents=True)
    for name in ("pyproject.toml", "nbgrader_config.py", *student_env_tool.REQUIREMENTS):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(student_env_tool, "ROOT", tmp_path)
    monkeypatch.delenv("COURSE_ID", raising=False)
    first = student_env_tool.test_inputs()
    (tmp_path / "src" / "attention_course" / "__pycache__").mkdir(exist_ok=True)
    (tmp_path / "src" / "attention_course" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (tmp_path / "README.md").write_text("not an input")
    # building the student package (the tool does) writes src/<name>.egg-info
    (tmp_path / "src" / "attention_course.egg-info").mkdir(exist_ok=True)
    (tmp_path / "src" / "attention_course.egg-info" / "SOURCES.txt").write_text("a\nb\n")
    assert student_env_tool.test_inputs() == first
    changes = {
        "src/attention_course/checks.py": lambda text: text + "\n# changed\n",
        "requirements.lock": lambda text: text.replace("==", "===", 1),
        "requirements-hub.txt": lambda text: text + "\n",
    }
    for name, change in changes.items():
        path = tmp_path / name
        before = path.read_text()
        path.write_text(change(before))
        assert student_env_tool.test_inputs() != first, name
        path.write_text(before)
        assert student_env_tool.test_inputs() == first, name
    (tmp_path / "src" / "attention_course" / "new.py").write_text("")
    assert student_env_tool.test_inputs() != first
    (tmp_path / "src" / "attention_course" / "new.py").unlink()
    monkeypatch.setenv("COURSE_ID", "another-course")
    assert student_env_tool.test_inputs() != first


def test_the_suites_copy_is_only_taken_from_a_folder_of_its_own(tmp_path, monkeypatch):
    """The clone's record names a folder ``/tmp/lesson5-test-student-env-...``: it is used
    only if it is such a real folder of this user that nobody else can write to; otherwise a
    new one is made (a planted folder or link could hand the test's students someone's code,
    and another folder would be built into and emptied)."""
    record = tmp_path / "record"
    monkeypatch.setattr(student_env_tool, "TEST_RECORD", record)
    folder = Path(tempfile.mkdtemp(prefix=student_env_tool.TEST_PREFIX, dir="/tmp"))
    other = Path(tempfile.mkdtemp(prefix="another-", dir="/tmp"))
    try:
        os.chmod(folder, 0o755)
        os.chmod(other, 0o755)
        record.write_text(f"{folder}\n")
        assert student_env_tool._test_folder() == folder
        os.chmod(folder, 0o775)
        assert student_env_tool._test_folder() is None
        os.chmod(folder, 0o755)
        os.chown(folder, 12345, -1)
        assert student_env_tool._test_folder() is None
        os.chown(folder, os.geteuid(), -1)
        link = Path("/tmp") / f"{student_env_tool.TEST_PREFIX}link-{secrets.token_hex(4)}"
        link.symlink_to(folder)
        try:
            record.write_text(f"{link}\n")
            assert student_env_tool._test_folder() is None
        finally:
            link.unlink()
        for named in (
            other,  # not the suite's name
            tmp_path,  # not under /tmp itself
            Path("/"),
            Path("/usr"),
            Path(f"/tmp/../tmp/{folder.name}"),  # not literally in /tmp
            Path(folder.name),  # relative
        ):
            record.write_text(f"{named}\n")
            assert student_env_tool._test_folder() is None, named
        record.unlink()
        assert student_env_tool._test_folder() is None
    finally:
        shutil.rmtree(folder)
        shutil.rmtree(other)


def test_the_suites_copy_is_built_once_then_updated_in_its_folder(tmp_path, monkeypatch):
    """``for_tests`` builds into a new folder the first time (and records it at once, so that
    a build that fails is retried there), builds nothing while the inputs are the same, and
    updates the same folder when they change; a first build that ended before its marker
    is removed before the next try (``build`` refuses a non-empty folder it did not make)."""
    record = tmp_path / "record"
    monkeypatch.setattr(student_env_tool, "TEST_RECORD", record)
    inputs = ["first"]
    monkeypatch.setattr(student_env_tool, "test_inputs", lambda: inputs[0])
    built = []

    def build(prefix: Path, exchange: str | None = None, ngshare: str | None = None) -> None:
        assert not prefix.exists() or (prefix / student_env_tool.MARKER).exists()
        if inputs[0] == "fails":
            prefix.mkdir()
            raise SystemExit("the build failed")
        prefix.mkdir(exist_ok=True)
        (prefix / student_env_tool.MARKER).write_text("{}")
        built.append((prefix, exchange))

    monkeypatch.setattr(student_env_tool, "build", build)
    folder = student_env_tool.for_tests(quiet=True)
    try:
        assert built == [(folder / "env", str(folder / "exchange"))]
        assert record.read_text().strip() == str(folder)
        assert folder.parent == Path("/tmp") and stat.S_IMODE(folder.stat().st_mode) == 0o755
        assert student_env_tool.for_tests(quiet=True) == folder and len(built) == 1
        inputs[0] = "second"
        assert student_env_tool.for_tests(quiet=True) == folder and len(built) == 2
        shutil.rmtree(folder)  # gone: a new folder, then a build that fails in it
        inputs[0] = "fails"
        with pytest.raises(SystemExit):
            student_env_tool.for_tests(quiet=True)
        retry = Path(record.read_text().strip())
        assert retry != folder and (retry / "env").is_dir()
        inputs[0] = "third"
        assert student_env_tool.for_tests(quiet=True) == retry and len(built) == 3
    finally:
        for made in {folder, Path(record.read_text().strip())}:
            shutil.rmtree(made, ignore_errors=True)


# ------------------------------------------------------------------ running as a student
class Students:
    """Runs commands as real users, with the students' environment on their ``PATH``."""

    def __init__(self, prefix: Path) -> None:
        blocked = student_env_tool.not_traversable(prefix / "bin")
        if blocked is not None:
            pytest.fail(
                f"other users cannot enter {blocked}: the students' environment is "
                "not readable by them"
            )
        self.prefix = prefix

    def argv(self, user: str, *command: str) -> list[str]:
        home = pwd.getpwnam(user).pw_dir
        return [
            "runuser",
            "-u",
            user,
            "--",
            "env",
            "-i",
            f"HOME={home}",
            f"USER={user}",
            f"PATH={self.prefix}/bin:/usr/local/bin:/usr/bin:/bin",
            "LANG=C.UTF-8",
            *command,
        ]

    def run(self, user: str, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            self.argv(user, *command),
            cwd=pwd.getpwnam(user).pw_dir,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert proc.returncode == 0, f"{user}: {command}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def nbgrader(self, user: str, *args: str) -> subprocess.CompletedProcess:
        """The stock command, as a student types it in her server's terminal."""
        return self.run(user, "nbgrader", *args)

    def sh(self, user: str, script: str, *args: str) -> subprocess.CompletedProcess:
        """A shell script as ``user``: what a student can do by hand in a terminal."""
        return self.run(user, "/bin/sh", "-c", f"set -e\n{script}", "sh", *args)


@pytest.fixture
def users():
    """Two real users (removed afterwards)."""
    for tool in ("useradd", "userdel", "runuser"):
        if shutil.which(tool) is None:
            pytest.fail(f"`{tool}` is missing: install the passwd/util-linux packages")
    suffix = secrets.token_hex(3)
    names = {"ana": f"ana{suffix}", "ben": f"ben{suffix}"}
    created = []
    try:
        for name in names.values():
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True)
            created.append(name)
        yield names
    finally:
        for name in created:
            subprocess.run(["userdel", "--remove", name], capture_output=True)


@pytest.fixture
def hub(student_env, users):
    """The two users, the shared exchange folder every user can reach (``/tmp`` based:
    pytest's own tmp folder is private to root), and the student runner."""
    prefix, exchange_root = student_env
    # As the README sets it up: the course's folder made by the instructor first, then the
    # exchange writable by every user with the sticky bit (no one renames another's entry)
    exchange_root.mkdir(mode=0o700)
    (exchange_root / COURSE).mkdir(mode=0o755)
    os.chmod(exchange_root, 0o1777)
    try:
        yield users, exchange_root, Students(prefix)
    finally:
        shutil.rmtree(exchange_root, ignore_errors=True)


def _instructor(
    root: Path, *args: str, exchange_root: Path, check: bool = True
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**cycle.environment(), "COURSE_EXCHANGE": str(exchange_root)},
        timeout=600,
    )
    if check:
        assert proc.returncode == 0, (
            f"nbgrader {args}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def _both(step, *users: str) -> None:
    """The same step for several students at once, as in a class (and half the wait)."""
    with ThreadPoolExecutor(len(users)) as pool:
        for future in [pool.submit(step, user) for user in users]:
            future.result()


def _files_under(*tops: Path) -> list[Path]:
    return [p for top in tops if top.exists() for p in top.rglob("*") if p.is_file()]


# ------------------------------------------------------------------ the test
def test_students_cannot_choose_their_name_time_or_files_through_the_exchange(
    tmp_path, course_env, hub
):
    users, exchange_root, students = hub
    ana, ben = users["ana"], users["ben"]
    start = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    due = start - datetime.timedelta(hours=1)  # everything handed in now is ~1 hour late
    early = due - datetime.timedelta(days=1)  # what the cheater wants to have been

    # --- the instructor releases
    root = make_course(tmp_path / "instructor", [A])
    (root / "schedule.toml").write_text(
        f'[due]\n"{A}" = "{due:%Y-%m-%dT%H:%M:%S}+00:00"\n\n'
        "[late]\npercent_per_day = 10\nmax_percent = 100\n"
    )
    release_course(root, [A])
    _instructor(root, "release_assignment", A, exchange_root=exchange_root)
    inbound = exchange_root / COURSE / "inbound"
    assert stat.S_IMODE(inbound.stat().st_mode) == 0o2733  # drwx-ws-wx, as nbgrader makes it
    canary = f"instructor-canary-{secrets.token_hex(8)}"
    (root / "source" / A / "instructor_notes.txt").write_text(canary)
    source_nb_bytes = (root / "source" / A / NB).read_bytes()
    shadow = Path("/etc/shadow").read_text()
    shadow_root_line = next(line for line in shadow.splitlines() if line.startswith("root:"))
    source_nb = authoring.read_notebook(root / "source" / A / NB)

    # --- both students fetch, solve and submit with the stock commands, as themselves
    peer_canary = f"ben-canary-{secrets.token_hex(8)}"

    def hand_in(user: str) -> None:
        students.nbgrader(user, "fetch_assignment", A)
        home = Path(pwd.getpwnam(user).pw_dir)
        students.sh(user, 'cp "$1" "$2"', str(home / A / NB), str(home / "blank.ipynb"))
        fetched = home / A / NB
        solved = submissions.solved(authoring.read_notebook(fetched), source_nb)
        if user == ben:  # ben's own words, to see whether they reach anyone else
            cell = next(
                c
                for c in solved["cells"]
                if c["cell_type"] == "code"
                and c.get("metadata", {}).get("nbgrader", {}).get("solution")
            )
            cell["source"] = "".join(cell["source"]) + f"\n# {peer_canary}\n"
        authoring.write_notebook(solved, fetched)  # the file stays the student's
        students.nbgrader(user, "submit", A)

    _both(hand_in, ana, ben)
    ana_home = Path(pwd.getpwnam(ana).pw_dir)
    (ana_folder,) = [p for p in inbound.iterdir() if p.name.startswith(f"{ana}+")]
    (ben_folder,) = [p for p in inbound.iterdir() if p.name.startswith(f"{ben}+")]

    # --- ana attacks the exchange by hand (she learned ben's folder name somehow)
    now_name = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    forged = f"{ben}+{A}+{now_name}+forged"
    students.sh(
        ana,
        # 1. her own submission, backdated after submit; touch -d cannot move a change time
        'printf "%s" "$2" > "$1/timestamp.txt"\n'
        'touch -d "$3" "$1"/* "$1"\n'
        # 2. a folder under ben's name: a blank notebook and a secret she knows
        'mkdir "$4/$5" && cp "$6" "$4/$5/01_tokenization.ipynb"\n'
        'printf "%s" "$7" > "$4/$5/timestamp.txt"\n'
        'printf anaknows > "$4/$5/submission_secret.txt"\n'
        'chmod 777 "$4/$5"\n'
        # 3. symlinks in inbound/: to source/, to ben's folder, to /etc/shadow
        'ln -s "$8" "$4/$9+01_tokenization+$7+src"\n'
        'ln -s "${10}" "$4/$9+01_tokenization+$7+peer"\n'
        'ln -s /etc/shadow "$4/$9+01_tokenization+$7+shadow"\n'
        # 4. a real folder whose files are symlinks to the same places
        'd="$4/$9+01_tokenization+$7+links"; mkdir "$d"\n'
        'ln -s "$8/01_tokenization.ipynb" "$d/01_tokenization.ipynb"\n'
        'ln -s "$8/instructor_notes.txt" "$d/notes.txt"\n'
        'ln -s /etc/shadow "$d/shadow.txt"\n'
        'ln -s "${10}/01_tokenization.ipynb" "$d/peer.ipynb"\n'
        'printf "%s" "$7" > "$d/timestamp.txt"\n',
        str(ana_folder),
        early.strftime(STAMP),
        early.strftime("%Y-%m-%d %H:%M:%S"),
        str(inbound),
        forged,
        str(ana_home / "blank.ipynb"),
        now_name,
        str(root / "source" / A),
        ana,
        str(ben_folder),
    )

    # --- the instructor collects with the stock command
    collected = _instructor(root, "collect", A, exchange_root=exchange_root)
    log = collected.stdout + collected.stderr
    submitted = root / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == [ben]  # ana's only folders: refused
    assert peer_canary in (submitted / ben / A / NB).read_text()  # ben's own, not the forgery
    assert "REFUSED" in log and forged in log, log

    # --- ana hands in a folder made by hand without submission_secret.txt (honest time)
    handmade = f"{ana}+{A}+{datetime.datetime.now(datetime.UTC).strftime(STAMP)}+byhand"
    students.sh(
        ana,
        'mkdir "$1"; cp "$2" "$1/01_tokenization.ipynb"; printf "%s" "$3" > "$1/timestamp.txt"',
        str(inbound / handmade),
        str(ana_home / A / NB),
        handmade.split("+")[2],
    )
    _instructor(root, "collect", "--update", A, exchange_root=exchange_root)
    assert (submitted / ana / A / NB).exists()
    first_time = (submitted / ana / A / "timestamp.txt").read_text()
    # --- then a backdated one that claims, by its name, to be her newest
    later = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)).strftime(STAMP)
    backdated = f"{ana}+{A}+{later}+update"
    students.sh(
        ana,
        'mkdir "$1"; cp "$2" "$1/01_tokenization.ipynb"; printf "%s" "$3" > "$1/timestamp.txt"\n'
        'printf anaknows > "$1/submission_secret.txt"; touch -d "$4" "$1"/* "$1"',
        str(inbound / backdated),
        str(ana_home / A / NB),
        early.strftime(STAMP),
        early.strftime("%Y-%m-%d %H:%M:%S"),
    )
    updated = _instructor(root, "collect", "--update", A, exchange_root=exchange_root)
    assert "REFUSED" in updated.stdout + updated.stderr
    assert (submitted / ana / A / "timestamp.txt").read_text() == first_time
    assert not (submitted / ana / A / "submission_secret.txt").exists()

    # --- every collected time is the filesystem's, never a claim
    for student in (ana, ben):
        got = datetime.datetime.strptime(
            (submitted / student / A / "timestamp.txt").read_text(), STAMP
        )
        assert got >= start - datetime.timedelta(seconds=5), (student, got)

    # --- grading, feedback, release
    graded = grade_submitted(root, A, NB)
    assert set(graded.results) == {ana, ben}
    scores = {r.student: (r.score, r.late_penalty) for r in gradebook.scores(root)}
    # both solved, both ~1 hour late: 10 % off, no late penalty escaped, no identity stolen
    assert scores == {ana: (20.7, 2.3), ben: (20.7, 2.3)}
    cycle.feedback(root, A)
    released = _instructor(root, "release_feedback", A, exchange_root=exchange_root)
    release_log = released.stdout + released.stderr
    assert "NOT released" in release_log and ana in release_log

    outbound_feedback = exchange_root / COURSE / "feedback"
    ben_secret = (ben_folder / "submission_secret.txt").read_text()
    ben_hash = hashlib.md5((ben_secret + A).encode()).hexdigest()
    assert (outbound_feedback / f"{ben_hash}.html").exists()  # ben's feedback is released
    stolen_hash = hashlib.md5(("anaknows" + A).encode()).hexdigest()
    assert not (outbound_feedback / f"{stolen_hash}.html").exists()
    assert sorted(p.name for p in outbound_feedback.iterdir()) == [f"{ben_hash}.html"]

    # ben fetches his feedback with the stock command; ana gets nothing of his
    _both(
        lambda user: students.nbgrader(user, "fetch_feedback", A),
        ana,
        ben,
    )
    ben_home = Path(pwd.getpwnam(ben).pw_dir)
    (ben_feedback,) = (ben_home / A / "feedback").glob("*/01_tokenization.html")
    assert peer_canary in ben_feedback.read_text()
    ana_fetched = _files_under(ana_home / A / "feedback")

    # --- no leak: nothing of /etc/shadow, source/ or ben in anything graded or handed back
    everything = (
        _files_under(submitted, root / "autograded", root / "feedback", outbound_feedback)
        + ana_fetched
    )
    anas = (
        _files_under(submitted / ana, root / "autograded" / ana, root / "feedback" / ana)
        + ana_fetched
    )
    for path in everything:
        data = path.read_bytes()
        assert shadow_root_line.encode() not in data, path
        assert canary.encode() not in data, path
        assert data != source_nb_bytes, path
    for path in anas:
        assert peer_canary.encode() not in path.read_bytes(), path

    # --- the refusals are on record for the course report
    records = exchange.refusals(root, A)
    by_folder = {r["folder"]: r for r in records if r["command"] == "collect"}
    assert by_folder[ana_folder.name]["kind"] == "backdated"
    assert by_folder[backdated]["kind"] == "backdated"
    assert by_folder[forged]["kind"] == "identity"
    assert by_folder[forged]["owner"] == ana
    for tail in ("src", "peer", "shadow"):
        assert by_folder[f"{ana}+{A}+{now_name}+{tail}"]["kind"] == "not-a-folder"
    assert by_folder[f"{ana}+{A}+{now_name}+links"]["kind"] == "link-or-special"
    (no_secret,) = [r for r in records if r["command"] == "release_feedback"]
    assert no_secret["student"] == ana and no_secret["kind"] == "no-secret"
    lines = (root / exchange.REFUSALS).read_text().splitlines()
    assert all(json.loads(line)["reason"] for line in lines)


def test_no_instructor_command_uses_a_course_folder_a_student_planted(tmp_path, course_env):
    """In an exchange every user can write to, a student can make ``<exchange>/<course>``
    before the instructor's first release: a link to a folder of root's (the course
    repository's ``tests/``: stock nbgrader would make a world-writable ``inbound/`` there,
    and her ``conftest.py`` in it would run as root), or a folder of her own. The course's
    release_assignment, collect and release_feedback refuse both and write nothing."""
    root = make_course(tmp_path / "instructor", [A])
    release_course(root, [A])
    (root / "feedback" / "ana" / A).mkdir(parents=True)  # (release_feedback's source)
    (root / "feedback" / "ana" / A / f"{A}.html").write_text("<p>feedback</p>")
    exchange_root = tmp_path / "exchange"
    exchange_root.mkdir()
    os.chmod(exchange_root, 0o777)  # as nbgrader's documentation sets it up
    course, target = exchange_root / COURSE, tmp_path / "roots-folder"
    target.mkdir()
    course.symlink_to(target)
    for command in ("release_assignment", "collect", "release_feedback"):
        proc = _instructor(root, command, A, exchange_root=exchange_root, check=False)
        assert proc.returncode != 0, (command, proc.stdout, proc.stderr)
        assert "is a symbolic link" in proc.stdout + proc.stderr, command
    assert list(target.iterdir()) == [] and course.is_symlink()
    course.unlink()
    course.mkdir()
    for owner, mode, says in ((12345, 0o755, "belongs to"), (0, 0o777, "writable by every")):
        os.chown(course, owner, -1)
        os.chmod(course, mode)
        proc = _instructor(root, "release_assignment", A, exchange_root=exchange_root, check=False)
        assert proc.returncode != 0 and says in proc.stdout + proc.stderr, proc.stderr
        assert list(course.iterdir()) == []
    os.chmod(course, 0o755)  # the instructor's (root's) own folder: released, with a warning
    proc = _instructor(root, "release_assignment", A, exchange_root=exchange_root)
    assert (course / "outbound" / A / NB).exists()
    assert "without the sticky bit" in proc.stdout + proc.stderr
    os.chmod(exchange_root, 0o1777)
    proc = _instructor(root, "collect", A, exchange_root=exchange_root)
    assert "sticky" not in proc.stdout + proc.stderr


def test_the_collecting_users_own_folders_keep_their_name_but_not_their_claimed_time(
    tmp_path, course_env
):
    """On a single-user machine (or the instructor's own test submissions) every inbound
    folder belongs to the collecting user: the name is taken as given, the time still comes
    from the filesystem, and a backdated ``timestamp.txt`` is still refused."""
    root = make_course(tmp_path, [A])
    release_course(root, [A])
    exchange_root = tmp_path / "exchange"
    _instructor(root, "release_assignment", A, exchange_root=exchange_root)
    inbound = exchange_root / COURSE / "inbound"
    release_nb = (root / "release" / A / NB).read_bytes()
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    old = now - datetime.timedelta(days=3)
    for student, claim in (("carla", now), ("dan", old)):
        folder = inbound / f"{student}+{A}+{claim.strftime(STAMP)}+x"
        folder.mkdir()
        (folder / NB).write_bytes(release_nb)
        (folder / "timestamp.txt").write_text(claim.strftime(STAMP))
        os.utime(folder, (old.timestamp(), old.timestamp()))  # mtime only, as touch -d
    # a "time" whose zone is a path: nbgrader's parser would open that file as a time zone
    odd = inbound / f"erin+{A}+{now.strftime(STAMP)}+x"
    odd.mkdir()
    (odd / NB).write_bytes(release_nb)
    (odd / "timestamp.txt").write_text(f"{now:%Y-%m-%d %H:%M:%S} /etc/localtime")
    # a student id that is HTML (formgrader would print it unescaped)
    html_id = "<img src=x onerror=alert(1)>"
    (inbound / f"{html_id}+{A}+{now.strftime(STAMP)}+x").mkdir()
    proc = _instructor(root, "collect", A, exchange_root=exchange_root)
    assert sorted(p.name for p in (root / "submitted").iterdir()) == ["carla"]
    got = datetime.datetime.strptime(
        (root / "submitted" / "carla" / A / "timestamp.txt").read_text(), STAMP
    )
    assert (
        now - datetime.timedelta(seconds=5)
        <= got
        <= datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    )
    assert "REFUSED" in proc.stdout + proc.stderr
    got = {r["claimed_student"]: r["kind"] for r in exchange.refusals(root, A)}
    assert got == {"dan": "backdated", "erin": "time", html_id: "unsafe-id"}


# ------------------------------------------------------------------ what the environment holds
def _solution_lines() -> set[str]:
    """Distinctive lines of the solutions and hidden tests of source/ that are neither in
    release/ nor in the student package's sources (a hidden test's ``for case in
    hidden_cases(...)`` is in ``probe``'s documentation on purpose; that src/ holds no
    solution is tests/test_no_solutions.py's)."""
    public = [
        "".join(cell["source"])
        for path in (ROOT / "release").glob("*/*.ipynb")
        for cell in authoring.read_notebook(path)["cells"]
    ] + [path.read_text() for path in (ROOT / "src" / "attention_course").glob("*.py")]
    public_text = "\n".join(public)
    lines = set()
    for path in (ROOT / "source").glob("*/*.ipynb"):
        for cell in authoring.read_notebook(path)["cells"]:
            inside = False
            for line in "".join(cell["source"]).splitlines():
                if "### BEGIN SOLUTION" in line or "### BEGIN HIDDEN TESTS" in line:
                    inside = True
                elif "### END SOLUTION" in line or "### END HIDDEN TESTS" in line:
                    inside = False
                elif inside and len(line.strip()) >= 30 and line.strip() not in public_text:
                    lines.add(line.strip())
    return lines


def test_the_student_environment_is_readable_by_all_and_holds_no_grader_or_solution(
    student_env, users
):
    """Every folder and file of the environment readable by every user; the student package
    a copy (not a link into this repository); no grader, no judge, no source notebook, no
    line of a solution or hidden test; formgrader off; the hub's single-user server there."""
    prefix, _ = student_env
    site = next(prefix.glob("lib/python3*/site-packages"))
    unreadable, forbidden, scanned = [], [], []
    judge_files = {p.name for p in (ROOT / "grader" / "attention_grader" / "judges").glob("*.py")}
    judge_files.discard("__init__.py")
    source_notebooks = {p.name for p in (ROOT / "source").glob("*/*.ipynb")}
    for folder, dirs, files in os.walk(prefix):
        for name in dirs + files:
            path = Path(folder, name)
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode) and mode & 0o005 != 0o005:
                unreadable.append(path)
            elif stat.S_ISREG(mode) and not mode & stat.S_IROTH:
                unreadable.append(path)
            lowered = name.lower().replace("-", "_")
            if (
                lowered.startswith("attention_grader")
                or name in judge_files | source_notebooks
                or (name == "judges" and "attention" in folder)
            ):
                forbidden.append(path)
            if stat.S_ISREG(mode) and (
                name.endswith(".ipynb") or Path(folder).is_relative_to(prefix / "etc")
            ):
                scanned.append(path)
    assert not unreadable, f"not readable by other users: {unreadable[:10]}"
    assert not forbidden, forbidden

    (dist,) = site.glob("attention_course-*.dist-info")
    direct_url = json.loads((dist / "direct_url.json").read_text())
    assert not direct_url.get("dir_info", {}).get("editable"), direct_url
    record = [line.split(",")[0] for line in (dist / "RECORD").read_text().splitlines()]
    scanned += [site / name for name in record if (site / name).is_file()]
    for pth in site.glob("*.pth"):
        assert str(ROOT) not in pth.read_text(), pth  # nothing imported from the repository
    solutions = _solution_lines()
    assert len(solutions) > 20  # the check below has something to find
    for path in scanned:
        text = path.read_text(errors="replace")
        leaked = [line for line in solutions if line in text]
        assert not leaked, (path, leaked[:3])

    # compiled where students cannot write: a module without its .pyc would be compiled again
    # at every import, in every student's kernel (TensorFlow: thousands of files)
    sources = list(site.rglob("*.py"))
    uncompiled = [p for p in sources if not Path(importlib.util.cache_from_source(p)).exists()]
    assert len(sources) > 5000 and len(uncompiled) <= len(sources) // 1000, uncompiled[:10]

    # as a student: the package from the environment, no grader, the hub's server is there,
    # the students' nbgrader_config.py is read and formgrader is off
    students = Students(prefix)
    probe = (
        "import importlib.util, json, attention_course, nbgrader.apps\n"
        "print(json.dumps([attention_course.__file__,\n"
        "                  importlib.util.find_spec('attention_grader') is None]))\n"
    )
    where, no_grader = json.loads(students.run(users["ana"], "python", "-c", probe).stdout)
    assert Path(where).is_relative_to(prefix) and no_grader, (where, no_grader)
    grader_import = students.run(
        users["ana"], "python", "-c", "import attention_grader", check=False
    )
    assert "ModuleNotFoundError" in grader_import.stderr
    assert students.run(users["ana"], "jupyterhub-singleuser", "--version").stdout.strip()
    extensions = students.run(users["ana"], "jupyter", "server", "extension", "list")
    listing = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", extensions.stdout + extensions.stderr).split())
    assert "nbgrader.server_extensions.formgrader disabled" in listing, listing
    assert "nbgrader.server_extensions.assignment_list enabled" in listing, listing
