"""The admin pages in a real browser against the real product: Users (create, role,
deactivate, reset a password), "change my password" from the top bar, Knowledge (articles and
quick replies), and the copilot panel drafting from an article written on that page.
Screenshots, desktop and phone width, go to test-artifacts/screenshots/ like the others."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.browser_world import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    BUSINESS,
    CUSTOMER,
    LOGIN_FAILURES,
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

ATTENDANT_EMAIL = "beatriz@empresa.com.br"
ATTENDANT_PASSWORD = "senha-da-beatriz"


async def as_admin(product: Product, method: str, path: str, body: Any = None) -> Any:
    """The API as the admin sees it (for what the page does not show, like draft outcomes);
    None for a 404."""
    status, answer = await admin_call(product, method, path, body)
    if status == 404:
        return None
    assert status in (200, 201, 202), answer
    return answer


async def test_an_admin_manages_users_and_a_deactivated_attendant_is_signed_out(
    browser: Any, page: Any, product: Product
) -> None:
    await page.goto("/inbox")
    await sign_in(page)
    await page.get_by_role("link", name="Usuários").click()
    await page.get_by_role("heading", name="Usuários").wait_for()
    admin_row = page.locator(f'tr[data-user="{ADMIN_EMAIL}"]')
    await admin_row.get_by_text("ativo", exact=True).wait_for()

    # Create an attendant; the API's objections show under the field they are about.
    await page.get_by_role("button", name="Novo usuário").click()
    dialog = page.get_by_role("dialog", name="Novo usuário")
    await dialog.get_by_label("Nome").fill("Beatriz")
    await dialog.get_by_label("E-mail").fill(ADMIN_EMAIL)
    await dialog.get_by_label("Papel").select_option("attendant")
    await dialog.get_by_label("Senha").fill("curta")
    await dialog.get_by_role("button", name="Criar usuário").click()
    password_field = dialog.get_by_label("Senha")
    await dialog.get_by_role("alert").filter(has_text="Pelo menos 8 caracteres.").wait_for()
    assert await password_field.get_attribute("aria-invalid") == "true"
    await password_field.fill(ATTENDANT_PASSWORD)
    await dialog.get_by_role("button", name="Criar usuário").click()
    await (
        dialog.get_by_role("alert")
        .filter(has_text="Já existe um usuário com este e-mail.")
        .wait_for()
    )
    assert await dialog.get_by_label("E-mail").get_attribute("aria-invalid") == "true"
    await screenshots(page, "users-new")
    await dialog.get_by_label("E-mail").fill(ATTENDANT_EMAIL)
    await dialog.get_by_role("button", name="Criar usuário").click()
    await page.get_by_role("status").filter(has_text="Usuário Beatriz criado.").wait_for()
    await dialog.wait_for(state="detached")
    row = page.locator(f'tr[data-user="{ATTENDANT_EMAIL}"]')
    assert await row.get_by_label("Papel de Beatriz").input_value() == "attendant"

    # Beatriz signs in elsewhere: an attendant sees the inbox and no admin pages.
    other = await new_page(browser, product)
    try:
        await other.goto("/inbox")
        await sign_in(other, ATTENDANT_EMAIL, ATTENDANT_PASSWORD)
        nav = other.get_by_role("navigation", name="main")
        await nav.get_by_role("link", name="Atendimento").wait_for()
        for hidden in ("Usuários", "Números", "Conhecimento"):
            assert await nav.get_by_role("link", name=hidden).count() == 0
        await other.goto("/users")
        await other.wait_for_url("**/inbox")

        # The admin deactivates her (asked first; cancel keeps her); her next request ends
        # her sign-in.
        await row.get_by_role("button", name="Desativar").click()
        confirm = page.get_by_role("dialog", name="Desativar")
        await confirm.get_by_text("Desativar Beatriz?").wait_for()
        await confirm.get_by_role("button", name="Cancelar").click()
        await row.get_by_text("ativo", exact=True).wait_for()
        await row.get_by_role("button", name="Desativar").click()
        await confirm.get_by_role("button", name="Desativar").click()
        await row.get_by_text("inativo", exact=True).wait_for()
        await page.get_by_role("status").filter(has_text="Beatriz foi desativado.").wait_for()
        # Her socket closes at once and the page asks again; a click is her next request
        # if it has not happened yet (the tab may already be gone, signed out).
        with contextlib.suppress(PlaywrightTimeout):
            await other.get_by_role("tab", name="Fila").click(timeout=3000)
        await other.wait_for_url("**/login**")
        await other.get_by_role("heading", name="Entrar").wait_for()
        async with other.expect_response("**/api/v1/auth/login") as refused:
            await sign_in(other, ATTENDANT_EMAIL, ATTENDANT_PASSWORD)
        assert (await refused.value).status == 401
        await other.get_by_role("alert").filter(has_text="Esta conta está desativada.").wait_for()

        # Reactivated, promoted, given a new password: she signs in with it.
        await row.get_by_role("button", name="Reativar").click()
        await (
            page.get_by_role("dialog", name="Reativar")
            .get_by_role("button", name="Reativar")
            .click()
        )
        await row.get_by_text("ativo", exact=True).wait_for()
        await row.get_by_label("Papel de Beatriz").select_option("supervisor")
        await page.get_by_role("status").filter(has_text="Beatriz agora é Supervisor.").wait_for()
        await row.get_by_role("button", name="Redefinir senha").click()
        reset = page.get_by_role("dialog", name="Redefinir a senha de Beatriz")
        await reset.get_by_label("Nova senha").fill("curta")
        await reset.get_by_role("button", name="Redefinir senha").click()
        await reset.get_by_role("alert").filter(has_text="Pelo menos 8 caracteres.").wait_for()
        await reset.get_by_label("Nova senha").fill("nova-senha-da-beatriz")
        await reset.get_by_role("button", name="Redefinir senha").click()
        await page.get_by_role("status").filter(has_text="Senha de Beatriz redefinida.").wait_for()
        await screenshots(page, "users")

        await sign_in(other, ATTENDANT_EMAIL, "nova-senha-da-beatriz")
        # Back where she was signed out: the inbox, on the tab she clicked if the click came
        # before her sign-in ended.
        await other.wait_for_url(re.compile(r"/inbox(\?tab=queued)?$"))
        # A supervisor now: Numbers and Knowledge, still no Users.
        await nav.get_by_role("link", name="Conhecimento").wait_for()
        assert await nav.get_by_role("link", name="Usuários").count() == 0
    finally:
        await other.context.close()

    # In English too.
    await page.get_by_role("button", name="English").click()
    await page.get_by_role("heading", name="Users").wait_for()
    await page.get_by_role("columnheader", name="Last sign-in").wait_for()
    role = admin_row.get_by_label("Role of Admin")
    assert await role.evaluate("el => el.selectedOptions[0].text") == "Admin"
    await page.get_by_role("button", name="Português").click()

    # The one admin cannot step down: the page says why and keeps the role.
    await admin_row.get_by_role("combobox").select_option("attendant")
    await page.get_by_role("alert").filter(has_text="Este é o único administrador ativo").wait_for()
    await eventually(
        lambda: admin_row.get_by_role("combobox").evaluate("el => el.value === 'admin'")
    )


async def test_changing_my_password_keeps_me_signed_in_and_is_throttled(page: Any) -> None:
    await page.goto("/inbox")
    await sign_in(page)
    # By keyboard: the name in the top bar opens the menu, its item has the focus.
    menu = page.get_by_role("button", name="Admin")
    await menu.focus()
    await page.keyboard.press("Enter")
    item = page.get_by_role("menuitem", name="Alterar senha")
    await eventually(lambda: item.evaluate("el => el === document.activeElement"))
    await page.keyboard.press("Escape")
    await item.wait_for(state="detached")
    assert await menu.evaluate("el => el === document.activeElement")
    await page.keyboard.press("Enter")
    await eventually(lambda: item.evaluate("el => el === document.activeElement"))
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Alterar senha")
    current = dialog.get_by_label("Senha atual")
    fresh = dialog.get_by_label("Nova senha", exact=True)
    again = dialog.get_by_label("Confirme a nova senha")
    save = dialog.get_by_role("button", name="Salvar nova senha")

    await current.fill("nao-e-esta")
    await fresh.fill("senha-nova-123")
    await again.fill("senha-nova-124")
    await save.click()
    await dialog.get_by_role("alert").filter(has_text="As senhas não conferem.").wait_for()
    await again.fill("senha-nova-123")
    await save.click()
    await dialog.get_by_role("alert").filter(has_text="A senha atual está incorreta.").wait_for()
    assert await current.get_attribute("aria-invalid") == "true"
    await screenshots(page, "change-password")

    await current.fill(ADMIN_PASSWORD)
    await save.click()
    await page.get_by_role("status").filter(has_text="Senha alterada.").wait_for()
    await dialog.wait_for(state="detached")
    # The new tokens were kept: a reload stays signed in.
    await page.reload()
    await page.get_by_role("button", name="Admin").wait_for()
    # Signing in again takes the new password.
    await page.get_by_role("button", name="Sair").click()
    await page.wait_for_url("**/login**")
    await sign_in(page, password="senha-nova-123")
    await page.get_by_role("button", name="Admin").wait_for()

    # Too many wrong current passwords: the wait is shown and the button holds.
    await page.get_by_role("button", name="Admin").click()
    await page.get_by_role("menuitem", name="Alterar senha").click()
    await current.fill("errada-de-novo")
    await fresh.fill("outra-senha-456")
    await again.fill("outra-senha-456")
    throttled = dialog.get_by_role("alert").filter(has_text="Muitas tentativas. Tente novamente em")
    statuses = []
    for _ in range(LOGIN_FAILURES + 1):
        async with page.expect_response("**/api/v1/auth/password") as answer:
            await save.click()
        statuses.append((await answer.value).status)
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429, statuses
    await throttled.wait_for()
    assert await save.is_disabled()
    # Esc closes the dialog and gives the focus back to the menu.
    await page.keyboard.press("Escape")
    await dialog.wait_for(state="detached")
    await eventually(lambda: menu.evaluate("el => el === document.activeElement"))


async def test_knowledge_grounds_the_copilot_draft_that_the_attendant_edits_and_sends(
    page: Any, product: Product
) -> None:
    await page.goto("/knowledge")
    await sign_in(page)
    await page.get_by_role("heading", name="Conhecimento").wait_for()
    await page.get_by_text("Nenhum artigo ainda.").wait_for()

    # Two articles; one is edited, the other deleted (asked first).
    async def write(title: str, body: str, tags: str) -> None:
        await page.get_by_role("button", name="Novo artigo").click()
        editor = page.get_by_role("dialog", name="Novo artigo")
        await editor.get_by_label("Título").fill(title)
        await editor.get_by_label("Texto (markdown)").fill(body)
        await editor.get_by_label("Etiquetas").fill(tags)
        await editor.get_by_role("button", name="Salvar").click()
        await editor.wait_for(state="detached")

    await write(
        "Prazo", "O prazo de entrega é de 5 dias úteis para todo o Brasil.", "entrega, prazo"
    )
    await write("Trocas", "Trocas em até 30 dias com a nota fiscal.", "troca")
    articles = page.get_by_role("list", name="Artigos").get_by_role("listitem")
    await eventually(lambda: articles.count())
    assert await articles.count() == 2
    await page.get_by_role("button", name="Editar Prazo").click()
    editor = page.get_by_role("dialog", name="Editar artigo")
    await editor.get_by_label("Título").fill("")
    await editor.get_by_role("button", name="Salvar").click()
    await editor.get_by_role("alert").filter(has_text="Dê um título ao artigo.").wait_for()
    await editor.get_by_label("Título").fill("Prazo de entrega")
    await editor.get_by_role("button", name="Salvar").click()
    await page.get_by_role("status").filter(has_text="Prazo de entrega").wait_for()

    search = page.get_by_role("searchbox", name="Buscar artigos")
    await search.fill("nota fiscal")
    await page.wait_for_function(
        "() => document.querySelectorAll('[data-article]').length === 1"
        " && document.querySelector('[data-article] h2').textContent === 'Trocas'"
    )
    await search.fill("garantia estendida")
    await page.get_by_text("Nenhum artigo com essas palavras.").wait_for()
    await search.fill("")
    await page.get_by_role("button", name="Excluir Trocas").click()
    await page.get_by_role("dialog", name="Excluir").get_by_role("button", name="Excluir").click()
    await page.get_by_role("status").filter(has_text="excluído").wait_for()
    assert await articles.count() == 1
    await screenshots(page, "knowledge")

    # Quick replies, the page's other tab: a taken shortcut is said next to the field.
    await page.get_by_role("tab", name="Respostas rápidas").click()
    await page.get_by_text("Nenhuma resposta rápida ainda.").wait_for()
    for _ in range(2):
        await page.get_by_role("button", name="Nova resposta rápida").click()
        quick = page.get_by_role("dialog", name="Nova resposta rápida")
        await quick.get_by_label("Atalho").fill("/horario")
        await quick.get_by_label("Texto").fill("Atendemos de segunda a sexta, das 8h às 18h.")
        await quick.get_by_role("button", name="Salvar").click()
    await quick.get_by_role("alert").filter(has_text="O atalho /horario já existe.").wait_for()
    await page.keyboard.press("Escape")
    await page.locator('[data-quick-reply="horario"]').wait_for()
    await screenshots(page, "knowledge-quick-replies")
    await page.get_by_role("button", name="Editar /horario").click()
    quick = page.get_by_role("dialog", name="Editar resposta rápida")
    await quick.get_by_label("Atalho").fill("Horário!")
    await quick.get_by_role("button", name="Salvar").click()
    await quick.get_by_role("alert").filter(has_text="Letras minúsculas").wait_for()
    await quick.get_by_label("Atalho").fill("atendimento")
    await quick.get_by_role("button", name="Salvar").click()
    await page.locator('[data-quick-reply="atendimento"]').wait_for()
    await page.get_by_role("button", name="Excluir /atendimento").click()
    await page.get_by_role("dialog", name="Excluir").get_by_role("button", name="Excluir").click()
    await page.get_by_text("Nenhuma resposta rápida ainda.").wait_for()
    assert (await as_admin(product, "GET", "/quick-replies"))["items"] == []

    # A customer asks what the article answers: the draft is in the copilot panel.
    await link_number(page, product, "Loja")
    await page.get_by_role("link", name="Atendimento").click()
    await product.sim_post(
        f"/customers/{CUSTOMER}/messages",
        {"to": BUSINESS, "text": "Oi, qual o prazo de entrega?", "name": "Ana"},
    )
    await page.locator("[data-conversation]").filter(has_text="Ana").click()
    panel = page.get_by_test_id("copilot")
    draft = panel.locator(".copilot__text")
    await draft.filter(has_text="5 dias úteis").wait_for(timeout=30_000)
    await screenshots(page, "copilot-draft")

    # Use puts it in the composer; the attendant edits it and sends.
    await panel.get_by_role("button", name="Usar").click()
    composer = page.get_by_test_id("chat").get_by_role("textbox")
    await eventually(lambda: composer.evaluate("el => el.value.includes('5 dias úteis')"))
    drafted = await composer.input_value()
    edited = f"{drafted.strip()} Qualquer dúvida, estou aqui!"
    await composer.fill(edited)
    await composer.press("Enter")

    async def received() -> Any:
        view = await product.sim_get(f"/customers/{CUSTOMER}/messages?to={BUSINESS}")
        return [m for m in view["messages"] if m.get("text") == edited]

    assert await eventually(received)

    async def outcome(name: str) -> Any:
        stats = await as_admin(product, "GET", "/copilot/stats")
        return stats["by_outcome"].get(name) == 1 and stats

    stats = await eventually(lambda: outcome("edited"))
    assert stats["mean_edit_distance"] >= len(" Qualquer dúvida, estou aqui!")

    # The next draft is dismissed: it leaves the panel and is counted so.
    await product.sim_post(
        f"/customers/{CUSTOMER}/messages",
        {"to": BUSINESS, "text": "E o prazo de entrega para o Nordeste?"},
    )
    await draft.filter(has_text="5 dias úteis").wait_for(timeout=30_000)
    await panel.get_by_role("button", name="Descartar").click()
    await panel.get_by_text("Nenhuma sugestão para esta conversa.").wait_for()
    await eventually(lambda: outcome("dismissed"))


async def test_an_answer_from_the_api_that_arrives_late_never_replaces_a_newer_draft(
    page: Any, product: Product
) -> None:
    """The panel loads the draft from the API and follows it live; the two travel apart, so
    an answer read before the newest draft may arrive after it has been shown."""
    for title, body in [
        ("Prazo", "O prazo de entrega é de 5 dias úteis para todo o Brasil."),
        ("Trocas", "Trocas em até 30 dias com a nota fiscal."),
    ]:
        await as_admin(product, "POST", "/knowledge", {"title": title, "body": body, "tags": []})
    await page.goto("/inbox")
    await sign_in(page)
    await link_number(page, product, "Loja")
    await product.sim_post(
        f"/customers/{CUSTOMER}/messages",
        {"to": BUSINESS, "text": "Qual o prazo de entrega?", "name": "Ana"},
    )

    async def first_draft() -> Any:
        found = (await as_admin(product, "GET", "/conversations"))["items"]
        if not found:
            return None
        draft = await as_admin(product, "GET", f"/conversations/{found[0]['id']}/suggestion")
        return draft and draft["state"] == "ready" and draft

    first = await eventually(first_draft)
    assert "5 dias úteis" in first["text"]
    # Answered (the next draft is for the next question only).
    conversation = first["conversation_id"]
    await as_admin(product, "POST", f"/conversations/{conversation}/messages", {"text": "5 dias."})

    # The first answer about the draft (read before the next one exists) is held back.
    held: list[Any] = []
    release = asyncio.Event()

    async def hold(route: Any) -> None:
        if held:
            await route.continue_()
            return
        held.append(route)
        response = await route.fetch()
        await release.wait()
        await route.fulfill(response=response)

    await page.route("**/api/v1/conversations/*/suggestion", hold)
    await page.get_by_role("link", name="Atendimento").click()
    await page.locator("[data-conversation]").filter(has_text="Ana").click()
    await eventually(lambda: asyncio.sleep(0, held))
    panel = page.get_by_test_id("copilot")
    draft = panel.locator(".copilot__text")
    await product.sim_post(
        f"/customers/{CUSTOMER}/messages",
        {"to": BUSINESS, "text": "Como faço uma troca?"},
    )
    await draft.filter(has_text="30 dias").wait_for(timeout=30_000)

    async with page.expect_response("**/api/v1/conversations/*/suggestion") as late:
        release.set()
    await (await late.value).finished()
    # The page has read the late answer once a task and a frame have passed.
    await page.evaluate("() => new Promise(r => setTimeout(() => requestAnimationFrame(r)))")
    assert await draft.filter(has_text="30 dias").count() == 1
