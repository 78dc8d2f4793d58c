"""The bot of a number: greets a new customer, shows a numbered menu (sub-menus allowed), and puts
the conversation in the chosen department's queue.

An invalid answer repeats the menu; after ``max_tries`` of them, or when the customer asks for a
person ("atendente", "humano", "falar com alguém"), or when the menu is left unanswered for
``timeout_s``, the conversation goes to the fallback department. Bot messages are ordinary
outbound messages (author: bot) sent through the durable send path, and the bot only ever
speaks while the conversation is still its own (status ``bot``): once someone holds it, it is
silent. It runs as jobs (``bot.reply`` after a customer writes, ``bot.timeout``), never on the
webhook's path.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.desk.changes import Changes
from core.desk.departments import default_department
from core.desk.machine import BOT, BOT_ACTOR, Machine
from core.desk.unit import Desk, load
from core.inbox.contacts import contacts_by_id
from core.jobs import Claimed
from core.outbound.service import queue
from core.storage.base import RowId, utcnow
from core.storage.models import Channel, Conversation, Department, Direction, Message
from core.storage.rows import ConversationRow

REPLY = "bot.reply"  # key: conversation id; a customer wrote while the bot holds it
TIMEOUT = "bot.timeout"  # key: conversation id; the menu was left unanswered
HUMAN = ("atendente", "humano", "falar com alguem", "pessoa", "operador")
MAX_DEPTH = 3


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=60, description="Shown after its number.")
    department_id: RowId | None = Field(None, description="Chosen: to this department's queue.")
    menu: Menu | None = Field(None, description="Chosen: this sub-menu.")

    @model_validator(mode="after")
    def _one_destination(self) -> Option:
        if (self.menu is None) == (self.department_id is None):
            raise ValueError("an option leads to a department or to a sub-menu (one of them)")
        return self


class Menu(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field("Escolha uma opção:", max_length=1000)
    options: list[Option] = Field(default_factory=list, max_length=20)


Option.model_rebuild()


class BotConfig(BaseModel):
    """A number's bot. pt-BR defaults: switched on, it greets and asks where to go."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    greeting: str = Field(
        "Olá, {nome}! 👋 Obrigado por falar com a gente.",
        max_length=2000,
        description="The first message; {nome} is the customer's name.",
    )
    menu: Menu = Field(default_factory=Menu)
    invalid_reply: str = Field(
        "Desculpe, não entendi. Responda com o número de uma das opções.", max_length=1000
    )
    routed_reply: str = Field(
        "Certo! Já vamos te atender. 😉",
        max_length=1000,
        description="Sent when the conversation joins a queue; empty: nothing.",
    )
    max_tries: int = Field(3, ge=1, le=10, description="Invalid answers before the fallback.")
    timeout_s: int = Field(
        600, ge=10, le=86_400, description="An unanswered menu goes to the fallback after this."
    )
    fallback_department_id: RowId | None = Field(
        None, description="Where the bot gives up to; null: the default department."
    )

    @field_validator("menu")
    @classmethod
    def _not_too_deep(cls, menu: Menu) -> Menu:
        if _depth(menu) > MAX_DEPTH:
            raise ValueError(f"menus nest at most {MAX_DEPTH} levels")
        return menu

    def departments(self) -> set[int]:
        found: set[int] = set()
        _collect(self.menu, found)
        if self.fallback_department_id is not None:
            found.add(self.fallback_department_id)
        return found


def _depth(menu: Menu) -> int:
    return 1 + max((_depth(o.menu) for o in menu.options if o.menu is not None), default=0)


def _collect(menu: Menu, found: set[int]) -> None:
    for option in menu.options:
        if option.department_id is not None:
            found.add(option.department_id)
        if option.menu is not None:
            _collect(option.menu, found)


def bot_on(channel: Channel) -> bool:
    """Whether the number's bot is switched on (cheap: ingest asks for every message)."""
    return bool(channel.bot and channel.bot.get("enabled"))


def config_of(channel: Channel) -> BotConfig | None:
    """The number's bot when it is switched on."""
    if not channel.bot:
        return None
    config = BotConfig.model_validate(channel.bot)
    return config if config.enabled else None


def render(menu: Menu) -> str:
    """The menu as the customer sees it."""
    lines = [menu.prompt, *(f"{n}️⃣ {o.label}" for n, o in enumerate(menu.options, 1))]
    return "\n".join(line for line in lines if line)


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[).:-]?\s*$")
_KEYCAP = re.compile(r"^\s*(\d)\ufe0f?\u20e3\s*$")


def choice(menu: Menu, text: str) -> Option | None:
    """The option an answer picks: its number ("2", "2)", "2️⃣") or its label."""
    found = _NUMBER.match(text) or _KEYCAP.match(text)
    if found:
        index = int(found.group(1)) - 1
        return menu.options[index] if 0 <= index < len(menu.options) else None
    plain = _plain(text)
    for option in menu.options:
        if plain and plain == _plain(option.label):
            return option
    return None


def wants_a_person(text: str) -> bool:
    plain = _plain(text)
    return any(word in plain for word in HUMAN)


