"""The sandbox a submission's kernel runs in: bubblewrap (``bwrap``) plus resource limits.

What the kernel sees and may do:

- a private, size-limited home folder (tmpfs) holding a copy of the submission's own files
  (never a notebook), a private ``/tmp``, and read-only ``/grader`` with the inputs of the
  hidden checks; the read-only files Python and the student package ``attention_course``
  need; nothing else of the machine (no course root, no gradebook, no other students);
- no network (its own empty network namespace), its own PID namespace (every process it
  starts dies with it, also ``start_new_session`` ones), its own IPC and host name;
- as an unprivileged user: when the grader runs as root, each sandbox gets its own uid
  (from ``COURSE_SANDBOX_UID_BASE`` up), so the process limit is exact;
- limits (:class:`Limits`, each an environment variable): memory (capped by the operating
  system with a memory cgroup of its own, tmpfs pages of ``/tmp``, ``/dev/shm`` and home
  included, see :class:`MemoryGuard`; each process's address space is capped as well),
  processes/threads (``RLIMIT_NPROC``), disk (tmpfs sizes, ``RLIMIT_FSIZE``), wall time per
  cell and per notebook, and output size.

The kernel talks to the grader through Unix sockets in a folder bound into the sandbox
(ZeroMQ ``ipc`` transport), so no network is needed for that either; once the kernel has bound
them, the folder is sealed (:meth:`Layout.seal`): no file of the sandbox's can be written to
the host. The kernel's own stdout and stderr go to a pipe the executor reads (only their last
64 KiB are kept), never to a file.

With the warm kernel template (:mod:`zygote`, ``COURSE_SANDBOX_TEMPLATE``) bubblewrap builds the
same sandbox but runs a holder as its init (``command(..., hold=FIFO)``); the kernel is forked
from the worker's template and enters this sandbox (its cgroup, limits, namespaces, root, uid).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import attention_course

LAUNCHER = Path(__file__).with_name("_launch.py")
SECCOMP = Path(__file__).with_name("_seccomp.py")  # the kernel's filter (no keyrings)
HOME = "/home/student"
GRADER_DIR = "/grader"  # read-only inside: cases.json, files/, launch.py
INSTALL_HINT = (
    "install bubblewrap: `sudo apt-get install bubblewrap` (Debian/Ubuntu), "
    "`sudo dnf install bubblewrap` (Fedora) or `sudo pacman -S bubblewrap` (Arch); it needs "
    "Linux, and user namespaces when the grader does not run as root. `make setup` installs "
    "it where it can (root with apt-get). To grade without isolation anyway (students' code "
    "can then read and change the whole course), pass --unsafe-no-sandbox."
)

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.I)


def parse_size(text: str) -> int:
    """``"4G"``, ``"512MiB"``, ``"1000000"`` -> bytes."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (use e.g. 512M or 4G)")
    factor = 1024 ** " kmgt".index((match.group(2) or " ").lower())
    return int(float(match.group(1)) * factor)


def _env_size(name: str, default: str) -> int:
    try:
        return parse_size(os.environ.get(name, "") or default)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) <= 0:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Limits:
    """What one submission's kernel may use. Defaults suit a 2-core, 8+ GiB machine."""

    memory_bytes: int = 4 * 1024**3  # COURSE_SANDBOX_MEMORY: all processes, tmpfs included
    processes: int = 512  # COURSE_SANDBOX_PROCESSES: processes + threads (TF uses ~50)
    disk_bytes: int = 512 * 1024**2  # COURSE_SANDBOX_DISK: home and /tmp, each
    cell_seconds: int = 120  # COURSE_CELL_TIMEOUT: one cell, then it is interrupted
    notebook_seconds: int = 900  # COURSE_NOTEBOOK_TIMEOUT: the whole notebook
    output_bytes: int = 32 * 1024**2  # COURSE_SANDBOX_OUTPUT: printed/displayed output
    threads: int = 1  # COURSE_SANDBOX_THREADS: numeric threads (one core per worker)
    uid_base: int = 2_000_000  # COURSE_SANDBOX_UID_BASE: first uid when run as root

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            memory_bytes=_env_size("COURSE_SANDBOX_MEMORY", "4G"),
            processes=_env_int("COURSE_SANDBOX_PROCESSES", 512),
            disk_bytes=_env_size("COURSE_SANDBOX_DISK", "512M"),
            cell_seconds=_env_int("COURSE_CELL_TIMEOUT", 120),
            notebook_seconds=_env_int("COURSE_NOTEBOOK_TIMEOUT", 900),
            output_bytes=_env_size("COURSE_SANDBOX_OUTPUT", "32M"),
            threads=_env_int("COURSE_SANDBOX_THREADS", 1),
            uid_base=_env_int("COURSE_SANDBOX_UID_BASE", 2_000_000),
        )

    @property
    def address_space_bytes(self) -> int:
        """Per-process virtual memory cap: TensorFlow maps ~2.5 GB for 0.7 GB resident."""
        return self.memory_bytes + 4 * 1024**3


