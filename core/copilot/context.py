"""What a draft is made from: the conversation's recent turns within a token budget, who the
customer is, the department, the question to answer and the best knowledge passages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.copilot.text import estimate_tokens, first_name
from core.storage.models import (
    ActorType,
    Contact,
    Conversation,
    Department,
    Direction,
    Message,
    MessageType,
)
from zapdesk.errors import NotFound

# Who answers for the company: attendants in the desk, or someone on the phone itself.
HUMAN = frozenset({ActorType.USER, ActorType.SYSTEM})
# More than any budget fills with chat-sized messages; the budget decides what goes.
RECENT_MESSAGES = 80


@dataclass(frozen=True)
class Turn:
    role: Literal["customer", "attendant", "bot"]
    text: str


@dataclass(frozen=True)
class Passage:
    """A piece of company knowledge: an article's paragraph or a quick reply."""

    source: Literal["knowledge", "quick_reply"]
    title: str
    text: str
    confidence: float = 0.0  # 0..1, how well it matches the question


@dataclass
class DraftContext:
    conversation_id: int
    message_id: int | None
    contact_name: str | None
    first_name: str | None
    department: str | None
    turns: list[Turn]  # oldest first
    question: str  # what the customer said since the attendant last spoke
    attendant_spoke: bool  # the customer was already greeted in this conversation
    passages: list[Passage] = field(default_factory=list)
    # This conversation's own text and the contact's fields: data a draft may repeat.
    known_text: str = ""


def _role(message: Message) -> Literal["customer", "attendant", "bot"]:
    if message.direction is Direction.INBOUND:
        return "customer"
    return "attendant" if message.author_type in HUMAN else "bot"


def _text(message: Message) -> str:
    if message.body.strip():
        return message.body.strip()
    if message.type is not MessageType.TEXT:
        return f"[{message.type.value}]"
    return ""


async def load_context(
    db: AsyncSession, conversation_id: int, history_tokens: int
) -> tuple[DraftContext, Conversation]:
    row = (
        await db.execute(
            select(Conversation, Contact, Department.name)
            .join(Contact, Contact.id == Conversation.contact_id)
            .outerjoin(Department, Department.id == Conversation.department_id)
            .where(Conversation.id == conversation_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"No conversation {conversation_id}.")
    conversation, contact, department = row[0], row[1], row[2]
    newest_first = list(
        await db.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.revoked_at.is_(None))
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(RECENT_MESSAGES)
        )
    )
    turns: list[Turn] = []
    budget = history_tokens
    for message in newest_first:
        text = _text(message)
        if not text:
            continue
        cost = estimate_tokens(text)
        if cost > budget:
            if not turns:  # one very long message: its start, rather than nothing
                turns.append(Turn(_role(message), text[: budget * 4]))
            break
        budget -= cost
        turns.append(Turn(_role(message), text))
    turns.reverse()

    burst: list[Message] = []
    for message in newest_first:
        if message.direction is Direction.OUTBOUND and message.author_type in HUMAN:
            break
        if message.direction is Direction.INBOUND and _text(message):
            burst.append(message)
    if not burst:  # asked again after the attendant answered: the customer's last words
        burst = [m for m in newest_first if m.direction is Direction.INBOUND and _text(m)][:1]
    burst.reverse()
    spoke: int | None = next(
        (
            m.id
            for m in newest_first
            if m.direction is Direction.OUTBOUND and m.author_type in HUMAN
        ),
        None,
    )
    if spoke is None and len(newest_first) == RECENT_MESSAGES:  # older than what was read
        spoke = await db.scalar(
            select(Message.id)
            .where(
                Message.conversation_id == conversation_id,
                Message.direction == Direction.OUTBOUND,
                Message.author_type.in_(HUMAN),
            )
            .limit(1)
        )
    name = contact.name or contact.push_name
    known = [m.body for m in newest_first]
    known += [contact.phone or "", contact.email or "", name or ""]
    context = DraftContext(
        conversation_id=conversation_id,
        message_id=burst[-1].id if burst else None,
        contact_name=name,
        first_name=first_name(name),
        department=department,
        turns=turns,
        question="\n".join(_text(m) for m in burst),
        attendant_spoke=spoke is not None,
        known_text="\n".join(known),
    )
    return context, conversation
