"""Every realtime topic and event type, named once (DESIGN.md, Realtime).

A frame names its topic, so the browser routes it without guessing from the type. Types follow
Chatwoot's vocabulary where it fits.
"""

from __future__ import annotations

# Topics a client may follow.
INBOX = "inbox"  # conversation list changes the viewer may see
SESSIONS = "sessions"  # linked numbers (staff)
PRESENCE = "presence"  # who is online, away or offline
ME = "me"  # notifications for one user
CONVERSATION = "conversation:"  # + id: one conversation's messages, typing, drafts
FIXED_TOPICS = frozenset({INBOX, SESSIONS, PRESENCE, ME})


def conversation_topic(conversation_id: int) -> str:
    return f"{CONVERSATION}{conversation_id}"


# Event types.
MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
CONVERSATION_CREATED = "conversation.created"
CONVERSATION_UPDATED = "conversation.updated"
CONVERSATION_ASSIGNED = "conversation.assigned"
CONVERSATION_EVENT = "conversation.event"  # a transition's audit line for the timeline
TYPING_ON = "typing.on"
TYPING_OFF = "typing.off"
PRESENCE_UPDATED = "presence.updated"
SESSION_UPDATED = "session.updated"
SESSION_QR = "session.qr"
SUGGESTION_CREATED = "suggestion.created"
SUGGESTION_UPDATED = "suggestion.updated"
SUGGESTION_DELTA = "suggestion.delta"
NOTIFICATION_CREATED = "notification.created"
USER_UPDATED = "user.updated"  # on "me": your role or departments changed
# Between core processes only (never sent to a browser): a user's rights changed, so every
# replica reloads that user's open sockets.
ACCESS_CHANGED = "access.changed"
INTERNAL = "internal"
