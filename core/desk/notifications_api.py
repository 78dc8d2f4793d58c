"""One's own bell and preferences: the notifications (newest first, with how many are unread),
marking them read, and which kinds one wants to hear about. Nobody reads another's: someone
else's notification is a 404, as a missing one."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.api.routing import Api, Call
from core.desk.notifications import ASSIGNED, DEFAULTS, MENTIONED, TRANSFERRED, preferences_of
from core.storage.base import RowId, utcnow
from core.storage.models import Notification, User
from core.views import NotificationOut
from zapdesk.errors import NotFound

api = Api()
TAGS = ("notifications",)


class NotificationsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    before: RowId | None = Field(None, description="Older than this id (the next page).")
    limit: int = Field(30, ge=1, le=100)


class NotificationList(BaseModel):
    items: list[NotificationOut] = Field(description="Newest first.")
    unread: int = Field(description="How many of one's notifications are unread, in all.")
    next_before: int | None = Field(description="`before` for the next page; none at the end.")


class Unread(BaseModel):
    unread: int


async def _unread(db: AsyncSession, user_id: int) -> int:
    count = await db.scalar(
        select(func.count(Notification.id)).where(
            Notification.user_id == user_id, Notification.read_at.is_(None)
        )
    )
    return count or 0


@api.operation(
    "GET",
    "/me/notifications",
    summary="My notifications (the bell), newest first, with the unread count",
    query=NotificationsQuery,
    response=NotificationList,
    tags=TAGS,
)
async def list_notifications(call: Call[None, NotificationsQuery]) -> NotificationList:
    query = call.query
    mine = select(Notification).where(Notification.user_id == call.me.id)
    if query.before is not None:
        mine = mine.where(Notification.id < query.before)
    async with call.db() as db:
        found = list(await db.scalars(mine.order_by(Notification.id.desc()).limit(query.limit)))
        unread = await _unread(db, call.me.id)
    more = len(found) == query.limit
    return NotificationList(
        items=[NotificationOut.of(n) for n in found],
        unread=unread,
        next_before=found[-1].id if more else None,
    )


@api.operation(
    "POST",
    "/me/notifications/{id}/read",
    summary="Mark one of my notifications read",
    response=NotificationOut,
    tags=TAGS,
)
async def read_notification(call: Call[None, None]) -> NotificationOut:
    notification_id = call.int_param("id")
    async with call.db.begin() as db:
        notification = await db.get(Notification, notification_id)
        if notification is None or notification.user_id != call.me.id:
            raise NotFound(
                f"No notification {notification_id}.",
                details={"notification_id": notification_id},
            )
        notification.read_at = notification.read_at or utcnow()
        await db.flush()
        return NotificationOut.of(notification)


@api.operation(
    "POST",
    "/me/notifications/read",
    summary="Mark all my notifications read",
    response=Unread,
    tags=TAGS,
)
async def read_all_notifications(call: Call[None, None]) -> Unread:
    async with call.db.begin() as db:
        await db.execute(
            update(Notification)
            .where(Notification.user_id == call.me.id, Notification.read_at.is_(None))
            .values(read_at=utcnow())
        )
    return Unread(unread=0)


class Preferences(BaseModel):
    """What one wants to hear about, and how the browser tells it. Changing them, only the
    switches given change."""

    model_config = ConfigDict(extra="forbid")

    queued: StrictBool = Field(
        DEFAULTS["queued"], description="A new conversation in one of my queues (a pop-up only)."
    )
    assigned: StrictBool = Field(DEFAULTS[ASSIGNED], description="A conversation given to me.")
    transferred: StrictBool = Field(
        DEFAULTS[TRANSFERRED], description="A conversation transferred to me."
    )
    mentioned: StrictBool = Field(
        DEFAULTS[MENTIONED], description="A colleague mentioned me in a note."
    )
    sla: StrictBool = Field(
        DEFAULTS["sla"],
        description="A conversation of mine at risk of missing its SLA, or missing it.",
    )
    desktop: StrictBool = Field(DEFAULTS["desktop"], description="Desktop notifications.")
    sound: StrictBool = Field(DEFAULTS["sound"], description="A sound.")
    dnd: StrictBool = Field(
        DEFAULTS["dnd"], description="Do not disturb: no pop-up, no sound (the bell still counts)."
    )


@api.operation(
    "GET",
    "/me/preferences",
    summary="My notification preferences",
    response=Preferences,
    tags=TAGS,
)
async def get_preferences(call: Call[None, None]) -> Preferences:
    return Preferences(**preferences_of(call.me.preferences))


@api.operation(
    "PUT",
    "/me/preferences",
    summary="Change my notification preferences",
    body=Preferences,
    response=Preferences,
    tags=TAGS,
)
async def put_preferences(call: Call[Preferences, None]) -> Preferences:
    """Unknown switches or anything but true and false: 422 `validation_error`."""
    async with call.db.begin() as db:
        user = await db.get(User, call.me.id, with_for_update=True)
        if user is None:  # pragma: no cover - signed in a moment ago
            raise NotFound()
        merged = preferences_of(user.preferences) | call.body.model_dump(
            include=call.body.model_fields_set
        )
        user.preferences = merged
    return Preferences(**merged)
