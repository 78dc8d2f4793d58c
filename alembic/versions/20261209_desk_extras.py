"""the rest of the desk: notes, tags, notifications, SLA

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09

* conversation_events: two more kinds — ``note`` (a private note, for staff only, with the
  colleagues it mentions) and ``sla_breached`` (a response target missed, for the reports);
* tags (admin-defined, coloured) and which conversations carry them;
* notifications: what the bell shows one person (assigned, transferred, mentioned, SLA), read
  or not; users.preferences: which of them they want, desktop, sound, do-not-disturb;
* departments: first- and next-response targets (SLA, 0: none); conversations: the running
  response clock (when it is due, which target, whether it is at risk or breached).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(JSONB(), "postgresql")
KIND_CHECK = "ck_conversation_events_conversation_event_kind"
KINDS = ("created", "status_changed", "assigned", "unassigned", "transferred", "rated")
NEW_KINDS = ("note", "sla_breached")


def _kinds(kinds: Sequence[str]) -> None:
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table("conversation_events", recreate="always") as batch:
        batch.drop_constraint(op.f(KIND_CHECK), type_="check")
        batch.create_check_constraint(op.f(KIND_CHECK), sa.text(f"kind IN ({listed})"))


def upgrade() -> None:
    _kinds((*KINDS, *NEW_KINDS))
    op.create_table(
        "tags",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(48), nullable=False),
        sa.Column("color", sa.String(16), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.UniqueConstraint("name", name="uq_tags_name"),
    )
    op.create_table(
        "conversation_tags",
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("tag_id", ID, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "tag_id", name="pk_conversation_tags"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_conversation_tags_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name="fk_conversation_tags_tag_id_tags", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_conversation_tags_tag_id", "conversation_tags", ["tag_id"])
    op.create_table(
        "notifications",
        sa.Column("id", ID, primary_key=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("conversation_id", ID),
        sa.Column("actor_user_id", sa.BigInteger()),
        sa.Column("data", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("read_at", TIME),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_notifications_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_notifications_conversation_id_conversations",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_notifications_user_id_id", "notifications", ["user_id", "id"])
    op.add_column("users", sa.Column("preferences", JSON))
    with op.batch_alter_table("departments") as batch:
        for name in ("sla_first_s", "sla_next_s"):
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("departments") as batch:
        for name in ("sla_first_s", "sla_next_s"):
            batch.alter_column(name, server_default=None)
    op.add_column("conversations", sa.Column("sla_due_at", TIME))
    op.add_column("conversations", sa.Column("sla_kind", sa.String(8)))
    op.add_column("conversations", sa.Column("sla_state", sa.String(12)))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        for name in ("sla_state", "sla_kind", "sla_due_at"):
            batch.drop_column(name)
    with op.batch_alter_table("departments") as batch:
        for name in ("sla_next_s", "sla_first_s"):
            batch.drop_column(name)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("preferences")
    op.drop_index("ix_notifications_user_id_id", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("ix_conversation_tags_tag_id", table_name="conversation_tags")
    op.drop_table("conversation_tags")
    op.drop_table("tags")
    events = sa.table("conversation_events", sa.column("kind", sa.String()))
    op.execute(events.delete().where(events.c.kind.in_(NEW_KINDS)))
    _kinds(KINDS)
