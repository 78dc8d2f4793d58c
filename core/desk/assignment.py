"""Auto-assignment: a department's queue handed out to its online attendants with room.

A sweep (the ``assign.sweep`` job) runs whenever a conversation joins a queue, an attendant
frees capacity or comes online; it assigns the longest-waiting conversations, round robin or
to the least loaded, never above a department's capacity, never to someone offline or away.
When nobody can take one it simply waits for the next sweep: no wake-up can be missed, since
every event that could let a conversation move asks for one.

Safe with several core processes: the department's row is locked for the sweep (one sweep per
department at a time), the candidates' user rows are locked in id order (two departments'
sweeps cannot both fill one attendant), and the queued conversations are taken with
``SKIP LOCKED`` (a claim in progress keeps its conversation). SQLite runs one core, whose
sweeps take turns through a lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial

import structlog
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.desk.changes import Changes
from core.desk.departments import departments_of, get_department, is_open, members_of
from core.desk.machine import BOT_ACTOR, HELD, QUEUED, SWEEP, SYSTEM, Machine
from core.desk.presence import PresenceStore, Status
from core.desk.unit import Desk, load
from core.jobs import Claimed
from core.outbound.service import queue as queue_message
from core.storage.base import utcnow
from core.storage.models import AssignmentMode, Conversation, Department, User
from core.storage.rows import ConversationRow, rows_of

log = structlog.get_logger("core.desk.assignment")

SWEEP_BATCH = 200  # queued conversations looked at per sweep (a sweep asks for another if full)


class Assigner:
    def __init__(self, desk: Desk, presence: PresenceStore) -> None:
        self._desk = desk
        self._presence = presence
        self._turn = asyncio.Lock()

    async def sweep(self, job: Claimed) -> None:
        """``assign.sweep``: key ``department:<id>``, or ``user:<id>`` for each of theirs."""
        kind, _, number = job.key.partition(":")
        if kind == "user":
            async with self._desk.db() as db:
                departments = (await departments_of(db, [int(number)]))[int(number)]
        else:
            departments = [int(number)]
        for department_id in departments:
            async with self._turn:
                await self._desk.run(partial(self._sweep, department_id=department_id))

    async def give_back(self, job: Claimed) -> None:
        """``assign.return``: a reopened conversation back to its last attendant when they are
        online with room, else it stays queued for a sweep."""
        user_id = int(job.payload["user_id"])
        async with self._turn:
            await self._desk.run(lambda db, ch: self._give_back(db, ch, int(job.key), user_id))

    async def _give_back(
        self, db: AsyncSession, changes: Changes, conversation_id: int, user_id: int
    ) -> None:
        conversation = await load(db, conversation_id)
        if conversation.status is not QUEUED or conversation.assignee_id is not None:
            return
        department_id = conversation.department_id
        if department_id is not None:
            changes.enqueue(SWEEP, f"department:{department_id}")  # whatever happens here
        if department_id is None:
            return
        department = await get_department(db, department_id)
        user = await db.get(User, user_id, with_for_update=True)
        if user is None or not user.is_active:
            return
        if (await self._presence.statuses([user_id]))[user_id] is not Status.ONLINE:
            return
        if (await loads(db, [user_id]))[user_id] >= department.capacity:
            return
        Machine(changes).assign(conversation, user_id, SYSTEM, "reopened: back to their attendant")

    async def _sweep(self, db: AsyncSession, changes: Changes, *, department_id: int) -> None:
        department = await db.scalar(
            select(Department).where(Department.id == department_id).with_for_update()
        )
        if department is None:
            return
        queue = await _queue(db, department_id)
        if not queue:
            return
        if department.out_of_hours_message.strip() and not is_open(department, utcnow()):
            await _out_of_hours(db, changes, department, queue)
        if department.assignment is AssignmentMode.OFF:
            return
        members = (await members_of(db, [department_id]))[department_id]
        statuses = await self._presence.statuses(members)
        online = [u for u in sorted(members) if statuses.get(u) is Status.ONLINE]
        if not online:
            return
        # Locked in one order: sweeps of two departments sharing people take turns on them.
        active = list(
            await db.scalars(
                select(User.id)
                .where(User.id.in_(online), User.is_active.is_(True))
                .order_by(User.id)
                .with_for_update()
            )
        )
        held = await loads(db, active)
        machine = Machine(changes)
        given = 0
        for conversation in queue:
            user_id = _pick(department, active, held)
            if user_id is None:
                break
            machine.assign(
                conversation, user_id, SYSTEM, f"auto-assigned ({department.assignment})"
            )
            held[user_id] += 1
            department.last_assignee_id = user_id
            given += 1
        if given:
            log.info("auto_assigned", department_id=department_id, conversations=given)
        if given == len(queue) == SWEEP_BATCH:
            changes.enqueue(SWEEP, f"department:{department_id}")  # more may wait


async def _out_of_hours(
    db: AsyncSession, changes: Changes, department: Department, queue: list[ConversationRow]
) -> None:
    """Out of hours each waiting customer is told so, once per conversation (they still wait
    in the queue)."""
    for conversation in queue:
        state = conversation.bot_state or {}
        if state.get("out_of_hours"):
            continue
        await queue_message(
            db, changes, conversation, department.out_of_hours_message, author=BOT_ACTOR
        )
        conversation.bot_state = {**state, "out_of_hours": True}


def _pick(department: Department, users: Sequence[int], loads: dict[int, int]) -> int | None:
    """Who gets the next conversation: someone with room, in turn or the least loaded."""
    free = [u for u in users if loads[u] < department.capacity]
    if not free:
        return None
    if department.assignment is AssignmentMode.BALANCED:
        return min(free, key=lambda u: (loads[u], u))
    last = department.last_assignee_id
    after = [u for u in free if last is None or u > last]
    return (after or free)[0]


async def _queue(db: AsyncSession, department_id: int) -> list[ConversationRow]:
    table = ConversationRow.table
    statement = (
        select(*ConversationRow.selected())
        .where(
            table.c.department_id == department_id,
            table.c.status == QUEUED,
            table.c.assignee_id.is_(None),
        )
        .order_by(table.c.waiting_since, table.c.id)
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)
    )
    return await rows_of(db, ConversationRow, statement)


async def loads(db: AsyncSession, user_ids: Sequence[int]) -> dict[int, int]:
    """Open and pending conversations each holds (whatever the department)."""
    loads = dict.fromkeys(user_ids, 0)
    if not user_ids:
        return loads
    rows = await db.execute(
        select(Conversation.assignee_id, func.count())
        .where(Conversation.assignee_id.in_(user_ids), Conversation.status.in_(HELD))
        .group_by(Conversation.assignee_id)
    )
    for user_id, count in rows:
        loads[user_id] = count
    return loads


ASSIGNER = web.AppKey("assigner", Assigner)
