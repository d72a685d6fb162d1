"""Launcher of a grading sandbox (run with ``python -I -S -B``: standard library only, no
``site``, no bytecode written (the seccomp module's landed in the kernel's home); each mode
imports only what it uses, as two of these start per notebook).

``outer LIMITS -- bwrap ...``: join the sandbox's memory cgroup (if it has one), set the
resource limits, then become bubblewrap.
``inner SETTINGS -- kernel ...`` (inside the sandbox): give up root if the grader ran as
root (switch to the sandbox's own uid, no capabilities, no new privileges), copy the
submission's files into the private home folder, then become the kernel; or, with ``hold``
in SETTINGS (the kernel comes from the worker's warm template, see ``_zygote.py``), hold the
sandbox open as its init until that kernel ends (:func:`hold`).
"""

import json
import os
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4


def _user_processes(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                pass
    return count


def join_cgroup(path: str) -> None:
    """Move this process into the cgroup whose ``tasks`` or ``cgroup.procs`` file is
    ``path``. To ``tasks`` (cgroup v1) it writes "0", itself: the kernel moves the writing
    thread alone, without waiting for an RCU grace period as it does for a pid (see
    ``MemoryGuard.procs_files``); that thread is the whole process only while it has no
    other, so it must have none."""
    if os.path.basename(path) == "tasks":
        if len(os.listdir("/proc/self/task")) != 1:
            raise OSError(f"{path}: this process has more than one thread")
        value = "0"
    else:
        value = str(os.getpid())
    with open(path, "w", encoding="ascii") as handle:
        handle.write(value)


def outer(settings: dict, argv: list) -> None:
    import resource

    for procs in settings.get("cgroup_procs", []):  # before anything of the sandbox runs
        try:
            join_cgroup(procs)
        except OSError as error:
            raise SystemExit(f"sandbox: cannot join its memory cgroup {procs}: {error}") from None
    nproc = settings["nproc"]
    if settings["nproc_relative"]:  # not root: the limit counts all of this user's tasks
        nproc += _user_processes(os.getuid())
    for which, value in (
        (resource.RLIMIT_AS, settings["as"]),
        (resource.RLIMIT_NPROC, nproc),
        (resource.RLIMIT_FSIZE, settings["fsize"]),
        (resource.RLIMIT_CORE, 1),  # 1, not 0: no core file, nor one piped to a program
        (resource.RLIMIT_MEMLOCK, 0),  # (locked memory can be outside the cgroup's)
        (resource.RLIMIT_NOFILE, 4096),
    ):
        hard = resource.getrlimit(which)[1]
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))
    os.execv(argv[0], argv)


def load_seccomp(path: str):  # noqa: ANN201 - a module
    """``_seccomp.py`` loaded from ``path`` (this launcher imports nothing of the grader)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_course_seccomp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inner(settings: dict, argv: list) -> None:
    import ctypes

    uid = settings["uid"]
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SystemExit("sandbox: cannot set no_new_privs")
    if settings.get("seccomp"):  # no keyrings (a channel between students: see _seccomp.py)
        load_seccomp(settings["seccomp"]).install()
    source = settings["files"]
    names = os.listdir(source)
    if names:  # (most notebooks come alone: no shutil to import)
        import shutil
    for name in names:
        path = os.path.join(source, name)
        target = os.path.join(settings["home"], name)
        if os.path.isdir(path):
            shutil.copytree(path, target, symlinks=True)
        else:
            shutil.copy(path, target)
    if settings.get("hold"):
        hold(settings["hold"])
    else:
        os.execv(argv[0], argv)


def hold(fifo: str) -> None:
    """As the sandbox's init (bubblewrap's ``--as-pid-1``): create the FIFO (it appears,
    atomically renamed, once its read end is open: the grader waits for it), read the kernel's
    pid from it (the kernel writes it first, before any of its own code runs), reap every
    process the sandbox orphans, and exit with the kernel's status when the kernel ends (as
    bubblewrap's own init does with its command), which ends the sandbox."""
    import contextlib
    import ctypes
    import select
    import signal
    import time

    # The kernel runs as the same user: it may neither trace this process nor signal it (as
    # init, only signals it handles reach it: none, once Python's SIGINT handler is gone).
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise SystemExit("sandbox: cannot make the holder undumpable")
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    # pid 2 is the kernel's, as in a fresh sandbox: the template's process that forks it in
    # this namespace (_zygote.py) must have another one, so pid 2 is used and freed here first
    if (child := os.fork()) == 0:
        os._exit(0)
    os.waitpid(child, 0)
    fresh = f"{fifo}.new"
    os.mkfifo(fresh, 0o600)
    fd = os.open(fresh, os.O_RDONLY | os.O_NONBLOCK)
    os.rename(fresh, fifo)
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    data = b""
    while b"\n" not in data:
        events = dict(poller.poll())
        with contextlib.suppress(BlockingIOError):
            chunk = os.read(fd, 64)
            data += chunk
            if not chunk and events.get(fd, 0) & select.POLLHUP:
                raise SystemExit("sandbox: the kernel ended before it started")
    kernel = int(data.split(b"\n", 1)[0])
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:  # the kernel is not adopted yet (its parent still exits)
            time.sleep(0.005)
            continue
        if pid == kernel:
            code = os.waitstatus_to_exitcode(status)
            raise SystemExit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    mode, settings, separator, *command = sys.argv[1:]
    if separator != "--" or not (command or '"hold"' in settings):
        raise SystemExit("usage: _launch.py outer|inner JSON -- COMMAND ...")
    {"outer": outer, "inner": inner}[mode](json.loads(settings), command)
