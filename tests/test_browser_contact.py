"""Tags and the contact panel in a real browser against the real product: the admin creates
the tag "VIP" on the Tags page; Carla and Duda write; Ana, an attendant, opens Carla's
conversation and its contact panel: the phone the Brazilian way, her identities, her earlier
conversation (resolved, rated 4) linking to it. Ana renames her (the inbox row follows), tags
the conversation VIP (a chip in the row), filters the inbox by VIP (only Carla's, which
leaves the list when untagged and comes back when tagged again, live), asks the
copilot for a summary and for the contact details Carla wrote (her e-mail, applied). The panel
beside the chat at desktop width, a full-screen sheet at a phone's, screenshots of both."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core import keys
from core.storage.base import utcnow
from core.storage.models import Conversation, ConversationStatus
from tests.browser_world import (
    ADMIN_PASSWORD,
    BUSINESS,
    CUSTOMER,
    PHONE,
    Product,
    admin_call,
    browser,
    eventually,
    link_number,
    new_page,
    page,
    product,
    screenshots,
    sign_in,
)

__all__ = ["browser", "page", "product"]  # fixtures

pytestmark = pytest.mark.timeout(150)

ANA_EMAIL = "ana@empresa.com.br"
DUDA = "5511977776666"
FIRST_WORDS = "Meu pedido não chegou. Meu e-mail é carla@loja.com.br"


async def writes(product: Product, customer: str, text: str, name: str) -> None:
    body = {"to": BUSINESS, "text": text, "name": name}
    await product.sim_post(f"/customers/{customer}/messages", body)


async def create_vip(page: Any) -> None:
    await page.get_by_role("link", name="Etiquetas").click()
    await page.get_by_role("heading", name="Etiquetas").wait_for()
    await page.get_by_role("button", name="Nova etiqueta").click()
    dialog = page.get_by_role("dialog", name="Nova etiqueta")
    await dialog.get_by_label("Nome").fill("VIP")
    await dialog.get_by_role("button", name="#6f42c1").click()
    await dialog.locator('[data-tag="VIP"]').wait_for()  # the preview
    await dialog.get_by_role("button", name="Criar etiqueta").click()
    await page.get_by_role("status").filter(has_text="Etiqueta VIP criada.").wait_for()
    await page.locator('[data-tag-row="VIP"]').get_by_text("em 0 conversas").wait_for()


async def conversation_of(product: Product, name: str) -> tuple[int, int]:
    """The conversation of the customer so named, and their contact."""

    async def found() -> Any:
        status, page = await admin_call(product, "GET", "/conversations")
        assert status == 200, page
        return [c for c in page["items"] if c["contact"]["display_name"] == name]

    [conversation] = await eventually(found)
    return conversation["id"], conversation["contact_id"]


async def an_earlier_rated_conversation(product: Product, conversation_id: int) -> int:
    """Carla's conversation of last week, resolved and rated 4, as the desk left it."""
    async with product.core.app[keys.SESSIONS].begin() as db:
        now = await db.scalar(select(Conversation).where(Conversation.id == conversation_id))
        assert now is not None
        before = utcnow() - timedelta(days=7)
        earlier = Conversation(
            channel_id=now.channel_id,
            contact_id=now.contact_id,
            department_id=now.department_id,
            status=ConversationStatus.RESOLVED,
            last_message_at=before,
            last_message_preview="Obrigada!",
            created_at=before,
            resolved_at=before,
            csat_status="rated",
            csat_rating=4,
        )
        db.add(earlier)
        await db.flush()
        return earlier.id


