"""The change set of one unit of work: what changed, the audit lines of its transitions, the
jobs it needs, and the notices that tell the desk once it is committed.

Each changed thing is shown once, in its final state, through the same views as the API
(``MessageOut``, ``ConversationOut``, ``ChannelOut``), serialized once. Every notice carries the
conversation's audience so the hub shows it only to whom may see it; a conversation that moved
(another department or assignee) is also shown to whom could see it before, so their screens
let it go. Jobs are written in the same transaction as the change that needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.desk.notifications import keep_wanted
from core.desk.tags import tag_ids_of
from core.inbox.contacts import contacts_by_id
from core.jobs import Wanted, write_jobs
from core.realtime.bus import Audience, Notice, serialized
from core.realtime.topics import (
    CONVERSATION_CREATED,
    CONVERSATION_EVENT,
    CONVERSATION_UPDATED,
    INBOX,
    ME,
    MESSAGE_CREATED,
    MESSAGE_UPDATED,
    NOTIFICATION_CREATED,
    SESSION_QR,
    SESSION_UPDATED,
    SESSIONS,
    conversation_topic,
)
from core.storage.base import utcnow
from core.storage.models import Channel, Conversation, Notification
from core.storage.rows import AuditRow, ContactRow, ConversationRow, MessageRow, insert_rows
from core.views import AuditOut, ChannelOut, ConversationOut, MessageOut, NotificationOut

Seen = tuple[int | None, int | None]  # (department_id, assignee_id): who may see it


def audience_of(conversation: Conversation | ConversationRow | None) -> Audience:
    if conversation is None:
        return Audience()
    return Audience(department_id=conversation.department_id, assignee_id=conversation.assignee_id)


@dataclass
class _Audit:
    conversation: ConversationRow
    row: AuditRow


@dataclass
class Changes:
    """Ordered sets of what changed (insertion order is the order notices go out)."""

    channels: dict[Channel, None] = field(default_factory=dict)
    conversations_created: dict[ConversationRow, None] = field(default_factory=dict)
    conversations_updated: dict[ConversationRow, None] = field(default_factory=dict)
    messages_created: dict[MessageRow, None] = field(default_factory=dict)
    messages_updated: dict[MessageRow, None] = field(default_factory=dict)
    linking: dict[str, dict[str, Any]] = field(default_factory=dict)
    typing: list[tuple[ConversationRow, str, dict[str, Any]]] = field(default_factory=list)
    audits: list[_Audit] = field(default_factory=list)
    jobs: list[Wanted] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    extra: list[Notice] = field(default_factory=list)
    # Who could see a conversation when the unit first moved it (department, assignee).
    before: dict[ConversationRow, Seen] = field(default_factory=dict)
    known: dict[int, ConversationRow] = field(default_factory=dict)
    enqueued: list[Wanted] = field(default_factory=list)  # written: the runner may look
    _written: list[_Audit] = field(default_factory=list)
    _notified: list[Notification] = field(default_factory=list)

    def channel_updated(self, channel: Channel) -> None:
        self.channels[channel] = None

    def conversation_created(self, conversation: ConversationRow) -> None:
        self.conversations_created[conversation] = None

    def conversation_updated(self, conversation: ConversationRow) -> None:
        if conversation not in self.conversations_created:
            self.conversations_updated[conversation] = None
        # Stamped now, so that the unit's answer and its notices say when it changed (the
        # browser keeps the latest view of a conversation by it).
        conversation.updated_at = utcnow()

    def moving(self, conversation: ConversationRow) -> None:
        """Before a change of department or assignee: remember who saw it."""
        self.before.setdefault(conversation, (conversation.department_id, conversation.assignee_id))

    def shows(self, conversation: ConversationRow) -> None:
        """A conversation the unit read (not changed): its messages' notices need its audience."""
        self.known[conversation.key] = conversation

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

    def audit(self, conversation: ConversationRow, row: AuditRow) -> None:
        """A transition's audit line (its conversation id is filled in when written)."""
        self.audits.append(_Audit(conversation, row))

    def enqueue(
        self,
        kind: str,
        key: str | int,
        payload: dict[str, Any] | None = None,
        run_at: datetime | None = None,
        *,
        replace: bool = False,
    ) -> None:
        """A job to run at ``run_at`` (now by default), stored with this unit's changes."""
        self.jobs.append(Wanted(kind, str(key), payload or {}, run_at or utcnow(), replace))

    def notify(
        self,
        user_ids: set[int] | list[int],
        kind: str,
        conversation_id: int | None = None,
        *,
        actor_user_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """A line in each person's bell (core.desk.notifications), unless they do not want it;
        the actor is never told of their own doing."""
        for user_id in dict.fromkeys(user_ids):
            if user_id != actor_user_id:
                self.notifications.append(
                    Notification(
                        user_id=user_id,
                        kind=kind,
                        conversation_id=conversation_id,
                        actor_user_id=actor_user_id,
                        data=data or {},
                        created_at=utcnow(),
                    )
                )

    async def write(self, db: AsyncSession) -> None:
        """Stores the audit lines, the notifications and the jobs (after the conversations
        have their ids)."""
        audits, self.audits = self.audits, []
        for audit in audits:
            audit.row.conversation_id = audit.conversation.key
        await insert_rows(db, [a.row for a in audits], key=None)
        self._written.extend(audits)
        asked, self.notifications = self.notifications, []
        wanted_by_them = await keep_wanted(db, asked)
        if wanted_by_them:
            db.add_all(wanted_by_them)
            await db.flush(wanted_by_them)
            self._notified.extend(wanted_by_them)
        wanted, self.jobs = self.jobs, []
        await write_jobs(db, wanted)
        self.enqueued.extend(wanted)

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
        conversations = {**self.known, **conversations}
        for conversation in shown:
            conversations.setdefault(conversation.id, conversation)  # type: ignore[arg-type]
        # A new conversation has no tags yet: only those updated are looked up, at once.
        tags = await tag_ids_of(db, [c.key for c in self.conversations_updated])

        notices = [
            Notice(SESSIONS, SESSION_UPDATED, serialized(ChannelOut.of(channel)))
            for channel in self.channels
        ]
        for conversation in self.conversations_created:
            notices.append(self._conversation(conversation, contacts, {}, CONVERSATION_CREATED))
        for kind, messages in (
            (MESSAGE_CREATED, self.messages_created),
            (MESSAGE_UPDATED, self.messages_updated),
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
        for audit in self._written:
            notices.append(
                Notice(
                    conversation_topic(audit.conversation.key),
                    CONVERSATION_EVENT,
                    serialized(AuditOut.of(audit.row)),
                    self._audience(audit.conversation),
                )
            )
        for conversation in self.conversations_updated:
            notices.append(self._conversation(conversation, contacts, tags, CONVERSATION_UPDATED))
        for data in self.linking.values():
            notices.append(Notice(SESSIONS, SESSION_QR, data))
        for conversation, kind, data in self.typing:
            notices.append(
                Notice(conversation_topic(conversation.key), kind, data, audience_of(conversation))
            )
        for notification in self._notified:
            notices.append(
                Notice(
                    ME,
                    NOTIFICATION_CREATED,
                    serialized(NotificationOut.of(notification)),
                    Audience(user_id=notification.user_id),
                )
            )
        notices.extend(self.extra)
        return notices

    def _audience(self, conversation: ConversationRow) -> Audience:
        audience = audience_of(conversation)
        was = self.before.get(conversation)
        if was is None or was == (audience.department_id, audience.assignee_id):
            return audience
        return Audience(audience.department_id, audience.assignee_id, was=was)

    def _conversation(
        self,
        conversation: ConversationRow,
        contacts: dict[int, ContactRow],
        tags: dict[int, list[int]],
        kind: str,
    ) -> Notice:
        view = ConversationOut.of(
            conversation, contacts.get(conversation.contact_id), tags.get(conversation.key)
        )
        return Notice(INBOX, kind, serialized(view), self._audience(conversation))
