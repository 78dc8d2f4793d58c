"""Messages between customers and businesses: delivery, receipts, typing, reactions, edits.

Customers are always online: what the desk sends is delivered at once (``delivered`` receipt)
and read when the customer says so. A customer's message is ``delivered`` when the business's
device acknowledges it, and ``read`` when the desk marks it read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections import defaultdict
from typing import Any

from sessions.sim.frames import SendRequest
from sessions.sim.protocol import LID_SERVER, PHONE, PN_SERVER, TYPING_TTL_S, pn_jid, user_of
from sessions.sim.state import Account, Blob, Customer, Device, Item, Message, World
from zapdesk.errors import BadRequest, NotFound, PayloadTooLarge, ValidationFailed

RESULTS_KEPT = 10_000  # client_ids remembered per device, for idempotent retries


def account(world: World, phone: str) -> Account:
    found = world.accounts.get(phone)
    if found is None:
        raise NotFound(f"No device was ever linked to {phone}; scan a QR code with it first.")
    return found


def recipient(world: World, jid: str) -> Customer:
    """The customer a JID names, by phone JID or by @lid."""
    user, _, server = jid.partition("@")
    user = user_of(jid)
    if server == PN_SERVER and PHONE.match(user):
        return world.customer(user)
    if server == LID_SERVER and jid in world.by_lid:
        return world.by_lid[jid]
    raise NotFound(f"{jid} is not on WhatsApp.")


def store_media(world: World, data_b64: str, mime: str, filename: str | None) -> dict[str, Any]:
    try:
        data = base64.b64decode(data_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("data_b64 is not valid base64.") from None
    if len(data) > world.config.max_media_bytes:
        raise PayloadTooLarge("The file is too large.")
    sha = hashlib.sha256(data).hexdigest()
    world.media[sha] = Blob(mime=mime, filename=filename, data=data)
    return {"id": sha, "mime": mime, "size": len(data), "filename": filename, "sha256": sha}


def customer_item(customer: Customer, message: Message) -> Item:
    item: Item = {
        "t": "msg",
        "id": message.wa_id,
        "chat": customer.jid,
        "alt": customer.alt,
        "sender": customer.jid,
        "from_me": False,
        "name": customer.name,
        "ts": message.ts,
        "kind": message.kind,
        "text": message.text,
    }
    if message.media is not None:
        item["media"] = message.media
    if message.quoted is not None:
        item["quoted"] = message.quoted
    return item


def customer_message(
    world: World,
    customer: Customer,
    business: Account,
    *,
    kind: str = "text",
    text: str = "",
    media: dict[str, Any] | None = None,
    quoted: str | None = None,
) -> Message:
    message = Message(
        wa_id=world.new_wa_id(),
        business=business.phone,
        customer=customer.phone,
        from_customer=True,
        kind=kind,
        text=text,
        ts=time.time(),
        media=media,
        quoted=_quote(world, quoted),
    )
    world.remember(world.conversation(business, customer), message)
    if business.device is not None:
        world.push(business.device, customer_item(customer, message))
    return message


def _quote(world: World, wa_id: str | None) -> dict[str, Any] | None:
    if wa_id is None:
        return None
    quoted = world.messages.get(wa_id)
    if quoted is None:
        return {"id": wa_id}
    sender = pn_jid(quoted.customer if quoted.from_customer else quoted.business)
    return {"id": wa_id, "sender": sender, "text": quoted.text}


def acknowledge(world: World, device: Device, seq: int) -> None:
    """The device processed the stream up to ``seq``: customers' messages are delivered."""
    for item in device.trim(seq):
        if item["t"] == "msg" and not item["from_me"]:
            message = world.messages.get(item["id"])
            if message is not None and message.status == "sent":
                message.status = "delivered"


def desk_send(world: World, device: Device, request: SendRequest) -> Item:
    """Sends for the desk; a repeated client_id answers the first result and sends nothing."""
    earlier = device.results.get(request.client_id)
    if earlier is not None:
        return earlier
    customer = recipient(world, request.to)
    business = account(world, device.phone)
    result: Item = {"wa_id": world.new_wa_id(), "ts": time.time()}
    result.update(chat=customer.jid, alt=customer.alt)
    if request.kind == "reaction":
        _desk_reaction(world, customer, request)
    else:
        message = _desk_message(world, business, customer, request, result)
        if message.media is not None:
            result["media"] = message.media
        world.push(
            device,
            {
                "t": "receipt",
                "ids": [message.wa_id],
                "chat": customer.jid,
                "status": "delivered",
                "ts": message.ts,
            },
        )
    device.results[request.client_id] = result
    if len(device.results) > RESULTS_KEPT:
        del device.results[next(iter(device.results))]
    return result


def _desk_reaction(world: World, customer: Customer, request: SendRequest) -> None:
    if request.reaction is None:
        raise ValidationFailed("A reaction needs reaction.wa_id and reaction.emoji.")
    target = world.messages.get(request.reaction.wa_id)
    if target is None or target.customer != customer.phone:
        raise NotFound("The message reacted to is not in this chat.")
    if request.reaction.emoji:
        target.reactions["business"] = request.reaction.emoji
    else:
        target.reactions.pop("business", None)


