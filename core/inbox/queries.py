"""What the inbox reads: conversations by filters and text, their messages, contacts; and marking
a conversation read. Everything is limited to what the viewer may see: the SQL form of
``core.auth.visibility.may_see``, so a list, a search and a detail never disagree."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import column, table
from sqlalchemy.sql.expression import ColumnClause

from core.auth import visibility
from core.auth.visibility import Viewer, not_found
from core.inbox.pagination import Page, SortKey, older_than, page_of
from core.storage.models import (
    Channel,
    Contact,
    Conversation,
    ConversationStatus,
    ConversationTag,
    Direction,
    IdentityKind,
    Message,
    MessageStatus,
    User,
)
from core.storage.rows import ContactRow, ConversationRow, rows_of
from zapdesk.errors import NotFound

# A read receipt names the messages read; the newest ones are enough for WhatsApp to show
# the chat as read, and the command stays small.
RECEIPT_LIMIT = 256
RECENT_CONVERSATIONS = 20
# The GIN index ix_messages_body_search is on exactly to_tsvector('portuguese', body): the
# configuration must be a constant in the SQL (not a bound parameter) for the planner to use it.
PORTUGUESE: ColumnClause[str] = literal_column("'portuguese'")
MESSAGES_FTS = table("messages_fts", column("rowid"))
_PHONE_LIKE = re.compile(r"^[\d\s()+.-]+$")


async def viewer_of(db: AsyncSession, user: User) -> Viewer:
    return await visibility.viewer_of(db, user.id, user.role)


def visible_conversations(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.sees_all:
        return true()
    return or_(
        Conversation.assignee_id == viewer.user_id,
        Conversation.department_id.is_(None),
        Conversation.department_id.in_(viewer.department_ids),
    )


def visible_contacts(viewer: Viewer) -> ColumnElement[bool]:
    """Supervisors and admins see the whole directory; an attendant sees a contact through a
    conversation they may see."""
    if viewer.is_staff:
        return true()
    return (
        select(Conversation.id)
        .where(Conversation.contact_id == Contact.id, visible_conversations(viewer))
        .exists()
    )


# Conversations.


@dataclass(frozen=True)
class ConversationFilter:
    statuses: tuple[ConversationStatus, ...] = ()
    department_id: int | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    channel_id: int | None = None
    tag_id: int | None = None
    contact_id: int | None = None
    unread: bool | None = None
    text: str | None = None


def _conditions(where: ConversationFilter, dialect: str) -> list[ColumnElement[bool]]:
    """Every filter but the status (``conversations_query`` applies it its own way)."""
    conditions: list[ColumnElement[bool]] = []
    if where.department_id is not None:
        conditions.append(Conversation.department_id == where.department_id)
    if where.assignee_id is not None:
        conditions.append(Conversation.assignee_id == where.assignee_id)
    if where.unassigned:
        conditions.append(Conversation.assignee_id.is_(None))
    if where.channel_id is not None:
        conditions.append(Conversation.channel_id == where.channel_id)
    if where.tag_id is not None:
        conditions.append(
            select(ConversationTag.conversation_id)
            .where(
                ConversationTag.conversation_id == Conversation.id,
                ConversationTag.tag_id == where.tag_id,
            )
            .exists()
        )
    if where.contact_id is not None:
        conditions.append(Conversation.contact_id == where.contact_id)
    if where.unread is not None:
        unread = Conversation.unread_count > 0
        conditions.append(unread if where.unread else ~unread)
    if where.text:
        in_bodies = Conversation.id.in_(
            select(Message.conversation_id).where(body_matches(where.text, dialect))
        )
        conditions.append(or_(in_bodies, contact_matches(where.text)))
    return conditions


def body_matches(text: str, dialect: str) -> ColumnElement[bool]:
    """Messages whose body has the words of ``text``: PostgreSQL's Portuguese full-text search
    (stemmed: "entregas" finds "entrega"), or SQLite's FTS5 table (accents and case ignored)."""
    if dialect == "postgresql":
        query = func.websearch_to_tsquery(PORTUGUESE, text)
        return func.to_tsvector(PORTUGUESE, Message.body).bool_op("@@")(query)
    match = fts5_query(text)
    if match is None:
        return false()
    hits = select(MESSAGES_FTS.c.rowid).where(
        literal_column("messages_fts").bool_op("MATCH")(match)
    )
    return Message.id.in_(hits)


