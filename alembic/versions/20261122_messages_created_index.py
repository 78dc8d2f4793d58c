"""messages: an index on created_at, for the monitoring panel's traffic per minute

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

The panel counts the last hour's messages every few seconds while an admin watches it; without
this index each count reads the whole table.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_messages_created_at", "messages", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_created_at", table_name="messages")
