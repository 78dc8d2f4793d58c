"""copilot: knowledge base, quick replies, reply suggestions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Knowledge-base articles (with a normalized search column), quick replies, and every reply
draft the copilot made with its usage, latency, cost and outcome.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def upgrade() -> None:
    op.create_table(
        "knowledge_articles",
        sa.Column("id", ID, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "quick_replies",
        sa.Column("id", ID, primary_key=True),
        sa.Column("shortcut", sa.String(40), nullable=False, unique=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "suggestions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("message_id", ID),
        sa.Column("requested_by_id", ID),
        sa.Column(
            "state",
            enum("suggestion_state", "pending", "streaming", "ready", "failed", "cancelled"),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("model", sa.String(100)),
        sa.Column("tokens_in", sa.Integer()),
        sa.Column("tokens_out", sa.Integer()),
        sa.Column("latency_ms", sa.Integer()),
        sa.Column("cost", sa.Float()),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error", sa.Text()),
        sa.Column(
            "outcome", enum("suggestion_outcome", "accepted", "edited", "dismissed", "ignored")
        ),
        sa.Column("edit_distance", sa.Integer()),
        sa.Column("final_text", sa.Text()),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("completed_at", TIME),
        sa.Column("feedback_at", TIME),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["requested_by_id"], ["users.id"], ondelete="SET NULL"),
    )
    op.create_index("ix_suggestions_conversation_id_id", "suggestions", ["conversation_id", "id"])
    op.create_index("ix_suggestions_created_at", "suggestions", ["created_at"])


def downgrade() -> None:
    for table in ("suggestions", "quick_replies", "knowledge_articles"):
        op.drop_table(table)
