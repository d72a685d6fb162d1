"""The warm kernel template of a grading worker (``COURSE_SANDBOX_TEMPLATE``).

Importing TensorFlow and Keras costs 6-10 s; every TensorFlow notebook's setup cell paid it
again in a fresh kernel. With the template, each grading worker process starts one template
(:mod:`attention_grader._zygote`, as root, with exactly the kernel's environment) that imports
what the setup cells import and never runs anything else. For each notebook, bubblewrap builds
the sandbox exactly as for a fresh kernel, but runs a *holder* in it instead of the kernel
(:func:`_launch.inner` with ``hold``); the template forks a child that joins the sandbox's
memory cgroup and limits, enters its namespaces and root, drops to its uid and becomes the
kernel (see ``_zygote.py``). The kernel is therefore in the same sandbox as a fresh one, and
the import is paid once per worker, or once per machine for a local cluster (the pages are
shared copy-on-write).

``auto`` (the default) uses the template where it can (root, Linux namespaces, bubblewrap):
it starts in the background at a worker's first notebook, once a run has enough notebooks to
pay for the imports or one that imports TensorFlow (:func:`pays`, :data:`PAYS_AFTER`). Until it
is ready, a notebook that imports TensorFlow or Keras waits for it (a fresh kernel would pay
the same import, on the same cores, at the same time) and the others get fresh kernels; where
it cannot start, or when it fails, grading uses a fresh kernel and says so once. ``on``: every
notebook waits for the template, and a fallback is an error (the tests use it to prove the
template path ran). ``off``: a fresh kernel for every notebook.

The workers of one local cluster share one template (:data:`GROUP`, set by
:class:`workers.Pool`), so the machine imports TensorFlow once, not once per worker: the
coordinator starts it while the cluster's processes start and keeps it for later runs in
the same process (:class:`Offer`); where the coordinator cannot, the first worker that needs
it starts it and the others fork their kernels from it. If the shared one is gone or was
started for another kernel environment, a worker starts its own as before.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import logging
import os
import posixpath
import re
import secrets
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
# What a fresh kernel imports before it runs a cell (stays imported in the kernel): the kernel
# application, then what its start imports (the debugger's debugpy and pydevd, IPython's
# debugger, completer and %store, the history's sqlite3, tornado's asyncio loop: about 40 ms of
# CPU that every forked kernel paid again). The debugger is imported before the home folder is
# on sys.path, and the rest lies in the standard library or in packages already imported, so
# a submission's files cannot replace any of them in a fresh kernel either...
BASE = (
    "runpy",  # (python -m ipykernel_launcher)
    "ipykernel.kernelapp",
    "ipykernel.debugger",
    "IPython.core.debugger",
    "IPython.core.completerlib",
    "IPython.core.logger",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "IPython.utils.wildcard",
    "faulthandler",
    "sqlite3",
    "stringprep",
    "tornado.platform.asyncio",
)
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
# A run whose instructor's notebooks import neither TensorFlow nor Keras outside their
# demonstrations (01 and 02) gets a template without them (:func:`warm_modules`): it starts in
# about 2 s of a core instead of 5. A submission of such a run that imports them anyway
# imports them in its kernel, as a fresh kernel would.
KERAS = ("tensorflow", "keras")
READY_SECONDS = 300  # the imports on a busy machine
# With auto, a template pays for its imports (3-4 s of a core, 650 MB) once a run has about
# this many notebooks: a kernel forked from it saves about 0.45 s over a fresh kernel of a
# notebook without TensorFlow (01's setup cell alone: 0.6 s fresh, 0.16 s forked). In a run
# that does not pay, a worker starts one at its first notebook that imports TensorFlow or
# Keras, at its first notebook once it has given this many fresh kernels, or at once when its
# cluster has one.
PAYS_AFTER = 6
# A notebook that imports one of these waits for a template being started (auto)
WAITED_FOR = re.compile(r"^[ \t]*(?:import|from)[ \t]+(?:tensorflow|keras)\b", re.MULTILINE)
# A folder the workers of one local cluster share their template through (set by
# workers.Pool for the workers it starts; not a setting of the course's)
GROUP = "COURSE_TEMPLATE_GROUP"
READY_FILE = "ready.json"  # in GROUP: the shared template's pid, socket and environment
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


def env_digest(env: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()


class Template:
    """One running template process (its socket folder is root's alone). ``group``: the
    folder of a local cluster's shared template (:data:`GROUP`), whose lock ``lock`` this
    process holds; the template is announced there once it is ready."""

    shared = False  # forked kernels for other workers' notebooks too

    def __init__(
        self,
        env: dict[str, str],
        modules: tuple[str, ...] | None = None,  # None: MODULES
        group: Path | None = None,
        lock: int | None = None,
    ) -> None:
        self.env = dict(env)
        self.group, self._lock = group, lock
        self.warm = MODULES if modules is None else tuple(modules)  # what it imports
        self.tensorflow = set(MODULES) <= set(self.warm)  # all of them: serves any run
        if group is None:
            self.folder = Path(tempfile.mkdtemp(prefix="course-template-"))
            os.chmod(self.folder, 0o700)
            stem = "template"
        else:  # a name of its own: a template ended by its worker removes its own files
            self.folder, stem = group, f"template-{secrets.token_hex(6)}"
            self.shared = True
        self.socket_path = self.folder / f"{stem}.sock"
        self.log_path = self.folder / f"{stem}.log"
        self.started = time.monotonic()
        self.ready_seconds = 0.0
        self.preloaded: frozenset[str] = frozenset()  # top-level modules the kernel would find
        self._stdin = -1
        try:
            self._start(self.warm)
        except BaseException:
            self.close()  # (the process, the pipe, the group's lock: whatever was made)
            raise

    def _start(self, modules: tuple[str, ...]) -> None:
        stdin_read, self._stdin = os.pipe()  # end of file when this process is gone
        try:
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
        finally:
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
        if self.group is not None:
            self.announce(self.group)

    @property
    def pid(self) -> int:
        return self.process.pid

    def serves(self, env: dict[str, str], tensorflow: bool = True) -> bool:
        """Whether it is a template for kernels with environment ``env`` of a run whose
        notebooks import TensorFlow (``tensorflow``); one with it serves a run without it."""
        return self.env == env and (self.tensorflow or not tensorflow)

    def announce(self, group: Path) -> None:
        """Tell the workers of a local cluster where this template is (atomically; the
        caller holds the group's lock)."""
        ready = {
            "pid": self.pid,
            "started": sandbox.started(self.pid),
            "socket": str(self.socket_path),
            "env": env_digest(self.env),
            "preloaded": sorted(self.preloaded),
            "tensorflow": self.tensorflow,
        }
        partial = group / f".{READY_FILE}.{os.getpid()}"
        partial.write_text(json.dumps(ready))
        os.replace(partial, group / READY_FILE)

    def withdraw(self, group: Path) -> None:
        """The workers of ``group`` no longer find this template."""
        try:
            if json.loads((group / READY_FILE).read_text()).get("pid") == self.pid:
                (group / READY_FILE).unlink()
        except (OSError, ValueError):
            pass

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip()
        except OSError:
            text = ""
        return " | ".join(text.splitlines()[-3:]) or self._no_log()

    def _no_log(self) -> str:
        return f"exit status {self.process.poll()}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss(self) -> int:
        try:
            return psutil.Process(self.pid).memory_info().rss
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
        """Stop the template (again: nothing)."""
        if self.group is not None:
            self.withdraw(self.group)  # first: no worker attaches to a template being stopped
        stdin, self._stdin = self._stdin, -1
        if stdin >= 0:
            os.close(stdin)
        process = getattr(self, "process", None)
        if process is not None:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()
        if self.group is None:
            shutil.rmtree(self.folder, ignore_errors=True)
            return
        for path in (self.socket_path, self.log_path):
            path.unlink(missing_ok=True)
        self._release()  # then the lock

    def _release(self) -> None:
        """Give up the group's lock (another worker may start a template then)."""
        if self._lock is not None:
            lock, self._lock = self._lock, None
            os.close(lock)


class Peer(Template):
    """The template another process of the same local cluster started, the coordinator or
    another worker (see :data:`GROUP`): kernels are forked from it the same way; it is that
    process's to stop."""

    shared = True

    def __init__(self, group: Path, ready: dict, env: dict[str, str]) -> None:  # noqa: D107
        self.env, self.group, self.folder = dict(env), group, group
        self.socket_path = group / ready["socket"]  # (an absolute path stays itself)
        self.log_path = self.socket_path.with_suffix(".log")
        self._pid, self._started = int(ready["pid"]), ready["started"]
        self.preloaded = frozenset(ready["preloaded"])
        self.tensorflow = ready.get("tensorflow") is True
        self.ready_seconds = 0.0

    @property
    def pid(self) -> int:
        return self._pid

    def alive(self) -> bool:
        return self._started is not None and sandbox.started(self._pid) == self._started

    def _no_log(self) -> str:
        return "the shared template is gone"

    def close(self) -> None:
        """Forget it (the process that started it stops it)."""


def _shared(group: Path, env: dict[str, str], modules: tuple[str, ...] | None = None) -> Template:
    """The local cluster's template: the one the coordinator (:class:`Offer`) or another
    worker started, once it is ready; started here if none has (this process takes the
    group's lock and keeps it while the template lives). A template of another environment,
    or a dead one whose owner still holds the lock, gives this worker a template of its own."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        lock = os.open(group / "owner.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
        else:
            return Template(env, modules, group=group, lock=lock)  # (the lock is its now)
        try:
            ready = json.loads((group / READY_FILE).read_text())
        except (OSError, ValueError):
            time.sleep(0.1)  # (being started by another worker)
            continue
        peer = Peer(group, ready, env)
        if ready.get("env") != env_digest(env) or not peer.alive():
            return Template(env, modules)
        if not peer.serves(env, modules is None or set(MODULES) <= set(modules)):
            return Template(env, modules)  # (one without TensorFlow, for a run with it)
        return peer
    raise TemplateError("the cluster's shared kernel template was not ready in time")


def warm_modules(tensorflow: bool = True) -> tuple[str, ...]:
    """What a template imports: :data:`MODULES`, without TensorFlow and Keras for a run whose
    notebooks import neither (``tensorflow`` False)."""
    return MODULES if tensorflow else tuple(m for m in MODULES if m not in KERAS)


def _make(env: dict[str, str], tensorflow: bool = True) -> Template:
    modules = warm_modules(tensorflow)
    group = os.environ.get(GROUP, "")
    if group and os.path.isdir(group):
        return _shared(Path(group), env, modules)
    return Template(env, modules)


_lock = threading.Lock()
_template: Template | None = None
_starting: threading.Thread | None = None  # a template being started (auto: in the background)
_start_error = ""
_failed_at = -1e9  # when the last start failed (auto retries after RETRY_SECONDS)
_said: set[str] = set()
_offered_code: str | None = None  # the course's code the last Offer was made for
_offers: set[Offer] = set()  # this process's Offers whose run is not over
starts = 0  # templates started by this process (a restart counts)
fresh_kernels = 0  # notebooks without TensorFlow this process gave fresh kernels (auto)
RETRY_SECONDS = 120.0


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.warning("%s", message)
        print(f"[grader] {message}", file=sys.stderr, flush=True)


def _start(env: dict[str, str], setting: str, tensorflow: bool = True) -> None:
    """Start a template (in the thread :func:`get` made); it becomes this process's."""
    global _template, _start_error, _failed_at, starts
    try:
        made = _make(env, tensorflow)
    except (OSError, TemplateError) as error:
        with _lock:
            _start_error, _failed_at = str(error), time.monotonic()
        if setting != "on":
            _say_once(f"{error}; fresh kernels until it starts")
        return
    with _lock:
        if _template is not None and _template.alive() and _template.serves(env, tensorflow):
            made.close()  # (another start won)
            return
        if _template is not None:  # (dead, or one that serves other kernels)
            _template.close()
        _template = made
        starts += not isinstance(made, Peer)


def worth_waiting(notebook: Any) -> bool:
    """Whether a code cell of ``notebook`` that grading runs imports TensorFlow or Keras (with
    ``auto``, such a notebook waits for a template being started rather than import them in a
    fresh kernel). An unchanged demonstration, which is not run (01's Keras cell), imports
    nothing."""
    from .executor import SKIP_KEY

    for cell in notebook.get("cells", []):
        metadata = cell.get("metadata")
        if isinstance(metadata, dict) and metadata.get(SKIP_KEY):
            continue
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            if not isinstance(source, str):  # (lines; anything else is no import)
                source = "".join(line for line in source if isinstance(line, str))
            if WAITED_FOR.search(source):
                return True
    return False


def pays(tensorflow: bool, notebooks: int) -> bool:
    """Whether a run of ``notebooks`` notebooks (``tensorflow``: one of them imports it) is
    worth a template started for it (``on``: always; ``off``: never)."""
    setting = mode()
    return setting == "on" or (setting == "auto" and (tensorflow or notebooks >= PAYS_AFTER))


def _offered() -> bool:
    """Whether this worker's cluster has a template, ready or being started (its group's lock
    was taken: by the coordinator's :class:`Offer` or a worker's own start): taking it is
    free, so :func:`get` does at once (:func:`_shared` waits for it, or starts this worker's
    own if it serves other kernels)."""
    group = os.environ.get(GROUP, "")
    return bool(group) and (Path(group) / "owner.lock").exists()


def get(
    env: dict[str, str], wait: bool = False, pays: bool = True, tensorflow: bool = True
) -> Template | None:
    """This worker's template for kernels with environment ``env``, or None: a fresh kernel
    (why is said once). ``tensorflow``: the run's notebooks import TensorFlow or Keras (False:
    a template without them will do, :func:`warm_modules`; one with them is kept if it runs).
    A missing or dead template is started (or restarted): with ``on`` this notebook waits for
    it; with ``auto`` it starts in the background and notebooks get fresh kernels until it is
    ready, so a run of a few notebooks never waits for the imports (notebooks 01 and 02 do
    not import TensorFlow at all), except with ``wait``
    (:func:`worth_waiting`): then the notebook waits for it too, and gets a fresh kernel only
    if it fails. With ``auto`` and not ``pays`` (a run too small, :func:`pays`), a notebook
    without TensorFlow starts none before this process gave :data:`PAYS_AFTER` fresh kernels,
    unless its cluster has one (:func:`_offered`)."""
    global _template, _starting, fresh_kernels
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
        if (
            _template is not None
            and any(not offer.tensorflow for offer in _offers)
            and _template.alive()
            and _template.serves(env, tensorflow=False)
        ):  # (offered to a run without TensorFlow, or being started for it: kept for the
            # run's workers; a kernel that imports TensorFlow imports it)
            return _template
        if _template is not None and (
            not _template.alive() or not _template.serves(env, tensorflow)
        ):
            _template.close()
            _template = None
        if _template is not None:
            return _template
        if setting == "auto" and not (wait or pays) and _starting is None and not _offered():
            if fresh_kernels < PAYS_AFTER:  # (not yet worth one; once started, restarted)
                fresh_kernels += 1
                return None
        retry = setting == "on" or time.monotonic() - _failed_at > RETRY_SECONDS
        if (_starting is None or not _starting.is_alive()) and retry:
            _starting = threading.Thread(
                target=_start,
                args=(env, setting, tensorflow),
                name="kernel-template",
                daemon=True,
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
    if template.serves(env, tensorflow):
        return template
    return get(env, wait, pays, tensorflow)  # (started for other kernels)


class Offer:
    """The coordinator of a local cluster offers its workers this process's template (see
    :data:`GROUP`): as the cluster starts it takes the group's lock, so no worker starts one,
    starts the template in the background (or keeps the one it has, e.g. from an earlier
    run in the same process), and announces it once it is ready; the workers fork their
    kernels from it. If it cannot start, the lock is given up and the first worker that
    needs a template starts one. :meth:`close` at the end of the run withdraws it; the
    template stays this process's (the next run's workers find it ready). ``tensorflow``: the
    run's notebooks import TensorFlow (False: a template without it will do, see :func:`get`)."""

    def __init__(
        self,
        group: Path,
        env: dict[str, str],
        code: str | None = None,
        tensorflow: bool = True,
    ) -> None:
        global _offered_code
        self.group, self.env, self.tensorflow = group, dict(env), tensorflow
        self.template: Template | None = None
        self._lock: int | None = None
        self._closed = False
        self._mutex = threading.Lock()
        self.thread: threading.Thread | None = None
        if _offered_code is not None and code != _offered_code:
            stop()  # the course's code changed since this process's last run: a new template
        _offered_code = code
        if mode() == "off" or unavailable() is not None:
            return  # (each worker says why once)
        lock = os.open(group / "owner.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            return
        self._lock = lock
        with _lock:
            _offers.add(self)
        self.thread = threading.Thread(target=self._announce, name="template-offer", daemon=True)
        self.thread.start()

    def _announce(self) -> None:
        try:
            template = get(self.env, wait=True, tensorflow=self.tensorflow)
        except Exception:  # noqa: BLE001 - whatever failed, the lock must not stay held
            template = None
        with self._mutex:
            if self._closed or template is None or isinstance(template, Peer):
                self._release()  # (a run that ended first: the template stays for the next)
                return
            try:
                template.announce(self.group)
            except OSError:
                self._release()  # (the workers start their own)
                return
            self.template = template

    def _release(self) -> None:
        if self._lock is not None:
            lock, self._lock = self._lock, None
            os.close(lock)

    def close(self) -> None:
        """The run is over: withdraw the template (it stays this process's)."""
        with self._mutex:
            self._closed = True
            if self.template is not None:
                self.template.withdraw(self.group)
            self._release()
        with _lock:
            _offers.discard(self)


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


def kept() -> bool:
    """Whether this process has a template of its own running (not a cluster's)."""
    template = _template
    return template is not None and not isinstance(template, Peer) and template.alive()


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
