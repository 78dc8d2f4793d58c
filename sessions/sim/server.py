"""The simulated WhatsApp: ``zapdesk sim`` runs it on loopback for demos, tests and benchmarks.

It stands in for WhatsApp where zapdesk cares, so everything above the driver runs for real:

* Linked devices (the sim driver) connect over a websocket at ``GET /device`` and speak the
  JSON protocol documented in ``sessions.sim.protocol``: rotating QR codes (the first valid
  for ``qr_first_s``, then ``qr_next_s`` each, ``qr_count`` in all, then a timeout), pairing
  codes, credentials that restore a device without QR, and a per-device stream of messages,
  receipts and typing that is kept while the device is offline and resent, in order, when it
  reconnects (acknowledged items are forgotten).
* The business's phone: ``POST /phones/{phone}/scan`` (``{"code"}``: a QR code currently
  shown, see ``GET /devices/pending``), ``POST /phones/{phone}/pair-code`` (``{"code":
  "ABCD-EFGH"}``), ``POST /phones/{phone}/unlink``, ``POST /phones/{phone}/messages`` (typed on
  the phone itself), ``GET /phones``; a phone-like page at ``GET /phone``.
* Customers: ``POST /customers/{phone}/messages`` (text or media; answers the ``wa_id``),
  ``GET /customers/{phone}/messages`` (what their phone shows, with ticks and "typing…"),
  ``POST /customers/{phone}/read``, ``/typing``, ``/reactions``,
  ``/messages/{wa_id}/revoke`` and ``/messages/{wa_id}/edit``; ``POST /customers/burst``
  (``{"to", "count", "customers"}``) for benchmarks; files at ``GET /media/{sha256}``.
* Faults: ``POST /faults/drop`` (``{"phone"}``), ``/faults/logout`` (``{"phone"}``),
  ``/faults/outage`` (``{"seconds"}``) and ``/faults/latency`` (``{"ms"}``).

State lives in memory: it is a simulator.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from importlib import resources

from aiohttp import web

from sessions.sim.demo import DEMO_EVERY_S, demo_traffic
from sessions.sim.device_socket import WORLD, close_all, device_socket
from sessions.sim.http_api import routes
from sessions.sim.state import SimConfig, World
from zapdesk.web import serve, setup_http

PAGE = web.AppKey("sim_phone_page", bytes)
PAGE_CSP = web.AppKey("sim_phone_page_csp", str)
_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def create_app(
    *,
    qr_first_s: float = 60,
    qr_next_s: float = 20,
    qr_count: int = 6,
    hello_timeout_s: float = 10,
    batch_size: int = 1000,
    history_limit: int = 5000,
    demo_every_s: tuple[float, float] | None = None,
) -> web.Application:
    config = SimConfig(
        qr_first_s=qr_first_s,
        qr_next_s=qr_next_s,
        qr_count=qr_count,
        hello_timeout_s=hello_timeout_s,
        batch_size=batch_size,
        history_limit=history_limit,
    )
    app = web.Application(client_max_size=config.max_media_bytes * 2)
    setup_http(app)
    app[WORLD] = World(config)
    app.router.add_get("/device", device_socket)
    app.router.add_get("/phone", phone_page)
    app.router.add_routes(routes)
    app.cleanup_ctx.append(_phone_page)
    if demo_every_s is not None:
        app.cleanup_ctx.append(demo_traffic(demo_every_s))
    app.on_shutdown.append(_close_devices)
    return app


def run(host: str, port: int, *, demo: bool = False) -> int:
    """Serves the simulated WhatsApp until SIGINT/SIGTERM; answers the exit status."""
    return serve(create_app(demo_every_s=DEMO_EVERY_S if demo else None), host, port)


async def _phone_page(app: web.Application) -> AsyncIterator[None]:
    page = resources.files("sessions.sim").joinpath("phone.html").read_bytes()
    # The page's one inline script is allowed by its hash, and nothing else is.
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _SCRIPT.findall(page.decode())
    ]
    app[PAGE] = page
    app[PAGE_CSP] = (
        f"default-src 'self'; script-src {' '.join(hashes)}; connect-src 'self'; "
        "img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    yield


async def _close_devices(app: web.Application) -> None:
    close_all(app[WORLD])


async def phone_page(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[PAGE],
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": request.app[PAGE_CSP], "Cache-Control": "no-store"},
    )
