"""What drafts a reply: one small interface, two engines.

A provider streams the draft as ``Chunk``s (text deltas, then the usage) for a ``DraftRequest``
that carries both the chat messages an LLM needs and the structured context the local engine
ranks with. A provider that cannot answer raises ``CopilotFailure`` with a stable code. The
OpenAI engine is in ``core.copilot.openai_provider``, imported only when it is configured (the
SDK takes a fifth of core's start-up).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from core.copilot.context import DraftContext


class CopilotFailure(Exception):
    """A draft that could not be made; ``code`` is stable, the message is for people.

    ``provider_fault`` failures count towards the circuit breaker (the endpoint is in trouble);
    the others (nothing to suggest, an unsafe draft) say nothing about the endpoint's health.
    """

    def __init__(self, code: str, message: str, *, provider_fault: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.provider_fault = provider_fault


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass
class DraftRequest:
    messages: list[ChatMessage]
    context: DraftContext


@dataclass(frozen=True)
class Usage:
    tokens_in: int
    tokens_out: int


@dataclass(frozen=True)
class Chunk:
    delta: str = ""
    usage: Usage | None = field(default=None)


class Provider(ABC):
    name: str
    model: str | None
    uses_database = False

    @abstractmethod
    def stream(self, request: DraftRequest) -> AsyncIterator[Chunk]:
        """The draft as deltas; the last chunk may carry the usage."""

    async def close(self) -> None:  # noqa: B027 - an optional hook
        """Releases connections."""
