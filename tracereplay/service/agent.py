"""The agent behind ``tracereplay serve``: runs created, started, steered and reported over HTTP+JSON.

The verbs follow the seed's load agent (mattermost-load-test-ng's ``/loadagent/…``): ``create``, ``run``,
``stop``, ``status``, ``addusers``/``removeusers?amount=``, ``inject?action=``, plus ``rate`` (open
workload), ``runs`` (past runs in the data directory), ``report`` and ``files`` (uploads). The document is
:mod:`tracereplay.service.openapi`'s; request bodies are checked against it.

Each run has one worker in the agent's process and event loop (``replay.start_run``, which loads the
model or event table in a thread, so the agent answers meanwhile), or, with the ``workers`` or ``cluster``
setting, worker processes or a Dask cluster's workers (``replay/workers.py``: ``/metrics``, the status and
the series cover them all); it writes its run directory under
``DATA_DIR/runs/<id>``; its live series keeps the last ``SERIES_POINTS`` seconds. One run is running at a
time (a second ``run`` is a 409).

Security (docs/service.md): a token, when set, is required on every route but the dashboard's static page
and script, and compared in constant time; a cross-origin request (an ``Origin`` that is not this agent)
is refused, and no CORS header is ever sent; without a token the ``Host`` must be a loopback name (a
DNS-rebinding page cannot reach the agent); bodies are bounded; every malformed request is a 4xx JSON
``{"error": one line}``, and an unexpected failure in a handler is a 500 of the same shape — never the end
of the agent or of a run.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import enum
import hmac
import ipaddress
import json
import logging
import re
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
from aiohttp import web
from jsonschema.exceptions import best_match
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from tracereplay.durations import parse_duration
from tracereplay.errors import TracereplayError
from tracereplay.files import atomic_path
from tracereplay.replay.api import RunHandle, open_run
from tracereplay.replay.cluster.dask import parse_address
from tracereplay.replay.config import RunConfig, default_workers
from tracereplay.replay.metrics import RunMetrics
from tracereplay.replay.workers import PoolHandle
from tracereplay.report import load_run, summarize
from tracereplay.report.html import render_html
from tracereplay.rundir import read_run_json
from tracereplay.service import dashboard
from tracereplay.service.openapi import AGENT_OWNED, RUN_ID_PATTERN, create_schema, settings_schema, spec

log = logging.getLogger(__name__)

#: The live series an agent keeps of each run: the last hour at one point a second (about 0.5 MB), so a
#: day-long run's memory stays flat; the dashboard draws the last 600 of them.
SERIES_POINTS = 3600
#: Ended runs whose status and live series the agent holds (~0.5 MB each after an hour): older ones are
#: forgotten as new runs are created, so a long-lived agent's memory stays flat. Their directories stay on
#: disk, listed by ``GET /loadagent/runs``.
KEEP_ENDED = 50
#: Runs created and not started that an agent holds: one more is a 429 (a client creating runs in a loop
#: must not grow the agent's memory).
MAX_CREATED = 100
#: Default bound on a request body: an uploaded model or event table fits, a flood does not.
MAX_BODY = 64 * 1024 * 1024
#: Routes served without the token: the dashboard's page and script hold no data (they ask the API).
PUBLIC = frozenset({"/dashboard", "/dashboard/app.js"})
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_RUN_ID = re.compile(RUN_ID_PATTERN)


class State(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    STOPPING = "stopping"
    FINISHED = "finished"
    FAILED = "failed"


_ENDED = frozenset({State.FINISHED, State.FAILED})


class ApiError(Exception):
    """A request the agent refuses: its status and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = " ".join(str(reason).split())


