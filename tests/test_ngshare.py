"""The authenticated exchange: nbgrader through ngshare on a real JupyterHub.

A hub (JupyterHub 6.1.1 from ``.venv-hub``, its configurable-http-proxy from
``hub/node_modules``: ``make hub``) runs on free loopback ports with DummyAuthenticator users
``alice``, ``bob`` (students), ``eve`` (a hub user not in the course), ``prof`` (instructor)
and ``hubadmin`` (ngshare admin); ngshare 0.6.0 runs as the hub's managed service. Every
nbgrader command is the CLI of the course's ``.venv`` under ONE uid, as where students'
containers share a uid, with only what a single-user server's environment holds
(``JUPYTERHUB_USER``, ``JUPYTERHUB_API_URL``, ``JUPYTERHUB_API_TOKEN``; no ``USER``).
Students configure nbgrader with :func:`attention_course.ngshare_client.configure` (the
student package: no grader on their servers), the instructor
with the course's ``nbgrader_config.py`` and ``COURSE_NGSHARE_URL``.

What must hold: identity comes from the hub token (bob cannot submit as alice, not through
the client's variables, not with ``--student``, not by forging the REST request); time comes
from the server (a backdated ``timestamp.txt`` is overwritten, ``collect --update`` compares
server times); ``submitted/`` holds no link and nothing outside it is written; the course's
engine grades what collect brought; a submission that would break collect (a folder named
``timestamp.txt``, an unsafe file name) is refused alone; each student fetches only her own
feedback HTML; a refused submit or release exits non-zero.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from attention_grader import authoring, cycle, exchange, gradebook, submissions
from conftest import ROOT
from courses import grade_submitted, make_course, release_course
from support.ports import free_ports

pytestmark = pytest.mark.slow

A = "01_tokenization"
NB = f"{A}.ipynb"
COURSE = "lesson5-attention"  # the course id of nbgrader_config.py (COURSE_ID's default)
HUB_PYTHON = ROOT / ".venv-hub" / "bin" / "python"
PROXY = ROOT / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
STUDENTS = ("alice", "bob")


HUB_CONFIG = """
c = get_config()  # noqa
c.JupyterHub.ip = '127.0.0.1'
c.JupyterHub.port = {public}
c.JupyterHub.hub_ip = '127.0.0.1'
c.JupyterHub.hub_port = {hub}
c.JupyterHub.db_url = 'sqlite:///{root}/jupyterhub.sqlite'
c.JupyterHub.cookie_secret_file = '{root}/cookie_secret'
c.JupyterHub.pid_file = '{root}/hub.pid'
c.ConfigurableHTTPProxy.command = ['{proxy}']
c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{proxy_api}'
c.ConfigurableHTTPProxy.pid_file = '{root}/proxy.pid'
c.JupyterHub.authenticator_class = 'dummy'
c.DummyAuthenticator.password = '{password}'
c.Authenticator.allowed_users = {{'alice', 'bob', 'eve', 'prof'}}
c.Authenticator.admin_users = {{'hubadmin'}}
c.JupyterHub.services = [
    {{'name': 'ngshare', 'url': 'http://127.0.0.1:{ngshare}', 'cwd': '{root}',
      'command': ['{hub_python}', '-m', 'ngshare', '--admins', 'hubadmin',
                  '--database', 'sqlite:///{root}/ngshare.db', '--storage', '{root}/files/']}},
    {{'name': 'driver', 'api_token': '{driver}'}},
]
c.JupyterHub.load_roles = [
    {{'name': 'driver', 'scopes': ['admin:users', 'tokens'], 'services': ['driver']}},
]
"""

STUDENT_CONFIG = """
from attention_course import ngshare_client

c = get_config()  # noqa
ngshare_client.configure(c, {url!r})
c.CourseDirectory.course_id = {course!r}
"""


def _ours(markers: tuple[str, ...]) -> list[int]:
    """Pids of live processes whose command line holds one of this run's unique strings."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(marker in cmd for marker in markers):
            found.append(int(entry.name))
    return found


