"""The desk's routes: departments (admins), queues and the team (who is online, with what load),
presence, and what people do to a conversation — claim, assign, unassign, transfer, pending,
resolve — each one move of the state machine in one unit of work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.api.routing import ADMIN, STAFF, Api, Call
from core.auth.visibility import Viewer
from core.desk import departments as service
from core.desk.assignment import loads
from core.desk.changes import Changes
from core.desk.machine import HELD, QUEUED, SWEEP, Actor, Machine
from core.desk.presence import PRESENCE_KEEPER, Status
from core.desk.rights import access_changed
from core.desk.unit import DESK, load
from core.inbox import queries
from core.inbox.contacts import contacts_by_id
from core.outbound.service import queue
from core.storage.base import RowId
from core.storage.models import ConversationEvent, Department, Role, User, department_members
from core.storage.rows import ConversationRow
from core.views import AuditOut, ConversationOut
from zapdesk.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

log = structlog.get_logger("core.desk")

api = Api()
TAGS = ("desk",)


class ConversationTaken(Conflict):
    code = "conversation_taken"
    default_message = "Someone else took this conversation first."


# Departments.


class DepartmentList(BaseModel):
    items: list[service.DepartmentOut]


@api.operation(
    "GET", "/departments", summary="Every department", response=DepartmentList, tags=TAGS
)
async def list_departments(call: Call[None, None]) -> DepartmentList:
    """Everyone may read them (a transfer names its destination); only admins change them."""
    async with call.db() as db:
        found = list(await db.scalars(select(Department).order_by(func.lower(Department.name))))
        members = await service.members_of(db, [d.id for d in found])
    return DepartmentList(items=[service.DepartmentOut.of(d, members[d.id]) for d in found])


@api.operation(
    "POST",
    "/departments",
    summary="Create a department",
    roles=ADMIN,
    body=service.DepartmentIn,
    response=service.DepartmentOut,
    status=201,
    tags=TAGS,
)
async def add_department(call: Call[service.DepartmentIn, None]) -> service.DepartmentOut:
    async with call.db.begin() as db:
        department, touched = await service.create(db, call.body)
        out = await service.department_out(db, department)
    await access_changed(call, touched)
    log.info("department_created", department_id=out.id, by=call.me.id)
    return out


@api.operation(
    "PATCH",
    "/departments/{id}",
    summary="Change a department: name, members, assignment, capacity, hours",
    roles=ADMIN,
    body=service.DepartmentPatch,
    response=service.DepartmentOut,
    tags=TAGS,
)
async def update_department(call: Call[service.DepartmentPatch, None]) -> service.DepartmentOut:
    async with call.db.begin() as db:
        department = await service.get_department(db, call.int_param("id"), lock=True)
        touched = await service.change(db, department, call.body)
        out = await service.department_out(db, department)
    await access_changed(call, touched)
    if call.body.assignment is not None or call.body.capacity is not None or touched:
        await _sweep(call, [out.id])  # a new mode, more room or more people: hand out the queue
    log.info("department_changed", department_id=out.id, by=call.me.id)
    return out


@api.operation(
    "DELETE",
    "/departments/{id}",
    summary="Delete a department with no active conversation",
    roles=ADMIN,
    tags=TAGS,
)
async def delete_department(call: Call[None, None]) -> None:
    async with call.db.begin() as db:
        department = await service.get_department(db, call.int_param("id"), lock=True)
        touched = await service.remove(db, department)
    await access_changed(call, touched)


async def _sweep(call: Call[Any, Any], department_ids: list[int]) -> None:
    async def work(db: AsyncSession, changes: Changes) -> None:
        for department_id in department_ids:
            changes.enqueue(SWEEP, f"department:{department_id}")

    await call.request.app[DESK].run(work)


# Queues and the team.


class QueueOut(BaseModel):
    department_id: int
    name: str
    queued: int = Field(description="Conversations waiting for someone.")
    waiting_since: datetime | None = Field(description="Since when the longest one waits.")


class QueueList(BaseModel):
    items: list[QueueOut]


@api.operation(
    "GET",
    "/queues",
    summary="The queues the caller may see: how many wait, and the longest wait",
    response=QueueList,
    tags=TAGS,
)
async def list_queues(call: Call[None, None]) -> QueueList:
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        statement = select(Department.id, Department.name).order_by(func.lower(Department.name))
        if not viewer.sees_all:
            statement = statement.where(Department.id.in_(viewer.department_ids))
        named = (await db.execute(statement)).all()
        table = ConversationRow.table
        waiting = {
            row.department_id: row
            for row in await db.execute(
                select(
                    table.c.department_id,
                    func.count().label("queued"),
                    func.min(table.c.waiting_since).label("since"),
                )
                .where(
                    table.c.status == QUEUED,
                    table.c.department_id.in_([d for d, _ in named]),
                )
                .group_by(table.c.department_id)
            )
        }
    return QueueList(
        items=[
            QueueOut(
                department_id=department_id,
                name=name,
                queued=waiting[department_id].queued if department_id in waiting else 0,
                waiting_since=waiting[department_id].since if department_id in waiting else None,
            )
            for department_id, name in named
        ]
    )


class MemberOut(BaseModel):
    id: int
    name: str
    role: Role
    department_ids: list[int]
    status: Status
    open: int = Field(description="Open and pending conversations they hold.")


class Team(BaseModel):
    items: list[MemberOut]


@api.operation(
    "GET",
    "/team",
    summary="The people of the caller's departments with their status and load",
    response=Team,
    tags=TAGS,
)
async def get_team(call: Call[None, None]) -> Team:
    """Admins see everyone; others the people who share a department with them."""
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        users = select(User).where(User.is_active.is_(True)).order_by(func.lower(User.name))
        if not viewer.sees_all:
            dm = department_members
            colleagues = select(dm.c.user_id).where(dm.c.department_id.in_(viewer.department_ids))
            users = users.where(User.id.in_(colleagues) | (User.id == call.me.id))
        people = list(await db.scalars(users))
        ids = [u.id for u in people]
        departments = await service.departments_of(db, ids)
        held = await loads(db, ids)
    statuses = await call.request.app[PRESENCE_KEEPER].store.statuses(ids)
    return Team(
        items=[
            MemberOut(
                id=u.id,
                name=u.name,
                role=u.role,
                department_ids=sorted(departments[u.id]),
                status=statuses[u.id],
                open=held[u.id],
            )
            for u in people
        ]
    )


class Person(BaseModel):
    id: int
    name: str
    is_active: bool


class People(BaseModel):
    items: list[Person]


@api.operation(
    "GET",
    "/people",
    summary="Everyone's name, by id (for timelines and assignees)",
    response=People,
    tags=TAGS,
)
async def list_people(call: Call[None, None]) -> People:
    """Names only: who did what in a conversation's history, whatever their department."""
    async with call.db() as db:
        rows = await db.execute(select(User.id, User.name, User.is_active).order_by(User.id))
        return People(items=[Person(id=i, name=n, is_active=a) for i, n, a in rows])


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["online", "away"] = Field(
        description="`away`: no conversation is given to you automatically until `online`."
    )


