"""A Dask cluster as a run's workers: ``--cluster tcp://SCHEDULER:8786``, or ``--cluster local:N`` for a
``LocalCluster`` of N worker processes on this machine.

One task per Dask worker (pinned to it, never moved: a moved task would replay a share twice) runs
:func:`~tracereplay.replay.cluster.worker.run_share`. Messages go through distributed queues on the
scheduler, named after the run: one command queue per worker and one report queue the client reads, each
with a distributed ``Event`` as its doorbell (rung after a put; the reader waits on it, then takes what
the queue holds in one batch), so a command reaches its worker within milliseconds and nobody polls.
A queue's own blocking ``get`` is not used: each of its time-outs logs an error on the scheduler. Dask's
pub/sub is gone; queues carry plain data (msgpack). Reports carry the workers' Arrow stream bytes, so no
disk is shared: the client writes the run directory, and jobs carry the files the run names (model,
trace, action pack, CA certificate).

A worker is lost when the scheduler no longer lists it (its process killed, its node gone) or its task
failed; the parent reports it and the run goes on. A scheduler that cannot be reached within
``CONNECT_TIMEOUT_S`` is one clear error.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
import uuid
from typing import Any

import distributed

from tracereplay.errors import ConfigError, TracereplayError
from tracereplay.replay.cluster.base import ChannelClosed, Command, Report, WorkerJob
from tracereplay.replay.cluster.worker import run_share

#: How long connecting to a scheduler may take before the run gives up (one line, exit 1).
CONNECT_TIMEOUT_S = 5.0
#: How often the client asks the scheduler which workers it still has (for lost workers).
ROSTER_EVERY_S = 0.5
LOCAL_PREFIX = "local:"


def parse_address(address: str) -> int | None:
    """``local:N`` → N; a scheduler address (``tcp://``, ``tls://``, ``inproc://``…) → None."""
    if address.startswith(LOCAL_PREFIX):
        count = address[len(LOCAL_PREFIX) :]
        if not count.isdigit() or int(count) < 1:
            raise ConfigError(f"cluster {address!r}: local:N needs a number of workers N ≥ 1")
        return int(count)
    if "://" not in address:
        raise ConfigError(f"cluster {address!r} is not a scheduler address (tcp://HOST:8786) or local:N")
    return None


class Doorbelled:
    """A distributed queue with an Event rung after each put: ``get`` waits on the bell (a time-out there
    is quiet), then takes everything queued in one round trip."""

    def __init__(self, name: str, client: distributed.Client) -> None:
        self._queue = distributed.Queue(name, client=client)
        self._bell = distributed.Event(f"{name}-bell", client=client)
        self._taken: collections.deque[Any] = collections.deque()

    def put(self, item: Any) -> None:
        self._queue.put(item)
        self._bell.set()

    def get(self, timeout: float) -> Any | None:
        """The next item, or None if none came within ``timeout`` seconds."""
        if not self._taken:
            self._taken.extend(self._take_all())
        if not self._taken and self._bell.wait(timeout):
            # cleared before taking: an item put after the take rings again, none is missed
            self._bell.clear()
            self._taken.extend(self._take_all())
        return self._taken.popleft() if self._taken else None

    def _take_all(self) -> list[Any]:
        # a synchronous client's get returns the items themselves (an asynchronous one would give a coroutine)
        items = self._queue.get(batch=True)
        if not isinstance(items, list):
            raise TypeError(f"queue {self._queue.name}: a batch get gave {type(items).__name__}, not a list")
        return items

    def release(self) -> None:
        """Free the queue and the bell on the scheduler (a run's names are never used again)."""
        self._queue.close()
        self._bell.clear()  # an Event nobody waits on and that is not set is deleted


# ------------------------------------------------------------------------------------------- the worker side
class DaskChannel:
    """A Dask worker's end: its command queue and the run's report queue, through the worker's client.

    Reports are put by a sender thread, so the event loop never waits on the scheduler."""

    def __init__(self, run_id: str, worker: int) -> None:
        client = distributed.get_client()
        self._commands = Doorbelled(_command_queue(run_id, worker), client)
        self._reports = Doorbelled(_report_queue(run_id), client)
        self._outbox: queue.SimpleQueue[Report | None] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send, daemon=True, name="reports")
        self._sender.start()

    def report(self, message: Report) -> None:
        self._outbox.put(message)

    def _send(self) -> None:
        while (message := self._outbox.get()) is not None:
            try:
                self._reports.put(message)
            except Exception:  # the client went away: nobody to report to
                return

    def command(self, timeout: float) -> Command | None:
        try:
            return self._commands.get(timeout)
        except Exception as exc:  # the scheduler is gone
            raise ChannelClosed from exc

    def close(self) -> None:
        self._outbox.put(None)
        self._sender.join()


