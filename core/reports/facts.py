"""A conversation's figures, read from its audit trail — the one place the reports' definitions
(docs/reports.md) are written in code.

``facts_of`` takes the conversation's audit lines in order (``ConversationEvent`` rows or
``AuditRow``s: anything with kind, statuses, assignee, data and created_at) and answers what the
reports add up: when it started and ended, whether it ever reached people or the bot kept it,
its first wait in a queue, its handling time, its answers (first and next, with and without
business hours, and whether each met its SLA target), transfers, reopenings, breaches and the
customer's rating. Durations in business hours are counted by the ``business`` function given
(``core.desk.sla.open_seconds`` with the conversation's department), so the SLA and the reports
count time the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from core.storage.models import ConversationStatus, EventKind

PEOPLE = frozenset({ConversationStatus.QUEUED, ConversationStatus.OPEN, ConversationStatus.PENDING})
ENDED = frozenset({ConversationStatus.RESOLVED, ConversationStatus.CLOSED})
HELD = frozenset({ConversationStatus.OPEN, ConversationStatus.PENDING})
Business = Callable[[datetime, datetime], int]  # seconds of working time between two moments


class Line(Protocol):
    kind: EventKind
    from_status: ConversationStatus | None
    to_status: ConversationStatus | None
    to_assignee_id: int | None
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Span:
    """A duration, in all and in business hours (seconds)."""

    seconds: int
    business: int


@dataclass
class Facts:
    started_at: datetime | None = None
    reached_people: bool = False  # ever queued or held: the bot did not keep it
    ended_at: datetime | None = None  # last resolved or closed, if it is so now
    first_wait: Span | None = None  # first queued → first assigned
    handling: Span | None = None  # first assigned → the end
    resolution: Span | None = None  # started → the end
    first_response: Span | None = None
    next_responses: list[Span] = field(default_factory=list)
    sla_met: int = 0  # answers given within a running SLA target
    sla_missed: int = 0  # ... and after it
    breaches: int = 0
    transfers: int = 0
    reopenings: int = 0
    rating: int | None = None  # 1-5, the customer's last rating

    @property
    def contained_by_bot(self) -> bool:
        """It ended without ever reaching a queue or an attendant."""
        return self.ended_at is not None and not self.reached_people


def facts_of(lines: Iterable[Line], business: Business) -> Facts:
    facts = Facts()
    queued_at: datetime | None = None
    assigned_at: datetime | None = None
    for line in lines:
        at, to = line.created_at, line.to_status
        if line.kind is EventKind.CREATED:
            facts.started_at = at
        if to in PEOPLE:
            facts.reached_people = True
        if to is ConversationStatus.QUEUED and queued_at is None:
            queued_at = at
        if to in HELD and line.to_assignee_id is not None and assigned_at is None:
            assigned_at = at
            if queued_at is not None:
                facts.first_wait = _span(queued_at, at, business)
        if line.from_status in ENDED and to is not None and to not in ENDED:
            facts.reopenings += 1
            facts.ended_at = None
        elif to in ENDED and line.from_status not in ENDED:
            facts.ended_at = at  # a rating or a note afterwards does not move the end
        match line.kind:
            case EventKind.TRANSFERRED:
                facts.transfers += 1
            case EventKind.SLA_BREACHED:
                facts.breaches += 1
            case EventKind.RATED if isinstance(line.data.get("rating"), int):
                facts.rating = line.data["rating"]
            case EventKind.RESPONDED:
                _answer(facts, line.data)
    if facts.ended_at is not None:
        if facts.started_at is not None:
            facts.resolution = _span(facts.started_at, facts.ended_at, business)
        if assigned_at is not None:
            facts.handling = _span(assigned_at, facts.ended_at, business)
    return facts


def _answer(facts: Facts, data: dict[str, Any]) -> None:
    span = Span(int(data.get("waited_s", 0)), int(data.get("business_s", 0)))
    if data.get("kind") == "first" and facts.first_response is None:
        facts.first_response = span
    else:
        facts.next_responses.append(span)
    if data.get("met") is True:
        facts.sla_met += 1
    elif data.get("met") is False:
        facts.sla_missed += 1


def _span(since: datetime, until: datetime, business: Business) -> Span:
    return Span(max(0, round((until - since).total_seconds())), business(since, until))
