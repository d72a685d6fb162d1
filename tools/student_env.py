"""The students' environment for a hub: ``make student-env PREFIX=/opt/lesson5``.

A Python environment every user of the machine can read and run, for the students' Jupyter
servers: the student package ``attention_course`` (from ``src/``, installed as a copy, never
pointing into this repository), the notebooks' pinned dependencies from ``requirements.txt``
(with ``requirements.lock`` as constraints), nbgrader's client (fetch, submit, validate,
fetch feedback), JupyterLab, and ``jupyterhub-singleuser`` (JupyterHub's pin from
``requirements-hub.txt``). Never the grader (``attention_grader``), nothing of ``source/``
or of the judges, and none of the instructor's tools (:data:`INSTRUCTOR_ONLY`).

The interpreter: a virtual environment runs its base Python's standard library and
``libpython``. When every user can read the base installation (``/usr``, ``/usr/local``, a
Docker image's Python), ``PREFIX`` is a venv on it. When they cannot (pyenv under ``/root``,
whose folder other users cannot enter), the base installation is copied into
``PREFIX/python`` (the interpreter, its shared library, the standard library; not its
``site-packages`` nor its ``test`` package) and the venv is made from the copy; the copied
executable finds its ``libpython`` next to it (its ``RUNPATH`` is rewritten to
``$ORIGIN/../lib``), so the environment is self-contained.

Re-running updates the packages in place (the student package is always reinstalled); a
different base Python rebuilds the environment. Every folder ends 755, every file 644 or 755.
Standard library only: it runs with the interpreter the Makefile uses (``$(PYTHON)``).

Options: ``--exchange DIR`` writes ``PREFIX/etc/jupyter/nbgrader_config.py`` for a folder
exchange (the course id and ``c.Exchange.root``), ``--ngshare URL`` for the ngshare service;
without either only the course id is written. The course id is ``COURSE_ID`` if set, else
the default of the course's ``nbgrader_config.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pwd
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = "student-env.json"
BASE = "python"  # PREFIX/python: the copied base installation, when one is needed

# Pins of requirements.txt that students' servers do not need: the grading engine, the test
# suite, linting, the gradebook's PostgreSQL driver, the output gate, the reports' tables.
INSTRUCTOR_ONLY = {
    "pytest": "the test suite",
    "pytest-xdist": "the test suite",
    "ruff": "lint and format",
    "distributed": "the grading engine's Dask cluster",
    "dask": "the grading engine's Dask cluster",
    "tqdm": "the grading engine's progress bar",
    "psycopg": "PostgreSQL gradebooks",
    "nh3": "the output gate (formgrader, feedback)",
    "websocket-client": "the browser test (jupyter-server's own pin still applies)",
    "pandas": "the instructor's score tables and reports",
}
HUB_PACKAGE = "jupyterhub"  # jupyterhub-singleuser: what a hub's spawner starts
# Students see the assignment list and validate; formgrader, "create assignment" and the
# course list are the instructor's (as nbgrader's documentation sets up students' servers).
SERVER_EXTENSIONS_OFF = [
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
]
LAB_PLUGINS_OFF = [
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
]


class Refused(SystemExit):
    def __init__(self, message: str) -> None:
        super().__init__(f"error: make student-env: {message}")


# ------------------------------------------------------------------ requirements
def _name(line: str) -> str | None:
    """The normalized project name of a requirements line (None for comments, blanks)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0])
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else None


def _pins(path: Path) -> dict[str, list[str]]:
    """name -> its lines (a name may have several lines with exclusive markers)."""
    pins: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name = _name(line)
        if name:
            pins.setdefault(name, []).append(line.split(" #", 1)[0].strip())
    return pins


