"""What the API tells the web app to show of each message besides its text: reactions counted
with who, a place, a contact card read from its vCard, "not supported", and a file's address
only when there is a file to fetch. Through real ingest, on SQLite and on PostgreSQL; the vCard
and phone rules on their own."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.inbox.content import card_of, media_url, phone_of, place_of
from core.storage.models import MessageType
from sessions.events import (
    ContactCard,
    Location,
    Media,
    MessageKind,
    MessageReactionEvent,
    MessageRevokedEvent,
    Peer,
    ReactionData,
    RevokedData,
)
from tests.conftest import Desk
from tests.test_conversations_api import get_json
from tests.test_ingest import OURS, PN, SESSION, T0, maria, post, received, sent

KEY = "ab" * 32
VCARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Souza;João;;;\r\nFN:João Souza\r\n"
    "item1.TEL;type=CELL;type=VOICE;waid=5511977776666:+55 11 97777-6666\r\n"
    "item1.X-ABLabel:Celular\r\nTEL;TYPE=WORK:+1 (415) 555-01\r\n 23\r\nEND:VCARD"
)


def react(wa_id: str, emoji: str, who: Peer) -> MessageReactionEvent:
    data = ReactionData(wa_id=wa_id, chat=PN, sender=who, from_me=who is OURS, emoji=emoji)
    return MessageReactionEvent(session_id=SESSION, data=data)


async def shown(desk: Desk) -> dict[str, dict[str, Any]]:
    """The conversation's messages as the web app gets them, by WhatsApp id."""
    admin = await desk.user("admin")
    page = await get_json(desk, admin, "/api/v1/conversations")
    [conversation] = page["items"]
    path = f"/api/v1/conversations/{conversation['id']}/messages"
    messages = await get_json(desk, admin, path)
    return {m["wa_message_id"]: m for m in messages["items"]}


async def test_each_kind_of_message_says_what_its_bubble_shows(desk: Desk) -> None:
    minute = timedelta(minutes=1)
    place = Location(latitude=-23.5613, longitude=-46.6565, name="Pizzaria Bella", address="Av. X")
    card = ContactCard(display_name="João Souza", vcard=VCARD)
    photo = Media(mime="image/jpeg", key=KEY)
    lost = Media(mime="application/pdf", filename="pedido.pdf")  # the gateway could not get it
    await post(
        desk,
        received("TXT", "Oi"),
        received("LOC", kind=MessageKind.LOCATION, location=place, at=T0 + minute),
        received("VCF", kind=MessageKind.CONTACT_CARD, contact_card=card, at=T0 + 2 * minute),
        received("POLL", "", kind=MessageKind.UNSUPPORTED, at=T0 + 3 * minute),
        received("IMG", "", kind=MessageKind.IMAGE, media=photo, at=T0 + 4 * minute),
        received("PDF", "", kind=MessageKind.DOCUMENT, media=lost, at=T0 + 5 * minute),
        sent("OUT", "Já verifico", at=T0 + 6 * minute),
    )
    ana = Peer(jid="5511955554444@s.whatsapp.net", pn="5511955554444@s.whatsapp.net")
    await post(desk, react("OUT", "❤️", maria()), react("OUT", "👍", ana), react("OUT", "❤️", OURS))
    revoke = RevokedData(wa_id="IMG", chat=PN, from_me=False)
    await post(desk, MessageRevokedEvent(session_id=SESSION, data=revoke))

    messages = await shown(desk)
    assert messages["OUT"]["reaction_summary"] == [
        {"emoji": "❤️", "count": 2, "by": [PN, OURS.pn]},
        {"emoji": "👍", "count": 1, "by": [ana.pn]},
    ]
    assert messages["LOC"]["location"] == {
        "latitude": -23.5613,
        "longitude": -46.6565,
        "name": "Pizzaria Bella",
        "address": "Av. X",
    }
    assert messages["VCF"]["contact_card"] == {
        "name": "João Souza",
        "phones": [
            {"number": "+5511977776666", "written": "+55 11 97777-6666"},
            {"number": "+14155550123", "written": "+1 (415) 555-0123"},
        ],
    }
    assert messages["POLL"]["unsupported"] is True
    # Only a file the gateway holds can be fetched; places, cards and the rest have none.
    image = messages["IMG"]
    assert image["media_url"] == f"/api/v1/messages/{image['id']}/media"
    assert image["revoked_at"] is not None
    for wa_id in ("TXT", "LOC", "VCF", "POLL", "PDF", "OUT"):
        assert messages[wa_id]["media_url"] is None, wa_id
    for wa_id in ("TXT", "IMG", "PDF", "OUT"):
        message = messages[wa_id]
        assert (message["location"], message["contact_card"], message["unsupported"]) == (
            None,
            None,
            False,
        ), wa_id


@pytest.mark.parametrize(
    ("written", "wa_id", "number"),
    [
        ("+55 11 97777-6666", "5511977776666", "+5511977776666"),
        ("+551133334444", None, "+551133334444"),
        ("+1 (415) 555-0123", None, "+14155550123"),
        ("(11) 3333-4444", None, "1133334444"),
        ("55 11 97777-6666", "5511977776666", "+5511977776666"),
    ],
)
def test_a_card_s_phones_are_numbers_to_dial_and_as_written(
    written: str, wa_id: str | None, number: str
) -> None:
    phone = phone_of(written, wa_id)
    assert phone is not None
    assert (phone.number, phone.written) == (number, written)


def test_a_card_without_phones_or_name_still_shows_what_it_has() -> None:
    vcard = "BEGIN:VCARD\nFN:Loja\\, Centro\nTEL:sem número\nEND:VCARD"
    card = card_of(MessageType.CONTACT_CARD, {"display_name": "", "vcard": vcard})
    assert card is not None
    assert (card.name, card.phones) == ("Loja, Centro", [])
    assert card_of(MessageType.TEXT, {"display_name": "x", "vcard": vcard}) is None


def test_a_place_off_the_globe_is_no_place() -> None:
    for latitude, longitude in ((91.0, 0.0), (0.0, 181.0), (float("nan"), 0.0)):
        media = {"latitude": latitude, "longitude": longitude}
        assert place_of(MessageType.LOCATION, media) is None
    assert place_of(MessageType.LOCATION, {"latitude": "1", "longitude": 2}) is None


def test_files_are_fetched_from_where_they_are_kept() -> None:
    assert media_url(7, {"mime": "image/png", "key": KEY}) == "/api/v1/messages/7/media"
    assert media_url(7, {"mime": "image/png", "id": "01J0"}) == "/api/v1/media/01J0"
    for media in (None, {}, {"mime": "image/png"}, {"key": "../etc"}, {"unsupported": True}):
        assert media_url(7, media) is None
