"""Execute one notebook in a sandbox: all that a grading worker does.

:func:`execute` takes a :class:`Job` (the notebook with its hidden tests restored, the
submission's other files, the inputs of the hidden checks, the limits) and returns a
:class:`Result` (the executed notebook and what happened). It needs nothing of the course
root, so it runs the same in the grader's own process, in a local Dask worker or on another
machine. Nothing in the notebook is judged here: the verdicts are given by the grader, from
the values the hidden checks reported.

A report (an output of type :data:`wire.MIME`) is kept only if it is shown by a test cell
while that very cell runs (the cell's ``grade_id`` is the report's ``check``); one shown from
any other cell is dropped and counts against the output limit. No output can be changed
once it is shown: ``update_display_data`` messages are dropped and display ids are removed
before nbclient sees them (nbclient would otherwise rewrite every earlier output with the
same id, in any cell).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import nbformat
import psutil
import zmq
from jupyter_core.utils import ensure_async
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from attention_course import probe, wire

from . import cells, compat_kernel, sandbox, zygote
from .sandbox import Layout, Limits

LOCKED_CELL_SECONDS = 300  # instructor code (the setup cell) may take long on a busy machine
CELL_GRACE_SECONDS = 30  # after a timeout interrupt, before the kernel is killed
MAX_MESSAGE_BYTES = 64 * 1024**2  # one ZeroMQ message from the kernel
RECEIVE_QUEUE = 4  # messages from the kernel held by each socket before they are read
LOG_TAIL_BYTES = 4000
LOG_KEEP_BYTES = 64 * 1024  # of the kernel's own stdout/stderr, read through a pipe
OUTPUT_KINDS = ("stream", "display_data", "execute_result", "error")
SKIP_KEY = "course_grading_skip"  # cell metadata: do not execute (see nbgrader_ext)
SETUP_CELL = "setup"  # grade id of each notebook's setup cell (the instructor's imports)
WORKING_FOLDER_ON_PATH = (  # silent, once the sandbox is sealed: '' where IPython puts it
    "(lambda app: (setattr(app, 'ignore_cwd', False), app.init_path()))"
    "(__import__('ipykernel.kernelapp').kernelapp.IPKernelApp.instance())"
)


@dataclass
class Job:
    """One notebook to execute. ``files`` are the submission's other files (never a
    notebook); ``cases`` the wire-encoded inputs of the notebook's hidden checks."""

    key: str  # "<student>/<assignment>/<notebook>", for logs and reports
    notebook: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    student_files: tuple[str, ...] = ()  # which of ``files`` the student handed in
    cases: Any = None
    limits: Limits = field(default_factory=Limits.from_env)
    mode: str = "autograde"  # NBGRADER_EXECUTION inside the kernel
    isolated: bool = True  # False only with --unsafe-no-sandbox: a plain kernel, no limits
    # the run is worth a kernel template (zygote.pays); False: with auto, this notebook starts
    # none unless it imports TensorFlow or its process gave zygote.PAYS_AFTER fresh kernels
    template_pays: bool = True
    # the run's notebooks import TensorFlow or Keras (False: a template without them will do,
    # zygote.warm_modules; a notebook that imports them anyway imports them in its kernel)
    template_tensorflow: bool = True


@dataclass
class Result:
    """What came of a :class:`Job`. ``status`` is ``ok`` when every cell ran (cells may
    still have failed); otherwise ``kernel-died``, ``kernel-misbehaved`` (it sent a message the
    grader could not process), ``over-memory``, ``timed-out``, ``sandbox-failed``, or
    ``submission-files`` (the kernel did not start or the setup cell failed because of the
    student's files, see :func:`execute`), with ``reason`` in words and ``log`` the kernel's
    own last output."""

    key: str
    notebook: dict[str, Any]
    status: str = "ok"
    reason: str = ""
    log: str = ""
    events: list[str] = field(default_factory=list)  # cell timeouts, truncated output
    seconds: float = 0.0
    kernel_start_seconds: float = 0.0
    cell_seconds: dict[int, float] = field(default_factory=dict)
    host: str = field(default_factory=socket.gethostname)
    worker_pid: int = field(default_factory=os.getpid)  # the process that ran the notebook
    input_digest: str = ""  # set by the caller: which notebook was executed
    memory_guard: str = ""  # how the memory limit was enforced (sandbox.memory_enforcement)
    memory_peak: int = 0  # the sandbox cgroup's peak memory in bytes (0 without a cgroup)
    cgroup_seconds: float = 0.0  # time to set up and remove the sandbox's cgroup
    kernel_from: str = "fresh"  # "template": forked from the worker's warm template (zygote)
    template_rss: int = 0  # the template's resident memory in bytes (0 without one)
    template_pid: int = 0  # which template (the workers of a local cluster share one)


