"""The storage suite: the same tests on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth.accounts import FIRST_ADMIN_EMAIL, create_user, ensure_first_admin
from core.auth.passwords import verify_password
from core.storage.models import (
    ActorType,
    Channel,
    Contact,
    ContactIdentity,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Department,
    Direction,
    EventKind,
    IdentityKind,
    Message,
    MessageStatus,
    MessageType,
    Role,
    User,
)
from zapdesk.db import create_engine
from zapdesk.errors import Conflict, ValidationFailed

SAO_PAULO = timezone(timedelta(hours=-3))


async def seed(session: AsyncSession) -> tuple[Channel, Contact, Conversation]:
    channel = Channel(session_id="loja-centro", name="Loja Centro", phone="5511999990000")
    contact = Contact(
        push_name="Ana",
        phone="5511988887777",
        identities=[
            ContactIdentity(jid="5511988887777@s.whatsapp.net", kind=IdentityKind.PHONE),
            ContactIdentity(jid="123456789012345@lid", kind=IdentityKind.LID),
        ],
    )
    session.add_all([channel, contact])
    await session.flush()
    conversation = Conversation(channel_id=channel.id, contact_id=contact.id)
    session.add(conversation)
    await session.flush()
    return channel, contact, conversation


def inbound(conversation: Conversation, wa_id: str | None, body: str = "Oi") -> Message:
    return Message(
        conversation_id=conversation.id,
        channel_id=conversation.channel_id,
        wa_message_id=wa_id,
        direction=Direction.INBOUND,
        author_type=ActorType.CONTACT,
        body=body,
        status=MessageStatus.RECEIVED,
    )


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'new' / 'zapdesk.db'}")
    try:
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    finally:
        await engine.dispose()


async def test_foreign_keys_are_enforced(session: AsyncSession) -> None:
    session.add(
        Message(
            conversation_id=999,
            channel_id=999,
            direction=Direction.INBOUND,
            author_type=ActorType.CONTACT,
            status=MessageStatus.RECEIVED,
        )
    )
    with pytest.raises(IntegrityError):
        await session.flush()


async def test_phone_and_lid_identities_resolve_to_one_contact(session: AsyncSession) -> None:
    _, contact, _ = await seed(session)
    await session.commit()
    for jid in ("5511988887777@s.whatsapp.net", "123456789012345@lid"):
        found = await session.scalar(
            select(Contact).join(ContactIdentity).where(ContactIdentity.jid == jid)
        )
        assert found is not None
        assert found.id == contact.id
        assert {i.kind for i in found.identities} == {IdentityKind.PHONE, IdentityKind.LID}


async def test_a_jid_belongs_to_one_contact_only(session: AsyncSession) -> None:
    await seed(session)
    session.add(
        Contact(identities=[ContactIdentity(jid="123456789012345@lid", kind=IdentityKind.LID)])
    )
    with pytest.raises(IntegrityError):
        await session.flush()


async def test_a_whatsapp_message_is_stored_once_per_channel(session: AsyncSession) -> None:
    _, _, conversation = await seed(session)
    session.add(inbound(conversation, "3EB0C0FFEE"))
    await session.commit()

    session.add(inbound(conversation, "3EB0C0FFEE", body="duplicate delivery"))
    with pytest.raises(IntegrityError):
        await session.flush()
    await session.rollback()
    await session.refresh(conversation)

    # The same WhatsApp id on another number is another message; messages without one coexist.
    other = Channel(session_id="loja-sul", name="Loja Sul")
    session.add(other)
    await session.flush()
    elsewhere = Conversation(channel_id=other.id, contact_id=conversation.contact_id)
    session.add(elsewhere)
    await session.flush()
    session.add_all(
        [inbound(elsewhere, "3EB0C0FFEE"), inbound(conversation, None), inbound(conversation, None)]
    )
    await session.commit()
    assert len((await session.scalars(select(Message.id))).all()) == 4


async def test_an_outbound_client_id_is_unique(session: AsyncSession) -> None:
    _, _, conversation = await seed(session)

    def outbound() -> Message:
        return Message(
            conversation_id=conversation.id,
            channel_id=conversation.channel_id,
            client_id="01JDKZ0000000000000000000A",
            direction=Direction.OUTBOUND,
            author_type=ActorType.USER,
            body="Olá! Como posso ajudar?",
            status=MessageStatus.PENDING,
        )

    session.add(outbound())
    await session.flush()
    session.add(outbound())
    with pytest.raises(IntegrityError):
        await session.flush()


async def test_times_come_back_as_the_same_instant_in_utc(session: AsyncSession) -> None:
    _, _, conversation = await seed(session)
    local = datetime(2026, 11, 21, 9, 30, 15, 123000, tzinfo=SAO_PAULO)
    message = inbound(conversation, "A1")
    message.sent_at = local
    session.add(message)
    await session.commit()
    session.expunge_all()

    stored = await session.scalar(select(Message).where(Message.wa_message_id == "A1"))
    assert stored is not None
    assert stored.sent_at == local
    assert stored.sent_at.tzinfo is not None
    assert stored.sent_at.utcoffset() == timedelta(0)
    assert stored.created_at.tzinfo is not None


async def test_a_naive_time_is_refused(session: AsyncSession) -> None:
    _, _, conversation = await seed(session)
    message = inbound(conversation, "A2")
    message.sent_at = datetime(2026, 11, 21, 9, 30)  # noqa: DTZ001 - the point of the test
    session.add(message)
    with pytest.raises(StatementError, match="naive datetime"):
        await session.flush()


async def test_unknown_status_is_refused_by_the_database(session: AsyncSession) -> None:
    await seed(session)
    await session.commit()
    with pytest.raises(IntegrityError):
        await session.execute(text("UPDATE conversations SET status = 'sleeping'"))


async def test_text_and_media_survive_the_round_trip(session: AsyncSession) -> None:
    _, _, conversation = await seed(session)
    body = "Olá, São Paulo! *negrito* _itálico_ ~riscado~ ```mono``` 🎉👍🏽 ção"
    media = {"mime": "image/jpeg", "size": 48213, "caption": "nota fiscal nº 123"}
    message = inbound(conversation, "A3", body=body)
    message.type = MessageType.IMAGE
    message.media = media
    message.reactions = {"5511988887777@s.whatsapp.net": "❤️"}
    session.add(message)
    await session.commit()
    session.expunge_all()

    stored = await session.scalar(select(Message).where(Message.wa_message_id == "A3"))
    assert stored is not None
    assert (stored.body, stored.media, stored.type) == (body, media, MessageType.IMAGE)
    assert stored.reactions == {"5511988887777@s.whatsapp.net": "❤️"}


async def test_inbox_lists_by_status_and_department_newest_first(session: AsyncSession) -> None:
    channel, contact, _ = await seed(session)
    sales, support = Department(name="Vendas"), Department(name="Suporte")
    session.add_all([sales, support])
    await session.flush()
    start = datetime(2026, 11, 21, 12, tzinfo=UTC)
    rows = [
        (sales.id, ConversationStatus.QUEUED, 1),
        (sales.id, ConversationStatus.QUEUED, 3),
        (support.id, ConversationStatus.QUEUED, 2),
        (sales.id, ConversationStatus.RESOLVED, 4),
        (sales.id, ConversationStatus.QUEUED, 2),
    ]
    for department_id, status, minutes in rows:
        session.add(
            Conversation(
                channel_id=channel.id,
                contact_id=contact.id,
                department_id=department_id,
                status=status,
                last_message_at=start + timedelta(minutes=minutes),
            )
        )
    await session.commit()

    queued = await session.scalars(
        select(Conversation.last_message_at)
        .where(
            Conversation.department_id == sales.id,
            Conversation.status == ConversationStatus.QUEUED,
        )
        .order_by(Conversation.last_message_at.desc())
    )
    assert [t.minute for t in queued] == [3, 2, 1]


async def test_deleting_a_conversation_deletes_its_messages_and_audit(
    session: AsyncSession,
) -> None:
    _, _, conversation = await seed(session)
    session.add_all(
        [
            inbound(conversation, "B1"),
            ConversationEvent(
                conversation_id=conversation.id,
                kind=EventKind.CREATED,
                actor_type=ActorType.CONTACT,
                to_status=ConversationStatus.BOT,
            ),
        ]
    )
    await session.commit()
    await session.execute(delete(Conversation).where(Conversation.id == conversation.id))
    await session.commit()
    assert (await session.scalars(select(Message.id))).all() == []
    assert (await session.scalars(select(ConversationEvent.id))).all() == []


async def test_audit_events_keep_who_what_and_why(session: AsyncSession) -> None:
    _, _, conversation = await seed(session)
    attendant = await create_user(
        session, email="Bia@Empresa.com.br", name="Bia", role=Role.ATTENDANT, password="s3nha-forte"
    )
    session.add(
        ConversationEvent(
            conversation_id=conversation.id,
            kind=EventKind.ASSIGNED,
            actor_type=ActorType.USER,
            actor_user_id=attendant.id,
            from_status=ConversationStatus.QUEUED,
            to_status=ConversationStatus.OPEN,
            reason="took the next conversation",
            data={"department": "Vendas"},
        )
    )
    await session.commit()
    session.expunge_all()
    event = await session.scalar(select(ConversationEvent))
    assert event is not None
    assert (event.kind, event.actor_user_id, event.to_status, event.reason, event.data) == (
        EventKind.ASSIGNED,
        attendant.id,
        ConversationStatus.OPEN,
        "took the next conversation",
        {"department": "Vendas"},
    )


async def test_users_have_unique_normalised_emails_and_checked_passwords(
    session: AsyncSession,
) -> None:
    user = await create_user(
        session,
        email="  Bia@Empresa.com.br ",
        name="Bia",
        role=Role.ATTENDANT,
        password="s3nha-forte",
    )
    assert user.email == "bia@empresa.com.br"
    assert user.password_hash.startswith("$argon2id$")
    assert await verify_password(user.password_hash, "s3nha-forte")
    assert not await verify_password(user.password_hash, "s3nha-errada")
    with pytest.raises(Conflict):
        await create_user(
            session, email="BIA@empresa.com.br", name="", role=Role.ADMIN, password="outra-senha"
        )
    with pytest.raises(ValidationFailed, match="e-mail"):
        await create_user(session, email="bia", name="", role=Role.ADMIN, password="outra-senha")
    with pytest.raises(ValidationFailed, match="8 characters"):
        await create_user(session, email="c@d.com", name="", role=Role.ADMIN, password="curta")


async def test_the_first_admin_is_created_once(session: AsyncSession) -> None:
    created = await ensure_first_admin(session)
    await session.commit()
    assert created is not None
    assert created.email == FIRST_ADMIN_EMAIL
    admin = await session.scalar(select(User).where(User.email == FIRST_ADMIN_EMAIL))
    assert admin is not None
    assert admin.role is Role.ADMIN
    assert await verify_password(admin.password_hash, created.password)
    assert await ensure_first_admin(session) is None
