"""Commands core sends to the gateway's HTTP API (``sessions.commands``), with its token."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
import structlog
from aiohttp import web
from pydantic import ValidationError

from core.settings import Settings
from sessions.commands import MarkRead, SendMedia, SendResult, SendText, SetTyping
from zapdesk.errors import ZapdeskError

log = structlog.get_logger("core.gateway_client")

# A receipt is a courtesy to the customer; an attendant must not wait long for it.
READ_TIMEOUT = aiohttp.ClientTimeout(total=3)
# A large file may take long to stream; a gateway that stops sending may not.
MEDIA_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=30)


def _url(settings: Settings, session_id: str, action: str) -> str:
    base = settings.services.gateway_endpoint.rstrip("/")
    return f"{base}/sessions/{quote(session_id, safe='')}/{action}"


def _headers(settings: Settings) -> dict[str, str]:
    token = settings.services.gateway_token
    return {} if token is None else {"Authorization": f"Bearer {token.get_secret_value()}"}


async def mark_read(settings: Settings, session_id: str, chat_jid: str, wa_ids: list[str]) -> None:
    """Asks the gateway to send read receipts for ``wa_ids`` in ``chat_jid``. Best effort: a
    failure is logged, never raised (the desk's own read state is what matters)."""
    command = MarkRead(chat=chat_jid, wa_ids=wa_ids)
    try:
        async with (
            aiohttp.ClientSession(timeout=READ_TIMEOUT) as http,
            http.post(
                _url(settings, session_id, "read"),
                json=command.model_dump(mode="json"),
                headers=_headers(settings),
            ) as response,
        ):
            if response.status >= 400:
                log.warning(
                    "read_receipt_refused",
                    session_id=session_id,
                    status=response.status,
                    messages=len(wa_ids),
                )
                return
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning(
            "read_receipt_failed",
            session_id=session_id,
            error=type(exc).__name__,
            detail=str(exc)[:200],
            messages=len(wa_ids),
        )
        return
    log.debug("read_receipt_sent", session_id=session_id, messages=len(wa_ids))


# The gateway's session API, through one HTTP client per app (``GATEWAY``).


class GatewayUnavailable(ZapdeskError):
    code, status, default_message = (
        "gateway_unavailable",
        503,
        "The WhatsApp gateway cannot be reached; try again in a moment.",
    )


class GatewayRefused(ZapdeskError):
    """The gateway answered an error; ``code`` and ``status`` are its own (see ``refused``)."""

    gateway_status: ClassVar[int] = 500


@functools.cache
def _refusal_class(code: str, status: int) -> type[GatewayRefused]:
    # Codes are class attributes in the shared hierarchy: one small subclass per code seen.
    shown = status if 400 <= status < 500 else 502
    shown_code = code if 400 <= status < 500 else "gateway_error"
    return type(
        "GatewayRefused",
        (GatewayRefused,),
        {"code": shown_code, "status": shown, "gateway_status": status},
    )


def refused(status: int, code: str, message: str, details: dict[str, Any]) -> GatewayRefused:
    """The gateway's 4xx passed through with its code and status; a 5xx is a 502 gateway_error."""
    return _refusal_class(code, status)(message, details=details)


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class GatewayClient:
    """Calls to the gateway with its Bearer token. Failures raise ``GatewayUnavailable`` (not
    reachable, timed out) or ``GatewayRefused`` (an error answer)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._base = settings.services.gateway_endpoint.rstrip("/")
        self._http = aiohttp.ClientSession(
            headers=_headers(settings), timeout=aiohttp.ClientTimeout(total=10)
        )

    async def close(self) -> None:
        await self._http.close()

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> Reply:
        url = self._base + path
        try:
            async with self._http.request(
                method,
                url,
                json=body,
                params=query,
                timeout=aiohttp.ClientTimeout(total=timeout_s) if timeout_s else None,
            ) as response:
                reply = Reply(response.status, response.content_type, await response.read())
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("gateway_unreachable", path=path, error=type(exc).__name__)
            raise GatewayUnavailable(details={"reason": type(exc).__name__}) from None
        if reply.status >= 400:
            raise _refusal(reply)
        return reply

    def session_path(self, session_id: str, action: str = "") -> str:
        path = f"/sessions/{quote(session_id, safe='')}"
        return f"{path}/{action}" if action else path

    async def send(
        self, session_id: str, command: SendText | SendMedia, *, timeout_s: float
    ) -> SendResult:
        reply = await self.call(
            "POST",
            self.session_path(session_id, "messages"),
            command.model_dump(mode="json", exclude_none=True),
            timeout_s=timeout_s,
        )
        try:
            return SendResult.model_validate(reply.json())
        except (ValueError, ValidationError):
            raise refused(502, "gateway_error", "The gateway answered nonsense.", {}) from None

    @contextlib.asynccontextmanager
    async def media(self, key: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """A file customers sent (``GET /media/{key}``), as an open response to stream from.
        A missing file raises the gateway's 404 (``media_not_found``) through ``refused``."""
        path = f"/media/{quote(key, safe='')}"
        try:
            response = await self._http.get(self._base + path, timeout=MEDIA_TIMEOUT)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("gateway_unreachable", path="/media", error=type(exc).__name__)
            raise GatewayUnavailable(details={"reason": type(exc).__name__}) from None
        try:
            if response.status >= 400:
                body = await response.read()
                raise _refusal(Reply(response.status, response.content_type, body))
            yield response
        finally:
            response.release()

    async def typing(self, session_id: str, command: SetTyping, *, timeout_s: float = 3) -> None:
        await self.call(
            "POST",
            self.session_path(session_id, "typing"),
            command.model_dump(mode="json"),
            timeout_s=timeout_s,
        )


def _refusal(reply: Reply) -> GatewayRefused:
    code, message, details = "gateway_error", f"The gateway answered {reply.status}.", {}
    try:
        error = reply.json()["error"]
        code = str(error["code"])
        message = str(error.get("message") or message)
        details = dict(error.get("details") or {})
    except (ValueError, KeyError, TypeError):
        pass
    return refused(reply.status, code, message, details)


GATEWAY = web.AppKey("gateway", GatewayClient)
