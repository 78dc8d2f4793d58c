"""Departments: what they are (views and validation), the default one, their members, and
whether one is open at a given moment (business hours in its own timezone, holidays)."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import ColumnElement, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.desk.machine import ENDED
from core.storage.base import RowId
from core.storage.models import AssignmentMode, Conversation, Department, User, department_members
from core.storage.models.department import DEFAULT_TIMEZONE
from zapdesk.errors import Conflict, NotFound, ValidationFailed

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")

Hours = dict[str, list[tuple[str, str]]]
# The plain fields a department takes as given.
SETTABLE = (
    "description",
    "assignment",
    "capacity",
    "timezone",
    "out_of_hours_message",
    "closing_message",
    "csat_enabled",
    "csat_question",
    "csat_thanks",
    "auto_close_s",
    "auto_close_message",
    "sla_first_s",
    "sla_next_s",
)


def _valid_hours(hours: dict[str, Any] | None) -> Hours | None:
    """``{"mon": [["08:00", "18:00"], ...], ...}``: known days, HH:MM, each start before its
    end; a day left out is closed. None: always open."""
    if hours is None:
        return None
    valid: Hours = {}
    for day, spans in hours.items():
        if day not in DAYS:
            raise ValueError(f"unknown day {day!r}: use {', '.join(DAYS)}")
        valid[day] = []
        for span in spans:
            start, end = span
            if not (_CLOCK.match(start) and _CLOCK.match(end)) or start >= end:
                raise ValueError(f"{day}: {start}-{end} is not a span of the day (HH:MM-HH:MM)")
            valid[day].append((start, end))
    return valid


class DepartmentFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(None, max_length=2000)
    assignment: AssignmentMode | None = Field(
        None,
        description="`off`: attendants take conversations themselves; `round_robin`: to each "
        "online attendant in turn; `balanced`: to the online attendant with the fewest open.",
    )
    capacity: int | None = Field(
        None, ge=1, le=1000, description="The most open conversations auto-assignment gives one."
    )
    timezone: str | None = Field(None, max_length=64, description="An IANA zone.")
    hours: dict[str, list[tuple[str, str]]] | None = Field(
        None,
        description='Weekly schedule, e.g. `{"mon": [["08:00", "18:00"]]}`; a day left out is '
        "closed; null: always open.",
    )
    holidays: list[date] | None = Field(None, max_length=366, description="Closed all day.")
    out_of_hours_message: str | None = Field(None, max_length=4096)
    closing_message: str | None = Field(
        None, max_length=4096, description="Sent when a conversation is resolved; empty: none."
    )
    csat_enabled: bool | None = Field(
        None, description="After resolving, ask the customer to rate the service from 1 to 5."
    )
    csat_question: str | None = Field(None, min_length=1, max_length=1000)
    csat_thanks: str | None = Field(
        None, max_length=1000, description="The answer to a rating; empty: none."
    )
    auto_close_s: int | None = Field(
        None,
        ge=0,
        le=30 * 86_400,
        description="Open or pending conversations are resolved after this many seconds of the "
        "customer's silence; 0: never.",
    )
    auto_close_message: str | None = Field(
        None, max_length=4096, description="Sent when a conversation is auto-closed; empty: none."
    )
    sla_first_s: int | None = Field(
        None,
        ge=0,
        le=30 * 86_400,
        description="SLA: the first answer is due this many seconds (of business hours, when "
        "the department has them) after a conversation reaches people; 0: no target.",
    )
    sla_next_s: int | None = Field(
        None,
        ge=0,
        le=30 * 86_400,
        description="SLA: each next answer is due this many seconds after the customer's "
        "message; 0: no target.",
    )
    member_ids: list[RowId] | None = Field(
        None, max_length=10_000, description="Attendants and supervisors of the department."
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and value not in available_timezones():
            raise ValueError(f"unknown timezone {value!r} (an IANA name: America/Sao_Paulo)")
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, Any] | None) -> Hours | None:
        return _valid_hours(value)


class DepartmentIn(DepartmentFields):
    name: str = Field(min_length=1, max_length=80)


class DepartmentPatch(DepartmentFields):
    """Only the fields given change (``hours: null`` means always open)."""

    name: str | None = Field(None, min_length=1, max_length=80)
    is_default: bool | None = Field(
        None, description="`true` makes it the default (the other one stops being it)."
    )


class DepartmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    is_default: bool
    assignment: AssignmentMode
    capacity: int
    timezone: str
    hours: dict[str, list[tuple[str, str]]] | None
    holidays: list[str]
    out_of_hours_message: str
    closing_message: str
    csat_enabled: bool
    csat_question: str
    csat_thanks: str
    auto_close_s: int
    auto_close_message: str
    sla_first_s: int
    sla_next_s: int
    member_ids: list[int] = Field(default_factory=list)
    created_at: datetime

    @classmethod
    def of(cls, department: Department, member_ids: Collection[int]) -> DepartmentOut:
        out = cls.model_validate(department)
        out.member_ids = sorted(member_ids)
        return out


# Reading.


async def default_department(db: AsyncSession) -> int | None:
    found: int | None = await db.scalar(
        select(Department.id).where(Department.is_default.is_(True)).limit(1)
    )
    return found


async def get_department(db: AsyncSession, department_id: int, *, lock: bool = False) -> Department:
    statement = select(Department).where(Department.id == department_id)
    department = await db.scalar(statement.with_for_update() if lock else statement)
    if department is None:
        raise NotFound(f"No department {department_id}.", details={"department_id": department_id})
    return department


async def members_of(db: AsyncSession, department_ids: Collection[int]) -> dict[int, list[int]]:
    """Each department's members."""
    return await _pairs(db, department_members.c.department_id, department_ids)


