"""Media uploads: attachments the desk sends (type and size limits; local disk or S3)."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import BodyPartReader, web
from pydantic import BaseModel

from core.api.routing import Api, Call
from core.media import MEDIA_STORE, check_type, declared_type, store_upload
from core.storage.models import MediaFile
from zapdesk.errors import BadRequest, NotFound, PayloadTooLarge

api = Api()
TAGS = ("media",)
CHUNK = 64 * 1024


class MediaOut(BaseModel):
    id: str
    mime: str
    size: int
    filename: str | None
    sha256: str


@api.operation(
    "POST", "/media", summary="Upload a file to send", response=MediaOut, status=201, tags=TAGS
)
async def upload_media(call: Call[None, None]) -> MediaOut:
    """`multipart/form-data` with the file in the field `file`. Its declared type must be
    allowed and its content must match it (`media_type_not_allowed`, `media_type_mismatch`);
    too large a file is refused with `payload_too_large`."""
    limits = call.settings.media
    try:
        reader = await call.request.multipart()
    except (AssertionError, ValueError, KeyError):
        raise BadRequest("Send the file as multipart/form-data in the field 'file'.") from None
    part = None
    while (found := await reader.next()) is not None:
        if isinstance(found, BodyPartReader) and found.name == "file":
            part = found
            break
    if part is None:
        raise BadRequest("Send the file as multipart/form-data in the field 'file'.")
    mime = declared_type(part.headers.get("Content-Type"))
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data += chunk
        if len(data) > limits.media_max_bytes:
            raise PayloadTooLarge(
                f"The file is larger than {limits.media_max_bytes} bytes.",
                details={"max_bytes": limits.media_max_bytes},
            )
    if not data:
        raise BadRequest("The file is empty.")
    check_type(mime, bytes(data[:64]), limits.allowed_types)
    record = await store_upload(
        call.request.app[MEDIA_STORE], bytes(data), mime, part.filename, call.me.id
    )
    async with call.db.begin() as db:
        db.add(record)
    return MediaOut(
        id=record.id,
        mime=record.mime,
        size=record.size,
        filename=record.filename,
        sha256=record.sha256,
    )


def _disposition(filename: str | None) -> str:
    if not filename:
        return "inline"
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


@api.operation("GET", "/media/{id}", summary="Download an uploaded file", tags=TAGS)
async def get_media(call: Call[None, None]) -> web.StreamResponse:
    async with call.db() as db:
        media = await db.get(MediaFile, call.param("id"))
    if media is None:
        raise NotFound(f"No file {call.param('id')}.")
    headers = {
        "Content-Type": media.mime,
        "Content-Disposition": _disposition(media.filename),
        "Cache-Control": "private, max-age=86400",
    }
    store = call.request.app[MEDIA_STORE]
    path = store.local_path(media.storage_key)
    if path is not None:
        return web.FileResponse(path, headers=headers)
    data = await store.get(media.storage_key)
    response = web.StreamResponse(headers=headers)
    response.content_length = len(data)
    await response.prepare(call.request)
    for start in range(0, len(data), CHUNK):
        await response.write(data[start : start + CHUNK])
    await response.write_eof()
    return response
