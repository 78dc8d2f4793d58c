"""The simulated WhatsApp service itself, spoken to as a linked device would (its websocket
protocol) and as the phone, customers and fault injection do (its HTTP API)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

from sessions.sim.protocol import lid_of
from sessions.sim.server import create_app

BUSINESS = "5511900000001"
EVEN = "5511988880002"
ODD = "5511988880003"

Client = TestClient[Any, Any]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def client(aiohttp_client: Any) -> Client:
    app = create_app(qr_first_s=0.3, qr_next_s=0.1, qr_count=3, hello_timeout_s=0.3)
    made: Client = await aiohttp_client(app)
    return made


async def receive(ws: ClientWebSocketResponse, within: float = 2) -> dict[str, Any]:
    message = await ws.receive(timeout=within)
    assert message.type is WSMsgType.TEXT, message
    frame: dict[str, Any] = json.loads(message.data)
    return frame


async def until(ws: ClientWebSocketResponse, kind: str, within: float = 2) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while (frame := await receive(ws))["type"] != kind:
            pass
    return frame


async def items(ws: ClientWebSocketResponse, n: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while len(found) < n:
        found.extend((await until(ws, "batch"))["items"])
    return found


async def call(client: Client, path: str, body: Any = None, status: int = 200) -> Any:
    response = await client.post(path, json=body if body is not None else {})
    assert response.status == status, await response.text()
    return await response.json()


async def device(client: Client, **hello: Any) -> ClientWebSocketResponse:
    ws = await client.ws_connect("/device")
    await ws.send_json({"type": "hello", **hello})
    return ws


async def paired(
    client: Client, phone: str = BUSINESS
) -> tuple[ClientWebSocketResponse, dict[str, Any]]:
    ws = await device(client)
    qr = await until(ws, "qr")
    await call(client, f"/phones/{phone}/scan", {"code": qr["code"]})
    credentials = await until(ws, "paired")
    await until(ws, "connected")
    return ws, credentials


async def test_an_unpaired_device_sees_rotating_codes_then_a_timeout(client: Client) -> None:
    ws = await device(client)
    first = await until(ws, "qr")
    pending = await (await client.get("/devices/pending")).json()
    assert pending["devices"] == [
        {"code": first["code"], "index": 1, "expires_at": first["expires_at"]}
    ]
    indexes = [first["index"], (await until(ws, "qr"))["index"], (await until(ws, "qr"))["index"]]
    assert indexes == [1, 2, 3]
    await until(ws, "qr_timeout")
    assert (await ws.receive(timeout=2)).type in {WSMsgType.CLOSE, WSMsgType.CLOSED}
    assert (await (await client.get("/devices/pending")).json())["devices"] == []
    # The window is over: that code links nothing any more.
    await call(client, f"/phones/{BUSINESS}/scan", {"code": first["code"]}, status=404)


async def test_credentials_restore_a_device_and_bad_ones_are_logged_out(client: Client) -> None:
    ws, credentials = await paired(client)
    assert credentials["phone"] == BUSINESS
    assert credentials["jid"] == f"{BUSINESS}:1@s.whatsapp.net"
    await ws.close()
    again = await device(client, device_id=credentials["device_id"], token=credentials["token"])
    assert (await receive(again))["type"] == "connected"
    forged = await device(client, device_id=credentials["device_id"], token="x" * 43)
    assert await receive(forged) == {"type": "logged_out", "reason": "unknown_device"}


async def test_the_backlog_is_resent_after_the_last_processed_item(client: Client) -> None:
    ws, credentials = await paired(client)
    await ws.close()
    for n in range(5):
        await call(client, f"/customers/{EVEN}/messages", {"to": BUSINESS, "text": f"m{n}"}, 201)
    hello = {"device_id": credentials["device_id"], "token": credentials["token"]}

    ws = await device(client, **hello)
    assert [i["seq"] for i in await items(ws, 5)] == [1, 2, 3, 4, 5]
    await ws.close()  # processed up to 3 (say), never acknowledged
    ws = await device(client, **hello, last_seq=3)
    resent = await items(ws, 2)
    assert [(i["seq"], i["text"]) for i in resent] == [(4, "m3"), (5, "m4")]
    await ws.send_json({"type": "ack", "seq": 5})
    await ws.close()

    ws = await device(client, **hello, last_seq=5)
    assert (await receive(ws))["type"] == "connected"
    with pytest.raises(asyncio.TimeoutError):
        await ws.receive(timeout=0.2)  # nothing left to resend
    view = await (await client.get(f"/customers/{EVEN}/messages")).json()
    assert [m["status"] for m in view["messages"]] == ["delivered"] * 5


async def test_a_second_connection_replaces_the_first(client: Client) -> None:
    ws, credentials = await paired(client)
    hello = {"device_id": credentials["device_id"], "token": credentials["token"]}
    second = await device(client, **hello)
    assert (await receive(second))["type"] == "connected"
    assert (await until(ws, "replaced"))["type"] == "replaced"


async def test_linking_another_device_unlinks_the_first(client: Client) -> None:
    first, _ = await paired(client)
    _, credentials = await paired(client)
    assert credentials["jid"] == f"{BUSINESS}:2@s.whatsapp.net"
    assert await until(first, "logged_out") == {
        "type": "logged_out",
        "reason": "replaced_by_new_device",
    }


async def test_an_outage_refuses_devices_for_a_while(client: Client) -> None:
    ws, credentials = await paired(client)
    await call(client, "/faults/outage", {"seconds": 0.3})
    assert (await ws.receive(timeout=2)).type in {WSMsgType.CLOSE, WSMsgType.CLOSED}
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/device")
    assert refused.value.status == 503
    await asyncio.sleep(0.35)
    again = await device(client, device_id=credentials["device_id"], token=credentials["token"])
    assert (await receive(again))["type"] == "connected"


async def test_a_device_that_never_says_hello_is_closed(client: Client) -> None:
    ws = await client.ws_connect("/device")
    assert (await ws.receive(timeout=2)).type in {WSMsgType.CLOSE, WSMsgType.CLOSED}


async def test_a_burst_arrives_in_batches_from_customers_of_both_kinds(client: Client) -> None:
    ws, _ = await paired(client)
    answer = await call(client, "/customers/burst", {"to": BUSINESS, "count": 3000, "customers": 7})
    assert answer["count"] == 3000
    assert answer["per_s"] > 0
    received: list[dict[str, Any]] = []
    frames = 0
    while len(received) < 3000:
        received.extend((await until(ws, "batch"))["items"])
        frames += 1
    assert [i["seq"] for i in received] == list(range(1, 3001))
    assert frames < 100  # batched, not one frame per message
    assert len({i["id"] for i in received}) == 3000
    by_lid = {i["chat"] for i in received if i["chat"].endswith("@lid")}
    by_phone = {i["chat"] for i in received if i["chat"].endswith("@s.whatsapp.net")}
    assert len(by_lid) + len(by_phone) == 7
    assert by_lid
    assert by_phone


async def test_bad_input_gets_clear_errors(client: Client) -> None:
    await paired(client)
    await call(client, "/customers/12/messages", {"to": BUSINESS, "text": "oi"}, status=422)
    unknown = await call(
        client, f"/customers/{EVEN}/messages", {"to": "5511911112222", "text": "oi"}, status=404
    )
    assert unknown["error"]["code"] == "not_found"
    await call(client, f"/customers/{EVEN}/messages", {"to": BUSINESS}, status=422)
    image = {"to": BUSINESS, "kind": "image", "mime": "image/png", "data_b64": "%%%"}
    await call(client, f"/customers/{EVEN}/messages", image, status=422)
    response = await client.post(f"/customers/{EVEN}/messages", data=b"{not json")
    assert response.status == 422
    await call(client, "/faults/drop", {"phone": "5511911112222"}, status=404)


async def test_device_requests_are_answered_even_when_wrong(client: Client) -> None:
    ws, _ = await paired(client)
    await ws.send_json({"type": "send", "id": 7, "client_id": "c", "to": "x@lid", "kind": "text"})
    answer = await until(ws, "result")
    assert answer["id"] == 7
    assert answer["ok"] is False
    assert "not on WhatsApp" in answer["error"]
    await ws.send_json({"type": "send", "id": 8, "kind": "text"})
    answer = await until(ws, "result")
    assert answer["id"] == 8
    assert answer["ok"] is False
    assert "client_id" in answer["error"]
    await ws.send_json({"type": "pair_code", "id": 9, "phone": BUSINESS})
    answer = await until(ws, "result")
    assert answer["ok"] is False
    assert "QR codes are offered" in answer["error"]


async def test_reactions_edits_and_deletions_reach_the_device(client: Client) -> None:
    ws, _ = await paired(client)
    sent = await call(client, f"/customers/{ODD}/messages", {"to": BUSINESS, "text": "oi"}, 201)
    wa_id = sent["wa_id"]
    await call(client, f"/customers/{ODD}/reactions", {"wa_id": wa_id, "emoji": "👍"})
    await call(client, f"/customers/{ODD}/messages/{wa_id}/edit", {"text": "olá"})
    await call(client, f"/customers/{ODD}/messages/{wa_id}/revoke")
    message, reaction, edit, revoke = await items(ws, 4)
    assert message["chat"] == lid_of(ODD)
    assert message["alt"] == f"{ODD}@s.whatsapp.net"
    assert (reaction["t"], reaction["id"], reaction["emoji"]) == ("reaction", wa_id, "👍")
    assert (edit["t"], edit["text"]) == ("edit", "olá")
    assert (revoke["t"], revoke["id"]) == ("revoke", wa_id)

    await ws.send_json(
        {
            "type": "send",
            "id": 1,
            "client_id": "r1",
            "to": lid_of(ODD),
            "kind": "reaction",
            "reaction": {"wa_id": wa_id, "emoji": "❤️"},
        }
    )
    assert (await until(ws, "result"))["ok"] is True
    view = await (await client.get(f"/customers/{ODD}/messages")).json()
    shown = view["messages"][0]
    assert shown["revoked"]
    assert shown["edited"]
    assert shown["text"] == ""
    assert shown["reactions"] == {"customer": "👍", "business": "❤️"}


async def test_a_message_typed_on_the_phone_reaches_the_device_as_its_own(client: Client) -> None:
    ws, _ = await paired(client)
    await call(client, f"/phones/{BUSINESS}/messages", {"to": EVEN, "text": "Do celular"}, 201)
    (item,) = await items(ws, 1)
    assert item["from_me"] is True
    assert item["sender"] == f"{BUSINESS}@s.whatsapp.net"
    assert item["chat"] == f"{EVEN}@s.whatsapp.net"
    assert item["text"] == "Do celular"


async def test_media_sent_by_a_customer_can_be_downloaded(client: Client) -> None:
    ws, _ = await paired(client)
    pdf = b"%PDF-1.4 sim"
    body = {
        "to": BUSINESS,
        "kind": "document",
        "mime": "application/pdf",
        "filename": "pedido.pdf",
        "data_b64": base64.b64encode(pdf).decode(),
    }
    await call(client, f"/customers/{EVEN}/messages", body, 201)
    (item,) = await items(ws, 1)
    assert item["media"]["sha256"] == hashlib.sha256(pdf).hexdigest()
    response = await client.get(f"/media/{item['media']['sha256']}")
    assert response.status == 200
    assert await response.read() == pdf
    assert response.content_type == "application/pdf"


async def test_the_phone_page_runs_only_its_own_script(client: Client) -> None:
    response = await client.get("/phone")
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert 'lang="pt-BR"' in page
    assert "Escanear" in page
    assert "Enviar" in page
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = response.headers["Content-Security-Policy"]
    assert f"script-src 'sha256-{digest}';" in policy
    assert "http" not in page.replace("http-equiv", "")  # no external assets


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_run_serves_until_sigterm_and_closes_devices_politely() -> None:
    port = free_port()
    code = f"from sessions.sim.server import run; raise SystemExit(run('127.0.0.1', {port}))"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            deadline = time.monotonic() + 10
            while True:
                try:
                    async with http.get("/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    assert time.monotonic() < deadline, "the sim did not start"
                    await asyncio.sleep(0.05)
            async with http.ws_connect("/device") as ws:
                await ws.send_json({"type": "hello"})
                assert (await receive(ws))["type"] == "qr"
                process.send_signal(signal.SIGTERM)
                closing = await ws.receive(timeout=5)
                assert closing.type is WSMsgType.CLOSE
                assert closing.data == aiohttp.WSCloseCode.GOING_AWAY
        async with asyncio.timeout(10):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
