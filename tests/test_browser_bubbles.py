"""Every kind of bubble in a real browser: an edited text says "editada" and shows the new
text, a deleted one says "Mensagem apagada" (what it said folded away), reactions are chips
with their count and who, a place links to the map, a contact card shows its numbers to copy,
what this version cannot show says so — and only files that can really be fetched offer a
download, which then works. An attachment's upload shows its progress and can be cancelled.
Screenshots of the chat, desktop and 390 px, are kept under test-artifacts/screenshots/."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientSession

from sessions.events import (
    ContactCard,
    Event,
    Location,
    Media,
    MessageKind,
    MessageReactionEvent,
    MessageReceivedEvent,
    Peer,
    ReactionData,
)
from tests.browser_world import (
    BUSINESS,
    CUSTOMER,
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    Product,
    admin_call,
    browser,
    eventually,
    page,
    product,
    screenshots,
)
from tests.conftest import Desk
from tests.test_browser import PNG_B64
from tests.test_browser_composer import carla_writes
from tests.test_gateway_e2e import SECRET
from tests.test_ingest import batch, message_data

__all__ = ["browser", "page", "product"]  # fixtures

pytestmark = pytest.mark.timeout(180)

CARLA = Peer(jid=f"{CUSTOMER}@s.whatsapp.net", pn=f"{CUSTOMER}@s.whatsapp.net", name="Carla Souza")
US = Peer(jid=f"{BUSINESS}@s.whatsapp.net", pn=f"{BUSINESS}@s.whatsapp.net")
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
VCARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:João Entregas\r\n"
    "item1.TEL;type=CELL;waid=5511977776666:+55 11 97777-6666\r\nEND:VCARD"
)
DOWNLOAD = re.compile("Baixar arquivo")


async def gateway_says(product: Product, *events: Event) -> None:
    """Events as the gateway delivers them: a signed batch to core's webhook."""
    body = batch(*events)
    async with (
        ClientSession() as http,
        http.post(
            f"{product.url}/internal/events", data=body, headers=Desk.signed(body, SECRET)
        ) as response,
    ):
        assert response.status == 200, await response.text()


async def session_id(product: Product) -> str:
    status, channels = await admin_call(product, "GET", "/channels")
    assert status == 200, channels
    [channel] = channels["items"]
    return str(channel["session_id"])


def carla_sent(session: str, wa_id: str, **content: Any) -> MessageReceivedEvent:
    data = message_data(wa_id, "", CARLA, datetime.now(UTC), from_me=False, **content)
    return MessageReceivedEvent(session_id=session, data=data)


async def customer(product: Product, path: str, body: dict[str, Any]) -> Any:
    return await product.sim_post(f"/customers/{CUSTOMER}{path}", body)


async def document(product: Product, name: str, caption: str) -> str:
    body = {
        "to": BUSINESS,
        "kind": "document",
        "mime": "application/pdf",
        "data_b64": base64.b64encode(PDF).decode(),
        "filename": name,
        "caption": caption,
    }
    return str((await customer(product, "/messages", body))["wa_id"])


