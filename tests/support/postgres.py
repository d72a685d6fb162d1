"""A real, throw-away PostgreSQL server for one test: ``with running_postgres(tmp_path) as url``.

It uses the server binaries of Debian's ``postgresql`` package (never skips when they are
missing), listens on a unix socket only (no TCP port, so no port clash between xdist workers),
trusts every local connection and yields an SQLAlchemy URL for psycopg 3. PostgreSQL refuses
to run as root, so under uid 0 the server runs as the package's ``postgres`` user, in a fresh
directory of /tmp that it owns: pytest's own tmp dirs sit under /tmp/pytest-of-root (mode 0700),
which that user cannot enter, and a socket path must stay short. That directory is deleted on
exit; the server log stays in ``base_dir/postgres.log``. The server is this process's child, so
stopping it reaps it: no process, not even a zombie, is left behind.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

INSTALL_HINT = "run `apt-get install -y postgresql` (as root) to get them"
TOOLS = ("initdb", "postgres", "pg_isready", "createdb")
DBNAME = "test"
TIMEOUT_S = 60


def server_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<ver>/bin`` that holds all of ``TOOLS``."""
    found = [
        d
        for d in Path("/usr/lib/postgresql").glob("*/bin")
        if d.parent.name.isdigit() and all((d / tool).is_file() for tool in TOOLS)
    ]
    if not found:
        raise RuntimeError(
            f"PostgreSQL server binaries ({', '.join(TOOLS)}) not found in "
            f"/usr/lib/postgresql/*/bin: {INSTALL_HINT}"
        )
    return max(found, key=lambda d: int(d.parent.name))


def _as_server_user() -> dict[str, Any]:
    """subprocess arguments that drop root to the ``postgres`` user ({} when not root)."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            f"running as root, but there is no user `postgres` to run the server as: {INSTALL_HINT}"
        ) from None
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _fail(what: str, log: Path) -> RuntimeError:
    server_log = log.read_text(errors="replace") if log.exists() else "(none)"
    return RuntimeError(f"{what}\n--- server log {log} ---\n{server_log}")


@contextmanager
def running_postgres(base_dir: Path) -> Iterator[str]:
    """Start a fresh server, yield ``postgresql+psycopg://postgres@/test?host=<socket dir>``.

    On exit the server gets SIGQUIT (what ``pg_ctl stop -m immediate`` sends), even if the
    body raised, and its whole process group is killed if it is not gone within the timeout.
    """
    bin_dir, drop = server_bin_dir(), _as_server_user()
    base_dir.mkdir(parents=True, exist_ok=True)
    log = base_dir / "postgres.log"
    root = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))  # not TMPDIR: short, traversable
    if drop:
        os.chown(root, drop["user"], drop["group"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}  # no PGPORT etc.

    def run(tool: str, *args: str | Path, **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [bin_dir / tool, *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
            **kw,
        )

    try:
        done = run(
            "initdb",
            "-D",
            root / "data",
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            **drop,
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}{done.stderr}")
        settings = {
            "listen_addresses": "",
            "unix_socket_directories": root,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with log.open("wb") as out:  # the server writes through this fd: no path access needed
            server = subprocess.Popen(
                [
                    bin_dir / "postgres",
                    "-D",
                    root / "data",
                    *(f"-c{key}={value}" for key, value in settings.items()),
                ],
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **drop,
            )
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while run("pg_isready", "-q", "-h", root, "-U", "postgres").returncode != 0:
                if server.poll() is not None:
                    raise _fail(f"PostgreSQL exited with code {server.returncode}", log)
                if time.monotonic() > deadline:
                    raise _fail(f"PostgreSQL not accepting connections after {TIMEOUT_S} s", log)
                time.sleep(0.05)
            done = run("createdb", "-h", root, "-U", "postgres", DBNAME)
            if done.returncode != 0:
                raise _fail(f"createdb failed:\n{done.stdout}{done.stderr}", log)
            yield f"postgresql+psycopg://postgres@/{DBNAME}?host={root}"
        finally:
            server.send_signal(signal.SIGQUIT)
            try:
                server.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
