"""The websocket endpoint, ``GET /api/v1/ws?ticket=...[&last_seq=N]``.

Before upgrading: the Origin must be this site (the request's Host or the public URL), the
ticket valid and unused, the user active. Then one reader loop (this handler) answers the
client's messages and one writer task per socket sends what the hub queues (see
``core.realtime.protocol`` for the frames, ``core.realtime.fanout`` for the hub).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import WSMsgType, web

from core import keys
from core.api.routing import PREFIX
from core.auth.visibility import Viewer
from core.desk.presence import PRESENCE_KEEPER
from core.realtime.access import authorize_topic, load_viewer
from core.realtime.admission import USED_TICKETS, admit, check_origin, last_seq_of
from core.realtime.config import REALTIME, RealtimeConfig
from core.realtime.connection import Connection
from core.realtime.fanout import GOING_AWAY, Hub
from core.realtime.protocol import (
    ClientMessage,
    Ping,
    Resume,
    Subscribe,
    Unsubscribe,
    message_id,
    parse_message,
    result_frame,
)
from core.realtime.tickets import MemoryNonces, RedisNonces
from zapdesk.errors import BadRequest, NotReady, Unauthorized, ValidationFailed, ZapdeskError

log = structlog.get_logger("core.realtime")

PATH = f"{PREFIX}/ws"
HUB = keys.HUB


def setup(app: web.Application) -> None:
    """Installs the hub (after the bus), its shutdown and the websocket route."""
    limits = app[keys.SETTINGS].realtime
    app[REALTIME] = RealtimeConfig(
        send_queue=limits.ws_send_queue, replay=limits.ws_replay, redis_prefix=limits.redis_prefix
    )
    app.cleanup_ctx.append(hub_context)
    app.on_shutdown.append(_going_away)
    app.router.add_get(PATH, websocket)


async def hub_context(app: web.Application) -> AsyncIterator[None]:
    config = app[REALTIME]
    redis = app.get(keys.REDIS)
    app[USED_TICKETS] = MemoryNonces() if redis is None else RedisNonces(redis, config.redis_prefix)
    sessions = app[keys.SESSIONS]

    async def rights(user_id: int) -> Viewer | None:
        async with sessions() as db:
            try:
                return await load_viewer(db, user_id)
            except Unauthorized:
                return None

    hub = Hub(app[keys.BUS], config, rights)
    app[HUB] = hub
    await hub.start()
    yield
    await hub.stop()


async def _going_away(app: web.Application) -> None:
    hub = app.get(HUB)
    if hub is not None:
        await hub.shutdown()


async def websocket(request: web.Request) -> web.StreamResponse:
    app = request.app
    hub = app[HUB]
    config = app[REALTIME]
    if hub.closing:
        raise NotReady("The server is going away; reconnect.")
    ws = web.WebSocketResponse(
        heartbeat=config.heartbeat,
        compress=False,  # the same bytes go to every socket; no per-socket deflate
        max_msg_size=config.max_message,
        timeout=config.close_timeout,
    )
    if not ws.can_prepare(request).ok:
        raise BadRequest("Expected a websocket upgrade.")
    check_origin(request, app[keys.SETTINGS].web.public_url)
    last_seq = last_seq_of(request)
    claims = await admit(request)
    async with app[keys.SESSIONS]() as db:
        viewer = await load_viewer(db, claims.user_id)
    await ws.prepare(request)
    conn = Connection(
        ws, request.transport, viewer, send_queue=config.send_queue, resume_from=last_seq
    )
    with structlog.contextvars.bound_contextvars(user_id=viewer.user_id):
        await _serve(app, hub, conn)
    return ws


# After the upgrade.


async def _serve(app: web.Application, hub: Hub, conn: Connection) -> None:
    first = hub.register(conn)
    conn.start_writer()
    log.info("ws_open", role=conn.viewer.role.value)
    if hub.closing:  # opened while the server began to shut down
        hub.drop(conn, GOING_AWAY, "going away")
    try:
        if first:
            await _came_online(app, conn.viewer.user_id)
        async for message in conn.ws:
            if message.type is WSMsgType.TEXT:
                await _answer(app, hub, conn, message.data)
            elif message.type is WSMsgType.BINARY:
                hub.send(conn, result_frame(None, BadRequest("Send JSON in text frames.")))
            else:
                break
    finally:
        last = hub.unregister(conn)
        await conn.stop_writer()
        log.info("ws_closed", code=conn.ws.close_code, last=last)
        # Offline comes later: when no tab of theirs has been back for a while (presence).


async def _came_online(app: web.Application, user_id: int) -> None:
    keeper = app.get(PRESENCE_KEEPER)
    if keeper is None:
        return
    try:
        await keeper.refresh([user_id])
    except Exception:
        # Presence must not break the socket; the next beat announces it.
        log.warning("presence_not_refreshed", user_id=user_id, exc_info=True)


async def _answer(app: web.Application, hub: Hub, conn: Connection, text: str) -> None:
    """Runs one client message; a failure becomes an error result with a stable code."""
    answer_to: int | str | None = None
    try:
        message = parse_message(text)
        answer_to = message.id
        await _run(app, hub, conn, message)
    except ZapdeskError as exc:
        hub.send(conn, result_frame(answer_to or message_id(text), exc))
    except Exception:
        log.exception("ws_message_failed")
        hub.send(conn, result_frame(answer_to, ZapdeskError()))


async def _run(app: web.Application, hub: Hub, conn: Connection, message: ClientMessage) -> None:
    if isinstance(message, Subscribe):
        await _subscribe(app, hub, conn, message)
    elif isinstance(message, Unsubscribe):
        hub.unsubscribe(conn, message.topics)
        hub.send(conn, result_frame(message.id))
    elif isinstance(message, Resume):
        await hub.catch_up(conn, message.seq, result_frame(message.id))
    elif isinstance(message, Ping):
        hub.send(conn, result_frame(message.id))


async def _subscribe(app: web.Application, hub: Hub, conn: Connection, message: Subscribe) -> None:
    new = [t for t in dict.fromkeys(message.topics) if t not in conn.topics]
    limit = hub.config.max_topics
    if len(conn.topics) + len(new) > limit:
        raise ValidationFailed(
            f"A socket follows at most {limit} topics.", details={"field": "topics"}
        )
    if new:
        # All or nothing: one topic refused subscribes none of them.
        async with app[keys.SESSIONS]() as db:
            for topic in new:
                await authorize_topic(db, conn.viewer, topic)
    hub.subscribe(conn, new)
    reply = result_frame(message.id)
    if conn.positioned:
        hub.send(conn, reply)
    elif conn.resume_from is not None:
        await hub.catch_up(conn, conn.resume_from, reply)
    else:
        hub.position(conn, reply)
