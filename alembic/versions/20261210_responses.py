"""answers recorded: when a customer started waiting, and each answer as an audit line

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10

* conversations.awaiting_since: since when the customer waits for an answer (none: nobody owes
  them one), whatever the department's SLA;
* conversation_events: one more kind, ``responded`` — an attendant answered a waiting customer
  (how long it took, in all and in business hours, and whether the SLA's target was met): what
  the reports' response times and SLA hit rate are computed from.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KIND_CHECK = "ck_conversation_events_conversation_event_kind"
KINDS = (
    "created",
    "status_changed",
    "assigned",
    "unassigned",
    "transferred",
    "rated",
    "note",
    "sla_breached",
)


def _kinds(kinds: Sequence[str]) -> None:
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table("conversation_events", recreate="always") as batch:
        batch.drop_constraint(op.f(KIND_CHECK), type_="check")
        batch.create_check_constraint(op.f(KIND_CHECK), sa.text(f"kind IN ({listed})"))


def upgrade() -> None:
    _kinds((*KINDS, "responded"))
    op.add_column("conversations", sa.Column("awaiting_since", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("awaiting_since")
    events = sa.table("conversation_events", sa.column("kind", sa.String()))
    op.execute(events.delete().where(events.c.kind == "responded"))
    _kinds(KINDS)
