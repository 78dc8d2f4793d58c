"""The core application factory. No I/O here: resources open in cleanup contexts."""

from __future__ import annotations

from aiohttp import web

from core import health, keys, monitoring, resources
from core.api import APIS, internal
from core.api.openapi import install_docs
from core.realtime import hub as realtime_hub
from core.settings import Settings
from core.webui import setup_webui
from zapdesk.web import setup_http

MAX_BODY = 1024 * 1024
VERSION = "0.1.0"


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    setup_http(app)
    monitoring.setup(app)  # counts this replica's answers >= 500 and ingested events
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.extend([resources.database, resources.housekeeping])
    app.cleanup_ctx.extend([resources.redis, resources.bus])
    app.cleanup_ctx.extend([resources.gateway, resources.media, resources.desk])
    app.cleanup_ctx.append(resources.copilot)
    app.router.add_routes(health.routes)
    realtime_hub.setup(app)  # the websocket route, the hub (after the bus) and its shutdown
    app.router.add_routes(internal.routes)
    for api in APIS:
        api.install(app)
    install_docs(app, APIS, VERSION)
    setup_webui(app, settings.web.webui_dir)
    return app