@dataclasses.dataclass(kw_only=True)
class ManagedRun:
    """A run this agent created: what it runs, its handle while running, its figures second by second."""

    id: str
    run_dir: Path
    model: str | None
    trace: str | None
    settings: dict[str, Any]
    state: State = State.CREATED
    handle: RunHandle | PoolHandle | None = None  # several workers: run --workers/--cluster --dashboard
    task: asyncio.Task | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    series: collections.deque[dict[str, Any]] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=SERIES_POINTS)
    )
    metrics: RunMetrics = dataclasses.field(default_factory=RunMetrics)
    started: float = 0.0  # monotonic
    _errors_seen: int = 0  # the run's errors at the last point of the series

    @property
    def workload(self) -> str:
        return "trace" if self.trace is not None else RunConfig(**self.settings).workload.value

    def status(self) -> dict[str, Any]:
        live = None
        if self.handle is not None:
            live = self.handle.stats.snapshot()
            live["active_users"] = self.handle.active_users
            live["arrival_rate"] = self.handle.arrival_rate
        return {
            "id": self.id,
            "state": self.state.value,
            "workload": self.workload,
            "run_dir": str(self.run_dir),
            "model": self.model,
            "trace": self.trace,
            "live": live,
            "result": self.result,
            "error": self.error,
        }

    def finished(self, result: dict[str, Any]) -> None:
        self.result = result
        self.state = State.FINISHED
        self.metrics.finish(result["sessions_started"], result["sessions_dropped"], result["sessions_late"])

    def on_progress(self, stats: dict[str, Any]) -> None:
        """Each second of the run (``LiveStats.snapshot``, every worker merged): a point of the series."""
        errors, self._errors_seen = stats["errors"] - self._errors_seen, stats["errors"]
        self.series.append(
            {
                "t": round(time.monotonic() - self.started, 3),
                "rps": stats["rps"],
                "errors": errors,
                "p50_ms": stats["p50_ms"],
                "p95_ms": stats["p95_ms"],
                "p99_ms": stats["p99_ms"],
                "users": self.handle.active_users if self.handle is not None else stats["active_users"],
            }
        )


