"""Resolving in a real browser against the real product: the admin sets Atendimento's closing
message (and an auto-close time) in its editor; the conversation with Carla is resolved; her
phone gets the closing message and the satisfaction question, she answers "5" and then "Muito
bom!", and the chat shows five stars and her comment. Duda, in a second conversation, answers
"obrigado" instead: the conversation is back in the queue (the reopen rule), and resolving it
again does not ask a second time. Screenshots, like the other browser tests."""

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

DUDA = "5511977776666"
CLOSING = "Obrigado pelo contato! Até a próxima. 👋"
QUESTION = "Como você avalia o nosso atendimento? Responda de 1 a 5."
THANKS = "Obrigado pela avaliação! Se quiser, conte numa mensagem o que achou."


async def writes(product: Product, customer: str, text: str, name: str | None = None) -> None:
    body = {"to": BUSINESS, "text": text, **({"name": name} if name else {})}
    await product.sim_post(f"/customers/{customer}/messages", body)


async def got(product: Product, customer: str, text: str, times: int = 1) -> bool:
    return (await from_business(product, customer)).count(text) == times


async def set_closing_message(page: Any, product: Product) -> None:
    await page.get_by_role("link", name="Departamentos").click()
    await page.get_by_role("button", name="Editar Atendimento").click()
    dialog = page.get_by_role("dialog", name="Editar Atendimento")
    await dialog.get_by_label("Mensagem de encerramento").fill(CLOSING)
    assert await dialog.get_by_role("checkbox", name="Pedir ao cliente uma avaliação").is_checked()
    assert await dialog.get_by_label("Pergunta da avaliação").input_value() == QUESTION
    await screenshots(page, "department-resolving")
    await dialog.get_by_label("Encerrar sem resposta do cliente após (minutos)").fill("90")
    await dialog.get_by_label("Mensagem ao encerrar sem resposta").wait_for()
    await dialog.get_by_role("button", name="Salvar").click()
    await page.get_by_role("status").filter(has_text="Departamento Atendimento salvo.").wait_for()
    status, saved = await admin_call(product, "GET", "/departments")
    assert status == 200, saved
    [atendimento] = [d for d in saved["items"] if d["name"] == "Atendimento"]
    assert (atendimento["closing_message"], atendimento["auto_close_s"]) == (CLOSING, 5400)


async def open_and_resolve(page: Any, name: str) -> Any:
    await page.get_by_role("link", name="Atendimento", exact=True).click()
    await page.get_by_role("tab", name="Fila").click()
    await page.locator("[data-conversation]").filter(has_text=name).click()
    chat = page.get_by_test_id("chat")
    await chat.get_by_role("heading", name=name).wait_for()
    await chat.get_by_role("button", name="Resolver").click()
    await chat.get_by_test_id("chat-where").get_by_text("Resolvida").wait_for()
    return chat


async def test_resolving_sends_the_survey_and_the_chat_shows_the_rating_and_comment(
    page: Any, product: Product
) -> None:
    await page.goto("/numbers")
    await sign_in(page)
    await link_number(page, product, "Loja")
    await set_closing_message(page, product)

    await writes(product, CUSTOMER, "Meu pedido chegou, obrigada!", "Carla")
    chat = await open_and_resolve(page, "Carla")
    assert await eventually(lambda: got(product, CUSTOMER, QUESTION))
    assert (await from_business(product, CUSTOMER))[-2:] == [CLOSING, QUESTION]
    csat = chat.get_by_test_id("csat")
    await csat.get_by_text("Pesquisa de satisfação enviada").wait_for()

    await writes(product, CUSTOMER, "5")
    await chat.locator('[data-testid="csat"][data-rating="5"]').wait_for()
    await csat.get_by_text("5 de 5 estrelas").wait_for()
    assert await eventually(lambda: got(product, CUSTOMER, THANKS))
    await writes(product, CUSTOMER, "Muito bom!")
    await csat.get_by_text("Muito bom!").wait_for()
    await chat.get_by_test_id("chat-where").get_by_text("Resolvida").wait_for()
    lines = chat.locator(".system-line")
    await lines.filter(has_text="O cliente avaliou o atendimento com 5 de 5").wait_for()
    await lines.filter(has_text="O cliente comentou a avaliação").wait_for()
    await screenshots(page, "csat-rated")

    # Duda answers something that is not a rating: an ordinary message, which reopens it.
    await writes(product, DUDA, "Oi, e o meu?", "Duda")
    chat = await open_and_resolve(page, "Duda")
    assert await eventually(lambda: got(product, DUDA, QUESTION))
    await writes(product, DUDA, "obrigado")
    where = chat.get_by_test_id("chat-where")
    await where.get_by_text("Na fila").wait_for()
    await chat.get_by_test_id("csat").get_by_text("O cliente respondeu sem dar nota").wait_for()
    await chat.get_by_text("obrigado", exact=True).wait_for()
    # Resolved again: the closing message again, the question not a second time.
    await chat.get_by_role("button", name="Resolver").click()
    await where.get_by_text("Resolvida").wait_for()
    assert await eventually(lambda: got(product, DUDA, CLOSING, times=2))
    assert await got(product, DUDA, QUESTION, times=1)