def requirement_files(folder: Path) -> tuple[Path, list[Path]]:
    """The students' requirements and the constraints, written into ``folder``: the lines
    of requirements.txt minus :data:`INSTRUCTOR_ONLY`, plus JupyterHub; constraints are
    requirements.lock and, for packages it does not hold (JupyterHub's own), the pins of
    requirements-hub.txt. No version is written here: every one comes from those files."""
    wanted = _pins(ROOT / "requirements.txt")
    stale = sorted(set(INSTRUCTOR_ONLY) - set(wanted))
    if stale:
        raise Refused(
            f"{stale} are listed as instructor-only in tools/student_env.py but are not in "
            "requirements.txt any more: update INSTRUCTOR_ONLY"
        )
    lock = _pins(ROOT / "requirements.lock")
    hub = _pins(ROOT / "requirements-hub.txt")
    if HUB_PACKAGE not in hub:
        raise Refused(f"requirements-hub.txt pins no {HUB_PACKAGE}")
    lines = [line for name, pins in wanted.items() if name not in INSTRUCTOR_ONLY for line in pins]
    requirements = folder / "student-requirements.txt"
    requirements.write_text("\n".join([*lines, HUB_PACKAGE]) + "\n", encoding="utf-8")
    hub_only = folder / "hub-constraints.txt"
    hub_only.write_text(
        "\n".join(line for name, pins in hub.items() if name not in lock for line in pins) + "\n",
        encoding="utf-8",
    )
    return requirements, [ROOT / "requirements.lock", hub_only]


# ------------------------------------------------------------------ who can read what
def not_traversable(path: Path) -> Path | None:
    """The first folder on the way to ``path`` (itself included) others cannot enter."""
    for folder in [*reversed(path.parents), path]:
        if folder.exists() and not os.stat(folder).st_mode & stat.S_IXOTH:
            return folder
    return None


def _readable_by_others(base: Path, version: str) -> bool:
    executable = base / "bin" / version
    stdlib = base / "lib" / version
    if not_traversable(stdlib) or not_traversable(executable.parent):
        return False
    return all(
        os.stat(p).st_mode & stat.S_IROTH
        for p in (executable, stdlib / "os.py", stdlib / "site.py")
    )


def make_world_readable(top: Path) -> None:
    """Folders 755, files 755 when executable by their owner and 644 otherwise."""
    for folder, _dirs, files in os.walk(top):
        os.chmod(folder, 0o755)
        for name in files:
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                os.chmod(path, 0o755 if mode & stat.S_IXUSR else 0o644)


# ------------------------------------------------------------------ copying the interpreter
DT_NULL, DT_STRTAB, DT_RPATH, DT_RUNPATH = 0, 5, 15, 29
PT_LOAD, PT_DYNAMIC = 1, 2


