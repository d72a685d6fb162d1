"""The warm kernel template of a grading worker (``COURSE_SANDBOX_TEMPLATE``).

Importing TensorFlow and Keras costs 6-10 s; every TensorFlow notebook's setup cell paid it
again in a fresh kernel. With the template, each grading worker process starts one template
(:mod:`attention_grader._zygote`, as root, with exactly the kernel's environment) that imports
what the setup cells import and never runs anything else. For each notebook, bubblewrap builds
the sandbox exactly as for a fresh kernel, but runs a *holder* in it instead of the kernel
(:func:`_launch.inner` with ``hold``); the template forks a child that joins the sandbox's
memory cgroup and limits, enters its namespaces and root, drops to its uid and becomes the
kernel (see ``_zygote.py``). The kernel is therefore in the same sandbox as a fresh one, and
the import is paid once per worker (the pages are shared copy-on-write).

``auto`` (the default) uses the template where it can (root, Linux namespaces, bubblewrap):
it starts in the background at a worker's first notebook. Until it is ready, a notebook that
imports TensorFlow or Keras waits for it (a fresh kernel would pay the same import, on the same
cores, at the same time) and the others get fresh kernels; where it cannot start, or when it
fails, grading uses a fresh kernel and says so once. ``on``: every notebook waits for the
template, and a fallback is an error (the tests use it to prove the template path ran).
``off``: a fresh kernel for every notebook.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import posixpath
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from . import sandbox

SETTING = "COURSE_SANDBOX_TEMPLATE"
DEFAULT = "auto"
SCRIPT = Path(__file__).with_name("_zygote.py")
# What a fresh kernel imports before it runs a cell (stays imported in the kernel)...
BASE = ("ipykernel.kernelapp",)
# ...and what the notebooks' setup cells import, in the order they do (in a kernel forked from
# the template these are hidden until imported, then the same modules come back at once).
MODULES = (
    "attention_course",
    "attention_course.notebook",
    "numpy",
    "attention_course.wire",
    "attention_course.checks",
    "attention_course.probe",
    "attention_course.data",
    "matplotlib",
    "matplotlib.pyplot",
    "sklearn.feature_extraction.text",
    "sklearn.linear_model",
    "tensorflow",
    "keras",
)
READY_SECONDS = 300  # the imports on a busy machine
# A notebook that imports one of these waits for a template being started (auto)
WAITED_FOR = re.compile(r"^[ \t]*(?:import|from)[ \t]+(?:tensorflow|keras)\b", re.MULTILINE)
log = logging.getLogger(__name__)


class TemplateError(RuntimeError):
    """The template could not start or could not give a kernel."""


def mode() -> str:
    value = os.environ.get(SETTING, "").strip().lower() or DEFAULT
    if value not in ("auto", "on", "off"):
        raise ValueError(f"{SETTING} must be auto, on or off, got {value!r}")
    return value


def unavailable() -> str | None:
    """Why this machine cannot fork kernels into sandboxes (None when it can)."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if os.geteuid() != 0:
        return "the grader does not run as root (the kernel could not enter the sandbox)"
    if not hasattr(socket, "recv_fds"):
        return "Python without socket.recv_fds"
    return None


class Template:
    """One running template process (its socket folder is root's alone)."""

    def __init__(self, env: dict[str, str], modules: tuple[str, ...] = MODULES) -> None:
        self.env = dict(env)
        self.folder = Path(tempfile.mkdtemp(prefix="course-template-"))
        os.chmod(self.folder, 0o700)
        self.socket_path = self.folder / "template.sock"
        self.log_path = self.folder / "template.log"
        self.started = time.monotonic()
        self.ready_seconds = 0.0
        self.preloaded: frozenset[str] = frozenset()  # top-level modules the kernel would find
        stdin_read, self._stdin = os.pipe()  # end of file when this process is gone
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(SCRIPT),
                    str(self.socket_path),
                    json.dumps(
                        {
                            "base": list(BASE),
                            "warm": list(modules),
                            "keep": sandbox.readonly_folders(),
                        }
                    ),
                ],
                env=self.env,
                cwd=self.folder,
                stdin=stdin_read,
                stdout=subprocess.PIPE,
                stderr=log_file,
                start_new_session=True,
            )
        os.close(stdin_read)
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + READY_SECONDS
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 1.0)
            if ready:
                line = self.process.stdout.readline()
                if line.startswith(b"ready") or not line:
                    break
        if not line.startswith(b"ready"):
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=10)
            why = self.log_tail()
            self.close()
            raise TemplateError(f"the kernel template did not start: {why}")
        self.ready_seconds = round(time.monotonic() - self.started, 2)
        self.preloaded = frozenset(json.loads(line[len(b"ready") :] or b"[]"))

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip()
        except OSError:
            text = ""
        return " | ".join(text.splitlines()[-3:]) or f"exit status {self.process.poll()}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss(self) -> int:
        try:
            return psutil.Process(self.process.pid).memory_info().rss
        except psutil.Error:
            return 0

    def spawn(self, request: dict, log_fd: int) -> None:
        """Fork a kernel into the sandbox ``request`` names (it becomes a child of the
        sandbox's init, so it is in the launcher's process tree)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(30)
            try:
                conn.connect(str(self.socket_path))
                socket.send_fds(conn, [json.dumps(request).encode()], [log_fd])
                conn.shutdown(socket.SHUT_WR)
                reply = b""
                while chunk := conn.recv(65536):
                    reply += chunk
            except OSError as error:
                raise TemplateError(f"the kernel template did not answer: {error}") from None
        try:
            answer = json.loads(reply)
        except ValueError:
            raise TemplateError(f"the kernel template gave no kernel ({self.log_tail()})") from None
        if answer.get("forked") is not True:
            raise TemplateError(f"the kernel template failed: {answer.get('error')}")

    def close(self) -> None:
        try:
            os.close(self._stdin)
        except OSError:
            pass
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        shutil.rmtree(self.folder, ignore_errors=True)


_lock = threading.Lock()
_template: Template | None = None
_starting: threading.Thread | None = None  # a template being started (auto: in the background)
_start_error = ""
_failed_at = -1e9  # when the last start failed (auto retries after RETRY_SECONDS)
_said: set[str] = set()
starts = 0  # templates started by this process (a restart counts)
RETRY_SECONDS = 120.0


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.warning("%s", message)
        print(f"[grader] {message}", file=sys.stderr, flush=True)


def _start(env: dict[str, str], setting: str) -> None:
    """Start a template (in the thread :func:`get` made); it becomes this process's."""
    global _template, _start_error, _failed_at, starts
    try:
        made = Template(env)
    except (OSError, TemplateError) as error:
        with _lock:
            _start_error, _failed_at = str(error), time.monotonic()
        if setting != "on":
            _say_once(f"{error}; fresh kernels until it starts")
        return
    with _lock:
        if _template is not None and _template.alive():  # (another start won)
            made.close()
            return
        _template = made
        starts += 1


