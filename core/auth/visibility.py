"""Who may see which conversation, in one place (the REST filters and the websocket hub).

Admins see everything. Attendants and supervisors see the conversations of their departments,
those assigned to them, and those not yet in any department (still with the bot), so a new
customer is never invisible. What a supervisor may do beyond an attendant (assign, reassign)
is decided by the action, not by what they see.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.realtime.bus import Notice
from core.realtime.topics import ME, SESSIONS
from core.storage.models import Role, department_members
from zapdesk.errors import NotFound


def may_see(
    role: Role,
    user_id: int,
    department_ids: Collection[int],
    department_id: int | None,
    assignee_id: int | None,
) -> bool:
    if role is Role.ADMIN:
        return True
    if assignee_id == user_id:
        return True
    return department_id is None or department_id in department_ids


STAFF = frozenset({Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True)
class Viewer:
    """Who is looking (a request, a socket), with what it takes to decide what they may see."""

    user_id: int
    role: Role
    department_ids: frozenset[int]

    @property
    def sees_all(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    def sees(self, department_id: int | None, assignee_id: int | None) -> bool:
        return may_see(self.role, self.user_id, self.department_ids, department_id, assignee_id)

    def sees_conversation(self, conversation: Seeable) -> bool:
        return self.sees(conversation.department_id, conversation.assignee_id)

    def may_see(self, notice: Notice) -> bool:
        """Whether a notice reaches this viewer (the hub asks, per socket)."""
        audience = notice.audience
        if audience.user_id is not None:
            return audience.user_id == self.user_id
        if notice.topic == ME:  # a personal notice with no addressee reaches nobody
            return False
        if notice.topic == SESSIONS:
            return self.is_staff
        if self.sees(audience.department_id, audience.assignee_id):
            return True
        return audience.was is not None and self.sees(*audience.was)


class Seeable(Protocol):
    @property
    def department_id(self) -> int | None: ...
    @property
    def assignee_id(self) -> int | None: ...


def not_found(conversation_id: int) -> NotFound:
    """The answer alike for a conversation that does not exist and one the viewer may not
    see, so that its existence does not leak."""
    return NotFound(
        f"No conversation {conversation_id}.", details={"conversation_id": conversation_id}
    )


async def viewer_of(db: AsyncSession, user_id: int, role: Role) -> Viewer:
    rows = await db.scalars(
        select(department_members.c.department_id).where(department_members.c.user_id == user_id)
    )
    return Viewer(user_id, role, frozenset(rows))
