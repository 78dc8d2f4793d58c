"""What a bubble shows besides its text, read from what ingest stored: reactions counted, a place
to open on a map, a contact card's name and phones (from its vCard), whether the customer sent
something this version cannot show, and where the message's file can be fetched — if anywhere,
so that the desk never offers a download that can only fail."""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from core.storage.models import MessageType
from sessions.events import Location

# A received file is kept by the gateway under the hex SHA-256 of its content; nothing else is.
MEDIA_KEY = re.compile(r"^[0-9a-f]{64}$")
PHONES_MAX = 10
_FOLD = re.compile(r"\r?\n[ \t]")
_ESCAPED = re.compile(r"\\([\\,;nN])")


class ReactionOut(BaseModel):
    emoji: str
    count: int
    by: list[str] = Field(description="Who reacted: their WhatsApp ids (JIDs).")


class PhoneOut(BaseModel):
    number: str = Field(description="To dial or copy: digits, with + when international.")
    written: str = Field(description="As the card writes it.")


class CardOut(BaseModel):
    name: str
    phones: list[PhoneOut] = Field(description="From the vCard's TEL lines, in its order.")


def reactions_of(reactions: dict[str, Any]) -> list[ReactionOut]:
    """``{person: emoji}`` as chips: one per emoji, with who, the most given first (a JSON
    object's order is not kept by every database, so the order is decided here)."""
    by_emoji: dict[str, list[str]] = {}
    for person, emoji in sorted(reactions.items()):
        if isinstance(emoji, str) and emoji:
            by_emoji.setdefault(emoji, []).append(person)
    chips = sorted(by_emoji.items(), key=lambda chip: (-len(chip[1]), chip[0]))
    return [ReactionOut(emoji=emoji, count=len(who), by=who) for emoji, who in chips]


def place_of(kind: MessageType, media: dict[str, Any] | None) -> Location | None:
    """The place as WhatsApp sent it (ingest stores it whole), if it is one on the globe."""
    if kind is not MessageType.LOCATION or not media:
        return None
    try:
        place = Location.model_validate(media, strict=True)
    except ValidationError:
        return None
    if not (math.isfinite(place.latitude) and math.isfinite(place.longitude)):
        return None
    if abs(place.latitude) > 90 or abs(place.longitude) > 180:
        return None
    return place


def card_of(kind: MessageType, media: dict[str, Any] | None) -> CardOut | None:
    if kind is not MessageType.CONTACT_CARD or not media:
        return None
    fields = vcard_fields(str(media.get("vcard") or ""))
    name = _text(media.get("display_name")) or next(
        (value for prop, _, value in fields if prop == "FN" and value.strip()), ""
    )
    phones: dict[str, PhoneOut] = {}
    for prop, params, value in fields:
        if prop == "TEL" and len(phones) < PHONES_MAX:
            phone = phone_of(value, params.get("WAID"))
            if phone is not None:
                phones.setdefault(phone.number, phone)
    return CardOut(name=name.strip(), phones=list(phones.values()))


def unsupported(kind: MessageType, media: dict[str, Any] | None) -> bool:
    return kind is MessageType.TEXT and bool(media and media.get("unsupported"))


def media_url(message_id: int, media: dict[str, Any] | None) -> str | None:
    """Received files through the gateway (``key``), the desk's own uploads (``id``)."""
    if not media:
        return None
    if MEDIA_KEY.fullmatch(str(media.get("key") or "")):
        return f"/api/v1/messages/{message_id}/media"
    if isinstance(media.get("id"), str) and media["id"]:
        return f"/api/v1/media/{media['id']}"
    return None


def vcard_fields(vcard: str) -> list[tuple[str, dict[str, str], str]]:
    """Each content line as (property, parameters, value): groups (``item1.``) dropped, names
    upper-cased, folded lines joined, escapes undone (RFC 6350; vCard 2.1's bare ``TYPE``s
    are kept as ``{TYPE: ""}``)."""
    fields = []
    for line in _FOLD.sub("", vcard).splitlines():
        head, colon, value = line.partition(":")
        if not colon:
            continue
        name, *raw = head.split(";")
        params = {}
        for param in raw:
            key, _, val = param.partition("=")
            params[key.strip().upper()] = val.strip().strip('"')
        prop = name.rpartition(".")[2].strip().upper()
        fields.append((prop, params, _ESCAPED.sub(_unescape, value)))
    return fields


def phone_of(value: str, wa_id: str | None = None) -> PhoneOut | None:
    """A TEL value (``waid`` is WhatsApp's own parameter: the number's digits). The web app
    writes an international number for people to read (webui/src/lib/phone.ts)."""
    written = value.strip()
    digits = "".join(c for c in (wa_id or "") if c.isdigit()) or "".join(
        c for c in written if c.isdigit()
    )
    if not digits:
        return None
    international = bool(wa_id) or written.startswith("+")
    return PhoneOut(number=f"+{digits}" if international else digits, written=written or digits)


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    return "\n" if char in "nN" else char
