"""``TransportSettings``: the one set of knobs both HTTP clients read (``RunConfig`` fills it)."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class TransportSettings:
    """How a transport connects, how long it waits, how much of a body it keeps.

    - ``connect_timeout``: opening a connection (TCP and TLS) may take at most this (seconds); it never
      extends the request's own deadline.
    - ``request_timeout``: the whole request — waiting for a connection, connecting, sending, the answer's
      last byte — unless ``send(timeout=…)`` says otherwise; None: no limit.
    - ``max_body_bytes``: a body is kept up to this many bytes; the rest is read, counted in
      ``Response.size`` and discarded, so a 1 GiB answer costs no more memory than this.
    - ``keep_alive``: reuse connections (False: ``Connection: close`` on every request).
    - ``max_connections``: cap on open connections (0: none); requests beyond it wait for one.
    """

    connect_timeout: float = 10.0
    request_timeout: float | None = 10.0
    max_body_bytes: int = 16 * MIB
    keep_alive: bool = True
    max_connections: int = 0

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty when valid)."""
        p: list[str] = []
        if not self.connect_timeout > 0:
            p.append("connect_timeout must be positive")
        if self.request_timeout is not None and not self.request_timeout > 0:
            p.append("request_timeout must be positive")
        if self.max_body_bytes < 0:
            p.append("max_body_bytes must be ≥ 0")
        if self.max_connections < 0:
            p.append("max_connections must be ≥ 0")
        return p
