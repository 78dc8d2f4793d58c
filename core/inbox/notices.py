"""What a batch changed, and the notices that tell the desk about it once it is committed.

Each changed thing is shown once, in its final state, through the same views as the API
(``MessageOut``, ``ConversationOut``, ``ChannelOut``), serialized once. Every notice carries the
conversation's audience so the hub shows it only to whom may see it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.inbox.contacts import contacts_by_id
from core.realtime.bus import Audience, Notice, serialized
from core.storage.models import Channel, Conversation
from core.storage.rows import ContactRow, ConversationRow, MessageRow
from core.views import ChannelOut, ConversationOut, MessageOut

INBOX = "inbox"
SESSIONS = "sessions"


def conversation_topic(conversation_id: int) -> str:
    return f"conversation:{conversation_id}"


def audience_of(conversation: Conversation | ConversationRow | None) -> Audience:
    if conversation is None:
        return Audience()
    return Audience(department_id=conversation.department_id, assignee_id=conversation.assignee_id)


class Changes:
    """Ordered sets of what changed (insertion order is the order notices go out)."""

    def __init__(self) -> None:
        self.channels: dict[Channel, None] = {}
        self.conversations_created: dict[ConversationRow, None] = {}
        self.conversations_updated: dict[ConversationRow, None] = {}
        self.messages_created: dict[MessageRow, None] = {}
        self.messages_updated: dict[MessageRow, None] = {}
        self.linking: dict[str, dict[str, Any]] = {}
        self.typing: list[tuple[ConversationRow, str, dict[str, Any]]] = []

    def channel_updated(self, channel: Channel) -> None:
        self.channels[channel] = None

    def conversation_created(self, conversation: ConversationRow) -> None:
        self.conversations_created[conversation] = None

    def conversation_updated(self, conversation: ConversationRow) -> None:
        if conversation not in self.conversations_created:
            self.conversations_updated[conversation] = None

    def message_created(self, message: MessageRow) -> None:
        self.messages_created[message] = None

    def message_updated(self, message: MessageRow) -> None:
        if message not in self.messages_created:
            self.messages_updated[message] = None

    def link_code(self, session_id: str, data: dict[str, Any]) -> None:
        """The newest QR (or pairing code) of a session: older ones are already useless."""
        self.linking[session_id] = data

    def typing_changed(
        self, conversation: ConversationRow, kind: str, data: dict[str, Any]
    ) -> None:
        self.typing.append((conversation, kind, data))

    async def notices(
        self,
        db: AsyncSession,
        contacts: dict[int, ContactRow],
        conversations: dict[int, ConversationRow],
    ) -> list[Notice]:
        """The notices, built from the stored rows (ids known) before the commit."""
        shown = [*self.conversations_created, *self.conversations_updated]
        missing = {c.contact_id for c in shown} - contacts.keys()
        if missing:
            contacts = {**contacts, **await contacts_by_id(db, missing)}
        for conversation in shown:
            conversations.setdefault(conversation.id, conversation)  # type: ignore[arg-type]

        notices = [
            Notice(SESSIONS, "session.updated", serialized(ChannelOut.of(channel)))
            for channel in self.channels
        ]
        for conversation in self.conversations_created:
            notices.append(self._conversation(conversation, contacts, "conversation.created"))
        for kind, messages in (
            ("message.created", self.messages_created),
            ("message.updated", self.messages_updated),
        ):
            for message in messages:
                notices.append(
                    Notice(
                        conversation_topic(message.conversation_id),
                        kind,
                        serialized(MessageOut.of(message)),
                        audience_of(conversations.get(message.conversation_id)),
                    )
                )
        for conversation in self.conversations_updated:
            notices.append(self._conversation(conversation, contacts, "conversation.updated"))
        for data in self.linking.values():
            notices.append(Notice(SESSIONS, "session.qr", data))
        for conversation, kind, data in self.typing:
            notices.append(
                Notice(conversation_topic(conversation.key), kind, data, audience_of(conversation))
            )
        return notices

    @staticmethod
    def _conversation(
        conversation: ConversationRow, contacts: dict[int, ContactRow], kind: str
    ) -> Notice:
        view = ConversationOut.of(conversation, contacts.get(conversation.contact_id))
        return Notice(INBOX, kind, serialized(view), audience_of(conversation))
