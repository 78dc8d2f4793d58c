"""Departments: the queues customers are routed to and attendants belong to, with how a queue
hands out its conversations and when the department is open."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.base import Base, BigId, Json, str_enum, utcnow

DEFAULT_TIMEZONE = "America/Sao_Paulo"
CSAT_QUESTION = "Como você avalia o nosso atendimento? Responda de 1 a 5."
CSAT_THANKS = "Obrigado pela avaliação! Se quiser, conte numa mensagem o que achou."
AUTO_CLOSE_MESSAGE = (
    "Como não tivemos resposta, encerramos este atendimento. Se precisar, é só escrever de novo!"
)


class AssignmentMode(StrEnum):
    OFF = "off"  # attendants take conversations from the queue themselves
    ROUND_ROBIN = "round_robin"  # to each online attendant in turn
    BALANCED = "balanced"  # to the online attendant with the fewest open


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # Where conversations go when nothing else says (the bot's fallback, a number without one).
    is_default: Mapped[bool] = mapped_column(default=False)
    assignment: Mapped[AssignmentMode] = mapped_column(
        str_enum(AssignmentMode, "assignment_mode"), default=AssignmentMode.OFF
    )
    # The most open (open or pending) conversations auto-assignment gives one attendant.
    capacity: Mapped[int] = mapped_column(default=10)
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    # {"mon": [["08:00", "18:00"]], ...}; None: always open.
    hours: Mapped[dict[str, Any] | None] = mapped_column(Json)
    holidays: Mapped[list[str]] = mapped_column(Json, default=list)  # ISO dates, closed all day
    out_of_hours_message: Mapped[str] = mapped_column(Text, default="")
    # Sent to the customer when a conversation is resolved ("" : nothing).
    closing_message: Mapped[str] = mapped_column(Text, default="")
    # The satisfaction survey after resolving: a 1-5 question, and thanks for the rating.
    csat_enabled: Mapped[bool] = mapped_column(default=True)
    csat_question: Mapped[str] = mapped_column(Text, default=CSAT_QUESTION)
    csat_thanks: Mapped[str] = mapped_column(Text, default=CSAT_THANKS)
    # Open or pending conversations resolved after this many seconds of the customer's silence
    # (0: never), with this message.
    auto_close_s: Mapped[int] = mapped_column(default=0)
    auto_close_message: Mapped[str] = mapped_column(Text, default=AUTO_CLOSE_MESSAGE)
    # The SLA: the first answer due within this many seconds of a conversation reaching the
    # queue, each next one within this many seconds of the customer's message (0: no target);
    # counted in the department's hours when it has them.
    sla_first_s: Mapped[int] = mapped_column(default=0)
    sla_next_s: Mapped[int] = mapped_column(default=0)
    # Round robin: the attendant who got the last conversation (the next one goes to the next).
    last_assignee_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