async def test_an_attendant_works_a_customer_in_the_contact_panel(
    browser: Any, page: Any, product: Product
) -> None:
    await page.goto("/numbers")
    await sign_in(page)
    await link_number(page, product, "Loja")
    await create_vip(page)
    status, answer = await admin_call(
        product,
        "POST",
        "/users",
        {"name": "Ana", "email": ANA_EMAIL, "role": "attendant", "password": ADMIN_PASSWORD},
    )
    assert status == 201, answer

    await writes(product, CUSTOMER, FIRST_WORDS, "Carla")
    await writes(product, DUDA, "Oi, tudo bem?", "Duda")
    carla, _ = await conversation_of(product, "Carla")
    await conversation_of(product, "Duda")
    earlier = await an_earlier_rated_conversation(product, carla)

    ana = await new_page(browser, product)
    await ana.goto("/inbox")
    await sign_in(ana, ANA_EMAIL)
    await ana.get_by_role("tab", name="Fila").click()
    rows = ana.locator("[data-conversation]")
    await rows.filter(has_text="Duda").wait_for()
    await rows.filter(has_text="Carla").click()
    chat = ana.get_by_test_id("chat")
    await chat.get_by_role("heading", name="Carla").wait_for()
    await chat.get_by_role("button", name="Contato").click()
    panel = ana.get_by_test_id("contact-panel")
    await panel.get_by_test_id("contact-phone").filter(has_text="+55 11 98888-0000").wait_for()
    await panel.get_by_text(f"{CUSTOMER}@s.whatsapp.net").wait_for()

    # Her earlier conversation: resolved, rated 4, a link to it.
    past = panel.locator(f'[data-earlier="{earlier}"]')
    await past.get_by_text("Resolvida").wait_for()
    await past.locator('[data-testid="csat"][data-rating="4"]').wait_for()
    assert await past.get_by_role("link").get_attribute("href") == f"/inbox/{earlier}?tab=queued"

    # Renamed: the panel, the chat's head and the inbox row say so.
    await panel.get_by_role("button", name="Editar nome").click()
    await panel.get_by_label("Nome do contato").fill("  Carla Souza ")
    await panel.get_by_role("button", name="Salvar").click()
    await panel.get_by_role("heading", name="Carla Souza").wait_for()
    await chat.locator(".chat__who").get_by_role("heading", name="Carla Souza").wait_for()
    carla_row = ana.locator(f'[data-conversation="{carla}"]')
    await carla_row.get_by_text("Carla Souza").wait_for()

    # Tagged VIP: a chip in the panel and in the inbox row.
    await panel.get_by_label("Adicionar etiqueta").select_option(label="VIP")
    await panel.get_by_test_id("conversation-tags").locator('[data-tag="VIP"]').wait_for()
    await carla_row.locator('[data-tag="VIP"]').wait_for()

    # The inbox by tag: only Carla's conversation (and the filter kept in the address).
    await ana.get_by_label("Etiqueta", exact=True).select_option(label="VIP")
    await eventually(lambda: _only(rows, carla))
    assert "tag=" in ana.url
    # Live: untagged, it leaves the filtered list; tagged again, it comes back.
    await panel.get_by_role("button", name="Tirar a etiqueta VIP").click()
    await carla_row.wait_for(state="detached")
    await panel.get_by_label("Adicionar etiqueta").select_option(label="VIP")
    await eventually(lambda: _only(rows, carla))

    # The copilot: a summary of what she asked, and her e-mail proposed, then applied.
    await panel.get_by_role("button", name="Resumir conversa").click()
    summary = panel.get_by_test_id("contact-summary")
    await summary.filter(has_text="Pediu: Meu pedido não chegou").wait_for()
    await panel.get_by_role("button", name="Sugerir dados do contato").click()
    proposal = panel.get_by_test_id("contact-proposal")
    await proposal.get_by_text("carla@loja.com.br").wait_for()
    await proposal.get_by_role("button", name="Aplicar").click()
    await proposal.wait_for(state="detached")
    await panel.get_by_text("carla@loja.com.br", exact=True).wait_for()
    status, contact = await admin_call(product, "GET", f"/conversations/{carla}")
    assert contact["contact"]["email"] == "carla@loja.com.br"
    assert contact["contact"]["display_name"] == "Carla Souza"

    await screenshots(ana, "contact-panel")
    # On a phone the panel covers the chat, and closes back to it.
    await ana.set_viewport_size(PHONE)
    box = await panel.bounding_box()
    assert box is not None
    assert (box["x"], box["width"]) == (0, PHONE["width"])
    await panel.get_by_role("button", name="Fechar o painel do contato").click()
    await panel.wait_for(state="detached")
    await chat.get_by_role("button", name="Contato").wait_for()
    await ana.context.close()


async def _only(rows: Any, conversation_id: int) -> bool:
    ids = await rows.evaluate_all("els => els.map(el => el.dataset.conversation)")
    return bool(ids == [str(conversation_id)])
