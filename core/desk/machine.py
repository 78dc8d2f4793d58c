"""The conversation state machine: the one way a conversation's status, department and assignee
change (ingest, the API, the bot, timers and workers all come here).

    bot → queued → open ⇄ pending → resolved → closed    (plus assign, unassign, transfer)

Each move checks it is allowed from the current status (``invalid_transition`` otherwise),
sets the columns, writes one audit line (who, why, from → to, note) and marks the conversation
changed in the unit's change set, which turns that into notices after the commit. Moves that
put a conversation in a queue or free an attendant ask for an assignment sweep (a durable job),
so a queue never waits on a missed wake-up. Whoever a move gives a conversation to hears of it
in their bell (core.desk.notifications), unless they took it themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.desk.changes import Changes
from core.desk.notifications import ASSIGNED, MENTIONED, TRANSFERRED
from core.storage.base import utcnow
from core.storage.models import ActorType, ConversationStatus, EventKind
from core.storage.rows import AuditRow, ConversationRow
from zapdesk.errors import Conflict

BOT, QUEUED, OPEN, PENDING, RESOLVED, CLOSED = (
    ConversationStatus.BOT,
    ConversationStatus.QUEUED,
    ConversationStatus.OPEN,
    ConversationStatus.PENDING,
    ConversationStatus.RESOLVED,
    ConversationStatus.CLOSED,
)
ENDED = frozenset({RESOLVED, CLOSED})
HELD = frozenset({OPEN, PENDING})  # an attendant's load

# Jobs the machine asks for (their handlers live in core.desk.assignment).
SWEEP = "assign.sweep"  # key "department:<id>" or "user:<id>" (that user's departments)
RETURN = "assign.return"  # key: conversation id; back to its last attendant if they can
AUTO_CLOSE = "auto.close"  # key: conversation id; resolved after the customer's silence
WAKE = "snooze.wake"  # key: conversation id; a snoozed conversation is due again

EXCERPT = 140  # characters of a note its mentioned colleagues read in their bell


class Move(StrEnum):
    ROUTE = "route"  # into a department's queue
    ASSIGN = "assign"  # to an attendant (claim, auto-assignment, a supervisor's choice)
    UNASSIGN = "unassign"  # back to its department's queue
    TRANSFER = "transfer"  # to another department's queue, or another attendant
    PEND = "pend"  # waiting for the customer
    RESUME = "resume"  # the customer answered: open again, same attendant
    RESOLVE = "resolve"
    REOPEN = "reopen"  # a customer's message within the reopen window
    CLOSE = "close"


ALLOWED: dict[Move, frozenset[ConversationStatus]] = {
    Move.ROUTE: frozenset({BOT, QUEUED}),
    Move.ASSIGN: frozenset({BOT, QUEUED, OPEN, PENDING}),
    Move.UNASSIGN: HELD,
    Move.TRANSFER: frozenset({BOT, QUEUED, OPEN, PENDING}),
    Move.PEND: frozenset({OPEN}),
    Move.RESUME: frozenset({PENDING}),
    Move.RESOLVE: frozenset({BOT, QUEUED, OPEN, PENDING}),
    Move.REOPEN: frozenset({RESOLVED}),
    Move.CLOSE: frozenset({BOT, QUEUED, OPEN, PENDING, RESOLVED}),
}


class InvalidTransition(Conflict):
    code = "invalid_transition"
    default_message = "The conversation cannot do that in its current status."


@dataclass(frozen=True)
class Actor:
    type: ActorType
    user_id: int | None = None

    @classmethod
    def user(cls, user_id: int) -> Actor:
        return cls(ActorType.USER, user_id)


SYSTEM = Actor(ActorType.SYSTEM)
CONTACT = Actor(ActorType.CONTACT)
BOT_ACTOR = Actor(ActorType.BOT)


class Machine:
    """The moves, recorded in one unit's change set."""

    def __init__(self, changes: Changes) -> None:
        self.changes = changes

    def start(
        self, conversation: ConversationRow, actor: Actor, reason: str, now: datetime | None = None
    ) -> None:
        """A new conversation (not stored yet): its first status is already set."""
        now = now or utcnow()
        if conversation.status is QUEUED:
            conversation.waiting_since = now
            self._sweep_department(conversation.department_id)
        self.changes.conversation_created(conversation)
        self._audit(conversation, EventKind.CREATED, actor, None, None, None, reason, None, now)

    def route(
        self,
        conversation: ConversationRow,
        department_id: int,
        actor: Actor,
        reason: str,
        note: str | None = None,
    ) -> None:
        self._check(conversation, Move.ROUTE)
        self._move(
            conversation,
            EventKind.STATUS_CHANGED,
            actor,
            reason,
            status=QUEUED,
            department_id=department_id,
            assignee_id=None,
            note=note,
        )

    def assign(
        self,
        conversation: ConversationRow,
        user_id: int,
        actor: Actor,
        reason: str,
        note: str | None = None,
    ) -> None:
        self._check(conversation, Move.ASSIGN)
        if conversation.assignee_id == user_id and conversation.status in HELD:
            raise InvalidTransition(
                "The conversation is already assigned to them.",
                details={"reason": "already_assigned", "assignee_id": user_id},
            )
        status = conversation.status if conversation.status in HELD else OPEN
        self._move(
            conversation,
            EventKind.ASSIGNED,
            actor,
            reason,
            status=status,
            department_id=conversation.department_id,
            assignee_id=user_id,
            note=note,
        )

    def unassign(self, conversation: ConversationRow, actor: Actor, reason: str) -> None:
        self._check(conversation, Move.UNASSIGN)
        self._move(
            conversation,
            EventKind.UNASSIGNED,
            actor,
            reason,
            status=QUEUED if conversation.department_id is not None else BOT,
            department_id=conversation.department_id,
            assignee_id=None,
        )

    def transfer(
        self,
        conversation: ConversationRow,
        actor: Actor,
        reason: str,
        *,
        department_id: int | None = None,
        user_id: int | None = None,
        note: str | None = None,
    ) -> None:
        """To a department (its queue, assignee cleared) and/or to an attendant (open)."""
        self._check(conversation, Move.TRANSFER)
        department = conversation.department_id if department_id is None else department_id
        if (department, user_id) == (conversation.department_id, conversation.assignee_id):
            raise InvalidTransition(
                "The conversation is already there.", details={"reason": "same_place"}
            )
        if user_id is not None:
            status = conversation.status if conversation.status in HELD else OPEN
        else:
            status = QUEUED
        self._move(
            conversation,
            EventKind.TRANSFERRED,
            actor,
            reason,
            status=status,
            department_id=department,
            assignee_id=user_id,
            note=note,
        )

    def pend(self, conversation: ConversationRow, actor: Actor, reason: str) -> None:
        self._status(conversation, Move.PEND, PENDING, actor, reason)

    def snooze(
        self, conversation: ConversationRow, until: datetime, actor: Actor, reason: str
    ) -> None:
        """Pending until ``until`` (or the customer's answer, whichever comes first), then open
        again for the same attendant."""
        if conversation.status is not PENDING:
            self.pend(conversation, actor, reason)
        else:
            self._line(conversation, EventKind.STATUS_CHANGED, actor, reason)
        conversation.snoozed_until = until
        self.changes.enqueue(WAKE, conversation.key, run_at=until, replace=True)

    def resume(self, conversation: ConversationRow, actor: Actor, reason: str) -> None:
        self._status(conversation, Move.RESUME, OPEN, actor, reason)

    def resolve(self, conversation: ConversationRow, actor: Actor, reason: str) -> None:
        self._status(conversation, Move.RESOLVE, RESOLVED, actor, reason)

    def close(
        self,
        conversation: ConversationRow,
        actor: Actor,
        reason: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        self._status(conversation, Move.CLOSE, CLOSED, actor, reason, data)

    def rated(self, conversation: ConversationRow, reason: str, data: dict[str, Any]) -> None:
        """The customer rated the service (or commented on their rating): not a move, but a
        line of the conversation's history that the reports read."""
        self._line(conversation, EventKind.RATED, CONTACT, reason).data = data

    def breached(self, conversation: ConversationRow, reason: str, data: dict[str, Any]) -> None:
        """A response target missed (core.desk.sla): a line for the reports, moving nothing."""
        self._line(conversation, EventKind.SLA_BREACHED, SYSTEM, reason).data = data

    def responded(self, conversation: ConversationRow, actor: Actor, data: dict[str, Any]) -> None:
        """A waiting customer answered (core.desk.sla): how long it took, for the reports."""
        self._line(conversation, EventKind.RESPONDED, actor, f"{data['kind']} response").data = data

    def noted(
        self, conversation: ConversationRow, actor: Actor, text: str, mentions: list[int]
    ) -> AuditRow:
        """A private note for the team: a line of the history that moves nothing and that the
        customer never gets (it is no message); each colleague it mentions hears of it. It
        leaves the conversation as it was (not even ``updated_at``: the inbox has nothing new
        to show)."""
        line = self._line(conversation, EventKind.NOTE, actor, "note", touch=False)
        line.note = text
        line.data = {"mentions": mentions} if mentions else {}
        excerpt = text if len(text) <= EXCERPT else text[: EXCERPT - 1].rstrip() + "…"
        self.changes.notify(
            mentions,
            MENTIONED,
            conversation.id,
            actor_user_id=actor.user_id,
            data={"excerpt": excerpt},
        )
        return line

    def reopen(self, conversation: ConversationRow, actor: Actor, reason: str) -> None:
        """Back to its department's queue (or the bot); its last attendant gets it back when
        they are online and have room (the ``assign.return`` job decides, at once)."""
        self._check(conversation, Move.REOPEN)
        last = conversation.assignee_id
        department = conversation.department_id
        self._move(
            conversation,
            EventKind.STATUS_CHANGED,
            actor,
            reason,
            status=QUEUED if department is not None else BOT,
            department_id=department,
            assignee_id=None,
            sweep=last is None,  # the return job sweeps when it cannot give it back
        )
        if last is not None and department is not None:
            self.changes.enqueue(RETURN, conversation.key, {"user_id": last})

    # The mechanics.

    @staticmethod
    def _check(conversation: ConversationRow, move: Move) -> None:
        if conversation.status not in ALLOWED[move]:
            raise InvalidTransition(
                f"A conversation that is {conversation.status.value} cannot {move.value}.",
                details={"status": conversation.status.value, "move": move.value},
            )

    def _status(
        self,
        conversation: ConversationRow,
        move: Move,
        status: ConversationStatus,
        actor: Actor,
        reason: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        self._check(conversation, move)
        self._move(
            conversation,
            EventKind.STATUS_CHANGED,
            actor,
            reason,
            status=status,
            department_id=conversation.department_id,
            assignee_id=conversation.assignee_id,
            data=data,
        )

    def _move(
        self,
        conversation: ConversationRow,
        kind: EventKind,
        actor: Actor,
        reason: str,
        *,
        status: ConversationStatus,
        department_id: int | None,
        assignee_id: int | None,
        note: str | None = None,
        data: dict[str, Any] | None = None,
        sweep: bool = True,
    ) -> None:
        now = utcnow()
        before = (conversation.status, conversation.department_id, conversation.assignee_id)
        self.changes.moving(conversation)
        conversation.status = status
        conversation.department_id = department_id
        conversation.assignee_id = assignee_id
        if status is not PENDING:
            conversation.snoozed_until = None
        if status is QUEUED:
            if before[0] is not QUEUED or conversation.waiting_since is None:
                conversation.waiting_since = now
            if sweep:
                self._sweep_department(department_id)
        else:
            conversation.waiting_since = None
        if status is RESOLVED or status is CLOSED:
            conversation.resolved_at = conversation.resolved_at or now
        else:
            conversation.resolved_at = None
        if status in HELD and before[0] not in HELD and conversation.id is not None:
            # The department's silence timer (core.desk.timers) looks when it is due.
            self.changes.enqueue(AUTO_CLOSE, conversation.id)
        freed = before[2] if before[0] in HELD else None
        if freed is not None and (status not in HELD or assignee_id != freed):
            # An attendant has room again: their queues may hand them the next one.
            self.changes.enqueue(SWEEP, f"user:{freed}")
        self.changes.conversation_updated(conversation)
        if assignee_id is not None and assignee_id != before[2]:
            told = TRANSFERRED if kind is EventKind.TRANSFERRED else ASSIGNED
            self.changes.notify([assignee_id], told, conversation.id, actor_user_id=actor.user_id)
        audit = self._audit(
            conversation, kind, actor, before[0], before[1], before[2], reason, note, now
        )
        if data:
            audit.data = data

    def _line(
        self,
        conversation: ConversationRow,
        kind: EventKind,
        actor: Actor,
        reason: str,
        *,
        touch: bool = True,
    ) -> AuditRow:
        """A line of the conversation's history that moves nothing (a rating, a new snooze,
        a note); ``touch``: the conversation counts as changed."""
        if touch:
            self.changes.conversation_updated(conversation)
        return self._audit(
            conversation,
            kind,
            actor,
            conversation.status,
            conversation.department_id,
            conversation.assignee_id,
            reason,
            None,
            utcnow(),
        )

    def _sweep_department(self, department_id: int | None) -> None:
        if department_id is not None:
            self.changes.enqueue(SWEEP, f"department:{department_id}")

    def _audit(
        self,
        conversation: ConversationRow,
        kind: EventKind,
        actor: Actor,
        from_status: ConversationStatus | None,
        from_department: int | None,
        from_assignee: int | None,
        reason: str,
        note: str | None,
        now: datetime,
    ) -> AuditRow:
        row = AuditRow(
            conversation_id=0,  # set when written (a new conversation has no id yet)
            kind=kind,
            actor_type=actor.type,
            actor_user_id=actor.user_id,
            from_status=from_status,
            to_status=conversation.status,
            from_department_id=from_department,
            to_department_id=conversation.department_id,
            from_assignee_id=from_assignee,
            to_assignee_id=conversation.assignee_id,
            reason=reason,
            note=note,
            created_at=now,
        )
        self.changes.audit(conversation, row)
        return row
