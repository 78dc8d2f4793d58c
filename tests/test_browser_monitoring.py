"""The Monitoring panel in a real browser, against the real product (sim, gateway, core).

An admin watches a linked number: *conectado*, its messages in and out after a customer
writes and the attendant replies, one session host at the gateway; the sim drops every
connection, the card shows *reconectando*, then *conectado* with one reconnect. An attendant
has no Monitoring link and the address answers a "no permission" page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from core import keys
from core.storage.models import Conversation
from tests.browser_world import (
    ADMIN_PASSWORD,
    BUSINESS,
    CUSTOMER,
    Product,
    admin_call,
    browser,
    eventually,
    new_page,
    page,
    product,
    screenshots,
    sign_in,
)

__all__ = ["browser", "page", "product"]  # fixtures

pytestmark = pytest.mark.timeout(120)


async def shows(block: Any, figure: str, value: str) -> None:
    """Waits until ``block`` shows exactly ``value`` for ``figure`` (it refreshes by itself)."""
    exact = re.compile(rf"^\s*{re.escape(value)}\s*$")
    await block.locator(f'[data-figure="{figure}"] dd').filter(has_text=exact).wait_for()


async def link_number(product: Product, name: str) -> None:
    """Links a number as the Numbers page does: create it, scan its QR with the sim's phone."""
    status, channel = await admin_call(product, "POST", "/channels", {"name": name})
    assert status == 201, channel

    async def qr_code() -> Any:
        status, qr = await admin_call(product, "GET", f"/channels/{channel['id']}/qr")
        return qr["code"] if status == 200 else None

    code = await eventually(qr_code)
    await product.sim_post(f"/phones/{BUSINESS}/scan", {"code": code, "name": name})

    async def connected() -> bool:
        _, listed = await admin_call(product, "GET", "/channels")
        return any(c["status"] == "connected" for c in listed["items"])

    await eventually(connected)


async def test_an_admin_watches_a_number_ride_out_a_dropped_connection(
    page: Any, product: Product
) -> None:
    await link_number(product, "Loja")
    await page.goto("/monitoring")
    await sign_in(page)
    await page.get_by_role("heading", name="Monitoramento").wait_for()
    card = page.get_by_role("article", name="Loja")
    badge = card.locator(".badge")
    await badge.filter(has_text="conectado").wait_for()
    gateway = page.get_by_role("article", name="Gateway")
    await shows(gateway, "hosts", "1")
    await shows(card, "reconnects", "0")

    # A customer writes and the attendant replies: the counts follow without a reload.
    await product.sim_post(
        f"/customers/{CUSTOMER}/messages", {"to": BUSINESS, "text": "Oi!", "name": "Ana"}
    )

    async def conversation_id() -> int | None:
        async with product.core.app[keys.SESSIONS]() as db:
            return await db.scalar(select(Conversation.id))

    await product.send_as_admin(await eventually(conversation_id), "Olá, Ana!")
    await shows(card, "in", "1")
    await shows(card, "out", "1")
    core = page.get_by_role("article", name="Servidor (core)")
    await shows(core, "sockets", "1")
    await screenshots(page, "monitoring")

    # Every connection drops for a while: reconnecting, then connected with one reconnect.
    await product.sim_post("/faults/outage", {"seconds": 3})
    await badge.filter(has_text="reconectando").wait_for()
    await card.locator(".monitoring-changes li", has_text="reconectando").first.wait_for()
    await badge.filter(has_text="conectado").wait_for(timeout=30_000)
    await shows(card, "reconnects", "1")

    # The same page in English and dark, at a phone's width.
    await page.emulate_media(color_scheme="dark")
    await page.get_by_role("button", name="English").click()
    await page.get_by_role("heading", name="Monitoring").wait_for()
    await card.locator(".badge").filter(has_text="connected").wait_for()
    await screenshots(page, "monitoring-en-dark")


async def test_an_attendant_has_no_monitoring(browser: Any, product: Product) -> None:
    await product.add_user("attendant", "atendente@empresa.com.br")
    page = await new_page(browser, product)
    try:
        await page.goto("/inbox")
        await sign_in(page, "atendente@empresa.com.br", ADMIN_PASSWORD)
        await page.get_by_role("link", name="Atendimento").wait_for()
        assert await page.get_by_role("link", name="Monitoramento").count() == 0
        await page.goto("/monitoring")
        await page.get_by_role("heading", name="Sem permissão").wait_for()
        await page.get_by_text("Só administradores podem ver o monitoramento.").wait_for()
        assert await page.locator(".monitoring-card").count() == 0
        await screenshots(page, "monitoring-forbidden")
    finally:
        await page.context.close()