def run_on_dask_worker(job: WorkerJob, run_id: str) -> None:
    """The task each Dask worker runs: its share of the run, to the end."""
    run_share(job, DaskChannel(run_id, job.worker))


# ------------------------------------------------------------------------------------------- the client side
class DaskCluster:
    """The workers of a Dask cluster (one run worker per Dask worker), reached through its scheduler."""

    shares_disk = False  # a worker may run anywhere: jobs carry their files, reports carry the results

    def __init__(self, address: str) -> None:
        self.address = address
        count = parse_address(address)
        for name in ("distributed", "distributed.worker", "distributed.nanny", "distributed.scheduler"):
            logging.getLogger(name).setLevel(logging.ERROR)  # their INFO lines would break the live line
        self._local: distributed.LocalCluster | None = None
        started = time.monotonic()
        if count is not None:
            self._local = distributed.LocalCluster(
                n_workers=count,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",  # its HTTP server (health, metrics): loopback, any port
                silence_logs=logging.ERROR,
            )
            self._client = distributed.Client(self._local, set_as_default=False)
        else:
            try:
                self._client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise TracereplayError(
                    f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_S:g}s "
                    f"({_first_line(exc)})"
                ) from None
        self.startup_s = time.monotonic() - started
        self._addresses = sorted(self._client.scheduler_info(n_workers=-1)["workers"])
        if not self._addresses:
            self.close(0)
            raise TracereplayError(f"the Dask scheduler at {address} has no workers")
        self._run_id = uuid.uuid4().hex[:12]
        self._reports = Doorbelled(_report_queue(self._run_id), self._client)
        self._commands: list[Doorbelled] = []
        self._futures: list[distributed.Future] = []
        self._outbox: queue.SimpleQueue[tuple[int, Command] | None] = queue.SimpleQueue()
        self._roster: set[str] = set(self._addresses)
        self._roster_at = time.monotonic()

    @property
    def size(self) -> int:
        return len(self._addresses)

    def describe(self) -> str:
        return f"Dask {self.address}, {self.size} workers"

    def launch(self, jobs: list[WorkerJob]) -> None:
        self._commands = [Doorbelled(_command_queue(self._run_id, job.worker), self._client) for job in jobs]
        threading.Thread(target=self._send, daemon=True, name="commands").start()
        self._futures = [
            self._client.submit(
                run_on_dask_worker,
                job,
                self._run_id,
                key=f"tracereplay-{self._run_id}-worker-{job.worker}",
                workers=[self._addresses[job.worker]],
                allow_other_workers=False,
                pure=False,
            )
            for job in jobs
        ]

    def send(self, worker: int, command: Command) -> None:
        self._outbox.put((worker, command))  # the event loop never waits on the scheduler

    def _send(self) -> None:
        while (item := self._outbox.get()) is not None:
            worker, command = item
            try:
                self._commands[worker].put(command)
            except Exception:  # the scheduler is gone: the workers stop on their own
                return

    def receive(self, timeout: float) -> Report | None:
        try:
            return self._reports.get(timeout)
        except Exception:  # the client is closing
            return None

    def alive(self, worker: int) -> bool:
        future = self._futures[worker]
        if future.status != "pending":
            return False  # finished, failed or cancelled: it reports no more
        if time.monotonic() - self._roster_at >= ROSTER_EVERY_S:
            try:
                self._roster = set(self._client.scheduler_info(n_workers=-1)["workers"])
            except Exception:
                self._roster = set()  # the scheduler itself is gone
            self._roster_at = time.monotonic()
        return self._addresses[worker] in self._roster

    def where(self, worker: int) -> str:
        return self._addresses[worker]

    def close(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # a lost worker's task waits for its worker forever: wait only for the others
        pending = [f for w, f in enumerate(self._futures) if self.alive(w)]
        if pending:
            with contextlib.suppress(Exception):  # timed out: cancelled below
                distributed.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
        self._outbox.put(None)
        for future in self._futures:
            future.cancel()
        with contextlib.suppress(Exception):  # the scheduler may be gone already
            for queue_ in (self._reports, *self._commands):
                queue_.release()
        self._client.close(timeout=2)
        if self._local is not None:
            self._local.close(timeout=5)


def _report_queue(run_id: str) -> str:
    return f"tracereplay-{run_id}-reports"


def _command_queue(run_id: str, worker: int) -> str:
    return f"tracereplay-{run_id}-commands-{worker}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

