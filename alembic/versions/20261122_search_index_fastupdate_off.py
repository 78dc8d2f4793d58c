"""messages: the full-text index is updated with each insert, not in bursts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

A GIN index collects new entries in a pending list and merges it into the index when the list
is full, inside whichever insert fills it: that batch of messages then took 80 ms instead of 6
(scripts/bench_core.py). Without the list each insert pays a little more, always the same.
PostgreSQL only (SQLite's FTS5 table has no such list).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX ix_messages_body_search SET (fastupdate = off)")
        # What the list already holds goes into the index now.
        op.execute("SELECT gin_clean_pending_list('ix_messages_body_search'::regclass)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX ix_messages_body_search RESET (fastupdate)")
