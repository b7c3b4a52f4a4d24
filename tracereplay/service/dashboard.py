"""The live dashboard: one HTML page and its script, shipped in the package (nothing from a CDN).

The page polls the agent's own API (``/loadagent/{id}/status`` and ``/series``) once a second and draws
requests/s, p50/p95/p99, errors and users on canvases; its buttons call ``addusers``, ``removeusers`` and
``stop``. With a token, open it as ``/dashboard#token=TOKEN``: the script keeps the token in the tab's
session storage and sends it as ``Authorization: Bearer``. ``?run=ID`` picks a run (default: the one
running, else the latest).
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

_STATIC = resources.files("tracereplay.service") / "static"
# no caching: an upgraded agent serves its new script at once
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


async def page(request: web.Request) -> web.Response:
    html = (_STATIC / "dashboard.html").read_text(encoding="utf-8")
    return web.Response(text=html, content_type="text/html", headers=_HEADERS)


async def script(request: web.Request) -> web.Response:
    js = (_STATIC / "app.js").read_text(encoding="utf-8")
    return web.Response(text=js, content_type="application/javascript", headers=_HEADERS)
