"""The hub of one core replica: its open sockets, and the fan-out of bus envelopes to them.

One task reads the bus. For each envelope it serializes the frame once (only if some socket
wants it) and puts the same bytes on the queue of every socket that follows the topic and may
see the notice. A socket whose queue is full is closed as too slow; nobody waits for it.

Reconnecting clients catch up: ``catch_up(conn, after)`` holds the live notices for that
socket, reads what it missed from the bus's replay buffer (filtered by its topics and
rights), then sends the replay and the held notices as one batch, so nothing is shown twice or
skipped. A client too far behind gets ``resync``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

import structlog

from core.auth.visibility import Viewer
from core.realtime.bus import Bus, Envelope, Notice, Subscription
from core.realtime.config import RealtimeConfig
from core.realtime.connection import Connection, Item, framed, text_frame
from core.realtime.protocol import notice_frame, resync_frame
from core.realtime.topics import ACCESS_CHANGED, INTERNAL
from zapdesk.tasks import TaskSet

log = structlog.get_logger("core.realtime")

TOO_SLOW = 1013  # "try again later": the client may reconnect and resume
GOING_AWAY = 1001
POLICY = 1008  # the account may no longer follow anything


ViewerLoader = Callable[[int], Awaitable[Viewer | None]]


class Hub:
    def __init__(
        self, bus: Bus, config: RealtimeConfig, load_viewer: ViewerLoader | None = None
    ) -> None:
        self.bus = bus
        self.config = config
        # A user's rights now (None: no longer active), for sockets open when they change.
        self.load_viewer = load_viewer
        self.open: set[Connection] = set()
        self.closing = False
        self.head = 0  # the last seq fanned out
        self._by_topic: dict[str, set[Connection]] = {}
        self._holding: set[Connection] = set()
        self._unanchored: set[Connection] = set()
        self._online: Counter[int] = Counter()
        self._fanout: asyncio.Task[None] | None = None
        self._tasks = TaskSet()

    # Lifecycle: start, shutdown (close every socket), stop (end every task).

    async def start(self) -> None:
        self._fanout = asyncio.create_task(self._run(self.bus.subscribe()), name="realtime-fanout")

    async def shutdown(self) -> None:
        """Says "going away" to every socket (they reconnect elsewhere and resume)."""
        self.closing = True
        conns = list(self.open)
        for conn in conns:
            self.detach(conn)
        grace = self.config.close_timeout
        await asyncio.gather(*(c.close(GOING_AWAY, "going away", grace) for c in conns))
        log.info("ws_all_closed", sockets=len(conns))

    async def stop(self) -> None:
        if self._fanout is not None:
            self._fanout.cancel()
            await asyncio.gather(self._fanout, return_exceptions=True)
        await self._tasks.cancel()
        for conn in list(self.open):
            if conn.transport is not None:
                conn.transport.abort()

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> None:
        self._tasks.spawn(coroutine, name)

    def users(self) -> list[int]:
        """Who has a socket open on this replica."""
        return list(self._online)

    # The registry.

    def register(self, conn: Connection) -> bool:
        """Adds a socket (holding until it says where it stands); True for the user's first."""
        self.open.add(conn)
        self._holding.add(conn)
        self._unanchored.add(conn)
        self._online[conn.viewer.user_id] += 1
        return self._online[conn.viewer.user_id] == 1

    def unregister(self, conn: Connection) -> bool:
        """Removes a socket; True when it was the user's last one on this replica."""
        self.detach(conn)
        if conn not in self.open:
            return False
        self.open.discard(conn)
        user_id = conn.viewer.user_id
        self._online[user_id] -= 1
        if self._online[user_id] > 0:
            return False
        del self._online[user_id]
        return True

    def detach(self, conn: Connection) -> None:
        """The fan-out forgets the socket (it is closing)."""
        conn.closing = True
        self._holding.discard(conn)
        self._unanchored.discard(conn)
        self.unsubscribe(conn, list(conn.topics))

    def subscribe(self, conn: Connection, topics: Iterable[str]) -> None:
        if conn.closing:
            return
        for topic in topics:
            conn.topics.add(topic)
            self._by_topic.setdefault(topic, set()).add(conn)

    def unsubscribe(self, conn: Connection, topics: Iterable[str]) -> None:
        for topic in topics:
            conn.topics.discard(topic)
            followers = self._by_topic.get(topic)
            if followers is not None:
                followers.discard(conn)
                if not followers:
                    del self._by_topic[topic]

    def send(self, conn: Connection, item: Item) -> None:
        if not conn.offer(framed(item)):
            self.drop(conn, TOO_SLOW, "too slow")

    def drop(self, conn: Connection, code: int, reason: str) -> None:
        if conn.closing:
            return
        log.info("ws_dropped", user_id=conn.viewer.user_id, code=code, reason=reason)
        self.detach(conn)
        self.spawn(
            conn.close(code, reason, self.config.close_timeout),
            name=f"ws-close-{conn.viewer.user_id}",
        )

    # The fan-out.

    async def _run(self, envelopes: Subscription) -> None:
        # What the bus brings at once (a batch's notices) is fanned out in one go, so each
        # socket's writer wakes once and writes them together; during a long backlog the
        # writers get a turn every so often, well before a socket that keeps up could fill its
        # queue and be taken for too slow.
        turn = max(1, self.config.send_queue // 4)
        fanned = 0
        with envelopes:
            async for envelope in envelopes:
                try:
                    self.fan_out(envelope)
                except Exception:
                    log.exception("fanout_failed", seq=envelope.seq)
                fanned += 1
                if fanned % turn == 0:
                    await asyncio.sleep(0)

    def fan_out(self, envelope: Envelope) -> None:
        if self.head and envelope.seq > self.head + 1:
            self._lost(self.head, envelope.seq)
        self.head = max(self.head, envelope.seq)
        if envelope.notice.topic == INTERNAL:
            self._internal(envelope.notice)
        for conn in self._unanchored:
            conn.low = envelope.seq - 1
        self._unanchored.clear()
        for conn in self._holding:
            conn.hold(envelope, self.config.hold)
        followers = self._by_topic.get(envelope.notice.topic)
        if not followers:
            return
        frame: bytes | None = None
        slow: list[Connection] = []
        for conn in followers:
            if conn.held is not None or envelope.seq <= conn.floor:
                continue
            if not conn.viewer.may_see(envelope.notice):
                continue
            if frame is None:
                frame = text_frame(notice_frame(envelope))
            if not conn.offer(frame):
                slow.append(conn)
        for conn in slow:
            self.drop(conn, TOO_SLOW, "too slow")

    def _internal(self, notice: Notice) -> None:
        if notice.type == ACCESS_CHANGED:
            users = set(notice.data["user_ids"]) & self._online.keys()
            if users:
                self.spawn(self._reload(users), name="ws-access-reload")

    async def _reload(self, user_ids: set[int]) -> None:
        """New rights apply to open sockets at once: a deactivated user's are closed, others
        see from now on what their new role and departments allow."""
        if self.load_viewer is None:
            return
        for user_id in user_ids:
            viewer = await self.load_viewer(user_id)
            for conn in [c for c in self.open if c.viewer.user_id == user_id]:
                if viewer is None:
                    self.drop(conn, POLICY, "account deactivated")
                else:
                    conn.viewer = viewer
            log.info("ws_access_reloaded", user_id=user_id, active=viewer is not None)

    def _lost(self, head: int, seq: int) -> None:
        """This replica missed notices (its bus reader fell behind): every socket resyncs."""
        log.warning("bus_gap", after=head, next=seq)
        for conn in list(self.open):
            if conn.held is not None:
                conn.held_overflow = True
            else:
                self.send(conn, resync_frame(seq - 1))

    # Where a client stands.

    def position(self, conn: Connection, reply: bytes) -> None:
        """Goes live from the moment the socket opened (it sends no last seq)."""
        batch: list[bytes] = []
        self._release(conn, batch)
        batch.append(reply)
        self.send(conn, batch)

    async def catch_up(self, conn: Connection, after: int, reply: bytes) -> None:
        """Sends what the client missed after seq ``after`` (or resync), then ``reply``."""
        if conn.held is None:
            conn.held = []
            self._holding.add(conn)
        try:
            missed = await self.bus.since(after)
        except BaseException:
            self._release(conn, [])  # carry on live; the caller answers the error
            raise
        batch: list[bytes] = []
        if missed is None:
            batch.append(resync_frame(self.head))
        else:
            # Notices after ``low`` reach this socket through the fan-out (held or live).
            low = conn.low
            replay = [e for e in missed if e.seq > after and (low is None or e.seq <= low)]
            batch.extend(notice_frame(e) for e in replay if conn.wants(e.notice))
            last = max([after, *(e.seq for e in replay)])
            if low is None:
                conn.low = last
                self._unanchored.discard(conn)
            conn.floor = max(conn.floor, last)
        self._release(conn, batch)
        batch.append(reply)
        self.send(conn, batch)

    def _release(self, conn: Connection, batch: list[bytes]) -> None:
        held, conn.held = conn.held or [], None
        self._holding.discard(conn)
        conn.positioned = True
        if conn.held_overflow:
            conn.held_overflow = False
            batch.append(resync_frame(self.head))
            return
        batch.extend(notice_frame(e) for e in held if e.seq > conn.floor and conn.wants(e.notice))
