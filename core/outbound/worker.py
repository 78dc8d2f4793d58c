"""The outbound worker: takes due jobs (safely among several core replicas), sends each through
the gateway, and records the outcome on the message.

A job is held with ``locked_until``; a replica that dies holding one lets it go when that time
passes. The gateway is idempotent on the message's ``client_id``, so a job sent again after a
crash mid-send never reaches the customer twice.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from aiohttp import web
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.gateway_client import GatewayClient, GatewayRefused, GatewayUnavailable
from core.inbox.notices import audience_of, conversation_topic
from core.inbox.queries import chat_jid
from core.media import MediaStore, kind_of
from core.outbound.service import load_contact
from core.realtime.bus import Bus, Notice, serialized
from core.settings import OutboundSettings
from core.storage.base import utcnow
from core.storage.models import Channel, Conversation, Direction, MediaFile, Message, MessageStatus
from core.storage.models.outbound import OutboundJob
from core.views import MessageOut
from sessions.commands import OutgoingMedia, QuotedRef, SendMedia, SendResult, SendText

log = structlog.get_logger("core.outbound")

BATCH = 16
# Answers worth another try: the session is not connected yet, the gateway is busy or down.
TRANSIENT_STATUSES = frozenset({401, 403, 408, 409, 425, 429})


def backoff(attempts: int, base: float, ceiling: float) -> float:
    """Seconds before attempt ``attempts + 1``: doubling from ``base``, at most ``ceiling``,
    with jitter so that replicas (and many waiting jobs) do not retry in step."""
    delay = min(ceiling, base * 2.0 ** max(0, attempts - 1))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret


class Permanent(Exception):
    """This message cannot be sent (the reason is for the attendant)."""


@dataclass(frozen=True)
class Claimed:
    job_id: int
    message_id: int
    attempts: int
    created_at: datetime


class OutboundWorker:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        gateway: GatewayClient,
        media: MediaStore,
        bus: Bus,
        settings: OutboundSettings,
    ) -> None:
        self._db = db
        self._gateway = gateway
        self._media = media
        self._bus = bus
        self._settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """A message was queued: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbound-worker")

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Lets the round in progress finish (a query cut in half would outlive the engine),
        then stops; cancels only after the timeout."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        _, running = await asyncio.wait({task}, timeout=timeout_s)
        if running:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("outbound_round_failed")
                handled = 0
            if handled or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.send_poll_s)

    async def run_once(self) -> int:
        """Sends the jobs due now (one batch); answers how many it handled."""
        claimed = await self._claim()
        if claimed:
            await asyncio.gather(*(self._handle(job) for job in claimed))
        return len(claimed)

    async def _claim(self) -> list[Claimed]:
        now = utcnow()
        free = or_(OutboundJob.locked_until.is_(None), OutboundJob.locked_until < now)
        due = (
            select(OutboundJob.id)
            .where(OutboundJob.next_attempt_at <= now, free)
            .order_by(OutboundJob.next_attempt_at, OutboundJob.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer anyway
        )
        # The condition again in the UPDATE: a replica that took the row meanwhile wins.
        claim = (
            update(OutboundJob)
            .where(OutboundJob.id.in_(due.scalar_subquery()), free)
            .values(locked_until=now + timedelta(seconds=self._settings.send_lock_s))
            .returning(
                OutboundJob.id,
                OutboundJob.message_id,
                OutboundJob.attempts,
                OutboundJob.created_at,
            )
            .execution_options(synchronize_session=False)
        )
        async with self._db.begin() as db:
            rows = (await db.execute(claim)).all()
        return [Claimed(*row) for row in rows]

    async def _handle(self, job: Claimed) -> None:
        try:
            async with self._db() as db:
                command = await self._command(db, job.message_id)
            if command is None:  # the message is gone (its conversation deleted)
                async with self._db.begin() as db:
                    await db.execute(delete(OutboundJob).where(OutboundJob.id == job.job_id))
                return
            session_id, send = command
            result = await self._gateway.send(
                session_id, send, timeout_s=self._settings.send_timeout_s
            )
        except Permanent as exc:
            await self._fail(job, str(exc))
        except GatewayUnavailable as exc:
            await self._retry(job, exc.message)
        except GatewayRefused as exc:
            if exc.gateway_status >= 500 or exc.gateway_status in TRANSIENT_STATUSES:
                await self._retry(job, f"{exc.code}: {exc.message}")
            else:
                await self._fail(job, f"The message was refused: {exc.message}")
        except Exception as exc:  # a bug or a database hiccup: keep the job, try later
            log.exception("outbound_job_crashed", job_id=job.job_id)
            await self._retry(job, type(exc).__name__)
        else:
            if result.status == "sent":
                await self._sent(job, result)
            else:
                await self._fail(job, f"WhatsApp did not send it: {result.error or 'unknown'}")

    async def _command(
        self, db: AsyncSession, message_id: int
    ) -> tuple[str, SendText | SendMedia] | None:
        message = await db.get(Message, message_id)
        if message is None:
            return None
        conversation = await db.get(Conversation, message.conversation_id)
        channel = await db.get(Channel, message.channel_id)
        if conversation is None or channel is None:
            return None
        contact = await load_contact(db, conversation.contact_id)
        to = chat_jid(contact)
        if to is None:
            raise Permanent("The contact has no WhatsApp number to send to.")
        if message.client_id is None:  # pragma: no cover - every queued message has one
            raise Permanent("The message has no client id.")
        quoted = await self._quoted(db, message, to, channel)
        if message.media is None:
            return channel.session_id, SendText(
                client_id=message.client_id, to=to, text=message.body, quoted=quoted
            )
        media = await db.get(MediaFile, str(message.media["id"]))
        if media is None:
            raise Permanent("The attached file no longer exists.")
        data = await self._media.get(media.storage_key)
        outgoing = OutgoingMedia(
            kind=kind_of(media.mime),
            mime=media.mime,
            filename=media.filename,
            caption=message.body or None,
            data_b64=base64.b64encode(data).decode("ascii"),
        )
        return channel.session_id, SendMedia(
            client_id=message.client_id, to=to, media=outgoing, quoted=quoted
        )

    @staticmethod
    async def _quoted(
        db: AsyncSession, message: Message, chat: str, channel: Channel
    ) -> QuotedRef | None:
        if message.quoted_wa_message_id is None:
            return None
        quoted = await db.scalar(
            select(Message).where(
                Message.channel_id == message.channel_id,
                Message.wa_message_id == message.quoted_wa_message_id,
            )
        )
        from_me = quoted is not None and quoted.direction is Direction.OUTBOUND
        return QuotedRef(
            wa_id=message.quoted_wa_message_id,
            sender=(channel.jid or chat) if from_me else chat,
            from_me=from_me,
            text=(quoted.body or None) if quoted is not None else None,
        )

    async def _sent(self, job: Claimed, result: SendResult) -> None:
        async with self._db.begin() as db:
            await db.execute(delete(OutboundJob).where(OutboundJob.id == job.job_id))
            message = await db.get(Message, job.message_id)
            if message is None:
                return
            # Ingest may have seen WhatsApp's echo or a receipt first: never go backwards.
            if message.wa_message_id is None:
                message.wa_message_id = result.wa_id
            if message.status in (MessageStatus.PENDING, MessageStatus.FAILED):
                message.status = MessageStatus.SENT
                message.error = None
            if message.sent_at is None:
                message.sent_at = result.at or utcnow()
            notice = await self._notice(db, message)
        log.info("message_sent", message_id=job.message_id, attempts=job.attempts + 1)
        await self._bus.publish([notice])

    async def _fail(self, job: Claimed, reason: str) -> None:
        async with self._db.begin() as db:
            await db.execute(delete(OutboundJob).where(OutboundJob.id == job.job_id))
            message = await db.get(Message, job.message_id)
            if message is None:
                return
            if message.status is MessageStatus.PENDING:
                message.status = MessageStatus.FAILED
                message.error = reason[:1000]
            notice = await self._notice(db, message)
        log.warning("message_failed", message_id=job.message_id, attempts=job.attempts + 1)
        await self._bus.publish([notice])

    async def _retry(self, job: Claimed, error: str) -> None:
        attempts = job.attempts + 1
        settings = self._settings
        age = (utcnow() - job.created_at).total_seconds()
        if attempts >= settings.send_max_attempts or age >= settings.send_max_age_s:
            await self._fail(job, f"Could not send after {attempts} attempts: {error}")
            return
        delay = backoff(attempts, settings.send_retry_base_s, settings.send_retry_max_s)
        async with self._db.begin() as db:
            await db.execute(
                update(OutboundJob)
                .where(OutboundJob.id == job.job_id)
                .values(
                    attempts=attempts,
                    next_attempt_at=utcnow() + timedelta(seconds=delay),
                    locked_until=None,
                    last_error=error[:1000],
                )
            )
        log.info("message_retry", message_id=job.message_id, attempts=attempts, delay_s=delay)

    @staticmethod
    async def _notice(db: AsyncSession, message: Message) -> Notice:
        await db.flush()
        conversation = await db.get(Conversation, message.conversation_id)
        return Notice(
            conversation_topic(message.conversation_id),
            "message.updated",
            serialized(MessageOut.of(message)),
            audience_of(conversation),
        )


OUTBOUND = web.AppKey("outbound", OutboundWorker)
