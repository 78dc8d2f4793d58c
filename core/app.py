"""The core application factory. No I/O here: resources open in cleanup contexts."""

from __future__ import annotations

from aiohttp import web

from core import health, keys, resources
from core.settings import Settings
from core.webui import setup_webui
from zapdesk.web import setup_http

MAX_BODY = 1024 * 1024


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    setup_http(app)
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.extend([resources.database, resources.redis])
    app.router.add_routes(health.routes)
    setup_webui(app, settings.web.webui_dir)
    return app
