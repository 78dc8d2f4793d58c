"""Who may see which conversation, in one place (the REST filters and the websocket hub).

Supervisors and admins see everything. An attendant sees conversations assigned to them,
conversations of their departments, and conversations not yet in any department (the bot's and
the general queue's), so a new customer is never invisible.
"""

from __future__ import annotations

from collections.abc import Collection

from core.storage.models import Role


def may_see(
    role: Role,
    user_id: int,
    department_ids: Collection[int],
    department_id: int | None,
    assignee_id: int | None,
) -> bool:
    if role is not Role.ATTENDANT:
        return True
    if assignee_id == user_id:
        return True
    return department_id is None or department_id in department_ids