_SERIAL = itertools.count()


class SandboxUnavailable(RuntimeError):
    """No sandbox can be started on this machine; the message says what to install."""


@dataclass
class Layout:
    """Host folders of one sandbox: sockets (read-write) and the grader's inputs (read-only)."""

    root: Path
    ipc_dir: Path = field(init=False)
    stage_dir: Path = field(init=False)
    uid: int | None = None  # the sandbox's own uid when the grader runs as root
    isolated: bool = True  # False: --unsafe-no-sandbox, the same folders without bwrap

    def __post_init__(self) -> None:
        self.ipc_dir = self.root / "ipc"
        self.stage_dir = self.root / "stage"
        self.ipc_dir.mkdir(mode=0o700)
        (self.stage_dir / "files").mkdir(parents=True)
        # The submission's own files and the hidden checks' cases: for the sandbox's user
        # alone, never for the grading machine's other users (students on a course hub)
        if self.uid is not None:
            os.chown(self.ipc_dir, self.uid, self.uid)
            os.chown(self.stage_dir, os.geteuid(), self.uid)  # (the sandbox's gid is its uid)
            os.chmod(self.stage_dir, 0o750)
        else:  # (the kernel runs as the grader's user)
            os.chmod(self.stage_dir, 0o700)

    @classmethod
    def create(cls, limits: Limits, isolated: bool = True) -> Layout:
        _sweep_folders(Path(tempfile.gettempdir()))  # (once per process)
        root = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
        os.chmod(root, 0o711)  # the sandbox user must reach ipc/ (its own) and stage/
        maker = f"{os.getpid()} {started(os.getpid())} {_pid_namespace()}"
        (root / OWNER_FILE).write_text(maker, encoding="ascii")
        root_mode = isolated and os.geteuid() == 0
        # A uid of its own for every sandbox (per process, per sandbox): the process limit
        # then counts this sandbox's processes only, also while an earlier one is dying. Each
        # grading process takes them in turn from a block of its own, by its pid (the whole
        # pid: two workers whose pids differed by a multiple of a smaller number shared uids,
        # and so one process limit, where pid_max is large).
        uid = sandbox_uid(limits.uid_base, os.getpid(), next(_SERIAL)) if root_mode else None
        return cls(root, uid, isolated)

    def seal(self) -> None:
        """Once the kernel has bound its sockets: the sandbox's user may no longer create or
        write files in the ipc folder (a host folder: files there would fill the host's
        disk). Only when the sandbox has a uid of its own (the grader runs as root)."""
        if self.uid is None or not self.isolated:
            return
        owner = os.geteuid()
        for entry in self.ipc_dir.iterdir():
            if entry.is_symlink():  # (none of the grader's: nothing can be made one's own)
                entry.unlink()
            elif not entry.is_socket():  # the connection file: read at start, never again
                os.chown(entry, owner, owner, follow_symlinks=False)
                os.chmod(entry, 0o600, follow_symlinks=False)  # (its key is no one else's)
        os.chown(self.ipc_dir, owner, owner)
        os.chmod(self.ipc_dir, 0o711)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


UIDS_PER_PROCESS = 64


def uid_span() -> int:
    """How many uids above ``Limits.uid_base`` this machine's sandboxes may take: a block of
    :data:`UIDS_PER_PROCESS` for every pid the machine can give."""
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        pid_max = 4_194_304  # Linux's largest
    return pid_max * UIDS_PER_PROCESS


def sandbox_uid(base: int, pid: int, serial: int) -> int:
    """The uid of the ``serial``-th sandbox of the grading process ``pid``."""
    return base + pid * UIDS_PER_PROCESS + serial % UIDS_PER_PROCESS


