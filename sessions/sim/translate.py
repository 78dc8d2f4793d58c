"""Stream items from the simulated WhatsApp → zapdesk events (the sim driver's hot path).

Items are plain dicts (see ``sessions.sim.protocol``); this turns each into the contract's
events, keeping both identities of a customer (``Peer.pn`` and ``Peer.lid``) and announcing a
lid↔phone mapping the first time it is seen.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import structlog

from sessions.commands import SendCommand, SendReaction, SendText
from sessions.events import (
    ChatPresenceEvent,
    ContactData,
    ContactUpdatedEvent,
    DeliveryStatus,
    EditedData,
    Event,
    Media,
    MessageData,
    MessageEditedEvent,
    MessageKind,
    MessageReactionEvent,
    MessageReceivedEvent,
    MessageRevokedEvent,
    MessageSentEvent,
    MessageStatusData,
    MessageStatusEvent,
    Peer,
    PresenceData,
    PresenceState,
    Quote,
    ReactionData,
    RevokedData,
)
from sessions.sim.protocol import LID_SERVER, from_ts, pn_jid, user_of

log = structlog.get_logger("zapdesk.sim.driver")
CLIENT_IDS_KEPT = 10_000
_KINDS = {kind.value: kind for kind in MessageKind}


def peer(jid: str, alt: str | None, name: str | None = None) -> Peer:
    if jid.endswith("@" + LID_SERVER):
        return Peer(jid=jid, lid=jid, pn=alt, name=name)
    return Peer(jid=jid, pn=jid, lid=alt, name=name)


def own_peer(phone: str, lid: str, name: str) -> Peer:
    """The business itself (its non-device JIDs), as the author of what the desk sends."""
    pn = pn_jid(phone)
    return Peer(jid=pn, pn=pn, lid=user_of(lid) + "@" + LID_SERVER, name=name)


def media(raw: dict[str, Any] | None) -> Media | None:
    if raw is None:
        return None
    return Media(
        mime=raw["mime"],
        size=raw.get("size"),
        filename=raw.get("filename"),
        sha256=raw.get("sha256"),
        duration_s=raw.get("duration_s"),
        key=raw.get("key"),
    )


class StreamTranslator:
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.me: Peer | None = None
        self._seen: set[str] = set()
        self._client_ids: OrderedDict[str, str] = OrderedDict()

    def sent(self, wa_id: str, client_id: str) -> None:
        """Remembers which desk message a wa_id is, so receipts can name its client_id."""
        self._client_ids[wa_id] = client_id
        if len(self._client_ids) > CLIENT_IDS_KEPT:
            self._client_ids.popitem(last=False)

    def echo(self, command: SendCommand, answer: dict[str, Any]) -> Event:
        """The desk's own message, as WhatsApp echoes it to every linked device."""
        self.sent(answer["wa_id"], command.client_id)
        me = self.me or Peer(jid="me")
        chat = peer(answer["chat"], answer.get("alt"))
        if isinstance(command, SendReaction):
            reaction = ReactionData(
                wa_id=command.wa_id, chat=chat.jid, sender=me, from_me=True, emoji=command.emoji
            )
            return MessageReactionEvent(session_id=self.session_id, data=reaction)
        if isinstance(command, SendText):
            kind, text = MessageKind.TEXT, command.text
        else:
            kind, text = MessageKind(command.media.kind.value), command.media.caption or ""
        quoted = command.quoted
        data = MessageData(
            wa_id=answer["wa_id"],
            chat=chat,
            sender=me,
            from_me=True,
            timestamp=from_ts(answer["ts"]),
            kind=kind,
            text=text,
            media=media(answer.get("media")),
            quoted=None
            if quoted is None
            else Quote(wa_id=quoted.wa_id, sender=quoted.sender, text=quoted.text),
            client_id=command.client_id,
        )
        return MessageSentEvent(session_id=self.session_id, data=data)

    def known(self, who: Peer) -> Iterator[Event]:
        if who.lid and who.pn and who.lid not in self._seen:
            self._seen.add(who.lid)
            yield ContactUpdatedEvent(session_id=self.session_id, data=ContactData(peer=who))

    def events(self, item: dict[str, Any]) -> Iterator[Event]:
        kind = item.get("t")
        if kind == "msg":
            yield from self._message(item)
        elif kind == "receipt":
            yield self._receipt(item)
        elif kind == "presence":
            data = PresenceData(
                chat=item["chat"], sender=item["sender"], state=PresenceState(item["state"])
            )
            yield ChatPresenceEvent(session_id=self.session_id, data=data)
        elif kind == "reaction":
            sender = self.me if item["from_me"] and self.me else peer(item["sender"], item["alt"])
            reaction = ReactionData(
                wa_id=item["id"],
                chat=item["chat"],
                sender=sender,
                from_me=item["from_me"],
                emoji=item["emoji"],
            )
            yield MessageReactionEvent(session_id=self.session_id, data=reaction)
        elif kind == "revoke":
            revoked = RevokedData(wa_id=item["id"], chat=item["chat"], from_me=item["from_me"])
            yield MessageRevokedEvent(session_id=self.session_id, data=revoked)
        elif kind == "edit":
            edited = EditedData(
                wa_id=item["id"],
                chat=item["chat"],
                text=item["text"],
                edited_at=from_ts(item["ts"]),
            )
            yield MessageEditedEvent(session_id=self.session_id, data=edited)
        else:
            log.debug("sim_item_ignored", kind=kind)

    def _message(self, item: dict[str, Any]) -> Iterator[Event]:
        from_me = bool(item["from_me"])
        chat = peer(item["chat"], item.get("alt"), None if from_me else item.get("name"))
        yield from self.known(chat)
        quoted = item.get("quoted")
        data = MessageData(
            wa_id=item["id"],
            chat=chat,
            sender=(self.me or Peer(jid=item["sender"])) if from_me else chat,
            from_me=from_me,
            timestamp=from_ts(item["ts"]),
            kind=_KINDS.get(item["kind"], MessageKind.UNSUPPORTED),
            text=item.get("text") or "",
            media=media(item.get("media")),
            quoted=None
            if quoted is None
            else Quote(wa_id=quoted["id"], sender=quoted.get("sender"), text=quoted.get("text")),
        )
        if from_me:  # typed on the business's phone itself
            yield MessageSentEvent(session_id=self.session_id, data=data)
        else:
            yield MessageReceivedEvent(session_id=self.session_id, data=data)

    def _receipt(self, item: dict[str, Any]) -> Event:
        ids: list[str] = item["ids"]
        client_id = self._client_ids.get(ids[0]) if len(ids) == 1 else None
        data = MessageStatusData(
            wa_ids=ids,
            chat=item["chat"],
            status=DeliveryStatus(item["status"]),
            at=from_ts(item["ts"]),
            client_id=client_id,
        )
        return MessageStatusEvent(session_id=self.session_id, data=data)
