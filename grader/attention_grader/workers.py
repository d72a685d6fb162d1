"""Step 4: where notebooks execute. A :class:`Pool` runs :func:`run_job` in this process
(sequential grading), on a local Dask cluster (one single-threaded worker process per core by
default) or on a Dask scheduler's workers on other machines.

Each job carries the coordinator's :func:`environment` (its installed distributions and the
code of both packages): a worker whose own differs returns an ``environment-differs`` result
instead of grading, and a lost worker becomes a ``worker-failed`` result; both are faults of
the environment, never recorded as the student's (:mod:`recording`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import cells, executor, stamps, zygote

TIMINGS = ".course-timings.json"  # in autograded/: seconds per notebook, to start long ones first

QUIET_DASK = {
    # Dask's defaults suit short tasks; grading runs a few long ones per worker. Measured on 2
    # cores, an idle 2-worker LocalCluster used 5.8 s of CPU per 30 s with the defaults (the
    # workers' sampling profiler, the 20 ms event-loop tick, the system monitor, work stealing)
    # and 0.8 s with these: CPU that the sandboxed kernels need.
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.scheduler.work-stealing": False,
}


@contextlib.contextmanager
def quiet_dask() -> Iterator[None]:
    """:data:`QUIET_DASK` while the block runs (for the local cluster and this client)."""
    import dask
    import distributed  # noqa: F401 - its defaults must be loaded before they are changed

    # (dask.config.set on a missing top-level section removes the whole section afterwards,
    # with the defaults that importing distributed put there meanwhile)
    with dask.config.set(QUIET_DASK):
        yield


# What a worker logs when its heartbeat finds no scheduler (distributed.worker.Worker.heartbeat):
# a local cluster's worker did as a run ended, when the scheduler closed its connections before
# the worker's process had ended (seen at the end of one run in four of `make bench-grading`): an
# ERROR with a traceback, after grading went well. Only that case is dropped: the heartbeat's
# connection closed (CommClosedError); a heartbeat that times out still says so.
HEARTBEAT_FAILED = "Failed to communicate with scheduler during heartbeat."


class _HeartbeatAtClose(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from distributed.comm.core import CommClosedError

        closed = record.exc_info and isinstance(record.exc_info[1], CommClosedError)
        return not (record.msg == HEARTBEAT_FAILED and closed)


def dask_setup(worker: Any) -> None:
    """Run by each worker of the local cluster as it starts (Dask's ``preload`` of this
    module): its log says nothing of a heartbeat whose connection to the scheduler was closed
    (:data:`HEARTBEAT_FAILED`); anything else it logs at ERROR still shows."""
    logging.getLogger("distributed.worker").addFilter(_HeartbeatAtClose())


def environment() -> str:
    """What a process grades with besides the job: the installed distributions and the code
    of both packages as imported here (computed anew: the coordinator's, once per run)."""
    digest = hashlib.sha256(stamps.distributions_version().encode())
    for name, path in stamps.code_files(stamps.package_folders()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@functools.cache
def _worker_environment() -> str:
    """:func:`environment` of this worker process, as it was when it ran its first job."""
    return environment()


def run_job(job: executor.Job, expected: str | None) -> executor.Result:
    """What a worker runs (also this process when grading sequentially, ``expected`` None):
    the job, if this worker's :func:`environment` is ``expected``."""
    if expected is not None and _worker_environment() != expected:
        result = executor.Result(key=job.key, notebook={"cells": []})
        result.status = "environment-differs"
        result.reason = (
            f"the grading worker on {result.host} has another environment than the coordinator "
            "(installed distributions or the course's code differ): start the workers from "
            "the same environment"
        )
        return result
    result = executor.execute(job)
    result.input_digest = cells.notebook_digest(job.notebook)
    return result


def lost(key: str, error: BaseException) -> executor.Result:
    """The result of a job whose worker failed or was lost."""
    return executor.Result(
        key=key,
        notebook={"cells": []},
        status="worker-failed",
        reason=f"the grading worker failed: {type(error).__name__}: {error}",
    )


class Pool:
    """Runs jobs; :meth:`ready` yields the results that are done, :meth:`results` waits for
    all of them. ``scheduler``: a Dask scheduler's address; ``workers``: the size of the local
    cluster (``sequential``: none, this process)."""

    def __init__(
        self,
        autograded: Path,
        workers: int,
        scheduler: str | None,
        sequential: bool,
        isolated: bool = True,
    ) -> None:
        self.workers, self.scheduler, self.sequential = workers, scheduler, sequential
        self.isolated = isolated  # False: --unsafe-no-sandbox (plain kernels, no template)
        self.timings_path = autograded / TIMINGS
        self.timings: dict[str, float] = {}
        self._done: list[executor.Result] = []
        self._futures: dict[Any, str] = {}
        self._stack = contextlib.ExitStack()
        self.client: Any = None
        self.environment: str | None = None  # the coordinator's (None: sequential)
        self.template_group: str | None = None  # the local cluster's (zygote.GROUP)
        self.offer: zygote.Offer | None = None  # this process's template, for its workers
        # whether the run's notebooks are worth a template as the cluster starts (the engine
        # says, zygote.pays); otherwise it is offered once they are (submit), and each job
        # says so to its worker (Job.template_pays)
        self.template_pays = True
        # whether the run's notebooks import TensorFlow or Keras (the engine says; False: the
        # template imports neither, zygote.warm_modules)
        self.template_tensorflow = True
        self._submitted = 0

    @property
    def mode(self) -> str:
        if self.sequential:
            return "sequential"
        return f"scheduler {self.scheduler}" if self.scheduler else f"{self.workers} workers"

    def __enter__(self) -> Pool:
        self._submitted = 0
        try:
            self.timings = json.loads(self.timings_path.read_text())
        except (OSError, ValueError):
            self.timings = {}
        if not self.sequential:
            self.environment = environment()
            self._stack.enter_context(quiet_dask())
            self.client = self._stack.enter_context(self._connect())
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()
        if self.timings and self.timings_path.parent.is_dir():
            self.timings_path.write_text(json.dumps(self.timings, sort_keys=True))

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:
        from distributed import Client

        with contextlib.ExitStack() as stack:  # (closes in reverse order, all of it)
            if self.scheduler:
                client = Client(self.scheduler, timeout="30s")
            else:
                # the workers share one kernel template (one TensorFlow import per machine,
                # not per worker), through a folder only root can enter (see zygote.GROUP)
                group = self.template_group = tempfile.mkdtemp(prefix="course-templates-")
                os.chmod(group, 0o700)
                stack.callback(self._end_group, group)
                # (the imports run while the cluster starts; one kept from an earlier run is
                # offered whatever this run grades: it is imported already, unless the course's
                # code changed since, when the Offer replaces it)
                if self.isolated and (self.template_pays or zygote.kept()):
                    self.offer = zygote.Offer(
                        Path(group),
                        executor.default_kernel_env(),
                        self.environment,
                        self.template_tensorflow,
                    )
                cluster = self._local_cluster(group)
                stack.callback(cluster.close, timeout=10)
                client = Client(cluster)
            stack.callback(client.close, timeout=10)
            yield client

    def _end_group(self, group: str) -> None:
        """After the cluster: the coordinator's template is withdrawn, the folder removed."""
        if self.offer is not None:
            self.offer.close()
        shutil.rmtree(group, ignore_errors=True)
        self.offer = self.template_group = None

    def _local_cluster(self, group: str) -> Any:
        from distributed import LocalCluster

        return LocalCluster(
            env={zygote.GROUP: group},
            n_workers=self.workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=0,
            dashboard_address=None,
            # dashboard_address=None alone still starts the scheduler's HTTP server, on
            # Dask's default port 8787 ("Port 8787 is already in use" when another process
            # holds it, and a fixed port on a shared machine): a free loopback port instead
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
            preload=[__name__],  # (dask_setup)
        )

    def submit(self, job: executor.Job) -> None:
        self._submitted += 1
        if not self.template_pays and job.isolated:  # (the run so far, this notebook with it)
            self.template_pays = zygote.pays(zygote.worth_waiting(job.notebook), self._submitted)
        job.template_pays = self.template_pays
        job.template_tensorflow = self.template_tensorflow
        if self.client is None:
            self._done.append(self._timed(run_job(job, None)))
            return
        if (
            self.offer is None
            and self.template_group is not None
            and job.isolated
            and self.template_pays
        ):  # the workers fork their kernels from this process's template (see zygote.Offer)
            self.offer = zygote.Offer(
                Path(self.template_group),
                executor.kernel_env(job),
                self.environment,
                self.template_tensorflow,
            )
        cost = self.timings.get(job.key.rsplit("/", 1)[-1], 0)  # the longest notebooks first
        future = self.client.submit(
            run_job, job, self.environment, pure=False, retries=0, priority=int(cost)
        )
        self._futures[future] = job.key

    def ready(self) -> Iterator[executor.Result]:
        """The results that are done (sequential: the job just submitted)."""
        while self._done:
            yield self._done.pop(0)

    def results(self) -> Iterator[executor.Result]:
        """Every outstanding result, as each completes."""
        yield from self.ready()
        if not self._futures:
            return
        from distributed import as_completed

        futures, self._futures = self._futures, {}
        for future in as_completed(list(futures)):
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 - a lost worker is a result too
                result = lost(futures[future], error)
            yield self._timed(result)

    def _timed(self, result: executor.Result) -> executor.Result:
        if result.status == "ok":
            notebook = result.key.rsplit("/", 1)[-1]
            before = self.timings.get(notebook, result.seconds)
            self.timings[notebook] = round(0.5 * before + 0.5 * result.seconds, 2)
        return result
