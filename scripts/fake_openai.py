"""A small local HTTP server speaking OpenAI's chat-completions wire format, for the copilot's
tests and benchmarks: streamed answers (SSE chunks, a usage chunk, ``[DONE]``), and on demand
429 with Retry-After, 500, or an answer slower than the client's timeout.

It records every request body it received, so tests can check what left the desk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Reply = Callable[[dict[str, Any]], str]


def _default_reply(body: dict[str, Any]) -> str:
    return "Claro! Seu pedido chega em até 3 dias úteis."


@dataclass
class FakeOpenAI:
    reply: Reply = _default_reply
    delay_s: float = 0.0  # before the answer starts (a slow model, or a timeout)
    chunk_delay_s: float = 0.0  # between streamed chunks
    fail_status: int | None = None  # answer this status ...
    fail_times: int = 0  # ... this many times (then answer normally)
    retry_after: str = "0"
    usage: bool = True
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def user_texts(self) -> list[str]:
        """Every message content the server received, in order."""
        return [m["content"] for body in self.requests for m in body["messages"]]

    async def start(self, host: str = "127.0.0.1") -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{host}:{port}/v1"
        return self.url

    async def close(self) -> None:
        self._closing.set()  # answers still waiting end now, not after their delay
        if self._runner is not None:
            await self._runner.cleanup()

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if self.fail_status is not None and self.fail_times > 0:
            self.fail_times -= 1
            error = {"error": {"message": "fake failure", "type": "server_error"}}
            return web.json_response(
                error, status=self.fail_status, headers={"Retry-After": self.retry_after}
            )
        if self.delay_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.delay_s)
            if self._closing.is_set():
                return web.Response(status=503)
        text = self.reply(body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        created = int(time.time())
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created}
        base["model"] = body.get("model", "fake")
        pieces = [text[i : i + 8] for i in range(0, len(text), 8)] or [""]
        for index, piece in enumerate(pieces):
            delta: dict[str, Any] = {"content": piece}
            if index == 0:
                delta["role"] = "assistant"
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if self.chunk_delay_s:
                await asyncio.sleep(self.chunk_delay_s)
        done = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await response.write(f"data: {json.dumps(done)}\n\n".encode())
        include = (body.get("stream_options") or {}).get("include_usage")
        if self.usage and include:
            prompt = sum(len(m["content"]) for m in body["messages"]) // 4
            usage = {"prompt_tokens": prompt, "completion_tokens": len(text) // 4 + 1}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            chunk = {**base, "choices": [], "usage": usage}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
