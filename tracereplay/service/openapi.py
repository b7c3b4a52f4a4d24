"""The agent's API described as OpenAPI 3.1: served at ``/openapi.json`` and used to check request bodies.

One home for the shape of every request and answer. The run settings' schema is built from
:class:`~tracereplay.replay.config.RunConfig`'s own field metadata (its kind: int, float, duration, flag …),
so a setting added there is accepted by the agent and described here without a second list.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tracereplay.replay.config import RunConfig, choice_values

#: Settings the agent decides itself: where the run is written, one in-process worker, its event loop.
AGENT_OWNED = ("out", "uvloop")

_ERROR = {"$ref": "#/components/schemas/Error"}
RUN_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def _setting_schema(field: dataclasses.Field) -> dict[str, Any]:
    meta = field.metadata
    kind = meta.get("kind")
    default = field.default
    if kind is None:
        kind = {bool: "flag", int: "int", float: "float"}.get(type(default), "str")
    duration = {"oneOf": [{"type": "number", "minimum": 0}, {"type": "string", "minLength": 1}]}
    if kind == "choice":
        schema: dict[str, Any] = {"type": "string", "enum": list(choice_values(meta.get("choices"), default))}
    else:
        schema = {
            "int": {"type": "integer"},
            "float": {"type": "number"},
            "fraction": {"type": "number"},
            "flag": {"type": "boolean"},
            "duration": duration,
            "str": {"type": "string"},
        }[kind]
    schema = {**schema, "description": meta["help"]}
    if default is None and field.name != "target":
        schema = {"anyOf": [schema, {"type": "null"}], "description": meta["help"]}
    return schema


def settings_schema() -> dict[str, Any]:
    """JSON Schema of the ``settings`` object of a create request: RunConfig's fields the API offers."""
    fields = [f for f in dataclasses.fields(RunConfig) if f.name not in AGENT_OWNED]
    return {
        "type": "object",
        "properties": {f.name: _setting_schema(f) for f in fields},
        "required": ["target"],
        "additionalProperties": False,
    }


def create_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Exactly one of model (a fitted model.json or a .toml script) or trace (an event "
        "table replayed with its timing). Paths are on the agent's disk; relative ones are read from its "
        "data directory (uploads land in files/).",
        "properties": {
            "id": {
                "type": "string",
                "pattern": RUN_ID_PATTERN,
                "description": "Run id (default: generated).",
            },
            "model": {"type": "string", "minLength": 1},
            "trace": {"type": "string", "minLength": 1},
            "settings": {"$ref": "#/components/schemas/Settings"},
        },
        "required": ["settings"],
        "additionalProperties": False,
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "Malformed request (one-line reason)",
        401: "Missing or wrong token",
        403: "Cross-origin request refused",
        404: "No such run",
        409: "The run is not in a state that allows this",
        413: "Request body too large",
        429: "Too many runs created and not started",
    }
    return {str(code): _json(_ERROR, reasons[code]) for code in codes}


def _op(summary: str, ok: dict[str, Any], *codes: int, **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {"200": ok, **_errors(401, 403, *codes)}, **extra}


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": RUN_ID_PATTERN}}


def _query(name: str, kind: str, description: str, *, required: bool = True, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": kind, **schema},
    }


_STATUS = {"$ref": "#/components/schemas/Status"}
_AMOUNT = _query("amount", "integer", "How many users.", minimum=1)