class SandboxKernelClient(
    compat_kernel.SocketLimitClient,
    compat_kernel.NoHeartbeatClient,
    compat_kernel.PromptReadyClient,
):
    """A kernel client that refuses messages over :data:`MAX_MESSAGE_BYTES`, has no
    heartbeat (the manager says whether the kernel lives), is ready
    without waiting for silence on IOPub, and connects within 5 ms of the kernel's sockets
    being bound. The client connects as soon as the kernel's process exists, before the
    kernel has bound its sockets; ZeroMQ then tried again only after 100 ms. A kernel from
    the template binds its sockets about 35 ms after it is forked, so every notebook waited
    for about 100 ms of nothing: measured, a kernel answered its first request 180 ms after
    the client's, 34 ms with this (one template, 15 notebooks)."""

    reconnect_ms = 5

    def socket_options(self) -> dict[int, int]:
        # RCVHWM: the messages it holds before it reads them (ZeroMQ's default: 1000). A
        # kernel sending 60 MiB messages as fast as it could made the grader hold 9.6 GB
        # with 1000, 544 MB with 4 (a reviewing helper's attack, 15 s); the rest waits in
        # the kernel's own queue (its memory), which drops what is over its own 1000.
        return {
            **super().socket_options(),
            zmq.MAXMSGSIZE: MAX_MESSAGE_BYTES,
            zmq.RCVHWM: RECEIVE_QUEUE,
        }


class LogTail(threading.Thread):
    """Reads the kernel's own stdout and stderr from a pipe and keeps only their last
    :data:`LOG_KEEP_BYTES` (nothing of it is written to a file)."""

    def __init__(self, fd: int, keep: int = LOG_KEEP_BYTES) -> None:
        super().__init__(daemon=True)
        self.fd, self.keep, self.total = fd, keep, 0
        self._buffer = bytearray()
        self._lock = threading.Lock()

    def run(self) -> None:
        try:
            while chunk := os.read(self.fd, 1 << 16):
                with self._lock:
                    self.total += len(chunk)
                    self._buffer += chunk
                    if len(self._buffer) > 2 * self.keep:
                        del self._buffer[: -self.keep]
        except OSError:
            pass
        finally:
            os.close(self.fd)

    def text(self, size: int = LOG_TAIL_BYTES) -> str:
        with self._lock:
            return bytes(self._buffer[-size:]).decode("utf-8", "replace")


