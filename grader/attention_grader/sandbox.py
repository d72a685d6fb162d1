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
- limits (:class:`Limits`, each an environment variable): memory (resident memory of all its
  processes, watched by the executor; each process's address space is capped as well),
  processes/threads (``RLIMIT_NPROC``), disk (tmpfs sizes, ``RLIMIT_FSIZE``), wall time per
  cell and per notebook, and output size.

The kernel talks to the grader through Unix sockets in a folder bound into the sandbox
(ZeroMQ ``ipc`` transport), so no network is needed for that either.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import attention_course

LAUNCHER = Path(__file__).with_name("_launch.py")
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

    memory_bytes: int = 4 * 1024**3  # COURSE_SANDBOX_MEMORY: resident memory, all processes
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
        if self.uid is not None:
            os.chown(self.ipc_dir, self.uid, self.uid)

    @classmethod
    def create(cls, limits: Limits, isolated: bool = True) -> Layout:
        root = Path(tempfile.mkdtemp(prefix="course-sandbox-"))
        os.chmod(root, 0o755)  # the sandbox user must reach ipc/ (its own) and stage/
        root_mode = isolated and os.geteuid() == 0
        # A uid of its own for every sandbox (per process, per sandbox): the process limit
        # then counts this sandbox's processes only, also while an earlier one is dying.
        uid = (
            limits.uid_base + (os.getpid() % 100_000) * 64 + next(_SERIAL) % 64
            if root_mode
            else None
        )
        return cls(root, uid, isolated)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


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


def bwrap_args(layout: Layout, limits: Limits, env: dict[str, str]) -> list[str]:
    """The bubblewrap options of one sandbox (without the command)."""
    symlinks, binds = _readonly_paths()
    args = [
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


def command(layout: Layout, limits: Limits, env: dict[str, str], argv: list[str]) -> list[str]:
    """The full command: limits, then bwrap, then (inside) the launcher that drops to the
    sandbox user, copies the submission's files home and runs ``argv``."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) was not found; {INSTALL_HINT}")
    outer = {
        "as": limits.address_space_bytes,
        "nproc": limits.processes,
        "fsize": limits.disk_bytes,
        "nproc_relative": layout.uid is None,
    }
    inner = {"uid": layout.uid, "files": f"{GRADER_DIR}/files", "home": HOME}
    return [
        sys.executable,
        "-I",
        str(LAUNCHER),
        "outer",
        json.dumps(outer),
        "--",
        bwrap,
        *bwrap_args(layout, limits, env),
        "--",
        sys.executable,
        "-I",
        f"{GRADER_DIR}-launch.py",
        "inner",
        json.dumps(inner),
        "--",
        *argv,
    ]


@functools.cache
def problem() -> str | None:
    """Why no sandbox can run here (None when one can). Tries a real one, once per process."""
    limits = Limits.from_env()
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
