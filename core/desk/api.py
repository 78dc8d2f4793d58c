"""What people do to a conversation — claim, assign, unassign, transfer, pending, resolve — each
one move of the state machine in one unit of work, and its timeline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.api.routing import STAFF, Api, Call
from core.auth.visibility import Viewer
from core.desk import csat
from core.desk import departments as service
from core.desk.changes import Changes
from core.desk.machine import HELD, Actor, Machine
from core.desk.tags import tag_ids_of
from core.desk.unit import DESK, load
from core.inbox import queries
from core.inbox.contacts import contacts_by_id
from core.outbound.service import queue
from core.storage.base import RowId, utcnow
from core.storage.models import ConversationEvent, User
from core.storage.rows import ConversationRow
from core.views import AuditOut, ConversationOut
from zapdesk.errors import Conflict, PermissionDenied, ValidationFailed

api = Api()
TAGS = ("desk",)


class ConversationTaken(Conflict):
    code = "conversation_taken"
    default_message = "Someone else took this conversation first."


# What people do to a conversation.

Move = Callable[[AsyncSession, Changes, ConversationRow, Viewer], Awaitable[None]]


async def act(call: Call[Any, Any], move: Move) -> ConversationOut:
    """Loads the conversation (locked) for someone who may see it, applies ``move``, and
    answers the conversation as it is after the commit."""
    conversation_id = call.int_param("id")

    async def work(db: AsyncSession, changes: Changes) -> ConversationOut:
        viewer = await queries.viewer_of(db, call.me)
        conversation = await load(db, conversation_id, viewer=viewer)
        await move(db, changes, conversation, viewer)
        contacts = await contacts_by_id(db, [conversation.contact_id])
        tags = await tag_ids_of(db, [conversation.key])
        return ConversationOut.of(
            conversation, contacts.get(conversation.contact_id), tags[conversation.key]
        )

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

    return await act(call, move)


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

    return await act(call, move)


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

    return await act(call, move)


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

    return await act(call, move)


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


class SnoozeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: AwareDatetime = Field(
        description="When it comes back open to its attendant (the customer's answer first "
        "brings it back sooner)."
    )

    @field_validator("until")
    @classmethod
    def _ahead(cls, value: datetime) -> datetime:
        if value <= utcnow():
            raise ValueError("a moment still to come")
        if value > utcnow() + timedelta(days=365):
            raise ValueError("at most a year ahead")
        return value


@api.operation(
    "POST",
    "/conversations/{id}/snooze",
    summary="Snooze a conversation: pending until a time (Adiar)",
    body=SnoozeIn,
    response=ConversationOut,
    tags=("conversations",),
)
async def snooze(call: Call[SnoozeIn, None]) -> ConversationOut:
    until = call.body.until
    reason = f"snoozed until {until.isoformat()}"
    return await _by_holder(call, "change", lambda m, c, actor: m.snooze(c, until, actor, reason))


@api.operation(
    "POST",
    "/conversations/{id}/resolve",
    summary="Resolve a conversation (Resolver)",
    response=ConversationOut,
    tags=("conversations",),
)
async def resolve(call: Call[None, None]) -> ConversationOut:
    """Resolved: the customer gets the department's closing message and its satisfaction
    survey (when they are set)."""

    async def move(
        db: AsyncSession, changes: Changes, conversation: ConversationRow, viewer: Viewer
    ) -> None:
        _holder_or_staff(conversation, viewer, "resolve")
        Machine(changes).resolve(conversation, Actor.user(call.me.id), "resolved")
        await csat.wrap_up(db, changes, conversation)

    return await act(call, move)


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
