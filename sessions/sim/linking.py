"""Linking devices to business numbers: QR login windows, pairing codes, restore, unlink.

Like WhatsApp: an unpaired device is offered rotating QR codes (the first longer, then shorter
ones, a handful in all, then a timeout closes the window); the business's phone scans one, or
types a pairing code the device asked for, and the device receives its credentials. A number
has one linked device here: linking another one unlinks the first.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import structlog
from aiohttp import WSCloseCode

from sessions.sim.protocol import from_ts, iso, lid_of, new_pair_code, new_qr_code, user_of
from sessions.sim.state import Account, Device, Link, PendingLogin, World
from sessions.sim.traffic import acknowledge
from zapdesk.errors import Conflict, NotFound

log = structlog.get_logger("zapdesk.sim")


def frame(**fields: Any) -> str:
    return json.dumps(fields, separators=(",", ":"))


def start_login(world: World, link: Link) -> PendingLogin:
    pending = PendingLogin(link=link, ref=secrets.token_urlsafe(12))
    link.pending = pending
    pending.task = asyncio.create_task(offer_codes(world, pending), name="sim-login-window")
    return pending


async def offer_codes(world: World, pending: PendingLogin) -> None:
    config = world.config
    for index in range(1, config.qr_count + 1):
        validity = config.qr_first_s if index == 1 else config.qr_next_s
        if pending.code is not None:
            world.logins.pop(pending.code, None)
        pending.code = new_qr_code(pending.ref)
        pending.index = index
        pending.expires_at = time.time() + validity
        world.logins[pending.code] = pending
        pending.link.send(
            frame(
                type="qr",
                code=pending.code,
                index=index,
                expires_at=iso(from_ts(pending.expires_at)),
            )
        )
        await asyncio.sleep(validity)
    end_login(world, pending)
    log.info("sim_qr_timeout")
    pending.link.send(frame(type="qr_timeout"))
    pending.link.close(WSCloseCode.OK)


def end_login(world: World, pending: PendingLogin) -> None:
    """Closes the login window: its codes stop working. Idempotent."""
    if pending.code is not None:
        world.logins.pop(pending.code, None)
    if pending.pair_code is not None:
        world.pair_codes.pop(pending.pair_code, None)
    if pending.link.pending is pending:
        pending.link.pending = None
    task = pending.task
    if task is not None and task is not asyncio.current_task():
        task.cancel()


def window_ends_at(world: World, pending: PendingLogin) -> float:
    return pending.expires_at + (world.config.qr_count - pending.index) * world.config.qr_next_s


def issue_pair_code(world: World, link: Link, phone: str) -> dict[str, Any]:
    pending = link.pending
    if pending is None:
        raise Conflict("A pairing code can only be requested while QR codes are offered.")
    if pending.pair_code is not None:
        world.pair_codes.pop(pending.pair_code, None)
    code = new_pair_code()
    while code in world.pair_codes:
        code = new_pair_code()
    pending.pair_code, pending.pair_phone = code, phone
    world.pair_codes[code] = pending
    return {
        "code": code,
        "phone": phone,
        "expires_at": iso(from_ts(window_ends_at(world, pending))),
    }


def scan(world: World, phone: str, code: str, name: str | None) -> Device:
    pending = world.logins.get(code)
    if pending is None:
        raise NotFound("This QR code is not valid any more; scan the current one.")
    return _pair(world, pending, phone, name)


def pair_with_code(world: World, phone: str, code: str) -> Device:
    typed = code.strip().upper().replace("-", "").replace(" ", "")
    pending = world.pair_codes.get(f"{typed[:4]}-{typed[4:]}")
    if pending is None or pending.pair_phone != phone:
        raise NotFound("No device is waiting for this code on this number.")
    return _pair(world, pending, phone, None)


def _pair(world: World, pending: PendingLogin, phone: str, name: str | None) -> Device:
    end_login(world, pending)
    account = world.accounts.get(phone)
    if account is None:
        account = Account(phone=phone, name=name or f"Empresa {phone[-4:]}", lid=lid_of(phone))
        world.accounts[phone] = account
    elif name:
        account.name = name
    if account.device is not None:
        unlink(world, account.device, "replaced_by_new_device")
    account.linked_count += 1
    number = account.linked_count
    device = Device(
        device_id=secrets.token_hex(8),
        token=secrets.token_urlsafe(32),
        phone=phone,
        number=number,
        push_name=account.name,
        lid=f"{user_of(account.lid)}:{number}@lid",
    )
    world.devices[device.device_id] = device
    account.device = device
    link = pending.link
    link.send(
        frame(
            type="paired",
            device_id=device.device_id,
            token=device.token,
            phone=phone,
            jid=device.jid,
            lid=device.lid,
            push_name=device.push_name,
        )
    )
    attach(world, link, device, last_seq=0)
    log.info("sim_paired", phone=phone, device_id=device.device_id)
    return device


def restore(world: World, link: Link, device_id: str, token: str, last_seq: int) -> bool:
    device = world.devices.get(device_id)
    if device is None or not secrets.compare_digest(device.token, token):
        link.send(frame(type="logged_out", reason="unknown_device"))
        link.close(WSCloseCode.OK)
        return False
    attach(world, link, device, last_seq)
    return True


def attach(world: World, link: Link, device: Device, last_seq: int) -> None:
    """Binds an open socket to a device: connected, then the backlog after ``last_seq``."""
    old = device.link
    if old is not None and old is not link:
        old.device = None
        old.send(frame(type="replaced"))
        old.close(WSCloseCode.POLICY_VIOLATION)
    last_seq = min(last_seq, device.next_seq - 1)
    acknowledge(world, device, last_seq)
    device.link, link.device = link, device
    link.sent_upto = max(last_seq, device.base_seq - 1)
    link.send(
        frame(
            type="connected",
            phone=device.phone,
            jid=device.jid,
            lid=device.lid,
            push_name=device.push_name,
        )
    )


def unlink(world: World, device: Device, reason: str) -> None:
    """The device's credentials stop working; an open socket hears it and is closed."""
    world.devices.pop(device.device_id, None)
    account = world.accounts.get(device.phone)
    if account is not None and account.device is device:
        account.device = None
        account.available = False
    device.stream.clear()
    link = device.link
    device.link = None
    if link is not None:
        link.device = None
        link.send(frame(type="logged_out", reason=reason))
        link.close(WSCloseCode.OK)
    log.info("sim_unlinked", phone=device.phone, device_id=device.device_id, reason=reason)


def unlink_phone(world: World, phone: str, reason: str) -> None:
    account = world.accounts.get(phone)
    if account is None or account.device is None:
        raise NotFound("No device is linked to this number.")
    unlink(world, account.device, reason)


def detach(world: World, link: Link) -> None:
    """The socket closed: the device (if any) is offline and keeps its backlog."""
    if link.pending is not None:
        end_login(world, link.pending)
    device = link.device
    if device is not None and device.link is link:
        device.link = None
        account = world.accounts.get(device.phone)
        if account is not None:
            account.available = False
    link.device = None
    world.links.discard(link)
