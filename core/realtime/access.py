"""Who may follow which topic, and which notices reach whom (the REST API's visibility rule)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth.visibility import may_see
from core.realtime.bus import Notice
from core.realtime.protocol import ME, SESSIONS, check_topic, conversation_id
from core.storage.models import Conversation, Role, User, department_members
from zapdesk.errors import NotFound, PermissionDenied, Unauthorized

STAFF = frozenset({Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True)
class Viewer:
    """The user behind a socket, with the departments they belonged to when it opened."""

    user_id: int
    role: Role
    department_ids: frozenset[int]

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    def may_see(self, notice: Notice) -> bool:
        audience = notice.audience
        if audience.user_id is not None:
            return audience.user_id == self.user_id
        if notice.topic == ME:  # a personal notice with no addressee reaches nobody
            return False
        if notice.topic == SESSIONS:
            return self.is_staff
        return may_see(
            self.role,
            self.user_id,
            self.department_ids,
            audience.department_id,
            audience.assignee_id,
        )


async def load_viewer(db: AsyncSession, user_id: int) -> Viewer:
    user = await db.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("This account is not active.", details={"reason": "inactive"})
    rows = await db.scalars(
        select(department_members.c.department_id).where(department_members.c.user_id == user_id)
    )
    return Viewer(user_id=user.id, role=user.role, department_ids=frozenset(rows))


async def authorize_topic(db: AsyncSession, viewer: Viewer, topic: str) -> None:
    """Raises the error a client gets for a topic it may not follow."""
    check_topic(topic)
    if topic == SESSIONS and not viewer.is_staff:
        raise PermissionDenied(
            "Only supervisors and admins follow the sessions.", details={"topic": topic}
        )
    number = conversation_id(topic)
    if number is None:
        return
    conversation = await db.get(Conversation, number)
    if conversation is None:
        raise NotFound(f"No conversation {number}.", details={"topic": topic})
    if not may_see(
        viewer.role,
        viewer.user_id,
        viewer.department_ids,
        conversation.department_id,
        conversation.assignee_id,
    ):
        raise PermissionDenied(
            "This conversation belongs to another department.", details={"topic": topic}
        )
