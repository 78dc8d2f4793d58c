"""The product as a browser sees it, for the browser tests: the simulated WhatsApp, a real
gateway (session hosts and all) and a real core serving the built web UI, on loopback; and
headless Debian chromium driven by Playwright.

Chromium is the system's (``apt-get install chromium``), never a browser Playwright downloads.
Without it the browser tests skip, saying how to install it; under ``CI=true`` they fail.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from sqlalchemy import insert, select

from core import keys
from core.app import create_app as create_core
from core.auth.accounts import create_user
from core.auth.tokens import issue_access
from core.settings import AuthSettings, WebSettings
from core.storage.base import utcnow
from core.storage.models import (
    ActorType,
    Channel,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    Role,
    User,
)
from gateway.app import create_app as create_gateway
from sessions.sim.server import create_app as create_sim
from tests.conftest import CI, make_settings
from tests.test_gateway_e2e import SECRET, TOKEN
from tests.test_gateway_e2e import settings as gateway_settings
from zapdesk.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[1]
DIST = REPO / "webui" / "dist"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
ADMIN_EMAIL = "admin@empresa.com.br"
ADMIN_PASSWORD = "senha-forte-1"
BUSINESS = "5511900000002"
SECOND_BUSINESS = "5511900000003"
CUSTOMER = "5511988880000"
LOGIN_FAILURES = 3


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    text = "chromium is not installed: `apt-get install -y chromium` (Debian) runs these tests"
    if CI:
        pytest.fail(f"{text}; CI=true requires it", pytrace=False)
    pytest.skip(text)


def built_webui() -> None:
    if not (DIST / "index.html").is_file():
        text = "the web UI is not built: `make webui` builds it"
        if CI:
            pytest.fail(text, pytrace=False)
        pytest.skip(text)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Product:
    sim: TestServer
    core: TestServer
    gateway: TestServer
    phone: ClientSession

    @property
    def url(self) -> str:
        return str(self.core.make_url("")).rstrip("/")

    async def sim_post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.phone.post(path, json=body) as response:
            assert response.status in (200, 201), await response.text()
            return await response.json()

    async def sim_get(self, path: str) -> Any:
        async with self.phone.get(path) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def send_as_admin(self, conversation_id: int, text: str) -> None:
        """A reply sent from elsewhere (another tab, the API): it reaches pages live."""
        path = f"/conversations/{conversation_id}/messages"
        status, answer = await admin_call(self, "POST", path, {"text": text})
        assert status == 202, answer

    async def add_user(self, role: str, email: str) -> None:
        async with self.core.app[keys.SESSIONS].begin() as db:
            await create_user(
                db, email=email, name=role.title(), role=Role(role), password=ADMIN_PASSWORD
            )


async def start_product(tmp_path: Path, database_url: str, **sim: Any) -> Product:
    """Sim, then core and gateway on ports chosen up front (each needs the other's URL)."""
    world = TestServer(create_sim(**({"qr_first_s": 30, "qr_next_s": 15} | sim)))
    await world.start_server()
    core_port, gateway_port = free_port(), free_port()
    core_settings = make_settings(
        tmp_path / "core",
        database_url,
        services=ServiceSettings(
            webhook_secret=SecretStr(SECRET),
            gateway_token=SecretStr(TOKEN),
            gateway_url=f"http://127.0.0.1:{gateway_port}",
        ),
        web=WebSettings(
            secret_key=SecretStr("browser-test-secret-key-long-enough-0123"), webui_dir=DIST
        ),
        # Few failures before throttling, so the test sees the "try again in N s" message.
        auth=AuthSettings(login_max_failures=LOGIN_FAILURES, login_window_seconds=60),
    )
    core = TestServer(create_core(core_settings), port=core_port)
    await core.start_server()
    config = gateway_settings(
        tmp_path / "gateway", str(world.make_url("")), f"http://127.0.0.1:{core_port}"
    )
    gateway = TestServer(create_gateway(config), port=gateway_port)
    await gateway.start_server()
    product = Product(world, core, gateway, ClientSession(base_url=str(world.make_url("/"))))
    await product.add_user("admin", ADMIN_EMAIL)
    return product


async def stop_product(product: Product) -> None:
    await product.phone.close()
    await product.gateway.close()
    await product.core.close()
    await product.sim.close()


@pytest.fixture
async def product(tmp_path: Path, database_url: str) -> AsyncIterator[Product]:
    built_webui()
    made = await start_product(tmp_path, database_url)
    yield made
    await stop_product(made)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    executable = chromium_path()
    from playwright.async_api import async_playwright

    playwright = await async_playwright().start()
    # Root in CI and containers: chromium's sandbox needs user namespaces it may not have.
    launched = await playwright.chromium.launch(
        executable_path=executable, headless=True, args=["--no-sandbox"]
    )
    yield launched
    await launched.close()
    await playwright.stop()


async def new_page(browser: Any, product: Product) -> Any:
    context = await browser.new_context(
        base_url=product.url, viewport=DESKTOP, locale="pt-BR", color_scheme="light"
    )
    context.set_default_timeout(20_000)
    return await context.new_page()


@pytest.fixture
async def page(browser: Any, product: Product) -> AsyncIterator[Any]:
    opened = await new_page(browser, product)
    yield opened
    await opened.context.close()


async def screenshots(page: Any, name: str) -> None:
    """The page at desktop width and at a 390 px phone's, kept as test artifacts."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}-desktop.png")
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=SCREENSHOTS / f"{name}-phone.png")
    await page.set_viewport_size(DESKTOP)


async def sign_in(page: Any, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Senha").fill(password)
    await page.get_by_role("button", name="Entrar", exact=True).click()


async def eventually(check: Callable[[], Awaitable[Any]], within_s: float = 20) -> Any:
    """Polls ``check`` until it answers something truthy (generous deadline, no fixed sleep)."""
    deadline = time.monotonic() + within_s
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {within_s} s")
        await asyncio.sleep(0.1)


async def seed_busy_desk(product: Product, conversations: int, messages: int) -> tuple[int, str]:
    """A desk with many conversations, the newest of which has a long history; answers its
    id and its customer's name. Rows are inserted in bulk, straight into the database."""
    start = utcnow() - timedelta(days=30)
    async with product.core.app[keys.SESSIONS].begin() as db:
        channel = Channel(session_id="seeded", name="Seeded", phone=BUSINESS)
        db.add(channel)
        await db.flush()
        contact_ids = list(
            await db.scalars(
                insert(Contact).returning(Contact.id, sort_by_parameter_order=True),
                [
                    {"name": f"Cliente {n:05d}", "phone": f"55119{n:08d}"}
                    for n in range(conversations)
                ],
            )
        )
        conversation_ids = list(
            await db.scalars(
                insert(Conversation).returning(Conversation.id, sort_by_parameter_order=True),
                [
                    {
                        "channel_id": channel.id,
                        "contact_id": contact_id,
                        "last_message_at": start + timedelta(minutes=n),
                        "last_message_preview": f"Mensagem da conversa {n}",
                        "unread_count": n % 3,
                    }
                    for n, contact_id in enumerate(contact_ids)
                ],
            )
        )
        busiest = conversation_ids[-1]
        await db.execute(
            insert(Message),
            [
                {
                    "conversation_id": busiest,
                    "channel_id": channel.id,
                    "wa_message_id": f"seed-{n}",
                    "direction": Direction.INBOUND if n % 2 else Direction.OUTBOUND,
                    "author_type": ActorType.CONTACT if n % 2 else ActorType.USER,
                    "body": f"Mensagem número {n} com *negrito* e _itálico_",
                    "status": MessageStatus.RECEIVED if n % 2 else MessageStatus.READ,
                    "created_at": start + timedelta(minutes=10 * n),
                }
                for n in range(messages)
            ],
        )
    return busiest, f"Cliente {conversations - 1:05d}"


async def link_number(page: Any, product: Product, name: str) -> None:
    """Links the business number through the Numbers page and the sim's phone."""
    await page.get_by_role("link", name="Números").click()
    await page.get_by_role("button", name="Adicionar número").click()
    dialog = page.get_by_role("dialog", name="Adicionar número")
    await dialog.get_by_label("Nome do número").fill(name)
    await dialog.get_by_role("button", name="Gerar QR").click()
    await dialog.get_by_role("img", name="QR code para conectar o WhatsApp").wait_for()
    shown = dialog.locator("[data-code]")
    code = await eventually(lambda: shown.get_attribute("data-code"))
    await product.sim_post(f"/phones/{BUSINESS}/scan", {"code": code, "name": name})
    await (
        page.locator("tr", has_text=name).locator(".badge").filter(has_text="conectado").wait_for()
    )


async def admin_call(product: Product, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """The REST API as the admin, for what a test sets up or checks outside the page: the
    status and the JSON answer (None when there is no body)."""
    async with product.core.app[keys.SESSIONS]() as db:
        admin = await db.scalar(select(User).where(User.email == ADMIN_EMAIL))
    assert admin is not None
    secret = product.core.app[keys.SETTINGS].web.secret_key
    assert secret is not None
    token = issue_access(secret.get_secret_value(), admin.id, admin.role)
    async with (
        ClientSession() as http,
        http.request(
            method,
            f"{product.url}/api/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        return response.status, await response.json()


async def from_business(product: Product, customer: str = CUSTOMER) -> list[str]:
    """What a customer's phone got from the business number, oldest first."""
    view = await product.sim_get(f"/customers/{customer}/messages?to={BUSINESS}")
    return [m.get("text") or "" for m in view["messages"] if m["sender"] == "business"]
