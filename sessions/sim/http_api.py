"""The simulated world's HTTP API: the business's phone, customers, faults and media."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal, TypeVar

from aiohttp import WSCloseCode, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sessions.sim import linking, traffic
from sessions.sim.device_socket import WORLD, close_all
from sessions.sim.protocol import PHONE, from_ts, iso, user_of
from sessions.sim.state import Customer, World
from zapdesk.errors import Conflict, NotFound, ValidationFailed

routes = web.RouteTableDef()
Body = TypeVar("Body", bound=BaseModel)
BURST_YIELD_EVERY = 500  # messages generated between two turns of the event loop


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScanBody(Input):
    code: str = Field(min_length=1, max_length=1000)
    name: str | None = Field(None, max_length=100, description="The business's WhatsApp name.")


class PairCodeBody(Input):
    code: str = Field(min_length=8, max_length=12)


class CustomerMessageBody(Input):
    to: str = Field(description="The business number, digits only.")
    kind: Literal["text", "image", "document", "voice", "audio", "video", "sticker"] = "text"
    text: str = Field("", max_length=65536)
    mime: str | None = None
    filename: str | None = None
    data_b64: str | None = None
    caption: str | None = None
    duration_s: int | None = None
    quoted: str | None = None
    name: str | None = Field(None, max_length=100, description="The customer's push name.")


class PhoneMessageBody(Input):
    to: str = Field(description="The customer's number, digits only.")
    text: str = Field(min_length=1, max_length=65536)


class ReadBody(Input):
    wa_ids: list[str] = Field(min_length=1)


class TypingBody(Input):
    to: str
    state: Literal["typing", "recording", "paused"]


class ReactionBody(Input):
    wa_id: str
    emoji: str = Field(max_length=32)


class EditBody(Input):
    text: str = Field(min_length=1, max_length=65536)


class BurstBody(Input):
    to: str | list[str]
    count: int = Field(ge=1, le=2_000_000)
    customers: int = Field(1, ge=1, le=100_000)


class PhoneBody(Input):
    phone: str


class OutageBody(Input):
    seconds: float = Field(gt=0, le=3600)


class LatencyBody(Input):
    ms: float = Field(ge=0, le=60_000)


async def parse(request: web.Request, model: type[Body]) -> Body:
    try:
        raw = await request.read()
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        fields = {".".join(map(str, e["loc"])) or "body": e["msg"] for e in exc.errors()}
        raise ValidationFailed(details={"fields": fields}) from None


def phone_of(value: str) -> str:
    digits = user_of(value.strip().lstrip("+"))
    if not PHONE.match(digits):
        raise ValidationFailed(f"{value!r} is not a phone number (international, digits only).")
    return digits


def _world(request: web.Request) -> World:
    return request.app[WORLD]


def _customer(request: web.Request) -> Customer:
    return _world(request).customer(phone_of(request.match_info["phone"]))


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


# The business's phone.


@routes.get("/phones")
async def list_phones(request: web.Request) -> web.Response:
    world = _world(request)
    phones = [
        {
            "phone": account.phone,
            "name": account.name,
            "linked": account.device is not None,
            "online": account.device is not None and account.device.link is not None,
        }
        for account in world.accounts.values()
    ]
    return web.json_response({"phones": phones})


@routes.get("/devices/pending")
async def pending_devices(request: web.Request) -> web.Response:
    """Devices showing a QR code right now: what a phone's camera could scan."""
    pending = [
        {"code": code, "index": login.index, "expires_at": iso(from_ts(login.expires_at))}
        for code, login in _world(request).logins.items()
    ]
    return web.json_response({"devices": pending})


@routes.post("/phones/{phone}/scan")
async def scan(request: web.Request) -> web.Response:
    body = await parse(request, ScanBody)
    device = linking.scan(
        _world(request), phone_of(request.match_info["phone"]), body.code, body.name
    )
    return web.json_response({"phone": device.phone, "jid": device.jid})


@routes.post("/phones/{phone}/pair-code")
async def pair_code(request: web.Request) -> web.Response:
    body = await parse(request, PairCodeBody)
    device = linking.pair_with_code(
        _world(request), phone_of(request.match_info["phone"]), body.code
    )
    return web.json_response({"phone": device.phone, "jid": device.jid})


@routes.post("/phones/{phone}/unlink")
async def unlink(request: web.Request) -> web.Response:
    linking.unlink_phone(
        _world(request), phone_of(request.match_info["phone"]), "unlinked_on_phone"
    )
    return web.json_response({"unlinked": True})


@routes.post("/phones/{phone}/messages")
async def phone_message(request: web.Request) -> web.Response:
    world = _world(request)
    body = await parse(request, PhoneMessageBody)
    business = traffic.account(world, phone_of(request.match_info["phone"]))
    message = traffic.phone_message(world, business, world.customer(phone_of(body.to)), body.text)
    return web.json_response({"wa_id": message.wa_id}, status=201)


# Customers.