class SandboxKernelManager(compat_kernel.HookedKernelManager):
    """Starts the kernel inside :mod:`sandbox`, talking over Unix sockets in its ipc folder."""

    def __init__(
        self,
        layout: Layout,
        limits: Limits,
        env: dict[str, str],
        guard: sandbox.MemoryGuard | None = None,
        template: zygote.Template | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            transport="ipc",
            ip=str(layout.ipc_dir / "kernel"),
            connection_file=str(layout.ipc_dir / "kernel.json"),
            client_class="attention_grader.executor.SandboxKernelClient",
            session=compat_kernel.CostLimitedSession(),  # (its client's session too)
            **kwargs,
        )
        # a message costing more than the largest output budget could never be kept: it is
        # not parsed, and the notebook stops as for a message the grader cannot process
        # (its lists and objects counted as the budgets count them, _json_cost)
        self.session.max_cost = 4 * limits.output_bytes  # (the reports' budget, see _Client)
        self.session.container_cost = CONTAINER_COST
        self.layout, self.limits, self.sandbox_env, self.guard = layout, limits, env, guard
        self.kernel_output: LogTail | None = None
        self.template = template if layout.isolated else None
        self.kernel_args: list[str] = []
        self.forked = False  # the kernel came from the template
        self.template_error: Exception | None = None

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        if self.layout.uid is not None:  # the kernel runs as the sandbox's own user
            os.chown(self.connection_file, self.layout.uid, self.layout.uid)

    def before_interrupt(self) -> None:
        # A signal would reach bubblewrap, not the kernel: ask the kernel itself instead.
        assert self.kernel_spec is not None
        self.kernel_spec.interrupt_mode = "message"

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        argv = super().format_kernel_cmd(extra_arguments)
        if not self.layout.isolated:
            return argv
        if self.template is None:
            return sandbox.command(self.layout, self.limits, self.sandbox_env, argv, self.guard)
        if argv[1:3] != ["-m", "ipykernel_launcher"]:
            self.template_error = zygote.TemplateError(f"not an IPython kernel: {argv[:3]}")
            raise self.template_error
        self.kernel_args = argv[3:]  # the template's child becomes this kernel
        hold = str(self.layout.ipc_dir / "hold")
        return sandbox.command(
            self.layout, self.limits, self.sandbox_env, argv, self.guard, hold=hold
        )

    @contextlib.contextmanager
    def launch_options(self, kw: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if self.layout.isolated:
            kw.update(
                cwd=str(self.layout.root), env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            )
        else:  # --unsafe-no-sandbox: the grader's own environment, files in a temp folder
            env = {**os.environ, **self.sandbox_env}
            env.update(HOME=os.environ.get("HOME", "/tmp"), TMPDIR=tempfile.gettempdir())
            env.pop("MPLCONFIGDIR", None)
            env[probe.CASES_ENV] = str(self.layout.stage_dir / "cases.json")
            kw.update(cwd=str(self.layout.stage_dir / "files"), env=env)
        read_end, write_end = os.pipe()
        self.kernel_output = LogTail(read_end)
        self.kernel_output.start()
        kw.update(stdout=write_end, stderr=write_end)
        try:
            yield kw
            if self.template is not None:
                try:
                    self._fork_kernel(self.template, write_end)
                    self.forked = True
                except (OSError, psutil.Error, zygote.TemplateError) as error:
                    self.template_error = error
                    raise
        finally:
            os.close(write_end)  # the kernel's processes hold the only other copies

    def _holder(self, timeout: float = 60.0) -> int:
        """The host pid of the holder bubblewrap runs in the sandbox, once its FIFO is open."""
        assert self.process is not None
        fifo = self.layout.ipc_dir / "hold"
        deadline = time.monotonic() + timeout
        while not fifo.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise zygote.TemplateError(
                    f"the sandbox ended before it was ready for the kernel "
                    f"(exit status {self.process.poll()})"
                )
            time.sleep(0.005)
        own = os.readlink("/proc/self/ns/pid")
        for proc in psutil.Process(self.process.pid).children(recursive=True):
            with contextlib.suppress(OSError, psutil.Error):
                if (
                    os.readlink(f"/proc/{proc.pid}/ns/pid") != own
                    and proc.uids().real == self.layout.uid
                ):
                    return proc.pid
        raise zygote.TemplateError("the sandbox's holder process was not found")

    def _fork_kernel(self, template: zygote.Template, log_fd: int) -> None:
        request = {
            **sandbox.rlimits(self.layout, self.limits),
            "cgroup_procs": self.guard.procs_files if self.guard is not None else [],
            "holder": self._holder(),
            "fifo": str(self.layout.ipc_dir / "hold"),
            "uid": self.layout.uid,
            "home": sandbox.HOME,
            "env": self.sandbox_env,
            "args": self.kernel_args,
        }
        template.spawn(request, log_fd)

    def close_log(self) -> str:
        """The last lines of the kernel's own output (once its processes are gone)."""
        if self.kernel_output is None:
            return ""
        self.kernel_output.join(timeout=2.0)
        return self.kernel_output.text()

    @property
    def sandbox_pid(self) -> int | None:
        return None if self.process is None else self.process.pid


OUTPUT_COST = 256  # bytes charged per displayed output besides its data: each is an object
CONTAINER_COST = 64  # per list or dict in a JSON value: what it costs once parsed, not its text
MAX_DISPLAYS = 10_000  # displayed outputs per notebook (prints merge into one stream output)


def _json_cost(value: Any) -> int:
    """What a JSON value costs the grader: its text, and every list and dict in it (``[[]] *
    7_000_000`` is 21 MB of text but gigabytes of objects once parsed)."""
    text = json.dumps(value, default=str)
    return len(text) + CONTAINER_COST * (text.count("[") + text.count("{"))


def _size(msg: dict[str, Any]) -> int:
    content = msg.get("content") or {}
    if msg["msg_type"] == "stream":
        return len(str(content.get("text", "")))
    data = content.get("data") or {}
    if not isinstance(data, dict):
        return OUTPUT_COST + _json_cost(data)
    return (
        OUTPUT_COST
        + sum(len(v) if isinstance(v, str) else _json_cost(v) for v in data.values())
        + len(json.dumps(content.get("traceback", []), default=str))
    )


def _own_report(cell: Any, payload: Any) -> bool:
    """Whether ``payload`` (a report) is one the running ``cell`` may show: the cell is a
    test cell and the report names it."""
    return (
        cells.is_grade(cell)
        and not cells.is_solution(cell)
        and isinstance(payload, dict)
        and payload.get("check") == cells.grade_id(cell)
    )


class _Client(NotebookClient):
    """nbclient with output budgets and per-cell bookkeeping for the watchdog."""

    def __init__(self, nb: Any, km: SandboxKernelManager, limits: Limits) -> None:
        super().__init__(
            nb,
            km=km,
            timeout=limits.cell_seconds,
            interrupt_on_timeout=True,
            allow_errors=True,
            store_widget_state=False,
            record_timing=False,
            startup_timeout=120,
            iopub_timeout=10,
            raise_on_iopub_timeout=False,
            # The working folder (the submission's files) is not on sys.path while the
            # kernel starts: nothing a student named storemagic.py runs before the sandbox
            # is sealed. IPython's own init_path puts it back after (WORKING_FOLDER_ON_PATH).
            extra_arguments=[
                "--HistoryManager.hist_file=:memory:",
                "--IPKernelApp.ignore_cwd=True",
            ],
            skip_cells_with_tag=compat_kernel.never_skip_tag(),  # no tag skips a cell
            timeout_func=self._cell_timeout,
            error_on_timeout={
                "ename": "CellTimeoutError",
                "evalue": f"the cell ran longer than {limits.cell_seconds} s and was interrupted",
                "traceback": [
                    f"CellTimeoutError: the cell ran longer than "
                    f"{limits.cell_seconds} s and was interrupted"
                ],
            },
        )
        self.limits = limits
        self.budget = {
            "output": limits.output_bytes,
            "report": 4 * limits.output_bytes,
            "displays": MAX_DISPLAYS,
        }
        self.events: list[str] = []
        self.misbehaved = ""  # why the kernel's last message could not be processed
        self.current: tuple[int, float] | None = None  # (cell index, start) of the running cell
        self.on_cell_execute = self._started
        self.on_cell_executed = self._finished
        self.cell_seconds: dict[int, float] = {}
        self.misplaced_reports = 0  # reports shown outside their own test cell (dropped)

    def _cell_timeout(self, cell: Any) -> int:
        if cells.is_locked(cell) and not cells.is_grade(cell) and not cells.is_solution(cell):
            return max(self.limits.cell_seconds, LOCKED_CELL_SECONDS)
        return self.limits.cell_seconds

    def _started(self, cell: Any, cell_index: int) -> None:
        self.current = (cell_index, time.monotonic())

    def _finished(self, cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        if self.current is not None:
            self.cell_seconds[cell_index] = round(time.monotonic() - self.current[1], 3)
        self.current = None
        content = execute_reply.get("content", {})
        if content.get("status") == "error" and not any(
            o.get("output_type") == "error" and o.get("ename") == content.get("ename")
            for o in cell.outputs
        ):
            cell.outputs.append(
                nbformat.v4.new_output(
                    "error",
                    ename=content.get("ename", "Error"),
                    evalue=content.get("evalue", ""),
                    traceback=content.get("traceback") or [f"{content.get('ename')}"],
                )
            )
        if content.get("ename") == "CellTimeoutError":
            self.events.append(f"cell {cell_index} timed out after {self._cell_timeout(cell)} s")

    def _spend(self, pool: str, size: int, cell: Any) -> bool:
        """Take ``size`` from the budget ``pool``; False (and a note, once) when it is spent."""
        self.budget[pool] -= size
        if self.budget[pool] >= 0:
            return True
        if pool not in {e.split(":")[0] for e in self.events}:
            limit = (
                f"{MAX_DISPLAYS} displayed outputs"
                if pool == "displays"
                else f"{self.limits.output_bytes} bytes"
            )
            self.events.append(f"{pool}: more than the output limit, the rest was dropped")
            cell.outputs.append(
                nbformat.v4.new_output(
                    "stream",
                    name="stdout",
                    text=f"[grader] output beyond the limit of {limit} was dropped\n",
                )
            )
        return False

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        kind = msg["msg_type"]
        content = msg.get("content")
        if not isinstance(content, dict):
            return None
        if kind == "update_display_data":  # no output ever changes once shown
            self._spend("output", _size(msg), cell)
            return None
        if kind.startswith("comm"):
            return None  # widgets: no state is kept while grading
        if kind in OUTPUT_KINDS:
            if "transient" in content:  # no display id: nothing may rewrite this output later
                content = {k: v for k, v in content.items() if k != "transient"}
                msg = {**msg, "content": content}
            data = content.get("data")
            pool = "output"
            if isinstance(data, dict) and wire.MIME in data:
                if kind == "display_data" and _own_report(cell, data[wire.MIME]):
                    pool = "report"
                else:  # a report outside its own test cell: dropped, and it costs output
                    self.misplaced_reports += 1
                    if self.misplaced_reports == 1:
                        self.events.append(
                            f"cell {cell_index} showed a report of the hidden checks outside "
                            "its own test cell; it was dropped"
                        )
                    self._spend("output", _size(msg), cell)
                    return None
            if not self._spend(pool, _size(msg), cell):
                return None
            if kind != "stream" and not self._spend("displays", 1, cell):
                return None
        return super().process_message(msg, cell, cell_index)


def memory_reason(limits: Limits) -> str:
    """Why a sandbox stopped by its memory cgroup was stopped."""
    return (
        f"the notebook ran out of memory, over the limit of "
        f"{limits.memory_bytes / 1024**3:.1f} GiB (files in /tmp, /dev/shm and the home "
        "folder count as memory); the operating system stopped it"
    )


class _Watchdog(threading.Thread):
    """Kills the sandbox when it uses too much memory or time. With a memory cgroup the
    operating system enforces the memory limit and the watchdog stops the whole sandbox once
    the OOM killer has stopped any of its processes; without one, it counts resident memory
    and the sandbox's tmpfs usage itself."""

    def __init__(
        self,
        km: SandboxKernelManager,
        client: _Client,
        limits: Limits,
        guard: sandbox.MemoryGuard | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.km, self.client, self.limits = km, client, limits
        self.guard = guard or sandbox.MemoryGuard("watchdog", limits.memory_bytes)
        self.started = time.monotonic()
        self.kill_status: tuple[str, str] | None = None
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def _kill(self, status: str, reason: str) -> None:
        if self.kill_status is None:
            self.kill_status = (status, reason)
        kill_tree(self.km.sandbox_pid)

    def run(self) -> None:
        while not self._halt.wait(0.2):
            pid = self.km.sandbox_pid
            if pid is None:
                continue
            over = self._memory_over(pid)
            if over:
                self._kill("over-memory", over)
            elif time.monotonic() - self.started > self.limits.notebook_seconds:
                self._kill(
                    "timed-out",
                    f"the notebook ran longer than {self.limits.notebook_seconds} s in all",
                )
            elif self.client.current is not None:
                index, start = self.client.current
                limit = self.client._cell_timeout(self.client.nb.cells[index])
                if time.monotonic() - start > limit + CELL_GRACE_SECONDS:
                    self._kill(
                        "timed-out",
                        f"cell {index} kept running after its {limit} s timeout and an interrupt",
                    )

    def _memory_over(self, pid: int) -> str | None:
        limit = self.limits.memory_bytes
        if self.guard.enforced:
            return memory_reason(self.limits) if self.guard.oom_kills() > 0 else None
        held = tmpfs_usage(pid) if self.km.layout.isolated else 0
        used = held + tree_memory(pid, max(limit - held, 0))
        if used <= limit:
            return None
        return (
            f"the notebook used {used / 1024**3:.1f} GiB of memory, over the limit of "
            f"{limit / 1024**3:.1f} GiB"
            + (f" ({held / 1024**3:.1f} GiB of it in /tmp, /dev/shm and home)" if held else "")
        )


def tmpfs_usage(pid: int) -> int:
    """Bytes held in the sandbox's tmpfs mounts (:data:`sandbox.TMPFS_MOUNTS`), read from the
    host through ``/proc/<pid>/root`` of a process inside the sandbox's mount namespace."""
    try:
        own = os.readlink("/proc/self/ns/mnt")
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except (psutil.Error, OSError):
        return 0
    for proc in procs:
        try:
            if os.readlink(f"/proc/{proc.pid}/ns/mnt") != own:
                break
        except OSError:
            continue
    else:
        return 0
    total = 0
    for mount in sandbox.TMPFS_MOUNTS:
        try:
            stat = os.statvfs(f"/proc/{proc.pid}/root{mount}")
        except OSError:
            continue
        total += (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    return total


def tree_memory(pid: int, limit: int) -> int:
    """Memory of a process and all its descendants (0 if it is gone). Resident memory is cheap
    to read and is read every time; only above ``limit`` the proportional set size is read as
    well (slow for big processes), so that pages forked processes share count once."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = _sum_memory(procs, lambda p: p.memory_info().rss)
    if total > limit:
        total = _sum_memory(procs, lambda p: p.memory_full_info().pss)
    return total


def _sum_memory(procs: list[psutil.Process], read: Any) -> int:
    total = 0
    for proc in procs:
        try:
            total += read(proc)
        except psutil.Error:
            pass
    return total


REAP_SECONDS = 5.0  # (a kernel of 700 MB is reaped in tens of milliseconds)


def kill_tree(pid: int | None, timeout: float = 10.0) -> None:
    """SIGKILL a sandbox's processes: the init of its PID namespace first (every other process
    of the namespace dies with it), then the outer process and, in case a process escaped the
    namespace, every descendant; wait until they are gone.

    The init (bubblewrap's own, or the holder of a kernel from the template) is the outer
    process's child, and bubblewrap, still alive, reaps it: killed together, it would be left
    as a zombie to the machine's init (with the sandbox's uid, for the holder), gone only when
    that init gets round to it. (At most :data:`REAP_SECONDS` are spent waiting for that.)"""
    if pid is None:
        return
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    start = time.monotonic()
    inits = [p for p in procs[1:] if _init_below(p, root)]
    for group, gone, deadline in (
        (inits, _reaped, start + min(timeout, REAP_SECONDS)),
        (procs, lambda p: not _alive(p), start + timeout),
    ):
        for proc in group:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        while group and time.monotonic() < deadline:
            group = [p for p in group if not gone(p)]
            if group:  # a kernel is gone within about 10 ms: look often at first
                time.sleep(0.002 if time.monotonic() < start + 0.2 else 0.02)


def _init_below(proc: psutil.Process, parent: psutil.Process) -> bool:
    """Whether ``proc`` is ``parent``'s child and the init of a PID namespace of its own."""
    try:
        if proc.ppid() != parent.pid:
            return False
        return os.readlink(f"/proc/{proc.pid}/ns/pid") != os.readlink(f"/proc/{parent.pid}/ns/pid")
    except (OSError, psutil.Error):
        return False


def _reaped(proc: psutil.Process) -> bool:
    return not proc.is_running()  # (a zombie still runs: its parent has not reaped it)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _stage(layout: Layout, job: Job) -> None:
    for name, data in job.files.items():
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            continue  # never write outside the stage folder
        target = layout.stage_dir / "files" / Path(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (layout.stage_dir / "cases.json").write_text(json.dumps(job.cases or {}), encoding="utf-8")


def _not_run(cell: Any, reason: str) -> None:
    if (
        cell.get("cell_type") == "code"
        and cell.get("source", "").strip()
        and not any(o.get("output_type") == "error" for o in cell.get("outputs", []))
    ):
        cell.setdefault("outputs", []).append(
            nbformat.v4.new_output(
                "error", ename="NotRun", evalue=reason, traceback=[f"NotRun: {reason}"]
            )
        )


RESOURCE_ERRORS = (  # (text in an error output, what the report says)
    ("No space left on device", "ran out of disk space (limit {disk})"),
    ("File too large", "wrote a file over the size limit ({disk})"),
    ("Resource temporarily unavailable", "reached the process limit ({processes})"),
    ("MemoryError", "ran out of memory (limit {memory})"),
)


def resource_events(nb: Any, limits: Limits) -> list[str]:
    """What the cells' errors say about the sandbox's limits (each at most once)."""
    sizes = {
        "disk": f"{limits.disk_bytes / 1024**2:.0f} MiB",
        "processes": limits.processes,
        "memory": f"{limits.memory_bytes / 1024**3:.1f} GiB",
    }
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            text = f"{output.get('ename')}: {output.get('evalue')}"
            for needle, event in RESOURCE_ERRORS:
                message = event.format(**sizes)
                if needle in text and not any(message in f for f in found):
                    found.append(f"cell {index} {message}")
    return found


async def _run(client: _Client, result: Result) -> int | None:
    """Execute every cell; return the index of the cell during which the kernel died."""
    started = time.monotonic()
    async with client.async_setup_kernel():
        result.kernel_start_seconds = round(time.monotonic() - started, 3)
        assert client.kc is not None
        await client.async_wait_for_reply(await ensure_async(client.kc.kernel_info()))
        client.km.layout.seal()  # before any student code runs
        await client.async_wait_for_reply(
            client.kc.execute(WORKING_FOLDER_ON_PATH, silent=True, store_history=False)
        )
        for index, cell in enumerate(client.nb.cells):
            if cell.get("metadata", {}).get(SKIP_KEY):  # unchanged demonstration: nothing
                cell.outputs = [
                    nbformat.v4.new_output(  # graded depends on it
                        "stream",
                        name="stdout",
                        text="[grader] a demonstration, not run while grading\n",
                    )
                ]
                continue
            try:
                await client.async_execute_cell(
                    cell, index, execution_count=client.code_cells_executed + 1
                )
            except DeadKernelError:
                return index
            except (zmq.ZMQError, OSError):  # the grader's side (sockets, files): not the kernel
                raise
            except Exception as error:  # noqa: BLE001 - see below
                # The client only reads what the kernel sends, signed with the kernel's key:
                # a message it cannot decode or process (JSON nested 100,000 deep, content of
                # the wrong type) was forged by the code running in the kernel, the student's.
                # Like a kernel that died: stopped here, later cells not run. (Not a fault of
                # the environment, which a submission could otherwise claim forever.)
                client.misbehaved = f"{type(error).__name__}: {str(error)[:200]}"
                return index
    return None


def execute(job: Job) -> Result:
    """Run ``job.notebook`` top to bottom in a fresh sandbox and return what happened. The
    kernel is forked from the worker's warm template when there is one (see :mod:`zygote`);
    if that fails before any cell ran, the notebook runs again with a fresh kernel.

    A kernel that could not start, or a setup cell (the instructor's code) that failed, is a
    fault of the environment, unless the student's files caused it: a file the setup cell's
    imports pick up from the working folder (a ``matplotlibrc`` that is not UTF-8, a module
    named like one a library imports if it is there). So such a notebook runs once more
    without the student's files, and if its setup cell passes then, once more with them: only
    a failure that repeats with the files and not without them blames the files (status
    ``submission-files``, the student's, not the environment's). A passing fault (a busy
    worker) is never blamed on the student: the second run with the files is the result
    then. A setup cell that ran out of time, or a template that failed, is never the files'."""
    result = _execute_once(job)
    if not (job.student_files and _files_may_be_to_blame(result)):
        return result
    student = set(job.student_files)
    control = _execute_once(
        dataclasses.replace(
            job, files={k: v for k, v in job.files.items() if k not in student}, student_files=()
        )
    )
    if _setup_failed(control):
        return result  # it fails without the student's files too: the environment's
    again = _execute_once(job)
    if not _files_may_be_to_blame(again):
        return again  # a passing fault: this run is the notebook's result
    what = (
        "the kernel could not start"
        if again.status == "sandbox-failed"
        else "the setup cell failed"
    )
    again.status = "submission-files"
    again.reason = (
        f"{what} with the files this submission brought (twice), and not without them: a "
        "file named like something Python or a library loads from the working folder "
        f"({_shown_names(job.student_files)}); rename or remove it"
    )
    return again


def _files_may_be_to_blame(result: Result) -> bool:
    """The kernel died before it answered, or the setup cell raised (not a timeout)."""
    if result.status == "sandbox-failed":
        return "Kernel died" in result.reason
    # (a timeout: the kernel's KeyboardInterrupt, then the grader's CellTimeoutError)
    errors = [output.get("ename") for output in setup_errors(result.notebook)]
    return result.status == "ok" and bool(errors) and "CellTimeoutError" not in errors


def _replace_surrogates(nb: Any) -> bool:
    """Replace, in the outputs, the lone surrogates the kernel sent (a kernel may escape its
    own JSON: ``"\\ud800"``), which no notebook file can hold: nbgrader could not write the
    notebook, and the submission would fail at every run. Whether any was found."""
    try:
        json.dumps([c.get("outputs", []) for c in nb.cells], ensure_ascii=False).encode()
        return False
    except UnicodeEncodeError:
        pass

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return value.encode("utf-8", "replace").decode("utf-8")
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return nbformat.NotebookNode({clean(k): clean(v) for k, v in value.items()})
        return value

    for cell in nb.cells:
        if "outputs" in cell:
            cell.outputs = clean(cell.outputs)
    return True


def setup_errors(nb: Any) -> list[Any]:
    """The error outputs of a notebook's setup cell."""
    return [
        output
        for cell in nb.get("cells", [])
        if cells.grade_id(cell) == SETUP_CELL
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]


def _setup_failed(result: Result) -> bool:
    """The kernel did not start, or the setup cell raised."""
    return result.status == "sandbox-failed" or bool(setup_errors(result.notebook))


def _shown_names(names: tuple[str, ...], most: int = 8) -> str:
    shown = ", ".join(repr(n)[1:-1] for n in sorted(names)[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _execute_once(job: Job) -> Result:
    template = None
    if job.isolated:
        try:
            template = zygote.get(
                kernel_env(job),
                wait=zygote.worth_waiting(job.notebook),
                pays=job.template_pays,
                tensorflow=job.template_tensorflow,
            )
        except zygote.TemplateError as error:  # COURSE_SANDBOX_TEMPLATE=on
            return _failed(job, error)
    if template is not None and zygote.shadows(template, job.files):
        template = None  # the submission's own absl.py must win, as in a fresh kernel
    result, km = _execute(job, template)
    if template is not None and km is not None and km.template_error is not None:
        try:
            zygote.fallback(km.template_error)
        except zygote.TemplateError as error:
            return _failed(job, error)
        result, _ = _execute(job, None)
    return result


def kernel_env(job: Job) -> dict[str, str]:
    """The whole environment of ``job``'s kernel (a template's must be the same)."""
    return sandbox.kernel_env(
        job.limits,
        {"NBGRADER_EXECUTION": job.mode, probe.CASES_ENV: f"{sandbox.GRADER_DIR}/cases.json"},
    )


def default_kernel_env() -> dict[str, str]:
    """The kernel environment of the jobs the engine makes (its settings' limits, autograde
    mode): what a template started before the first job must be started for."""
    return kernel_env(Job(key="", notebook={}))


def _failed(job: Job, error: Exception) -> Result:
    nb = nbformat.from_dict(copy.deepcopy(job.notebook))
    reason = f"{type(error).__name__}: {error}"
    for cell in nb.cells:
        _not_run(cell, "the sandbox failed: " + reason)
    return Result(key=job.key, notebook=nb, status="sandbox-failed", reason=reason)


def _stop(km: SandboxKernelManager, result: Result) -> None:
    """Kill what is left of the sandbox (a kernel from the template is in its tree too)."""
    kill_tree(km.sandbox_pid)
    if km.template is not None and km.forked:
        result.kernel_from = "template"
        result.template_rss = km.template.rss()
        result.template_pid = km.template.pid


def _ending(
    job: Job,
    km: SandboxKernelManager,
    client: _Client,
    watchdog: _Watchdog,
    guard: sandbox.MemoryGuard,
    died_at: int | None,
) -> tuple[str, str]:
    """A run's status and reason, once its cells ran or stopped at ``died_at``."""
    if watchdog.kill_status is not None:
        return watchdog.kill_status
    if guard.oom_kills() > 0:
        return "over-memory", memory_reason(job.limits)
    if died_at is None:
        return "ok", ""
    if client.misbehaved:
        return "kernel-misbehaved", (
            f"the kernel sent a message in cell {died_at} that the grader could not "
            f"process ({client.misbehaved}); it was stopped"
        )
    code = km.process.poll() if km.process is not None else None
    return "kernel-died", f"the kernel died in cell {died_at}" + (
        f" (exit status {code})" if code is not None else ""
    )


def _execute(
    job: Job, template: zygote.Template | None
) -> tuple[Result, SandboxKernelManager | None]:
    start = time.monotonic()
    nb = nbformat.from_dict(copy.deepcopy(job.notebook))
    result = Result(key=job.key, notebook={})
    layout = Layout.create(job.limits, isolated=job.isolated)
    result.memory_guard = sandbox.memory_enforcement(job.isolated)
    km = client = watchdog = None
    guard = sandbox.MemoryGuard("watchdog", job.limits.memory_bytes)
    try:
        guard = sandbox.MemoryGuard.create(job.limits, isolated=job.isolated)
        if guard.error:
            result.memory_guard = "watchdog: resident memory + tmpfs usage"
            result.events.append(
                f"no memory cgroup for this sandbox ({guard.error}); the watchdog counted "
                "its memory instead"
            )
        _stage(layout, job)
        env = kernel_env(job)
        km = SandboxKernelManager(
            layout, job.limits, env, guard, template=template, kernel_name="python3"
        )
        client = _Client(nb, km, job.limits)
        watchdog = _Watchdog(km, client, job.limits, guard)
        watchdog.start()
        died_at = asyncio.run(_run(client, result))
        result.status, result.reason = _ending(job, km, client, watchdog, guard, died_at)
        if died_at is not None:
            for cell in nb.cells[died_at:]:
                _not_run(cell, result.reason)
    except Exception as error:  # noqa: BLE001 - a sandbox that cannot start is a result too
        result.status, result.reason = "sandbox-failed", f"{type(error).__name__}: {error}"
        for cell in nb.cells:
            _not_run(cell, "the sandbox failed: " + result.reason)
    finally:
        if watchdog is not None:
            watchdog.stop()
        if client is not None:
            compat_kernel.stop_channels(client)
        if km is not None:
            _stop(km, result)
        result.memory_peak = guard.peak()
        removing = time.monotonic()
        if not guard.remove():
            result.events.append(f"the sandbox's cgroup {guard.path} could not be removed")
        result.cgroup_seconds = round(guard.setup_seconds + time.monotonic() - removing, 4)
        if km is not None:
            result.log = km.close_log()
        layout.remove()
    if client is not None:
        result.events = client.events + resource_events(nb, job.limits) + result.events
        result.cell_seconds = client.cell_seconds
    if _replace_surrogates(nb):
        result.events.append(
            "the kernel sent text that is not Unicode (lone surrogates); replaced with '?'"
        )
    result.notebook = nb
    result.seconds = round(time.monotonic() - start, 3)
    return result, km
