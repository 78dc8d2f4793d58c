"""Files customers sent: the picture, audio or document of a message, streamed from the gateway
that downloaded it (``Media.key``), to whoever may see the message's conversation."""

from __future__ import annotations

from typing import Any

import aiohttp
import structlog
from aiohttp import web

from core.api.media import CHUNK
from core.api.media import _disposition as disposition  # one rule for file names
from core.api.routing import Api, Call
from core.gateway_client import GATEWAY
from core.inbox import queries
from core.inbox.content import MEDIA_KEY
from core.storage.models import Conversation, Message
from zapdesk.errors import NotFound

log = structlog.get_logger("core.api.message_media")

api = Api()
TAGS = ("conversations",)


class MediaNotFound(NotFound):
    code, default_message = "media_not_found", "This message has no file to show."


async def _visible_media(call: Call[None, None], message_id: int) -> dict[str, Any]:
    """The message's media description; NotFound alike for a missing message and for one
    in a conversation the caller may not see, so that its existence does not leak."""
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        message = await db.get(Message, message_id)
        conversation = (
            None if message is None else await db.get(Conversation, message.conversation_id)
        )
    if message is None or conversation is None or not viewer.sees_conversation(conversation):
        raise NotFound(f"No message {message_id}.", details={"message_id": message_id})
    media = message.media or {}
    if not MEDIA_KEY.fullmatch(str(media.get("key") or "")):
        raise MediaNotFound(details={"message_id": message_id})
    return media


@api.operation("GET", "/messages/{id}/media", summary="The file of a received message", tags=TAGS)
async def get_message_media(call: Call[None, None]) -> web.StreamResponse:
    """The picture, audio, video, sticker or document of a message, as the gateway stored it.
    `media_not_found` when the message has no downloaded file; `gateway_unavailable` (503)
    when the gateway cannot be reached."""
    message_id = call.int_param("id")
    media = await _visible_media(call, message_id)
    async with call.request.app[GATEWAY].media(str(media["key"])) as upstream:
        mime = str(media.get("mime") or upstream.content_type or "application/octet-stream")
        response = web.StreamResponse(
            headers={
                "Content-Type": mime,
                "Content-Disposition": disposition(media.get("filename")),
                "Cache-Control": "private, max-age=86400",
            }
        )
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        await response.prepare(call.request)
        try:
            async for chunk in upstream.content.iter_chunked(CHUNK):
                await response.write(chunk)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Too late for an error answer: the short body tells the client it was cut.
            log.warning("message_media_cut", message_id=message_id, error=type(exc).__name__)
            return response
    await response.write_eof()
    return response
