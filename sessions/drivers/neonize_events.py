"""neonize's protobufs ⇄ the wire contract: events in, commands out. No FFI calls here.

Identities: WhatsApp addresses a person by a phone-number JID (``...@s.whatsapp.net``) or by
an ``@lid`` JID, and tells us the other form when it knows it (``SenderAlt``,
``RecipientAlt``). Every ``Peer`` carries both when known, JIDs are written canonically
(``user@server``, no ``:device``), and the first time a phone/lid pair shows up a
``contact.updated`` goes out ahead of the event that revealed it, so core can merge contacts.

Timestamps: ``MessageEv.Info.Timestamp`` is Unix *milliseconds* (the bridge encodes it with
``UnixMilli``); receipts and send responses carry Unix *seconds*.
"""

from __future__ import annotations

import re
import subprocess
import time
import warnings
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sessions.commands import OutgoingMedia, OutgoingMediaKind, QuotedRef, SendReaction
from sessions.drivers.base import DriverError
from sessions.events import (
    ChatPresenceEvent,
    ContactCard,
    ContactData,
    ContactUpdatedEvent,
    DeliveryStatus,
    EditedData,
    Event,
    Location,
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
    StatusData,
    utcnow,
)
from sessions.states import Reason, SessionState, describe

with warnings.catch_warnings():
    # Importing neonize runs `uname -a` through os.popen and never closes the pipe
    # (neonize/utils/platform.py): that ResourceWarning is neonize's, not ours.
    warnings.simplefilter("ignore", ResourceWarning)
    from neonize.aioze.events import (  # type: ignore[import-untyped]
        ClientOutdatedEv,
        ConnectedEv,
        ConnectFailureEv,
        DisconnectedEv,
        KeepAliveRestoredEv,
        KeepAliveTimeoutEv,
        LoggedOutEv,
        PairStatusEv,
        ReceiptEv,
        StreamReplacedEv,
        TemporaryBanEv,
    )
    from neonize.proto import Neonize_pb2  # type: ignore[import-untyped]
    from neonize.proto.Neonize_pb2 import JID  # type: ignore[import-untyped]
    from neonize.proto.waCommon.WACommon_pb2 import MessageKey  # type: ignore[import-untyped]
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (  # type: ignore[import-untyped]
        AudioMessage,
        ContextInfo,
        DocumentMessage,
        ExtendedTextMessage,
        ImageMessage,
        Message,
        ProtocolMessage,
        ReactionMessage,
        StickerMessage,
        VideoMessage,
    )

    # The child also stays in subprocess's list of unreaped processes, pipe and all, until the
    # next subprocess starts anywhere in the process: reap it and close the pipe now.
    for _child in list(getattr(subprocess, "_active", None) or []):
        if _child.args == "uname -a":
            _child.wait()
            if _child.stdout is not None:
                _child.stdout.close()


PN_SERVERS = frozenset({"s.whatsapp.net", "hosted"})
LID_SERVERS = frozenset({"lid", "hosted.lid"})
# Status stories (status@broadcast), broadcast lists and channels are not conversations.
SKIPPED_CHAT_SERVERS = frozenset({"broadcast", "newsletter"})
# Fields WhatsApp sets next to the content (or alone, when nothing is shown to people).
NOT_CONTENT = frozenset(
    {
        "messageContextInfo",
        "senderKeyDistributionMessage",
        "fastRatchetKeySenderKeyDistributionMessage",
    }
)
# Envelopes whatsmeow normally removes already; unwrapped again in case one slips through.
WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
    "editedMessage",
)

RECEIPTS = {
    ReceiptEv.DELIVERED: DeliveryStatus.DELIVERED,
    ReceiptEv.READ: DeliveryStatus.READ,
    ReceiptEv.PLAYED: DeliveryStatus.PLAYED,
}
_Failure = Neonize_pb2.ConnectFailureReason
CONNECT_FAILURES: dict[int, tuple[SessionState, Reason]] = {
    _Failure.LOGGED_OUT: (SessionState.LOGGED_OUT, Reason.UNLINKED),
    _Failure.MAIN_DEVICE_GONE: (SessionState.LOGGED_OUT, Reason.UNLINKED),
    _Failure.UNKNOWN_LOGOUT: (SessionState.LOGGED_OUT, Reason.UNLINKED),
    _Failure.TEMP_BANNED: (SessionState.BANNED, Reason.TEMPORARY_BAN),
    _Failure.CLIENT_OUTDATED: (SessionState.OUTDATED, Reason.CLIENT_OUTDATED),
    # whatsmeow retries these two on its own.
    _Failure.INTERNAL_SERVER_ERROR: (SessionState.RECONNECTING, Reason.NETWORK),
    _Failure.SERVICE_UNAVAILABLE: (SessionState.RECONNECTING, Reason.NETWORK),
}


