"""The local engine: no network. It answers with what attendants answered before to the most
similar questions, or with the knowledge base and quick replies, adapted to this customer.

Adapting means: this customer's first name instead of the other customer's, no greeting when
the conversation already had one, no sign-off unless the company configured one. A candidate
carrying personal data (a phone, an e-mail, a CPF) is never reused for another customer.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.copilot.context import DraftContext, Passage
from core.copilot.history import HistoryIndex
from core.copilot.providers import Chunk, CopilotFailure, DraftRequest, Provider, Usage
from core.copilot.text import estimate_tokens, has_pii, split_greeting, strip_sign_off, words
from core.settings import CopilotSettings

# Below this a match is a coincidence of common words, not the same question.
MIN_CONFIDENCE = 0.2
# A knowledge passage this good is added to a past reply that does not already carry it.
KNOWLEDGE_EXTRA = 0.45
DELTAS = 4
NOTHING_TO_SUGGEST = "nothing_to_suggest"
REFRESH_EVERY_S = 1.0


@dataclass(frozen=True)
class Candidate:
    text: str
    confidence: float
    other_name: str | None = None  # the name of the customer it was written for
    source: str = "history"


_TIME_OF_DAY = re.compile(r"^\s*(?:bom dia|boa tarde|boa noite)", re.IGNORECASE)


def _replace_name(text: str, old: str | None, new: str | None) -> str:
    if not old or (new is not None and old == new):
        return text
    pattern = re.compile(rf"\b{re.escape(old)}\b")
    if new:
        return pattern.sub(new, text)
    # No name to put in its place: "Olá, Maria!" becomes "Olá!", "Maria, o prazo" "o prazo".
    text = re.sub(rf"^\s*{re.escape(old)}\b[,!]?\s*", "", text)
    return re.sub(rf",?\s*\b{re.escape(old)}\b", "", text)


def adapt(candidate: Candidate, context: DraftContext, settings: CopilotSettings) -> str:
    name = context.first_name if settings.greet_by_name else None
    greeting, body = split_greeting(candidate.text.strip())
    body = _replace_name(body, candidate.other_name, context.first_name)
    if context.attendant_spoke:
        greeting = ""
    elif greeting:
        # "Boa tarde" was right when it was written, not necessarily now.
        greeting = _TIME_OF_DAY.sub("Olá", greeting)
        greeting = _replace_name(greeting, candidate.other_name, name)
    elif name:
        greeting = f"Olá, {name}!"
    if name and name in greeting:  # "Olá, Ana! Ana, o prazo..." says the name once
        body = re.sub(rf"^{re.escape(name)}\b[,!]?\s*", "", body)
    body = strip_sign_off(body)
    if body and body[0].islower() and (not greeting or greeting[-1] in ".!?"):
        body = body[0].upper() + body[1:]
    text = f"{greeting} {body}".strip() if greeting and body else (body or greeting)
    if settings.sign_off:
        text = f"{text}\n{settings.sign_off}"
    return text


def _carries(text: str, passage: Passage) -> bool:
    """Whether the reply already states most of the passage's words."""
    have = set(words(text))
    need = set(words(passage.text))
    return bool(need) and len(need & have) >= 0.6 * len(need)


class LocalProvider(Provider):
    name = "local"
    model: str | None = "bm25"
    uses_database = True

    def __init__(self, db: async_sessionmaker[AsyncSession], settings: CopilotSettings) -> None:
        self._db = db
        self._settings = settings
        self.history = HistoryIndex()
        self._refreshed_at = float("-inf")

    async def refresh(self) -> None:
        """Learns the replies stored since the last look (at most once a second: a reply
        given a moment ago is rarely the answer to the next question already)."""
        if time.monotonic() - self._refreshed_at < REFRESH_EVERY_S:
            return
        async with self._db() as db:
            await self.history.refresh(db)
        self._refreshed_at = time.monotonic()

    def draft(self, context: DraftContext) -> str:
        """The adapted best candidate; CopilotFailure when nothing fits the question."""
        candidates = [
            Candidate(pair.reply, confidence, pair.first_name)
            for confidence, pair in self.history.search(context.question, limit=8)
        ]
        candidates += [Candidate(p.text, p.confidence, source=p.source) for p in context.passages]
        candidates.sort(key=lambda c: c.confidence, reverse=True)
        best_passage = next((p for p in context.passages if p.source == "knowledge"), None)
        for candidate in candidates:
            if candidate.confidence < MIN_CONFIDENCE:
                break
            if has_pii(candidate.text):
                continue  # another customer's data: never shown to this one
            text = adapt(candidate, context, self._settings)
            if (
                candidate.source == "history"
                and best_passage is not None
                and best_passage.confidence >= KNOWLEDGE_EXTRA
                and not _carries(text, best_passage)
                and not has_pii(best_passage.text)
            ):
                text = f"{text}\n{best_passage.text}"
            return text
        raise CopilotFailure(
            NOTHING_TO_SUGGEST, "No past reply or article matches this question yet."
        )

    async def stream(self, request: DraftRequest) -> AsyncIterator[Chunk]:
        await self.refresh()
        text = self.draft(request.context)
        # A few deltas, like a model would stream them, so the UI path is the same.
        tokens = re.findall(r"\S+\s*", text)
        step = max(1, -(-len(tokens) // DELTAS))
        for start in range(0, len(tokens), step):
            yield Chunk(delta="".join(tokens[start : start + step]))
            await asyncio.sleep(0)
        yield Chunk(usage=Usage(estimate_tokens(request.context.question), estimate_tokens(text)))