class Agent:
    """The runs of one agent and what can be done to them; the HTTP layer is :func:`create_app`."""

    def __init__(self, data_dir: str | Path | None) -> None:
        """``data_dir`` None: an agent for one run it is handed (:meth:`adopt`, ``run --dashboard``); it
        creates and stores nothing."""
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else None
        if self.data_dir is not None:
            (self.data_dir / "runs").mkdir(parents=True, exist_ok=True)
            (self.data_dir / "files").mkdir(parents=True, exist_ok=True)
        self.runs: dict[str, ManagedRun] = {}
        self.current: ManagedRun | None = None  # the run /metrics shows: the latest started
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_CurrentRunCollector(self))

    @property
    def runs_dir(self) -> Path:
        return self._home() / "runs"

    @property
    def files_dir(self) -> Path:
        return self._home() / "files"

    def _home(self) -> Path:
        if self.data_dir is None:
            raise ApiError(409, "this server shows one run (run --dashboard); tracereplay serve starts runs")
        return self.data_dir

    def adopt(self, run: ManagedRun) -> ManagedRun:
        """Show and steer a run started elsewhere (``run --dashboard``): the caller starts and ends it."""
        self.runs[run.id] = run
        self.current = run
        return run

    # ------------------------------------------------------------------ verbs
    def create(self, body: Any) -> ManagedRun:
        _check(create_schema(), body, "body", components={"Settings": settings_schema()})
        run_id = body.get("id") or datetime.now(UTC).strftime("%Y%m%dT%H%M%S-") + secrets.token_hex(3)
        if run_id in self.runs or (self.runs_dir / run_id).exists():
            raise ApiError(409, f"run {run_id!r} exists")
        model, trace = body.get("model"), body.get("trace")
        if (model is None) == (trace is None):
            raise ApiError(
                400, "give exactly one of model (a model or script file) or trace (an event table)"
            )
        spec_path = self._existing_file("model" if model is not None else "trace", model or trace)
        settings = _settings(body["settings"])
        try:
            config = RunConfig(**settings).validate(trace=trace is not None)
        except TracereplayError as exc:
            raise ApiError(400, f"settings: {exc}") from None
        _check_processes(config)
        self._make_room()
        run = ManagedRun(
            id=run_id,
            run_dir=self.runs_dir / run_id,
            model=spec_path if model is not None else None,
            trace=spec_path if trace is not None else None,
            settings=settings,
        )
        self.runs[run_id] = run
        return run

    def _make_room(self) -> None:
        """Refuse a run past :data:`MAX_CREATED` waiting ones; forget ended runs past :data:`KEEP_ENDED`."""
        waiting = sum(run.state is State.CREATED for run in self.runs.values())
        if waiting >= MAX_CREATED:
            raise ApiError(429, f"{waiting} runs are created and not started: start or stop some first")
        ended = [r for r in self.runs.values() if r.state in _ENDED and r is not self.current]
        for run in ended[: max(len(ended) - KEEP_ENDED + 1, 0)]:  # the oldest first (creation order)
            del self.runs[run.id]

    async def start(self, run: ManagedRun) -> ManagedRun:
        if run.state is not State.CREATED:
            raise ApiError(409, f"run {run.id} is {run.state.value}; create a new run to run again")
        busy = [r.id for r in self.runs.values() if r.state in (State.RUNNING, State.STOPPING)]
        if busy:
            raise ApiError(409, f"run {busy[0]} is running; stop it first (one run at a time)")
        settings = {k: v for k, v in run.settings.items() if k != "target"}
        run.started = time.monotonic()
        run.state = State.RUNNING
        self.current = run
        try:
            # one worker in this process, or "workers" processes, or one per worker of a Dask "cluster"
            run.handle = await open_run(
                run.model,
                target=run.settings["target"],
                trace=run.trace,
                out=str(run.run_dir),
                progress=run.on_progress,
                metrics=run.metrics,
                **settings,
            )
        except (TracereplayError, ValueError, OSError) as exc:
            run.state, run.error = State.FAILED, _one_line(exc)
            raise ApiError(400, f"run {run.id} could not start: {run.error}") from None
        if run.state is State.STOPPING:  # stopped while its model loaded: it stops now
            run.handle.stop()
        run.task = asyncio.get_running_loop().create_task(self._finish(run), name=f"run {run.id}")
        return run

    async def _finish(self, run: ManagedRun) -> None:
        assert run.handle is not None
        try:
            result = await run.handle.wait()
        except Exception as exc:  # the run failed: say so in its status, keep the agent up
            log.exception("run %s failed", run.id)
            run.state, run.error = State.FAILED, _one_line(exc)
            return
        run.finished(result.to_dict())

    def stop(self, run: ManagedRun) -> ManagedRun:
        if run.state is State.CREATED:
            run.state, run.error = State.FINISHED, "stopped before it started"
        elif run.state is State.RUNNING:
            run.state = State.STOPPING
            if run.handle is not None:  # else its model is still loading: start() stops it once loaded
                run.handle.stop()
        return run

    def running(self, run_id: str) -> ManagedRun:
        run = self.get(run_id)
        if run.state is not State.RUNNING:
            raise ApiError(409, f"run {run_id} is {run.state.value}, not running")
        if run.handle is None:  # status says so too: "live" is null until the load begins
            raise ApiError(409, f"run {run_id} is still starting (its model or event table loads); try again")
        return run

    def get(self, run_id: str) -> ManagedRun:
        if run_id not in self.runs:
            if self.data_dir is not None and _RUN_ID.match(run_id) and (self.runs_dir / run_id).is_dir():
                held = f"this agent keeps the last {KEEP_ENDED} ended runs"
                raise ApiError(
                    404, f"run {run_id!r} ended and is no longer held ({held}): its directory is still listed"
                )
            raise ApiError(404, f"no run {run_id!r} on this agent")
        return self.runs[run_id]

    def store_file(self, name: str, data: bytes) -> Path:
        if not _FILE_NAME.match(name) or ".." in name:
            raise ApiError(400, f"name {name!r}: use letters, digits, '.', '_' and '-' only")
        if not data:
            raise ApiError(400, "the body is empty: send the file's bytes")
        target = self.files_dir / name
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
        return target

    def list_runs(self) -> list[dict[str, Any]]:
        """This agent's runs, then run directories left in the data directory by earlier agents."""
        entries = []
        folders = self.runs_dir.iterdir() if self.data_dir is not None else ()
        for folder in sorted(p for p in folders if p.is_dir()):
            entries.append(self._entry(folder.name, folder))
        for run_id in self.runs.keys() - {e["id"] for e in entries}:
            entries.append(self._entry(run_id, self.runs[run_id].run_dir))
        return entries

    def run_dir(self, run_id: str) -> Path:
        """The directory of any run on this agent's disk, finished or not."""
        if not _RUN_ID.match(run_id):
            raise ApiError(400, f"run id {run_id!r} is not valid")
        if run_id in self.runs:
            return self.runs[run_id].run_dir
        folder = self.runs_dir / run_id
        if run_id not in self.runs and not (folder / "run.json").is_file():
            raise ApiError(404, f"no run {run_id!r} on this agent")
        return folder

    def _entry(self, run_id: str, folder: Path) -> dict[str, Any]:
        managed = self.runs.get(run_id)
        entry: dict[str, Any] = {
            "id": run_id,
            "run_dir": str(folder),
            "started": None,
            "exit_reason": None,
            "requests": None,
        }
        try:
            meta = read_run_json(folder)
        except TracereplayError as exc:
            entry["state"], entry["error"] = "unreadable", _one_line(exc)
            return entry
        if meta is not None:
            entry.update(
                started=meta.started.isoformat(), exit_reason=meta.exit_reason, requests=meta.requests
            )
        if managed is not None:
            entry["state"] = managed.state.value
        else:
            entry["state"] = "finished" if meta is not None and meta.finished else "abandoned"
        return entry

    def _existing_file(self, field: str, given: str) -> str:
        path = Path(given)
        path = path if path.is_absolute() else self._home() / path
        if not path.is_file():
            raise ApiError(400, f"{field}: no such file on the agent: {given}")
        return str(path)

    async def close(self) -> None:
        """Stop every run gracefully and wait for their files (the agent's shutdown)."""
        for run in self.runs.values():
            if run.state is State.RUNNING:
                self.stop(run)
        tasks = [r.task for r in self.runs.values() if r.task is not None and not r.task.done()]
        if tasks:
            await asyncio.wait(tasks)