def jid_str(jid: Any) -> str:
    """The canonical ``user@server`` of a neonize ``JID`` (device and agent dropped)."""
    if not jid.Server:
        return ""
    return f"{jid.User}@{jid.Server}" if jid.User else str(jid.Server)


def canonical(jid: str) -> str:
    """The same for a JID string, e.g. ``5511988887777:12@s.whatsapp.net``."""
    user, at, server = jid.partition("@")
    if not at:
        return jid
    return f"{re.split(r'[.:]', user, maxsplit=1)[0]}@{server}"


def server_of(jid: str) -> str:
    return jid.partition("@")[2]


def phone_of(jid: str) -> str | None:
    return jid.partition("@")[0] if server_of(jid) in PN_SERVERS else None


def peer(jid: str, *alternatives: str, name: str | None = None) -> Peer:
    """A Peer addressed as ``jid``, with its phone and lid forms picked from all candidates."""
    pn = lid = None
    for candidate in (jid, *alternatives):
        server = server_of(candidate)
        if server in PN_SERVERS and pn is None:
            pn = candidate
        elif server in LID_SERVERS and lid is None:
            lid = candidate
    return Peer(jid=jid, pn=pn, lid=lid, name=name or None)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC) if value else utcnow()


def from_seconds(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC) if value else utcnow()


def status(state: SessionState, reason: Reason, **fields: Any) -> StatusData:
    return StatusData(state=state, reason=reason, detail=describe(state, reason), **fields)


def status_for(event: Any) -> StatusData | None:
    """What a lifecycle event means for the session, or None when it changes nothing."""
    if isinstance(event, ConnectedEv | KeepAliveRestoredEv):
        return status(SessionState.CONNECTED, Reason.ONLINE)
    if isinstance(event, DisconnectedEv | KeepAliveTimeoutEv):
        return status(SessionState.RECONNECTING, Reason.NETWORK)
    if isinstance(event, PairStatusEv):
        if event.Status != PairStatusEv.SUCCESS:
            return None
        jid = jid_str(event.ID)
        return status(
            SessionState.PAIRING,
            Reason.PAIRED,
            jid=jid,
            phone=phone_of(jid),
            name=event.BusinessName or None,
        )
    if isinstance(event, LoggedOutEv):
        return status(SessionState.LOGGED_OUT, Reason.UNLINKED)
    if isinstance(event, StreamReplacedEv):
        return status(SessionState.REPLACED, Reason.OTHER_CLIENT)
    if isinstance(event, TemporaryBanEv):
        data = status(SessionState.BANNED, Reason.TEMPORARY_BAN)
        if event.Expire > 0:
            minutes = max(1, round(event.Expire / 60))
            return data.model_copy(
                update={"detail": f"{data.detail} It ends in about {minutes} min."}
            )
        return data
    if isinstance(event, ClientOutdatedEv):
        return status(SessionState.OUTDATED, Reason.CLIENT_OUTDATED)
    if isinstance(event, ConnectFailureEv):
        state, reason = CONNECT_FAILURES.get(
            event.Reason, (SessionState.RECONNECTING, Reason.CONNECT_FAILED)
        )
        return status(state, reason)
    return None


def unwrap(message: Any) -> Any:
    for _ in range(4):  # wrappers nest at most a few levels deep
        wrapper = next((name for name in WRAPPERS if message.HasField(name)), None)
        if wrapper is None:
            break
        message = getattr(message, wrapper).message
    return message


def text_of(message: Any) -> str:
    """The text people read in a message: its body or its caption."""
    message = unwrap(message)
    if message.conversation:
        return str(message.conversation)
    if message.HasField("extendedTextMessage"):
        return str(message.extendedTextMessage.text)
    for name in ("imageMessage", "videoMessage", "documentMessage"):
        if message.HasField(name):
            return str(getattr(message, name).caption)
    return ""