async def page_by_page(page: Any, scroller: Any, name: str) -> None:
    """The whole chat at desktop and at phone width, one screenful after another."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for size, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
        await page.set_viewport_size(size)
        await scroller.evaluate("el => el.scrollTo(0, 0)")
        for n in range(1, 20):
            await page.screenshot(path=SCREENSHOTS / f"{name}-{n}-{label}.png")
            moved = await scroller.evaluate(
                "el => { const top = el.scrollTop; el.scrollBy(0, el.clientHeight * 0.85);"
                " return el.scrollTop > top; }"
            )
            if not moved:
                break
    await page.set_viewport_size(DESKTOP)


async def test_each_kind_of_bubble_shows_what_it_is_and_every_download_works(
    page: Any, product: Product
) -> None:
    chat = await carla_writes(page, product, "Quero 2 pizzas", "Carla Souza")
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    bubbles = chat.locator("[data-message]")
    first = bubbles.filter(has_text="Quero 2 pizzas")
    await first.wait_for()
    session = await session_id(product)
    sim_view = await product.sim_get(f"/customers/{CUSTOMER}/messages?to={BUSINESS}")
    [asked] = [m for m in sim_view["messages"] if m.get("text") == "Quero 2 pizzas"]

    # From Carla's phone: an edit, a reaction, a document, another deleted for everyone.
    await customer(product, f"/messages/{asked['wa_id']}/edit", {"text": "Quero 3 pizzas"})
    await document(product, "pedido.pdf", "Meu pedido")
    deleted = await document(product, "rg.pdf", "Segue meu RG")
    await customer(product, f"/messages/{deleted}/revoke", {})
    await chat.get_by_text("Mensagem apagada").wait_for()
    status, answer = await admin_call(product, "GET", "/conversations")
    assert status == 200, answer
    conversation = answer["items"][0]["id"]
    await product.send_as_admin(conversation, "Já anotei, Carla!")
    reply = bubbles.filter(has_text="Já anotei, Carla!")
    await reply.wait_for()

    async def reply_sent() -> str | None:
        """The reply's WhatsApp id, once the desk knows it (reactions name messages by it)."""
        path = f"/conversations/{conversation}/messages"
        _, listed = await admin_call(product, "GET", path)
        found = [m["wa_message_id"] for m in listed["items"] if m["body"] == "Já anotei, Carla!"]
        return found[0] if found else None

    reply_id = await eventually(reply_sent)
    await customer(product, "/reactions", {"wa_id": reply_id, "emoji": "❤️"})
    chip = reply.locator(".reaction")
    await chip.filter(has_text="1").wait_for()
    assert await chip.get_attribute("title") == "❤️ 1 — Carla Souza"

    # Through the gateway's webhook: what the simulator cannot send. (After Carla's reaction
    # is in: two sources changing one message at once is not what this test is about.)
    place = Location(
        latitude=-23.5613, longitude=-46.6565, name="Pizzaria Bella", address="Av. Paulista, 1000"
    )
    card = ContactCard(display_name="João Entregas", vcard=VCARD)
    lost = Media(mime="application/pdf", filename="boleto.pdf")  # the gateway could not get it
    ours = ReactionData(wa_id=reply_id, chat=CARLA.jid, sender=US, from_me=True, emoji="❤️")
    await gateway_says(
        product,
        carla_sent(session, "LOC1", kind=MessageKind.LOCATION, location=place),
        carla_sent(session, "VCF1", kind=MessageKind.CONTACT_CARD, contact_card=card),
        carla_sent(session, "POLL1", kind=MessageKind.UNSUPPORTED),
        carla_sent(session, "DOC1", kind=MessageKind.DOCUMENT, media=lost),
        MessageReactionEvent(session_id=session, data=ours),
    )

    # Edited: the new text, marked; the old one gone.
    await first.wait_for(state="detached")
    edited = bubbles.filter(has_text="Quero 3 pizzas")
    await edited.locator(".bubble__edited", has_text="editada").wait_for()

    # Reactions: one chip, counted, saying who.
    await chip.filter(has_text="2").wait_for()
    assert (await chip.inner_text()).split() == ["❤️", "2"]
    assert await chip.get_attribute("title") == "❤️ 2 — Celular da empresa, Carla Souza"

    # Deleted: said so; what it said is folded away and there is nothing to download.
    revoked = chat.locator('[data-kind="revoked"]')
    await revoked.get_by_text("Mensagem apagada").wait_for()
    original = revoked.get_by_text("Segue meu RG")
    assert not await original.is_visible()
    await revoked.get_by_text("Ver o que estava escrito").click()
    await original.wait_for()
    await revoked.get_by_text("Ver o que estava escrito").click()
    await original.wait_for(state="hidden")

    # A place: its name, address and coordinates, and a link that opens the map elsewhere.
    located = chat.locator('[data-kind="location"]')
    await located.get_by_text("Pizzaria Bella").wait_for()
    await located.get_by_text("Av. Paulista, 1000").wait_for()
    await located.get_by_text("-23.56130, -46.65650").wait_for()
    link = located.get_by_role("link", name="Abrir no mapa")
    assert await link.get_attribute("href") == (
        "https://www.openstreetmap.org/?mlat=-23.5613&mlon=-46.6565#map=17/-23.5613/-46.6565"
    )
    assert await link.get_attribute("target") == "_blank"

    # A contact card: the name and the number, which copies.
    carded = chat.locator('[data-kind="contact_card"]')
    await carded.get_by_text("João Entregas").wait_for()
    await carded.get_by_role("link", name="+55 11 97777-6666").wait_for()
    copy = carded.get_by_role("button", name="Copiar o número +55 11 97777-6666")
    await copy.click()
    await copy.filter(has_text="Copiado").wait_for()
    assert await page.evaluate("navigator.clipboard.readText()") == "+5511977776666"

    # What this version cannot show, and a file the gateway never got: said, nothing to click.
    unsupported = chat.locator('[data-kind="unsupported"]')
    await unsupported.get_by_text("Mensagem não suportada — veja no celular").wait_for()
    missing = bubbles.filter(has_text="boleto.pdf")
    await missing.get_by_text("boleto.pdf: arquivo indisponível — veja no celular").wait_for()
    for bubble in (revoked, located, carded, unsupported, missing):
        assert await bubble.get_by_role("button", name=DOWNLOAD).count() == 0

    # Every download offered works: the customer's document and ours.
    await chat.locator('input[type="file"]').set_input_files(
        {"name": "orcamento.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    await chat.get_by_role("textbox", name="Escreva uma mensagem").press("Enter")
    downloads = chat.get_by_role("button", name=DOWNLOAD)
    await downloads.filter(has_text="orcamento.pdf").wait_for()
    assert await downloads.count() == 2
    for n in range(2):
        button = downloads.nth(n)
        async with (
            page.expect_response(lambda r: "/media" in r.url) as answered,
            page.expect_download() as downloaded,
        ):
            await button.click()
        assert (await answered.value).status == 200
        name = (await downloaded.value).suggested_filename
        assert name in await button.inner_text()

    await page_by_page(page, chat.locator(".messages"), "bubbles")


async def test_an_upload_shows_its_progress_and_can_be_cancelled(
    page: Any, product: Product
) -> None:
    chat = await carla_writes(page, product, "Pode mandar a foto?", "Carla Souza")
    composer = chat.get_by_role("textbox", name="Escreva uma mensagem")
    picture = base64.b64decode(PNG_B64) + bytes(1_000_000)  # a PNG, and a long tail to upload
    attached = {"name": "cardapio.png", "mimeType": "image/png", "buffer": picture}
    # A slow connection (about 200 KB/s up), so that the upload takes a while to watch.
    network = await page.context.new_cdp_session(page)
    await network.send("Network.enable")
    conditions = {"offline": False, "latency": 0, "downloadThroughput": -1}
    await network.send(
        "Network.emulateNetworkConditions", {**conditions, "uploadThroughput": 200_000}
    )
    await chat.locator('input[type="file"]').set_input_files(attached)
    await composer.press("Enter")
    bar = chat.get_by_role("progressbar", name="Envio do arquivo")
    await bar.wait_for()
    # Part of it up and said in numbers, before the whole.
    await page.wait_for_function(
        "() => { const bar = document.querySelector('.composer progress');"
        " return bar && bar.value > 0 && bar.value < 1; }"
    )
    await chat.locator(".composer__file").get_by_text(re.compile(r"^\d+%$")).wait_for()
    await screenshots(page, "upload-progress")

    # Cancelled: nothing sent, the file still there to try again.
    await chat.get_by_role("button", name="Cancelar envio").click()
    await bar.wait_for(state="detached")
    await chat.locator(".composer__file", has_text="cardapio.png").wait_for()
    assert await chat.locator('[data-direction="outbound"]').count() == 0

    # Again, at full speed: it goes, and shows as sent.
    await network.send("Network.emulateNetworkConditions", {**conditions, "uploadThroughput": -1})
    await composer.press("Enter")
    await chat.locator('[data-direction="outbound"] img[alt="cardapio.png"]').wait_for()
    await chat.locator(".composer__file").wait_for(state="detached")

    # A file the desk does not send: the error says why, and nothing is sent.
    await chat.locator('input[type="file"]').set_input_files(
        {"name": "programa.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ\x90\x00"}
    )
    await composer.press("Enter")
    alert = chat.get_by_role("alert").filter(has_text="O arquivo não foi enviado:")
    await alert.filter(has_text="application/x-msdownload").wait_for()
    assert await chat.locator('[data-direction="outbound"]').count() == 1