class _CurrentRunCollector:
    """/metrics shows the latest started run (counters start afresh with each run, as after a restart)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def collect(self):
        if self.agent.current is not None:
            yield from self.agent.current.metrics.collect()

    def describe(self):
        return []


# ---------------------------------------------------------------------------------------------- HTTP layer
def create_app(
    agent: Agent, *, token: str | None = None, max_body: int = MAX_BODY, version: str = "0"
) -> web.Application:
    """The agent's aiohttp application. ``token``: required as ``Authorization: Bearer`` when set."""
    app = web.Application(
        client_max_size=max_body,
        middlewares=[_errors_as_json, _same_origin_only, _authorize(token)],
    )
    document = spec(version)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "version": version, "runs": len(agent.runs)})

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(document)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(agent.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def upload(request: web.Request) -> web.Response:
        name = _query(request, "name", str)
        data = await request.read()
        return web.json_response({"path": str(agent.store_file(name, data))})

    async def create(request: web.Request) -> web.Response:
        run = agent.create(await _json_body(request))
        return web.json_response(run.status())

    async def start(request: web.Request) -> web.Response:
        run = await agent.start(agent.get(request.match_info["id"]))
        return web.json_response(run.status())

    async def stop(request: web.Request) -> web.Response:
        return web.json_response(agent.stop(agent.get(request.match_info["id"])).status())

    async def status(request: web.Request) -> web.Response:
        return web.json_response(agent.get(request.match_info["id"]).status())

    async def series(request: web.Request) -> web.Response:
        run = agent.get(request.match_info["id"])
        since = _query(request, "since", float, default=-1.0)
        return web.json_response([p for p in run.series if p["t"] > since])

    async def add_users(request: web.Request) -> web.Response:
        run = agent.running(request.match_info["id"])
        amount = _query(request, "amount", int, minimum=1)
        _control(lambda: run.handle.add_users(amount))  # type: ignore[union-attr]
        return web.json_response(run.status())

    async def remove_users(request: web.Request) -> web.Response:
        run = agent.running(request.match_info["id"])
        amount = _query(request, "amount", int, minimum=1)
        _control(lambda: run.handle.remove_users(amount))  # type: ignore[union-attr]
        return web.json_response(run.status())

    async def rate(request: web.Request) -> web.Response:
        run = agent.running(request.match_info["id"])
        value = _query(request, "value", float, minimum=1e-9)
        _control(lambda: run.handle.set_arrival_rate(value))  # type: ignore[union-attr]
        return web.json_response(run.status())

    async def inject(request: web.Request) -> web.Response:
        run = agent.running(request.match_info["id"])
        action = _query(request, "action", str)
        users = _query(request, "users", int, default=1, minimum=1)
        handle = run.handle
        if not isinstance(handle, RunHandle):  # several workers: their users are in other processes
            raise ApiError(409, f"run {run.id} has several workers; inject needs a run of one")
        injected = _control(lambda: handle.tester.inject(action, users))
        return web.json_response({"injected": injected, "action": action})

    async def runs(request: web.Request) -> web.Response:
        return web.json_response(agent.list_runs())

    async def report(request: web.Request) -> web.Response:
        run_id = request.match_info["id"]
        folder = agent.run_dir(run_id)
        managed = agent.runs.get(run_id)
        if managed is not None and managed.state in (State.CREATED, State.RUNNING, State.STOPPING):
            raise ApiError(409, f"run {run_id} is {managed.state.value}; its report comes when it ends")
        kind = _query(request, "format", str, default="json")
        if kind not in ("json", "html"):
            raise ApiError(400, f"format must be json or html, not {kind!r}")
        # the report reads Parquet and may draw plots: off the event loop, so the runs keep their schedule
        return await asyncio.to_thread(_report, folder, kind)

    app.router.add_get("/health", health)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/dashboard", dashboard.page)
    app.router.add_get("/dashboard/app.js", dashboard.script)
    app.router.add_post("/files", upload)
    app.router.add_post("/loadagent/create", create)
    app.router.add_get("/loadagent/runs", runs)
    app.router.add_post("/loadagent/{id}/run", start)
    app.router.add_post("/loadagent/{id}/stop", stop)
    app.router.add_get("/loadagent/{id}/status", status)
    app.router.add_get("/loadagent/{id}/series", series)
    app.router.add_post("/loadagent/{id}/addusers", add_users)
    app.router.add_post("/loadagent/{id}/removeusers", remove_users)
    app.router.add_post("/loadagent/{id}/rate", rate)
    app.router.add_post("/loadagent/{id}/inject", inject)
    app.router.add_get("/loadagent/{id}/report", report)

    async def on_cleanup(app: web.Application) -> None:
        await agent.close()

    app.on_cleanup.append(on_cleanup)
    return app


def _report(folder: Path, kind: str) -> web.Response:
    try:
        run = load_run(folder)
        if kind == "html":
            return web.Response(text=render_html(summarize(run, bucket=5.0)), content_type="text/html")
        return web.json_response(summarize(run).to_dict(), dumps=lambda d: json.dumps(d, default=str))
    except TracereplayError as exc:
        raise ApiError(400, _one_line(exc)) from None


# ------------------------------------------------------------------------------------------- middlewares
@web.middleware
async def _errors_as_json(request: web.Request, handler) -> web.StreamResponse:
    """Every refusal as ``{"error": one line}`` with its 4xx; anything unexpected as a 500, logged."""
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(exc.status, exc.reason)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.text or exc.reason, headers=_allow(exc))
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        return _error(500, f"internal error: {_one_line(exc)}")