class Bot:
    """Runs the bot's jobs."""

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    async def reply(self, job: Claimed) -> None:
        await self._desk.run(lambda db, changes: self._reply(db, changes, int(job.key)))

    async def timeout(self, job: Claimed) -> None:
        await self._desk.run(lambda db, changes: self._timeout(db, changes, int(job.key)))

    async def _reply(self, db: AsyncSession, changes: Changes, conversation_id: int) -> None:
        # Not locked: ingest keeps writing to it meanwhile; if someone takes it before this
        # commits, the guarded write finds it moved and the unit runs again (and stays silent).
        conversation = await load(db, conversation_id, lock=False)
        if conversation.status is not BOT:
            return  # someone holds it now (or it ended): the bot is silent
        channel = await db.get(Channel, conversation.channel_id)
        config = None if channel is None else config_of(channel)
        state = dict(await _state(db, conversation_id) or {})
        if config is None:
            # The bot was switched off meanwhile: straight to the queue.
            await self._route(db, changes, conversation, None, None, "no bot on the number")
            return
        since = int(state.get("seen", 0))
        written = list(
            await db.scalars(
                select(Message.body)
                .where(
                    Message.conversation_id == conversation_id,
                    Message.direction == Direction.INBOUND,
                    Message.id > since,
                )
                .order_by(Message.id)
            )
        )
        last = await db.scalar(
            select(Message.id)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id.desc())
            .limit(1)
        )
        state["seen"] = last or since
        if not state.get("greeted"):
            state |= {"greeted": True, "path": [], "tries": 0}
            contacts = await contacts_by_id(db, [conversation.contact_id])
            contact = contacts.get(conversation.contact_id)
            name = (contact.name or contact.push_name or "") if contact else ""
            greeting = config.greeting.replace("{nome}", name).replace(", !", "!").strip()
            await self._ask(db, changes, conversation, config, state, greeting)
            return
        for body in written[-1:]:  # the customer's latest answer counts
            await self._answer(db, changes, conversation, config, state, body or "")
            return
        await _save(db, conversation_id, state)

    async def _answer(
        self,
        db: AsyncSession,
        changes: Changes,
        conversation: ConversationRow,
        config: BotConfig,
        state: dict[str, Any],
        text: str,
    ) -> None:
        menu = _at(config.menu, state.get("path", []))
        if wants_a_person(text):
            await self._route(db, changes, conversation, config, None, "asked for a person")
            return
        picked = choice(menu, text) if menu.options else None
        if picked is not None and picked.department_id is not None:
            await self._route(
                db, changes, conversation, config, picked.department_id, f"menu: {picked.label}"
            )
            return
        if picked is not None and picked.menu is not None:
            state["path"] = [*state.get("path", []), menu.options.index(picked)]
            state["tries"] = 0
            await self._ask(db, changes, conversation, config, state)
            return
        if not menu.options:
            await self._route(db, changes, conversation, config, None, "no menu")
            return
        state["tries"] = int(state.get("tries", 0)) + 1
        if state["tries"] >= config.max_tries:
            await self._route(db, changes, conversation, config, None, "invalid answers")
            return
        await self._ask(db, changes, conversation, config, state, config.invalid_reply)

    async def _ask(
        self,
        db: AsyncSession,
        changes: Changes,
        conversation: ConversationRow,
        config: BotConfig,
        state: dict[str, Any],
        before: str = "",
    ) -> None:
        """The menu where the customer is, in one message with what comes ``before`` it (the
        greeting, "not understood"): one notification on their phone, not two."""
        menu = _at(config.menu, state.get("path", []))
        if not menu.options:
            if before.strip():
                await self._say(db, changes, conversation, before)
            await self._route(db, changes, conversation, config, None, "no menu")
            return
        text = f"{before.strip()}\n\n{render(menu)}" if before.strip() else render(menu)
        await self._say(db, changes, conversation, text)
        await _save(db, conversation.key, state)
        changes.enqueue(
            TIMEOUT,
            conversation.key,
            run_at=utcnow() + timedelta(seconds=config.timeout_s),
            replace=True,
        )

    async def _timeout(self, db: AsyncSession, changes: Changes, conversation_id: int) -> None:
        conversation = await load(db, conversation_id)
        if conversation.status is not BOT:
            return
        channel = await db.get(Channel, conversation.channel_id)
        config = None if channel is None else config_of(channel)
        await self._route(db, changes, conversation, config, None, "menu unanswered")

    async def _route(
        self,
        db: AsyncSession,
        changes: Changes,
        conversation: ConversationRow,
        config: BotConfig | None,
        department_id: int | None,
        reason: str,
    ) -> None:
        """To the chosen queue, or the fallback (the default department)."""
        if department_id is None or await db.get(Department, department_id) is None:
            fallback = None if config is None else config.fallback_department_id
            if fallback is None or await db.get(Department, fallback) is None:
                fallback = await default_department(db)
            department_id = fallback
        if department_id is None:
            return  # no department at all: it stays with the bot
        Machine(changes).route(conversation, department_id, BOT_ACTOR, reason)
        if config is not None and config.routed_reply.strip():
            await self._say(db, changes, conversation, config.routed_reply)

    @staticmethod
    async def _say(
        db: AsyncSession, changes: Changes, conversation: ConversationRow, text: str
    ) -> None:
        await queue(db, changes, conversation, text, author=BOT_ACTOR)


def _at(menu: Menu, path: list[int]) -> Menu:
    for index in path:
        if 0 <= index < len(menu.options) and menu.options[index].menu is not None:
            menu = menu.options[index].menu  # type: ignore[assignment]
        else:
            break
    return menu


async def _state(db: AsyncSession, conversation_id: int) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await db.scalar(
        select(Conversation.bot_state).where(Conversation.id == conversation_id)
    )
    return found


async def _save(db: AsyncSession, conversation_id: int, state: dict[str, Any]) -> None:
    await db.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(bot_state=state)
    )
