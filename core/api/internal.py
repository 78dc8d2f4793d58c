"""The gateway's webhook, ``POST /internal/events``: signed batches of WhatsApp events.

Not part of the public API (it is not in the OpenAPI document): only the gateway calls it,
proving itself with the HMAC signature of ``sessions.signing``. The answer comes only after the
batch is committed; the notices for the desk are published after the answer is sent, so the
gateway's acknowledgement never waits on the bus and nothing is shown that was not stored.
"""

from __future__ import annotations

import time
from datetime import timedelta

import structlog
from aiohttp import web

from core import keys
from core.copilot.service import COPILOT
from core.desk.unit import publish
from core.inbox.ingest import ingest_batch
from core.inbox.intake import parse_batch
from core.jobs import JOBS
from core.monitoring import MONITOR
from core.settings import Settings
from sessions.signing import HEADER, BadSignature, verify
from zapdesk.errors import PayloadTooLarge, Unauthorized

log = structlog.get_logger("core.api.internal")

EVENTS_PATH = "/internal/events"
# Larger than the API's limit: a full batch of long texts is still one delivery.
MAX_BATCH_BODY = 16 * 1024 * 1024

routes = web.RouteTableDef()


class BadSignatureError(Unauthorized):
    code, default_message = "bad_signature", "The request is not signed by the gateway."


@routes.post(EVENTS_PATH)
async def receive_events(request: web.Request) -> web.StreamResponse:
    started = time.perf_counter()
    app = request.app
    settings = app[keys.SETTINGS]
    body = await _read_body(request)
    _check_signature(settings, request.headers.get(HEADER), body)
    events = parse_batch(body)
    app[MONITOR].ingest.add(len(events))
    window = timedelta(seconds=settings.inbox.reopen_window_s)
    outcome = await ingest_batch(app[keys.SESSIONS], events, window)

    response = web.json_response({"accepted": outcome.accepted, "duplicates": outcome.duplicates})
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id:  # the middleware would add it too late: the answer is already sent
        response.headers["X-Request-ID"] = str(request_id)
    await response.prepare(request)
    await response.write_eof()
    log.info(
        "events_ingested",
        events=len(events),
        accepted=outcome.accepted,
        duplicates=outcome.duplicates,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    app[JOBS].wanted(outcome.jobs)
    await publish(app[keys.BUS], outcome.notices)
    app[COPILOT].after_ingest(outcome.notices)  # drafts replies in the background
    return response


async def _read_body(request: web.Request) -> bytes:
    if (request.content_length or 0) > MAX_BATCH_BODY:
        raise PayloadTooLarge(f"A batch may have at most {MAX_BATCH_BODY} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > MAX_BATCH_BODY:
            raise PayloadTooLarge(f"A batch may have at most {MAX_BATCH_BODY} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_signature(settings: Settings, header: str | None, body: bytes) -> None:
    secret = settings.services.webhook_secret
    if secret is None:  # pragma: no cover - settings generate or require it
        raise BadSignatureError("No webhook secret is configured.")
    try:
        verify(secret.get_secret_value(), header, body)
    except BadSignature as exc:
        log.warning("events_refused", reason=str(exc))
        raise BadSignatureError(str(exc)) from None
