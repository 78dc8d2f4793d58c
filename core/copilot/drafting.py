"""One draft, from start to finish: the context is loaded and the draft stored (as streaming)
before anything is shown; the provider's deltas are published as they come; the result is
stored, then published as ``suggestion.created`` (ready) or ``suggestion.updated`` (failed,
cancelled). The scheduling around it is ``core.copilot.service``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.copilot.breaker import Breaker
from core.copilot.context import DraftContext, load_context
from core.copilot.knowledge import KnowledgeBase
from core.copilot.local import NOTHING_TO_SUGGEST
from core.copilot.prompt import chat_messages, checked
from core.copilot.providers import CopilotFailure, DraftRequest, Provider, Usage
from core.copilot.text import estimate_tokens
from core.copilot.views import SuggestionOut
from core.desk.changes import audience_of
from core.realtime.bus import Audience, Bus, Notice, serialized
from core.realtime.topics import (
    SUGGESTION_CREATED,
    SUGGESTION_DELTA,
    SUGGESTION_UPDATED,
    conversation_topic,
)
from core.settings import CopilotSettings
from core.storage.base import utcnow
from core.storage.models import Conversation, Suggestion, SuggestionOutcome, SuggestionState
from zapdesk.errors import NotFound

log = structlog.get_logger("core.copilot")

# Deltas are gathered for this long before one notice goes out (tokens come much faster).
DELTA_INTERVAL_S = 0.05
# Drafts using the database at once: a burst of customers never takes the connections the
# inbox needs (the pool has 10 by default).
DATABASE_SLOTS = 3


@dataclass
class Job:
    """One conversation's draft as the scheduler tracks it."""

    suggestion_id: int | None = None
    started: bool = False  # past the quiet time: drafting
    result: SuggestionOut | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Drafter:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        bus: Bus,
        settings: CopilotSettings,
        provider: Provider,
        knowledge: KnowledgeBase,
        breaker: Breaker,
    ) -> None:
        self._db = db
        self._bus = bus
        self._settings = settings
        self._provider = provider
        self._knowledge = knowledge
        self._breaker = breaker
        self._gate = asyncio.Semaphore(DATABASE_SLOTS)

    async def run(self, job: Job, conversation_id: int, requested_by: int | None) -> None:
        """Drafts for the conversation: stored as streaming, deltas published as they come,
        then stored and published as ready (or failed, or cancelled)."""
        try:
            context, audience, job.suggestion_id, requested = await self._start(
                conversation_id, job.suggestion_id, requested_by
            )
        except NotFound:
            return
        suggestion_id = job.suggestion_id
        try:
            text, usage, latency_ms = await self._generate(suggestion_id, context, audience)
        except CopilotFailure as failure:
            log.info("draft_failed", conversation_id=conversation_id, code=failure.code)
            job.result = await self.finish(
                suggestion_id,
                audience,
                SUGGESTION_UPDATED,
                # Nothing to suggest for a message nobody asked about: stored (the stats count
                # it), not shown; the UI simply has no draft.
                publish=requested or failure.code != NOTHING_TO_SUGGEST,
                state=SuggestionState.FAILED,
                error_code=failure.code,
                error=failure.message,
            )
        except asyncio.CancelledError:
            await self.finish(
                suggestion_id,
                audience,
                SUGGESTION_UPDATED,
                state=SuggestionState.CANCELLED,
            )
            raise
        except Exception:
            log.exception("draft_crashed", conversation_id=conversation_id)
            job.result = await self.finish(
                suggestion_id,
                audience,
                SUGGESTION_UPDATED,
                state=SuggestionState.FAILED,
                error_code="internal_error",
                error="The copilot failed unexpectedly.",
            )
        else:
            settings = self._settings
            cost = (
                usage.tokens_in * settings.price_in_per_1k
                + usage.tokens_out * settings.price_out_per_1k
            ) / 1000
            job.result = await self.finish(
                suggestion_id,
                audience,
                SUGGESTION_CREATED,
                state=SuggestionState.READY,
                text=text,
                tokens_in=usage.tokens_in,
                tokens_out=usage.tokens_out,
                latency_ms=latency_ms,
                cost=round(cost, 6),
            )

    async def _start(
        self, conversation_id: int, suggestion_id: int | None, requested_by: int | None
    ) -> tuple[DraftContext, Audience, int, bool]:
        """Loads the context and stores the draft as streaming (before anything is shown)."""
        async with self._gate, self._db.begin() as db:
            await self._knowledge.refresh(db)
            context, conversation = await load_context(
                db, conversation_id, self._settings.history_tokens
            )
            context.passages = self._knowledge.search(
                context.question, self._settings.knowledge_passages
            )
            row = None if suggestion_id is None else await db.get(Suggestion, suggestion_id)
            if row is None:
                row = Suggestion(
                    conversation_id=conversation_id,
                    provider=self._provider.name,
                    model=self._provider.model,
                    requested_by_id=requested_by,
                )
                db.add(row)
            row.state = SuggestionState.STREAMING
            row.message_id = context.message_id
            await db.flush()
            requested = row.requested_by_id is not None
            return context, audience_of(conversation), row.id, requested

    async def _generate(
        self, suggestion_id: int, context: DraftContext, audience: Audience
    ) -> tuple[str, Usage, int]:
        request = DraftRequest(chat_messages(self._settings, context), context)
        started = time.perf_counter()
        parts: list[str] = []
        waiting: list[str] = []
        flushed = float("-inf")
        usage: Usage | None = None
        # The local engine reads the database: it takes a slot like the other database work.
        gate = self._gate if self._provider.uses_database else contextlib.nullcontext()
        async with gate:
            async for chunk in self._breaker.guard(self._provider.stream(request)):
                if chunk.usage is not None:
                    usage = chunk.usage
                if not chunk.delta:
                    continue
                parts.append(chunk.delta)
                waiting.append(chunk.delta)
                now = time.perf_counter()
                if now - flushed >= DELTA_INTERVAL_S:
                    await self._delta(suggestion_id, context.conversation_id, waiting, audience)
                    waiting, flushed = [], now
        if waiting:
            await self._delta(suggestion_id, context.conversation_id, waiting, audience)
        latency_ms = round((time.perf_counter() - started) * 1000)
        text = checked("".join(parts), context)
        if not text:
            raise CopilotFailure("empty_draft", "The AI endpoint answered nothing.")
        if usage is None:  # endpoints that do not report usage: an estimate
            prompt = sum(estimate_tokens(m.content) for m in request.messages)
            usage = Usage(prompt, estimate_tokens(text))
        return text, usage, latency_ms

    async def _delta(
        self, suggestion_id: int, conversation_id: int, parts: list[str], audience: Audience
    ) -> None:
        data = {
            "suggestion_id": suggestion_id,
            "conversation_id": conversation_id,
            "delta": "".join(parts),
        }
        await self._publish(
            Notice(conversation_topic(conversation_id), SUGGESTION_DELTA, data, audience)
        )

    async def finish(
        self,
        suggestion_id: int,
        audience: Audience | None,
        kind: str,
        *,
        publish: bool = True,
        **values: Any,
    ) -> SuggestionOut | None:
        async with self._gate, self._db.begin() as db:
            row = await db.get(Suggestion, suggestion_id)
            if row is None:
                return None
            if audience is None:
                audience = audience_of(await db.get(Conversation, row.conversation_id))
            for name, value in values.items():
                setattr(row, name, value)
            row.completed_at = utcnow()
            await db.flush()
            out = SuggestionOut.of(row)
        if not publish:
            return out
        await self._publish(
            Notice(
                conversation_topic(out.conversation_id),
                kind,
                serialized(out),
                audience,
            )
        )
        return out

    async def mark_ignored(self, conversation_id: int) -> None:
        """The attendant answered without using the ready draft (feedback may still change
        that: the UI can report acceptance after sending)."""
        async with self._db.begin() as db:
            latest = await db.scalar(
                select(Suggestion.id)
                .where(Suggestion.conversation_id == conversation_id)
                .order_by(Suggestion.id.desc())
                .limit(1)
            )
            if latest is None:
                return
            await db.execute(
                update(Suggestion)
                .where(
                    Suggestion.id == latest,
                    Suggestion.state == SuggestionState.READY,
                    Suggestion.outcome.is_(None),
                )
                .values(outcome=SuggestionOutcome.IGNORED, feedback_at=utcnow())
            )

    async def _publish(self, notice: Notice) -> None:
        try:
            await self._bus.publish([notice])
        except Exception:
            # Stored already: the UI reads the suggestion through the API when it reconnects.
            log.exception("copilot_publish_failed", type=notice.type)