def _allow(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}


@web.middleware
async def _same_origin_only(request: web.Request, handler) -> web.StreamResponse:
    """A browser page from another origin must not steer runs: an ``Origin`` other than ours is refused.

    Without this a page anywhere could POST ``/loadagent/x/stop`` to a loopback agent (a "simple" request
    needs no preflight). No ``Access-Control-*`` header is ever sent, so no other origin reads an answer.
    """
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise ApiError(403, f"cross-origin request from {origin} refused")
    return await handler(request)


def _authorize(token: str | None):
    expected = token.encode() if token else None

    @web.middleware
    async def authorize(request: web.Request, handler) -> web.StreamResponse:
        if request.path in PUBLIC:
            return await handler(request)
        if expected is None:
            # no token means loopback only: a Host naming anything else is a DNS-rebinding page
            if not _is_loopback_host(request.host):
                raise ApiError(403, f"Host {request.host!r} is not a loopback name; this agent has no token")
            return await handler(request)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # constant time: how much of a guess matched must not show in how long the answer takes
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise ApiError(401, "missing or wrong token (send Authorization: Bearer TOKEN)")
        return await handler(request)

    return authorize


def _is_loopback_host(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------- helpers
def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": " ".join(str(reason).split())}, status=status, headers=headers)


async def _json_body(request: web.Request) -> Any:
    text = await request.text()
    if not text.strip():
        raise ApiError(400, "the body is empty: send a JSON object")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"body is not JSON: {exc}") from None


