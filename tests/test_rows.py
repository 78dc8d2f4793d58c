"""Plain rows written back: what a batch changed in many rows at once reaches the database,
column for column (JSON, enums, times, NULLs), and nothing else does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.storage.models import (
    ActorType,
    Channel,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    MessageType,
)
from core.storage.rows import MessageRow, insert_rows, rows_of, store_changes
from zapdesk.db import session_factory

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def new_conversation(db: AsyncSession, session_id: str, phone: str) -> Conversation:
    """A conversation with a new contact on a new channel."""
    channel = Channel(session_id=session_id, name="Rows")
    contact = Contact(phone=phone)
    db.add_all([channel, contact])
    await db.flush()
    conversation = Conversation(channel_id=channel.id, contact_id=contact.id, last_message_at=T0)
    db.add(conversation)
    await db.flush()
    return conversation


async def test_what_changed_in_many_rows_is_written_column_for_column(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions.begin() as db:
        conversation = await new_conversation(db, "rows", "5511999990000")
        await db.execute(
            insert(Message),
            [
                {
                    "conversation_id": conversation.id,
                    "channel_id": conversation.channel_id,
                    "wa_message_id": f"w{n}",
                    "direction": Direction.OUTBOUND,
                    "author_type": ActorType.USER,
                    "body": f"mensagem {n}",
                    "status": MessageStatus.SENT,
                    "media": {"mime": "image/png", "size": n},
                    "created_at": T0 + timedelta(seconds=n),
                }
                for n in range(5)
            ],
        )

    statement = select(*MessageRow.selected()).order_by(Message.id)
    async with sessions.begin() as db:
        rows = await rows_of(db, MessageRow, statement)
        # Three rows change the same columns (one UPDATE for them), one others, one nothing.
        for n, row in enumerate(rows[:3]):
            row.status = MessageStatus.READ
            row.reactions = {"5511999990000": "👍" * (n + 1)}
            row.error = f"erro {n}"
            row.edited_at = T0 + timedelta(minutes=n)
            row.media = None
        rows[3].edited_at = T0 + timedelta(hours=1)
        rows[3].body = "mensagem 3, editada"
        rows[3].media = None
        await store_changes(db, rows)
        assert all(row.changes() == {} for row in rows)  # written: nothing left to write

    async with sessions.begin() as db:
        stored = await rows_of(db, MessageRow, statement)
    assert [r.status for r in stored] == [MessageStatus.READ] * 3 + [MessageStatus.SENT] * 2
    assert [r.reactions for r in stored] == [
        {"5511999990000": "👍"},
        {"5511999990000": "👍👍"},
        {"5511999990000": "👍👍👍"},
        {},
        {},
    ]
    assert [r.error for r in stored] == ["erro 0", "erro 1", "erro 2", None, None]
    assert [r.body for r in stored] == [
        "mensagem 0",
        "mensagem 1",
        "mensagem 2",
        "mensagem 3, editada",
        "mensagem 4",
    ]
    assert [r.edited_at for r in stored] == [
        T0,
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=2),
        T0 + timedelta(hours=1),
        None,
    ]
    # Media taken away is SQL NULL (not JSON null), whether one row changed or many.
    assert [r.media for r in stored] == [None] * 4 + [{"mime": "image/png", "size": 4}]
    async with sessions.begin() as db:
        nulls = await db.scalar(select(func.count()).where(Message.media.is_(None)))
    assert nulls == 4


async def test_new_rows_get_their_own_ids_and_every_column_as_given(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions.begin() as db:
        conversation = await new_conversation(db, "rows-new", "5511999990001")
        new = [
            MessageRow(
                conversation_id=conversation.id,
                channel_id=conversation.channel_id,
                wa_message_id=f"n{n}",
                client_id=None,
                direction=Direction.INBOUND,
                author_type=ActorType.CONTACT,
                author_user_id=None,
                type=MessageType.IMAGE if n == 1 else MessageType.TEXT,
                body=f"nova {n}",
                media={"mime": "image/jpeg", "size": 10} if n == 1 else None,
                quoted_wa_message_id="n0" if n == 2 else None,
                reactions={"5511999990001": "❤️"} if n == 2 else {},
                status=MessageStatus.RECEIVED,
                error=None,
                sent_at=T0 + timedelta(seconds=n),
                created_at=T0 + timedelta(seconds=n),
            )
            for n in (2, 0, 1)  # ids are matched by WhatsApp id, not by order
        ]
        await insert_rows(db, new, key=("channel_id", "wa_message_id"))
        assert all(row.changes() == {} for row in new)

    statement = select(*MessageRow.selected()).where(Message.channel_id == conversation.channel_id)
    async with sessions.begin() as db:
        stored = {row.id: row for row in await rows_of(db, MessageRow, statement)}
    assert sorted(stored) == sorted(row.id for row in new)
    for row in new:
        assert stored[row.key].values() == row.values()
    # No media is SQL NULL, not JSON null.
    async with sessions.begin() as db:
        nulls = await db.scalar(
            select(func.count()).where(
                Message.channel_id == conversation.channel_id, Message.media.is_(None)
            )
        )
    assert nulls == 2
