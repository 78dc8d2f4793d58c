"""Timers on a conversation: auto-close, the end of a snooze, the SLA's response clock.

Auto-close: an open or pending conversation whose customer has been silent for the
department's ``auto_close_s`` is resolved, with the department's message.

The timer is one durable job per conversation (``auto.close``), asked for by the state machine
whenever a conversation comes into someone's hands. When it runs it reads the truth — the
conversation's status, its department's setting, the customer's last message, when it came
into someone's hands — and either resolves it or sets itself for the new deadline. So a
customer's message never has to touch the timer, and a restart neither loses nor repeats it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.desk import sla
from core.desk.changes import Changes
from core.desk.machine import AUTO_CLOSE, BOT_ACTOR, HELD, PENDING, SYSTEM, WAKE, Machine
from core.desk.unit import Desk, load, load_many
from core.jobs import Claimed
from core.outbound.service import queue
from core.storage.base import utcnow
from core.storage.models import ConversationEvent, Department, Direction, Message
from zapdesk.errors import NotFound

log = structlog.get_logger("core.desk")


class Timers:
    """Runs ``auto.close``, ``snooze.wake`` and ``sla.check`` jobs."""

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    async def auto_close(self, job: Claimed) -> None:
        await self._desk.run(lambda db, changes: _look(db, changes, int(job.key)))

    async def wake(self, job: Claimed) -> None:
        await self._desk.run(lambda db, changes: _wake(db, changes, int(job.key)))

    async def sla(self, job: Claimed) -> None:
        await self._desk.run(lambda db, changes: _sla(db, changes, int(job.key)))


async def _sla(db: AsyncSession, changes: Changes, conversation_id: int) -> None:
    try:
        conversation = await load(db, conversation_id)
    except NotFound:
        return  # deleted: no clock
    await sla.check(db, changes, conversation)


async def _wake(db: AsyncSession, changes: Changes, conversation_id: int) -> None:
    """A snooze ends: still pending (the customer did not answer first), open again for its
    attendant."""
    found = await load_many(db, [conversation_id])
    until = found[0].snoozed_until if found else None
    if until is None or found[0].status is not PENDING:
        return
    conversation = found[0]
    if until > utcnow():
        changes.enqueue(WAKE, conversation_id, run_at=until, replace=True)
        return
    Machine(changes).resume(conversation, SYSTEM, "snooze ended")


async def _look(db: AsyncSession, changes: Changes, conversation_id: int) -> None:
    found = await load_many(db, [conversation_id])
    if not found or found[0].status not in HELD or found[0].department_id is None:
        return  # resolved, back in a queue, or gone: no timer
    conversation = found[0]
    department = await db.get(Department, conversation.department_id)
    if department is None or department.auto_close_s <= 0:
        return
    silent_since = await _silent_since(db, conversation_id)
    deadline = silent_since + timedelta(seconds=department.auto_close_s)
    if deadline > utcnow():
        changes.enqueue(AUTO_CLOSE, conversation_id, run_at=deadline, replace=True)
        return
    Machine(changes).resolve(
        conversation, SYSTEM, f"auto-closed after {department.auto_close_s} s of silence"
    )
    if department.auto_close_message.strip():
        await queue(db, changes, conversation, department.auto_close_message, author=BOT_ACTOR)
    log.info("conversation_auto_closed", conversation_id=conversation_id)


async def _silent_since(db: AsyncSession, conversation_id: int) -> datetime:
    """The customer's last message, or when the conversation last came into someone's hands
    if that is later (an old question just taken is not "silence")."""
    last_inbound = await db.scalar(
        select(func.max(Message.created_at)).where(
            Message.conversation_id == conversation_id, Message.direction == Direction.INBOUND
        )
    )
    taken = await db.scalar(
        select(func.max(ConversationEvent.created_at)).where(
            ConversationEvent.conversation_id == conversation_id,
            ConversationEvent.to_status.in_(HELD),
            ConversationEvent.from_status.not_in(HELD),
        )
    )
    moments = [moment for moment in (last_inbound, taken) if moment is not None]
    return max(moments) if moments else utcnow()
