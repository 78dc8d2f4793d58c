"""A conversation's figures for the reports, from hand-built audit trails whose every figure was
worked out by hand: a normal day with a transfer, a late answer and a rating; a customer who
writes on Friday evening and is answered on Monday, then reopens; a conversation the bot kept."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from core.desk.sla import open_seconds
from core.reports.facts import Span, facts_of
from core.storage.models import ActorType, ConversationStatus, Department, EventKind
from core.storage.rows import AuditRow

BOT, QUEUED, OPEN, RESOLVED, CLOSED = (
    ConversationStatus.BOT,
    ConversationStatus.QUEUED,
    ConversationStatus.OPEN,
    ConversationStatus.RESOLVED,
    ConversationStatus.CLOSED,
)
OFFICE = Department(
    hours={day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    timezone="America/Sao_Paulo",
    holidays=[],
)
business = partial(open_seconds, OFFICE)


def line(
    when: str,
    event: EventKind,
    came: ConversationStatus | None,
    went: ConversationStatus,
    assignee: int | None = None,
    **data: Any,
) -> AuditRow:
    return AuditRow(
        conversation_id=1,
        kind=event,
        actor_type=ActorType.SYSTEM,
        from_status=came,
        to_status=went,
        reason="",
        data=data,
        to_assignee_id=assignee,
        created_at=datetime.fromisoformat(f"{when}-03:00"),
    )


def test_a_day_with_a_transfer_a_late_answer_and_a_rating() -> None:
    facts = facts_of(
        [
            line("2026-12-07T09:00", EventKind.CREATED, None, QUEUED),
            line("2026-12-07T09:05", EventKind.ASSIGNED, QUEUED, OPEN, 7),
            line(
                "2026-12-07T09:06",
                EventKind.RESPONDED,
                OPEN,
                OPEN,
                7,
                kind="first",
                waited_s=360,
                business_s=360,
                met=True,
            ),
            line("2026-12-07T09:30", EventKind.TRANSFERRED, OPEN, QUEUED),
            line("2026-12-07T09:40", EventKind.ASSIGNED, QUEUED, OPEN, 8),
            line("2026-12-07T09:58", EventKind.SLA_BREACHED, OPEN, OPEN, 8, kind="next"),
            line(
                "2026-12-07T10:00",
                EventKind.RESPONDED,
                OPEN,
                OPEN,
                8,
                kind="next",
                waited_s=120,
                business_s=120,
                met=False,
            ),
            line("2026-12-07T11:00", EventKind.STATUS_CHANGED, OPEN, RESOLVED, 8),
            line("2026-12-07T11:02", EventKind.RATED, RESOLVED, RESOLVED, 8, rating=5),
            line("2026-12-07T11:03", EventKind.RATED, RESOLVED, RESOLVED, 8, comment="Ótimo"),
            line("2026-12-07T12:00", EventKind.NOTE, RESOLVED, RESOLVED, 8),
        ],
        business,
    )
    assert facts.reached_people
    assert not facts.contained_by_bot
    assert facts.ended_at == datetime.fromisoformat("2026-12-07T11:00-03:00")
    assert facts.first_wait == Span(300, 300)
    assert facts.handling == Span(6900, 6900)  # 09:05 → 11:00
    assert facts.resolution == Span(7200, 7200)
    assert facts.first_response == Span(360, 360)
    assert facts.next_responses == [Span(120, 120)]
    assert (facts.sla_met, facts.sla_missed, facts.breaches) == (1, 1, 1)
    assert (facts.transfers, facts.reopenings, facts.rating) == (1, 0, 5)


def test_a_friday_night_counts_only_working_hours_and_a_reopening_moves_the_end() -> None:
    facts = facts_of(
        [
            line("2026-12-11T17:50", EventKind.CREATED, None, QUEUED),
            line("2026-12-14T08:10", EventKind.ASSIGNED, QUEUED, OPEN, 7),
            line("2026-12-14T08:20", EventKind.STATUS_CHANGED, OPEN, RESOLVED, 7),
            line("2026-12-14T09:00", EventKind.STATUS_CHANGED, RESOLVED, QUEUED),
            line("2026-12-14T09:01", EventKind.ASSIGNED, QUEUED, OPEN, 7),
            line("2026-12-14T09:30", EventKind.STATUS_CHANGED, OPEN, RESOLVED, 7),
        ],
        business,
    )
    # Friday 17:50 → Monday 08:10: 2 days 14 h 20 min in all, 10 + 10 minutes of work.
    assert facts.first_wait == Span(2 * 86_400 + 14 * 3600 + 20 * 60, 1200)
    assert facts.reopenings == 1
    assert facts.ended_at == datetime.fromisoformat("2026-12-14T09:30-03:00")
    assert facts.handling == Span(80 * 60, 80 * 60)  # Monday 08:10 → 09:30
    assert facts.resolution == Span(2 * 86_400 + 15 * 3600 + 40 * 60, 100 * 60)
    assert facts.first_response is None  # nobody wrote to her: no answer recorded


def test_a_conversation_the_bot_kept_never_reached_people() -> None:
    facts = facts_of(
        [
            line("2026-12-07T10:00", EventKind.CREATED, None, BOT),
            line("2026-12-07T10:05", EventKind.STATUS_CHANGED, BOT, CLOSED),
        ],
        business,
    )
    assert facts.contained_by_bot
    assert facts.resolution == Span(300, 300)
    assert (facts.first_wait, facts.handling) == (None, None)
    # Still at the bot: nothing ended, nothing contained yet.
    started = [line("2026-12-07T10:00", EventKind.CREATED, None, BOT)]
    assert not facts_of(started, business).contained_by_bot
