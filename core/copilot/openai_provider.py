"""The copilot on any OpenAI-compatible endpoint (OpenAI, Azure OpenAI, Ollama, vLLM, LM
Studio), through the official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
from openai.types.chat import ChatCompletionMessageParam

from core.copilot.providers import Chunk, CopilotFailure, DraftRequest, Provider, Usage
from core.settings import CopilotSettings


class OpenAIProvider(Provider):
    """Chat completions on any OpenAI-compatible endpoint, streamed, through the official SDK
    (which retries 429 and 5xx answers itself, honouring Retry-After)."""

    name = "openai"

    def __init__(self, settings: CopilotSettings) -> None:
        self._model = settings.model
        self.model = settings.model
        key = settings.api_key.get_secret_value() if settings.api_key is not None else None
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url,
            # Local servers (Ollama, vLLM, LM Studio) want no key, but the SDK wants one.
            api_key=key or "unused",
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )

    async def stream(self, request: DraftRequest) -> AsyncIterator[Chunk]:
        messages: list[ChatCompletionMessageParam] = [
            {"role": m.role, "content": m.content}  # type: ignore[misc]
            for m in request.messages
        ]
        try:
            stream = await self._client.chat.completions.create(
                model=self._model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                temperature=0.3,
            )
            try:
                async for chunk in stream:
                    for choice in chunk.choices:
                        if choice.delta.content:
                            yield Chunk(delta=choice.delta.content)
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                        yield Chunk(usage=usage)
            finally:
                await stream.close()
        except openai.APITimeoutError:
            raise CopilotFailure(
                "provider_timeout", "The AI endpoint did not answer in time.", provider_fault=True
            ) from None
        except openai.RateLimitError:
            raise CopilotFailure(
                "provider_rate_limited",
                "The AI endpoint refused: too many requests (after retries).",
                provider_fault=True,
            ) from None
        except openai.APIConnectionError:
            raise CopilotFailure(
                "provider_unreachable", "The AI endpoint cannot be reached.", provider_fault=True
            ) from None
        except openai.APIStatusError as exc:
            raise CopilotFailure(
                "provider_error",
                f"The AI endpoint answered {exc.status_code}.",
                provider_fault=exc.status_code >= 500 or exc.status_code in (401, 403, 404),
            ) from None
        except openai.OpenAIError as exc:
            raise CopilotFailure(
                "provider_error",
                f"The AI endpoint failed: {type(exc).__name__}.",
                provider_fault=True,
            ) from None

    async def close(self) -> None:
        await self._client.close()