class PresenceOut(BaseModel):
    user_id: int
    status: Status


@api.operation(
    "PUT",
    "/presence",
    summary="Set yourself online or away",
    body=PresenceIn,
    response=PresenceOut,
    tags=TAGS,
)
async def set_presence(call: Call[PresenceIn, None]) -> PresenceOut:
    """Offline is not chosen: it is having no tab open for a minute."""
    keeper = call.request.app[PRESENCE_KEEPER]
    status = await keeper.set_away(call.me.id, call.body.status == "away")
    return PresenceOut(user_id=call.me.id, status=status)


# What people do to a conversation.

Move = Callable[[AsyncSession, Changes, ConversationRow, Viewer], Awaitable[None]]


async def _act(call: Call[Any, Any], move: Move) -> ConversationOut:
    """Loads the conversation (locked) for someone who may see it, applies ``move``, and
    answers the conversation as it is after the commit."""
    conversation_id = call.int_param("id")

    async def work(db: AsyncSession, changes: Changes) -> ConversationOut:
        viewer = await queries.viewer_of(db, call.me)
        conversation = await load(db, conversation_id)
        if not viewer.sees_conversation(conversation):
            raise NotFound(
                f"No conversation {conversation_id}.",
                details={"conversation_id": conversation_id},
            )
        await move(db, changes, conversation, viewer)
        contacts = await contacts_by_id(db, [conversation.contact_id])
        return ConversationOut.of(conversation, contacts.get(conversation.contact_id))

    return await call.request.app[DESK].run(work)


async def _by_holder(
    call: Call[Any, Any], what: str, step: Callable[[Machine, ConversationRow, Actor], None]
) -> ConversationOut:
    """A move only the conversation's attendant (or staff) may make."""

    async def move(
        db: AsyncSession, changes: Changes, conversation: ConversationRow, viewer: Viewer
    ) -> None:
        _holder_or_staff(conversation, viewer, what)
        step(Machine(changes), conversation, Actor.user(call.me.id))

    return await _act(call, move)


def _holder_or_staff(conversation: ConversationRow, viewer: Viewer, what: str) -> None:
    if viewer.is_staff or conversation.assignee_id in (None, viewer.user_id):
        return
    raise PermissionDenied(
        f"Only the attendant who holds it or a supervisor may {what} this conversation.",
        details={"assignee_id": conversation.assignee_id},
    )