def _dynamic_section(data: bytes, binary: Path) -> tuple[list[tuple[int, int]], int] | None:
    """The dynamic entries ``(tag, value)`` of an ELF64 little-endian file and the file
    offset of its string table; None for a static executable."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise Refused(f"{binary} is not a 64-bit little-endian ELF executable")
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    loads, dynamic = [], None
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize
        )
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return None
    entries = []
    for offset in range(dynamic[0], dynamic[0] + dynamic[1], 16):
        tag, value = struct.unpack_from("<qQ", data, offset)
        if tag == DT_NULL:
            break
        entries.append((tag, value))
    strtab_vaddr = next((v for t, v in entries if t == DT_STRTAB), -1)
    for vaddr, offset, size in loads:
        if vaddr <= strtab_vaddr < vaddr + size:
            return entries, offset + strtab_vaddr - vaddr
    raise Refused(f"{binary}: no string table for its library search path")


def _moved(search_path: str, old_base: Path, new_base: Path, origin: Path) -> str:
    """``search_path`` with its folders under ``old_base`` moved to ``new_base`` and
    written relative to ``origin`` (``$ORIGIN/...``)."""
    parts = []
    for part in search_path.split(":"):
        path = Path(part)
        if path == old_base or old_base in path.parents:
            part = "$ORIGIN/" + os.path.relpath(new_base / path.relative_to(old_base), origin)
        parts.append(part)
    return ":".join(parts)


def set_relative_runpath(binary: Path, old_base: Path, new_base: Path) -> str | None:
    """Rewrite the ``RUNPATH``/``RPATH`` entries of an ELF64 little-endian executable that
    lie under ``old_base`` to the same place under ``new_base``, relative to the executable
    (``$ORIGIN/...``), in place. The new string is never longer than the old (padded with
    NUL bytes), so nothing else in the file moves. Returns the new search path, or None when
    there was nothing to change."""
    data = bytearray(binary.read_bytes())
    dynamic = _dynamic_section(data, binary)
    if dynamic is None:
        return None  # a static executable: no library to find
    entries, strtab = dynamic
    changed = None
    for tag, value in entries:
        if tag not in (DT_RPATH, DT_RUNPATH):
            continue
        start = strtab + value
        end = data.index(b"\0", start)
        old = data[start:end].decode()
        new = _moved(old, old_base, new_base, binary.parent)
        if new == old:
            continue
        if len(new) > len(old):
            raise Refused(f"{binary}: cannot shorten its library path {old!r} to {new!r}")
        data[start:end] = new.encode().ljust(end - start, b"\0")
        changed = new
    if changed is not None:
        binary.write_bytes(bytes(data))
    return changed


def copy_base(base: Path, version: str, target: Path) -> None:
    """The interpreter, its shared library, headers and standard library (without
    ``site-packages`` and ``test``) from ``base`` into ``target``."""
    bin_dir = target / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2(base / "bin" / version, bin_dir / version)
    for alias in ("python3", "python"):
        (bin_dir / alias).symlink_to(version)
    (target / "lib").mkdir()
    for library in sorted((base / "lib").glob("libpython3*.so*")):
        if library.is_symlink():
            (target / "lib" / library.name).symlink_to(os.readlink(library))
        else:
            shutil.copy2(library, target / "lib" / library.name)

    def skip(folder: str, names: list[str]) -> set[str]:
        top = Path(folder) == base / "lib" / version
        return {n for n in names if (top and n in ("site-packages", "test")) or n.endswith(".a")}

    shutil.copytree(base / "lib" / version, target / "lib" / version, ignore=skip, symlinks=True)
    (target / "lib" / version / "site-packages").mkdir()
    if (base / "include").is_dir():  # headers: a package without a wheel can still build
        shutil.copytree(base / "include", target / "include", symlinks=True)
    runpath = set_relative_runpath(bin_dir / version, base, target)
    if runpath:
        print(f"  {bin_dir / version}: library path {runpath}")


def check_copy(python: Path, target: Path) -> None:
    """The copy runs on its own: its prefix and its libpython are in ``target``."""
    probe = (
        "import sys, ssl, sqlite3, ctypes, json\n"
        "maps = open('/proc/self/maps').read().split()\n"
        "libs = sorted({m for m in maps if 'libpython' in m})\n"
        "print(json.dumps([sys.prefix, libs]))\n"
    )
    proc = subprocess.run(
        [str(python), "-I", "-c", probe], capture_output=True, text=True, env={"LANG": "C.UTF-8"}
    )
    if proc.returncode != 0:
        raise Refused(f"the copied interpreter {python} does not run:\n{proc.stderr}")
    prefix, libs = json.loads(proc.stdout)
    outside = [lib for lib in libs if not lib.startswith(str(target) + "/")]
    if Path(prefix) != target or outside:
        raise Refused(f"the copied interpreter still uses {prefix} and {outside}")


# ------------------------------------------------------------------ the environment
def run(*command: str | Path, say: str = "") -> str:
    """Run ``command``; print ``say`` and the seconds it took, if given."""
    started = time.monotonic()
    proc = subprocess.run([str(c) for c in command], capture_output=True, text=True)
    if proc.returncode != 0:
        raise Refused(f"{' '.join(map(str, command))} failed:\n{proc.stdout}\n{proc.stderr}")
    if say:
        print(f"  {say} ({time.monotonic() - started:.0f} s)", flush=True)
    return proc.stdout


def course_id() -> str:
    if os.environ.get("COURSE_ID"):
        return os.environ["COURSE_ID"]
    config = (ROOT / "nbgrader_config.py").read_text(encoding="utf-8")
    match = re.search(r'os\.environ\.get\("COURSE_ID", "([^"]+)"\)', config)
    if not match:
        raise Refused("cannot find the course id's default in nbgrader_config.py: set COURSE_ID")
    return match.group(1)


def nbgrader_config(exchange: str | None, ngshare: str | None) -> str:
    lines = [
        '"""nbgrader for students of this course (written by make student-env)."""',
        "",
        "c = get_config()  # noqa: F821",
    ]
    if ngshare:
        lines += [
            "from attention_course import ngshare_client",
            "",
            f"ngshare_client.configure(c, {ngshare!r})",
        ]
    elif exchange:
        lines.append(f"c.Exchange.root = {exchange!r}")
    lines.append(f"c.CourseDirectory.course_id = {course_id()!r}")
    return "\n".join(lines) + "\n"


def students_jupyter(etc: Path) -> None:
    """Formgrader, "create assignment" and the course list off (and locked, so that Lab's
    plugin manager cannot turn them on): the files `jupyter server extension disable
    --sys-prefix` and `jupyter labextension disable --level=sys_prefix` + `lock` write, without
    starting Jupyter five times (25 s)."""
    server = etc / "jupyter_server_config.d"
    server.mkdir(parents=True, exist_ok=True)
    for extension in SERVER_EXTENSIONS_OFF:  # read after nbgrader.json, which turns them on
        setting = {"ServerApp": {"jpserver_extensions": {extension: False}}}
        (server / f"{extension}.json").write_text(json.dumps(setting, indent=2) + "\n")
    page = etc / "labconfig" / "page_config.json"
    page.parent.mkdir(parents=True, exist_ok=True)
    config = json.loads(page.read_text()) if page.exists() else {}
    for key in ("disabledExtensions", "lockedExtensions"):
        config.setdefault(key, {}).update(dict.fromkeys(LAB_PLUGINS_OFF, True))
    page.write_text(json.dumps(config, indent=2) + "\n")


def compile_packages(python: Path) -> None:
    """Byte-compile the environment's packages on every core, as pip would one by one: the
    environment is read-only to students, so a module without its ``.pyc`` here would be
    compiled again at every import (TensorFlow's thousands of files, in every kernel). A file
    that does not compile (a template, a test for another Python) is skipped, as pip skips it;
    the packages' own imports are checked by :func:`verify`."""
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    started = time.monotonic()
    subprocess.run(
        [python, "-m", "compileall", "-q", "-q", "-j", "0", site],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    print(f"  compiled {site} ({time.monotonic() - started:.0f} s)")


def verify(python: Path) -> str:
    """What a student's server imports, as a user who is not the builder when we are root;
    and that the grader is not there."""
    probe = (
        "import importlib.util, sys\n"
        "import attention_course, nbgrader, jupyterlab, ipykernel, jupyterhub\n"
        "assert importlib.util.find_spec('attention_grader') is None, 'the grader is here'\n"
        "print(attention_course.__file__)\n"
    )
    command = [str(python), "-c", probe]
    env = {"PATH": f"{python.parent}:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/"}
    as_whom = "this user"
    runuser = shutil.which("runuser")
    if os.geteuid() == 0 and runuser:
        try:
            pwd.getpwnam("nobody")
        except KeyError:
            pass
        else:
            command = (
                [runuser, "-u", "nobody", "--", "env", "-i"]
                + [f"{k}={v}" for k, v in env.items()]
                + command
            )
            as_whom = "user nobody"
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd="/")
    if proc.returncode != 0:
        raise Refused(f"the environment does not work for {as_whom}:\n{proc.stderr}")
    return f"{as_whom} imports attention_course from {proc.stdout.strip()}"


def build(prefix: Path, exchange: str | None = None, ngshare: str | None = None) -> dict:
    """Make or update the environment in ``prefix``; returns what the marker records."""
    started = time.monotonic()
    if sys.version_info < (3, 11, 5):
        found = ".".join(map(str, sys.version_info[:3]))
        raise Refused(f"Python 3.11.5 or newer is needed, found {found}")
    prefix = Path(os.path.abspath(prefix))
    blocked = not_traversable(prefix.parent)
    if blocked is not None:
        raise Refused(f"other users cannot enter {blocked}: choose a PREFIX they can reach")
    if ROOT == prefix or ROOT in prefix.parents:
        raise Refused(f"{prefix} is inside the course repository: choose e.g. /opt/lesson5")
    base = Path(sys.base_prefix).resolve()
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    copied = not _readable_by_others(base, version)
    wanted = {"tool": "tools/student_env.py", "base": str(base), "python": sys.version.split()[0]}
    marker = prefix / MARKER
    if prefix.exists() and any(prefix.iterdir()):
        if not marker.exists():
            raise Refused(f"{prefix} is not empty and was not made by make student-env")
        recorded = json.loads(marker.read_text())
        if {k: recorded.get(k) for k in wanted} != wanted:
            print(f"{prefix}: made from {recorded.get('base')}, now {base}: rebuilding")
            shutil.rmtree(prefix)
    prefix.mkdir(parents=True, exist_ok=True)
    os.chmod(prefix, 0o755)
    python = prefix / "bin" / "python"
    if not python.exists():
        builder = Path(sys.executable)
        if copied:
            print(f"{base} is not readable by other users: copying it to {prefix / BASE}")
            shutil.rmtree(prefix / BASE, ignore_errors=True)
            copying = time.monotonic()
            copy_base(base, version, prefix / BASE)
            check_copy(prefix / BASE / "bin" / version, prefix / BASE)
            print(f"  copied and checked ({time.monotonic() - copying:.0f} s)")
            builder = prefix / BASE / "bin" / version
        run(builder, "-m", "venv", prefix, say=f"venv {prefix}")
    marker.write_text(json.dumps({**wanted, "copied_base": copied}, indent=1) + "\n")

    pip = [python, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    # as `make` does for .venv: the newest pip resolves this set in half the time of 23.2
    run(*pip, "install", "--quiet", "--upgrade", "pip", say="pip")
    with tempfile.TemporaryDirectory() as scratch:
        requirements, constraints = requirement_files(Path(scratch))
        run(
            *pip,
            "install",
            "--quiet",
            "--no-compile",  # (compiled below, on every core: pip compiles one file at a time)
            "-r",
            requirements,
            *[a for c in constraints for a in ("-c", c)],
            say="the notebooks' pinned packages, nbgrader, JupyterLab, jupyterhub-singleuser",
        )
        compile_packages(python)
        # the student package as a copy (not editable), reinstalled at every run
        run(
            *pip,
            "install",
            "--quiet",
            "--no-deps",
            "--force-reinstall",
            ROOT,
            say="attention_course",
        )
    if "attention-grader" in run(*pip, "list", "--format=freeze").lower().replace("_", "-"):
        run(*pip, "uninstall", "--yes", "attention-grader")
    run(*pip, "check", say="pip check")
    students_jupyter(prefix / "etc" / "jupyter")
    config = prefix / "etc" / "jupyter" / "nbgrader_config.py"
    config.write_text(nbgrader_config(exchange, ngshare), encoding="utf-8")
    make_world_readable(prefix)
    checked = verify(python)
    seconds = time.monotonic() - started
    size = run("du", "-sh", prefix).split()[0]
    print(f"{prefix}: the students' environment ({size}, {seconds:.0f} s)")
    print(
        f"  Python {wanted['python']}, "
        + (f"a copy of {base} in {prefix / BASE}" if copied else f"a venv on {base}")
    )
    print(f"  {checked}; attention_grader: not installed")
    print(f"  nbgrader for students: {config}")
    print("JupyterHub (jupyterhub_config.py), every student's server from it:")
    print(f'  c.Spawner.cmd = ["{prefix}/bin/jupyterhub-singleuser"]')
    print(f'  c.Spawner.environment = {{"PATH": "{prefix}/bin:/usr/local/bin:/usr/bin:/bin"}}')
    print("A single-user image (DockerSpawner, KubeSpawner): run this in its Dockerfile and")
    print(f"  ENV PATH={prefix}/bin:$PATH")
    return {**wanted, "copied_base": copied, "seconds": seconds}


# ------------------------------------------------------------------ the test suite's copy
TEST_RECORD = ROOT / ".test-student-env"  # (git-ignored) the folder of this clone's copy
TEST_INPUTS = "inputs.sha256"  # in that folder: what the environment was built from
TEST_PREFIX = "lesson5-test-student-env-"  # that folder: /tmp/<TEST_PREFIX><random>
REQUIREMENTS = ("requirements.txt", "requirements.lock", "requirements-hub.txt")


def test_inputs() -> str:
    """A digest of everything the environment is built from: this tool, the pins, the
    course id, the student package's files, the base Python."""
    digest = hashlib.sha256(f"{sys.version}\0{sys.base_prefix}\0{course_id()}".encode())
    inputs = ("pyproject.toml", "nbgrader_config.py", *REQUIREMENTS)
    files = [Path(__file__).resolve(), *(ROOT / name for name in inputs)]
    src = ROOT / "src"
    files += sorted(p for p in src.rglob("*") if p.is_file() and not _made_here(p, src))
    for path in files:
        digest.update(os.path.relpath(path, ROOT).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _made_here(path: Path, src: Path) -> bool:
    """Whether ``path`` under ``src`` is made by Python or pip, not written by hand: compiled
    files, and the ``*.egg-info`` that building the student package (this tool) writes (only
    the parts below ``src`` count: a clone may sit in any folder)."""
    parts = path.relative_to(src).parts
    return any(part == "__pycache__" or part.endswith(".egg-info") for part in parts)


def _test_folder() -> Path | None:
    """The folder :data:`TEST_RECORD` names, if it is one this user made for it: a real
    folder (not a link) ``/tmp/<TEST_PREFIX>...`` owned by this user that nobody else can
    write to."""
    try:
        folder = Path(TEST_RECORD.read_text(encoding="utf-8").strip())
        info = folder.lstat()
    except (OSError, ValueError):
        return None
    if (
        folder.parent != Path("/tmp")
        or not folder.name.startswith(TEST_PREFIX)
        or not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.geteuid()
        or info.st_mode & 0o022
    ):
        return None
    return folder


def for_tests(quiet: bool = False) -> Path:
    """The students' environment of the test suite (``tests/test_exchange_hub.py``): a
    folder under the temporary folder holding ``env/`` (the environment) and the exchange
    folder its ``nbgrader_config.py`` names (``exchange/``, made and removed by the test).
    Built once per clone (:data:`TEST_RECORD`), kept for the next run, and updated in place
    when :func:`test_inputs` changes; ``make test`` makes it current before the tests start.
    Returns the folder."""
    wanted = test_inputs()
    folder = _test_folder()
    if folder is not None and _read(folder / TEST_INPUTS) == wanted:
        if not quiet:
            print(f"{folder / 'env'}: the test suite's students' environment is up to date")
        return folder
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix=TEST_PREFIX, dir="/tmp"))
        os.chmod(folder, 0o755)  # (mkdtemp makes it 700: the test's students go through it)
        TEST_RECORD.write_text(f"{folder}\n", encoding="utf-8")  # (a failed build: again here)
    (folder / TEST_INPUTS).unlink(missing_ok=True)
    if (folder / "env").exists() and not (folder / "env" / MARKER).exists():
        shutil.rmtree(folder / "env")  # a first build that ended early (the folder is ours)
    build(folder / "env", exchange=str(folder / "exchange"))
    (folder / TEST_INPUTS).write_text(wanted, encoding="utf-8")
    return folder


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "prefix", type=Path, nargs="?", help="where the environment goes, e.g. /opt/lesson5"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--exchange", help="the exchange folder students' nbgrader uses")
    where.add_argument("--ngshare", help="the ngshare service's URL instead of a folder")
    where.add_argument(
        "--for-tests",
        action="store_true",
        help="the test suite's copy (no PREFIX): built or updated unless it is current",
    )
    args = parser.parse_args(argv)
    if args.for_tests:
        if args.prefix is not None:
            parser.error("--for-tests chooses its own folder: give no PREFIX")
        for_tests()
    elif args.prefix is None:
        parser.error("PREFIX is needed, e.g. /opt/lesson5")
    else:
        build(args.prefix, args.exchange, args.ngshare)


if __name__ == "__main__":
    main()
