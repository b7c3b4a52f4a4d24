"""``tracereplay serve``: the agent that creates, steers and reports runs over HTTP (docs/service.md).

It binds 127.0.0.1 by default. Any other address needs a token (``--token`` or ``TRACEREPLAY_TOKEN``):
an agent reachable from the network without one would let anyone send load from this machine.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the agent on this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def check_bind(host: str, token: str | None, *, option: str = "--host") -> None:
    """A usage error (exit 2) for a non-loopback bind without a token."""
    if not is_loopback(host) and not token:
        raise click.UsageError(
            f"refusing to bind {host} without a token: anyone who reaches it could send load from here "
            f"(set --token or TRACEREPLAY_TOKEN, or keep {option} 127.0.0.1)"
        )


@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; anything but loopback needs a token.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8089,
    show_default=True,
    help="Port to bind (0: any free port, printed at start).",
)
@click.option(
    "--token",
    envvar="TRACEREPLAY_TOKEN",
    default=None,
    help="Require 'Authorization: Bearer TOKEN' on every request (or set TRACEREPLAY_TOKEN).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("tracereplay-agent"),
    show_default=True,
    help="Where runs (runs/ID) and uploaded files (files/) are kept.",
)
@click.option(
    "--max-body",
    type=click.IntRange(min=1024),
    default=64 * 1024 * 1024,
    show_default=True,
    help="Largest request body accepted, bytes (uploads included).",
)
def serve_command(host: str, port: int, token: str | None, data_dir: Path, max_body: int) -> None:
    """Serve the agent: create, run, steer and report runs over HTTP+JSON, /metrics, /dashboard.

    \b
    Examples:
      tracereplay serve --port 8089 --data-dir agent
      TRACEREPLAY_TOKEN=$(openssl rand -hex 16) tracereplay serve --host 0.0.0.0 --port 8089
    """
    check_bind(host, token)
    # here, not at the top: the agent imports aiohttp, the runtime and prometheus-client (`--help` needs none)
    from tracereplay.service.serve import serve

    serve(host=host, port=port, token=token, data_dir=data_dir, max_body=max_body)


def register(cli: click.Group) -> None:
    """Add ``serve`` to ``cli``."""
    cli.add_command(serve_command)
