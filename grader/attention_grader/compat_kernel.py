"""The kernel-client part of :mod:`compat` (nbclient, jupyter_client): the names of its table
that a grading worker needs to run a notebook, in a module that imports neither nbgrader nor
nbconvert, so that a worker process does not pay for them (about 0.6 s of a core per worker
and run). :mod:`compat` exports these names too; their guard tests are in
``tests/test_compat.py`` with the others."""

from __future__ import annotations

import contextlib
import queue
import secrets
import time
from collections.abc import Iterator
from typing import Any

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.session import Session
from traitlets import Int

# ------------------------------------------------------------------------------ nbclient


def never_skip_tag() -> str:
    """A value for nbclient's ``skip_cells_with_tag`` that no cell carries: by default nbclient
    skips the cells tagged ``skip-execution``, which a student can add to a test cell."""
    return "never-skip-" + secrets.token_hex(16)


def stop_channels(client: Any) -> None:
    """Close the channels of an nbclient ``NotebookClient`` that was given its kernel manager
    (nbclient closes them only for a kernel manager it started itself)."""
    if getattr(client, "kc", None) is not None:
        client.kc.stop_channels()


# ------------------------------------------------------------------------ jupyter_client


class SocketLimitClient(AsyncKernelClient):
    """A kernel client each of whose ZeroMQ sockets, the heartbeat's included, has the
    options of :meth:`socket_options` before it connects; it tries to connect again every
    :attr:`reconnect_ms` whenever it is not connected: before the kernel has bound its
    socket, or after the kernel closed it (None: ZeroMQ's default, 100 ms)."""

    reconnect_ms: int | None = None

    def socket_options(self) -> dict[int, int]:
        """The options of every socket (override, adding to this class's)."""
        return {} if self.reconnect_ms is None else {zmq.RECONNECT_IVL: self.reconnect_ms}

    def _create_connected_socket(self, channel: str, identity: bytes | None = None) -> Any:
        # jupyter_client makes each channel's socket and connects it in one call, from the
        # client's own context, and the heartbeat channel makes its socket from that context
        # after the first channel's: options every connection must have are its defaults
        for option, value in self.socket_options().items():
            self.context.setsockopt(option, value)
        return super()._create_connected_socket(channel, identity)


class NoHeartbeatClient(AsyncKernelClient):
    """A kernel client that starts no heartbeat channel. A client made by its kernel manager
    (``km.client()``, as nbclient makes it) asks the manager whether the kernel lives, not the
    heartbeat; and a heartbeat's socket takes whatever the kernel sends as the answer to its
    pings, queued up to 1000 messages deep: a student's kernel made the grader hold 1.5 GB
    that way (30 answers of 60 MiB to one ping, a reviewing helper's attack)."""

    def start_channels(
        self,
        shell: bool = True,
        iopub: bool = True,
        stdin: bool = True,
        hb: bool = True,
        control: bool = True,
    ) -> None:
        super().start_channels(shell=shell, iopub=iopub, stdin=stdin, hb=False, control=control)


def json_objects(data: bytes, most: int | None = None) -> tuple[int, int]:
    """What the JSON text ``data`` becomes once parsed: its lists and objects, and its other
    values (each string, and each comma outside strings: a number, ``true``... or a key).
    Counted in place, nothing copied but ``data`` once (a regex's substitution made an
    object per match: 2.2 GB for 60 MiB of ``"ab",``); ``most``: stop once there are more
    values than that."""
    data = data.replace(b"\\\\", b"").replace(b'\\"', b"")  # escapes: never delimiters
    containers, values, start = 0, 0, 0
    while most is None or values <= most:
        opening = data.find(b'"', start)
        stop = len(data) if opening < 0 else opening
        containers += data.count(b"[", start, stop) + data.count(b"{", start, stop)
        values += data.count(b",", start, stop)
        closing = data.find(b'"', opening + 1) if opening >= 0 else -1
        if closing < 0:
            break
        values += 1
        start = closing + 1
    return containers, values