def _desk_message(
    world: World, business: Account, customer: Customer, request: SendRequest, result: Item
) -> Message:
    media: dict[str, Any] | None = None
    text = request.text
    if request.kind != "text":
        if request.media is None:
            raise ValidationFailed(f"A {request.kind} message needs media.")
        file = request.media
        media = store_media(world, file.data_b64, file.mime, file.filename)
        media["duration_s"] = file.duration_s
        text = file.caption or ""
    elif not text:
        raise ValidationFailed("A text message needs text.")
    message = Message(
        wa_id=result["wa_id"],
        business=business.phone,
        customer=customer.phone,
        from_customer=False,
        kind=request.kind,
        text=text,
        ts=result["ts"],
        status="delivered",  # the customer's phone is always online
        media=media,
        quoted=_quote(world, request.quoted.wa_id if request.quoted else None),
        client_id=request.client_id,
    )
    conversation = world.conversation(business, customer)
    conversation.desk_typing = None  # sending ends "typing…", as on WhatsApp
    world.remember(conversation, message)
    return message


def desk_read(world: World, device: Device, chat: str, wa_ids: list[str]) -> None:
    customer = recipient(world, chat)
    for wa_id in wa_ids:
        message = world.messages.get(wa_id)
        if (
            message is not None
            and message.from_customer
            and message.customer == customer.phone
            and message.business == device.phone
        ):
            message.status = "read"


def desk_typing(world: World, device: Device, chat: str, state: str) -> None:
    conversation = world.conversation(account(world, device.phone), recipient(world, chat))
    conversation.desk_typing = None if state == "paused" else state
    conversation.desk_typing_at = time.monotonic()


def customer_read(world: World, customer: Customer, wa_ids: list[str]) -> int:
    """Read receipts (and ``played`` for voice notes) for what the desk sent this customer."""
    read: dict[str, list[str]] = defaultdict(list)
    played: dict[str, list[str]] = defaultdict(list)
    for wa_id in wa_ids:
        message = world.messages.get(wa_id)
        if message is None or message.from_customer or message.customer != customer.phone:
            continue
        if message.status in {"read", "played"}:
            continue
        read[message.business].append(wa_id)
        message.status = "read"
        if message.kind == "voice":
            played[message.business].append(wa_id)
            message.status = "played"
    now = time.time()
    for status, by_business in (("read", read), ("played", played)):
        for phone, ids in by_business.items():
            device = world.accounts[phone].device
            if device is not None:
                item = {"t": "receipt", "ids": ids, "chat": customer.jid, "status": status}
                world.push(device, {**item, "ts": now})
    return sum(len(ids) for ids in read.values())


def customer_typing(world: World, customer: Customer, business: Account, state: str) -> None:
    """Presence is not queued: a device that is offline simply does not see it."""
    device = business.device
    if device is not None and device.link is not None:
        item = {"t": "presence", "chat": customer.jid, "sender": customer.jid, "state": state}
        world.push(device, item)


def own_message(world: World, customer: Customer, wa_id: str) -> Message:
    message = world.messages.get(wa_id)
    if message is None or message.customer != customer.phone:
        raise NotFound("No such message in this customer's chats.")
    return message


def customer_react(world: World, customer: Customer, wa_id: str, emoji: str) -> None:
    message = own_message(world, customer, wa_id)
    if emoji:
        message.reactions["customer"] = emoji
    else:
        message.reactions.pop("customer", None)
    device = world.accounts[message.business].device
    if device is not None:
        item = {"t": "reaction", "id": wa_id, "chat": customer.jid, "alt": customer.alt}
        world.push(device, {**item, "sender": customer.jid, "from_me": False, "emoji": emoji})


def customer_revoke(world: World, customer: Customer, wa_id: str) -> None:
    message = own_message(world, customer, wa_id)
    if not message.from_customer:
        raise BadRequest("A customer can only delete for everyone what they sent.")
    message.revoked = True
    device = world.accounts[message.business].device
    if device is not None:
        world.push(device, {"t": "revoke", "id": wa_id, "chat": customer.jid, "from_me": False})


def customer_edit(world: World, customer: Customer, wa_id: str, text: str) -> None:
    message = own_message(world, customer, wa_id)
    if not message.from_customer or message.kind != "text" or message.revoked:
        raise BadRequest("Only a text the customer sent (and did not delete) can be edited.")
    message.text, message.edited = text, True
    device = world.accounts[message.business].device
    if device is not None:
        item = {"t": "edit", "id": wa_id, "chat": customer.jid, "text": text}
        world.push(device, {**item, "ts": time.time()})


def phone_message(world: World, business: Account, customer: Customer, text: str) -> Message:
    """A message typed on the business's phone itself: the device sees it as its own."""
    message = Message(
        wa_id=world.new_wa_id(),
        business=business.phone,
        customer=customer.phone,
        from_customer=False,
        kind="text",
        text=text,
        ts=time.time(),
        status="delivered",
    )
    world.remember(world.conversation(business, customer), message)
    if business.device is not None:
        item = customer_item(customer, message)
        item.update(sender=pn_jid(business.phone), from_me=True, name=business.name)
        world.push(business.device, item)
    return message


def customer_view(world: World, customer: Customer, business: str | None) -> dict[str, Any]:
    """The customer's chats as their phone shows them."""
    now = time.monotonic()
    chats: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for phone, found in world.accounts.items():
        if business is not None and phone != business:
            continue
        conversation = found.conversations.get(customer.phone)
        if conversation is None:
            continue
        typing = conversation.desk_typing
        if typing is not None and now - conversation.desk_typing_at > TYPING_TTL_S:
            typing = None
        chats.append(
            {
                "business": phone,
                "name": found.name,
                "online": found.available and found.device is not None,
                "typing": typing,
            }
        )
        messages.extend(message.public() for message in conversation.messages)
    return {
        "customer": {
            "phone": customer.phone,
            "name": customer.name,
            "pn": customer.pn,
            "lid": customer.lid,
            "addressed_as": customer.jid,
        },
        "chats": chats,
        "messages": sorted(messages, key=lambda message: float(message["ts"])),
    }
