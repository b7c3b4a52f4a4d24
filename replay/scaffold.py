"""``tracereplay pack new``: the source of a working action pack for every action of an event table or model.

One function per action. An HTTP action's route parameters are filled from the user's store (the ids
earlier answers gave it, as the generic action does) and escaped with ``ctx.path``; its JSON answer's ids
are remembered for later actions (``harvest``, the generic action's rule). Given a HAR recording, each
function sends what the browser sent first: the JSON (or text) body, the query and the headers that are
not secrets, transport details or cookies. An action that is not HTTP gets a function to fill in. The
result imports, passes ``check_actions`` and runs as it is; it is meant to be edited.
"""

from __future__ import annotations

import json
import keyword
import pprint
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import unquote

from tracereplay.replay.actions.generic import parse_action

_PARAM = re.compile(r"\{[^{}/]+\}")
_PARAM_SPLIT = re.compile(r"(\{[^{}/]+\})")

#: Recorded headers a scaffold leaves out: the transport sets them, the user's store supplies them, or a
#: browser adds them for itself.
DROPPED_HEADERS = frozenset(
    {
        "host", "content-length", "connection", "accept-encoding", "cookie", "authorization", "user-agent",
        "origin", "referer", "pragma", "cache-control", "accept-language", "dnt", "te", "upgrade",
        "keep-alive", "proxy-authorization", "x-csrf-token", "x-xsrf-token", "priority",
    }
)  # fmt: skip


class Example(Protocol):
    """A recorded request (``ingest.readers.har.ExampleRequest`` is one)."""

    method: str
    headers: dict[str, str]
    body: str | None
    mime_type: str | None
    query: list[tuple[str, str]]


def function_name(action: str, taken: set[str]) -> str:
    """A Python name for an action: ``GET /users/{user_id}`` → ``get_users_user_id`` (unique in ``taken``)."""
    base = re.sub(r"[^0-9a-zA-Z]+", "_", action).strip("_").lower() or "action"
    if base[0].isdigit() or keyword.iskeyword(base):
        base = f"action_{base}"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def scaffold_pack(
    actions: Iterable[str],
    *,
    source: str,
    examples: Mapping[str, Sequence[Example]] | None = None,
    paths: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The pack's source text for ``actions`` (``examples``: recorded requests per action, e.g. a HAR's;
    ``paths``: concrete paths recorded per action, whose parameter values stand in while the user's store
    knows none)."""
    examples, paths = examples or {}, paths or {}
    taken: set[str] = set()
    functions, entries = [], []
    for action in dict.fromkeys(actions):
        name = function_name(action, taken)
        recorded = (examples.get(action) or [None])[0]
        functions.append(_function(name, action, recorded, paths.get(action, ())))
        entries.append(f"    {action!r}: {name},")
    har = " and the recorded requests of a HAR" if examples else ""
    head = f'''"""Action pack for {source}, scaffolded by ``tracereplay pack new``{har}.

