"""The gateway's session registry: which sessions exist, what they should be doing, where they
stand, and the result of every send (so a repeated ``client_id`` never sends twice).

Its own small database (SQLite in the data dir, or PostgreSQL); the tables are created at start.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, String, Text, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sessions.commands import SendResult
from sessions.states import Reason, SessionState


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={"pk": "pk_%(table_name)s"})


class SessionRow(Base):
    __tablename__ = "gateway_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    # What a person asked for: "running" sessions are started and restored; "stopped" are not.
    desired: Mapped[str] = mapped_column(String(8), default="running")
    state: Mapped[str] = mapped_column(String(16), default=SessionState.STOPPED.value)
    reason: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    jid: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    push_name: Mapped[str | None] = mapped_column(String(120))
    connected_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class SendRow(Base):
    __tablename__ = "gateway_sends"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def aware(value: datetime | None) -> datetime | None:
    """SQLite keeps no zone: what it gives back naive is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class Registry:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def create_tables(self) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)

    async def all(self) -> list[SessionRow]:
        async with self.sessions() as db:
            return list(await db.scalars(select(SessionRow).order_by(SessionRow.created_at)))

    async def get(self, session_id: str) -> SessionRow | None:
        async with self.sessions() as db:
            return await db.get(SessionRow, session_id)

    async def add(self, session_id: str, name: str) -> SessionRow:
        row = SessionRow(id=session_id, name=name, desired="running")
        async with self.sessions.begin() as db:
            db.add(row)
        return row

    async def update(self, session_id: str, **values: Any) -> SessionRow | None:
        async with self.sessions.begin() as db:
            row = await db.get(SessionRow, session_id)
            if row is None:
                return None
            for key, value in values.items():
                setattr(row, key, value)
        return row

    async def set_status(
        self,
        session_id: str,
        state: SessionState,
        reason: Reason | None,
        detail: str,
        **identity: str | None,
    ) -> SessionRow | None:
        async with self.sessions.begin() as db:
            row = await db.get(SessionRow, session_id)
            if row is None:
                return None
            if state is SessionState.CONNECTED and row.state != SessionState.CONNECTED:
                row.connected_since = utcnow()
            elif state is not SessionState.CONNECTED:
                row.connected_since = None
            row.state, row.reason, row.detail = state.value, reason and reason.value, detail
            for key, value in identity.items():
                if value is not None:
                    setattr(row, key, value)
        return row

    async def remove(self, session_id: str) -> None:
        async with self.sessions.begin() as db:
            await db.execute(delete(SessionRow).where(SessionRow.id == session_id))

    # Sends: the result per client_id.

    async def send_result(self, client_id: str) -> SendResult | None:
        async with self.sessions() as db:
            row = await db.get(SendRow, client_id)
        return None if row is None else SendResult.model_validate(row.result)

    async def remember_send(self, session_id: str, result: SendResult) -> None:
        row = SendRow(
            client_id=result.client_id, session_id=session_id, result=result.model_dump(mode="json")
        )
        async with self.sessions.begin() as db:
            await db.merge(row)