FOLDER_PREFIX = "course-sandbox-"
# in a sandbox's folder: "<pid> <start time> <PID namespace>" of the process that made it
OWNER_FILE = "owner"


def _pid_namespace() -> str:
    """This process's PID namespace (``pid:[<inode>]``): a pid means a process only there."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return "unknown"


def started(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat``: exact,
    unlike a wall-clock time a clock change shifts; with the pid, it names one process even
    after the pid is reused); None when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # (the name may hold spaces)
    return None if fields[0] in ("Z", "X") else int(fields[19])


@functools.cache
def _sweep_folders(tmp: Path) -> None:
    """Remove the sandbox folders that a dead grading process left in ``tmp`` (a worker
    killed with SIGKILL cannot remove its own; its sandboxes died with it): only this user's
    own folders, and only those whose maker is gone, as the cgroups of a dead grader are
    swept (:func:`_sweep`). A folder without an owner file is left alone, and so is one made
    in another PID namespace (a grader in another container sharing ``/tmp``: its pid names
    no process here, or another one)."""
    here = _pid_namespace()
    if here == "unknown":
        return  # (no pid of a folder could be told apart)
    with os.scandir(tmp) as entries:  # (one at a time: /tmp may hold millions)
        for entry in entries:
            try:
                if not entry.name.startswith(FOLDER_PREFIX):
                    continue
                info = entry.stat(follow_symlinks=False)
                if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                    continue
                owner = _owner_line(Path(entry.path) / OWNER_FILE).split()
            except (OSError, UnicodeDecodeError):
                continue
            if len(owner) != 3 or not re.fullmatch("[0-9]{1,10}", owner[0]) or owner[2] != here:
                continue
            if str(started(int(owner[0]))) != owner[1]:  # its maker is gone
                shutil.rmtree(entry.path, ignore_errors=True)


def _owner_line(path: Path) -> str:
    """A folder's owner file, read as a regular file of at most 100 bytes (never a FIFO, a
    device or a symbolic link: this user's own folders only, but a grader that runs as the
    kernel's user, without root, shares that user with the students' code)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        return os.read(fd, 100).decode("ascii")
    finally:
        os.close(fd)


def _ancestors(path: str) -> list[str]:
    parts = Path(path).parts
    return [str(Path(*parts[:i])) for i in range(2, len(parts))]


@functools.cache
def _readonly_paths() -> tuple[list[tuple[str, str]], list[str]]:
    """(symlinks to recreate, folders to bind read-only) for Python and its packages."""
    symlinks, binds = [], []
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            symlinks.append((os.readlink(top), top))
        elif os.path.isdir(top):
            binds.append(top)
    binds.append("/usr")
    package_dir = str(Path(attention_course.__file__).resolve().parent)
    for path in {
        sys.base_prefix,
        sys.prefix,
        sys.exec_prefix,
        os.path.realpath(sys.base_prefix),
        package_dir,
    }:
        if not any(path == b or path.startswith(b.rstrip("/") + "/") for b in binds):
            binds.append(path)
    return symlinks, sorted(set(binds), key=lambda p: (p.count("/"), p))


def readonly_folders() -> list[str]:
    """The folders every sandbox binds read-only (Python, its packages, the course package)."""
    return _readonly_paths()[1]


_ETC = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "passwd",
    "group",
    "nsswitch.conf",
    "hosts",
    "alternatives",
    "fonts",
    "mime.types",
)


