"""The reply copilot: a conversation's latest draft, drafting again, what the attendant did
with a draft, and how useful drafts are."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select

from core.api.routing import STAFF, Api, Call
from core.copilot import assist
from core.copilot.context import load_context
from core.copilot.providers import CopilotFailure
from core.copilot.service import COPILOT, CopilotDisabled, CopilotService
from core.copilot.stats import CopilotStats, copilot_stats
from core.copilot.text import levenshtein
from core.copilot.views import SuggestionOut
from core.inbox import queries
from core.storage.base import utcnow
from core.storage.models import (
    Direction,
    Message,
    Suggestion,
    SuggestionOutcome,
    SuggestionState,
)
from zapdesk.errors import Conflict, NotFound, ZapdeskError

api = Api()
TAGS = ("copilot",)
MAX_FINAL_TEXT = 4096


@api.operation(
    "GET",
    "/conversations/{id}/suggestion",
    summary="The conversation's latest reply draft",
    response=SuggestionOut,
    tags=TAGS,
)
async def get_suggestion(call: Call[None, None]) -> SuggestionOut:
    """404 `not_found` until a draft was started. A draft in `streaming` state is still being
    written (`suggestion.delta` on the conversation's topic carries the text as it comes)."""
    conversation_id = call.int_param("id")
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        await queries.get_conversation(db, viewer, conversation_id)
        found = await db.scalar(
            select(Suggestion)
            .where(Suggestion.conversation_id == conversation_id)
            .order_by(Suggestion.id.desc())
            .limit(1)
        )
        if found is None:
            raise NotFound("No draft for this conversation yet.")
        return SuggestionOut.of(found)


@api.operation(
    "POST",
    "/conversations/{id}/suggestions",
    summary="Draft the reply again, now",
    response=SuggestionOut,
    status=202,
    tags=TAGS,
)
async def regenerate_suggestion(call: Call[None, None]) -> SuggestionOut:
    """Answers the new draft as `pending`; `suggestion.created` (or `suggestion.updated` when
    it fails) follows on the conversation's topic. A draft in progress is cancelled."""
    conversation_id = call.int_param("id")
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        await queries.get_conversation(db, viewer, conversation_id)
    return await call.request.app[COPILOT].regenerate(conversation_id, call.me.id)


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["accepted", "edited", "dismissed"]
    final_text: str | None = Field(
        None,
        max_length=MAX_FINAL_TEXT,
        description="What was sent (required for `edited`): its edit distance is recorded.",
    )

    @model_validator(mode="after")
    def _edited_needs_text(self) -> FeedbackIn:
        if self.outcome == "edited" and self.final_text is None:
            raise ValueError("final_text is required when the outcome is edited")
        return self


@api.operation(
    "POST",
    "/suggestions/{id}/feedback",
    summary="Say what became of a draft",
    body=FeedbackIn,
    response=SuggestionOut,
    tags=TAGS,
)
async def suggestion_feedback(call: Call[FeedbackIn, None]) -> SuggestionOut:
    """Only a `ready` draft takes feedback (`conflict` otherwise); a later answer replaces an
    earlier one (the desk marks unused drafts `ignored` when the attendant answers)."""
    suggestion_id = call.int_param("id")
    body = call.body
    async with call.db.begin() as db:
        suggestion = await db.get(Suggestion, suggestion_id, with_for_update=True)
        if suggestion is None:
            raise NotFound(f"No suggestion {suggestion_id}.")
        viewer = await queries.viewer_of(db, call.me)
        try:
            await queries.get_conversation(db, viewer, suggestion.conversation_id)
        except NotFound:
            raise NotFound(f"No suggestion {suggestion_id}.") from None
        if suggestion.state is not SuggestionState.READY:
            raise Conflict(
                f"This draft is {suggestion.state.value}; only a ready draft takes feedback.",
                details={"state": suggestion.state.value},
            )
        outcome = SuggestionOutcome(body.outcome)
        final = body.final_text
        if outcome is SuggestionOutcome.ACCEPTED:
            final = suggestion.text if final is None else final
        distance = None
        if final is not None and outcome is not SuggestionOutcome.DISMISSED:
            # Quadratic in the worst case: off the loop.
            distance = await asyncio.to_thread(levenshtein, suggestion.text, final)
        suggestion.outcome = outcome
        suggestion.final_text = final
        suggestion.edit_distance = distance
        suggestion.feedback_at = utcnow()
        await db.flush()
        return SuggestionOut.of(suggestion)


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(30, ge=1, le=366, description="The period: drafts of the last N days.")


@api.operation(
    "GET",
    "/copilot/stats",
    summary="How useful the drafts are",
    roles=STAFF,
    query=StatsQuery,
    response=CopilotStats,
    tags=TAGS,
)
async def get_copilot_stats(call: Call[None, StatsQuery]) -> CopilotStats:
    async with call.db() as db:
        return await copilot_stats(db, call.query.days)


# Smaller helps: summary, rewrite, contact details.


class CopilotUnavailable(ZapdeskError):
    code, status = "copilot_unavailable", 503
    default_message = "The copilot cannot answer right now."


class AssistOut(BaseModel):
    text: str
    provider: str
    model: str | None


def _service(call: Call[Any, Any]) -> CopilotService:
    service = call.request.app[COPILOT]
    if not service.enabled:
        raise CopilotDisabled()
    return service


async def _assisted(work: Awaitable[assist.Assisted]) -> AssistOut:
    try:
        done = await work
    except CopilotFailure as failure:
        raise CopilotUnavailable(failure.message, details={"reason": failure.code}) from None
    return AssistOut(text=done.text, provider=done.provider, model=done.model)


@api.operation(
    "POST",
    "/conversations/{id}/summary",
    summary="Summarize the conversation (for a transfer)",
    response=AssistOut,
    tags=TAGS,
)
async def summarize_conversation(call: Call[None, None]) -> AssistOut:
    """Who the customer is, what they asked, what was answered and what is pending;
    `copilot_unavailable` (503) when the AI endpoint fails."""
    service = _service(call)
    conversation_id = call.int_param("id")
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        await queries.get_conversation(db, viewer, conversation_id)
        context, _ = await load_context(db, conversation_id, service.settings.history_tokens)
    return await _assisted(
        assist.summarize(service.provider, service.breaker, service.settings, context)
    )


class RewriteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_FINAL_TEXT)
    action: Literal["shorter", "friendlier", "formal", "grammar"]

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the text is empty")
        return value


