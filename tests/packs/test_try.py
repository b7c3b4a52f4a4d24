"""``tracereplay try``: one user, one session, every request, answer and store change shown (issue 11)."""

from __future__ import annotations

import subprocess
import sys


def tracereplay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tracereplay", *args], capture_output=True, text=True, timeout=120
    )


def test_try_a_pack_alone_shows_requests_answers_and_store(start_chat, chat_pack, tmp_path):
    url = start_chat("0.2", "0.3")
    done = tracereplay("try", chat_pack, "--target", url)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    # the handshake: the request, its 401 answer with the body excerpt, marked expected
    assert "→ POST /_matrix/client/v3/register" in out and "← 401 in" in out and '"session":' in out
    assert "✓ 401 expected under 'POST /_matrix/client/v3/register'" in out
    # the register answer's token and user id went into the store; the token itself is never printed
    assert "store ~ token set" in out and "store + values.user_id" in out
    assert "Bearer …" in out and "access_token\": \"" in out  # shown in the answer body only
    # escaped ids on the wire, the room id remembered
    assert "/directory/room/%23" in out and "/join/%21" in out and "store + values.room_id" in out
    # every pack action, in ACTIONS order, and the long-poll's since
    actions = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("action ")]
    assert actions[0].endswith("/register") and actions[-1].endswith("/sync") and len(actions) == 7
    assert "store + fact.since" in out
    assert out.strip().splitlines()[-1].startswith("done: 7 actions")
    assert not list(tmp_path.iterdir())  # nothing written


def test_try_a_script_with_its_pack_plays_one_session(start_chat, chat_pack, chat_script):
    url = start_chat("0.2", "0.3")
    done = tracereplay("try", chat_script, "--actions", chat_pack, "--target", url)
    assert done.returncode == 0, done.stdout + done.stderr
    actions = [line for line in done.stdout.splitlines() if line.startswith("action ")]
    assert len(actions) == 7  # the script's one loop, then stop
    assert "think time, not waited" in done.stdout


def test_try_exits_3_and_says_why_when_a_request_fails(start_chat, tmp_path):
    url = start_chat()
    pack = tmp_path / "broken.py"
    pack.write_text(
        "async def me(ctx):\n"
        "    await ctx.request('GET', '/_matrix/client/v3/sync')\n"  # no token: 401, not expected
        "async def bad(ctx):\n"
        "    raise KeyError('room_id')\n"
        "ACTIONS = {'GET /_matrix/client/v3/sync': me, 'bad': bad}\n",
        encoding="utf-8",
    )
    done = tracereplay("try", str(pack), "--target", url)
    assert done.returncode == 3
    assert "← 401" in done.stdout and "✗ recorded as http_4xx" in done.stdout
    assert "✗ not sent (protocol): KeyError: 'room_id'" in done.stdout  # the reason, as error_detail holds it
