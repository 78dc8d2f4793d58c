"""Sending a queued message: the ``send`` job's handler. It sends through the gateway and
records the outcome on the message.

The job runner holds a job while it runs; a core that dies holding one lets it go after a
while. The gateway is idempotent on the message's ``client_id``, so a job sent again after a
crash mid-send never reaches the customer twice.
"""

from __future__ import annotations

import base64

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.desk.changes import Changes
from core.desk.unit import Desk, load
from core.gateway_client import GatewayClient, GatewayRefused, GatewayUnavailable
from core.inbox.queries import chat_jid
from core.jobs import Claimed, Retry, backoff
from core.media import MediaStore, kind_of
from core.outbound.service import load_contact
from core.settings import OutboundSettings
from core.storage.base import utcnow
from core.storage.models import Channel, Conversation, Direction, MediaFile, Message, MessageStatus
from core.storage.rows import MessageRow, rows_of
from sessions.commands import OutgoingMedia, QuotedRef, SendMedia, SendResult, SendText

log = structlog.get_logger("core.outbound")

# Answers worth another try: the session is not connected yet, the gateway is busy or down.
TRANSIENT_STATUSES = frozenset({401, 403, 408, 409, 425, 429})


class Permanent(Exception):
    """This message cannot be sent (the reason is for the attendant)."""


class Sender:
    """Runs ``send`` jobs (key: the message's id)."""

    def __init__(
        self,
        desk: Desk,
        gateway: GatewayClient,
        media: MediaStore,
        settings: OutboundSettings,
    ) -> None:
        self._desk = desk
        self._gateway = gateway
        self._media = media
        self._settings = settings

    async def __call__(self, job: Claimed) -> None:
        message_id = int(job.key)
        try:
            async with self._desk.db() as db:
                command = await self._command(db, message_id)
            if command is None:  # the message is gone (its conversation deleted)
                return
            session_id, send = command
            result = await self._gateway.send(
                session_id, send, timeout_s=self._settings.send_timeout_s
            )
        except Permanent as exc:
            await self._fail(message_id, job, str(exc))
        except GatewayUnavailable as exc:
            await self._retry(message_id, job, exc.message)
        except GatewayRefused as exc:
            if exc.gateway_status >= 500 or exc.gateway_status in TRANSIENT_STATUSES:
                await self._retry(message_id, job, f"{exc.code}: {exc.message}")
            else:
                await self._fail(message_id, job, f"The message was refused: {exc.message}")
        else:
            if result.status == "sent":
                await self._sent(message_id, job, result)
            else:
                reason = f"WhatsApp did not send it: {result.error or 'unknown'}"
                await self._fail(message_id, job, reason)

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

    async def _sent(self, message_id: int, job: Claimed, result: SendResult) -> None:
        async def work(db: AsyncSession, changes: Changes) -> None:
            message = await _message(db, changes, message_id)
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
            changes.message_updated(message)

        await self._desk.run(work)
        log.info("message_sent", message_id=message_id, attempts=job.attempts + 1)

    async def _fail(self, message_id: int, job: Claimed, reason: str) -> None:
        async def work(db: AsyncSession, changes: Changes) -> None:
            message = await _message(db, changes, message_id)
            if message is not None and message.status is MessageStatus.PENDING:
                message.status = MessageStatus.FAILED
                message.error = reason[:1000]
                changes.message_updated(message)

        await self._desk.run(work)
        log.warning("message_failed", message_id=message_id, attempts=job.attempts + 1)

    async def _retry(self, message_id: int, job: Claimed, error: str) -> None:
        attempts = job.attempts + 1
        settings = self._settings
        age = (utcnow() - job.created_at).total_seconds()
        if attempts >= settings.send_max_attempts or age >= settings.send_max_age_s:
            await self._fail(message_id, job, f"Could not send after {attempts} attempts: {error}")
            return
        delay = backoff(attempts, settings.send_retry_base_s, settings.send_retry_max_s)
        log.info("message_retry", message_id=message_id, attempts=attempts, delay_s=delay)
        raise Retry(delay, error)


async def _message(db: AsyncSession, changes: Changes, message_id: int) -> MessageRow | None:
    """The message (and its conversation, for the notice's audience), locked for the update."""
    table = MessageRow.table
    found = await rows_of(
        db,
        MessageRow,
        select(*MessageRow.selected()).where(table.c.id == message_id).with_for_update(),
    )
    if not found:
        return None
    changes.shows(await load(db, found[0].conversation_id, lock=False))
    return found[0]
