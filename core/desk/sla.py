"""Response targets (SLA): how long a customer may wait for an answer, per department.

A conversation's *response clock* runs while the company owes the customer an answer:

* the **first** answer: from when the conversation reaches people (a queue or an attendant,
  leaving the bot or starting there) until an attendant's first message;
* each **next** answer: from the customer's message (while nobody owes them one yet) until an
  attendant answers.

The clock is due after the department's target (``sla_first_s``, ``sla_next_s``; 0: none),
counted in the department's business hours when it has them. Ending the conversation (resolved,
closed, back at the bot) stops it; a transfer does not (the customer still waits).

``settle`` sets and stops clocks from what a unit of work did (its messages and moves), so
ingest, the API, the bot and timers need nothing else; it runs before the unit stores its rows.
One durable job per conversation (``sla.check``) looks when the clock is at risk (a quarter of
the target left) and when it is due, reads the truth, and on a breach records an audit line and
tells the attendant and the department's supervisors. The clock's state (running, at_risk,
breached) is on the conversation, so a restart or a job run twice never tells anyone twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.desk.changes import Changes
from core.desk.departments import DAYS, clock
from core.desk.machine import BOT, ENDED, SYSTEM, Actor, Machine
from core.desk.notifications import SLA_AT_RISK, SLA_BREACHED
from core.storage.base import utcnow
from core.storage.models import ActorType, Department, Direction, Role, User, department_members
from core.storage.models.department import DEFAULT_TIMEZONE
from core.storage.rows import ConversationRow

log = structlog.get_logger("core.desk")

FIRST, NEXT = "first", "next"
RUNNING, AT_RISK, BREACHED = "running", "at_risk", "breached"
CHECK = "sla.check"  # key: conversation id
RISK_SHARE = 0.25  # at risk when this share of the target is left
_SEARCH_DAYS = 400  # how far business hours are searched for the time a target needs


# Setting and stopping clocks.


async def settle(db: AsyncSession, changes: Changes) -> None:
    """Starts, keeps or stops the response clock of each conversation the unit touched."""
    touched = {
        c.id: c
        for c in [*changes.conversations_created, *changes.conversations_updated]
        if c.id is not None
    }
    if not touched:
        return
    waiting: set[int] = set()  # conversations whose customer starts waiting now
    answered: dict[int, int | None] = {}  # conversation → who answered (a user, or the phone)
    for message in changes.messages_created:
        if message.conversation_id not in touched:
            continue
        if message.direction is Direction.INBOUND:
            waiting.add(message.conversation_id)
        elif message.author_type is not ActorType.BOT:  # an attendant, or the phone itself
            answered.setdefault(message.conversation_id, message.author_user_id)
    for audit in changes.audits:
        came_from, went_to = audit.row.from_status, audit.row.to_status
        reached_people = came_from in (None, BOT, *ENDED) and went_to not in (BOT, *ENDED)
        if reached_people and audit.conversation.id is not None:  # a queue or an attendant
            waiting.add(audit.conversation.id)

    # From when the message reached us (not when the phone says it was written: a backlog
    # delivered late must not be late already).
    now = utcnow()
    starting: list[ConversationRow] = []
    responses: list[tuple[ConversationRow, int | None, str]] = []
    for conversation_id, conversation in touched.items():
        if conversation.status is BOT or conversation.status in ENDED:
            _stop(conversation)
        elif conversation_id in answered:
            if conversation.awaiting_since is not None:
                kind = NEXT if conversation.sla_kind == NEXT else FIRST
                responses.append((conversation, answered[conversation_id], kind))
            else:
                _stop(conversation)
            conversation.sla_kind = NEXT  # whatever the customer says now awaits a next answer
        elif conversation_id in waiting:
            conversation.awaiting_since = conversation.awaiting_since or now
            if conversation.sla_due_at is None:
                starting.append(conversation)
    if not (starting or responses):
        return
    departments = await _departments(db, [*starting, *(c for c, _, _ in responses)])
    for conversation, user_id, kind in responses:
        department = departments.get(conversation.department_id or 0)
        _responded(changes, conversation, department, user_id, kind, now)
    for conversation in starting:
        _start(changes, conversation, departments.get(conversation.department_id or 0), now)


def _responded(
    changes: Changes,
    conversation: ConversationRow,
    department: Department | None,
    user_id: int | None,
    kind: str,
    now: datetime,
) -> None:
    """A waiting customer got their answer: how long it took (in all and in the department's
    working time) and whether the SLA's target was met, for the reports; the clock stops."""
    since = conversation.awaiting_since or now
    due = conversation.sla_due_at
    data = {
        "kind": kind,
        "since": since.isoformat(),
        "waited_s": max(0, round((now - since).total_seconds())),
        "business_s": open_seconds(department, since, now),
        "target_s": _target(department, kind),
        "met": None if due is None else now <= due,
    }
    actor = Actor.user(user_id) if user_id is not None else SYSTEM
    Machine(changes).responded(conversation, actor, data)
    _stop(conversation)


