"""Liveness and readiness, for load balancers, orchestrators and the launcher."""

from __future__ import annotations

import asyncio

from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from core import keys
from core.storage.migrations import current_revision
from zapdesk.errors import NotReady

routes = web.RouteTableDef()
CHECK_TIMEOUT = 3.0


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Alive: the process answers. Says nothing about its dependencies."""
    return web.json_response({"status": "alive"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready: the database answers and is at the migration head; Redis answers if configured."""
    app = request.app
    checks: dict[str, str] = {}
    problems: dict[str, str] = {}
    head = app[keys.MIGRATION_HEAD]
    try:
        async with asyncio.timeout(CHECK_TIMEOUT), app[keys.ENGINE].connect() as connection:
            revision = await current_revision(connection)
        checks["database"] = "ok"
        if revision == head:
            checks["migrations"] = head
        else:
            problems["migrations"] = (
                f"database is at {revision or 'no revision'}, this version needs {head}: "
                "run `zapdesk migrate`"
            )
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        problems["database"] = f"unreachable ({type(exc).__name__})"
    client = app.get(keys.REDIS)
    if client is None:
        checks["redis"] = "not configured"
    else:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                await client.ping()
            checks["redis"] = "ok"
        except (OSError, RedisError, TimeoutError) as exc:
            problems["redis"] = f"unreachable ({type(exc).__name__})"
    if problems:
        summary = "; ".join(f"{name}: {text}" for name, text in problems.items())
        raise NotReady(f"Not ready: {summary}", details={"checks": checks, "problems": problems})
    return web.json_response({"status": "ready", "checks": checks})