def fts5_query(text: str) -> str | None:
    """``text`` as an FTS5 expression that cannot be a syntax error: every word a quoted
    string (quotes doubled), each a prefix ("entreg" finds "entrega"), all of them required."""
    words = [word for word in text.split() if any(char.isalnum() for char in word)]
    if not words:
        return None
    return " ".join('"' + word.replace('"', '""') + '"*' for word in words)


def contact_matches(text: str) -> ColumnElement[bool]:
    """Contacts whose name, WhatsApp name, e-mail or phone contains ``text`` (any case)."""
    text = text.strip()
    conditions = [
        Contact.name.icontains(text, autoescape=True),
        Contact.push_name.icontains(text, autoescape=True),
        Contact.email.icontains(text, autoescape=True),
    ]
    digits = "".join(char for char in text if char.isdigit())
    if digits and _PHONE_LIKE.match(text):  # "+55 (11) 98888-7777" finds 5511988887777
        conditions.append(Contact.phone.contains(digits, autoescape=True))
    return or_(*conditions)


async def list_conversations(
    db: AsyncSession,
    viewer: Viewer,
    where: ConversationFilter,
    after: SortKey | None,
    limit: int,
) -> Page[tuple[Conversation, Contact]]:
    query = conversations_query(viewer, where, after, limit, _dialect(db))
    rows = (await db.execute(query)).tuples().all()
    return page_of(rows, limit, lambda row: SortKey(row[0].last_message_at, row[0].id))


def conversations_query(
    viewer: Viewer, where: ConversationFilter, after: SortKey | None, limit: int, dialect: str
) -> Select[tuple[Conversation, Contact]]:
    """One page (plus one row, to know whether there is more) of what ``viewer`` may see."""
    conditions = [visible_conversations(viewer), *_conditions(where, dialect)]
    if after is not None:
        conditions.append(older_than(Conversation.last_message_at, Conversation.id, after))
    if len(where.statuses) == 1:
        conditions.append(Conversation.status == where.statuses[0])
    elif where.text:  # the search narrows the rows: one pass over them is cheapest
        if where.statuses:
            conditions.append(Conversation.status.in_(where.statuses))
    else:
        statuses = where.statuses or tuple(ConversationStatus)
        conditions.append(Conversation.id.in_(_newest_per_status(statuses, conditions, limit)))
    return (
        select(Conversation, Contact)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(*conditions)
        .order_by(*NEWEST_ACTIVITY)
        .limit(limit + 1)
    )


NEWEST_ACTIVITY = (Conversation.last_message_at.desc(), Conversation.id.desc())


def _newest_per_status(
    statuses: tuple[ConversationStatus, ...], conditions: list[ColumnElement[bool]], limit: int
) -> Select[tuple[int]]:
    """The ids of the page's candidates: the newest ``limit + 1`` of each status. The indexes
    lead with the status, so each part is a short backward index scan; one query over several
    statuses would read and sort every row of them instead."""
    parts = [
        select(Conversation.id)
        .where(Conversation.status == status, *conditions)
        .order_by(*NEWEST_ACTIVITY)
        .limit(limit + 1)
        .subquery()
        for status in statuses
    ]
    candidates = union_all(*(select(part.c.id) for part in parts)).subquery()
    return select(candidates.c.id)


async def get_conversation(
    db: AsyncSession, viewer: Viewer, conversation_id: int
) -> tuple[Conversation, Contact]:
    """The conversation and its contact; NotFound alike when it does not exist and when the
    viewer may not see it, so that its existence does not leak."""
    row = (
        await db.execute(
            select(Conversation, Contact)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(Conversation.id == conversation_id)
        )
    ).first()
    if row is None or not viewer.sees_conversation(row[0]):
        raise not_found(conversation_id)
    return row[0], row[1]


