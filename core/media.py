"""Attachments the desk sends: type checks (declared type and magic bytes), storage on local
disk under the data dir or in S3, and the ``media_files`` record."""

from __future__ import annotations

import asyncio
import hashlib
import re
import unicodedata
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from core.settings import Settings
from core.storage.models import MediaFile
from sessions.commands import OutgoingMediaKind
from sessions.ids import new_ulid
from zapdesk.errors import ValidationFailed

log = structlog.get_logger("core.media")

FILENAME_MAX = 255


class MediaTypeNotAllowed(ValidationFailed):
    code, status, default_message = (
        "media_type_not_allowed",
        422,
        "This type of file cannot be sent.",
    )


class MediaTypeMismatch(ValidationFailed):
    code, status, default_message = (
        "media_type_mismatch",
        422,
        "The file's content does not match its declared type.",
    )


# What the first bytes of each allowed type look like. Office's newer formats are ZIP files
# and the older ones OLE compound files: the magic cannot tell .docx from .xlsx, and need not.
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _is_mp4(head: bytes) -> bool:
    return head[4:8] == b"ftyp"


def _is_mpeg_audio(head: bytes) -> bool:
    return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] >= 0xE0)


_MAGIC: dict[str, Any] = {
    "image/jpeg": lambda h: h.startswith(b"\xff\xd8\xff"),
    "image/png": lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/webp": lambda h: h.startswith(b"RIFF") and h[8:12] == b"WEBP",
    "audio/ogg": lambda h: h.startswith(b"OggS"),
    "audio/mpeg": _is_mpeg_audio,
    "audio/mp4": _is_mp4,
    "video/mp4": _is_mp4,
    "application/pdf": lambda h: h.startswith(b"%PDF-"),
    "application/msword": lambda h: h.startswith(_OLE),
    "application/vnd.ms-excel": lambda h: h.startswith(_OLE),
    "application/vnd.ms-powerpoint": lambda h: h.startswith(_OLE),
}
for _office in ("wordprocessingml.document", "spreadsheetml.sheet", "presentationml.presentation"):
    _MAGIC[f"application/vnd.openxmlformats-officedocument.{_office}"] = lambda h: h.startswith(
        _ZIP
    )


def declared_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_type(mime: str, head: bytes, allowed: frozenset[str]) -> None:
    """Refuses a type not allowed, and content whose magic bytes are not of its declared type
    (a type with no known magic is trusted by its declaration alone)."""
    if mime not in allowed:
        raise MediaTypeNotAllowed(
            f"Files of type {mime or 'unknown'} cannot be sent.",
            details={"mime": mime, "allowed": sorted(allowed)},
        )
    matches = _MAGIC.get(mime)
    if matches is not None and not matches(head):
        raise MediaTypeMismatch(f"The file does not look like {mime}.", details={"mime": mime})


def kind_of(mime: str) -> OutgoingMediaKind:
    """How WhatsApp shows it: ogg/opus audio is a voice note, other audio a file to play."""
    if mime.startswith("image/"):
        return OutgoingMediaKind.IMAGE
    if mime == "audio/ogg":
        return OutgoingMediaKind.VOICE
    if mime.startswith("audio/"):
        return OutgoingMediaKind.AUDIO
    if mime.startswith("video/"):
        return OutgoingMediaKind.VIDEO
    return OutgoingMediaKind.DOCUMENT


def safe_filename(name: str | None) -> str | None:
    if not name:
        return None
    base = re.split(r"[\\/]", name)[-1]
    cleaned = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    return cleaned[:FILENAME_MAX] or None


class MediaStore(ABC):
    @abstractmethod
    async def put(self, key: str, data: bytes, mime: str) -> None: ...

    @abstractmethod
    async def get(self, key: str) -> bytes: ...

    def local_path(self, key: str) -> Path | None:
        """The file on disk, when the store keeps one (served without reading it whole)."""
        return None

    async def close(self) -> None:  # noqa: B027 - an optional hook
        pass


class LocalMediaStore(MediaStore):
    def __init__(self, root: Path) -> None:
        self.root = root

    def local_path(self, key: str) -> Path:
        return self.root / key

    async def put(self, key: str, data: bytes, mime: str) -> None:
        path = self.local_path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(path)  # never a half-written file under the final name

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self.local_path(key).read_bytes)


class S3MediaStore(MediaStore):
    def __init__(self, settings: Settings, bucket: str) -> None:
        s3 = settings.s3
        self.bucket = bucket
        secret = s3.secret_access_key
        import boto3  # type: ignore[import-untyped]  # only when S3 is configured

        self._client: Any = boto3.client(
            "s3",
            endpoint_url=s3.endpoint_url,
            region_name=s3.region,
            aws_access_key_id=s3.access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
        )

    async def put(self, key: str, data: bytes, mime: str) -> None:
        await asyncio.to_thread(
            self._client.put_object, Bucket=self.bucket, Key=key, Body=data, ContentType=mime
        )

    async def get(self, key: str) -> bytes:
        def read() -> bytes:
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
            with answer["Body"] as body:
                return bytes(body.read())

        return await asyncio.to_thread(read)

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)


def open_store(settings: Settings) -> MediaStore:
    if settings.s3.bucket:
        return S3MediaStore(settings, settings.s3.bucket)
    return LocalMediaStore(settings.runtime.data_dir)


async def store_upload(
    store: MediaStore, data: bytes, mime: str, filename: str | None, uploader_id: int
) -> MediaFile:
    """Writes the file and answers its (unsaved) record."""
    media_id = new_ulid()
    key = f"media/{media_id[:2]}/{media_id}"
    await store.put(key, data, mime)
    log.info("media_stored", media_id=media_id, mime=mime, size=len(data))
    return MediaFile(
        id=media_id,
        uploader_id=uploader_id,
        mime=mime,
        size=len(data),
        filename=safe_filename(filename),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=key,
    )


MEDIA_STORE = web.AppKey("media_store", MediaStore)
