"""Plain rows for the ingest path: the columns of a model, without the ORM.

A batch of the gateway's events touches a few hundred contacts, conversations and messages;
as ORM objects, loading, tracking and flushing them cost most of core's CPU per message. Here
each is a plain slotted object with the model's attribute names (so the domain functions and
the API views read them alike), loaded with Core ``SELECT``s and written back with multi-row
``INSERT``s and one ``UPDATE`` per set of changed columns (``store_changes``).

A loaded row remembers its values (``loaded``); ``changes()`` answers what differs since, so
only what a batch really changed is written. Values that are dicts (JSON columns) must be
replaced, not mutated in place, for the change to be seen — as with the ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from json import dumps
from operator import attrgetter
from typing import Any, ClassVar, Self, TypeVar, cast

from sqlalchemy import (
    JSON,
    Dialect,
    RowMapping,
    Table,
    TextClause,
    bindparam,
    insert,
    null,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.base import utcnow
from core.storage.models import (
    ActorType,
    Contact,
    ContactIdentity,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Direction,
    EventKind,
    IdentityKind,
    Message,
    MessageStatus,
    MessageType,
)

_ID = "row_id"  # the UPDATE's bound id: a column's own name would collide with its SET value


class Row:
    """What every plain row shares: its table, its columns, and what changed since loading."""

    table: ClassVar[Table]
    # Times the row carries for its views: written on INSERT; ``updated_at`` also on UPDATE.
    stamps: ClassVar[tuple[str, ...]] = ()
    # Written by INSERT and compared for UPDATE: every field of the row that is a column of
    # its table, except the id and the stamps (found once, from the class's own fields).
    columns: ClassVar[tuple[str, ...]]
    id: int | None
    was: tuple[Any, ...] | None

    @classmethod
    def selected_names(cls) -> tuple[str, ...]:
        return ("id", *cls.columns, *cls.stamps)

    @classmethod
    def selected(cls) -> list[Any]:
        return [cls.table.c[name] for name in cls.selected_names()]

    @property
    def key(self) -> int:
        """The row's id, once it is stored (new rows get theirs from ``insert_rows``)."""
        if self.id is None:
            raise RuntimeError(f"{type(self).__name__} used before it was stored")
        return self.id

    @classmethod
    def loaded(cls, mapping: Mapping[str, Any] | RowMapping) -> Self:
        row = cls(**mapping)
        row.was = row.values()
        return row

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "table" in cls.__dict__:
            skip = {"id", *cls.stamps}
            cls.columns = tuple(
                name for name in cls.__annotations__ if name in cls.table.c and name not in skip
            )
            cls._values = attrgetter(*cls.columns)
            # JSON columns that may be NULL: a None there is SQL NULL, not the JSON null the
            # column would store if given None.
            cls._nullable_json = frozenset(
                name
                for name in cls.columns
                if cls.table.c[name].nullable and isinstance(cls.table.c[name].type, JSON)
            )

    _values: ClassVar[Callable[[Any], tuple[Any, ...]]]
    _nullable_json: ClassVar[frozenset[str]]

    def values(self) -> tuple[Any, ...]:
        return type(self)._values(self)

    def changes(self) -> dict[str, Any]:
        now = self.values()
        if self.was is None:
            return dict(zip(self.columns, now, strict=True))
        return {
            name: value
            for name, value, before in zip(self.columns, now, self.was, strict=True)
            if value is not before and value != before
        }

    def insert_values(self) -> dict[str, Any]:
        values = dict(zip(self.columns, self.values(), strict=True))
        values.update((name, getattr(self, name)) for name in self.stamps)
        # Every row the same keys: a multi-row INSERT takes its columns from the first row's.
        return self.sql_nulls(values)

    @classmethod
    def sql_nulls(cls, values: dict[str, Any]) -> dict[str, Any]:
        """The values with a JSON None as SQL NULL (the JSON type writes JSON null for None,
        SQL NULL for ``null()``), as the PostgreSQL array statements write it."""
        for name in cls._nullable_json.intersection(values):
            if values[name] is None:
                values[name] = null()
        return values


@dataclass(eq=False, slots=True)
class IdentityRow(Row):
    table: ClassVar[Table] = cast(Table, ContactIdentity.__table__)

    contact_id: int | None
    jid: str
    kind: IdentityKind
    id: int | None = None
    was: tuple[Any, ...] | None = field(default=None, repr=False)


@dataclass(eq=False, slots=True)
class ContactRow(Row):
    table: ClassVar[Table] = cast(Table, Contact.__table__)

    name: str | None = None
    push_name: str | None = None
    phone: str | None = None
    email: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    identities: list[IdentityRow] = field(default_factory=list)
    was: tuple[Any, ...] | None = field(default=None, repr=False)


