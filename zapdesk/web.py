"""aiohttp plumbing shared by core and gateway: request context, errors as JSON, headers."""

from __future__ import annotations

import gc
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from zapdesk.errors import BadRequest, RateLimited, ValidationFailed, ZapdeskError

log = structlog.get_logger("zapdesk.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BY_STATUS = {cls.status: cls for cls in ZapdeskError.__subclasses__()}
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), geolocation=(), microphone=(self)",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}


T = TypeVar("T")


def validated(adapter: TypeAdapter[T], raw: Any, where: str = "body") -> T:
    """``raw`` as ``adapter``'s type, or a 422 ``validation_error`` naming each bad field."""
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
            for error in exc.errors(include_url=False)
        ]
        first = errors[0]
        raise ValidationFailed(
            f"{first['field'] or where}: {first['message']}", details={"errors": errors}
        ) from None


async def read_json(request: web.Request, adapter: TypeAdapter[T]) -> T:
    """The request body parsed into ``adapter``'s type; bad input is a 400/422 naming the field."""
    try:
        raw: Any = await request.json()
    except ValueError:
        raise BadRequest("The body is not valid JSON.") from None
    return validated(adapter, raw)


def error_response(error: ZapdeskError, headers: dict[str, str] | None = None) -> web.Response:
    if isinstance(error, RateLimited) and "retry_after_s" in error.details:
        headers = {"Retry-After": str(error.details["retry_after_s"]), **(headers or {})}
    return web.json_response(error.as_dict(), status=error.status, headers=headers)


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Binds a request id (the caller's ``X-Request-ID`` if sane) and logs one line per request."""
    given = request.headers.get("X-Request-ID", "")
    request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    started = time.perf_counter()
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        response = await handler(request)
        response.headers["X-Request-ID"] = request_id
        level = "debug" if request.path in QUIET_PATHS else "info"
        log.log(
            20 if level == "info" else 10,
            "request",
            method=request.method,
            path=request.path,
            status=response.status,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return response


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Renders every failure as ``{"error": {...}}``; unexpected ones become internal_error."""
    try:
        return await handler(request)
    except ZapdeskError as exc:
        if exc.status >= 500 and request.path not in QUIET_PATHS:
            log.warning("request_failed", code=exc.code, error=exc.message)
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        fallback = BadRequest if exc.status < 500 else ZapdeskError
        response = error_response(_BY_STATUS.get(exc.status, fallback)())
        response.set_status(exc.status)
        return response
    except Exception:
        log.exception("unexpected_error", path=request.path)
        return error_response(ZapdeskError())


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def setup_http(app: web.Application) -> None:
    """The middlewares and headers every zapdesk HTTP service has, outermost first."""
    app.middlewares.extend([request_context, errors_as_json])
    app.on_response_prepare.append(add_security_headers)


def serve(app: web.Application, host: str, port: int, *, shared: bool = False) -> int:
    """Runs until SIGINT/SIGTERM, then shuts down gracefully; answers the exit status.
    ``shared``: one of several processes listening on the same port (``SO_REUSEPORT``)."""

    async def announce(app: web.Application) -> None:
        # What starting made (modules, models, schemas, compiled SQL) lives as long as the
        # process: frozen, the collector stops walking it, and a full collection takes a few
        # milliseconds instead of pausing every request for a hundred.
        gc.collect()
        gc.freeze()
        log.info("starting", url=f"http://{host}:{port}")

    app.on_startup.append(announce)
    try:
        web.run_app(
            app,
            host=host,
            port=port,
            print=None,
            access_log=None,
            shutdown_timeout=10,
            reuse_port=shared or None,
        )
    except OSError as exc:
        log.error("cannot_listen", host=host, port=port, error=exc.strerror or str(exc))
        return 1
    log.info("stopped")
    return 0
