"""The chat in a real browser: "/" opens the quick replies, what follows narrows them,
Enter puts the chosen one in with {nome} and {atendente} filled, and the customer gets it; and
a conversation snoozed (Adiar) waits pending until the customer answers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser_world import (
    BUSINESS,
    CUSTOMER,
    Product,
    admin_call,
    browser,
    eventually,
    from_business,
    link_number,
    page,
    product,
    screenshots,
    sign_in,
)

__all__ = ["browser", "page", "product"]  # fixtures

pytestmark = pytest.mark.timeout(120)


async def carla_writes(page: Any, product: Product, text: str, name: str) -> Any:
    """The admin links the number, Carla writes, and the admin opens her conversation."""
    await page.goto("/numbers")
    await sign_in(page)
    await link_number(page, product, "Loja")
    body = {"to": BUSINESS, "text": text, "name": name}
    await product.sim_post(f"/customers/{CUSTOMER}/messages", body)
    await page.get_by_role("link", name="Atendimento", exact=True).click()
    await page.get_by_role("tab", name="Fila").click()
    await page.locator("[data-conversation]").filter(has_text="Carla").click()
    return page.get_by_test_id("chat")


async def test_slash_picks_a_quick_reply_with_the_customer_s_name(
    page: Any, product: Product
) -> None:
    for shortcut, text in (
        ("prazo", "Olá, {nome}! Aqui é {atendente}. O prazo de entrega é de 3 dias úteis."),
        ("pix", "Nossa chave Pix é o CNPJ 12.345.678/0001-90."),
        ("horario", "Atendemos de segunda a sexta, das 8h às 18h."),
    ):
        status, body = await admin_call(
            product, "POST", "/quick-replies", {"shortcut": shortcut, "text": text}
        )
        assert status == 201, body
    status, me = await admin_call(product, "GET", "/auth/me")
    assert status == 200, me
    chat = await carla_writes(page, product, "Quando chega meu pedido?", "Carla Souza")
    composer = chat.get_by_role("textbox", name="Escreva uma mensagem")

    await composer.press_sequentially("/")
    picker = chat.get_by_role("listbox", name="Respostas rápidas")
    await picker.get_by_role("option").nth(2).wait_for()
    await composer.press_sequentially("pr")
    options = picker.get_by_role("option")
    await options.filter(has_text="/prazo").wait_for()
    assert await options.count() == 1
    await screenshots(page, "quick-picker")
    await composer.press("Enter")
    await picker.wait_for(state="detached")
    first = me["name"].split()[0]
    expected = f"Olá, Carla! Aqui é {first}. O prazo de entrega é de 3 dias úteis."
    assert await composer.input_value() == expected

    # Words of the text find one too; nothing found is said.
    await composer.press_sequentially(" /zzz")
    await chat.get_by_text("Nenhuma resposta rápida com esse atalho").wait_for()
    for _ in range(5):
        await composer.press("Backspace")
    await composer.press_sequentially(" /cnpj")
    await picker.get_by_role("option").filter(has_text="/pix").wait_for()
    await composer.press("Escape")
    await picker.wait_for(state="detached")
    assert await composer.input_value() == expected + " /cnpj"
    await composer.fill(expected)
    await composer.press("Enter")

    async def customer_got() -> bool:
        return expected in await from_business(product)

    assert await eventually(customer_got)
    # A quick reply written after the page opened is offered the next time the picker opens.
    status, body = await admin_call(
        product, "POST", "/quick-replies", {"shortcut": "troca", "text": "Trocas em 7 dias."}
    )
    assert status == 201, body
    await composer.press_sequentially("/tro")
    await picker.get_by_role("option").filter(has_text="/troca").wait_for()


async def test_snoozed_it_waits_pending_and_the_customer_s_answer_brings_it_back(
    page: Any, product: Product
) -> None:
    chat = await carla_writes(page, product, "Vou ver com meu marido e te aviso", "Carla")
    where = chat.get_by_test_id("chat-where")
    await chat.get_by_role("button", name="Assumir").click()
    await where.get_by_text("com você").wait_for()
    await chat.get_by_role("button", name="Adiar").click()
    dialog = page.get_by_role("dialog", name="Adiar conversa")
    await dialog.get_by_role("button", name="Amanhã às 9h").click()
    assert (await dialog.get_by_label("Até").input_value()).endswith("T09:00")
    await dialog.get_by_role("button", name="Adiar").click()
    await dialog.wait_for(state="detached")
    await where.get_by_text("Pendente").wait_for()
    await where.get_by_text("adiada até").wait_for()
    await screenshots(page, "snoozed")

    await product.sim_post(
        f"/customers/{CUSTOMER}/messages", {"to": BUSINESS, "text": "Pode mandar, vamos fechar!"}
    )
    await where.get_by_text("Aberta").wait_for()
    await where.get_by_text("com você").wait_for()
    assert await where.get_by_text("adiada até").count() == 0
