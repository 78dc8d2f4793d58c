"""Conversations and their messages: lists with filters and search, detail, reading."""

from __future__ import annotations

from typing import Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import gateway_client
from core.api.routing import Api, Call
from core.copilot.service import COPILOT
from core.desk.changes import Changes, audience_of
from core.desk.tags import tag_ids_of
from core.desk.unit import DESK
from core.gateway_client import GATEWAY
from core.inbox import queries
from core.inbox.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, SortKey, decode_cursor
from core.inbox.queries import MarkedRead
from core.outbound import service as outbound_service
from core.outbound.service import SendIn, queue_message
from core.outbound.typing import TYPING
from core.realtime.bus import Notice, serialized
from core.realtime.topics import CONVERSATION_UPDATED, INBOX
from core.storage.base import RowId
from core.storage.models import Channel, Contact, Conversation, ConversationStatus, User
from core.views import ConversationOut, MessageOut
from sessions.commands import SetTyping
from sessions.events import PresenceState
from zapdesk.errors import ZapdeskError
from zapdesk.web import validated

log = structlog.get_logger("core.api.conversations")

api = Api()
TAGS = ("conversations",)


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(
        None, description="`next_cursor` of the previous page; absent for the first page."
    )
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Rows per page.")

    def after(self) -> SortKey | None:
        return None if self.cursor is None else decode_cursor(self.cursor)