class Content(NamedTuple):
    kind: MessageKind
    text: str = ""
    media: Media | None = None
    location: Location | None = None
    card: ContactCard | None = None
    owner: Any = None  # the sub-message whose contextInfo may quote another message


def _media(part: Any, mime: str, **fields: Any) -> Media:
    known = {key: value for key, value in fields.items() if value}
    return Media(
        mime=part.mimetype or mime,
        size=part.fileLength or None,
        sha256=part.fileSHA256.hex() or None,
        **known,
    )


def content_of(message: Any) -> Content | None:
    """The displayable content, or None when the message carries nothing for people."""
    if message.conversation:
        return Content(MessageKind.TEXT, message.conversation)
    if message.HasField("extendedTextMessage"):
        part = message.extendedTextMessage
        return Content(MessageKind.TEXT, part.text, owner=part)
    if message.HasField("imageMessage"):
        part = message.imageMessage
        media = _media(part, "image/jpeg", width=part.width, height=part.height)
        return Content(MessageKind.IMAGE, part.caption, media, owner=part)
    for name in ("videoMessage", "ptvMessage"):
        if message.HasField(name):
            part = getattr(message, name)
            media = _media(
                part, "video/mp4", duration_s=part.seconds, width=part.width, height=part.height
            )
            return Content(MessageKind.VIDEO, part.caption, media, owner=part)
    if message.HasField("audioMessage"):
        part = message.audioMessage
        kind = MessageKind.VOICE if part.PTT else MessageKind.AUDIO
        return Content(kind, media=_media(part, "audio/ogg", duration_s=part.seconds), owner=part)
    if message.HasField("documentMessage"):
        part = message.documentMessage
        media = _media(part, "application/octet-stream", filename=part.fileName)
        return Content(MessageKind.DOCUMENT, part.caption, media, owner=part)
    if message.HasField("stickerMessage"):
        part = message.stickerMessage
        media = _media(part, "image/webp", width=part.width, height=part.height)
        return Content(MessageKind.STICKER, media=media, owner=part)
    if message.HasField("locationMessage"):
        part = message.locationMessage
        place = Location(
            latitude=part.degreesLatitude,
            longitude=part.degreesLongitude,
            name=part.name or None,
            address=part.address or None,
        )
        return Content(MessageKind.LOCATION, part.comment, location=place, owner=part)
    if message.HasField("liveLocationMessage"):
        part = message.liveLocationMessage
        place = Location(latitude=part.degreesLatitude, longitude=part.degreesLongitude)
        return Content(MessageKind.LOCATION, part.caption, location=place, owner=part)
    if message.HasField("contactMessage"):
        part = message.contactMessage
        card = ContactCard(display_name=part.displayName, vcard=part.vcard)
        return Content(MessageKind.CONTACT_CARD, card=card, owner=part)
    if message.HasField("contactsArrayMessage") and message.contactsArrayMessage.contacts:
        part = message.contactsArrayMessage
        first = part.contacts[0]
        card = ContactCard(display_name=first.displayName, vcard=first.vcard)
        return Content(MessageKind.CONTACT_CARD, part.displayName, card=card, owner=part)
    if any(field.name not in NOT_CONTENT for field, _ in message.ListFields()):
        return Content(MessageKind.UNSUPPORTED)
    return None


def quote_of(owner: Any) -> Quote | None:
    if owner is None or not owner.HasField("contextInfo"):
        return None
    context = owner.contextInfo
    if not context.stanzaID:
        return None
    text = text_of(context.quotedMessage) if context.HasField("quotedMessage") else ""
    return Quote(
        wa_id=context.stanzaID, sender=canonical(context.participant) or None, text=text or None
    )


