"""How useful the drafts are: acceptance, edit distance, latency, usage, over a period."""

from __future__ import annotations

import math
from datetime import timedelta

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.base import utcnow
from core.storage.models import Suggestion, SuggestionOutcome, SuggestionState


class Latency(BaseModel):
    p50: float
    p95: float
    p99: float
    count: int


class CopilotStats(BaseModel):
    days: int
    drafts: int = Field(description="Drafts started in the period.")
    by_state: dict[str, int]
    by_outcome: dict[str, int]
    by_provider: dict[str, int]
    acceptance_rate: float | None = Field(
        description="Accepted or edited, among drafts with an outcome."
    )
    mean_edit_distance: float | None = Field(description="Over edited drafts, in characters.")
    latency_ms: Latency | None = Field(description="Of ready drafts, from start to last token.")
    tokens_in: int
    tokens_out: int
    cost: float


def percentile(ordered: list[int], share: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(share * len(ordered)))
    return float(ordered[rank - 1])


async def copilot_stats(db: AsyncSession, days: int) -> CopilotStats:
    since = utcnow() - timedelta(days=days)
    recent = Suggestion.created_at >= since

    async def counts(column: object) -> dict[str, int]:
        rows = await db.execute(
            select(column, func.count()).where(recent).group_by(column)  # type: ignore[call-overload]
        )
        return {str(getattr(key, "value", key)): int(n) for key, n in rows if key is not None}

    by_state = await counts(Suggestion.state)
    by_outcome = await counts(Suggestion.outcome)
    by_provider = await counts(Suggestion.provider)
    judged = sum(by_outcome.values())
    taken = by_outcome.get(SuggestionOutcome.ACCEPTED.value, 0) + by_outcome.get(
        SuggestionOutcome.EDITED.value, 0
    )
    mean_edit = await db.scalar(
        select(func.avg(Suggestion.edit_distance)).where(
            recent, Suggestion.outcome == SuggestionOutcome.EDITED
        )
    )
    latencies = await db.scalars(
        select(Suggestion.latency_ms).where(
            recent,
            Suggestion.state == SuggestionState.READY,
            Suggestion.latency_ms.is_not(None),
        )
    )
    ready = sorted(value for value in latencies if value is not None)
    tokens_in, tokens_out, cost = (
        await db.execute(
            select(
                func.coalesce(func.sum(Suggestion.tokens_in), 0),
                func.coalesce(func.sum(Suggestion.tokens_out), 0),
                func.coalesce(func.sum(Suggestion.cost), 0.0),
            ).where(recent)
        )
    ).one()
    return CopilotStats(
        days=days,
        drafts=sum(by_state.values()),
        by_state=by_state,
        by_outcome=by_outcome,
        by_provider=by_provider,
        acceptance_rate=round(taken / judged, 4) if judged else None,
        mean_edit_distance=None if mean_edit is None else round(float(mean_edit), 2),
        latency_ms=(
            Latency(
                p50=percentile(ready, 0.5),
                p95=percentile(ready, 0.95),
                p99=percentile(ready, 0.99),
                count=len(ready),
            )
            if ready
            else None
        ),
        tokens_in=int(tokens_in),
        tokens_out=int(tokens_out),
        cost=round(float(cost), 6),
    )