@api.operation(
    "POST",
    "/copilot/rewrite",
    summary="Rewrite a reply: shorter, friendlier, formal or with grammar fixed",
    body=RewriteIn,
    response=AssistOut,
    tags=TAGS,
)
async def rewrite_text(call: Call[RewriteIn, None]) -> AssistOut:
    service = _service(call)
    return await _assisted(
        assist.rewrite(
            service.provider, service.breaker, service.settings, call.body.text, call.body.action
        )
    )


class ContactProposal(BaseModel):
    contact_id: int
    name: str | None = Field(description="Proposed; null when the customer did not say.")
    email: str | None
    company: str | None = Field(description="For the contact's `company` custom field.")
    changes: dict[str, Any] = Field(
        description="What would change: a body for `PATCH /contacts/{id}` (send it to accept)."
    )


@api.operation(
    "POST",
    "/conversations/{id}/contact-proposal",
    summary="Contact details the customer stated, proposed (not applied)",
    response=ContactProposal,
    tags=TAGS,
)
async def propose_contact_details(call: Call[None, None]) -> ContactProposal:
    """Name, e-mail and company the customer wrote about themselves in this conversation.
    Nothing is saved: the attendant accepts by sending `changes` to `PATCH /contacts/{id}`."""
    conversation_id = call.int_param("id")
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        conversation, contact = await queries.get_conversation(db, viewer, conversation_id)
        texts = list(
            await db.scalars(
                select(Message.body)
                .where(
                    Message.conversation_id == conversation.id,
                    Message.direction == Direction.INBOUND,
                )
                .order_by(Message.created_at, Message.id)
                .limit(200)
            )
        )
    proposal = assist.propose_contact(texts)
    changes: dict[str, Any] = {}
    if proposal.name and proposal.name != contact.name:
        changes["name"] = proposal.name
    if proposal.email and proposal.email != contact.email:
        changes["email"] = proposal.email
    if proposal.company and contact.attributes.get("company") != proposal.company:
        changes["attributes"] = {**contact.attributes, "company": proposal.company}
    return ContactProposal(
        contact_id=contact.id,
        name=proposal.name,
        email=proposal.email,
        company=proposal.company,
        changes=changes,
    )
