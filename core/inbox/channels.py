"""Channels as the gateway reports them: one per session, created the first time a session is
heard from, with the session's state as last reported."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.inbox.sql import among
from core.inbox.text import clean, clipped
from core.storage.models import Channel
from sessions.events import SessionStatusEvent
from sessions.states import SessionState

NAME_MAX = 80
PHONE_MAX = 20
JID_MAX = 100


async def channels_for(
    db: AsyncSession, session_ids: Collection[str]
) -> tuple[dict[str, Channel], list[Channel]]:
    """The channel of each session (by session id), and those created now."""
    found = await db.scalars(
        select(Channel).where(among(db, Channel.session_id, list(session_ids)))
    )
    channels = {channel.session_id: channel for channel in found}
    created = []
    for session_id in sorted(set(session_ids) - channels.keys()):
        # Named after the session until someone renames it.
        channel = Channel(
            session_id=session_id,
            name=clean(session_id)[:NAME_MAX],
            status=SessionState.STOPPED.value,
        )
        db.add(channel)
        channels[session_id] = channel
        created.append(channel)
    if created:
        await db.flush()
    return channels, created


def record_status(channel: Channel, event: SessionStatusEvent) -> bool:
    """The state of the session, unless a newer one is already recorded (a late repeat)."""
    if channel.status_at is not None and event.at < channel.status_at:
        return False
    data = event.data
    values = {
        "status": data.state.value,
        "status_reason": data.reason.value if data.reason else None,
        "status_at": event.at,
        "phone": clipped(data.phone, PHONE_MAX) if data.phone else channel.phone,
        "jid": clipped(data.jid, JID_MAX) if data.jid else channel.jid,
    }
    if all(getattr(channel, name) == value for name, value in values.items()):
        return False
    for name, value in values.items():
        setattr(channel, name, value)
    return True