def worth_waiting(notebook: Any) -> bool:
    """Whether a code cell of ``notebook`` imports TensorFlow or Keras (with ``auto``, such a
    notebook waits for a template being started rather than import them in a fresh kernel)."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            if not isinstance(source, str):  # (lines; anything else is no import)
                source = "".join(line for line in source if isinstance(line, str))
            if WAITED_FOR.search(source):
                return True
    return False


def get(env: dict[str, str], wait: bool = False) -> Template | None:
    """This worker's template for kernels with environment ``env``, or None: a fresh kernel
    (why is said once). A missing or dead template is started (or restarted): with ``on``
    this notebook waits for it; with ``auto`` it starts in the background and notebooks get
    fresh kernels until it is ready, so a run of a few notebooks never waits for the imports
    (notebooks 01 and 02 do not import TensorFlow at all), except with ``wait``
    (:func:`worth_waiting`): then the notebook waits for it too, and gets a fresh kernel only
    if it fails."""
    global _template, _starting
    setting = mode()
    if setting == "off":
        return None
    why = unavailable()
    if why is not None:
        if setting == "on":
            raise TemplateError(f"{SETTING}=on but {why}")
        _say_once(f"kernel template unavailable ({why}): every notebook gets a fresh kernel")
        return None
    with _lock:
        if _template is not None and (not _template.alive() or _template.env != env):
            _template.close()
            _template = None
        if _template is not None:
            return _template
        retry = setting == "on" or time.monotonic() - _failed_at > RETRY_SECONDS
        if (_starting is None or not _starting.is_alive()) and retry:
            _starting = threading.Thread(
                target=_start, args=(env, setting), name="kernel-template", daemon=True
            )
            _starting.start()
        starting = _starting
    if starting is None or (setting != "on" and not wait):
        return None
    starting.join()
    with _lock:
        template = _template
    if template is None:
        if setting != "on":
            return None  # (the failure was said once)
        raise TemplateError(_start_error or "the kernel template did not start")
    return template if template.env == env else get(env, wait)  # (started for other kernels)


def settle(timeout: float = READY_SECONDS) -> Template | None:
    """Wait until a template being started is ready or has failed (the tests use it); this
    process's template."""
    starting = _starting
    if starting is not None:
        starting.join(timeout)
    return _template


def shadows(template: Template, files: Any) -> set[str]:
    """The preloaded packages that files of a submission would replace in a fresh kernel
    (``absl.py``, ``scipy/``: the kernel imports the submission's own; a kernel forked from the
    template would find the preloaded one): such a notebook gets a fresh kernel."""
    paths = (posixpath.normpath("/" + str(path).replace("\\", "/")) for path in files)
    firsts = {path.split("/")[1] for path in paths}
    return {name.split(".")[0] for name in firsts} & template.preloaded


def fallback(error: Exception) -> None:
    """A kernel could not be forked from the template: drop it (the next notebook starts a
    new one) and say why once; raises in ``on`` mode."""
    global _template
    with _lock:
        if _template is not None:
            _template.close()
            _template = None
    if mode() == "on":
        raise TemplateError(str(error))
    _say_once(f"the kernel template failed ({error}); fresh kernels until it restarts")


def current() -> Template | None:
    """This process's template (None before the first notebook, or without one)."""
    return _template


@atexit.register
def stop() -> None:
    """Stop this process's template (the next notebook starts a new one)."""
    global _template
    with _lock:
        if _template is not None:
            _template.close()
            _template = None
