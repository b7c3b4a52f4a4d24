"""Who did it: the user identity of each span, from the user keys in lookup order, then a named fallback.

Readers already resolve the configured user keys (``--user-key``, default :data:`DEFAULT_USER_KEYS`), the
first present winning. Where none is present, the fallback is, in order:

1. client address + user agent (``client.address`` / ``http.client_ip`` / ``net.sock.peer.addr`` …
   with ``user_agent.original`` / ``http.user_agent``) — one browser on one address;
2. the client address alone;
3. the user identified on other spans of the same explicit session (a session belongs to one user: a failed
   log-in before the user is known joins the session it started) — applied by the store once all rows are in;
4. the explicit session id itself.

Spans with none of these are dropped and counted as ``no user identity``.
"""

from __future__ import annotations

import numpy as np

from tracereplay.ingest.raw import Coded, Dictionary

FALLBACK_CLIENT_AGENT = "fallback: client address + user agent"
FALLBACK_CLIENT = "fallback: client address"
FALLBACK_SESSION_OWNER = "fallback: the session's user"
FALLBACK_SESSION = "fallback: session id"


def resolve_users(user: np.ndarray, user_key: np.ndarray, client: Coded, agent: Coded, users: Dictionary,
                  keys: Dictionary) -> None:
    """Fill missing users from the client fallbacks (1, 2), in place.

    ``user``/``user_key`` are codes of ``users``/``keys`` (−1 = missing). Rows still without a user but with
    a session id are left for :func:`borrow_session_users`.
    """
    missing = user < 0
    if not missing.any():
        return
    both = np.flatnonzero(missing & client.present & agent.present)
    if len(both):
        user[both] = users.combine(client.take(both), agent.take(both), _client_and_agent)
        user_key[both] = keys.code(FALLBACK_CLIENT_AGENT)
    only_client = np.flatnonzero(missing & client.present & ~agent.present)
    if len(only_client):
        user[only_client] = users.translate(client.take(only_client))
        user_key[only_client] = keys.code(FALLBACK_CLIENT)


def _client_and_agent(client: str, agent: str) -> str:
    return f"{client}|{agent}"


def borrow_session_users(user: np.ndarray, user_key: np.ndarray, session: np.ndarray,
                         session_values: list[str], intern_user, intern_key) -> int:
    """Fallbacks 3 and 4 on int codes (−1 = missing), in place. Returns how many rows were filled.

    ``intern_user``/``intern_key`` turn an array of strings into codes of the store's tables.
    """
    lacking = (user < 0) & (session >= 0)
    if not lacking.any():
        return 0
    known = (user >= 0) & (session >= 0)
    owner = np.full(len(session_values), -1, dtype=np.int32)
    # assigning in reverse makes the first identified row of each session win
    owner[session[known][::-1]] = user[known][::-1]
    rows = np.flatnonzero(lacking)
    borrowed = owner[session[rows]]
    found = borrowed >= 0
    user[rows[found]] = borrowed[found]
    user_key[rows[found]] = intern_key(np.array([FALLBACK_SESSION_OWNER], dtype=object))[0]
    alone = rows[~found]
    if len(alone):
        distinct, inverse = np.unique(session[alone], return_inverse=True)
        names = ["session:" + session_values[c] for c in distinct.tolist()]
        user[alone] = intern_user(names)[inverse]
        user_key[alone] = intern_key(np.array([FALLBACK_SESSION], dtype=object))[0]
    return len(rows)