class Translator:
    """Turns one session's neonize events into contract events.

    It remembers which phone and lid JIDs belong together, to announce each pair once."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self._lid_by_pn: dict[str, str] = {}

    def message(self, event: Any) -> list[Event]:
        info = event.Info
        source = info.MessageSource
        if source.Chat.Server in SKIPPED_CHAT_SERVERS:
            return []
        from_me, is_group = bool(source.IsFromMe), bool(source.IsGroup)
        chat_jid = jid_str(source.Chat)
        sender = peer(jid_str(source.Sender), jid_str(source.SenderAlt), name=info.Pushname)
        if is_group:
            chat = Peer(jid=chat_jid)
        elif from_me:
            chat = peer(chat_jid, jid_str(source.RecipientAlt))
        elif chat_jid in (sender.pn, sender.lid):
            chat = sender.model_copy(update={"jid": chat_jid})
        else:
            chat = peer(chat_jid)
        out = self.identities(*([chat] if from_me else [sender, chat]))
        message = unwrap(event.Message)
        at = from_ms(info.Timestamp)
        session = self.session_id

        if message.HasField("reactionMessage"):
            reaction = message.reactionMessage
            data = ReactionData(
                wa_id=reaction.key.ID,
                chat=chat_jid,
                sender=sender,
                from_me=from_me,
                emoji=reaction.text,
            )
            return [*out, MessageReactionEvent(session_id=session, data=data)]
        if message.HasField("protocolMessage"):
            return out + self._protocol(message.protocolMessage, chat_jid, from_me, at)

        content = content_of(message)
        if content is None:
            return out
        message_data = MessageData(
            wa_id=info.ID,
            chat=chat,
            sender=sender,
            from_me=from_me,
            is_group=is_group,
            timestamp=at,
            kind=content.kind,
            text=content.text,
            media=content.media,
            location=content.location,
            contact_card=content.card,
            quoted=quote_of(content.owner),
        )
        if from_me:  # typed on the phone: the desk did not send it, so no client_id
            return [*out, MessageSentEvent(session_id=session, data=message_data)]
        return [*out, MessageReceivedEvent(session_id=session, data=message_data)]

    def _protocol(self, protocol: Any, chat: str, from_me: bool, at: datetime) -> list[Event]:
        session = self.session_id
        if protocol.type == ProtocolMessage.REVOKE:
            # key.fromMe is the revoker's view: true when they revoke their own message.
            revoked = RevokedData(
                wa_id=protocol.key.ID, chat=chat, from_me=from_me and protocol.key.fromMe
            )
            return [MessageRevokedEvent(session_id=session, data=revoked)]
        if protocol.type == ProtocolMessage.MESSAGE_EDIT:
            edited = EditedData(
                wa_id=protocol.key.ID,
                chat=chat,
                text=text_of(protocol.editedMessage),
                edited_at=from_ms(protocol.timestampMS) if protocol.timestampMS else at,
            )
            return [MessageEditedEvent(session_id=session, data=edited)]
        return []  # key shares, history sync notices, ephemeral settings: nothing to show

    def receipt(self, event: Any) -> list[Event]:
        delivery = RECEIPTS.get(event.Type)
        source = event.MessageSource
        if delivery is None or not event.MessageIDs:
            return []  # our own devices' read-self/played-self, retries, server errors
        out = self.identities(peer(jid_str(source.Sender), jid_str(source.SenderAlt)))
        data = MessageStatusData(
            wa_ids=list(event.MessageIDs),
            chat=jid_str(source.Chat),
            status=delivery,
            at=from_seconds(event.Timestamp),
        )
        return [*out, MessageStatusEvent(session_id=self.session_id, data=data)]

    def chat_presence(self, event: Any) -> list[Event]:
        source = event.MessageSource
        if event.State == Neonize_pb2.ChatPresence.PAUSED:
            state = PresenceState.PAUSED
        elif event.Media == Neonize_pb2.ChatPresence.AUDIO:
            state = PresenceState.RECORDING
        else:
            state = PresenceState.TYPING
        out = self.identities(peer(jid_str(source.Sender), jid_str(source.SenderAlt)))
        data = PresenceData(chat=jid_str(source.Chat), sender=jid_str(source.Sender), state=state)
        return [*out, ChatPresenceEvent(session_id=self.session_id, data=data)]

    def identities(self, *peers: Peer) -> list[Event]:
        """contact.updated for each phone/lid pair not seen before."""
        out: list[Event] = []
        for person in peers:
            if person.pn is None or person.lid is None:
                continue
            if self._lid_by_pn.get(person.pn) == person.lid:
                continue
            self._lid_by_pn[person.pn] = person.lid
            contact = Peer(jid=person.pn, pn=person.pn, lid=person.lid, name=person.name)
            out.append(
                ContactUpdatedEvent(session_id=self.session_id, data=ContactData(peer=contact))
            )
        return out


# Outgoing: the desk's commands → neonize protobufs (the same mapping, the other way round).

MEDIA_FIELDS = {
    OutgoingMediaKind.IMAGE: "imageMessage",
    OutgoingMediaKind.VIDEO: "videoMessage",
    OutgoingMediaKind.AUDIO: "audioMessage",
    OutgoingMediaKind.VOICE: "audioMessage",
    OutgoingMediaKind.DOCUMENT: "documentMessage",
    OutgoingMediaKind.STICKER: "stickerMessage",
}


def to_jid(address: str) -> Any:
    """A neonize ``JID`` (every proto2-required field set) for a chat address or phone."""
    text = canonical(address.strip())
    if "@" not in text:
        text = f"{text}@s.whatsapp.net"
    user, _, server = text.partition("@")
    if not user or not server or (server in PN_SERVERS and not user.isdigit()):
        raise DriverError(f"{address!r} is not a WhatsApp address.")
    return JID(User=user, Server=server, Device=0, RawAgent=0, Integrator=0, IsEmpty=False)


def quote_context(quoted: QuotedRef) -> Any:
    return ContextInfo(
        stanzaID=quoted.wa_id,
        participant=canonical(quoted.sender),
        quotedMessage=Message(conversation=quoted.text or ""),
    )


def text_message(text: str, quoted: QuotedRef | None) -> Any:
    """Literal text: a ``str`` given to neonize would turn ``@digits`` into mentions."""
    if quoted is None:
        return Message(conversation=text)
    part = ExtendedTextMessage(text=text, contextInfo=quote_context(quoted))
    return Message(extendedTextMessage=part)


def reaction_message(command: SendReaction) -> Any:
    chat = jid_str(to_jid(command.to))
    key = MessageKey(remoteJID=chat, fromMe=command.from_me, ID=command.wa_id)
    if server_of(chat) == "g.us" and not command.from_me:
        key.participant = canonical(command.sender)
    reaction = ReactionMessage(
        key=key, text=command.emoji, senderTimestampMS=int(time.time() * 1000)
    )
    return Message(reactionMessage=reaction)


def media_message(
    item: OutgoingMedia,
    upload: Any,
    thumbnail: tuple[bytes, int, int] | None = None,
    quoted: QuotedRef | None = None,
) -> Any:
    """The message for an uploaded file, built here rather than by neonize's helpers, which
    need ffmpeg for audio, video and stickers."""
    fields: dict[str, Any] = {
        "URL": upload.url,
        "directPath": upload.DirectPath,
        "mediaKey": upload.MediaKey,
        "fileEncSHA256": upload.FileEncSHA256,
        "fileSHA256": upload.FileSHA256,
        "fileLength": upload.FileLength,
        "mimetype": item.mime,
        "mediaKeyTimestamp": int(time.time()),
    }
    if item.caption and item.kind not in (
        OutgoingMediaKind.AUDIO,
        OutgoingMediaKind.VOICE,
        OutgoingMediaKind.STICKER,
    ):
        fields["caption"] = item.caption
    if item.duration_s and item.kind in (
        OutgoingMediaKind.VIDEO,
        OutgoingMediaKind.AUDIO,
        OutgoingMediaKind.VOICE,
    ):
        fields["seconds"] = item.duration_s
    if item.kind is OutgoingMediaKind.IMAGE:
        if thumbnail is not None:
            fields["JPEGThumbnail"], fields["width"], fields["height"] = thumbnail
        message = Message(imageMessage=ImageMessage(**fields))
    elif item.kind is OutgoingMediaKind.VIDEO:
        message = Message(videoMessage=VideoMessage(**fields))
    elif item.kind in (OutgoingMediaKind.AUDIO, OutgoingMediaKind.VOICE):
        voice = item.kind is OutgoingMediaKind.VOICE
        message = Message(audioMessage=AudioMessage(**fields, PTT=voice))
    elif item.kind is OutgoingMediaKind.DOCUMENT:
        name = item.filename or "file"
        message = Message(documentMessage=DocumentMessage(**fields, fileName=name, title=name))
    else:
        message = Message(stickerMessage=StickerMessage(**fields))
    if quoted is not None:
        getattr(message, MEDIA_FIELDS[item.kind]).contextInfo.CopyFrom(quote_context(quoted))
    return message