Every action of the source has a function; route parameters come from the user's store (ids earlier
answers gave it), else from values recorded in the source, and go out escaped. Edit what the payloads,
expected statuses and remembered fields should be (docs/running.md, "Actions"), then try it:
``tracereplay try THIS_FILE --target URL``.
"""

from __future__ import annotations

from tracereplay.replay.actions.generic import harvest
from tracereplay.replay.actions.pack import ActionContext
'''
    table = "ACTIONS = {\n" + "\n".join(entries) + "\n}\n"
    return head + "\n\n" + "\n\n\n".join(functions) + "\n\n\n" + table


def _function(name: str, action: str, example: Example | None, paths: Sequence[str] = ()) -> str:
    route = parse_action(action)
    lines = [f"async def {name}(ctx: ActionContext) -> None:", f'    """{_doc(action)}"""']
    if route is None:
        lines.append("    # not an HTTP action: send what it stands for with ctx.request(...)")
        lines.append("    return None")
        return "\n".join(lines)
    lines += _parameters(route.route, route.params, recorded_values(route.route, paths))
    if route.params:
        values = ", ".join(f"{p!r}: {_identifier(p)}" for p in route.params)
        path = f"ctx.path({route.route!r}, **{{{values}}})"
    else:
        path = repr(route.route)
    arguments = [repr(route.method), path]
    arguments += _recorded(example)
    lines.append(f"    answer = await ctx.request({', '.join(arguments)})")
    lines.append("    if answer.status < 400:")
    lines.append(f"        harvest(answer.json(), {route.resource!r}, ctx.store)  # ids for later actions")
    return "\n".join(lines)


def _parameters(route: str, params: Sequence[str], recorded: list[tuple[str, ...]]) -> list[str]:
    """Lines giving each route parameter a value: the store's, else (all together, so that values seen
    in one path stay together) one recorded set; with none recorded, the action cannot be sent yet."""
    lines, names = [], [_identifier(p) for p in params]
    for param, var in zip(params, names, strict=True):
        lines.append(f"    {var} = ctx.store.pick({store_name(route, param)!r}, ctx.rng)")
    if not params:
        return lines
    unknown = " or ".join(f"{var} is None" for var in names)
    if recorded:
        lines.append(f"    if {unknown}:  # not known from earlier answers: values the source recorded")
        choices = _literal(recorded)
        lines.append(f"        recorded = {choices}")
        lines.append(f"        {', '.join(names)}, = recorded[int(ctx.rng.integers(len(recorded)))]")
    else:
        kept = ", ".join(store_name(route, p) for p in params)
        lines.append(f"    if {unknown}:")
        why = f"no {kept} known yet: an earlier answer must give one"
        lines.append(f"        raise LookupError({why!r})")
    return lines


def recorded_values(route: str, paths: Iterable[str], limit: int = 5) -> list[tuple[str, ...]]:
    """The parameter values of up to ``limit`` distinct recorded ``paths`` that fit ``route``, decoded
    (``ctx.path`` escapes them again)."""
    pattern = re.compile(
        "".join(
            "([^/]+)" if _PARAM.fullmatch(piece) else re.escape(piece)
            for piece in _PARAM_SPLIT.split(route)
            if piece
        )
    )
    found: dict[tuple[str, ...], None] = {}
    for path in paths:
        match = pattern.fullmatch(path.split("?", 1)[0])
        if match is not None:
            found.setdefault(tuple(unquote(v) for v in match.groups()))
            if len(found) == limit:
                break
    return list(found)


def store_name(route: str, param: str) -> str:
    """The store name a parameter's values are kept under: its own when it says what it is (``team_id``),
    else the resource the segment before it names — ``/teams/{id}`` and ``/teams/{token}`` (what ingest's
    templating calls an opaque id) → ``team_id``, the name the answers' ids are remembered under."""
    if param.endswith("_id"):
        return param
    segments = route.split("/")
    position = segments.index("{" + param + "}") if "{" + param + "}" in segments else 0
    before = segments[position - 1] if position > 0 else ""
    if before.startswith("{") or len(before) < 3:
        return param
    if before.endswith("ies"):
        return before[:-3] + "y_id"
    return (before[:-1] if before.endswith("s") and not before.endswith("ss") else before) + "_id"


def _recorded(example: Example | None) -> list[str]:
    """Keyword arguments reproducing a recorded request: its JSON body, query and plain headers."""
    if example is None:
        return []
    arguments = []
    body: Any = None
    if example.body:
        try:
            body = json.loads(example.body)
        except ValueError:
            body = None  # not JSON: left to the pack author (a text body goes with headers and data)
    if body is not None:
        arguments.append(f"json={_literal(body)}")
    if example.query:
        arguments.append(f"params={_literal(dict(example.query))}")
    headers = {
        k: v
        for k, v in example.headers.items()
        if k.lower() not in DROPPED_HEADERS and not k.startswith(":") and not k.lower().startswith("sec-")
        and v != "<redacted>" and not (k.lower() == "content-type" and body is not None)
    }
    if headers:
        arguments.append(f"headers={_literal(headers)}")
    return arguments


def _literal(value: Any) -> str:
    text = pprint.pformat(value, width=100, sort_dicts=False)
    return text.replace("\n", "\n        ")


def _identifier(param: str) -> str:
    name = re.sub(r"\W+", "_", param).strip("_") or "value"
    return f"{name}_" if keyword.iskeyword(name) or name[0].isdigit() else name


def _doc(action: str) -> str:
    return action.replace("\\", "\\\\").replace('"""', "'''")