def bwrap_args(
    layout: Layout, limits: Limits, env: dict[str, str], pid_1: bool = False
) -> list[str]:
    """The bubblewrap options of one sandbox (without the command); ``pid_1``: the command is
    the PID namespace's init (the holder of a kernel from the template, which reaps it)."""
    symlinks, binds = _readonly_paths()
    args = [
        *(["--as-pid-1"] if pid_1 else []),
        "--die-with-parent",
        "--new-session",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "grader",
    ]
    if layout.uid is None:
        args += ["--unshare-user", "--disable-userns"]
    else:  # root: no user namespace, the launcher inside switches to the sandbox's uid
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    size = str(limits.disk_bytes)
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        size,
        "--tmpfs",
        "/tmp",
        "--perms",
        "1777",
        "--size",
        size,
        "--tmpfs",
        "/dev/shm",
        "--perms",
        "0755",
        "--dir",
        "/home",
        "--perms",
        "0777",
        "--size",
        size,
        "--tmpfs",
        HOME,
    ]
    made: set[str] = {"/tmp", "/home", "/dev"}
    for target in [*binds, str(layout.ipc_dir)]:
        for parent in _ancestors(target):
            if parent not in made and parent not in binds:
                args += ["--perms", "0755", "--dir", parent]
                made.add(parent)
    for target, link in symlinks:
        args += ["--symlink", target, link]
    for path in binds:
        args += ["--ro-bind", path, path]
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in _ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += [
        "--bind",
        str(layout.ipc_dir),
        str(layout.ipc_dir),
        "--ro-bind",
        str(layout.stage_dir),
        GRADER_DIR,
        "--ro-bind",
        str(LAUNCHER),
        f"{GRADER_DIR}-launch.py",
        "--ro-bind",
        str(SECCOMP),
        f"{GRADER_DIR}-seccomp.py",
        "--chdir",
        HOME,
        "--clearenv",
    ]
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    return args


def kernel_env(limits: Limits, extra: dict[str, str]) -> dict[str, str]:
    """The kernel's whole environment (nothing is inherited from the grader)."""
    threads = str(limits.threads)
    env = {
        "HOME": HOME,
        "USER": "student",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "TMPDIR": "/tmp",
        # IPython's folder (its profile: configuration and startup code run as the kernel
        # starts, before the sandbox is sealed) in the sandbox's empty /tmp, not in the home
        # folder, which holds the submission's files
        "IPYTHONDIR": "/tmp/.ipython",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "MPLCONFIGDIR": f"{HOME}/.config/matplotlib",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MPLBACKEND": "agg",  # figures are not rendered while grading
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "TF_NUM_INTRAOP_THREADS": threads,
        "TF_NUM_INTEROP_THREADS": threads,
    }
    env.update(extra)
    return env


def rlimits(layout: Layout, limits: Limits) -> dict:
    """The resource limits of a sandbox's processes (set by the outer launcher)."""
    return {
        "as": limits.address_space_bytes,
        "nproc": limits.processes,
        "fsize": limits.disk_bytes,
        "nproc_relative": layout.uid is None,
    }


