"""The SLA in a real browser: the admin gives Atendimento first- and next-answer targets in its
editor; Carla writes and her row in the queue shows the time left; once answered the clock stops;
her next message waits past its target: the row turns red, the chat's history says so and the
admin's bell rings. Screenshots, like the other browser tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser_world import (
    CUSTOMER,
    Product,
    admin_call,
    browser,
    link_number,
    page,
    product,
    screenshots,
    sign_in,
)
from tests.test_browser_csat import writes

__all__ = ["browser", "page", "product"]  # fixtures

pytestmark = pytest.mark.timeout(120)


async def test_the_inbox_shows_the_time_left_and_a_missed_target_rings_the_bell(
    page: Any, product: Product
) -> None:
    await page.goto("/numbers")
    await sign_in(page)
    await link_number(page, product, "Loja")
    await page.get_by_role("link", name="Departamentos").click()
    await page.get_by_role("button", name="Editar Atendimento").click()
    dialog = page.get_by_role("dialog", name="Editar Atendimento")
    await dialog.get_by_label("Primeira resposta em até (minutos)").fill("30")
    await dialog.get_by_label("Próximas respostas em até (minutos)").fill("0,1")  # 6 s
    await dialog.get_by_role("button", name="Salvar").click()
    await page.get_by_role("status").filter(has_text="Departamento Atendimento salvo.").wait_for()
    _, saved = await admin_call(product, "GET", "/departments")
    [atendimento] = [d for d in saved["items"] if d["name"] == "Atendimento"]
    assert (atendimento["sla_first_s"], atendimento["sla_next_s"]) == (1800, 6)

    # Carla waits for a first answer: her row in the queue says how long is left.
    await writes(product, CUSTOMER, "Oi, meu pedido não chegou", "Carla")
    await page.get_by_role("link", name="Atendimento", exact=True).click()
    await page.get_by_role("tab", name="Fila").click()
    row = page.locator("[data-conversation]").filter(has_text="Carla")
    await row.locator('[data-sla="running"]').filter(has_text="SLA 29 min").wait_for()
    await screenshots(page, "sla-running")

    # Answered: the clock stops (the conversation is the admin's now).
    await row.click()
    chat = page.get_by_test_id("chat")
    composer = chat.get_by_role("textbox", name="Escreva uma mensagem")
    await composer.fill("Oi Carla! Vou verificar.")
    await composer.press("Enter")
    await page.get_by_role("tab", name="Meus").click()
    await row.wait_for()
    await row.locator("[data-sla]").wait_for(state="detached")

    # She writes again and nobody answers within 6 s: late, in red, and the admin's bell rings.
    await writes(product, CUSTOMER, "E então?")
    await row.locator("[data-sla]").wait_for()
    await (
        row.locator('[data-sla="breached"]')
        .filter(has_text="SLA estourado")
        .wait_for(timeout=30_000)
    )
    await (
        chat.locator(".system-line")
        .filter(has_text="A resposta ao cliente passou do prazo (SLA)")
        .wait_for()
    )
    await page.get_by_test_id("bell-count").wait_for()  # at risk first, unless its timer ran late
    await page.get_by_test_id("bell").click()
    await page.locator(".bell__item").filter(has_text="SLA estourado: Carla").wait_for()
    await screenshots(page, "sla-breached")
