"""The SLA in a real browser: the admin gives Atendimento a first-response target in its editor;
Carla writes; her row in the queue turns red once the target is missed, and the chat's history
says so; once answered, her next message shows the next answer's time left. Screenshots, like
the other browser tests."""

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


async def test_the_queue_shows_the_time_left_and_a_missed_target(
    page: Any, product: Product
) -> None:
    await page.goto("/numbers")
    await sign_in(page)
    await link_number(page, product, "Loja")
    await page.get_by_role("link", name="Departamentos").click()
    await page.get_by_role("button", name="Editar Atendimento").click()
    dialog = page.get_by_role("dialog", name="Editar Atendimento")
    await dialog.get_by_label("Primeira resposta em até (minutos)").fill("0,1")  # 6 s
    await dialog.get_by_label("Próximas respostas em até (minutos)").fill("30")
    await dialog.get_by_role("button", name="Salvar").click()
    await page.get_by_role("status").filter(has_text="Departamento Atendimento salvo.").wait_for()
    _, saved = await admin_call(product, "GET", "/departments")
    [atendimento] = [d for d in saved["items"] if d["name"] == "Atendimento"]
    assert (atendimento["sla_first_s"], atendimento["sla_next_s"]) == (6, 1800)

    await writes(product, CUSTOMER, "Oi, meu pedido não chegou", "Carla")
    await page.get_by_role("link", name="Atendimento", exact=True).click()
    await page.get_by_role("tab", name="Fila").click()
    row = page.locator("[data-conversation]").filter(has_text="Carla")
    await row.locator("[data-sla]").wait_for()
    late = row.locator('[data-sla="breached"]')
    await late.filter(has_text="SLA estourado").wait_for(timeout=30_000)
    await screenshots(page, "sla-breached")
    await row.click()
    chat = page.get_by_test_id("chat")
    await (
        chat.locator(".system-line")
        .filter(has_text="A primeira resposta passou do prazo (SLA)")
        .wait_for()
    )
    # The answer stops the clock; her next message starts the next one (30 minutes).
    composer = chat.get_by_role("textbox", name="Escreva uma mensagem")
    await composer.fill("Oi Carla! Vou verificar.")
    await composer.press("Enter")
    await page.get_by_role("tab", name="Meus").click()  # answered: the admin's now
    await row.wait_for()
    await row.locator("[data-sla]").wait_for(state="detached")
    await writes(product, CUSTOMER, "Obrigada, aguardo")
    await row.locator('[data-sla="running"]').filter(has_text="SLA 29 min").wait_for()
    await screenshots(page, "sla-running")
