"""Launcher of a grading sandbox (run with ``python -I``, standard library only).

``outer LIMITS -- bwrap ...``: join the sandbox's memory cgroup (if it has one), set the
resource limits, then become bubblewrap.
``inner SETTINGS -- kernel ...`` (inside the sandbox): give up root if the grader ran as
root (switch to the sandbox's own uid, no capabilities, no new privileges), copy the
submission's files into the private home folder, then become the kernel.
"""

import ctypes
import json
import os
import resource
import shutil
import sys

PR_SET_NO_NEW_PRIVS = 38


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


def outer(settings: dict, argv: list) -> None:
    for procs in settings.get("cgroup_procs", []):  # before anything of the sandbox runs
        try:
            with open(procs, "w", encoding="ascii") as handle:
                handle.write(str(os.getpid()))
        except OSError as error:
            raise SystemExit(f"sandbox: cannot join its memory cgroup {procs}: {error}") from None
    nproc = settings["nproc"]
    if settings["nproc_relative"]:  # not root: the limit counts all of this user's tasks
        nproc += _user_processes(os.getuid())
    for which, value in (
        (resource.RLIMIT_AS, settings["as"]),
        (resource.RLIMIT_NPROC, nproc),
        (resource.RLIMIT_FSIZE, settings["fsize"]),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NOFILE, 4096),
    ):
        hard = resource.getrlimit(which)[1]
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))
    os.execv(argv[0], argv)


def inner(settings: dict, argv: list) -> None:
    uid = settings["uid"]
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SystemExit("sandbox: cannot set no_new_privs")
    source = settings["files"]
    for name in os.listdir(source):
        path = os.path.join(source, name)
        target = os.path.join(settings["home"], name)
        if os.path.isdir(path):
            shutil.copytree(path, target, symlinks=True)
        else:
            shutil.copy(path, target)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    mode, settings, separator, *command = sys.argv[1:]
    if separator != "--" or not command:
        raise SystemExit("usage: _launch.py outer|inner JSON -- COMMAND ...")
    {"outer": outer, "inner": inner}[mode](json.loads(settings), command)
