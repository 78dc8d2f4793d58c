"""The gateway's HTTP application factory (sessions API arrives with the supervisor)."""

from __future__ import annotations

from aiohttp import web

from gateway.settings import Settings
from zapdesk.web import setup_http

SETTINGS = web.AppKey("settings", Settings)
routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    setup_http(app)
    app[SETTINGS] = settings
    app.router.add_routes(routes)
    return app
