"""Private notes: what the team writes in a conversation for itself. A note is a line of the
conversation's history (an audit line of kind ``note``, through the state machine), never a
message: it does not pass core.outbound, so it cannot reach WhatsApp, and the copilot (which
reads messages only) never sees it.

A note may mention colleagues, as ``@Name`` in its text or by id (the composer's picker sends
both); each one mentioned hears of it in their bell. Only people who may see the conversation
can be mentioned, as in Chatwoot: naming by id someone who may not is refused
(``mention_without_access``), and an ``@Name`` nobody here answers to stays plain text.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.api.routing import Api, Call
from core.auth.visibility import may_see
from core.desk.changes import Changes
from core.desk.departments import departments_of
from core.desk.machine import Actor, Machine
from core.desk.team_api import People, Person
from core.desk.unit import DESK, load
from core.inbox import queries
from core.storage.base import RowId
from core.storage.models import User
from core.storage.rows import ConversationRow
from core.views import AuditOut
from zapdesk.errors import ValidationFailed

api = Api()
TAGS = ("conversations",)
MAX_NOTE = 4000
MAX_MENTIONS = 50


class UnknownMention(ValidationFailed):
    code = "unknown_mention"
    default_message = "No active colleague with this id."


class MentionWithoutAccess(ValidationFailed):
    code = "mention_without_access"
    default_message = "This colleague may not see the conversation, so cannot be mentioned."


async def mentionable(db: AsyncSession, conversation: ConversationRow) -> list[User]:
    """The active people who may see the conversation, by name."""
    people = list(
        await db.scalars(
            select(User).where(User.is_active.is_(True)).order_by(func.lower(User.name), User.id)
        )
    )
    departments = await departments_of(db, [p.id for p in people])
    return [
        p
        for p in people
        if may_see(
            p.role, p.id, departments[p.id], conversation.department_id, conversation.assignee_id
        )
    ]


def named_in(text: str, people: Iterable[User]) -> list[int]:
    """Who the text mentions as ``@Name`` (case ignored; the longest name that fits wins, so
    "@Ana Souza" is Ana Souza even where an "Ana" works too)."""
    by_length = sorted(people, key=lambda p: len(p.name), reverse=True)
    folded = text.casefold()
    found: list[int] = []
    for at, char in enumerate(text):
        if char != "@" or (at > 0 and (text[at - 1].isalnum() or text[at - 1] == "_")):
            continue  # an e-mail address, not a mention
        for person in by_length:
            name = person.name.casefold()
            end = at + 1 + len(name)
            if name and folded.startswith(name, at + 1) and not _word(text[end : end + 1]):
                found.append(person.id)
                break
    return list(dict.fromkeys(found))


def _word(char: str) -> bool:
    return bool(char) and (char.isalnum() or char == "_")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_NOTE * 2, description="1 to 4000 characters (trimmed).")
    mentions: list[RowId] = Field(
        default_factory=list,
        max_length=MAX_MENTIONS,
        description="Colleagues mentioned, by id (besides the text's `@Name`s); each must be "
        "active (`unknown_mention`) and may see the conversation (`mention_without_access`).",
    )

    @field_validator("text")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("write something")
        if len(value) > MAX_NOTE:
            raise ValueError(f"at most {MAX_NOTE} characters")
        return value


@api.operation(
    "POST",
    "/conversations/{id}/notes",
    summary="Write a private note in a conversation (Nota privada)",
    body=NoteIn,
    response=AuditOut,
    status=201,
    tags=TAGS,
)
async def write_note(call: Call[NoteIn, None]) -> AuditOut:
    """Anyone who may see the conversation, in any status. The team sees it in the timeline
    (a `conversation.event` of kind `note`); the customer never does."""
    body = call.body
    conversation_id = call.int_param("id")

    async def work(db: AsyncSession, changes: Changes) -> AuditOut:
        viewer = await queries.viewer_of(db, call.me)
        conversation = await load(db, conversation_id, viewer=viewer)
        may = await mentionable(db, conversation)
        allowed = {p.id for p in may}
        if body.mentions:
            active = set(
                await db.scalars(
                    select(User.id).where(User.id.in_(body.mentions), User.is_active.is_(True))
                )
            )
            for user_id in body.mentions:
                if user_id not in active:
                    raise UnknownMention(details={"field": "mentions", "user_id": user_id})
                if user_id not in allowed:
                    raise MentionWithoutAccess(details={"field": "mentions", "user_id": user_id})
        mentions = list(dict.fromkeys([*body.mentions, *named_in(body.text, may)]))
        line = Machine(changes).noted(conversation, Actor.user(call.me.id), body.text, mentions)
        await changes.write(db)  # the line gets its id
        return AuditOut.of(line)

    return await call.request.app[DESK].run(work)


@api.operation(
    "GET",
    "/conversations/{id}/mentionable",
    summary="Who may be mentioned in a conversation's notes (who may see it)",
    response=People,
    tags=TAGS,
)
async def list_mentionable(call: Call[None, None]) -> People:
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        conversation = await load(db, call.int_param("id"), lock=False, viewer=viewer)
        people = await mentionable(db, conversation)
    return People(items=[Person(id=p.id, name=p.name, is_active=True) for p in people])
