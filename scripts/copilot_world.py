"""A desk's data for the copilot's scripts (evaluation, benchmark): a migrated database with
conversations, messages and knowledge-base articles written in bulk, and a copilot on it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.copilot.knowledge import search_text
from core.storage.migrations import upgrade
from core.storage.models import (
    ActorType,
    Channel,
    Contact,
    Conversation,
    ConversationStatus,
    Direction,
    KnowledgeArticle,
    Message,
    MessageStatus,
    MessageType,
)
from zapdesk.db import create_engine, session_factory

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
Turns = Sequence[tuple[bool, str]]  # (inbound?, text)


@dataclass
class World:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    channel_id: int

    async def close(self) -> None:
        await self.engine.dispose()


async def open_world(database_url: str) -> World:
    """Migrates the (empty) database to head and adds one channel."""
    await asyncio.to_thread(upgrade, database_url)  # alembic runs its own event loop
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    async with sessions.begin() as db:
        channel = Channel(session_id="copilot-bench", name="Loja")
        db.add(channel)
        await db.flush()
        channel_id = channel.id
    return World(engine, sessions, channel_id)


async def add_conversations(
    world: World, conversations: Sequence[tuple[str, Turns]], *, start: datetime = T0
) -> list[int]:
    """Conversations (customer name, turns) with their messages, in one transaction."""
    async with world.sessions.begin() as db:
        contacts = [Contact(name=name, attributes={}) for name, _ in conversations]
        db.add_all(contacts)
        await db.flush()
        rows = [
            Conversation(
                channel_id=world.channel_id,
                contact_id=contact.id,
                status=ConversationStatus.OPEN,
                unread_count=0,
                last_message_at=start,
                last_message_preview="",
                created_at=start,
            )
            for contact in contacts
        ]
        db.add_all(rows)
        await db.flush()
        messages: list[dict[str, Any]] = []
        for row, (_, turns) in zip(rows, conversations, strict=True):
            for minute, (inbound, text) in enumerate(turns):
                messages.append(
                    {
                        "conversation_id": row.id,
                        "channel_id": world.channel_id,
                        "direction": Direction.INBOUND if inbound else Direction.OUTBOUND,
                        "author_type": ActorType.CONTACT if inbound else ActorType.USER,
                        "type": MessageType.TEXT,
                        "body": text,
                        "reactions": {},
                        "status": MessageStatus.RECEIVED if inbound else MessageStatus.SENT,
                        "created_at": start + timedelta(minutes=minute),
                    }
                )
        for offset in range(0, len(messages), 5000):
            await db.execute(insert(Message), messages[offset : offset + 5000])
        return [row.id for row in rows]


async def add_articles(world: World, articles: Sequence[dict[str, Any]]) -> None:
    async with world.sessions.begin() as db:
        for article in articles:
            tags = list(article.get("tags", []))
            db.add(
                KnowledgeArticle(
                    title=article["title"],
                    body=article["body"],
                    tags=tags,
                    search_text=search_text(article["title"], article["body"], tags),
                )
            )
