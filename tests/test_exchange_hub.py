"""The exchange as on a JupyterHub: real Linux users hand in through a shared exchange
folder, and one of them attacks it by writing straight into ``inbound/``.

Two users are created for the run (``useradd``, unique names, removed at the end); the
instructor is root, as on a hub where the grader runs as an admin. The students run the
stock ``nbgrader fetch_assignment``/``submit``/``fetch_feedback`` as themselves
(``runuser``); the instructor runs the stock ``nbgrader release_assignment``, ``collect``
(with and without ``--update``), ``generate_feedback`` and ``release_feedback`` with the
course's ``nbgrader_config.py``, and grades with the engine.

Students must be able to run the project's Python: the venv is world-readable, but its base
interpreter may live under a home folder other users cannot enter (pyenv in ``/root``). Then
each student command runs in a private mount namespace in which that folder is replaced by
an empty tmpfs holding only the interpreter's installation (bind-mounted read-only as it
is): nothing of the developer's tree or home is changed or copied, and the students see no
more of root's home than before. Without ``unshare``/``mount`` rights the test fails and
says what to change.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from attention_grader import authoring, cycle, exchange, gradebook, submissions
from courses import grade_submitted, make_course

pytestmark = pytest.mark.slow

A = "01_tokenization"
NB = f"{A}.ipynb"
COURSE = "lesson5-attention"
STAMP = "%Y-%m-%d %H:%M:%S.%f UTC"


# ------------------------------------------------------------------ running as a student
def _not_traversable(path: Path) -> Path | None:
    """The first folder on the way to ``path`` that other users cannot enter."""
    for folder in [*reversed(path.parents), path]:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return folder
    return None


class Students:
    """Runs commands as real users, with the project's Python reachable for them."""

    def __init__(self, stage: Path) -> None:
        venv = Path(sys.prefix)
        blocked_venv = _not_traversable(venv / "bin")
        if blocked_venv is not None:
            pytest.fail(
                f"other users cannot enter {blocked_venv}, so students cannot run the venv "
                f"{venv}: give it o+rx (chmod o+rx {blocked_venv}) or build the venv where "
                "every user can read it"
            )
        self.base = Path(sys.base_prefix).resolve()
        self.blocked = _not_traversable(self.base)
        self.stage = stage
        if self.blocked is not None:
            probe = subprocess.run(
                ["unshare", "--mount", "--propagation", "private", "--", "true"],
                capture_output=True,
                text=True,
            )
            if probe.returncode != 0:
                pytest.fail(
                    f"students cannot run Python: its installation {self.base} is under "
                    f"{self.blocked}, which other users cannot enter, and this process may "
                    f"not create a mount namespace to expose it ({probe.stderr.strip()}). "
                    "Install Python where every user can read it (e.g. /usr/local or /opt)."
                )

    def argv(self, user: str, *command: str) -> list[str]:
        home = pwd.getpwnam(user).pw_dir
        inner = [
            "runuser",
            "-u",
            user,
            "--",
            "env",
            "-i",
            f"HOME={home}",
            f"USER={user}",
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "LANG=C.UTF-8",
            *command,
        ]
        if self.blocked is None:
            return inner
        script = (
            'set -e; mount --bind "$1" "$2"; '
            'mount -t tmpfs -o mode=0755,size=1m tmpfs "$3"; '
            'mkdir -p "$1"; mount --bind "$2" "$1"; mount -o remount,bind,ro "$1"; '
            'shift 3; exec "$@"'
        )
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
            "sh",
            str(self.base),
            str(self.stage),
            str(self.blocked),
            *inner,
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

    def nbgrader(self, user: str, *args: str, exchange_root: Path) -> subprocess.CompletedProcess:
        return self.run(
            user,
            str(Path(sys.prefix) / "bin" / "python"),
            "-m",
            "nbgrader",
            *args,
            f"--Exchange.root={exchange_root}",
            f"--course={COURSE}",
        )

    def sh(self, user: str, script: str, *args: str) -> subprocess.CompletedProcess:
        """A shell script as ``user``: what a student can do by hand in a terminal."""
        return self.run(user, "/bin/sh", "-c", f"set -e\n{script}", "sh", *args)


@pytest.fixture
def hub(tmp_path):
    """Two real users (removed afterwards), a shared exchange folder every user can reach
    (``/tmp`` based: pytest's own tmp folder is private to root), and the student runner."""
    if os.geteuid() != 0:
        pytest.fail("this test creates Linux users: run it as root (CI and the dev box do)")
    for tool in ("useradd", "userdel", "runuser"):
        if shutil.which(tool) is None:
            pytest.fail(f"`{tool}` is missing: install the passwd/util-linux packages")
    suffix = secrets.token_hex(3)
    users = {"ana": f"ana{suffix}", "ben": f"ben{suffix}"}
    shared = Path(tempfile.mkdtemp(prefix="hub-exchange-", dir="/tmp"))
    os.chmod(shared, 0o755)
    exchange_root = shared / "exchange"
    # As nbgrader's documentation sets it up: a folder every user can write into.
    exchange_root.mkdir()
    os.chmod(exchange_root, 0o777)
    stage = shared / "stage"
    stage.mkdir(mode=0o700)
    created = []
    try:
        for name in users.values():
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True)
            created.append(name)
        yield users, exchange_root, Students(stage)
    finally:
        for name in created:
            subprocess.run(["userdel", "--remove", name], capture_output=True)
        shutil.rmtree(shared, ignore_errors=True)


def _instructor(root: Path, *args: str, exchange_root: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**cycle.environment(), "COURSE_EXCHANGE": str(exchange_root)},
        timeout=600,
    )
    assert proc.returncode == 0, f"nbgrader {args}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
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
    cycle.release(root, [A])
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
        students.nbgrader(user, "fetch_assignment", A, exchange_root=exchange_root)
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
        students.nbgrader(user, "submit", A, exchange_root=exchange_root)

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
        lambda user: students.nbgrader(user, "fetch_feedback", A, exchange_root=exchange_root),
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


def test_the_collecting_users_own_folders_keep_their_name_but_not_their_claimed_time(
    tmp_path, course_env
):
    """On a single-user machine (or the instructor's own test submissions) every inbound
    folder belongs to the collecting user: the name is taken as given, the time still comes
    from the filesystem, and a backdated ``timestamp.txt`` is still refused."""
    root = make_course(tmp_path, [A])
    cycle.release(root, [A])
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