async def list_messages(
    db: AsyncSession, viewer: Viewer, conversation_id: int, after: SortKey | None, limit: int
) -> Page[Message]:
    await get_conversation(db, viewer, conversation_id)
    query = (
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(older_than(Message.created_at, Message.id, after))
    rows = (await db.scalars(query)).all()
    return page_of(rows, limit, lambda message: SortKey(message.created_at, message.id))


# Reading a conversation.


@dataclass(frozen=True)
class ReadReceipt:
    """What the gateway needs to tell the customer's phone their messages were read."""

    session_id: str
    chat: str
    wa_ids: list[str]


@dataclass(frozen=True)
class MarkedRead:
    conversation: Conversation
    contact: Contact
    changed: bool
    receipt: ReadReceipt | None


async def mark_read(db: AsyncSession, viewer: Viewer, conversation_id: int) -> MarkedRead:
    """Unread count to zero, and the customer's messages not yet read marked read (status
    ``read``), so that each receipt is asked for once. Repeating it changes nothing."""
    conversation, contact = await get_conversation(db, viewer, conversation_id)
    unread = (
        await db.execute(
            select(Message.id, Message.wa_message_id)
            .where(
                Message.conversation_id == conversation_id,
                Message.direction == Direction.INBOUND,
                Message.status == MessageStatus.RECEIVED,
            )
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(RECEIPT_LIMIT)
        )
    ).all()
    changed = conversation.unread_count != 0 or bool(unread)
    if unread:
        # Older unread ones too (not named in the receipt): ids grow, so max() covers them.
        await db.execute(
            update(Message)
            .where(
                Message.conversation_id == conversation_id,
                Message.direction == Direction.INBOUND,
                Message.status == MessageStatus.RECEIVED,
                Message.id <= max(row.id for row in unread),
            )
            .values(status=MessageStatus.READ)
        )
    if changed:
        # Written before the answer is read back: holding the row now, the answer and its
        # notice carry what the conversation is (a claim may have committed since the read).
        await db.execute(
            update(Conversation).where(Conversation.id == conversation_id).values(unread_count=0)
        )
        await db.refresh(conversation)
    wa_ids = [row.wa_message_id for row in unread if row.wa_message_id]
    chat = chat_jid(contact)
    receipt = None
    if wa_ids and chat is not None:
        session_id = await db.scalar(
            select(Channel.session_id).where(Channel.id == conversation.channel_id)
        )
        if session_id is not None:
            receipt = ReadReceipt(session_id, chat, wa_ids)
    return MarkedRead(conversation, contact, changed, receipt)


def chat_jid(contact: Contact | ContactRow) -> str | None:
    """The customer's chat: the phone-number JID when known (every WhatsApp version takes it),
    else the @lid one."""
    by_kind = {identity.kind: identity.jid for identity in contact.identities}
    return by_kind.get(IdentityKind.PHONE) or by_kind.get(IdentityKind.LID)


# Contacts.


async def list_contacts(
    db: AsyncSession, viewer: Viewer, text: str | None, after: SortKey | None, limit: int
) -> Page[Contact]:
    query = (
        select(Contact)
        .where(visible_contacts(viewer))
        .order_by(Contact.created_at.desc(), Contact.id.desc())
        .limit(limit + 1)
    )
    if text and text.strip():
        query = query.where(contact_matches(text))
    if after is not None:
        query = query.where(older_than(Contact.created_at, Contact.id, after))
    rows = (await db.scalars(query)).all()
    return page_of(rows, limit, lambda contact: SortKey(contact.created_at, contact.id))


async def get_contact(
    db: AsyncSession, viewer: Viewer, contact_id: int
) -> tuple[Contact, list[int]]:
    """The contact and the ids of its latest conversations the viewer may see, newest first."""
    contact = await db.get(Contact, contact_id)
    conversation_ids = list(
        await db.scalars(
            select(Conversation.id)
            .where(Conversation.contact_id == contact_id, visible_conversations(viewer))
            .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
            .limit(RECENT_CONVERSATIONS)
        )
    )
    if contact is None or not (viewer.is_staff or conversation_ids):
        raise NotFound(f"No contact {contact_id}.", details={"contact_id": contact_id})
    return contact, conversation_ids


async def latest_of_contact(db: AsyncSession, contact_id: int) -> list[ConversationRow]:
    """The contact's latest conversations, whoever may see them, locked for the unit that
    shows them again (a new name)."""
    table = ConversationRow.table
    statement = (
        select(*ConversationRow.selected())
        .where(table.c.contact_id == contact_id)
        .order_by(table.c.last_message_at.desc(), table.c.id.desc())
        .limit(RECENT_CONVERSATIONS)
        .with_for_update()
    )
    return await rows_of(db, ConversationRow, statement)


async def update_contact(
    db: AsyncSession, viewer: Viewer, contact_id: int, changes: dict[str, Any]
) -> tuple[Contact, list[int]]:
    """Applies ``changes`` (validated name, email, attributes) to a contact the viewer sees."""
    contact, conversation_ids = await get_contact(db, viewer, contact_id)
    for name in ("name", "email", "attributes"):
        if name in changes:
            setattr(contact, name, changes[name])
    await db.flush()
    return contact, conversation_ids


def _dialect(db: AsyncSession) -> str:
    return db.get_bind().dialect.name