@api.operation(
    "POST",
    "/conversations/{id}/claim",
    summary="Take a conversation (Assumir)",
    response=ConversationOut,
    tags=("conversations",),
)
async def claim(call: Call[None, None]) -> ConversationOut:
    """Atomic: of several people claiming at once exactly one gets it; the others get 409
    `conversation_taken`."""

    async def move(
        db: AsyncSession, changes: Changes, conversation: ConversationRow, viewer: Viewer
    ) -> None:
        if conversation.assignee_id not in (None, call.me.id) and conversation.status in HELD:
            raise ConversationTaken(details={"assignee_id": conversation.assignee_id})
        Machine(changes).assign(conversation, call.me.id, Actor.user(call.me.id), "claimed")

    return await _act(call, move)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: RowId


async def _assignable(db: AsyncSession, user_id: int) -> User:
    user = await db.get(User, user_id)
    if user is None or not user.is_active:
        raise ValidationFailed(
            "No active user with this id.", details={"field": "user_id", "user_id": user_id}
        )
    return user


@api.operation(
    "POST",
    "/conversations/{id}/assign",
    summary="Give a conversation to someone (supervisors and admins)",
    roles=STAFF,
    body=AssignIn,
    response=ConversationOut,
    tags=("conversations",),
)
async def assign(call: Call[AssignIn, None]) -> ConversationOut:
    async def move(
        db: AsyncSession, changes: Changes, conversation: ConversationRow, viewer: Viewer
    ) -> None:
        user = await _assignable(db, call.body.user_id)
        Machine(changes).assign(conversation, user.id, Actor.user(call.me.id), "assigned")

    return await _act(call, move)


@api.operation(
    "POST",
    "/conversations/{id}/unassign",
    summary="Put a conversation back in its queue",
    response=ConversationOut,
    tags=("conversations",),
)
async def unassign(call: Call[None, None]) -> ConversationOut:
    return await _by_holder(
        call, "unassign", lambda m, c, actor: m.unassign(c, actor, "back to the queue")
    )


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department_id: RowId | None = Field(None, description="To this department's queue.")
    user_id: RowId | None = Field(
        None, description="To this person (with or without a department)."
    )
    note: str | None = Field(
        None, max_length=4000, description="A private note the receiver sees on top."
    )
    message: str | None = Field(
        None, max_length=4096, description='Sent to the customer ("Vou te transferir...").'
    )

    @model_validator(mode="after")
    def _somewhere(self) -> TransferIn:
        if self.department_id is None and self.user_id is None:
            raise ValueError("give department_id, user_id or both")
        return self


@api.operation(
    "POST",
    "/conversations/{id}/transfer",
    summary="Transfer a conversation to a department or a person, with a note",
    body=TransferIn,
    response=ConversationOut,
    tags=("conversations",),
)
async def transfer(call: Call[TransferIn, None]) -> ConversationOut:
    body = call.body

    async def move(
        db: AsyncSession, changes: Changes, conversation: ConversationRow, viewer: Viewer
    ) -> None:
        _holder_or_staff(conversation, viewer, "transfer")
        if body.department_id is not None:
            await service.get_department(db, body.department_id)
        if body.user_id is not None:
            await _assignable(db, body.user_id)
        me = Actor.user(call.me.id)
        if body.message and body.message.strip():
            await queue(db, changes, conversation, body.message, author=me)
        note = (body.note or "").strip() or None
        Machine(changes).transfer(
            conversation,
            me,
            "transferred",
            department_id=body.department_id,
            user_id=body.user_id,
            note=note,
        )

    return await _act(call, move)


@api.operation(
    "POST",
    "/conversations/{id}/pending",
    summary="Mark a conversation as waiting for the customer (Pendente)",
    response=ConversationOut,
    tags=("conversations",),
)
async def set_pending(call: Call[None, None]) -> ConversationOut:
    """A customer's answer makes it open again, for the same attendant."""
    return await _by_holder(
        call, "change", lambda m, c, actor: m.pend(c, actor, "waiting for the customer")
    )


@api.operation(
    "POST",
    "/conversations/{id}/resolve",
    summary="Resolve a conversation (Resolver)",
    response=ConversationOut,
    tags=("conversations",),
)
async def resolve(call: Call[None, None]) -> ConversationOut:
    return await _by_holder(call, "resolve", lambda m, c, actor: m.resolve(c, actor, "resolved"))


class EventList(BaseModel):
    items: list[AuditOut] = Field(description="Oldest first.")


@api.operation(
    "GET",
    "/conversations/{id}/events",
    summary="A conversation's transitions (the timeline's system lines)",
    response=EventList,
    tags=("conversations",),
)
async def list_events(call: Call[None, None]) -> EventList:
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        conversation, _ = await queries.get_conversation(db, viewer, call.int_param("id"))
        events = await db.scalars(
            select(ConversationEvent)
            .where(ConversationEvent.conversation_id == conversation.id)
            .order_by(ConversationEvent.created_at, ConversationEvent.id)
            .limit(1000)
        )
        return EventList(items=[AuditOut.of(event) for event in events])