def _stop(conversation: ConversationRow) -> None:
    """Nobody owes the customer an answer now: no clock."""
    for name in ("sla_due_at", "sla_state", "awaiting_since"):
        if getattr(conversation, name) is not None:
            setattr(conversation, name, None)


async def _departments(
    db: AsyncSession, conversations: list[ConversationRow]
) -> dict[int, Department]:
    ids = {c.department_id for c in conversations if c.department_id is not None}
    if not ids:
        return {}
    return {d.id: d for d in await db.scalars(select(Department).where(Department.id.in_(ids)))}


def _start(
    changes: Changes, conversation: ConversationRow, department: Department | None, now: datetime
) -> None:
    kind = NEXT if conversation.sla_kind == NEXT else FIRST
    target = _target(department, kind)
    if department is None or not target:
        return
    due = due_after(department, now, target)
    if due is None:
        return
    conversation.sla_kind = kind
    conversation.sla_due_at = due
    conversation.sla_state = RUNNING
    changes.enqueue(CHECK, conversation.key, run_at=_risk_at(now, due, target), replace=True)


def _target(department: Department | None, kind: str) -> int:
    if department is None:
        return 0
    return department.sla_first_s if kind == FIRST else department.sla_next_s


def _risk_at(since: datetime, due: datetime, target_s: int) -> datetime:
    return max(since, due - timedelta(seconds=target_s * RISK_SHARE))


# Business time.


def due_after(department: Department, since: datetime, seconds: int) -> datetime | None:
    """When ``seconds`` of the department's working time have passed after ``since`` (aware);
    None when it never works again within a year."""
    if department.hours is None:
        return since + timedelta(seconds=seconds)
    left = timedelta(seconds=seconds)
    for begin, closes in _open_spans(department, since):
        if begin + left <= closes:
            return (begin + left).astimezone(since.tzinfo)
        left -= closes - begin
    return None


def open_seconds(department: Department | None, since: datetime, until: datetime) -> int:
    """How many seconds of the department's working time lie between two moments (all of them
    when it has no hours)."""
    if department is None or department.hours is None:
        return max(0, round((until - since).total_seconds()))
    total = timedelta()
    for begin, closes in _open_spans(department, since):
        if begin >= until:
            break
        total += min(closes, until) - begin
    return round(total.total_seconds())


def _open_spans(department: Department, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The department's working spans from ``since`` on, in order (the first one cut at
    ``since``), for a year at most."""
    hours = department.hours or {}
    try:
        zone = ZoneInfo(department.timezone)
    except ZoneInfoNotFoundError:  # pragma: no cover - validated when set
        zone = ZoneInfo(DEFAULT_TIMEZONE)
    local = since.astimezone(zone)
    day = local.date()
    holidays = set(department.holidays or [])
    for _ in range(_SEARCH_DAYS):
        if day.isoformat() not in holidays:
            for start, end in hours.get(DAYS[day.weekday()], []):
                opens = datetime.combine(day, clock(start), zone)
                closes = datetime.combine(day, clock(end), zone)
                begin = max(opens, local)
                if begin < closes:
                    yield begin, closes
        day += timedelta(days=1)


# The timer.


async def check(db: AsyncSession, changes: Changes, conversation: ConversationRow) -> None:
    """An ``sla.check`` job: the clock at risk or due, told once; otherwise set for later."""
    due = conversation.sla_due_at
    if due is None or conversation.sla_state == BREACHED:
        return
    now = utcnow()
    department = (
        await db.get(Department, conversation.department_id)
        if conversation.department_id is not None
        else None
    )
    target = _target(department, conversation.sla_kind or FIRST)
    about = {"kind": conversation.sla_kind, "due_at": due.isoformat(), "target_s": target}
    if now >= due:
        conversation.sla_state = BREACHED
        Machine(changes).breached(conversation, f"{conversation.sla_kind} response late", about)
        people = await _supervisors(db, conversation.department_id)
        if conversation.assignee_id is not None:
            people.insert(0, conversation.assignee_id)
        changes.notify(people, SLA_BREACHED, conversation.key, data=about)
        log.info("sla_breached", conversation_id=conversation.key, kind=conversation.sla_kind)
        return
    risk_at = due - timedelta(seconds=target * RISK_SHARE)
    if conversation.sla_state == RUNNING and now >= risk_at:
        conversation.sla_state = AT_RISK
        changes.conversation_updated(conversation)
        if conversation.assignee_id is not None:
            people = [conversation.assignee_id]
        else:
            people = await _supervisors(db, conversation.department_id)
        changes.notify(people, SLA_AT_RISK, conversation.key, data=about)
    later = due if now >= risk_at else risk_at
    changes.enqueue(CHECK, conversation.key, run_at=later, replace=True)


async def _supervisors(db: AsyncSession, department_id: int | None) -> list[int]:
    if department_id is None:
        return []
    found = await db.scalars(
        select(User.id)
        .join(department_members, department_members.c.user_id == User.id)
        .where(
            department_members.c.department_id == department_id,
            User.role == Role.SUPERVISOR,
            User.is_active.is_(True),
        )
        .order_by(User.id)
    )
    return list(found)
