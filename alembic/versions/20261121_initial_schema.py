"""initial schema: users, departments, channels, contacts, conversations, messages, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
CONVERSATION_STATUS = ("bot", "queued", "open", "pending", "resolved", "closed")
ACTOR = ("user", "contact", "bot", "system")


def enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def fk(column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [target], ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(120)),
        sa.Column("push_name", sa.String(120)),
        sa.Column("phone", sa.String(20)),
        sa.Column("email", sa.String(254)),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_index("ix_contacts_phone", "contacts", ["phone"])

    op.create_table(
        "departments",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(80), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )

    op.create_table(
        "users",
        sa.Column("id", ID, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", enum("user_role", "admin", "supervisor", "attendant"), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("last_login_at", TIME),
    )

    op.create_table(
        "channels",
        sa.Column("id", ID, primary_key=True),
        sa.Column("session_id", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("phone", sa.String(20)),
        sa.Column("jid", sa.String(100)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text()),
        sa.Column("status_at", TIME),
        sa.Column("department_id", ID),
        sa.Column("created_at", TIME, nullable=False),
        fk("department_id", "departments.id", "SET NULL"),
    )

    op.create_table(
        "contact_identities",
        sa.Column("id", ID, primary_key=True),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("jid", sa.String(100), nullable=False, unique=True),
        sa.Column("kind", enum("identity_kind", "pn", "lid"), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        fk("contact_id", "contacts.id", "CASCADE"),
    )
    op.create_index("ix_contact_identities_contact_id", "contact_identities", ["contact_id"])

    op.create_table(
        "department_members",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("department_id", ID, primary_key=True),
        fk("department_id", "departments.id", "CASCADE"),
        fk("user_id", "users.id", "CASCADE"),
    )
    op.create_index("ix_department_members_department_id", "department_members", ["department_id"])

    op.create_table(
        "conversations",
        sa.Column("id", ID, primary_key=True),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("department_id", ID),
        sa.Column("assignee_id", ID),
        sa.Column("status", enum("conversation_status", *CONVERSATION_STATUS), nullable=False),
        sa.Column("unread_count", sa.Integer(), nullable=False),
        sa.Column("last_message_at", TIME, nullable=False),
        sa.Column("last_message_preview", sa.String(200), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("resolved_at", TIME),
        fk("assignee_id", "users.id", "SET NULL"),
        fk("channel_id", "channels.id", "CASCADE"),
        fk("contact_id", "contacts.id", "CASCADE"),
        fk("department_id", "departments.id", "SET NULL"),
    )
    for name, columns in {
        "ix_conversations_status_last_message": ["status", "last_message_at"],
        "ix_conversations_department_status_last_message": [
            "department_id",
            "status",
            "last_message_at",
        ],
        "ix_conversations_assignee_status_last_message": [
            "assignee_id",
            "status",
            "last_message_at",
        ],
        "ix_conversations_channel_status_last_message": [
            "channel_id",
            "status",
            "last_message_at",
        ],
        "ix_conversations_contact_channel_status": ["contact_id", "channel_id", "status"],
    }.items():
        op.create_index(name, "conversations", columns)

    op.create_table(
        "conversation_events",
        sa.Column("id", ID, primary_key=True),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column(
            "kind",
            enum(
                "conversation_event_kind",
                "created",
                "status_changed",
                "assigned",
                "unassigned",
                "transferred",
                "rated",
            ),
            nullable=False,
        ),
        sa.Column("actor_type", enum("actor_type", *ACTOR), nullable=False),
        sa.Column("actor_user_id", ID),
        sa.Column("from_status", enum("conversation_event_from_status", *CONVERSATION_STATUS)),
        sa.Column("to_status", enum("conversation_event_to_status", *CONVERSATION_STATUS)),
        sa.Column("reason", sa.Text()),
        sa.Column("data", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        fk("actor_user_id", "users.id", "SET NULL"),
        fk("conversation_id", "conversations.id", "CASCADE"),
    )
    op.create_index(
        "ix_conversation_events_conversation_created",
        "conversation_events",
        ["conversation_id", "created_at"],
    )

    op.create_table(
        "messages",
        sa.Column("id", ID, primary_key=True),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("channel_id", ID, nullable=False),
        sa.Column("wa_message_id", sa.String(128)),
        sa.Column("client_id", sa.String(64), unique=True),
        sa.Column("direction", enum("message_direction", "inbound", "outbound"), nullable=False),
        sa.Column("author_type", enum("message_author_type", *ACTOR), nullable=False),
        sa.Column("author_user_id", ID),
        sa.Column(
            "type",
            enum(
                "message_type",
                "text",
                "image",
                "audio",
                "voice",
                "video",
                "document",
                "sticker",
                "location",
                "contact_card",
                "system",
            ),
            nullable=False,
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("media", JSON),
        sa.Column("quoted_wa_message_id", sa.String(128)),
        sa.Column("reactions", JSON, nullable=False),
        sa.Column(
            "status",
            enum(
                "message_status",
                "pending",
                "sent",
                "delivered",
                "read",
                "played",
                "failed",
                "received",
            ),
            nullable=False,
        ),
        sa.Column("error", sa.Text()),
        sa.Column("sent_at", TIME),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("edited_at", TIME),
        sa.Column("revoked_at", TIME),
        fk("author_user_id", "users.id", "SET NULL"),
        fk("channel_id", "channels.id", "CASCADE"),
        fk("conversation_id", "conversations.id", "CASCADE"),
        sa.UniqueConstraint("channel_id", "wa_message_id"),
    )
    op.create_index(
        "ix_messages_conversation_created", "messages", ["conversation_id", "created_at", "id"]
    )


def downgrade() -> None:
    for table in (
        "messages",
        "conversation_events",
        "conversations",
        "department_members",
        "contact_identities",
        "channels",
        "users",
        "departments",
        "contacts",
    ):
        op.drop_table(table)