class CostLimitedSession(Session):
    """A session that refuses a message, before parsing it, whose JSON (header, parent
    header, metadata and content) would take more than :attr:`max_cost` once parsed:
    :attr:`container_cost` per list or object, :attr:`value_cost` per other value. Its text
    alone is what the socket limits, and a long string is one object, but ``[[],[],...]`` is
    3 bytes of text per list and about 60 once parsed (a kernel's 60 MiB message of them
    took the grader 1.6 GB and 8 s of CPU), and ``["ab","ab",...]`` 5 bytes per string and
    about 60 (1 GB for 60 MiB). The channels parse every message with ``deserialize``; a
    refused one raises ValueError there, as a message with a bad signature does."""

    # traits: ``Session.clone`` (what a manager gives its clients) copies traits only
    max_cost = Int(64 * 1024**2)
    container_cost = Int(64)
    value_cost = Int(48)

    def deserialize(self, msg_list: list, content: bool = True, copy: bool = True) -> dict:
        parts = [p if isinstance(p, bytes) else bytes(p.bytes) for p in msg_list[1:5]]
        rough = sum(
            self.container_cost * (p.count(b"[") + p.count(b"{"))
            + self.value_cost * (p.count(b'"') // 2 + p.count(b","))
            for p in parts
        )
        if rough > self.max_cost:  # (an upper bound: what the strings hold is counted too)
            unescaped = (p.replace(b"\\\\", b"").replace(b'\\"', b"") for p in parts)
            cost = self.value_cost * sum(p.count(b'"') // 2 for p in unescaped)  # the strings
            if cost <= self.max_cost:  # (then all of it, at most until it is over)
                most = self.max_cost // self.value_cost
                counts = [json_objects(p, most) for p in parts]
                cost = sum(self.container_cost * c + self.value_cost * v for c, v in counts)
            if cost > self.max_cost:
                raise ValueError(
                    f"a message whose lists, objects and values take {cost} bytes once "
                    f"parsed, over {self.max_cost}"
                )
        return super().deserialize(msg_list, content=content, copy=copy)


class PromptReadyClient(AsyncKernelClient):
    """A client that is ready as soon as the kernel answered ``kernel_info`` on the shell
    channel and IOPub brought any message (the kernel's ``iopub_welcome`` to a new
    subscriber, or the request's status): then both channels are connected.
    jupyter_client's own wait then also waits for 0.2 s of silence on IOPub, 0.2 s per
    kernel for nothing: nbclient ignores IOPub messages of other requests than a cell's."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            request = self.kernel_info()
            reply = await self._reply(request)
            if reply is not None and await self._iopub_connected():
                self._handle_kernel_info_reply(reply)
                return
            if not await self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    async def _reply(self, request: str) -> dict | None:
        """The shell's reply to ``request`` (older replies are dropped); None after 1 s
        without a message."""
        while True:
            try:
                msg = await self.shell_channel.get_msg(timeout=1)
            except queue.Empty:
                return None
            if msg["parent_header"].get("msg_id") == request:
                return msg

    async def _iopub_connected(self) -> bool:
        """True when IOPub brings a message within 0.2 s (only a subscribed socket gets
        one); False when not: the request's status went out before the subscription."""
        try:
            await self.iopub_channel.get_msg(timeout=0.2)
        except queue.Empty:
            return False
        return True


class HookedKernelManager(AsyncKernelManager):
    """jupyter_client's kernel manager with public hooks for the steps the sandbox changes:
    :meth:`before_interrupt`, :meth:`launch_options` and :attr:`process`."""

    async def _async_interrupt_kernel(self) -> None:
        self.before_interrupt()
        await super()._async_interrupt_kernel()

    interrupt_kernel = _async_interrupt_kernel

    def before_interrupt(self) -> None:
        """Called before the kernel is interrupted (override)."""

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        with self.launch_options(kw) as options:
            await super()._async_launch_kernel(kernel_cmd, **options)

    @contextlib.contextmanager
    def launch_options(self, kw: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The keyword arguments the kernel's process is started with (``cwd``, ``env``,
        ``stdout``...); what follows the ``yield`` runs once it was started (override)."""
        yield kw

    @property
    def process(self) -> Any:
        """The kernel's ``subprocess.Popen`` (None before it started)."""
        return getattr(self.provisioner, "process", None)