@dataclass(eq=False, slots=True)
class ConversationRow(Row):
    table: ClassVar[Table] = cast(Table, Conversation.__table__)
    stamps: ClassVar[tuple[str, ...]] = ("created_at", "updated_at")

    channel_id: int
    contact_id: int
    department_id: int | None
    assignee_id: int | None
    status: ConversationStatus
    unread_count: int
    last_message_at: datetime
    last_message_preview: str
    resolved_at: datetime | None = None
    waiting_since: datetime | None = None
    bot_state: dict[str, Any] | None = None  # the bot's menu state, and flags said once
    csat_status: str | None = None
    csat_asked_at: datetime | None = None
    csat_rating: int | None = None
    csat_comment: str | None = None
    csat_rated_at: datetime | None = None
    snoozed_until: datetime | None = None
    sla_due_at: datetime | None = None
    sla_kind: str | None = None
    sla_state: str | None = None
    awaiting_since: datetime | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    id: int | None = None
    was: tuple[Any, ...] | None = field(default=None, repr=False)


@dataclass(eq=False, slots=True)
class MessageRow(Row):
    table: ClassVar[Table] = cast(Table, Message.__table__)

    conversation_id: int
    channel_id: int
    wa_message_id: str | None
    client_id: str | None
    direction: Direction
    author_type: ActorType
    author_user_id: int | None
    type: MessageType
    body: str
    media: dict[str, Any] | None
    quoted_wa_message_id: str | None
    reactions: dict[str, Any]
    status: MessageStatus
    error: str | None
    sent_at: datetime | None
    created_at: datetime
    edited_at: datetime | None = None
    revoked_at: datetime | None = None
    id: int | None = None
    was: tuple[Any, ...] | None = field(default=None, repr=False)


@dataclass(eq=False, slots=True)
class AuditRow(Row):
    """One audited conversation transition (``ConversationEvent``); only ever inserted."""

    table: ClassVar[Table] = cast(Table, ConversationEvent.__table__)
    stamps: ClassVar[tuple[str, ...]] = ("created_at",)

    conversation_id: int
    kind: EventKind
    actor_type: ActorType
    from_status: ConversationStatus | None
    to_status: ConversationStatus | None
    reason: str
    data: dict[str, Any] = field(default_factory=dict)
    actor_user_id: int | None = None
    from_department_id: int | None = None
    to_department_id: int | None = None
    from_assignee_id: int | None = None
    to_assignee_id: int | None = None
    note: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None
    was: tuple[Any, ...] | None = field(default=None, repr=False)


R = TypeVar("R", bound=Row)


async def rows_of(db: AsyncSession, kind: type[R], statement: Any) -> list[R]:
    """Runs a ``SELECT`` of ``kind.selected()`` columns and answers loaded rows."""
    return [kind.loaded(row) for row in (await db.execute(statement)).mappings()]


async def insert_rows(
    db: AsyncSession, rows: Sequence[Row], *, key: tuple[str, ...] | None = None, ids: bool = True
) -> None:
    """Inserts new rows with multi-row INSERTs and gives each its id.

    ``key``: columns whose values are unique among these rows, to match each returned id to
    its row; SQLite cannot promise the order of ``RETURNING``, and SQLAlchemy then inserts one
    row at a time. ``None``: no such key, ids in parameter order (slow on SQLite: for rare
    rows only). ``ids=False``: the ids are not needed (one executemany).

    On PostgreSQL, rows matched by ``key`` (or needing no id) go in one ``INSERT … SELECT FROM
    unnest(arrays)``: one array per column, encoded by the driver, instead of a bound
    parameter per value."""
    if not rows:
        return
    table = rows[0].table
    dialect = db.bind.dialect
    by_arrays = None
    if dialect.name == "postgresql" and len(rows) > 1 and (key is not None or not ids):
        names = (*rows[0].columns, *rows[0].stamps)
        returning = ("id", *(key or ())) if ids else ()
        by_arrays = _insert_from_arrays(table, names, returning, dialect)
    statement: Any
    params: Any
    if by_arrays is not None:
        statement, json = by_arrays
        columns = {name: [getattr(row, name) for row in rows] for name in names}
        params = {name: _array(values, name in json) for name, values in columns.items()}
    else:
        statement = insert(table)
        if ids:
            keys = [table.c[name] for name in key or ()]
            statement = statement.returning(table.c.id, *keys, sort_by_parameter_order=not keys)
        params = [row.insert_values() for row in rows]
    returned = await db.execute(statement, params)
    if ids and key is None:
        for row, (id_,) in zip(rows, returned, strict=True):
            row.id = id_
    elif ids and key is not None:
        by_key = {tuple(found[1:]): found[0] for found in returned}
        for row in rows:
            row.id = by_key[tuple(getattr(row, name) for name in key)]
    for row in rows:
        row.was = row.values()


