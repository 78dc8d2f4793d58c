"""The composer's quick replies in a real browser: "/" opens them, what follows narrows them,
Enter puts the chosen one in with {nome} and {atendente} filled, and the customer gets it."""

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
    await page.goto("/numbers")
    await sign_in(page)
    await link_number(page, product, "Loja")
    await product.sim_post(
        f"/customers/{CUSTOMER}/messages",
        {"to": BUSINESS, "text": "Quando chega meu pedido?", "name": "Carla Souza"},
    )
    await page.get_by_role("link", name="Atendimento", exact=True).click()
    await page.get_by_role("tab", name="Fila").click()
    await page.locator("[data-conversation]").filter(has_text="Carla").click()
    chat = page.get_by_test_id("chat")
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
