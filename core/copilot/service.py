"""The copilot at work: drafts replies in the background, stores them, and tells the desk.

A customer's message schedules a draft for its conversation after a quiet time (a burst of
messages gets one draft); an attendant's answer cancels a draft in progress and marks a ready
one that went unused as ignored. While a draft streams, ``suggestion.delta`` notices carry the
text as it comes; the stored draft is then published as ``suggestion.created`` (or
``suggestion.updated`` when it failed or was cancelled). Nothing here ever blocks the inbox: a
slow or failing endpoint only makes drafts fail, clearly, and the breaker makes them fail fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.copilot.breaker import Breaker
from core.copilot.context import HUMAN
from core.copilot.drafting import Drafter, Job
from core.copilot.knowledge import KnowledgeBase
from core.copilot.local import LocalProvider
from core.copilot.providers import Provider
from core.copilot.views import SuggestionOut
from core.realtime import protocol
from core.realtime.bus import Bus, Notice, Subscription
from core.realtime.topics import MESSAGE_CREATED, SUGGESTION_UPDATED, TYPING_OFF, TYPING_ON
from core.settings import CopilotSettings
from core.storage.models import Suggestion, SuggestionState
from zapdesk.errors import Conflict
from zapdesk.tasks import TaskSet

log = structlog.get_logger("core.copilot")

SHUTDOWN_TIMEOUT_S = 5.0
_WATCHED = frozenset({MESSAGE_CREATED, TYPING_ON, TYPING_OFF})


class CopilotDisabled(Conflict):
    code, default_message = (
        "copilot_disabled",
        "The copilot is turned off (ZAPDESK_COPILOT_PROVIDER).",
    )


def make_provider(settings: CopilotSettings, db: async_sessionmaker[AsyncSession]) -> Provider:
    if settings.uses_openai:
        from core.copilot.openai_provider import OpenAIProvider  # only then: the SDK is heavy

        return OpenAIProvider(settings)
    return LocalProvider(db, settings)


class CopilotService:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        bus: Bus,
        settings: CopilotSettings,
        provider: Provider | None = None,
    ) -> None:
        self._db = db
        self._bus = bus
        self._settings = settings
        self.provider = provider or make_provider(settings, db)
        self.knowledge = KnowledgeBase()
        self.breaker = Breaker(settings.breaker_failures, settings.breaker_cooldown_s)
        self._jobs: dict[int, Job] = {}
        self._tasks = TaskSet("copilot_task_failed")
        self._drafter = Drafter(db, bus, settings, self.provider, self.knowledge, self.breaker)
        self._closing = False

    @property
    def settings(self) -> CopilotSettings:
        return self._settings

    @property
    def enabled(self) -> bool:
        return self._settings.provider != "off"

    # What starts and stops drafts.

    def after_ingest(self, notices: Iterable[Notice]) -> None:
        """Reads the notices of a batch this replica committed: a customer's message
        (re)schedules a draft here (one replica drafts, the one that took the batch); the
        customer typing in the same batch holds it at once (the bus also brings it, later)."""
        if not self.enabled:
            return
        for notice in notices:
            conversation_id = protocol.conversation_id(notice.topic)
            if conversation_id is None:
                continue
            if notice.type == MESSAGE_CREATED and notice.data.get("direction") == "inbound":
                self.schedule(conversation_id)
            elif notice.type in (TYPING_ON, TYPING_OFF):
                self._typing(conversation_id, notice.type == TYPING_ON)

    def start(self) -> None:
        """Follows the bus, where every replica's changes arrive: an answer from the company
        cancels a draft in progress wherever it runs, and the customer typing holds a draft
        not started yet (more is coming) until they pause."""
        if self.enabled:
            self._spawn(self._follow(self._bus.subscribe()), "copilot-bus-listener")

    async def _follow(self, envelopes: Subscription) -> None:
        with envelopes:
            async for envelope in envelopes:
                notice = envelope.notice
                conversation_id = protocol.conversation_id(notice.topic)
                if notice.type in _WATCHED and conversation_id is not None:
                    try:
                        self._seen(conversation_id, notice)
                    except Exception:
                        log.exception("copilot_notice_failed", type=notice.type)

    def _seen(self, conversation_id: int, notice: Notice) -> None:
        if notice.type == MESSAGE_CREATED:
            data = notice.data
            if data.get("direction") == "outbound" and data.get("author_type") in HUMAN:
                self.attendant_answered(conversation_id)
            return
        self._typing(conversation_id, notice.type == TYPING_ON)

    def _typing(self, conversation_id: int, typing: bool) -> None:
        job = self._jobs.get(conversation_id)
        if job is not None and not job.started:
            self.schedule(
                conversation_id,
                delay_s=self._settings.typing_hold_s if typing else None,
                suggestion_id=job.suggestion_id,
            )

    def schedule(
        self,
        conversation_id: int,
        *,
        delay_s: float | None = None,
        suggestion_id: int | None = None,
        requested_by: int | None = None,
    ) -> None:
        """A draft for the conversation after ``delay_s`` (default: the debounce); one in
        progress for it is cancelled (a newer message makes it stale)."""
        if self._closing:
            return
        previous = self._stop(conversation_id)
        if suggestion_id is None and previous is not None and not previous.started:
            suggestion_id = previous.suggestion_id  # a requested draft not begun: still owed
        delay = self._settings.debounce_ms / 1000 if delay_s is None else delay_s
        job = Job(suggestion_id)
        job.task = self._spawn(
            self._draft(job, conversation_id, delay, requested_by),
            f"copilot-draft-{conversation_id}",
        )
        self._jobs[conversation_id] = job

        def forget(_: asyncio.Task[None]) -> None:
            if self._jobs.get(conversation_id) is job:
                del self._jobs[conversation_id]

        job.task.add_done_callback(forget)

    def attendant_answered(self, conversation_id: int) -> None:
        stopped = self._stop(conversation_id)
        if self._closing:
            return
        if stopped is not None and not stopped.started and stopped.suggestion_id is not None:
            # A requested draft that had not begun: its task never stored anything.
            self._spawn(
                self._drafter.finish(
                    stopped.suggestion_id,
                    None,
                    SUGGESTION_UPDATED,
                    state=SuggestionState.CANCELLED,
                ),
                f"copilot-cancel-{conversation_id}",
            )
        self._spawn(
            self._drafter.mark_ignored(conversation_id), f"copilot-ignored-{conversation_id}"
        )

    def busy(self, conversation_id: int) -> bool:
        return conversation_id in self._jobs

    async def regenerate(self, conversation_id: int, user_id: int) -> SuggestionOut:
        """A new draft now (no debounce), stored as pending before this answers."""
        if not self.enabled:
            raise CopilotDisabled()
        async with self._db.begin() as db:
            row = Suggestion(
                conversation_id=conversation_id,
                state=SuggestionState.PENDING,
                provider=self.provider.name,
                model=self.provider.model,
                requested_by_id=user_id,
            )
            db.add(row)
            await db.flush()
            out = SuggestionOut.of(row)
        self.schedule(conversation_id, delay_s=0, suggestion_id=out.id, requested_by=user_id)
        return out

    async def draft_now(self, conversation_id: int) -> SuggestionOut | None:
        """Drafts right away and waits for the outcome (evaluation and benchmark scripts)."""
        self.schedule(conversation_id, delay_s=0)
        job = self._jobs[conversation_id]
        assert job.task is not None  # noqa: S101 - schedule() always sets it
        await asyncio.wait({job.task})
        return job.result

    async def close(self) -> None:
        """Cancels every draft (each is stored as cancelled) and waits for them."""
        self._closing = True
        await self._tasks.cancel(SHUTDOWN_TIMEOUT_S)
        await self.provider.close()

    def _stop(self, conversation_id: int) -> Job | None:
        job = self._jobs.pop(conversation_id, None)
        if job is not None and job.task is not None:
            job.task.cancel()
        return job

    def _spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        return self._tasks.spawn(coroutine, name)

    async def _draft(
        self, job: Job, conversation_id: int, delay_s: float, requested_by: int | None
    ) -> None:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        job.started = True
        await self._drafter.run(job, conversation_id, requested_by)


COPILOT = web.AppKey("copilot", CopilotService)