def command(
    layout: Layout,
    limits: Limits,
    env: dict[str, str],
    argv: list[str],
    guard: MemoryGuard | None = None,
    hold: str | None = None,
) -> list[str]:
    """The full command: limits (and the memory cgroup ``guard``, which the launcher joins
    before anything else runs), then bwrap, then (inside) the launcher that drops to the
    sandbox user, copies the submission's files home and runs ``argv``; with ``hold`` (a
    FIFO's path) it keeps the sandbox open for a kernel from the warm template instead."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) was not found; {INSTALL_HINT}")
    outer = {
        **rlimits(layout, limits),
        "cgroup_procs": guard.procs_files if guard is not None else [],
    }
    inner = {
        "uid": layout.uid,
        "files": f"{GRADER_DIR}/files",
        "home": HOME,
        "seccomp": f"{GRADER_DIR}-seccomp.py",
    }
    if hold is not None:
        inner["hold"], argv = hold, []
    return [
        sys.executable,
        "-I",
        "-S",
        "-B",
        str(LAUNCHER),
        "outer",
        json.dumps(outer),
        "--",
        bwrap,
        *bwrap_args(layout, limits, env, pid_1=hold is not None),
        "--",
        sys.executable,
        "-I",
        "-S",
        "-B",
        f"{GRADER_DIR}-launch.py",
        "inner",
        json.dumps(inner),
        "--",
        *argv,
    ]


# ------------------------------------------------------------------- memory, enforced

CGROUPS_ENV = "COURSE_SANDBOX_CGROUPS"  # "auto" (default) or "off": the watchdog alone
CGROUP_PREFIX = "course-sandbox-"
GRADER_LEAF = "course-grader-"  # cgroup v2: where the grader moves itself (see _enable_v2)
TMPFS_MOUNTS = ("/tmp", "/dev/shm", HOME)  # memory that is no process's resident set
_CGROUP_SERIAL = itertools.count()


def _unescape(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def _own_cgroup_dirs() -> list[tuple[str, Path]]:
    """(kind, folder of this process's own cgroup) for each mounted memory hierarchy:
    ``cgroup2`` (the unified hierarchy) first, then ``cgroup1`` (the v1 memory controller)."""
    own: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as handle:
            for line in handle:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                own[controllers] = path
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            mounts = handle.read().splitlines()
    except (OSError, ValueError):
        return []
    found: list[tuple[str, Path]] = []
    for line in mounts:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, point, fstype, options = fields[3], _unescape(fields[4]), tail[0], tail[2]
        if fstype == "cgroup2":
            kind, path = "cgroup2", own.get("")
        elif fstype == "cgroup" and "memory" in options.split(","):
            kind = "cgroup1"
            path = next((p for c, p in own.items() if "memory" in c.split(",")), None)
        else:
            continue
        if path is None:
            continue
        if root != "/":  # a container's view: the mount shows a subtree only
            if path != root and not path.startswith(root.rstrip("/") + "/"):
                continue
            path = path[len(root) :] or "/"
        folder = Path(point) / path.lstrip("/")
        if kind == "cgroup2" and folder.name.startswith(GRADER_LEAF):
            folder = folder.parent  # the leaf the grader moved itself into (see _enable_v2)
        if folder.is_dir() and (kind, folder) not in found:
            found.append((kind, folder))
    return sorted(found, key=lambda item: item[0] != "cgroup2")


def _usable(kind: str, folder: Path) -> str | None:
    """Why sandboxes' cgroups cannot be made under ``folder`` (None when they can)."""
    if not os.access(folder, os.W_OK):
        return f"{folder} is not writable"
    if kind == "cgroup1":
        return None if (folder / "memory.limit_in_bytes").exists() else "no memory controller"
    try:
        if "memory" not in (folder / "cgroup.controllers").read_text().split():
            return "the memory controller is not enabled for this cgroup"
        if "memory" not in (folder / "cgroup.subtree_control").read_text().split():
            return _enable_v2(folder)
    except OSError as error:
        return f"cannot enable the memory controller below {folder} ({error.strerror})"
    return None


def _ours(pid: int) -> bool:
    """Whether ``pid`` is this process or one of its descendants."""
    for _ in range(64):
        if pid == os.getpid():
            return True
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])  # the parent's pid
        except (OSError, ValueError, IndexError):
            return False
        if pid <= 1:
            return False
    return False


def _enable_v2(folder: Path) -> str | None:
    """Turn the memory controller on for ``folder``'s children. cgroup v2 allows that only
    for a cgroup without processes of its own: if the grader's processes are all that is in
    it (``systemd-run --scope -p Delegate=yes ...``), they move into a leaf of their own,
    ``folder/course-grader-<pid>``, and the sandboxes' cgroups become its siblings."""
    subtree = folder / "cgroup.subtree_control"
    try:
        subtree.write_text("+memory")
        return None
    except OSError as error:
        if error.errno != errno.EBUSY:
            return f"cannot enable the memory controller below {folder} ({error.strerror})"
    pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
    if not all(_ours(pid) for pid in pids):
        return (
            f"{folder} holds other processes than the grader's, so cgroup v2 cannot give it "
            "children with a memory limit (run the grader in a cgroup of its own, e.g. "
            "`systemd-run --scope -p Delegate=yes course autograde`)"
        )
    leaf = folder / f"{GRADER_LEAF}{os.getpid()}"
    leaf.mkdir(exist_ok=True)
    for _ in range(5):  # processes forked meanwhile are moved in the next round
        remaining = (folder / "cgroup.procs").read_text().split()
        if not remaining:
            break
        for pid in remaining:
            with contextlib.suppress(OSError):
                _write(leaf / "cgroup.procs", pid)
    subtree.write_text("+memory")
    return None


def _sweep(folder: Path) -> None:
    """Remove cgroups that an earlier grader process (now dead) left behind."""
    for entry in [*folder.glob(CGROUP_PREFIX + "*"), *folder.glob(GRADER_LEAF + "*")]:
        prefix = CGROUP_PREFIX if entry.name.startswith(CGROUP_PREFIX) else GRADER_LEAF
        owner = entry.name[len(prefix) :].split("-")[0]
        if not owner.isdigit() or int(owner) == os.getpid():
            continue
        try:
            os.kill(int(owner), 0)
            continue  # its grader still runs
        except ProcessLookupError:
            pass
        except OSError:
            continue
        if prefix == GRADER_LEAF:  # never kill what is in a grader's leaf: only if empty
            with contextlib.suppress(OSError):
                entry.rmdir()
        else:
            MemoryGuard("cgroup", 0, entry).remove(timeout=2.0)


