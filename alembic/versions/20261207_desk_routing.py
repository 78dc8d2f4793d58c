"""desk routing: durable jobs, departments that hand out work, queue times, richer audit

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

* ``jobs`` replaces ``outbound_jobs``: one durable queue for every kind of delayed work (sends,
  assignment sweeps, timers); waiting sends are moved over as ``send`` jobs.
* departments: the default one, auto-assignment mode and capacity, business hours (timezone,
  weekly schedule, holidays, out-of-hours message), the round-robin cursor. A desk with no
  department gets "Atendimento" with every user in it, so nothing changes for it.
* channels: the number's bot (greeting, menu); conversations: ``waiting_since`` (queue
  order) and ``bot_state`` (where the bot is with the customer); conversation_events: where
  a conversation was and went (department, assignee) and a private note.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
DEFAULT_NAME = "Atendimento"


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("run_at", TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("locked_until", TIME),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", TIME, nullable=False),
        sa.UniqueConstraint("kind", "key", name="uq_jobs_kind_key"),
    )
    op.create_index("ix_jobs_run_at", "jobs", ["run_at"])
    op.execute(
        "INSERT INTO jobs (kind, key, payload, run_at, attempts, revision, last_error, "
        "created_at) SELECT 'send', CAST(message_id AS VARCHAR(100)), '{}', next_attempt_at, "
        "attempts, 0, last_error, created_at FROM outbound_jobs"
    )
    op.drop_index("ix_outbound_jobs_next_attempt_at", "outbound_jobs")
    op.drop_table("outbound_jobs")

    with op.batch_alter_table("departments") as batch:
        batch.add_column(
            sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column(
                "assignment",
                sa.Enum(
                    "off",
                    "round_robin",
                    "balanced",
                    name="assignment_mode",
                    native_enum=False,
                    create_constraint=True,
                ),
                nullable=False,
                server_default="off",
            )
        )
        batch.add_column(sa.Column("capacity", sa.Integer(), nullable=False, server_default="10"))
        batch.add_column(
            sa.Column("timezone", sa.String(64), nullable=False, server_default="America/Sao_Paulo")
        )
        batch.add_column(sa.Column("hours", JSON))
        batch.add_column(sa.Column("holidays", JSON, nullable=False, server_default="[]"))
        batch.add_column(
            sa.Column("out_of_hours_message", sa.Text(), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("last_assignee_id", sa.BigInteger()))
    # The server defaults only filled the rows that exist; the models set every value.
    with op.batch_alter_table("departments") as batch:
        for name in ("is_default", "assignment", "capacity", "timezone", "holidays"):
            batch.alter_column(name, server_default=None)
        batch.alter_column("out_of_hours_message", server_default=None)

    op.add_column("conversations", sa.Column("waiting_since", TIME))
    op.add_column("conversations", sa.Column("bot_state", JSON))
    op.add_column("channels", sa.Column("bot", JSON))
    op.execute("UPDATE conversations SET waiting_since = updated_at WHERE status = 'queued'")
    op.create_index(
        "ix_conversations_department_status_waiting",
        "conversations",
        ["department_id", "status", "waiting_since"],
    )
    for name in ("from_department_id", "to_department_id", "from_assignee_id", "to_assignee_id"):
        op.add_column("conversation_events", sa.Column(name, sa.BigInteger()))
    op.add_column("conversation_events", sa.Column("note", sa.Text()))

    _default_department()


def _default_department() -> None:
    """The oldest department becomes the default; with none, "Atendimento" is made. Everyone
    joins it (a desk without routing keeps seeing everything it saw)."""
    bind = op.get_bind()
    first = bind.execute(sa.text("SELECT min(id) FROM departments")).scalar()
    if first is None:
        bind.execute(
            sa.text(
                "INSERT INTO departments (name, description, is_default, assignment, capacity, "
                "timezone, holidays, out_of_hours_message, created_at) VALUES (:name, '', "
                ":yes, 'off', 10, 'America/Sao_Paulo', '[]', '', CURRENT_TIMESTAMP)"
            ),
            {"name": DEFAULT_NAME, "yes": True},
        )
        first = bind.execute(sa.text("SELECT min(id) FROM departments")).scalar()
    else:
        bind.execute(
            sa.text("UPDATE departments SET is_default = :yes WHERE id = :id"),
            {"yes": True, "id": first},
        )
        return  # a desk that already has departments keeps its memberships
    bind.execute(
        sa.text(
            "INSERT INTO department_members (user_id, department_id) "
            "SELECT id, :department FROM users"
        ),
        {"department": first},
    )


def downgrade() -> None:
    with op.batch_alter_table("conversation_events") as batch:
        for name in (
            "note",
            "to_assignee_id",
            "from_assignee_id",
            "to_department_id",
            "from_department_id",
        ):
            batch.drop_column(name)
    op.drop_index("ix_conversations_department_status_waiting", "conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("bot_state")
        batch.drop_column("waiting_since")
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("bot")
    with op.batch_alter_table("departments") as batch:
        batch.drop_constraint(op.f("ck_departments_assignment_mode"), type_="check")
        for name in (
            "last_assignee_id",
            "out_of_hours_message",
            "holidays",
            "hours",
            "timezone",
            "capacity",
            "assignment",
            "is_default",
        ):
            batch.drop_column(name)

    op.create_table(
        "outbound_jobs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("message_id", ID, nullable=False, unique=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIME, nullable=False),
        sa.Column("locked_until", TIME),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_outbound_jobs_next_attempt_at", "outbound_jobs", ["next_attempt_at"])
    op.execute(
        "INSERT INTO outbound_jobs (message_id, attempts, next_attempt_at, last_error, "
        "created_at) SELECT CAST(key AS BIGINT), attempts, run_at, last_error, created_at "
        "FROM jobs WHERE kind = 'send'"
    )
    op.drop_index("ix_jobs_run_at", "jobs")
    op.drop_table("jobs")