def spec(version: str) -> dict[str, Any]:
    """The OpenAPI document of the agent (``tracereplay/service/agent.py`` routes, one entry each)."""
    text = {"description": "Text", "content": {"text/plain": {"schema": {"type": "string"}}}}
    html = {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
    paths: dict[str, Any] = {
        "/health": {"get": _op("Agent is up", _json({"type": "object"}, "Version and runs"))},
        "/openapi.json": {"get": _op("This document", _json({"type": "object"}, "OpenAPI 3.1"))},
        "/metrics": {
            "get": _op(
                "Prometheus metrics of the current run",
                {
                    "description": "Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
            )
        },
        "/dashboard": {
            "get": {
                "summary": "Live dashboard (no token needed: data come from the API)",
                "responses": {"200": html},
            }
        },
        "/dashboard/app.js": {"get": {"summary": "The dashboard's script", "responses": {"200": text}}},
        "/files": {
            "post": _op(
                "Upload a model, script or event table (the raw file as the body)",
                _json({"type": "object", "properties": {"path": {"type": "string"}}}, "Where it was stored"),
                400,
                413,
                parameters=[_query("name", "string", "File name to store it under (name only).")],
                requestBody={
                    "required": True,
                    "content": {
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                    },
                },
            )
        },
        "/loadagent/create": {
            "post": _op(
                "Create a run (not started)",
                _json(_STATUS, "The run, state created"),
                400,
                409,
                413,
                429,
                requestBody={
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Create"}}},
                },
            )
        },
        "/loadagent/runs": {
            "get": _op(
                "Every run: this agent's and those left in its data directory",
                _json({"type": "array", "items": {"$ref": "#/components/schemas/RunEntry"}}, "Runs"),
            )
        },
        "/loadagent/{id}/run": {
            "post": _op("Start the run", _json(_STATUS, "Status"), 400, 404, 409, parameters=[_ID])
        },
        "/loadagent/{id}/stop": {
            "post": _op("Stop gracefully", _json(_STATUS, "Status"), 404, 409, parameters=[_ID])
        },
        "/loadagent/{id}/status": {
            "get": _op("State and live figures", _json(_STATUS, "Status"), 404, parameters=[_ID])
        },
        "/loadagent/{id}/series": {
            "get": _op(
                "Per-second figures since the start (the dashboard's charts)",
                _json({"type": "array", "items": {"$ref": "#/components/schemas/Point"}}, "Points"),
                404,
                parameters=[
                    _ID,
                    _query("since", "number", "Only points after this elapsed second.", required=False),
                ],
            )
        },
        "/loadagent/{id}/addusers": {
            "post": _op(
                "Add users (closed workload)",
                _json(_STATUS, "Status"),
                400,
                404,
                409,
                parameters=[_ID, _AMOUNT],
            )
        },
        "/loadagent/{id}/removeusers": {
            "post": _op(
                "Remove users (closed workload)",
                _json(_STATUS, "Status"),
                400,
                404,
                409,
                parameters=[_ID, _AMOUNT],
            )
        },
        "/loadagent/{id}/rate": {
            "post": _op(
                "Set the arrival rate (open workload), sessions/s",
                _json(_STATUS, "Status"),
                400,
                404,
                409,
                parameters=[_ID, _query("value", "number", "Sessions per second.", exclusiveMinimum=0)],
            )
        },
        "/loadagent/{id}/inject": {
            "post": _op(
                "Make N running users perform one action now",
                _json({"type": "object", "properties": {"injected": {"type": "integer"}}}, "How many"),
                400,
                404,
                409,
                parameters=[
                    _ID,
                    _query("action", "string", "Action name (a pack's, or 'METHOD /route')."),
                    _query("users", "integer", "How many users (default 1).", required=False, minimum=1),
                ],
            )
        },
        "/loadagent/{id}/report": {
            "get": _op(
                "Report of a finished run: the summary JSON, or the HTML page",
                {
                    "description": "Summary (docs/reporting.md's --json shape) or HTML",
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/html": {"schema": {"type": "string"}},
                    },
                },
                400,
                404,
                409,
                parameters=[
                    _ID,
                    _query(
                        "format", "string", "json (default) or html.", required=False, enum=["json", "html"]
                    ),
                ],
            )
        },
    }
    number = {"type": ["number", "null"]}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tracereplay agent",
            "version": version,
            "description": "Remote control of tracereplay runs (tracereplay serve). With a token, send "
            '`Authorization: Bearer TOKEN`. Errors are JSON: {"error": one line}.',
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}},
                    "required": ["error"],
                },
                "Settings": settings_schema(),
                "Create": create_schema(),
                "Status": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "state": {
                            "type": "string",
                            "enum": ["created", "running", "stopping", "finished", "failed"],
                        },
                        "workload": {"type": "string"},
                        "run_dir": {"type": "string"},
                        "live": {"type": ["object", "null"]},
                        "result": {"type": ["object", "null"]},
                        "error": {"type": ["string", "null"]},
                    },
                    "required": ["id", "state"],
                },
                "RunEntry": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "state": {"type": "string"},
                        "run_dir": {"type": "string"},
                        "started": {"type": ["string", "null"]},
                        "exit_reason": {"type": ["string", "null"]},
                        "requests": {"type": ["integer", "null"]},
                    },
                    "required": ["id", "state"],
                },
                "Point": {
                    "type": "object",
                    "properties": {
                        "t": {"type": "number"},
                        "rps": {"type": "number"},
                        "errors": {"type": "integer"},
                        "p50_ms": number,
                        "p95_ms": number,
                        "p99_ms": number,
                        "users": {"type": "integer"},
                    },
                },
            },
        },
        "security": [{"bearer": []}],
    }