@functools.cache
def _memory_hierarchy() -> tuple[str, Path | None, str]:
    """(kind, parent folder, why) of the cgroups this process gives its sandboxes, once."""
    reasons = []
    candidates = _own_cgroup_dirs()
    for kind, folder in candidates:
        problem_text = _usable(kind, folder)
        if problem_text is None:
            _sweep(folder)
            return kind, folder, ""
        reasons.append(f"{kind}: {problem_text}")
    if not candidates:
        reasons.append("no cgroup hierarchy with a memory controller is mounted")
    return "watchdog", None, "; ".join(reasons)


def memory_enforcement(isolated: bool = True) -> str:
    """How a sandbox's memory limit is enforced on this machine (one sentence)."""
    if not isolated:
        return "no sandbox: the watchdog reads resident memory only"
    if os.environ.get(CGROUPS_ENV, "auto").strip().lower() == "off":
        return f"watchdog (cgroups turned off by {CGROUPS_ENV}=off): resident memory + tmpfs"
    kind, folder, why = _memory_hierarchy()
    if kind == "cgroup2":
        return f"cgroup v2 memory.max per sandbox (below {folder}), tmpfs pages included"
    if kind == "cgroup1":
        return (
            f"cgroup v1 memory.limit_in_bytes (+ memsw) per sandbox (below {folder}), "
            "tmpfs pages included"
        )
    return f"watchdog every 0.2 s: resident memory + tmpfs usage (no usable memory cgroup: {why})"


