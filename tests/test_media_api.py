"""Uploads: type and size limits, storage round trip, and sending an image."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import aiohttp
import boto3  # type: ignore[import-untyped]
from pydantic import SecretStr

from core.settings import MediaSettings
from tests.conftest import Desk
from tests.test_credentials import ACCESS_KEY_ID, BUCKET, SECRET_ACCESS_KEY
from tests.test_outbound import FakeGateway, conversation, gateway, make_desk, status_is, until
from zapdesk.settings import S3Settings

__all__ = ["gateway"]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def form(data: bytes, mime: str, name: str = "foto.png") -> aiohttp.FormData:
    body = aiohttp.FormData()
    body.add_field("file", data, content_type=mime, filename=name)
    return body


async def test_upload_round_trip_and_send_image(
    aiohttp_client: Any, tmp_path: Path, database_url: str, gateway: FakeGateway
) -> None:
    desk: Desk = await make_desk(aiohttp_client, tmp_path, database_url, gateway.url)
    user = await desk.user("attendant")
    response = await desk.client.post(
        "/api/v1/media", data=form(PNG, "image/png"), headers=desk.auth(user)
    )
    assert response.status == 201, await response.text()
    media = await response.json()
    assert media["mime"] == "image/png"
    assert media["size"] == len(PNG)
    got = await desk.client.get(f"/api/v1/media/{media['id']}", headers=desk.auth(user))
    assert got.status == 200
    assert await got.read() == PNG
    assert got.headers["Content-Type"] == "image/png"
    assert "foto.png" in got.headers["Content-Disposition"]
    assert got.headers["Cache-Control"].startswith("private")

    conversation_id = await conversation(desk)
    sent = await desk.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"media_id": media["id"], "text": "veja"},
        headers=desk.auth(user),
    )
    assert sent.status == 202
    assert (await sent.json())["type"] == "image"
    await until(await status_is(desk, (await sent.json())["id"], "sent"))
    [command] = gateway.sent()
    assert command["type"] == "send.media"
    assert command["media"]["kind"] == "image"
    assert command["media"]["caption"] == "veja"
    assert base64.b64decode(command["media"]["data_b64"]) == PNG


async def test_with_a_bucket_configured_files_go_to_s3_and_come_back(
    aiohttp_client: Any,
    tmp_path: Path,
    database_url: str,
    gateway: FakeGateway,
    s3_endpoint: str,
) -> None:
    s3 = S3Settings(
        bucket=BUCKET,
        endpoint_url=s3_endpoint,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SecretStr(SECRET_ACCESS_KEY),
    )
    desk: Desk = await make_desk(aiohttp_client, tmp_path, database_url, gateway.url, s3=s3)
    user = await desk.user("attendant")
    response = await desk.client.post(
        "/api/v1/media", data=form(PNG, "image/png"), headers=desk.auth(user)
    )
    assert response.status == 201, await response.text()
    media_id = (await response.json())["id"]

    bucket = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    stored = bucket.get_object(Bucket=BUCKET, Key=f"media/{media_id[:2]}/{media_id}")
    assert stored["Body"].read() == PNG
    assert stored["ContentType"] == "image/png"
    assert not (tmp_path / "data" / "media").exists()  # nothing on the local disk

    got = await desk.client.get(f"/api/v1/media/{media_id}", headers=desk.auth(user))
    assert await got.read() == PNG
    conversation_id = await conversation(desk)
    sent = await desk.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"media_id": media_id},
        headers=desk.auth(user),
    )
    await until(await status_is(desk, (await sent.json())["id"], "sent"))
    [command] = gateway.sent()
    assert base64.b64decode(command["media"]["data_b64"]) == PNG


async def test_limits(
    aiohttp_client: Any, tmp_path: Path, database_url: str, gateway: FakeGateway
) -> None:
    desk = await make_desk(
        aiohttp_client, tmp_path, database_url, gateway.url, media=MediaSettings(media_max_bytes=50)
    )
    user = await desk.user("attendant")
    big = await desk.client.post(
        "/api/v1/media", data=form(PNG, "image/png"), headers=desk.auth(user)
    )
    assert big.status == 413
    assert (await big.json())["error"]["code"] == "payload_too_large"
    fake = await desk.client.post(
        "/api/v1/media", data=form(b"%PDF-1.4 x", "image/png"), headers=desk.auth(user)
    )
    assert fake.status == 422
    assert (await fake.json())["error"]["code"] == "media_type_mismatch"
    exe = await desk.client.post(
        "/api/v1/media",
        data=form(b"MZ\x90\x00", "application/x-msdownload"),
        headers=desk.auth(user),
    )
    assert exe.status == 422
    assert (await exe.json())["error"]["code"] == "media_type_not_allowed"
    anonymous = await desk.client.post("/api/v1/media", data=form(b"%PDF-1", "application/pdf"))
    assert anonymous.status == 401
