"""What the API and the websocket show of a suggestion."""

from __future__ import annotations

from datetime import datetime

from core.storage.models import Suggestion, SuggestionOutcome, SuggestionState
from core.views import View


class SuggestionOut(View):
    id: int
    conversation_id: int
    message_id: int | None
    state: SuggestionState
    text: str
    provider: str
    model: str | None
    tokens_in: int | None
    tokens_out: int | None
    latency_ms: int | None
    cost: float | None
    error_code: str | None
    error: str | None
    outcome: SuggestionOutcome | None
    edit_distance: int | None
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, suggestion: Suggestion) -> SuggestionOut:
        return cls.model_validate(suggestion)