def _write(path: Path, value: int | str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(str(value))


def _read_keyed(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    except OSError:
        pass
    return 0


# cgroup v1 charges the buffers of TCP sockets to no memory limit but this one, which counts
# only once written (cgroup v2 charges them to memory.max): a kernel needs little (IPython's
# pipe on its loopback), a student's loopback connections could otherwise queue hundreds of
# MB beyond the memory limit, from the machine's shared TCP budget. (UDP buffers are charged
# to none: the kernels have no UDP, see _seccomp.py.)
TCP_LIMIT_FILE = "memory.kmem.tcp.limit_in_bytes"
TCP_BUFFER_BYTES = 32 * 1024 * 1024


@dataclass
class MemoryGuard:
    """The memory cgroup of one sandbox (``kind`` ``cgroup2`` or ``cgroup1``), or none
    (``watchdog``: the executor then counts resident memory and tmpfs usage itself).

    The sandbox's outer launcher joins the cgroup before it becomes bubblewrap, so every
    process of the sandbox is born inside it and every page it charges counts, tmpfs pages
    of its ``/tmp``, ``/dev/shm`` and home included; the kernel's OOM killer stops it at the
    limit. The cgroup's files belong to the grader: the sandbox's user cannot write them
    (and sees no ``/sys`` at all), so it cannot leave. :meth:`remove` kills what is left in
    it and removes it."""

    kind: str
    limit: int
    path: Path | None = None
    setup_seconds: float = 0.0
    error: str = ""  # why this sandbox got no cgroup although the machine has them

    @classmethod
    def create(cls, limits: Limits, isolated: bool = True) -> MemoryGuard:
        start = time.monotonic()
        off = os.environ.get(CGROUPS_ENV, "auto").strip().lower() == "off"
        kind, parent, _ = ("watchdog", None, "") if off or not isolated else _memory_hierarchy()
        if parent is None:
            return cls("watchdog", limits.memory_bytes)
        name = f"{CGROUP_PREFIX}{os.getpid()}-{next(_CGROUP_SERIAL)}-{secrets.token_hex(4)}"
        path = parent / name
        try:
            path.mkdir(mode=0o755)
        except OSError as error:  # e.g. the hierarchy's limit of descendants
            return cls("watchdog", limits.memory_bytes, error=f"{path}: {error.strerror}")
        guard = cls(kind, limits.memory_bytes, path)
        try:
            if kind == "cgroup2":
                _write(path / "memory.max", limits.memory_bytes)
                for name, value in (("memory.swap.max", 0), ("memory.oom.group", 1)):
                    if (path / name).exists():
                        _write(path / name, value)
            else:
                _write(path / "memory.limit_in_bytes", limits.memory_bytes)
                if (path / "memory.memsw.limit_in_bytes").exists():  # no way around it by swap
                    _write(path / "memory.memsw.limit_in_bytes", limits.memory_bytes)
                with contextlib.suppress(OSError):  # (a kernel refusing it keeps the rest)
                    _write(path / TCP_LIMIT_FILE, TCP_BUFFER_BYTES)
        except OSError as error:
            guard.remove(timeout=1.0)
            return cls("watchdog", limits.memory_bytes, error=f"{path}: {error.strerror}")
        guard.setup_seconds = time.monotonic() - start
        return guard

    @property
    def enforced(self) -> bool:
        return self.path is not None

    @property
    def procs_files(self) -> list[str]:
        """The files through which a sandbox's first process joins the cgroup (the launcher
        and the template's child, :func:`_launch.join_cgroup`). cgroup v1: ``tasks``, to which
        the process writes "0", which moves the writing thread alone; both writers have no
        other thread, so the whole process moves, and the kernel then takes no lock for moving
        thread groups, whose write waits for an RCU grace period (a pid written to ``tasks``
        or ``cgroup.procs`` does): 0.3 ms instead of 4-20 ms, measured on this machine's
        kernel 6.18. cgroup v2 has no ``tasks``: ``cgroup.procs``."""
        if self.path is None:
            return []
        return [str(self.path / ("tasks" if self.kind == "cgroup1" else "cgroup.procs"))]

    def pids(self) -> list[int]:
        if self.path is None:
            return []
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def oom_kills(self) -> int:
        """How many processes the OOM killer stopped in this sandbox so far."""
        if self.path is None:
            return 0
        if self.kind == "cgroup2":
            events = self.path / "memory.events"
            return max(_read_keyed(events, "oom_kill"), _read_keyed(events, "oom_group_kill"))
        return _read_keyed(self.path / "memory.oom_control", "oom_kill")

    def peak(self) -> int:
        """The most memory the sandbox held at once (page cache included), 0 if unknown."""
        if self.path is None:
            return 0
        name = "memory.peak" if self.kind == "cgroup2" else "memory.max_usage_in_bytes"
        try:
            return int((self.path / name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0

    def kill(self) -> None:
        """SIGKILL every process in the cgroup (also any that left the sandbox's tree)."""
        if self.path is None:
            return
        if (self.path / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                _write(self.path / "cgroup.kill", 1)
        for pid in self.pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def remove(self, timeout: float = 10.0) -> bool:
        """Kill what is left and remove the cgroup; whether it is gone."""
        if self.path is None:
            return True
        deadline = time.monotonic() + timeout
        while True:
            self.kill()
            try:
                self.path.rmdir()
                return True
            except FileNotFoundError:
                return True
            except OSError as error:
                if error.errno not in (errno.EBUSY, errno.ENOTEMPTY) or (
                    time.monotonic() > deadline
                ):
                    return False
            time.sleep(0.02)


@functools.cache
def problem() -> str | None:
    """Why no sandbox can run here (None when one can). Tries a real one, once per process."""
    limits = Limits.from_env()
    _memory_hierarchy()  # before any worker starts (cgroup v2 may move the grader to a leaf)
    try:
        layout = Layout.create(limits)
    except OSError as error:  # pragma: no cover - an unwritable temp folder
        return f"cannot create a sandbox folder: {error}"
    try:
        argv = command(
            layout,
            limits,
            kernel_env(limits, {}),
            [sys.executable, "-c", "import attention_course"],
        )
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except SandboxUnavailable as error:
        return str(error)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the sandbox did not start ({error}); {INSTALL_HINT}"
    finally:
        layout.remove()
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return (
            f"bubblewrap is installed but a sandbox failed to start: {' | '.join(detail)}. "
            "Unprivileged user namespaces may be disabled (Debian: sysctl "
            "kernel.unprivileged_userns_clone=1; Ubuntu 24.04: sysctl "
            f"kernel.apparmor_restrict_unprivileged_userns=0), or run as root. {INSTALL_HINT}"
        )
    return None
