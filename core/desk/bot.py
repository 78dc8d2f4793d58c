"""The bot of a number: greets a new customer, shows a numbered menu (sub-menus allowed), and puts
the conversation in the chosen department's queue.

An invalid answer repeats the menu; after ``max_tries`` of them, or when the customer asks for a
person ("atendente", "humano", "falar com alguém"), or when the menu is left unanswered for
``timeout_s``, the conversation goes to the fallback department (an unanswered menu may close
it instead: ``on_timeout``). Bot messages are ordinary outbound messages (author: bot) sent
through the durable send path, and the bot only ever speaks while the conversation is still its
own (status ``bot``): once someone holds it, it is silent. It runs as jobs (``bot.reply``
after a customer writes, ``bot.timeout``), never on the webhook's path.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.desk.changes import Changes
from core.desk.machine import BOT, BOT_ACTOR, Machine
from core.desk.unit import Desk, load_many
from core.inbox.contacts import contacts_by_id
from core.jobs import Claimed
from core.outbound.service import outgoing, queue_all
from core.storage.base import RowId, utcnow
from core.storage.models import Channel, Department, Direction, Message
from core.storage.rows import ConversationRow, MessageRow

REPLY = "bot.reply"  # key: conversation id; a customer wrote while the bot holds it
TIMEOUT = "bot.timeout"  # key: conversation id; the menu was left unanswered
BATCH = 200  # conversations the bot answers in one unit of work
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
    on_timeout: Literal["queue", "close"] = Field(
        "queue",
        description="An unanswered menu: `queue` sends it to the fallback department; `close` "
        "closes the conversation (a later message starts a new one).",
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


def config_of(bot: dict[str, Any] | None) -> BotConfig | None:
    """A number's bot (its ``channels.bot``) when it is switched on."""
    if not bot:
        return None
    config = BotConfig.model_validate(bot)
    return config if config.enabled else None


def render(menu: Menu) -> str:
    """The menu as the customer sees it."""
    lines = [menu.prompt, *(f"{n}️⃣ {o.label}" for n, o in enumerate(menu.options, 1))]
    return "\n".join(line for line in lines if line)


def plain(text: str) -> str:
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
    said = plain(text)
    for option in menu.options:
        if said and said == plain(option.label):
            return option
    return None


def wants_a_person(text: str) -> bool:
    said = plain(text)
    return any(word in said for word in HUMAN)


class Bot:
    """Runs the bot's jobs: the replies of many conversations in one unit of work."""

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    async def replies(self, jobs: list[Claimed]) -> None:
        ids = [int(job.key) for job in jobs]
        await self._desk.run(lambda db, changes: _Turn(db, changes).replies(ids))

    async def timeout(self, job: Claimed) -> None:
        await self._desk.run(lambda db, changes: _Turn(db, changes).timeouts([int(job.key)]))