async def store_changes(db: AsyncSession, rows: Iterable[Row]) -> None:
    """Writes what changed in loaded rows: one ``UPDATE`` per table and set of changed columns
    (a batch's conversations mostly change the same few)."""
    groups: dict[tuple[type[Row], tuple[str, ...]], list[dict[str, Any]]] = {}
    now = utcnow()
    for row in rows:
        if row.id is None:
            continue
        changed = row.changes()
        if not changed:
            continue
        if "updated_at" in row.stamps:
            changed["updated_at"] = now
            row.updated_at = now  # type: ignore[attr-defined]
        groups.setdefault((type(row), tuple(changed)), []).append({_ID: row.id, **changed})
        row.was = row.values()
    dialect = db.bind.dialect
    for (kind, names), params in groups.items():
        table = kind.table
        if dialect.name == "postgresql" and len(params) > 1:
            statement, json = _update_from_arrays(table, names, dialect)
            columns = {name: [p[name] for p in params] for name in (_ID, *names)}
            arrays = {name: _array(values, name in json) for name, values in columns.items()}
            await db.execute(statement, arrays)
        else:
            by_id = update(table).where(table.c.id == bindparam(_ID))
            await db.execute(by_id, [kind.sql_nulls(p) for p in params])


async def update_guarded(
    db: AsyncSession, rows: Sequence[Row], names: tuple[str, ...], guarded: tuple[str, ...]
) -> int:
    """PostgreSQL: writes ``names`` of loaded rows in one statement, each row only if its
    ``guarded`` columns still hold what was read; answers how many were written."""
    table = rows[0].table
    statement, json = _update_from_arrays(table, names, db.bind.dialect, guarded)
    read = [dict(zip(row.columns, row.was or (), strict=True)) for row in rows]
    params = {_ID: [row.id for row in rows]}
    for name in names:
        params[name] = _array([getattr(row, name) for row in rows], name in json)
    for name in guarded:
        params[f"was_{name}"] = _array([was[name] for was in read], name in json)
    return len((await db.execute(statement, params)).all())


def _array(values: list[Any], json: bool) -> list[Any]:
    """A column's values as the array bound for it: JSON travels as text (None as SQL NULL)."""
    return [None if v is None else dumps(v) for v in values] if json else values


def _unnest(
    table: Table, names: Sequence[str], dialect: Dialect
) -> tuple[str, list[str], set[str]]:
    """``unnest(CAST(:a AS type[]), ...)`` for these columns, each column's value as read from
    it (``u.a``, JSON cast back from text), and which columns are JSON. ``was_a``: a value
    read earlier from column ``a``."""
    arrays, values, json = [], [], set()
    for name in names:
        column = name.removeprefix("was_")
        kind = table.c[column].type.compile(dialect=dialect) if name != _ID else "BIGINT"
        if "JSON" in kind:
            json.add(name)
            arrays.append(f"CAST(:{name} AS TEXT[])")
            values.append(f"CAST(u.{name} AS {kind})")
        else:
            arrays.append(f"CAST(:{name} AS {kind}[])")
            values.append(f"u.{name}")
    return f"unnest({', '.join(arrays)}) AS u({', '.join(names)})", values, json


@cache
def _update_from_arrays(
    table: Table, names: tuple[str, ...], dialect: Dialect, guarded: tuple[str, ...] = ()
) -> tuple[TextClause, frozenset[str]]:
    """``UPDATE t SET a = u.a ... FROM unnest(ids, as...) AS u WHERE t.id = u.id``: one
    statement for all the rows, one array per column, the same text for any number of rows (so
    it is prepared once). PostgreSQL runs it several times faster than an UPDATE per row; JSON
    travels as text (answered: those columns). SQLite keeps the executemany. With ``guarded``
    columns, a row is written only if each still holds what was read (``was_g``), and the ids
    written are returned."""
    read = tuple(f"was_{name}" for name in guarded)
    source, values, json = _unnest(table, (_ID, *names, *read), dialect)
    sets = [f"{name} = {value}" for name, value in zip(names, values[1:], strict=False)]
    checks = [
        f" AND t.{name} IS NOT DISTINCT FROM {value}"
        for name, value in zip(guarded, values[1 + len(names) :], strict=True)
    ]
    # Every name is the table's own: none comes from input.
    sql = f"UPDATE {table.name} AS t SET {', '.join(sets)} FROM {source} "  # noqa: S608
    sql += f"WHERE t.id = u.{_ID}{''.join(checks)}" + (" RETURNING t.id" if guarded else "")
    return text(sql), frozenset(name for name in json if not name.startswith("was_"))


@cache
def _insert_from_arrays(
    table: Table, names: tuple[str, ...], returning: tuple[str, ...], dialect: Dialect
) -> tuple[TextClause, frozenset[str]] | None:
    """``INSERT INTO t (a, ...) SELECT u.a, ... FROM unnest(as, ...) AS u RETURNING ...``, or
    None when the table has a default these columns do not cover (a textual INSERT would not
    apply it)."""
    skipped = [c for c in table.c if c.name not in names and c.name != "id"]
    if any(c.default is not None for c in skipped):
        return None
    source, values, json = _unnest(table, names, dialect)
    # Every name is the table's own: none comes from input.
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) "
    sql += f"SELECT {', '.join(values)} FROM {source}"  # noqa: S608
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    return text(sql), frozenset(json)
