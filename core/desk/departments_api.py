"""Departments (admins change them, everyone reads them) and the queues the caller may see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.api.routing import ADMIN, Api, Call
from core.desk import departments as service
from core.desk.changes import Changes
from core.desk.machine import AUTO_CLOSE, HELD, QUEUED, SWEEP
from core.desk.rights import access_changed
from core.desk.unit import DESK
from core.inbox import queries
from core.storage.models import Department
from core.storage.rows import ConversationRow

log = structlog.get_logger("core.desk")

api = Api()
TAGS = ("desk",)


# Departments.


class DepartmentList(BaseModel):
    items: list[service.DepartmentOut]


@api.operation(
    "GET", "/departments", summary="Every department", response=DepartmentList, tags=TAGS
)
async def list_departments(call: Call[None, None]) -> DepartmentList:
    """Everyone may read them (a transfer names its destination); only admins change them."""
    async with call.db() as db:
        found = list(await db.scalars(select(Department).order_by(func.lower(Department.name))))
        members = await service.members_of(db, [d.id for d in found])
    return DepartmentList(items=[service.DepartmentOut.of(d, members[d.id]) for d in found])


@api.operation(
    "POST",
    "/departments",
    summary="Create a department",
    roles=ADMIN,
    body=service.DepartmentIn,
    response=service.DepartmentOut,
    status=201,
    tags=TAGS,
)
async def add_department(call: Call[service.DepartmentIn, None]) -> service.DepartmentOut:
    try:
        async with call.db.begin() as db:
            department, touched = await service.create(db, call.body)
            out = await service.department_out(db, department)
    except IntegrityError:
        raise service.NameTaken() from None  # made at the same moment by someone else
    await access_changed(call, touched)
    log.info("department_created", department_id=out.id, by=call.me.id)
    return out


@api.operation(
    "PATCH",
    "/departments/{id}",
    summary="Change a department: name, members, assignment, capacity, hours",
    roles=ADMIN,
    body=service.DepartmentPatch,
    response=service.DepartmentOut,
    tags=TAGS,
)
async def update_department(call: Call[service.DepartmentPatch, None]) -> service.DepartmentOut:
    try:
        async with call.db.begin() as db:
            department = await service.get_department(db, call.int_param("id"), lock=True)
            touched = await service.change(db, department, call.body)
            out = await service.department_out(db, department)
    except IntegrityError:
        raise service.NameTaken() from None
    await access_changed(call, touched)
    if call.body.assignment is not None or call.body.capacity is not None or touched:
        await _sweep(call, [out.id])  # a new mode, more room or more people: hand out the queue
    if call.body.auto_close_s:
        await _time_silences(call, out.id)
    log.info("department_changed", department_id=out.id, by=call.me.id)
    return out


@api.operation(
    "DELETE",
    "/departments/{id}",
    summary="Delete a department with no active conversation",
    roles=ADMIN,
    tags=TAGS,
)
async def delete_department(call: Call[None, None]) -> None:
    async with call.db.begin() as db:
        department = await service.get_department(db, call.int_param("id"), lock=True)
        touched = await service.remove(db, department)
    await access_changed(call, touched)


async def _sweep(call: Call[Any, Any], department_ids: list[int]) -> None:
    async def work(db: AsyncSession, changes: Changes) -> None:
        for department_id in department_ids:
            changes.enqueue(SWEEP, f"department:{department_id}")

    await call.request.app[DESK].run(work)


async def _time_silences(call: Call[Any, Any], department_id: int) -> None:
    """Auto-close switched on (or changed): every conversation someone holds gets its timer."""

    async def work(db: AsyncSession, changes: Changes) -> None:
        table = ConversationRow.table
        held = await db.scalars(
            select(table.c.id).where(
                table.c.department_id == department_id, table.c.status.in_(HELD)
            )
        )
        for conversation_id in held:
            changes.enqueue(AUTO_CLOSE, conversation_id)

    await call.request.app[DESK].run(work)


# Queues and the team.


class QueueOut(BaseModel):
    department_id: int
    name: str
    queued: int = Field(description="Conversations waiting for someone.")
    waiting_since: datetime | None = Field(description="Since when the longest one waits.")


class QueueList(BaseModel):
    items: list[QueueOut]


@api.operation(
    "GET",
    "/queues",
    summary="The queues the caller may see: how many wait, and the longest wait",
    response=QueueList,
    tags=TAGS,
)
async def list_queues(call: Call[None, None]) -> QueueList:
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        statement = select(Department.id, Department.name).order_by(func.lower(Department.name))
        if not viewer.sees_all:
            statement = statement.where(Department.id.in_(viewer.department_ids))
        named = (await db.execute(statement)).all()
        table = ConversationRow.table
        waiting = {
            row.department_id: row
            for row in await db.execute(
                select(
                    table.c.department_id,
                    func.count().label("queued"),
                    func.min(table.c.waiting_since).label("since"),
                )
                .where(
                    table.c.status == QUEUED,
                    table.c.department_id.in_([d for d, _ in named]),
                )
                .group_by(table.c.department_id)
            )
        }
    return QueueList(
        items=[
            QueueOut(
                department_id=department_id,
                name=name,
                queued=waiting[department_id].queued if department_id in waiting else 0,
                waiting_since=waiting[department_id].since if department_id in waiting else None,
            )
            for department_id, name in named
        ]
    )
