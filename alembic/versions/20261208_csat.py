"""closing the loop: closing message, satisfaction survey, auto-close; a conversation's rating

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08

* departments: the message sent when a conversation is resolved, the CSAT survey (on by
  default, its question and its thanks), and auto-close after the customer's silence (off by
  default, its message);
* conversations: where the survey stands (asked, rated, done, declined), when it was asked and
  answered, the rating (1-5) and the customer's comment; until when a pending one is snoozed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)
QUESTION = "Como você avalia o nosso atendimento? Responda de 1 a 5."
THANKS = "Obrigado pela avaliação! Se quiser, conte numa mensagem o que achou."
AUTO_CLOSE = (
    "Como não tivemos resposta, encerramos este atendimento. Se precisar, é só escrever de novo!"
)
TEXTS = {
    "closing_message": "",
    "csat_question": QUESTION,
    "csat_thanks": THANKS,
    "auto_close_message": AUTO_CLOSE,
}


def upgrade() -> None:
    with op.batch_alter_table("departments") as batch:
        for name, default in TEXTS.items():
            batch.add_column(sa.Column(name, sa.Text(), nullable=False, server_default=default))
        batch.add_column(
            sa.Column("csat_enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(
            sa.Column("auto_close_s", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("departments") as batch:
        for name in (*TEXTS, "csat_enabled", "auto_close_s"):
            batch.alter_column(name, server_default=None)
    op.add_column("conversations", sa.Column("csat_status", sa.String(16)))
    op.add_column("conversations", sa.Column("csat_asked_at", TIME))
    op.add_column("conversations", sa.Column("csat_rating", sa.SmallInteger()))
    op.add_column("conversations", sa.Column("csat_comment", sa.Text()))
    op.add_column("conversations", sa.Column("csat_rated_at", TIME))
    op.add_column("conversations", sa.Column("snoozed_until", TIME))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        for name in (
            "snoozed_until",
            "csat_rated_at",
            "csat_comment",
            "csat_rating",
            "csat_asked_at",
            "csat_status",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("departments") as batch:
        for name in ("auto_close_s", "csat_enabled", *reversed(TEXTS)):
            batch.drop_column(name)
