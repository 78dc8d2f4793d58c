"""The people of the desk: the team with status and load, everyone's name, one's presence."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from core.api.routing import Api, Call
from core.desk import departments as service
from core.desk.assignment import loads
from core.desk.presence import PRESENCE_KEEPER, Status
from core.inbox import queries
from core.storage.models import Role, User, department_members

api = Api()
TAGS = ("desk",)


# The team.


class MemberOut(BaseModel):
    id: int
    name: str
    role: Role
    department_ids: list[int]
    status: Status
    open: int = Field(description="Open and pending conversations they hold.")


class Team(BaseModel):
    items: list[MemberOut]


@api.operation(
    "GET",
    "/team",
    summary="The people of the caller's departments with their status and load",
    response=Team,
    tags=TAGS,
)
async def get_team(call: Call[None, None]) -> Team:
    """Admins see everyone; others the people who share a department with them."""
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        users = select(User).where(User.is_active.is_(True)).order_by(func.lower(User.name))
        if not viewer.sees_all:
            dm = department_members
            colleagues = select(dm.c.user_id).where(dm.c.department_id.in_(viewer.department_ids))
            users = users.where(User.id.in_(colleagues) | (User.id == call.me.id))
        people = list(await db.scalars(users))
        ids = [u.id for u in people]
        departments = await service.departments_of(db, ids)
        held = await loads(db, ids)
    statuses = await call.request.app[PRESENCE_KEEPER].store.statuses(ids)
    return Team(
        items=[
            MemberOut(
                id=u.id,
                name=u.name,
                role=u.role,
                department_ids=sorted(departments[u.id]),
                status=statuses[u.id],
                open=held[u.id],
            )
            for u in people
        ]
    )


class Person(BaseModel):
    id: int
    name: str
    is_active: bool


class People(BaseModel):
    items: list[Person]


@api.operation(
    "GET",
    "/people",
    summary="Everyone's name, by id (for timelines and assignees)",
    response=People,
    tags=TAGS,
)
async def list_people(call: Call[None, None]) -> People:
    """Names only: who did what in a conversation's history, whatever their department."""
    async with call.db() as db:
        rows = await db.execute(select(User.id, User.name, User.is_active).order_by(User.id))
        return People(items=[Person(id=i, name=n, is_active=a) for i, n, a in rows])


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["online", "away"] = Field(
        description="`away`: no conversation is given to you automatically until `online`."
    )


class PresenceOut(BaseModel):
    user_id: int
    status: Status


@api.operation(
    "PUT",
    "/presence",
    summary="Set yourself online or away",
    body=PresenceIn,
    response=PresenceOut,
    tags=TAGS,
)
async def set_presence(call: Call[PresenceIn, None]) -> PresenceOut:
    """Offline is not chosen: it is having no tab open for a minute."""
    keeper = call.request.app[PRESENCE_KEEPER]
    status = await keeper.set_away(call.me.id, call.body.status == "away")
    return PresenceOut(user_id=call.me.id, status=status)