@pytest.fixture
def hub(tmp_path):
    """A running hub with ngshare; yields its addresses and each user's API token. Every
    process it started is stopped afterwards, also when the test fails."""
    for path, what in ((HUB_PYTHON, "JupyterHub + ngshare"), (PROXY, "configurable-http-proxy")):
        if not path.exists():
            pytest.fail(f"{path} is missing ({what}): run `make hub` (needs Node.js >= 20, npm)")
    root = tmp_path / "hub"
    root.mkdir()
    ports = dict(zip(("public", "hub", "proxy_api", "ngshare"), free_ports(4), strict=True))
    driver = secrets.token_hex(32)
    (root / "jupyterhub_config.py").write_text(
        HUB_CONFIG.format(
            root=root,
            proxy=PROXY,
            hub_python=HUB_PYTHON,
            driver=driver,
            password=secrets.token_hex(8),
            **ports,
        )
    )
    env = {"PATH": f"{HUB_PYTHON.parent}:/usr/bin:/bin", "HOME": str(root), "LANG": "C.UTF-8"}
    with open(root / "hub.log", "wb") as log:
        proc = subprocess.Popen(
            [str(HUB_PYTHON.parent / "jupyterhub"), "-f", str(root / "jupyterhub_config.py")],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{ports['public']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/services/ngshare/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the hub or ngshare did not start:\n" + _tail(root / "hub.log"))
            time.sleep(0.2)

        def token(user: str) -> str:  # no more than a single-user server's own token
            r = requests.post(
                f"{base}/hub/api/users/{user}/tokens",
                headers={"Authorization": f"token {driver}"},
                json={"note": "test", "expires_in": 900, "scopes": [f"users:activity!user={user}"]},
                timeout=30,
            )
            r.raise_for_status()
            return r.json()["token"]

        yield {
            "root": root,
            "api": f"http://127.0.0.1:{ports['hub']}/hub/api",
            "ngshare": f"{base}/services/ngshare",
            "tokens": {u: token(u) for u in (*STUDENTS, "eve", "prof", "hubadmin")},
        }
    finally:
        # the hub stops the proxy and the service; whatever outlives it is this run's (its
        # unique folder or proxy port on the command line) and is killed by pid
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for pid in _ours((f"{root}/", f"--api-port {ports['proxy_api']}")):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _tail(path: Path, size: int = 4000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else "(no log)"


def _api(hub, method: str, path: str, who: str | None, **kw) -> requests.Response:
    headers = {"Authorization": f"token {hub['tokens'][who]}"} if who else {}
    return requests.request(method, hub["ngshare"] + path, headers=headers, timeout=30, **kw)


def _files(**contents: bytes) -> str:
    return json.dumps(
        [{"path": p, "content": base64.b64encode(c).decode()} for p, c in contents.items()]
    )


class Hub:
    """Runs the course's nbgrader CLI as each hub user's server would."""

    def __init__(self, hub: dict, tmp: Path, course_root: Path) -> None:
        self.hub, self.tmp, self.course_root = hub, tmp, course_root
        for user in (*STUDENTS, "eve"):
            config = self.home(user) / ".jupyter" / "nbgrader_config.py"
            config.parent.mkdir(parents=True)
            config.write_text(STUDENT_CONFIG.format(url=hub["ngshare"], course=COURSE))

    def home(self, user: str) -> Path:
        return self.tmp / "homes" / user

    def run(self, user: str, *args: str, token_of: str | None = None, **env_extra: str):
        """``nbgrader <args>`` with ``user``'s server environment (``token_of``: another
        user's token). Returns (exit status, output)."""
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(self.home(user)),
            "JUPYTERHUB_USER": user,
            "JUPYTERHUB_API_URL": self.hub["api"],
            "JUPYTERHUB_API_TOKEN": self.hub["tokens"][token_of or user],
            **env_extra,
        }
        cwd = self.home(user)
        if user == "prof":  # the instructor works in the course root, with its config
            env.update(COURSE_NGSHARE_URL=self.hub["ngshare"], TF_CPP_MIN_LOG_LEVEL="3")
            cwd = self.course_root
        env = {k: v for k, v in env.items() if v is not None}
        proc = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        return proc.returncode, proc.stdout + proc.stderr

    def ok(self, user: str, *args: str, **env_extra: str) -> str:
        rc, out = self.run(user, *args, **env_extra)
        assert rc == 0, f"{user}: nbgrader {' '.join(args)} exited {rc}\n{out[-4000:]}"
        return out


def _at_once(*calls):
    """Independent commands at the same time (as a class does; half the wait)."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(call) for call in calls]]


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def test_ngshare_takes_identity_and_time_from_the_hub(tmp_path, course_env, hub):
    start = _utc_now() - datetime.timedelta(seconds=2)
    due = start - datetime.timedelta(hours=1)  # everything handed in now is ~1 hour late

    # --- the ngshare admin creates the course, the instructor enrols the students
    r = _api(hub, "POST", f"/course/{COURSE}", "hubadmin", data={"instructors": '["prof"]'})
    assert r.status_code == 200, r.text
    for s in STUDENTS:
        person = {"first_name": s, "last_name": "T", "email": f"{s}@example.org"}
        r = _api(hub, "POST", f"/student/{COURSE}/{s}", "prof", data=person)
        assert r.status_code == 200, r.text
    person = {"first_name": "b", "last_name": "b", "email": "b@example.org"}
    assert _api(hub, "POST", f"/instructor/{COURSE}/bob", "bob", data=person).status_code == 403
    assert _api(hub, "POST", f"/student/{COURSE}/eve", "bob", data=person).status_code == 403

    root = make_course(tmp_path / "instructor", [A])
    (root / "schedule.toml").write_text(
        f'[due]\n"{A}" = "{due:%Y-%m-%dT%H:%M:%S}+00:00"\n\n'
        "[late]\npercent_per_day = 10\nmax_percent = 100\n"
    )
    release_course(root, [A])
    run = Hub(hub, tmp_path, root)

    # --- release: a student may not; the instructor's is checked on the server
    rc, out = run.run("prof", "release_assignment", A, token_of="bob")
    assert rc != 0 and "NOT RELEASED" in out, out  # stock ngshare_exchange exits 0 here
    out = run.ok("prof", "release_assignment", A)
    assert "Successfully released" in out, out
    listed = _api(hub, "GET", f"/assignments/{COURSE}", "alice").json()
    assert listed["assignments"] == [A], listed

    # --- both fetch; alice solves (with a canary of her own), bob hands in a blank notebook
    _at_once(*(lambda s=s: run.ok(s, "fetch_assignment", A) for s in STUDENTS))
    source_nb = authoring.read_notebook(root / "source" / A / NB)
    canary = f"alice-canary-{secrets.token_hex(6)}"
    fetched = run.home("alice") / A / NB
    solved = submissions.solved(authoring.read_notebook(fetched), source_nb)
    cell = next(
        c
        for c in solved["cells"]
        if c["cell_type"] == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution")
    )
    cell["source"] = "".join(cell["source"]) + f"\n# {canary}\n"
    authoring.write_notebook(solved, fetched)
    # claims of time in the folders: alice's says the far future (stock nbgrader would then
    # never update her submission), bob's the year 2000 (no late penalty); bob adds a link
    (run.home("alice") / A / "timestamp.txt").write_text("2999-01-01 00:00:00.000000 UTC")
    bob_dir = run.home("bob") / A
    (bob_dir / "timestamp.txt").write_text("2000-01-01 00:00:00.000000 UTC")
    (run.home("bob") / "outside.txt").write_text("bob's file outside the assignment")
    (bob_dir / "outside.txt").symlink_to(run.home("bob") / "outside.txt")

    # --- bob at the REST API first: a blank notebook that claims to be alice's, paths out
    #     of the submission, other students' data
    blank = (root / "release" / A / NB).read_bytes()
    forged = {NB: blank, "timestamp.txt": b"2000-01-01 00:00:00.000000"}
    r = _api(
        hub,
        "POST",
        f"/submission/{COURSE}/{A}",
        "bob",
        data={"user": "alice", "files": _files(**forged)},
    )
    assert r.status_code == 200, r.text
    escape = f"escape-{secrets.token_hex(4)}"
    for bad in (f"../../{escape}", f"/tmp/{escape}", f"a/../../{escape}"):
        files = _files(**{bad: b"x"})
        r = _api(hub, "POST", f"/submission/{COURSE}/{A}", "bob", data={"files": files})
        assert r.status_code == 400, (bad, r.status_code, r.text)
    for path in (f"/submission/{COURSE}/{A}/alice", f"/submissions/{COURSE}/{A}"):
        assert _api(hub, "GET", path, "bob").status_code == 403, path
    assert _api(hub, "GET", f"/submissions/{COURSE}/{A}", None).status_code >= 400

    # --- then the stock commands
    alice_out, bob_out, bob_as_alice = _at_once(
        lambda: run.ok("alice", "submit", A),
        # every variable the client reads says alice; the token is bob's
        lambda: run.ok("bob", "submit", A, JUPYTERHUB_USER="alice", USER="alice"),
        lambda: run.run("bob", "submit", A, "--student", "alice"),
    )
    assert "Submitted as" in alice_out and "Submitted as" in bob_out, (alice_out, bob_out)
    rc, out = bob_as_alice
    assert rc != 0 and "not possible with ngshare" in out, out
    # a hub user who is not in the course (a classmate's copy of the notebook): refused by
    # the service; stock ngshare_exchange logs it and exits 0 as if handed in
    (run.home("eve") / A).mkdir()
    (run.home("eve") / A / NB).write_bytes(blank)
    rc, out = run.run("eve", "submit", A)
    assert rc != 0 and "NOT SUBMITTED" in out, out
    end = _utc_now() + datetime.timedelta(seconds=2)

    # --- what the server recorded: bob's two under his name, at server times
    listing = _api(hub, "GET", f"/submissions/{COURSE}/{A}", "prof").json()["submissions"]
    times: dict[str, list[str]] = {}
    for entry in listing:
        times.setdefault(entry["student_id"], []).append(entry["timestamp"])
    assert sorted(times) == ["alice", "bob"], listing  # eve stored nothing
    assert len(times["alice"]) == 1 and len(times["bob"]) == 2, listing
    for stamp in times["alice"] + times["bob"]:
        assert start <= datetime.datetime.fromisoformat(stamp) <= end, (stamp, start, end)
    r = _api(
        hub,
        "GET",
        f"/submission/{COURSE}/{A}/bob",
        "prof",
        params={"timestamp": min(times["bob"])},
    )
    assert {f["path"] for f in r.json()["files"]} == set(forged), r.text  # the forgery: bob's

    # --- collect (as from a cron job: no user name in the environment at all)
    run.ok("prof", "collect", A, JUPYTERHUB_USER=None)
    submitted = root / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == ["alice", "bob"]
    assert canary in (submitted / "alice" / A / NB).read_text()
    assert canary not in (submitted / "bob" / A / NB).read_text()
    for s in STUDENTS:
        stamp = (submitted / s / A / "timestamp.txt").read_text().strip()
        assert stamp == max(times[s]), (s, stamp)  # the server's, not 2999 or 2000
    outside = submitted / "bob" / A / "outside.txt"  # what the link pointed to, as a file
    assert outside.is_file() and not outside.is_symlink()
    for path in submitted.rglob("*"):
        assert not path.is_symlink(), path
    assert not any(p.name == escape for p in Path("/tmp").iterdir())
    assert not any(p.name == escape for p in tmp_path.rglob("*"))

    # --- alice hands in again: --update compares the server's times (her folder's 2999
    #     claim did not survive collect, so it cannot block the update). bob, through the
    #     REST API, a folder named timestamp.txt (stock collect stops there for everyone
    #     after him) and a name that is HTML: refused alone, his collected submission kept
    first = max(times["alice"])
    bad = {"timestamp.txt/x": b"x", NB: blank, "<svg onload=alert(1)>.ipynb": blank}
    r = _api(hub, "POST", f"/submission/{COURSE}/{A}", "bob", data={"files": _files(**bad)})
    assert r.status_code == 200, r.text
    run.ok("alice", "submit", A)
    out = run.ok("prof", "collect", "--update", A)
    second = (submitted / "alice" / A / "timestamp.txt").read_text().strip()
    assert second > first and "Updating submission: alice" in out, (first, second, out)
    assert "REFUSED the submission of 'bob'" in out, out
    assert (submitted / "bob" / A / "timestamp.txt").read_text() == max(times["bob"])
    assert sorted(p.name for p in (submitted / "bob" / A).iterdir()) == [
        NB,
        "outside.txt",
        "timestamp.txt",
    ]
    (record,) = exchange.refusals(root, A)
    assert (record["student"], record["kind"], record["exchange"]) == ("bob", "path", "ngshare")

    # --- the course's intake and engine grade what collect brought
    graded = grade_submitted(root, A, NB)
    assert set(graded.results) == set(STUDENTS)
    scores = {r.student: (r.score, r.late_penalty) for r in gradebook.scores(root)}
    assert scores["alice"] == (20.7, 2.3), scores  # full marks, 10 % late: her server time
    assert scores["bob"][0] < scores["alice"][0], scores
    assert not graded.lost("alice"), graded.results["alice"]

    # --- feedback: only the HTML leaves, and each student gets only her own
    cycle.feedback(root, A)
    (root / "feedback" / "bob" / A / "not-for-students.txt").write_text("x")
    out = run.ok("prof", "release_feedback", A)
    assert out.count("Feedback released") == 2, out
    r = _api(hub, "GET", f"/feedback/{COURSE}/{A}/alice", "bob", params={"timestamp": second})
    assert r.status_code == 403, r.text
    _at_once(*(lambda s=s: run.ok(s, "fetch_feedback", A) for s in STUDENTS))
    alice_html = list((run.home("alice") / A / "feedback").rglob("*.html"))
    assert [p.name for p in alice_html] == [f"{A}.html"], alice_html
    assert canary in alice_html[0].read_text()
    # bob with alice's name and a copy of her cache (it names her submission's time)
    alice_cache = run.home("alice") / ".local" / "share" / "jupyter" / "nbgrader_cache"
    run.run("bob", "fetch_feedback", A, f"--Exchange.cache={alice_cache}", JUPYTERHUB_USER="alice")
    bob_got = [p for p in (run.home("bob") / A).rglob("*") if p.is_file()]
    assert not any(canary.encode() in p.read_bytes() for p in bob_got), bob_got
    assert not any(p.name == "not-for-students.txt" for p in bob_got), bob_got
    assert any(p.suffix == ".html" for p in bob_got), bob_got  # his own did arrive


# ------------------------------------------------------------------ collect's unpacking
def _collector(tmp_path: Path, monkeypatch, **limits: int):
    # the module names a user when first imported if the environment has none: not here
    monkeypatch.setenv("USER", os.environ.get("USER") or "instructor")
    from nbgrader.coursedir import CourseDirectory

    from attention_grader import intake, ngshare

    collector = ngshare.CheckedCollect(
        coursedir=CourseDirectory(root=str(tmp_path)), authenticator=None
    )
    collector.limits = intake.IntakeLimits(**limits)
    return collector, ngshare._Refusal


def _listing(**contents: bytes) -> list[dict]:
    return json.loads(_files(**contents))


def test_collect_unpacks_only_plain_relative_paths_within_the_limits(tmp_path, monkeypatch):
    """What a (compromised or future) service hands over is checked again by the client:
    every path a plain relative path of safe names, nothing written outside the staging
    folder, the student's ``timestamp.txt`` left out, the limits of the intake."""
    collector, refusal = _collector(
        tmp_path / "course", monkeypatch, max_files=6, max_file_bytes=100
    )
    raw = tmp_path / "raw"
    collector._unpack(
        _listing(
            **{
                NB: b"{}",
                "data/words.txt": b"a b",
                "timestamp.txt": b"2000-01-01 00:00:00",
                "timestamp.txt/x": b"folder",
                ".ipynb_checkpoints/old.ipynb": b"{}",
            }
        ),
        raw,
    )
    got = sorted(str(p.relative_to(raw)) for p in raw.rglob("*") if p.is_file())
    assert got == [NB, "data/words.txt"]
    assert (raw / "data" / "words.txt").read_bytes() == b"a b"

    bad_lists = {
        "absolute": {"/tmp/x": b"x"},
        "parent": {"../x": b"x"},
        "inner parent": {"a/../../x": b"x"},
        "empty part": {"a//b": b"x"},
        "dot": {"./x": b"x"},
        "html name": {"<svg onload=alert(1)>.ipynb": b"x"},
        "backslash": {"a\\..\\x": b"x"},
        "file and folder": {"a": b"1", "a/b": b"2"},
        "too many": {f"f{i}": b"" for i in range(7)},
        "too large": {"big": b"x" * 200},
        "too deep": {"a/b/c/d/e/f": b"x"},
    }
    for case, contents in bad_lists.items():
        target = tmp_path / f"raw-{len(case)}-{case.replace(' ', '-')}"
        with pytest.raises(refusal):
            collector._unpack(_listing(**contents), target)
        written = [p for p in target.rglob("*") if p.is_file()]
        assert len(written) <= 1, (case, written)  # at most what came before the bad entry
    outside = {p.name for p in tmp_path.iterdir()}
    assert "x" not in outside and not Path("/tmp/x").exists(), outside
