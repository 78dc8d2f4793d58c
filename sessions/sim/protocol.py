"""The linked-device protocol of the simulated WhatsApp, and the identities both ends share.

A linked device (the sim driver) opens a websocket at ``GET /device`` and speaks JSON text
frames, one object per frame, each with a ``type``.

Device → service
    ``{"type": "hello", "device_id"?, "token"?, "last_seq"?}``
        Must be the first frame (within a few seconds). Without credentials the device is
        unpaired and receives QR codes; with them it is restored without QR. ``last_seq`` is
        the last stream item the device processed on an earlier connection: the service
        resends every item after it (the offline backlog), in order.
    ``{"type": "ack", "seq": N}``
        Every stream item up to ``N`` was processed; the service forgets them.
    ``{"type": "pair_code", "id": R, "phone": "5511..."}``
        Only while QR codes are offered. Answers ``code`` (``ABCD-EFGH``) and ``expires_at``.
    ``{"type": "send", "id": R, "client_id", "to", "kind", "text"?, "media"?, "quoted"?,
    "reaction"?}``
        ``kind`` is text, a media kind (with ``media: {mime, filename?, caption?, data_b64,
        duration_s?}``) or ``reaction`` (with ``reaction: {wa_id, emoji}``). Answers
        ``wa_id``, ``at``, ``chat`` and ``alt`` (the recipient's two identities). A repeated
        ``client_id`` answers the first result again and sends nothing.
    ``{"type": "read", "id": R, "chat", "wa_ids": [...]}``, ``{"type": "typing", "id": R,
    "chat", "state"}``, ``{"type": "presence", "id": R, "available"}``, ``{"type": "logout",
    "id": R}``
        Answered with ``ok``; logout unlinks the device and closes the socket.

Service → device
    ``{"type": "qr", "code", "index", "expires_at"}``: the login window's current code (the
    first for ``qr_first_s``, then ``qr_next_s`` each, ``qr_count`` in all).
    ``{"type": "qr_timeout"}``: nobody scanned; the service closes the socket.
    ``{"type": "paired", "device_id", "token", "phone", "jid", "lid", "push_name"}``: the
    phone linked this device; the device stores these credentials.
    ``{"type": "connected", "phone", "jid", "lid", "push_name"}``: online; the stream follows.
    ``{"type": "result", "id": R, "ok": true, ...}`` or ``{"type": "result", "id": R, "ok":
    false, "error": "<sentence>"}``: the answer to request ``R``.
    ``{"type": "batch", "items": [...]}``: stream items, each with a ``seq`` that grows by one
    per device, and a kind ``t``:
        ``msg``: ``id, chat, alt, sender, from_me, name, ts, kind, text, media?, quoted?``;
        ``receipt``: ``ids, chat, status (delivered|read|played), ts``;
        ``presence``: ``chat, sender, state (typing|recording|paused)``;
        ``reaction``: ``id, chat, alt, sender, from_me, emoji``;
        ``revoke``: ``id, chat, from_me``; ``edit``: ``id, chat, text, ts``.
    ``{"type": "logged_out", "reason"}``: the credentials are no longer valid (unlinked on
    the phone, logged out by fault or by the device itself, or unknown).
    ``{"type": "replaced"}``: another connection took over this device.

Identities: a customer has a phone JID ``<digits>@s.whatsapp.net`` and an ``@lid`` JID derived
from the phone (stable). Customers whose number ends in an odd digit are addressed by their
lid, with the phone JID as ``alt``; the others by phone JID with the lid as ``alt``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime

PN_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"
PHONE = re.compile(r"^[1-9][0-9]{7,14}$")
PAIR_ALPHABET = "ABCDEFGHJKLMNPQRSTVWXYZ23456789"  # no 0/O, 1/I: typed by people
# WhatsApp stops showing "typing…" when it is not refreshed for this long.
TYPING_TTL_S = 25.0


def pn_jid(phone: str) -> str:
    return f"{phone}@{PN_SERVER}"


def lid_of(phone: str) -> str:
    """The customer's @lid JID: 15 digits derived from the phone number, stable across runs."""
    digest = hashlib.sha256(f"sim-lid:{phone}".encode()).digest()
    number = 10**14 + int.from_bytes(digest[:8], "big") % (9 * 10**14)
    return f"{number}@{LID_SERVER}"


def addressed_by_lid(phone: str) -> bool:
    """Deterministic: numbers ending in an odd digit are addressed by lid."""
    return int(phone[-1]) % 2 == 1


def user_of(jid: str) -> str:
    """``5511...:3@s.whatsapp.net`` → ``5511...``."""
    return jid.split("@", 1)[0].split(":", 1)[0]


def new_pair_code() -> str:
    chars = "".join(secrets.choice(PAIR_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def new_qr_code(device_ref: str) -> str:
    """Looks like WhatsApp's: ``2@<ref>,<noise key>,<identity key>,<adv secret>``."""
    parts = [secrets.token_urlsafe(24), secrets.token_urlsafe(32), device_ref]
    return "2@" + ",".join(parts)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def from_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
