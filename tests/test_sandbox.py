"""attention_grader.sandbox and .executor: what a submission's kernel can see and do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from attention_grader import engine, executor, sandbox


def _job(*sources: str, limits: sandbox.Limits | None = None, **files: bytes) -> executor.Job:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return executor.Job(
        key="s/a/n",
        notebook=nb,
        files=files,
        cases={},
        limits=limits or sandbox.Limits(cell_seconds=20, notebook_seconds=120),
    )


def _printed(result: executor.Result) -> list[str]:
    return [
        "".join(o.get("text", ""))
        for c in result.notebook.cells
        for o in c.outputs
        if o.get("output_type") == "stream"
    ]


@pytest.mark.parametrize(
    ("text", "size"),
    [("4G", 4 * 1024**3), ("512MiB", 512 * 1024**2), ("1.5g", int(1.5 * 1024**3)), ("1000", 1000)],
)
def test_sizes_are_read_with_units(text, size):
    assert sandbox.parse_size(text) == size


def test_bad_settings_say_which_setting(monkeypatch):
    monkeypatch.setenv("COURSE_SANDBOX_MEMORY", "lots")
    with pytest.raises(ValueError, match="COURSE_SANDBOX_MEMORY"):
        sandbox.Limits.from_env()
    monkeypatch.delenv("COURSE_SANDBOX_MEMORY")
    monkeypatch.setenv("COURSE_SANDBOX_PROCESSES", "-3")
    with pytest.raises(ValueError, match="COURSE_SANDBOX_PROCESSES"):
        sandbox.Limits.from_env()


def test_a_sandbox_can_be_started_here():
    assert sandbox.problem() is None


def test_without_bubblewrap_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    layout = sandbox.Layout.create(sandbox.Limits())
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
            sandbox.command(layout, sandbox.Limits(), {}, ["true"])
    finally:
        layout.remove()


def test_engine_refuses_without_a_sandbox_unless_told_otherwise(monkeypatch, tmp_path):
    from courses import make_course

    root = make_course(tmp_path, ["01_tokenization"])
    monkeypatch.setattr(sandbox, "problem", lambda: "bwrap: not found; install bubblewrap")
    with pytest.raises(engine.GradingError, match="install bubblewrap"):
        engine.Engine(root, progress=False).grade(["01_tokenization"])


@pytest.mark.slow
def test_the_kernel_sees_its_files_and_nothing_of_the_course():
    probe_code = (
        "import os, socket, json\n"
        "facts = {'uid': os.getuid(), 'cwd': os.getcwd(), 'home': sorted(os.listdir('.')),\n"
        "         'data': open('data/notes.txt').read(),\n"
        "         'pids': len([p for p in os.listdir('/proc') if p.isdigit()]),\n"
        "         'grader': sorted(os.listdir('/grader')),\n"
        f"         'repo': os.path.exists({str(sandbox.LAUNCHER.parents[2])!r} + '/source'),\n"
        "         'env': sorted(k for k in os.environ if 'COURSE_DB' in k or 'SECRET' in k)}\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 53), timeout=2); facts['net'] = True\n"
        "except OSError:\n"
        "    facts['net'] = False\n"
        "print(json.dumps(facts))\n"
    )
    os.environ["SECRET_TOKEN"] = "x"
    try:
        result = executor.execute(_job(probe_code, **{"data/notes.txt": b"mine"}))
    finally:
        del os.environ["SECRET_TOKEN"]
    assert result.status == "ok", result.reason
    facts = json.loads(_printed(result)[-1])
    assert facts["uid"] != 0 and facts["cwd"] == sandbox.HOME
    # the submission's files alone: nothing of the launchers (their bytecode), nor IPython's
    # folder (in /tmp: its startup code would run before the sandbox is sealed)
    assert facts["home"] == ["data"] and facts["data"] == "mine"
    assert facts["grader"] == ["cases.json", "files"]
    assert facts["repo"] is False and facts["net"] is False and facts["env"] == []
    assert facts["pids"] < 10  # its own PID namespace: a handful of processes


# Run as another user of the grading machine (a course hub's students are): for each path,
# whether it could be listed or read.
OTHER_USER = """
import os, sys
for path in sys.argv[1:]:
    try:
        os.listdir(path) if os.path.isdir(path) else open(path, "rb").read()
        print("read", path)
    except PermissionError:
        print("denied", path)
