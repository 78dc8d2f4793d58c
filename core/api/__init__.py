"""The REST API under /api/v1: operations declared with their pydantic models, from which the
OpenAPI document is generated. Each area is a module with its own ``api``; APIS lists them."""

from __future__ import annotations

from core.api import (
    auth,
    channels,
    contacts,
    conversations,
    copilot,
    knowledge,
    media,
    message_media,
    monitoring,
    quick_replies,
    realtime,
    users,
)
from core.api.routing import Api
from core.desk import api as desk
from core.desk import bot_api, departments_api, notes, notifications_api, tags_api, team_api

APIS: list[Api] = [
    auth.api,
    conversations.api,
    contacts.api,
    channels.api,
    users.api,
    media.api,
    message_media.api,
    realtime.api,
    copilot.api,
    knowledge.api,
    quick_replies.api,
    monitoring.api,
    desk.api,
    departments_api.api,
    team_api.api,
    bot_api.api,
    tags_api.api,
    notes.api,
    notifications_api.api,
]
