"""What the simulated WhatsApp remembers, in memory: accounts, devices, customers, messages.

``World`` is the container; ``linking`` (QR, pairing, unlinking) and ``traffic`` (messages,
receipts, typing) act on it. A ``Link`` is one open device websocket, seen from the service:
everything written to it goes through its single writer task (see ``device_socket``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sessions.sim.protocol import addressed_by_lid, lid_of, pn_jid

Item = dict[str, Any]


@dataclass(frozen=True)
class SimConfig:
    qr_first_s: float = 60.0
    qr_next_s: float = 20.0
    qr_count: int = 6
    hello_timeout_s: float = 10.0
    batch_size: int = 1000
    history_limit: int = 5000
    max_media_bytes: int = 32 * 1024 * 1024


@dataclass
class Customer:
    phone: str
    name: str
    pn: str
    lid: str
    by_lid: bool

    @property
    def jid(self) -> str:
        """How the sim addresses this customer to devices."""
        return self.lid if self.by_lid else self.pn

    @property
    def alt(self) -> str:
        return self.pn if self.by_lid else self.lid


@dataclass
class Message:
    wa_id: str
    business: str
    customer: str
    from_customer: bool
    kind: str
    text: str
    ts: float
    status: str = "sent"
    media: dict[str, Any] | None = None
    quoted: dict[str, Any] | None = None
    client_id: str | None = None
    reactions: dict[str, str] = field(default_factory=dict)
    revoked: bool = False
    edited: bool = False

    def public(self) -> dict[str, Any]:
        """As the customer's phone shows it."""
        return {
            "wa_id": self.wa_id,
            "business": self.business,
            "sender": "customer" if self.from_customer else "business",
            "kind": self.kind,
            "text": "" if self.revoked else self.text,
            "media": None if self.revoked else self.media,
            "quoted": self.quoted,
            "status": self.status,
            "ts": self.ts,
            "reactions": dict(self.reactions),
            "revoked": self.revoked,
            "edited": self.edited,
        }


@dataclass
class Conversation:
    messages: list[Message] = field(default_factory=list)
    desk_typing: str | None = None
    desk_typing_at: float = 0.0


class Link:
    """One open device websocket. Frames are queued here and written by one writer task."""

    def __init__(self) -> None:
        self.control: deque[str] = deque()
        self.wake = asyncio.Event()
        self.close_code: int | None = None
        self.device: Device | None = None
        self.pending: PendingLogin | None = None
        self.sent_upto = 0  # highest stream seq written to this socket

    def send(self, frame: str) -> None:
        self.control.append(frame)
        self.wake.set()

    def close(self, code: int) -> None:
        if self.close_code is None:
            self.close_code = code
        self.wake.set()


@dataclass
class PendingLogin:
    """An unpaired device's login window: rotating QR codes and perhaps a pairing code."""

    link: Link
    ref: str
    code: str | None = None
    pair_code: str | None = None
    pair_phone: str | None = None
    expires_at: float = 0.0
    index: int = 0
    task: asyncio.Task[None] | None = None


@dataclass
class Device:
    device_id: str
    token: str
    phone: str
    number: int
    push_name: str
    lid: str
    link: Link | None = None
    # Stream items not yet acknowledged; stream[0] has seq base_seq.
    stream: list[Item] = field(default_factory=list)
    base_seq: int = 1
    next_seq: int = 1
    results: dict[str, Item] = field(default_factory=dict)  # client_id → send result

    @property
    def jid(self) -> str:
        return f"{self.phone}:{self.number}@s.whatsapp.net"

    def items_after(self, seq: int, limit: int) -> list[Item]:
        start = max(0, seq - self.base_seq + 1)
        return self.stream[start : start + limit]

    def trim(self, upto: int) -> list[Item]:
        """Forgets items up to ``upto`` (acknowledged) and answers them."""
        count = min(upto - self.base_seq + 1, len(self.stream))
        if count <= 0:
            return []
        done = self.stream[:count]
        del self.stream[:count]
        self.base_seq += count
        return done


@dataclass
class Account:
    """A business number: the phone that links a device."""

    phone: str
    name: str
    lid: str
    device: Device | None = None
    linked_count: int = 0
    available: bool = False
    conversations: dict[str, Conversation] = field(default_factory=dict)


@dataclass
class Blob:
    mime: str
    filename: str | None
    data: bytes


class World:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.accounts: dict[str, Account] = {}
        self.devices: dict[str, Device] = {}
        self.customers: dict[str, Customer] = {}
        self.by_lid: dict[str, Customer] = {}
        self.messages: dict[str, Message] = {}
        self.media: dict[str, Blob] = {}
        self.logins: dict[str, PendingLogin] = {}  # by current QR code
        self.pair_codes: dict[str, PendingLogin] = {}
        self.links: set[Link] = set()
        self.outage_until = 0.0  # monotonic
        self.latency_s = 0.0
        self._salt = os.urandom(3).hex().upper()
        self._counter = 0

    def new_wa_id(self) -> str:
        """Unique in this service's life and never reused, like WhatsApp's message ids."""
        self._counter += 1
        return f"3EB0{self._salt}{self._counter:010X}"

    def in_outage(self) -> bool:
        return time.monotonic() < self.outage_until

    def customer(self, phone: str, name: str | None = None) -> Customer:
        customer = self.customers.get(phone)
        if customer is None:
            customer = Customer(
                phone=phone,
                name=name or f"Cliente {phone[-4:]}",
                pn=pn_jid(phone),
                lid=lid_of(phone),
                by_lid=addressed_by_lid(phone),
            )
            self.customers[phone] = customer
            self.by_lid[customer.lid] = customer
        elif name:
            customer.name = name
        return customer

    def conversation(self, account: Account, customer: Customer) -> Conversation:
        conversation = account.conversations.get(customer.phone)
        if conversation is None:
            conversation = account.conversations[customer.phone] = Conversation()
        return conversation

    def remember(self, conversation: Conversation, message: Message) -> None:
        conversation.messages.append(message)
        self.messages[message.wa_id] = message
        limit = self.config.history_limit
        if len(conversation.messages) > limit:
            # Drop the oldest tenth at once, so a long burst does not pay per message.
            cut = max(1, limit // 10)
            for old in conversation.messages[:cut]:
                self.messages.pop(old.wa_id, None)
            del conversation.messages[:cut]

    def push(self, device: Device, item: Item) -> None:
        """Appends to the device's stream; delivered now if online, else at reconnection."""
        item["seq"] = device.next_seq
        device.next_seq += 1
        device.stream.append(item)
        if device.link is not None:
            device.link.wake.set()
