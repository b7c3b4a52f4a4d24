"""Worker processes on this machine (``--workers N``): the :class:`Cluster` the run uses by default.

Each worker is a ``spawn``-ed process running :func:`~tracereplay.replay.cluster.worker.run_share`, with
a command queue of its own and one report queue shared by all. A worker whose parent is gone stops.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time

from tracereplay.replay.cluster.base import CLOSE, ChannelClosed, Command, Report, WorkerJob
from tracereplay.replay.cluster.worker import run_share


class ProcessChannel:
    """A worker process's end: its command queue, the shared report queue."""

    def __init__(self, commands: mp.Queue, reports: mp.Queue) -> None:
        self._commands, self._reports = commands, reports

    def report(self, message: Report) -> None:
        self._reports.put(message)  # a feeder thread writes it: never blocks the event loop

    def command(self, timeout: float) -> Command | None:
        parent = mp.parent_process()
        if parent is not None and not parent.is_alive():
            raise ChannelClosed
        try:
            return self._commands.get(timeout=timeout)
        except queue.Empty:
            return None
        except (EOFError, OSError):
            raise ChannelClosed from None

    def close(self) -> None:
        self._reports.close()
        self._reports.join_thread()  # every report is in the pipe before the process ends


def _process_main(job: WorkerJob, commands: mp.Queue, reports: mp.Queue) -> None:
    run_share(job, ProcessChannel(commands, reports))


class ProcessCluster:
    """``workers`` processes on this machine; they see the parent's disk, so jobs carry no files."""

    shares_disk = True

    def __init__(self, workers: int) -> None:
        self._size = workers
        self._context = mp.get_context("spawn")
        self._reports: mp.Queue = self._context.Queue()
        self._commands: list[mp.Queue] = []
        self._processes: list = []

    @property
    def size(self) -> int:
        return self._size

    def describe(self) -> str:
        return f"{self._size} local worker processes"

    def launch(self, jobs: list[WorkerJob]) -> None:
        self._commands = [self._context.Queue() for _ in jobs]
        self._processes = [
            self._context.Process(
                target=_process_main,
                name=f"tracereplay-worker-{job.worker}",
                daemon=True,
                args=(job, self._commands[job.worker], self._reports),
            )
            for job in jobs
        ]
        for process in self._processes:
            process.start()

    def send(self, worker: int, command: Command) -> None:
        self._commands[worker].put(command)

    def receive(self, timeout: float) -> Report | None:
        try:
            return self._reports.get(timeout=timeout)
        except queue.Empty:
            return None
        except (EOFError, OSError):
            return None

    def alive(self, worker: int) -> bool:
        return self._processes[worker].is_alive()

    def where(self, worker: int) -> str:
        return f"pid {self._processes[worker].pid}"

    def close(self, timeout: float) -> None:
        for worker in range(len(self._processes)):
            self.send(worker, [CLOSE])
        deadline = time.monotonic() + timeout
        while any(p.is_alive() for p in self._processes) and time.monotonic() < deadline:
            time.sleep(0.05)
        for process in self._processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=1)