@routes.post("/customers/burst")
async def burst(request: web.Request) -> web.Response:
    """Many customers writing at once, as fast as the service can make messages."""
    world = _world(request)
    body = await parse(request, BurstBody)
    targets = [body.to] if isinstance(body.to, str) else body.to
    businesses = [traffic.account(world, phone_of(target)) for target in targets]
    customers = [world.customer(f"5599{number:09d}") for number in range(1, body.customers + 1)]
    started = time.perf_counter()
    for n in range(body.count):
        customer = customers[n % len(customers)]
        business = businesses[n % len(businesses)]
        traffic.customer_message(world, customer, business, text=f"burst {n + 1}")
        if n % BURST_YIELD_EVERY == BURST_YIELD_EVERY - 1:
            await asyncio.sleep(0)  # let the writers put batches on the wire meanwhile
    seconds = time.perf_counter() - started
    return web.json_response(
        {
            "count": body.count,
            "customers": len(customers),
            "seconds": round(seconds, 4),
            "per_s": round(body.count / seconds) if seconds else None,
        }
    )


@routes.post("/customers/{phone}/messages")
async def customer_message(request: web.Request) -> web.Response:
    world = _world(request)
    body = await parse(request, CustomerMessageBody)
    business = traffic.account(world, phone_of(body.to))
    customer = world.customer(phone_of(request.match_info["phone"]), body.name)
    media: dict[str, Any] | None = None
    text = body.text
    if body.kind != "text":
        if body.data_b64 is None or body.mime is None:
            raise ValidationFailed(f"A {body.kind} message needs mime and data_b64.")
        media = traffic.store_media(world, body.data_b64, body.mime, body.filename)
        media["duration_s"] = body.duration_s
        text = body.caption or ""
    elif not text:
        raise ValidationFailed("A text message needs text.")
    message = traffic.customer_message(
        world, customer, business, kind=body.kind, text=text, media=media, quoted=body.quoted
    )
    return web.json_response(
        {"wa_id": message.wa_id, "chat": customer.jid, "status": message.status}, status=201
    )


@routes.get("/customers/{phone}/messages")
async def customer_messages(request: web.Request) -> web.Response:
    to = request.query.get("to")
    view = traffic.customer_view(_world(request), _customer(request), phone_of(to) if to else None)
    return web.json_response(view)


@routes.post("/customers/{phone}/read")
async def customer_read(request: web.Request) -> web.Response:
    body = await parse(request, ReadBody)
    count = traffic.customer_read(_world(request), _customer(request), body.wa_ids)
    return web.json_response({"read": count})


@routes.post("/customers/{phone}/typing")
async def customer_typing(request: web.Request) -> web.Response:
    world = _world(request)
    body = await parse(request, TypingBody)
    business = traffic.account(world, phone_of(body.to))
    traffic.customer_typing(world, _customer(request), business, body.state)
    return web.json_response({"state": body.state})


@routes.post("/customers/{phone}/reactions")
async def customer_react(request: web.Request) -> web.Response:
    body = await parse(request, ReactionBody)
    traffic.customer_react(_world(request), _customer(request), body.wa_id, body.emoji)
    return web.json_response({"emoji": body.emoji})


@routes.post("/customers/{phone}/messages/{wa_id}/revoke")
async def customer_revoke(request: web.Request) -> web.Response:
    traffic.customer_revoke(_world(request), _customer(request), request.match_info["wa_id"])
    return web.json_response({"revoked": True})


@routes.post("/customers/{phone}/messages/{wa_id}/edit")
async def customer_edit(request: web.Request) -> web.Response:
    body = await parse(request, EditBody)
    wa_id = request.match_info["wa_id"]
    traffic.customer_edit(_world(request), _customer(request), wa_id, body.text)
    return web.json_response({"edited": True})


@routes.get("/media/{sha256}")
async def media(request: web.Request) -> web.Response:
    blob = _world(request).media.get(request.match_info["sha256"])
    if blob is None:
        raise NotFound("No such file.")
    headers = {}
    if blob.filename:
        headers["Content-Disposition"] = f'attachment; filename="{blob.filename}"'
    return web.Response(body=blob.data, content_type=blob.mime, headers=headers)


# Faults.


@routes.post("/faults/drop")
async def drop(request: web.Request) -> web.Response:
    world = _world(request)
    body = await parse(request, PhoneBody)
    device = traffic.account(world, phone_of(body.phone)).device
    if device is None or device.link is None:
        raise Conflict("That number's device is not connected.")
    device.link.close(WSCloseCode.GOING_AWAY)
    return web.json_response({"dropped": True})


@routes.post("/faults/logout")
async def logout(request: web.Request) -> web.Response:
    body = await parse(request, PhoneBody)
    linking.unlink_phone(_world(request), phone_of(body.phone), "logged_out_by_server")
    return web.json_response({"logged_out": True})


@routes.post("/faults/outage")
async def outage(request: web.Request) -> web.Response:
    world = _world(request)
    body = await parse(request, OutageBody)
    world.outage_until = time.monotonic() + body.seconds
    close_all(world)
    return web.json_response({"seconds": body.seconds})


@routes.post("/faults/latency")
async def latency(request: web.Request) -> web.Response:
    body = await parse(request, LatencyBody)
    _world(request).latency_s = body.ms / 1000
    return web.json_response({"ms": body.ms})
