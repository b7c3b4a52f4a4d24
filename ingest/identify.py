"""Who did it: the user identity of each span, from the user keys in lookup order, then a named fallback.

Readers already resolve the configured user keys (``--user-key``, default :data:`DEFAULT_USER_KEYS`), the
first present winning. Where none is present, the fallback is, in order:

1. client address + user agent (``client.address`` / ``http.client_ip`` / ``net.sock.peer.addr`` …
   with ``user_agent.original`` / ``http.user_agent``) — one browser on one address;
2. the client address alone;
3. the explicit session id (a session belongs to one user).

Spans with none of these are dropped and counted as ``no user identity``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FALLBACK_CLIENT_AGENT = "fallback: client address + user agent"
FALLBACK_CLIENT = "fallback: client address"
FALLBACK_SESSION = "fallback: session id"


def resolve_users(user: np.ndarray, user_key: np.ndarray, client: np.ndarray, agent: np.ndarray,
                  session: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill missing users from the fallbacks. Returns (raw user ids, the key or fallback that named each)."""
    user = user.copy()
    user_key = user_key.copy()
    missing = _missing(user)
    if not missing.any():
        return user, user_key
    has_client = ~_missing(client)
    has_agent = ~_missing(agent)
    both = missing & has_client & has_agent
    if both.any():
        user[both] = client[both] + "|" + agent[both]
        user_key[both] = FALLBACK_CLIENT_AGENT
    only_client = missing & has_client & ~has_agent
    if only_client.any():
        user[only_client] = client[only_client]
        user_key[only_client] = FALLBACK_CLIENT
    by_session = missing & ~has_client & ~_missing(session)
    if by_session.any():
        user[by_session] = "session:" + session[by_session]
        user_key[by_session] = FALLBACK_SESSION
    return user, user_key


def _missing(values: np.ndarray) -> np.ndarray:
    """True where an object array holds None or an empty string."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(pd.isna(values) | (values == ""), dtype=bool)