class ConversationQuery(PageQuery):
    status: list[ConversationStatus] = Field(
        default_factory=list,
        description="One or several statuses, comma-separated (`open,pending`) or repeated.",
    )
    department_id: RowId | None = None
    assignee_id: RowId | None = Field(None, description="Assigned to this user.")
    assignee: Literal["me", "none"] | None = Field(
        None, description="`me`: assigned to the caller; `none`: not assigned to anyone."
    )
    channel_id: RowId | None = None
    tag_id: RowId | None = Field(None, description="Carrying this tag.")
    contact_id: RowId | None = Field(None, description="With this contact (their history).")
    unread: bool | None = Field(None, description="`true`: only those with unread messages.")
    q: str | None = Field(
        None,
        max_length=200,
        description="Words in the messages (Portuguese full-text search), or part of the "
        "contact's name, e-mail or phone.",
    )

    @field_validator("status", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _one_assignee_filter(self) -> ConversationQuery:
        if self.assignee is not None and self.assignee_id is not None:
            raise ValueError("give assignee or assignee_id, not both")
        return self

    def filter(self, me: User) -> queries.ConversationFilter:
        return queries.ConversationFilter(
            statuses=tuple(self.status),
            department_id=self.department_id,
            assignee_id=me.id if self.assignee == "me" else self.assignee_id,
            unassigned=self.assignee == "none",
            channel_id=self.channel_id,
            tag_id=self.tag_id,
            contact_id=self.contact_id,
            unread=self.unread,
            text=(self.q or "").strip() or None,
        )


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: end.")


class MessagePage(BaseModel):
    items: list[MessageOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for older messages; null: end.")


CONVERSATION_QUERY = TypeAdapter(ConversationQuery)


def _conversation_query(call: Call[None, ConversationQuery]) -> ConversationQuery:
    """The query, with ``status`` given several times (``?status=open&status=pending``) too."""
    statuses = call.request.query.getall("status", [])
    if len(statuses) < 2:
        return call.query
    raw = dict(call.request.query) | {"status": ",".join(statuses)}
    return validated(CONVERSATION_QUERY, raw, where="query")


async def _conversations_page(
    db: AsyncSession, page: Page[tuple[Conversation, Contact]]
) -> ConversationPage:
    tags = await tag_ids_of(db, [conversation.id for conversation, _ in page.items])
    return ConversationPage(
        items=[
            ConversationOut.of(conversation, contact, tags[conversation.id])
            for conversation, contact in page.items
        ],
        next_cursor=page.next_cursor,
    )


@api.operation(
    "GET",
    "/conversations",
    summary="Conversations, newest activity first",
    query=ConversationQuery,
    response=ConversationPage,
    tags=TAGS,
)
async def list_conversations(call: Call[None, ConversationQuery]) -> ConversationPage:
    """Attendants get the conversations they may see: assigned to them, of their departments,
    or in no department yet. Filters combine (all must hold)."""
    query = _conversation_query(call)
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        page = await queries.list_conversations(
            db, viewer, query.filter(call.me), query.after(), query.limit
        )
        return await _conversations_page(db, page)


@api.operation(
    "GET",
    "/conversations/{id}",
    summary="A conversation with its contact",
    response=ConversationOut,
    tags=TAGS,
)
async def get_conversation(call: Call[None, None]) -> ConversationOut:
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        conversation, contact = await queries.get_conversation(db, viewer, call.int_param("id"))
        tags = await tag_ids_of(db, [conversation.id])
        return ConversationOut.of(conversation, contact, tags[conversation.id])


@api.operation(
    "GET",
    "/conversations/{id}/messages",
    summary="A conversation's messages, newest first",
    query=PageQuery,
    response=MessagePage,
    tags=TAGS,
)
async def list_messages(call: Call[None, PageQuery]) -> MessagePage:
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        page = await queries.list_messages(
            db, viewer, call.int_param("id"), call.query.after(), call.query.limit
        )
        return MessagePage(
            items=[MessageOut.of(message) for message in page.items],
            next_cursor=page.next_cursor,
        )


@api.operation(
    "POST",
    "/conversations/{id}/read",
    summary="Mark a conversation read",
    response=ConversationOut,
    tags=TAGS,
)
async def mark_conversation_read(call: Call[None, None]) -> ConversationOut:
    """Unread count to zero, and read receipts sent to the customer through the gateway (best
    effort: the conversation is read in the desk even when the gateway cannot be reached)."""

    async def work(db: AsyncSession, changes: Changes) -> tuple[MarkedRead, ConversationOut]:
        viewer = await queries.viewer_of(db, call.me)
        marked = await queries.mark_read(db, viewer, call.int_param("id"))
        tags = await tag_ids_of(db, [marked.conversation.id])
        out = ConversationOut.of(marked.conversation, marked.contact, tags[marked.conversation.id])
        if marked.changed:  # not a transition: the unread count, for whom sees it
            audience = audience_of(marked.conversation)
            changes.extra.append(Notice(INBOX, CONVERSATION_UPDATED, serialized(out), audience))
        return marked, out

    marked, out = await call.request.app[DESK].run(work)
    if marked.receipt is not None:
        receipt = marked.receipt
        await gateway_client.mark_read(
            call.settings, receipt.session_id, receipt.chat, receipt.wa_ids
        )
    return out


# Sending and typing (the outbound slice).


@api.operation(
    "POST",
    "/conversations/{id}/messages",
    summary="Send a message (queued; sent by the outbound worker)",
    body=SendIn,
    response=MessageOut,
    status=202,
    tags=TAGS,
)
async def send_message(call: Call[SendIn, None]) -> MessageOut:
    """Stored as `pending` and sent in the background: `message.updated` tells when it is
    `sent` (or `failed`, with the reason in `error`). A repeated `client_id` answers the same
    message and sends nothing more."""
    conversation_id = call.int_param("id")
    try:
        queued = await call.request.app[DESK].run(
            lambda db, changes: queue_message(db, changes, call.me, conversation_id, call.body)
        )
    except IntegrityError:
        # The same client_id sent twice at once: the other request stored it.
        if call.body.client_id is None:
            raise
        async with call.db() as db:
            found = await outbound_service.existing(db, call.body.client_id, conversation_id)
            if found is None:
                raise
            return MessageOut.of(found)
    if queued.created:
        call.request.app[COPILOT].attendant_answered(conversation_id)
    return MessageOut.of(queued.message)


class TypingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["typing", "paused"]


@api.operation(
    "POST",
    "/conversations/{id}/typing",
    summary="Show the customer that the attendant is typing",
    body=TypingIn,
    tags=TAGS,
)
async def send_typing(call: Call[TypingIn, None]) -> None:
    """Best effort (204 even when the gateway cannot be reached); "typing" at most once per
    conversation every few seconds, "paused" always."""
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        conversation, _ = await queries.get_conversation(db, viewer, call.int_param("id"))
        typing = call.body.state == "typing"
        if not call.request.app[TYPING].allow(conversation.id, typing):
            return
        contact = await outbound_service.load_contact(db, conversation.contact_id)
        channel = await db.get(Channel, conversation.channel_id)
        chat = queries.chat_jid(contact)
    if channel is None or chat is None:
        return
    command = SetTyping(chat=chat, state=PresenceState(call.body.state))
    try:
        await call.request.app[GATEWAY].typing(channel.session_id, command)
    except ZapdeskError as exc:
        log.info("typing_not_sent", conversation_id=conversation.id, code=exc.code)
    return