async def departments_of(db: AsyncSession, user_ids: Collection[int]) -> dict[int, list[int]]:
    """Each user's departments."""
    return await _pairs(db, department_members.c.user_id, user_ids)


async def _pairs(
    db: AsyncSession, by: ColumnElement[int], keys: Collection[int]
) -> dict[int, list[int]]:
    other = (
        department_members.c.user_id
        if by is department_members.c.department_id
        else department_members.c.department_id
    )
    found: dict[int, list[int]] = {key: [] for key in keys}
    for key, value in await db.execute(select(by, other).where(by.in_(keys))):
        found[key].append(value)
    return found


async def department_out(db: AsyncSession, department: Department) -> DepartmentOut:
    return DepartmentOut.of(department, (await members_of(db, [department.id]))[department.id])


# Changing.


async def create(db: AsyncSession, body: DepartmentIn) -> tuple[Department, set[int]]:
    """Answers the department and the users whose rights changed (its members)."""
    await _unique_name(db, body.name.strip())
    department = Department(name=body.name.strip())
    db.add(department)
    _apply(department, body)
    await db.flush()
    touched = await set_members(db, department.id, body.member_ids or [])
    return department, touched


async def change(db: AsyncSession, department: Department, body: DepartmentPatch) -> set[int]:
    """Applies the patch; answers the users whose rights changed."""
    if body.name is not None and body.name.strip() != department.name:
        await _unique_name(db, body.name.strip(), keep=department.id)
        department.name = body.name.strip()
    if body.is_default is False and department.is_default:
        raise Conflict(
            "Make another department the default instead.",
            details={"reason": "default_department"},
        )
    if body.is_default and not department.is_default:
        for other in await db.scalars(select(Department).where(Department.is_default.is_(True))):
            other.is_default = False
        await db.flush()
        department.is_default = True
    _apply(department, body)
    if "hours" in body.model_fields_set and body.hours is None:
        department.hours = None
    await db.flush()
    if body.member_ids is None:
        return set()
    return await set_members(db, department.id, body.member_ids)


async def remove(db: AsyncSession, department: Department) -> set[int]:
    """Deletes a department that holds no active conversation; answers its former members."""
    if department.is_default:
        raise Conflict(
            "The default department cannot be deleted; make another one the default first.",
            details={"reason": "default_department"},
        )
    active = await db.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(Conversation.department_id == department.id, Conversation.status.not_in(ENDED))
    )
    if active:
        raise Conflict(
            f"The department still has {active} active conversations; transfer them first.",
            details={"reason": "department_in_use", "active": active},
        )
    members = set((await members_of(db, [department.id]))[department.id])
    await db.delete(department)
    await db.flush()
    return members


async def set_members(db: AsyncSession, department_id: int, user_ids: Collection[int]) -> set[int]:
    """Replaces the department's members; answers who joined or left."""
    wanted = set(user_ids)
    known = set(await db.scalars(select(User.id).where(User.id.in_(wanted))))
    if missing := sorted(wanted - known):
        raise ValidationFailed("No such user.", details={"field": "member_ids", "missing": missing})
    before = set((await members_of(db, [department_id]))[department_id])
    await db.execute(
        delete(department_members).where(department_members.c.department_id == department_id)
    )
    if wanted:
        await db.execute(
            insert(department_members),
            [{"user_id": u, "department_id": department_id} for u in sorted(wanted)],
        )
    return before ^ wanted


def _apply(department: Department, body: DepartmentFields) -> None:
    for name in SETTABLE:
        value = getattr(body, name)
        if value is not None:
            setattr(department, name, value)
    if body.hours is not None:
        department.hours = {
            day: [list(span) for span in spans] for day, spans in body.hours.items()
        }
    if body.holidays is not None:
        department.holidays = sorted({day.isoformat() for day in body.holidays})
    if department.timezone is None:
        department.timezone = DEFAULT_TIMEZONE


async def _unique_name(db: AsyncSession, name: str, keep: int | None = None) -> None:
    """The same name in another case counts as taken (the database's lower() folds ASCII only
    on SQLite, so the exact name is asked for too)."""
    same = or_(Department.name == name, func.lower(Department.name) == name.lower())
    others = select(Department.id).where(same, Department.id != (keep or 0)).limit(1)
    if await db.scalar(others) is not None:
        raise NameTaken()


class NameTaken(Conflict):
    default_message = "A department with this name already exists."

    def __init__(self) -> None:
        super().__init__(details={"field": "name"})


# Business hours.


def is_open(department: Department, at: datetime) -> bool:
    """Whether the department works at ``at`` (aware), by its schedule in its timezone."""
    if department.hours is None:
        return True
    try:
        zone = ZoneInfo(department.timezone)
    except ZoneInfoNotFoundError:  # pragma: no cover - validated when set
        zone = ZoneInfo(DEFAULT_TIMEZONE)
    local = at.astimezone(zone)
    if local.date().isoformat() in (department.holidays or []):
        return False
    now = local.time().replace(second=0, microsecond=0)
    for start, end in department.hours.get(DAYS[local.weekday()], []):
        if clock(start) <= now < clock(end):
            return True
    return False


def clock(text: str) -> time:
    if text == "24:00":
        return time.max
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))
