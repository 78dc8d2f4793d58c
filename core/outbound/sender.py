"""Sending queued messages: the ``send`` jobs' handler. It sends through the gateway and
records the outcome on each message.

Jobs come in batches: the messages are read together, sent concurrently (one conversation's
in order, one after the other), and their outcomes recorded in one unit of work. The job
runner holds a job while it runs; a core that dies holding one lets it go after a while. The
gateway is idempotent on the message's ``client_id``, so a job sent again after a crash
mid-send never reaches the customer twice.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.desk.changes import Changes
from core.desk.unit import Desk, load_many
from core.gateway_client import GatewayClient, GatewayRefused, GatewayUnavailable
from core.inbox.contacts import contacts_by_id
from core.inbox.queries import chat_jid
from core.jobs import Claimed, Retry, backoff
from core.media import MediaStore, kind_of
from core.settings import OutboundSettings
from core.storage.base import utcnow
from core.storage.models import Channel, Direction, MediaFile, Message, MessageStatus
from core.storage.rows import MessageRow, rows_of
from sessions.commands import OutgoingMedia, QuotedRef, SendMedia, SendResult, SendText

log = structlog.get_logger("core.outbound")

BATCH = 32  # messages a batch reads, sends and records together
PARALLEL = 4  # batches at once per core: a slow number holds up one batch, not every send
# Answers worth another try: the session is not connected yet, the gateway is busy or down.
TRANSIENT_STATUSES = frozenset({401, 403, 408, 409, 425, 429})


class Permanent(Exception):
    """This message cannot be sent (the reason is for the attendant)."""


@dataclass
class _Send:
    job: Claimed
    message: MessageRow
    session_id: str | None = None
    command: SendText | SendMedia | None = None
    result: SendResult | None = None
    failed: str | None = None  # the reason, for the attendant
    again: str | None = None  # a transient error: another try later


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
        self._reading = asyncio.Lock()
        self._last: dict[int, asyncio.Future[None]] = {}  # per conversation: the latest turn

    async def __call__(self, jobs: list[Claimed]) -> Mapping[int, Retry]:
        # Batches read one at a time, in the order they were claimed (the lock is fair), and
        # each conversation's messages wait for those an earlier batch of this core holds.
        async with self._reading:
            async with self._desk.db() as db:
                sends = await self._read(db, jobs)
            turns = []
            for conversation_id, group in _by_conversation(sends).items():
                before = self._last.get(conversation_id)
                done = asyncio.get_running_loop().create_future()
                self._last[conversation_id] = done
                turns.append(self._send_in_turn(conversation_id, group, before, done))
        await asyncio.gather(*turns)
        retries = {send.job.id: retry for send in sends if (retry := self._retry(send))}
        await self._desk.run(lambda db, changes: _record(db, changes, sends))
        for send in sends:
            if send.result is not None and send.failed is None:
                log.info("message_sent", message_id=send.message.id, attempts=send.job.attempts + 1)
            elif send.failed is not None:
                log.warning(
                    "message_failed", message_id=send.message.id, attempts=send.job.attempts + 1
                )
        return retries

    async def _read(self, db: AsyncSession, jobs: list[Claimed]) -> list[_Send]:
        """Each job's message and the command that sends it (a message gone with its
        conversation is simply done)."""
        table = MessageRow.table
        ids = [int(job.key) for job in jobs]
        found = await rows_of(
            db, MessageRow, select(*MessageRow.selected()).where(table.c.id.in_(ids))
        )
        messages = {m.key: m for m in found}
        conversations = {c.key: c for c in await load_many(db, [m.conversation_id for m in found])}
        contacts = await contacts_by_id(db, {c.contact_id for c in conversations.values()})
        channels = {
            row.id: row
            for row in await db.execute(
                select(Channel.id, Channel.session_id, Channel.jid).where(
                    Channel.id.in_({m.channel_id for m in found})
                )
            )
        }
        quoted = await _quoted_messages(db, found)
        sends = []
        for job in jobs:
            message = messages.get(int(job.key))
            if message is None or message.conversation_id not in conversations:
                continue
            send = _Send(job, message)
            sends.append(send)
            channel = channels.get(message.channel_id)
            contact = contacts.get(conversations[message.conversation_id].contact_id)
            to = chat_jid(contact) if contact is not None else None
            try:
                if channel is None:
                    raise Permanent("The number this message belongs to no longer exists.")
                if to is None:
                    raise Permanent("The contact has no WhatsApp number to send to.")
                send.session_id = channel.session_id
                send.command = await self._command(db, message, to, channel.jid, quoted)
            except Permanent as exc:
                send.failed = str(exc)
        sends.sort(key=lambda s: s.message.key)  # a conversation's messages in their order
        return sends

    async def _command(
        self,
        db: AsyncSession,
        message: MessageRow,
        to: str,
        own_jid: str | None,
        quoted: Mapping[tuple[int, str], tuple[Direction, str]],
    ) -> SendText | SendMedia:
        if message.client_id is None:  # pragma: no cover - every queued message has one
            raise Permanent("The message has no client id.")
        reference = None
        if message.quoted_wa_message_id is not None:
            found = quoted.get((message.channel_id, message.quoted_wa_message_id))
            from_me = found is not None and found[0] is Direction.OUTBOUND
            reference = QuotedRef(
                wa_id=message.quoted_wa_message_id,
                sender=(own_jid or to) if from_me else to,
                from_me=from_me,
                text=(found[1] or None) if found is not None else None,
            )
        if message.media is None:
            return SendText(client_id=message.client_id, to=to, text=message.body, quoted=reference)
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
        return SendMedia(client_id=message.client_id, to=to, media=outgoing, quoted=reference)

    async def _send_in_turn(
        self,
        conversation_id: int,
        sends: list[_Send],
        before: asyncio.Future[None] | None,
        done: asyncio.Future[None],
    ) -> None:
        try:
            if before is not None:
                await asyncio.shield(before)
            for send in sends:
                await self._send(send)
        finally:
            done.set_result(None)
            if self._last.get(conversation_id) is done:
                del self._last[conversation_id]

    async def _send(self, send: _Send) -> None:
        if send.command is None or send.session_id is None:
            return
        try:
            result = await self._gateway.send(
                send.session_id, send.command, timeout_s=self._settings.send_timeout_s
            )
        except GatewayUnavailable as exc:
            send.again = exc.message
        except GatewayRefused as exc:
            if exc.gateway_status >= 500 or exc.gateway_status in TRANSIENT_STATUSES:
                send.again = f"{exc.code}: {exc.message}"
            else:
                send.failed = f"The message was refused: {exc.message}"
        else:
            send.result = result
            if result.status != "sent":
                send.failed = f"WhatsApp did not send it: {result.error or 'unknown'}"

    def _retry(self, send: _Send) -> Retry | None:
        """Another try later, or, past the limits, failed for good."""
        if send.again is None:
            return None
        attempts = send.job.attempts + 1
        settings = self._settings
        age = (utcnow() - send.job.created_at).total_seconds()
        if attempts >= settings.send_max_attempts or age >= settings.send_max_age_s:
            send.failed = f"Could not send after {attempts} attempts: {send.again}"
            return None
        delay = backoff(attempts, settings.send_retry_base_s, settings.send_retry_max_s)
        log.info("message_retry", message_id=send.message.id, attempts=attempts, delay_s=delay)
        return Retry(delay, send.again)


def _by_conversation(sends: list[_Send]) -> dict[int, list[_Send]]:
    groups: dict[int, list[_Send]] = {}
    for send in sends:
        groups.setdefault(send.message.conversation_id, []).append(send)
    return groups


async def _record(db: AsyncSession, changes: Changes, sends: list[_Send]) -> None:
    """The outcomes, on the messages as they are now (locked: ingest may be recording WhatsApp's
    echo or a receipt of the same message)."""
    decided = {s.message.key: s for s in sends if s.failed is not None or s.result is not None}
    if not decided:
        return
    table = MessageRow.table
    statement = select(*MessageRow.selected()).where(table.c.id.in_(decided))
    messages = await rows_of(db, MessageRow, statement.order_by(table.c.id).with_for_update())
    for conversation in await load_many(db, [m.conversation_id for m in messages]):
        changes.shows(conversation)  # the notices' audience
    for message in messages:
        send = decided[message.key]
        result = send.result
        if send.failed is not None or result is None:
            if message.status is MessageStatus.PENDING:
                message.status = MessageStatus.FAILED
                message.error = (send.failed or "")[:1000]
                changes.message_updated(message)
            continue
        # Ingest may have seen WhatsApp's echo or a receipt first: never go backwards.
        if message.wa_message_id is None:
            message.wa_message_id = result.wa_id
        if message.status in (MessageStatus.PENDING, MessageStatus.FAILED):
            message.status = MessageStatus.SENT
            message.error = None
        if message.sent_at is None:
            message.sent_at = result.at or utcnow()
        changes.message_updated(message)


async def _quoted_messages(
    db: AsyncSession, messages: list[MessageRow]
) -> dict[tuple[int, str], tuple[Direction, str]]:
    """The messages these ones answer, by (number, WhatsApp id): who wrote them, their text."""
    wanted = {m.quoted_wa_message_id for m in messages if m.quoted_wa_message_id is not None}
    if not wanted:
        return {}
    found = await db.execute(
        select(Message.channel_id, Message.wa_message_id, Message.direction, Message.body).where(
            Message.wa_message_id.in_(wanted),
            Message.channel_id.in_({m.channel_id for m in messages}),
        )
    )
    return {(row[0], row[1]): (row[2], row[3]) for row in found}