def _check(schema: dict[str, Any], value: Any, where: str, components: dict[str, Any]) -> None:
    """Refuse ``value`` unless it fits ``schema``: the first problem, named by its place, as one line.
    ``components`` are the schemas its ``#/components/schemas/…`` references name."""
    document = {**schema, "components": {"schemas": components}}
    error = best_match(jsonschema.Draft202012Validator(document).iter_errors(value))
    if error is not None:
        place = ".".join([where, *map(str, error.absolute_path)])
        raise ApiError(400, f"{place}: {error.message}")


def _settings(given: dict[str, Any]) -> dict[str, Any]:
    """The JSON settings as RunConfig's keyword arguments: durations parsed, enums made."""
    settings: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(RunConfig) if f.name not in AGENT_OWNED}
    for name, value in given.items():
        field = fields[name]
        if field.metadata.get("kind") == "duration" and isinstance(value, str):
            try:
                value = parse_duration(value)
            except (ValueError, TracereplayError) as exc:
                raise ApiError(400, f"settings.{name}: {_one_line(exc)}") from None
        elif isinstance(field.default, enum.Enum) and value is not None:
            value = type(field.default)(value)
        settings[name] = value
    return settings


def _query(request: web.Request, name: str, kind: type, *, default: Any = None, minimum: float | None = None):
    raw = request.query.get(name)
    if raw is None:
        if default is not None:
            return default
        raise ApiError(400, f"query parameter {name} is required")
    try:
        value = kind(raw)
    except ValueError:
        raise ApiError(
            400, f"query parameter {name}={raw!r} is not {'a whole number' if kind is int else 'a number'}"
        ) from None
    if minimum is not None and value < minimum:
        raise ApiError(400, f"query parameter {name}={raw} must be at least {minimum:g}")
    return value


def _control(action):
    """A control that does not apply to this workload (add users to an open one …) is a 409."""
    try:
        return action()
    except ValueError as exc:
        raise ApiError(409, str(exc)) from None


def _check_processes(config: RunConfig) -> None:
    """A request starts at most one process per core of the agent's machine (``workers``, ``cluster``
    local:N): more only compete for the same cores, and a client could otherwise fork the machine to a
    halt."""
    cores = default_workers()
    asked = {"workers": config.workers, "cluster": parse_address(config.cluster) if config.cluster else None}
    for name, n in asked.items():
        if n is not None and n > cores:
            raise ApiError(400, f"settings: {name} asks for {n} processes; this agent has {cores} cores")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
