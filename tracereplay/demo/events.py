"""The demo target's event stream: ``GET /api/v4/websocket`` pushes posts to channel members, as Mattermost's.

Authenticated like every other route (``Authorization: Bearer``; 401 before the upgrade without it). Every
message is a JSON object::

    hello    on connect               {"event": "hello", "data": {"server_version": "tracereplay-demo"},
                                       "broadcast": {"user_id": me}}
    posted   a post in a channel      {"event": "posted", "data": {"channel_id": c, "post": "<the post as JSON
             the user is a member of   text, as Mattermost sends it>"}, "broadcast": {"channel_id": c}}
    typing   another member typing    {"event": "typing", "data": {"user_id": u},
                                       "broadcast": {"channel_id": c}}

A client may send ``{"action": "user_typing", "seq": n, "data": {"channel_id": c}}``: the other members
get a ``typing`` event and the client ``{"status": "OK", "seq_reply": n}`` (``"FAIL"`` with an ``error``
for anything else). Channels are public and every account is in the one team, so a channel's members are
everyone connected.

**Slow consumers.** Each connection has a queue of at most ``queue_size`` messages, written to the socket
by its own task, so a publisher never waits for a slow client. A message that finds the queue full is
handled by the policy: ``disconnect`` (the default, as Mattermost's hub does) closes the connection with
code 1013 ("try again later", reason ``slow consumer``), aborting it if the close frame cannot be written
within a second; ``drop`` drops that message for that client and counts it. Either way the other members
are not held up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

DISCONNECT, DROP = "disconnect", "drop"
POLICIES = (DISCONNECT, DROP)
TRY_AGAIN_LATER = 1013  # RFC 6455 close code: the server is overloaded (here: the client is too slow)
CLIENT_MAX_MSG = 64 * 1024  # what a client may send in one message


@dataclass(eq=False)
class EventConnection:
    """One connected client: its account, its bounded queue, and the task that writes the queue out."""

    ws: web.WebSocketResponse
    user_id: str
    queue: asyncio.Queue[str]
    transport: asyncio.Transport | None
    writer: asyncio.Task | None = None
    kicked: bool = False


@dataclass(kw_only=True)
class EventHub:
    """Every open event stream of the service, and the slow-consumer policy."""

    queue_size: int = 256
    policy: str = DISCONNECT
    connections: set[EventConnection] = field(default_factory=set)
    dropped: int = 0  # messages dropped (policy "drop")
    kicked: int = 0  # connections closed as too slow (policy "disconnect")

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"slow-consumer policy is one of {', '.join(POLICIES)}, not {self.policy!r}")
        if self.queue_size < 1:
            raise ValueError(f"queue size must be at least 1, not {self.queue_size}")

    def publish(self, event: dict[str, Any], to: Callable[[str], bool], *, omit: str | None = None) -> int:
        """Queue ``event`` for every connection whose account ``to`` accepts (not ``omit``); how many."""
        text = json.dumps(event, separators=(",", ":"))
        queued = 0
        for connection in list(self.connections):
            if connection.kicked or connection.user_id == omit or not to(connection.user_id):
                continue
            try:
                connection.queue.put_nowait(text)
                queued += 1
            except asyncio.QueueFull:
                self._too_slow(connection)
        return queued

    async def serve(
        self, request: web.Request, user_id: str, on_message: MessageHandler
    ) -> web.StreamResponse:
        """The websocket of ``user_id``: hello, then client messages to ``on_message`` until it closes."""
        ws = web.WebSocketResponse(max_msg_size=CLIENT_MAX_MSG, heartbeat=None, autoping=True)
        await ws.prepare(request)
        transport = request.transport if isinstance(request.transport, asyncio.Transport) else None
        connection = EventConnection(ws, user_id, asyncio.Queue(self.queue_size), transport)
        connection.writer = asyncio.get_running_loop().create_task(_write(connection))
        self.connections.add(connection)
        connection.queue.put_nowait(
            json.dumps({"event": "hello", "data": {"server_version": "tracereplay-demo"},
                        "broadcast": {"user_id": user_id}})
        )
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                reply = on_message(user_id, message.data)
                if reply is not None and not connection.kicked:
                    with contextlib.suppress(asyncio.QueueFull):
                        connection.queue.put_nowait(json.dumps(reply))
        finally:
            self.connections.discard(connection)
            if connection.writer is not None:
                connection.writer.cancel()
        return ws

    async def close(self) -> None:
        """Close every stream (the service is stopping)."""
        for connection in list(self.connections):
            self.connections.discard(connection)
            if connection.writer is not None:
                connection.writer.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.ws.close(), 1.0)

    def _too_slow(self, connection: EventConnection) -> None:
        if self.policy == DROP:
            self.dropped += 1
            return
        self.kicked += 1
        connection.kicked = True
        self.connections.discard(connection)
        if connection.writer is not None:
            connection.writer.cancel()
        asyncio.get_running_loop().create_task(_kick(connection))


#: Handles one client message (its account, its text); returns the reply to queue, or None.
MessageHandler = Callable[[str, str], "dict[str, Any] | None"]


async def _write(connection: EventConnection) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        while True:
            await connection.ws.send_str(await connection.queue.get())


async def _kick(connection: EventConnection) -> None:
    """Close a too-slow connection; abort it when even the close frame cannot get out."""
    try:
        await asyncio.wait_for(connection.ws.close(code=TRY_AGAIN_LATER, message=b"slow consumer"), 1.0)
    except Exception:
        if connection.transport is not None:
            connection.transport.abort()


def parse_client_message(text: str) -> tuple[str | None, Any, dict[str, Any]]:
    """``(action, seq, data)`` of a client message; action None when it is not one."""
    try:
        message = json.loads(text)
    except ValueError:
        return None, None, {}
    if not isinstance(message, dict):
        return None, None, {}
    action = message.get("action")
    data = message.get("data")
    data = data if isinstance(data, dict) else {}
    return (action if isinstance(action, str) else None), message.get("seq"), data
