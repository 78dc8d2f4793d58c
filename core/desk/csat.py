"""Closing the loop: what the customer gets when a conversation is resolved (the department's
closing message and the satisfaction survey) and how their answer is taken.

The survey asks for a rating from 1 to 5 and takes it the ways people write it: "5", "nota 4",
"5 estrelas", "cinco", 5️⃣, ⭐⭐⭐⭐⭐. A rating is thanked (the department's words, sent by a
job), and the customer's next message within ``COMMENT_S`` is kept as their comment. Anything
else is an ordinary message — the reopen rules apply — and the survey is over: it is never asked
twice. A survey left unanswered for ``ANSWER_S`` is over too (judged when an answer comes).
Both answers stay in the resolved conversation and are audited (``rated``) for the reports.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.desk.bot import plain
from core.desk.changes import Changes
from core.desk.machine import BOT_ACTOR, Machine
from core.desk.unit import Desk, load_many
from core.jobs import Claimed
from core.outbound.service import queue
from core.storage.base import utcnow
from core.storage.models import ConversationStatus, Department
from core.storage.rows import ConversationRow

THANKS = "csat.thanks"  # key: conversation id; a rating came in
ASKED, RATED, DONE, DECLINED = "asked", "rated", "done", "declined"
ANSWER_S = 24 * 3600  # how long a survey waits for its rating
COMMENT_S = 5 * 60  # how long after the rating a message is taken as its comment

_WORDS = {"um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5}
_NUMBER = r"[1-5]|" + "|".join(_WORDS)
_RATING = re.compile(
    rf"^(?:nota|dou|minha nota e|avaliacao)?\s*({_NUMBER})\s*"
    r"(?:estrelas?|pontos?|(?:de|/)\s*(?:5|cinco))?\s*[!.]*$"
)
_STARS = re.compile(r"^[\s⭐★🌟]+$")


def rating_of(text: str) -> int | None:
    """The rating a message gives, or None when it is not one ("obrigado", "10", a question)."""
    if _STARS.match(text):
        count = sum(text.count(star) for star in "⭐★🌟")
        return count if 1 <= count <= 5 else None
    folded = plain(text.replace("\ufe0f", "").replace("\u20e3", ""))
    found = _RATING.match(folded)
    if found is None:
        return None
    number = found.group(1)
    return int(number) if number.isdigit() else _WORDS[number]


def take(machine: Machine, conversation: ConversationRow, text: str, at: datetime) -> bool:
    """A customer's message to their resolved conversation: True when it answers the survey
    (a rating, or the comment after one), which then keeps it; False when it is an ordinary
    message (and a survey waiting for its rating is over)."""
    if conversation.status is not ConversationStatus.RESOLVED:
        return False
    asked, rated = conversation.csat_asked_at, conversation.csat_rated_at
    if conversation.csat_status == ASKED and asked is not None:
        rating = rating_of(text) if at - asked <= timedelta(seconds=ANSWER_S) else None
        if rating is None:
            conversation.csat_status = DECLINED
            machine.changes.conversation_updated(conversation)
            return False
        conversation.csat_status, conversation.csat_rating = RATED, rating
        conversation.csat_rated_at = at
        machine.rated(conversation, "rated", {"rating": rating})
        machine.changes.enqueue(THANKS, conversation.key)
        return True
    if conversation.csat_status == RATED and rated is not None and text.strip():
        if at - rated > timedelta(seconds=COMMENT_S):
            return False
        conversation.csat_status, conversation.csat_comment = DONE, text.strip()[:2000]
        machine.rated(
            conversation, "commented", {"rating": conversation.csat_rating, "comment": True}
        )
        return True
    return False


async def wrap_up(db: AsyncSession, changes: Changes, conversation: ConversationRow) -> None:
    """Just resolved: the department's closing message, then its survey (once per
    conversation)."""
    if conversation.department_id is None:
        return
    department = await db.get(Department, conversation.department_id)
    if department is None:
        return
    if department.closing_message.strip():
        await queue(db, changes, conversation, department.closing_message, author=BOT_ACTOR)
    if department.csat_enabled and conversation.csat_status is None:
        await queue(db, changes, conversation, department.csat_question, author=BOT_ACTOR)
        conversation.csat_status, conversation.csat_asked_at = ASKED, utcnow()
        changes.conversation_updated(conversation)


class Thanks:
    """Runs ``csat.thanks`` jobs: the department's thanks for a rating."""

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    async def __call__(self, job: Claimed) -> None:
        await self._desk.run(lambda db, changes: self._thank(db, changes, int(job.key)))

    @staticmethod
    async def _thank(db: AsyncSession, changes: Changes, conversation_id: int) -> None:
        found = await load_many(db, [conversation_id])
        if not found or found[0].department_id is None:
            return
        conversation = found[0]
        department = await db.get(Department, conversation.department_id)
        if department is not None and department.csat_thanks.strip():
            await queue(db, changes, conversation, department.csat_thanks, author=BOT_ACTOR)