class _Turn:
    """One unit's worth of the bot: reads for all its conversations at once, decides for each,
    and writes their messages in one INSERT (the conversations, guarded, with the unit)."""

    def __init__(self, db: AsyncSession, changes: Changes) -> None:
        self.db = db
        self.changes = changes
        self.said: list[tuple[ConversationRow, MessageRow]] = []
        self._departments: set[int] | None = None
        self._default: int | None = None

    async def replies(self, ids: list[int]) -> None:
        # Not locked: ingest keeps writing to them meanwhile; if someone takes one before this
        # commits, the guarded write finds it moved and the unit runs again (and stays silent).
        conversations, configs = await self._held(ids)
        latest = await _latest(self.db, [c.key for c in conversations])
        new = [c.contact_id for c in conversations if not (c.bot_state or {}).get("greeted")]
        contacts = await contacts_by_id(self.db, new) if new else {}
        for conversation in conversations:
            config = configs.get(conversation.channel_id)
            state = dict(conversation.bot_state or {})
            if config is None:
                # The bot was switched off meanwhile: straight to the queue.
                await self._route(conversation, None, None, "no bot on the number")
                continue
            last, last_inbound, body = latest.get(conversation.key, (None, None, ""))
            since = int(state.get("seen", 0))
            state["seen"] = last or since
            if not state.get("greeted"):
                state |= {"greeted": True, "path": [], "tries": 0}
                contact = contacts.get(conversation.contact_id)
                name = (contact.name or contact.push_name or "") if contact else ""
                greeting = config.greeting.replace("{nome}", name).replace(", !", "!").strip()
                await self._ask(conversation, config, state, greeting)
            elif last_inbound is not None and last_inbound > since:
                # The customer's latest answer counts.
                await self._answer(conversation, config, state, body)
            else:
                self._keep(conversation, state)
        await queue_all(self.db, self.changes, self.said)

    async def timeouts(self, ids: list[int]) -> None:
        conversations, configs = await self._held(ids)
        for conversation in conversations:
            config = configs.get(conversation.channel_id)
            if config is not None and config.on_timeout == "close":
                Machine(self.changes).close(conversation, BOT_ACTOR, "menu unanswered")
            else:
                await self._route(conversation, config, None, "menu unanswered")
        await queue_all(self.db, self.changes, self.said)

    async def _held(self, ids: list[int]) -> tuple[list[ConversationRow], dict[int, BotConfig]]:
        """The conversations still the bot's own (the others: someone holds them, or they
        ended: the bot is silent) and their numbers' bots."""
        conversations = [c for c in await load_many(self.db, ids) if c.status is BOT]
        channels = {c.channel_id for c in conversations}
        found = await self.db.execute(
            select(Channel.id, Channel.bot).where(Channel.id.in_(channels))
        )
        configs = {row.id: config for row in found if (config := config_of(row.bot))}
        return conversations, configs

    async def _answer(
        self, conversation: ConversationRow, config: BotConfig, state: dict[str, Any], text: str
    ) -> None:
        menu = _at(config.menu, state.get("path", []))
        if wants_a_person(text):
            await self._route(conversation, config, None, "asked for a person", state)
            return
        picked = choice(menu, text) if menu.options else None
        if picked is not None and picked.department_id is not None:
            reason = f"menu: {picked.label}"
            await self._route(conversation, config, picked.department_id, reason, state)
            return
        if picked is not None and picked.menu is not None:
            state["path"] = [*state.get("path", []), menu.options.index(picked)]
            state["tries"] = 0
            await self._ask(conversation, config, state)
            return
        if not menu.options:
            await self._route(conversation, config, None, "no menu", state)
            return
        state["tries"] = int(state.get("tries", 0)) + 1
        if state["tries"] >= config.max_tries:
            await self._route(conversation, config, None, "invalid answers", state)
            return
        await self._ask(conversation, config, state, config.invalid_reply)

    async def _ask(
        self,
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
                self._say(conversation, before)
            await self._route(conversation, config, None, "no menu", state)
            return
        self._say(
            conversation, f"{before.strip()}\n\n{render(menu)}" if before.strip() else render(menu)
        )
        self._keep(conversation, state)
        self.changes.enqueue(
            TIMEOUT,
            conversation.key,
            run_at=utcnow() + timedelta(seconds=config.timeout_s),
            replace=True,
        )

    async def _route(
        self,
        conversation: ConversationRow,
        config: BotConfig | None,
        department_id: int | None,
        reason: str,
        state: dict[str, Any] | None = None,
    ) -> None:
        """To the chosen queue, or the fallback (the default department)."""
        if state is not None:
            self._keep(conversation, state)
        departments = await self._existing()
        if department_id not in departments:
            fallback = None if config is None else config.fallback_department_id
            department_id = fallback if fallback in departments else self._default
        if department_id is None:
            return  # no department at all: it stays with the bot
        Machine(self.changes).route(conversation, department_id, BOT_ACTOR, reason)
        if config is not None and config.routed_reply.strip():
            self._say(conversation, config.routed_reply)

    async def _existing(self) -> set[int]:
        if self._departments is None:
            found = await self.db.execute(select(Department.id, Department.is_default))
            self._departments = set()
            for row in found:
                self._departments.add(row.id)
                if row.is_default:
                    self._default = row.id
        return self._departments

    def _say(self, conversation: ConversationRow, text: str) -> None:
        self.said.append((conversation, outgoing(conversation, text, BOT_ACTOR)))

    def _keep(self, conversation: ConversationRow, state: dict[str, Any]) -> None:
        if state != conversation.bot_state:
            conversation.bot_state = state
            self.changes.conversation_updated(conversation)


def _at(menu: Menu, path: list[int]) -> Menu:
    for index in path:
        if 0 <= index < len(menu.options) and menu.options[index].menu is not None:
            menu = menu.options[index].menu  # type: ignore[assignment]
        else:
            break
    return menu


async def _latest(db: AsyncSession, ids: list[int]) -> dict[int, tuple[int, int | None, str]]:
    """Per conversation: its newest message's id, and the customer's newest (id and text)."""
    if not ids:
        return {}
    inbound = case((Message.direction == Direction.INBOUND, Message.id))
    newest = await db.execute(
        select(Message.conversation_id, func.max(Message.id), func.max(inbound))
        .where(Message.conversation_id.in_(ids))
        .group_by(Message.conversation_id)
    )
    found = {row[0]: (row[1], row[2]) for row in newest}
    asked = [last_inbound for _, last_inbound in found.values() if last_inbound is not None]
    bodies = (
        dict(
            (await db.execute(select(Message.id, Message.body).where(Message.id.in_(asked))))
            .tuples()
            .all()
        )
        if asked
        else {}
    )
    return {
        key: (last, last_inbound, bodies.get(last_inbound, "") or "")
        for key, (last, last_inbound) in found.items()
    }
