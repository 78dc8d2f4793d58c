"""Every model, imported here so that ``Base.metadata`` knows all tables."""

from core.storage.base import Base
from core.storage.models.auth import LoginAttempt, RefreshToken
from core.storage.models.channel import Channel
from core.storage.models.contact import Contact, ContactIdentity, IdentityKind
from core.storage.models.conversation import (
    ActorType,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    EventKind,
)
from core.storage.models.copilot import (
    KnowledgeArticle,
    QuickReply,
    Suggestion,
    SuggestionOutcome,
    SuggestionState,
)
from core.storage.models.department import AssignmentMode, Department
from core.storage.models.desk import ConversationTag, Notification, Tag
from core.storage.models.job import Job
from core.storage.models.media import MediaFile
from core.storage.models.message import Direction, Message, MessageStatus, MessageType
from core.storage.models.user import Role, User, department_members

__all__ = [
    "ActorType",
    "AssignmentMode",
    "Base",
    "Channel",
    "Contact",
    "ContactIdentity",
    "Conversation",
    "ConversationEvent",
    "ConversationStatus",
    "ConversationTag",
    "Department",
    "Direction",
    "EventKind",
    "IdentityKind",
    "Job",
    "KnowledgeArticle",
    "LoginAttempt",
    "MediaFile",
    "Message",
    "MessageStatus",
    "MessageType",
    "Notification",
    "QuickReply",
    "RefreshToken",
    "Role",
    "Suggestion",
    "SuggestionOutcome",
    "SuggestionState",
    "Tag",
    "User",
    "department_members",
]
