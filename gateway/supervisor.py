"""The supervisor: owns every session — where it runs, what state it is in, its credentials —
and turns what hosts report into durable events.

Every event a host hands over is appended to the outbox before anything else happens to it.
A session is driven by exactly one host; a host that dies is restarted with backoff and its
sessions are started again from their credentials.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter, deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import structlog
from pydantic import ValidationError

from gateway.hosts import HostError, HostProcess
from gateway.pacing import Pacer, typing_time
from gateway.registry import Registry, SessionRow, aware
from sessions.commands import (
    Command,
    Logout,
    RequestPairCode,
    SendCommand,
    SendResult,
    SendText,
    SetTyping,
)
from sessions.events import (
    EVENT,
    Event,
    PairCodeData,
    PresenceState,
    QRData,
    SessionQREvent,
    SessionStatusEvent,
    StatusData,
    utcnow,
)
from sessions.states import TERMINAL, Reason, SessionState, describe
from zapdesk.errors import Conflict, NotFound, ValidationFailed, ZapdeskError
from zapdesk.tasks import TaskSet

log = structlog.get_logger("gateway.supervisor")

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RESTORE_STAGGER_S = 0.05
HOST_BACKOFF_S = (0.2, 1.0, 2.0, 5.0, 10.0, 30.0)
# A host that ran this long before dying gets the shortest restart delay again.
STABLE_S = 300.0
# State changes kept per session for the monitoring panel (memory only: empty after a restart).
TIMELINE_LENGTH = 20


class SessionUnavailable(ZapdeskError):
    code, status, default_message = "session_unavailable", 409, "The session is not connected."


class EventSink(Protocol):
    async def append(self, events: list[Event]) -> None: ...


class CredentialKeeper(Protocol):
    async def backup(self, session_id: str) -> None: ...
    async def restore_missing(self, session_ids: list[str]) -> list[str]: ...
    async def delete(self, session_id: str) -> None: ...


@dataclass(frozen=True)
class StateChange:
    at: datetime
    state: SessionState
    reason: Reason | None


@dataclass
class Live:
    """What the supervisor knows about a session between database writes."""

    state: SessionState = SessionState.STOPPED
    reason: Reason | None = None
    qr: QRData | None = None
    last_event_at: datetime | None = None
    since: datetime | None = None  # when the current state began, if seen since start-up
    reconnects: int = 0  # connections lost since start-up
    # The last status heard since start-up: its registry row may still be being written when
    # core, told of it through the outbox, asks for the session.
    status: StatusData | None = None
    timeline: deque[StateChange] = field(default_factory=lambda: deque(maxlen=TIMELINE_LENGTH))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class HostPlan:
    driver: str
    options: dict[str, Any]
    capacity: int
    workdir: Path
    log_level: str = "info"
    log_format: str = "auto"


class Supervisor:
    def __init__(
        self,
        registry: Registry,
        outbox: EventSink,
        credentials: CredentialKeeper,
        plan: HostPlan,
        *,
        send_per_minute: int = 30,
        send_burst: int = 5,
        typing_before_send: bool = False,
    ) -> None:
        self.registry = registry
        self.outbox = outbox
        self.credentials = credentials
        self.plan = plan
        self.hosts: dict[int, HostProcess] = {}
        self.placement: dict[str, HostProcess] = {}
        self.live: dict[str, Live] = {}
        self.host_restarts = 0
        self.events_in: Counter[str] = Counter()
        self._restarts_by_index: Counter[int] = Counter()
        self._pacers: dict[str, Pacer] = {}
        self._pacing = (send_per_minute, send_burst)
        self._typing_before_send = typing_before_send
        self._sending: dict[str, asyncio.Future[SendResult]] = {}
        self._placing = asyncio.Lock()
        self._tasks = TaskSet()
        self._stopping = False

    # Lifecycle.

    async def start(self) -> None:
        await self.registry.create_tables()
        rows = await self.registry.all()
        for row in rows:
            reason = Reason(row.reason) if row.reason else None
            self.live[row.id] = Live(SessionState(row.state), reason)
        running = [row.id for row in rows if row.desired == "running"]
        restored = await self.credentials.restore_missing(running)
        if restored:
            log.info("credentials_restored", sessions=restored)
        self.spawn(self._restore(running), "restore-sessions")

    async def _restore(self, session_ids: list[str]) -> None:
        """Starts every linked session, a little apart, so a restart does not stampede.

        The hosts they need are started first, side by side: a host takes a moment to import
        its driver, and doing that one after another would dominate a large restore.
        """
        needed = -(-len(session_ids) // self.plan.capacity)
        async with self._placing:
            missing = [i for i in range(needed) if i not in self.hosts]
            spawned = await asyncio.gather(
                *(self._new_host(i) for i in missing), return_exceptions=True
            )
        for index, outcome in zip(missing, spawned, strict=True):
            if isinstance(outcome, BaseException):
                log.error("host_start_failed", host=index, error=repr(outcome))
        for session_id in session_ids:
            try:
                await self.start_session(session_id)
            except ZapdeskError as exc:
                log.error("restore_failed", session_id=session_id, error=exc.message)
            await asyncio.sleep(RESTORE_STAGGER_S)

    async def stop(self) -> None:
        self._stopping = True
        await self._tasks.cancel()
        for session_id in list(self.placement):
            try:
                await self.credentials.backup(session_id)
            except Exception:
                log.exception("backup_at_stop_failed", session_id=session_id)
        await asyncio.gather(*(host.stop() for host in self.hosts.values()))

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> None:
        self._tasks.spawn(coroutine, name)

    # Sessions.

    def _live(self, session_id: str) -> Live:
        return self.live.setdefault(session_id, Live())

    async def row(self, session_id: str) -> SessionRow:
        row = await self.registry.get(session_id)
        if row is None:
            raise NotFound(f"No session {session_id!r}.")
        return row

    async def create(self, session_id: str, name: str) -> SessionRow:
        if not SESSION_ID.match(session_id):
            raise ValidationFailed(
                "A session id has 1 to 64 letters, digits, '-' or '_'.", details={"field": "id"}
            )
        if await self.registry.get(session_id) is not None:
            raise Conflict(f"Session {session_id!r} already exists.", details={"field": "id"})
        row = await self.registry.add(session_id, name or session_id)
        await self.start_session(session_id)
        return row

    async def start_session(self, session_id: str) -> None:
        async with self._live(session_id).lock:
            host = await self._place(session_id)
            await self._ask(host, "start", session_id)

    async def stop_session(self, session_id: str, reason: Reason = Reason.REQUESTED) -> None:
        async with self._live(session_id).lock:
            host = self.placement.pop(session_id, None)
            if host is not None:
                host.sessions.discard(session_id)
                if host.alive:
                    await self._ask(host, "stop", session_id)
            await self._publish_status([session_id], SessionState.STOPPED, reason)

    async def restart(self, session_id: str) -> None:
        await self.row(session_id)
        await self.registry.update(session_id, desired="running")
        await self.stop_session(session_id)
        await self.start_session(session_id)

    async def logout(self, session_id: str) -> None:
        await self.row(session_id)
        host = self.placement.get(session_id)
        if host is not None and self.live[session_id].state is SessionState.CONNECTED:
            try:
                await self._ask(host, "call", session_id, command=Logout().model_dump())
            except ZapdeskError as exc:
                log.warning("logout_failed", session_id=session_id, error=exc.message)
        await self.registry.update(session_id, desired="stopped")
        await self.stop_session(session_id, Reason.REQUESTED)
        await self.credentials.delete(session_id)
        await self._publish_status([session_id], SessionState.LOGGED_OUT, Reason.REQUESTED)

    async def delete(self, session_id: str) -> None:
        await self.logout(session_id)
        await self.registry.remove(session_id)
        self.live.pop(session_id, None)
        self._pacers.pop(session_id, None)

    # Commands.

    async def command(self, session_id: str, command: Command) -> Any:
        await self.row(session_id)
        host = self.placement.get(session_id)
        if host is None:
            raise SessionUnavailable(f"Session {session_id!r} is not running.")
        return await self._ask(host, "call", session_id, command=command.model_dump(mode="json"))

    async def pair_code(self, session_id: str, phone: str) -> PairCodeData:
        result = await self.command(session_id, RequestPairCode(phone=phone))
        return PairCodeData.model_validate(result)

    async def send(self, session_id: str, command: SendCommand) -> SendResult:
        """Sends once per ``client_id``: a repeat answers the first result without sending."""
        known = await self.registry.send_result(command.client_id)
        if known is not None:
            return known
        inflight = self._sending.get(command.client_id)
        if inflight is not None:
            return await asyncio.shield(inflight)
        future: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()
        self._sending[command.client_id] = future
        try:
            result = await self._send(session_id, command)
            await self.registry.remember_send(session_id, result)
            future.set_result(result)
            return result
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: nobody else may be waiting for it
            raise
        finally:
            del self._sending[command.client_id]

    async def _send(self, session_id: str, command: SendCommand) -> SendResult:
        pacer = self._pacers.setdefault(session_id, Pacer(*self._pacing))
        await pacer.acquire()
        if self._typing_before_send and isinstance(command, SendText):
            typing = SetTyping(chat=command.to, state=PresenceState.TYPING)
            await self.command(session_id, typing)
            await asyncio.sleep(typing_time(command.text))
        result = await self.command(session_id, command)
        return SendResult.model_validate(result)

    async def _ask(self, host: HostProcess, op: str, session_id: str, **fields: Any) -> Any:
        try:
            return await host.request(op, session_id=session_id, **fields)
        except HostError as exc:
            if exc.code == "driver_error":
                raise SessionUnavailable(exc.message) from None
            if exc.code == "bad_command":
                raise ValidationFailed(exc.message) from None
            raise SessionUnavailable(f"{exc.message} ({exc.code})") from None

    # Hosts.

    async def _place(self, session_id: str) -> HostProcess:
        async with self._placing:
            host = self.placement.get(session_id)
            if host is not None and host.alive:
                return host
            candidates = [h for h in self.hosts.values() if h.alive and h.free > 0]
            host = min(candidates, key=lambda h: h.index) if candidates else await self._new_host()
            host.sessions.add(session_id)
            self.placement[session_id] = host
            return host

    async def _new_host(self, index: int | None = None) -> HostProcess:
        if index is None:
            index = max(self.hosts, default=-1) + 1
        host = HostProcess(
            index,
            driver=self.plan.driver,
            options=self.plan.options,
            capacity=self.plan.capacity,
            workdir=self.plan.workdir,
            on_events=self._on_events,
            on_exit=self._on_host_exit,
            log_level=self.plan.log_level,
            log_format=self.plan.log_format,
        )
        try:
            await host.spawn()
        except HostError as exc:
            raise SessionUnavailable(exc.message) from None
        self.hosts[index] = host
        return host

    def _on_host_exit(self, host: HostProcess) -> None:
        if self._stopping or self.hosts.get(host.index) is not host:
            return
        self.host_restarts += 1
        self.spawn(self._recover(host), f"recover-host-{host.index}")

    async def _recover(self, dead: HostProcess) -> None:
        sessions = sorted(dead.sessions)
        await self._publish_status(sessions, SessionState.RECONNECTING, Reason.HOST_CRASHED)
        if dead.started_at is not None and time.monotonic() - dead.started_at > STABLE_S:
            self._restarts_by_index[dead.index] = 0  # it ran well for a while: start over
        attempt = self._restarts_by_index[dead.index]
        self._restarts_by_index[dead.index] += 1
        delay = HOST_BACKOFF_S[min(attempt, len(HOST_BACKOFF_S) - 1)]
        await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not crypto
        while True:
            try:
                async with self._placing:
                    host = await self._new_host(dead.index)
                break
            except ZapdeskError as exc:
                log.error("host_restart_failed", host=dead.index, error=exc.message)
                await asyncio.sleep(HOST_BACKOFF_S[-1])
        for session_id in sessions:
            if self.placement.get(session_id) is not dead:
                continue
            host.sessions.add(session_id)
            self.placement[session_id] = host
            try:
                await self._ask(host, "start", session_id)
            except ZapdeskError as exc:
                log.error("session_restart_failed", session_id=session_id, error=exc.message)

    # Events.

    async def _on_events(self, host: HostProcess, raw: list[dict[str, Any]]) -> None:
        events: list[Event] = []
        for item in raw:
            try:
                events.append(EVENT.validate_python(item))
            except ValidationError as exc:
                log.error("host_sent_bad_event", host=host.index, error=str(exc).splitlines()[0])
        await self._accept(events)

    async def _publish_status(
        self, session_ids: list[str], state: SessionState, reason: Reason
    ) -> None:
        """Events the supervisor itself witnesses (a host crash, a stop), through the outbox."""
        await self._accept(
            [
                SessionStatusEvent(
                    session_id=session_id,
                    data=StatusData(state=state, reason=reason, detail=describe(state, reason)),
                )
                for session_id in session_ids
            ]
        )

    async def _accept(self, events: list[Event]) -> None:
        fresh = [e for e in events if not self._repeats_status(e)]
        if not fresh:
            return
        await self.outbox.append(fresh)  # durable before anything else happens to them
        # The whole batch is applied to the live view before anything is awaited: delivery may
        # already be telling core, and core may ask about it at once.
        changes: list[tuple[SessionStatusEvent, SessionState]] = []
        for event in fresh:
            self.events_in[event.type] += 1
            live = self._live(event.session_id)
            live.last_event_at = event.at
            if isinstance(event, SessionQREvent):
                live.qr = event.data
            elif isinstance(event, SessionStatusEvent):
                changes.append((event, self._status_seen(event)))
        for event, was in changes:
            await self._status_changed(event, was)

    def _repeats_status(self, event: Event) -> bool:
        """A status is published once per change: the same state and reason again is dropped."""
        if not isinstance(event, SessionStatusEvent):
            return False
        live = self._live(event.session_id)
        return (live.state, live.reason) == (event.data.state, event.data.reason)

    def _status_seen(self, event: SessionStatusEvent) -> SessionState:
        """The status in the live view; answers the state before it."""
        data, live = event.data, self._live(event.session_id)
        was = live.state
        live.state, live.reason, live.since, live.status = data.state, data.reason, event.at, data
        live.timeline.append(StateChange(event.at, data.state, data.reason))
        if data.state is SessionState.RECONNECTING and was is not SessionState.RECONNECTING:
            live.reconnects += 1  # once per lost connection, not per failed attempt
        if data.state is not SessionState.QR:
            live.qr = None
        return was

    async def _status_changed(self, event: SessionStatusEvent, was: SessionState) -> None:
        """The status in the registry, and what it calls for."""
        data = event.data
        await self.registry.set_status(
            event.session_id,
            data.state,
            data.reason,
            data.detail,
            jid=data.jid,
            phone=data.phone,
            push_name=data.name,
        )
        if data.state is SessionState.CONNECTED and was is not SessionState.CONNECTED:
            # Right after pairing (and each reconnect) the credentials are worth keeping now.
            self.spawn(self.credentials.backup(event.session_id), f"backup-{event.session_id}")
        if data.state is SessionState.LOGGED_OUT and data.reason is not Reason.REQUESTED:
            self.spawn(self._forget(event.session_id), f"forget-{event.session_id}")
        elif data.state in TERMINAL:
            log.warning("session_needs_attention", session_id=event.session_id, state=data.state)

    async def _forget(self, session_id: str) -> None:
        """Unlinked from the phone: its credentials are worthless and are deleted everywhere."""
        await self.registry.update(session_id, desired="stopped")
        host = self.placement.pop(session_id, None)
        if host is not None:
            host.sessions.discard(session_id)
            if host.alive:
                try:
                    await host.request("stop", session_id=session_id)
                except HostError as exc:
                    log.info("stop_after_logout", session_id=session_id, error=exc.message)
        await self.credentials.delete(session_id)

    # Views.

    def states(self) -> Counter[str]:
        return Counter(live.state.value for live in self.live.values())

    def view(self, row: SessionRow) -> dict[str, Any]:
        live = self._live(row.id)
        host = self.placement.get(row.id)
        heard = live.status or StatusData(state=live.state, detail=row.detail or "")
        connected = live.state is SessionState.CONNECTED
        connected_since = (aware(row.connected_since) or live.since) if connected else None
        return {
            "id": row.id,
            "name": row.name,
            "state": live.state.value,
            "reason": live.reason and live.reason.value,
            "detail": heard.detail or describe(live.state, live.reason),
            "desired": row.desired,
            # A status without them (a reconnect, a stop) leaves the last known ones.
            "jid": heard.jid or row.jid,
            "phone": heard.phone or row.phone,
            "push_name": heard.name or row.push_name,
            "connected_since": _iso(connected_since),
            "last_event_at": _iso(live.last_event_at),
            "host": host.index if host is not None else None,
        }

    def history(self, session_id: str) -> dict[str, Any]:
        """A session's state as this gateway has seen it: since when, how often it reconnected,
        its last event and its recent changes (the monitoring panel's)."""
        live = self._live(session_id)
        return {
            "id": session_id,
            "state": live.state.value,
            "reason": live.reason and live.reason.value,
            "since": _iso(live.since),
            "reconnects": live.reconnects,
            "last_event_at": _iso(live.last_event_at),
            "last_event_age_s": _age_s(live.last_event_at),
            "timeline": [
                {
                    "at": change.at.isoformat(),
                    "state": change.state.value,
                    "reason": change.reason and change.reason.value,
                }
                for change in live.timeline
            ],
        }

    def qr(self, session_id: str) -> QRData | None:
        live = self.live.get(session_id)
        if live is None or live.qr is None or live.qr.expires_at < utcnow():
            return None
        return live.qr


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _age_s(value: datetime | None) -> float | None:
    return None if value is None else round(max(0.0, time.time() - value.timestamp()), 3)
