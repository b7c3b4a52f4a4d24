"""The demo target as a child process on 127.0.0.1, so it never shares an event loop with the load generator.

    with TargetProcess(latency_scale=1.0, seed=1) as target:
        print(target.url)          # http://127.0.0.1:PORT, bound and answering
"""

from __future__ import annotations

import re
import selectors
import signal
import subprocess
import sys
import time
from types import TracebackType

from tracereplay.errors import TargetError

_LISTENING = re.compile(r"^listening (http://\S+)$")


class TargetProcess:
    """Start ``python -m tracereplay.demo.target`` on a free port; stop it on exit (SIGTERM, then kill)."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, latency_scale: float = 1.0,
        seed: int | None = None, startup_timeout_s: float = 20.0,
    ) -> None:
        self.command = [
            sys.executable, "-m", "tracereplay.demo.target", "--host", host, "--port", str(port),
            "--latency-scale", repr(float(latency_scale)), "--watch-stdin",
        ]
        if seed is not None:
            self.command += ["--seed", str(seed)]
        self.startup_timeout_s = startup_timeout_s
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> str:
        """Start the child and return its URL once it is listening; TargetError if it does not come up."""
        # Its own session: a Ctrl-C meant for the load generator must not stop the target mid-run (we stop
        # it after the run). Its stdin is a pipe we never write: if we die, EOF takes the target down too.
        self._proc = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE, text=True,
            start_new_session=True,
        )
        line = self._first_line()
        match = _LISTENING.match(line)
        if match is None:
            reason = self._stderr_tail() or line or "no output"
            self.stop()
            raise TargetError(f"the demo target did not start: {reason}")
        self.url = match.group(1)
        return self.url

    def _first_line(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + self.startup_timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(self._proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if selector.select(timeout=0.1):
                    return self._proc.stdout.readline().strip()
                if self._proc.poll() is not None:
                    return ""
        return ""

    def _stderr_tail(self) -> str:
        if self._proc is None or self._proc.stderr is None:
            return ""
        try:  # stdout may close a moment before the child has exited
            self._proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            return ""
        lines = [x for x in self._proc.stderr.read().strip().splitlines() if x.strip()]
        return lines[-1] if lines else ""

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGTERM, wait up to ``timeout_s``, then kill. Returns the exit status."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        return proc.returncode

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> TargetProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
