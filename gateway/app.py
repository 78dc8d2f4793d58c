"""The gateway application factory. No I/O here: resources open in cleanup contexts, in
dependency order (registry, outbox, delivery, credentials, supervisor) and close in reverse,
so the supervisor's last events are in the outbox before delivery stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from gateway import api, keys
from gateway.backup import CredentialBackup, store_for
from gateway.delivery import Delivery
from gateway.metrics import GatewayCollector, exposition
from gateway.outbox import Outbox
from gateway.registry import Registry
from gateway.settings import Settings
from gateway.supervisor import HostPlan, Supervisor
from sessions.credentials import Sealer
from zapdesk.db import create_engine
from zapdesk.web import setup_http

REGISTRY = web.AppKey("registry", Registry)
DELIVERY = web.AppKey("delivery", Delivery)
CREDENTIALS = web.AppKey("credentials", CredentialBackup)
METRICS = web.AppKey("metrics", CollectorRegistry)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def metrics(request: web.Request) -> web.Response:
    body = exposition(request.app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def registry_ctx(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[keys.SETTINGS].database_url)
    app[REGISTRY] = Registry(engine)
    yield
    await engine.dispose()


async def outbox_ctx(app: web.Application) -> AsyncIterator[None]:
    outbox = Outbox(app[keys.SETTINGS].runtime.data_dir / "outbox.db")
    await outbox.open()
    app[keys.OUTBOX] = outbox
    yield
    await outbox.close()


async def delivery_ctx(app: web.Application) -> AsyncIterator[None]:
    services = app[keys.SETTINGS].services
    secret = services.webhook_secret.get_secret_value() if services.webhook_secret else ""
    delivery = Delivery(app[keys.OUTBOX], services.core_endpoint, secret)
    await delivery.start()
    app[DELIVERY] = delivery
    yield
    await delivery.stop()


async def credentials_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    key = settings.gateway.credential_key
    backup = CredentialBackup(
        store_for(settings.s3, settings.runtime.data_dir),
        Sealer(key.get_secret_value() if key else ""),
        settings.runtime.data_dir / "sessions",
    )
    app[CREDENTIALS] = backup
    yield
    await backup.store.close()


async def supervisor_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    gateway = settings.gateway
    options = {"url": gateway.sim_url} if gateway.gateway_driver == "sim" else {}
    plan = HostPlan(
        driver=gateway.gateway_driver,
        options=options,
        capacity=gateway.host_capacity,
        workdir=settings.runtime.data_dir / "sessions",
        log_level=settings.runtime.log_level,
        log_format=settings.runtime.log_format,
    )
    supervisor = Supervisor(
        app[REGISTRY],
        app[keys.OUTBOX],
        app[CREDENTIALS],
        plan,
        send_per_minute=gateway.send_per_minute,
        send_burst=gateway.send_burst,
        typing_before_send=gateway.typing_before_send,
    )
    await supervisor.start()
    app[keys.SUPERVISOR] = supervisor
    collector = GatewayCollector(supervisor, app[keys.OUTBOX], app[DELIVERY])
    app[keys.COLLECTOR] = collector
    registry = CollectorRegistry()
    registry.register(collector)
    app[METRICS] = registry
    periodic = asyncio.create_task(
        app[CREDENTIALS].run_periodic(
            lambda: list(supervisor.placement), gateway.backup_interval_s
        ),
        name="credentials-periodic-backup",
    )
    yield
    periodic.cancel()
    await asyncio.gather(periodic, return_exceptions=True)
    await supervisor.stop()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    setup_http(app)
    app.middlewares.append(api.require_token)
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.extend(
        [registry_ctx, outbox_ctx, delivery_ctx, credentials_ctx, supervisor_ctx]
    )
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_routes(api.routes)
    return app