"""


def test_other_users_of_the_machine_cannot_read_what_a_sandbox_is_given(monkeypatch):
    """While a notebook is graded, no other user of the machine may list its sandbox's folder
    or read the submission's files and the hidden checks' cases staged for it (the kernel
    reads them as the sandbox's group; its own uid may), nor the kernel's connection file
    (its key) once the kernel has started."""
    if os.geteuid() != 0:
        pytest.fail("the sandbox's own uid needs the grader to run as root (CI runs as root)")
    made: list[sandbox.Layout] = []
    create = sandbox.Layout.create.__func__

    def spy(cls, *args, **kwargs):
        made.append(create(cls, *args, **kwargs))
        return made[-1]

    monkeypatch.setattr(sandbox.Layout, "create", classmethod(spy))
    seen: dict[str, str] = {}

    def look() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (  # staged, and the kernel's folder sealed
            made and made[0].ipc_dir.exists() and made[0].ipc_dir.stat().st_uid == 0
        ):
            time.sleep(0.05)
        layout = made[0]
        paths = [
            layout.root,
            layout.stage_dir,
            layout.stage_dir / "files",
            layout.stage_dir / "cases.json",
            layout.stage_dir / "files" / "data" / "notes.txt",
            layout.ipc_dir / "kernel.json",  # (the connection file: its key)
        ]
        for name, uid in (("other", 65534), ("sandbox", layout.uid)):
            done = subprocess.run(
                ["/usr/bin/python3", "-I", "-c", OTHER_USER, *map(str, paths)],
                user=uid,
                group=uid,
                extra_groups=[],
                capture_output=True,
                text=True,
                cwd="/",
                timeout=60,
            )
            seen[name] = done.stdout + done.stderr

    watcher = threading.Thread(target=look)
    watcher.start()
    result = executor.execute(_job("import time\ntime.sleep(4)", **{"data/notes.txt": b"mine"}))
    watcher.join()
    assert result.status == "ok", result.reason
    layout = made[0]
    other = seen["other"].splitlines()
    assert other == [
        f"denied {layout.root}",
        f"denied {layout.stage_dir}",
        f"denied {layout.stage_dir / 'files'}",
        f"denied {layout.stage_dir / 'cases.json'}",
        f"denied {layout.stage_dir / 'files' / 'data' / 'notes.txt'}",
        f"denied {layout.ipc_dir / 'kernel.json'}",
    ], seen
    sandbox_user = seen["sandbox"].splitlines()
    assert sandbox_user[0] == f"denied {layout.root}"  # (it reaches ipc/ and stage/ by name)
    assert all(line.startswith("read ") for line in sandbox_user[1:-1]), seen


def test_sandbox_folders_of_a_dead_grader_are_swept():
    """A grading worker killed with SIGKILL leaves its sandbox's folder in /tmp (the
    submission's files, the hidden checks' cases). The next process that makes a sandbox
    removes it; never a live process's folder, another user's, one made in another PID
    namespace (another container's grader: its pid names another process here), or one it
    cannot attribute."""
    if os.geteuid() != 0:
        pytest.fail("the other user's folder needs the tests to run as root (CI runs as root)")
    made = (
        "from attention_grader import sandbox\nprint(sandbox.Layout.create(sandbox.Limits()).root)"
    )
    done = subprocess.run([sys.executable, "-c", made], capture_output=True, text=True, check=True)
    dead = Path(done.stdout.strip())  # (its maker ended without removing it)
    assert dead.is_dir() and (dead / sandbox.OWNER_FILE).is_file()
    dead_maker = (dead / sandbox.OWNER_FILE).read_text()  # (before a sweep can remove it)
    # made by a process in a PID namespace of its own (pid 1 there; here, pid 1 is another
    # process, started at another time): its maker is gone too, but this sweep cannot tell
    unshare = ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", made]
    done = subprocess.run(unshare, capture_output=True, text=True, check=True)
    elsewhere = Path(done.stdout.strip())
    assert (elsewhere / sandbox.OWNER_FILE).read_text().split()[0] == "1"
    live = sandbox.Layout.create(sandbox.Limits())  # this process's
    other = Path(tempfile.mkdtemp(prefix=sandbox.FOLDER_PREFIX))  # another user's
    # (its maker gone: only its user keeps it)
    (other / sandbox.OWNER_FILE).write_text(dead_maker)
    os.chown(other, 65534, 65534)
    unknown = Path(tempfile.mkdtemp(prefix=sandbox.FOLDER_PREFIX))  # no owner file
    try:
        sandbox._sweep_folders.__wrapped__(Path(tempfile.gettempdir()))
        assert not dead.exists()
        assert live.root.is_dir() and other.is_dir() and unknown.is_dir()
        assert elsewhere.is_dir()
    finally:
        live.remove()
        for folder in (elsewhere, other, unknown, dead):  # (each, even if one was swept)
            shutil.rmtree(folder, ignore_errors=True)


def test_the_sweep_reads_no_owner_file_but_a_small_regular_one():
    """An owner file that is a FIFO, a link to /dev/zero, a huge file or a pid of 5,000
    digits (this user's own folders: a grader without root shares its user with the
    students' code) neither stops nor breaks the sweep; such folders stay, and a dead
    maker's folder beside them is still removed."""
    made = (
        "from attention_grader import sandbox\nprint(sandbox.Layout.create(sandbox.Limits()).root)"
    )
    done = subprocess.run([sys.executable, "-c", made], capture_output=True, text=True, check=True)
    dead = Path(done.stdout.strip())
    odd = [Path(tempfile.mkdtemp(prefix=sandbox.FOLDER_PREFIX)) for _ in range(4)]
    os.mkfifo(odd[0] / sandbox.OWNER_FILE)
    (odd[1] / sandbox.OWNER_FILE).symlink_to("/dev/zero")
    (odd[2] / sandbox.OWNER_FILE).write_text("1 " * 10_000_000)  # 20 MB
    maker = (dead / sandbox.OWNER_FILE).read_text().split()
    (odd[3] / sandbox.OWNER_FILE).write_text(" ".join(["9" * 5000, *maker[1:]]))
    sweep = (
        "from pathlib import Path\nfrom attention_grader import sandbox\n"
        "sandbox._sweep_folders.__wrapped__(Path(sandbox.tempfile.gettempdir()))\nprint('ok')"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", sweep], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
        assert not dead.exists()
        assert all(folder.is_dir() for folder in odd)
    finally:
        for folder in (*odd, dead):
            shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_timeouts_and_a_dying_kernel_are_results_not_crashes():
    limits = sandbox.Limits(cell_seconds=3, notebook_seconds=60)
    result = executor.execute(
        _job(
            "import time\ntime.sleep(30)",
            "print('after')",
            "import os\nos._exit(4)",
            "print('never')",
            limits=limits,
        )
    )
    assert result.events == ["cell 0 timed out after 3 s"]
    assert "after\n" in _printed(result)
    assert result.status == "kernel-died" and "exit status 4" in result.reason
    last = result.notebook.cells[3].outputs[-1]
    assert last.ename == "NotRun" and "kernel died in cell 2" in last.evalue
    short = sandbox.Limits(cell_seconds=30, notebook_seconds=8)
    result = executor.execute(_job("import time\ntime.sleep(25)", limits=short))
    assert result.status == "timed-out" and "longer than 8 s in all" in result.reason


# ------------------------------------------------------------------ limits the kernel enforces

MEMORY = 512 * 1024**2
TMPFS_FILL = """
import os, time
block = b"\\1" * 2**20
for folder in ("/dev/shm", "/tmp", os.path.expanduser("~")):
    with open(os.path.join(folder, "hog.bin"), "wb") as handle:
        for _ in range(300):  # 3 x 300 MiB of tmpfs, over the 512 MiB limit
            handle.write(block)
            handle.flush()
print("never: all of it was held")
time.sleep(3)  # and holds it (a watchdog that looks 5 times a second must see it)
"""


def _leftover_cgroups() -> list[str]:
    """This process's sandbox cgroups still there (another test process may be grading at
    the same time under the same parent: its live cgroups are not leftovers of ours)."""
    kind, parent, why = sandbox._memory_hierarchy()
    if parent is None:
        return []
    return sorted(p.name for p in parent.glob(f"{sandbox.CGROUP_PREFIX}{os.getpid()}-*"))


def _require_cgroup() -> None:
    if not sandbox.MemoryGuard.create(sandbox.Limits()).remove():
        pytest.fail("a sandbox cgroup could not be removed")
    if "cgroup" not in sandbox.memory_enforcement():
        pytest.fail(f"no memory cgroup on this machine: {sandbox.memory_enforcement()}")


@pytest.mark.slow
@pytest.mark.parametrize("cgroups", ["auto", "off"])
def test_memory_held_in_tmpfs_counts_and_is_stopped(monkeypatch, cgroups):
    monkeypatch.setenv(sandbox.CGROUPS_ENV, cgroups)
    if cgroups == "auto":
        _require_cgroup()
    limits = sandbox.Limits(
        cell_seconds=60, notebook_seconds=120, memory_bytes=MEMORY, disk_bytes=400 * 1024**2
    )
    result = executor.execute(_job(TMPFS_FILL, "print('after')", limits=limits))
    assert result.status == "over-memory", (result.status, result.reason, _printed(result))
    assert "over the limit of 0.5 GiB" in result.reason
    if cgroups == "auto":  # the operating system stops the fill before it completes
        assert "never" not in "".join(_printed(result))
        assert "cgroup" in result.memory_guard and 0 < result.memory_peak <= MEMORY
    else:  # a watchdog looks 5 times a second: a fast fill may complete before it is stopped
        # (the README says so), but the sandbox is stopped and the pages are counted
        assert result.memory_guard.startswith("watchdog") and result.memory_peak == 0
        assert "/dev/shm" in result.reason  # the watchdog saw tmpfs pages
    assert _leftover_cgroups() == []


@pytest.mark.slow
def test_a_fast_memory_burst_is_stopped_at_the_limit():
    _require_cgroup()
    limits = sandbox.Limits(cell_seconds=60, notebook_seconds=120, memory_bytes=MEMORY)
    burst = "import numpy as np\nhog = np.ones(int(3 * 512 * 2**20 / 8))\nprint('never')"
    result = executor.execute(_job(burst, limits=limits))
    assert result.status == "over-memory", (result.status, result.reason)
    print(f"peak {result.memory_peak / 2**20:.0f} MiB, limit {MEMORY / 2**20:.0f} MiB")
    assert MEMORY * 0.5 < result.memory_peak <= MEMORY  # the OS held it at the limit
    assert result.cgroup_seconds < 0.5
    assert _leftover_cgroups() == []


@pytest.mark.slow
def test_the_sandbox_cannot_leave_its_cgroup():
    _require_cgroup()
    escape = (
        "import os, glob\n"
        "tried = []\n"
        "for path in glob.glob('/sys/fs/cgroup/**/cgroup.procs', recursive=True) + [\n"
        "        '/sys/fs/cgroup/memory/tasks', '/sys/fs/cgroup/tasks',\n"
        "        '/sys/fs/cgroup/memory/cgroup.procs', '/sys/fs/cgroup/cgroup.procs']:\n"
        "    try:\n"
        "        open(path, 'w').write(str(os.getpid())); tried.append('MOVED ' + path)\n"
        "    except OSError as e:\n"
        "        tried.append(type(e).__name__)\n"
        "try:\n"
        "    os.makedirs('/tmp/cg'); os.system('mount -t cgroup -o memory none /tmp/cg 2>&1')\n"
        "    tried.append(str(os.listdir('/tmp/cg')))\n"
        "except OSError as e:\n"
        "    tried.append(type(e).__name__)\n"
        "print(tried, os.path.exists('/sys'))\n"
    )
    result = executor.execute(_job(escape))
    assert result.status == "ok", result.reason
    text = "".join(_printed(result))
    assert "MOVED" not in text and "[]" in text and "False" in text, text
    assert result.memory_peak > 0  # it ran inside its cgroup
    kind, parent, _ = sandbox._memory_hierarchy()
    for name in ("cgroup.procs", "tasks", "memory.max", "memory.limit_in_bytes"):
        probe_guard = sandbox.MemoryGuard.create(sandbox.Limits())
        try:
            target = probe_guard.path / name
            if target.exists():  # owned by the grader, writable by nobody else
                info = target.stat()
                assert info.st_uid == os.geteuid() and not info.st_mode & 0o022, name
        finally:
            probe_guard.remove()
    assert _leftover_cgroups() == []


JOIN = """
import importlib.util, sys, threading, time
spec = importlib.util.spec_from_file_location("launch", sys.argv[1])
launch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launch)
if sys.argv[3] == "threads":  # a second thread, which a write to tasks would leave behind
    threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
try:
    launch.join_cgroup(sys.argv[2])
    print("joined")
except OSError as error:
    print("refused:", error)
print(open("/proc/self/cgroup").read())
"""


@pytest.mark.parametrize("threads", ["one", "threads"])
def test_a_sandbox_process_joins_its_cgroup_whole(threads):
    """The launcher and the template's child join the sandbox's cgroup through the file the
    guard names (cgroup v1: ``tasks``, which moves one thread): the whole process is in the
    cgroup afterwards, or, if it has another thread, it refuses and moves nothing."""
    _require_cgroup()
    guard = sandbox.MemoryGuard.create(sandbox.Limits())
    try:
        (join,) = guard.procs_files
        run = subprocess.run(
            [sys.executable, "-c", JOIN, str(sandbox.LAUNCHER), join, threads],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        inside = f"/{guard.path.name}\n" in run.stdout
        if threads == "threads" and guard.kind == "cgroup1":
            assert run.stdout.startswith("refused:") and not inside, run.stdout
        else:
            assert run.stdout.startswith("joined") and inside, run.stdout
        assert guard.pids() == []  # (the process has ended: nothing of it stayed behind)
    finally:
        assert guard.remove()


def test_a_process_joins_through_tasks_by_writing_0(tmp_path):
    """Its own pid written to ``tasks`` would move it too, but the kernel then waits for an
    RCU grace period (11-23 ms here against 0.3 ms for "0"): the launcher writes "0" there,
    and its pid to ``cgroup.procs``. (Ordinary files: only what is written is checked.)"""
    written = {}
    for name in ("tasks", "cgroup.procs"):
        target = tmp_path / name
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                JOIN + "\nimport os\nprint('pid', os.getpid())",
                str(sandbox.LAUNCHER),
                str(target),
                "one",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0 and run.stdout.startswith("joined"), run.stdout + run.stderr
        pid = run.stdout.rsplit("pid ", 1)[1].strip()
        written[name] = (target.read_text(), pid)
    assert written["tasks"][0] == "0"
    assert written["cgroup.procs"][0] == written["cgroup.procs"][1]


def test_cgroups_of_a_dead_grader_are_swept(tmp_path):
    _require_cgroup()
    kind, parent, _ = sandbox._memory_hierarchy()
    dead = 2**22 + 12345  # above pid_max: no such process
    stale = parent / f"{sandbox.CGROUP_PREFIX}{dead}-0-deadbeef"
    stale.mkdir()
    sandbox._sweep(parent)
    assert not stale.exists()


FLOOD = """
import subprocess, sys
real_stdout = getattr(sys.stdout, "_original_stdstream_copy", None) or 1  # not the cell's
code = "\\n".join([
    "import os",
    "block = b'y' * 2**20",
    "for _ in range(300):",
    "    os.write(1, block)",
    "os.write(1, b'END-OF-THE-FLOOD\\\\n')",
])
subprocess.run([sys.executable, "-c", code], stdout=real_stdout, stderr=real_stdout)
print("cell done")
"""


@pytest.mark.slow
def test_a_stdout_flood_writes_no_host_file_and_the_log_keeps_its_end():
    import threading

    from test_hostile_binding import largest_sandbox_file

    biggest = [0]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            biggest[0] = max(biggest[0], largest_sandbox_file())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = executor.execute(_job(FLOOD))
    finally:
        done.set()
        watcher.join()
    assert result.status == "ok", (result.reason, result.log[-300:])
    assert "cell done\n" in _printed(result)
    assert result.log.rstrip().endswith("END-OF-THE-FLOOD"), result.log[-200:]
    assert len(result.log) <= executor.LOG_TAIL_BYTES
    assert biggest[0] < 1024**2, f"a host file of {biggest[0]} bytes"


def test_only_the_graders_own_processes_count_as_its_own():
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert sandbox._ours(os.getpid()) and sandbox._ours(child.pid)
        assert not sandbox._ours(os.getppid()) and not sandbox._ours(1)
    finally:
        child.kill()
        child.wait()


HOST_FOLDER_WRITE = """
import os
from ipykernel.connect import get_connection_file
found = []
for path in (os.path.dirname(get_connection_file()) + "/big.bin", get_connection_file()):
    try:
        with open(path, "ab") as handle:
            handle.write(b"0" * 2**20)
        found.append("WROTE " + path)
    except OSError as error:
        found.append(type(error).__name__)
print(found)
"""


@pytest.mark.slow
def test_the_kernel_cannot_write_files_into_its_host_folder():
    if os.geteuid() != 0:
        pytest.fail("needs root: only a sandbox with a uid of its own can be kept out")
    result = executor.execute(_job(HOST_FOLDER_WRITE))
    assert result.status == "ok", result.reason
    assert _printed(result) == ["['PermissionError', 'PermissionError']\n"]


def test_the_submissions_files_are_not_imported_while_the_kernel_starts_but_are_after():
    """IPython loads its storemagic extension by trying ``import storemagic`` first: a
    student's storemagic.py in the working folder ran while the kernel started, before the
    sandbox was sealed, and could kill it (a start that fails counts as the environment's
    fault). The working folder joins sys.path only once the kernel is up; then the student's
    own module imports as in Jupyter."""
    job = _job(
        "import my_helpers, sys\nprint(my_helpers.VALUE, '' in sys.path)",
        **{"storemagic.py": b"import os\nos._exit(3)\n", "my_helpers.py": b"VALUE = 42\n"},
    )
    job.student_files = ("my_helpers.py", "storemagic.py")
    result = executor.execute(job)
    assert result.status == "ok", result.reason
    assert _printed(result) == ["42 True\n"]


def _setup_job(**files: bytes) -> executor.Job:
    job = _job("import matplotlib.pyplot\nprint('setup done')", "print('next')", **files)
    job.notebook.cells[0].metadata["nbgrader"] = {"grade_id": executor.SETUP_CELL}
    return job


def test_a_setup_cell_broken_by_the_students_files_is_theirs_not_the_environments(
    monkeypatch,
):
    """A fresh kernel's matplotlib reads ./matplotlibrc: one that is not UTF-8 breaks the
    setup cell's import. If the student handed it in, a run without it passes, so the result
    blames the files (recorded with zeros); if the course brought it, the setup cell's error
    stays the environment's."""
    monkeypatch.setenv("COURSE_SANDBOX_TEMPLATE", "off")  # a fresh kernel imports matplotlib
    broken = {"matplotlibrc": b"font.size: 10\n# \xff\xfe not UTF-8\n"}
    students = _setup_job(**broken)
    students.student_files = ("matplotlibrc",)
    result = executor.execute(students)
    assert result.status == "submission-files"
    assert result.reason == (
        "the setup cell failed with the files this submission brought (twice), and not without "
        "them: a file named like something Python or a library loads from the working folder "
        "(matplotlibrc); rename or remove it"
    )
    courses = executor.execute(_setup_job(**broken))  # the course's file: nothing to blame
    assert courses.status == "ok"
    errors = [o for o in courses.notebook.cells[0].outputs if o.output_type == "error"]
    assert errors and errors[0].ename == "UnicodeDecodeError"


def test_a_passing_fault_of_the_setup_cell_is_not_blamed_on_the_students_files(monkeypatch):
    """The first run's setup cell fails (a busy or broken worker, once), the run without the
    student's files passes: only if the failure repeats with the files are they to blame;
    here the next run with them passes, and it is the result."""
    runs = []
    real = executor._execute_once

    def once_broken(job):
        result = real(job)
        runs.append(job.student_files)
        if len(runs) == 1:
            result.notebook.cells[0].outputs = [
                nbformat.v4.new_output(
                    "error", ename="OSError", evalue="a worker's passing fault", traceback=[]
                )
            ]
        return result

    monkeypatch.setattr(executor, "_execute_once", once_broken)
    job = _setup_job(**{"notes.txt": b"mine"})
    job.student_files = ("notes.txt",)
    result = executor.execute(job)
    assert runs == [("notes.txt",), (), ("notes.txt",)]  # with, without, with the files
    assert result.status == "ok" and _printed(result) == ["setup done\n", "next\n"]


def test_a_setup_cell_that_runs_out_of_time_is_not_blamed_on_the_files(monkeypatch):
    calls = []
    real = executor._execute_once
    monkeypatch.setattr(executor, "_execute_once", lambda job: calls.append(job) or real(job))
    job = _job("import time\ntime.sleep(30)", limits=sandbox.Limits(cell_seconds=2))
    job.notebook.cells[0].metadata["nbgrader"] = {"grade_id": executor.SETUP_CELL}
    job.files, job.student_files = {"notes.txt": b"mine"}, ("notes.txt",)
    result = executor.execute(job)
    assert len(calls) == 1  # no run without the files: a timeout is nobody's file
    assert result.notebook.cells[0].outputs[-1].ename == "CellTimeoutError"


def test_two_grading_processes_never_give_their_sandboxes_the_same_uid():
    """A uid is a process limit of its own: two workers' sandboxes that shared one (their pids
    differed by 100,000 where pid_max is larger) could exhaust each other's."""
    base, largest_pid = 2_000_000, 4_194_303  # (Linux's largest pid_max is 4,194,304)
    pids = [1, 2, 5_000, 99_999, 105_000, 205_000, 1_048_576, largest_pid]
    uids = [sandbox.sandbox_uid(base, pid, serial) for pid in pids for serial in range(64)]
    assert len(set(uids)) == len(uids)
    assert sandbox.sandbox_uid(base, 7, 64) == sandbox.sandbox_uid(base, 7, 0)  # in turn
    assert all(base <= uid < base + (largest_pid + 1) * 64 < 2**31 for uid in uids)
    assert sandbox.uid_span() <= (largest_pid + 1) * 64  # (this machine's pid_max)
