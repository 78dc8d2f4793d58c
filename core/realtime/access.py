"""Who may follow which topic, and which notices reach whom (the REST API's visibility rule)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.auth.visibility import Viewer, viewer_of
from core.realtime.protocol import check_topic, conversation_id
from core.realtime.topics import SESSIONS
from core.storage.models import Conversation, User
from zapdesk.errors import NotFound, PermissionDenied, Unauthorized


async def load_viewer(db: AsyncSession, user_id: int) -> Viewer:
    user = await db.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("This account is not active.", details={"reason": "inactive"})
    return await viewer_of(db, user.id, user.role)


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
    if not viewer.sees(conversation.department_id, conversation.assignee_id):
        raise PermissionDenied(
            "This conversation belongs to another department.", details={"topic": topic}
        )
