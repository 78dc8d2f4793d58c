"""Users (admins): create, change role, deactivate, reset password."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from pydantic import BaseModel, Field
from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.api.routing import ADMIN, Api, Call
from core.auth import refresh
from core.auth.accounts import MIN_PASSWORD, create_user
from core.auth.passwords import hash_password
from core.desk.departments import departments_of
from core.desk.rights import access_changed
from core.storage.base import RowId
from core.storage.models import Department, Role, User, department_members
from core.views import UserOut
from zapdesk.errors import Conflict, NotFound, ValidationFailed

log = structlog.get_logger("core.users")

api = Api()
TAGS = ("users",)


class UserList(BaseModel):
    items: list[UserOut]


class UserCreate(BaseModel):
    email: str = Field(max_length=254)
    name: str = Field(max_length=120)
    role: Role
    password: str = Field(max_length=1024)
    department_ids: list[RowId] | None = Field(
        None, description="Absent: the default department (where everyone starts)."
    )


class UserPatch(BaseModel):
    """Only the fields given change."""

    name: str | None = Field(None, min_length=1, max_length=120)
    role: Role | None = None
    department_ids: list[RowId] | None = None
    is_active: bool | None = Field(None, description="false ends every sign-in of the user.")


class PasswordReset(BaseModel):
    password: str = Field(max_length=1024, description="The new password; ends every sign-in.")


# Queries and changes (take a session; the handlers below own the unit of work).


async def user_out(session: AsyncSession, user: User) -> UserOut:
    return UserOut.of(user, (await departments_of(session, [user.id]))[user.id])


async def set_departments(session: AsyncSession, user_id: int, department_ids: list[int]) -> None:
    wanted = set(department_ids)
    known = set(await session.scalars(select(Department.id).where(Department.id.in_(wanted))))
    if missing := sorted(wanted - known):
        raise ValidationFailed(
            "No such department.", details={"field": "department_ids", "missing": missing}
        )
    await session.execute(delete(department_members).where(department_members.c.user_id == user_id))
    if wanted:
        await session.execute(
            insert(department_members),
            [{"user_id": user_id, "department_id": d} for d in sorted(wanted)],
        )


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user {user_id}.")
    return user


LAST_ADMIN = "This is the last active admin; make someone else admin first."


async def set_standing(session: AsyncSession, user: User, role: Role, is_active: bool) -> None:
    """Changes the user's role and whether they may sign in, never leaving the desk without an
    active admin (409 otherwise)."""
    statement = update(User).where(User.id == user.id).values(role=role, is_active=is_active)
    stepping_down = user.role is Role.ADMIN and user.is_active
    if stepping_down and not (role is Role.ADMIN and is_active):
        # PostgreSQL: lock the active admins, in one order, so that two admins stepping down
        # at once wait for each other; the second then sees the first one gone.
        await session.execute(
            select(User.id)
            .where(User.role == Role.ADMIN, User.is_active.is_(True))
            .order_by(User.id)
            .with_for_update()
        )
        # SQLite has no row locks but runs one write at a time: checking for another admin
        # in the UPDATE itself makes check and change one step.
        other = aliased(User)
        statement = statement.where(
            exists().where(other.role == Role.ADMIN, other.is_active.is_(True), other.id != user.id)
        )
    changed = await session.scalar(
        statement.returning(User.id).execution_options(synchronize_session="fetch")
    )
    if changed is None:
        raise Conflict(LAST_ADMIN, details={"reason": "last_admin"})


async def change_user(session: AsyncSession, user: User, patch: UserPatch) -> None:
    was_active = user.is_active
    if patch.role is not None or patch.is_active is not None:
        role = patch.role or user.role
        is_active = was_active if patch.is_active is None else patch.is_active
        await set_standing(session, user, role, is_active)
    if patch.name is not None:
        name = patch.name.strip()
        if not name:
            raise ValidationFailed("The name cannot be blank.", details={"field": "name"})
        user.name = name
    if patch.department_ids is not None:
        await set_departments(session, user.id, patch.department_ids)
    if was_active and not user.is_active:
        await refresh.revoke_user(session, user.id, datetime.now(UTC))
    await session.flush()


async def reset_password(
    session: AsyncSession, user: User, password: str, *, field: str = "password"
) -> None:
    """Sets the password and ends every sign-in of the user."""
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            f"The password needs at least {MIN_PASSWORD} characters.",
            details={"field": field},
        )
    user.password_hash = await hash_password(password)
    await refresh.revoke_user(session, user.id, datetime.now(UTC))
    await session.flush()


# Operations.


@api.operation("GET", "/users", summary="Every user", roles=ADMIN, response=UserList, tags=TAGS)
async def list_users(call: Call[None, None]) -> UserList:
    async with call.db() as session:
        users = list(await session.scalars(select(User).order_by(func.lower(User.name), User.id)))
        departments = await departments_of(session, [user.id for user in users])
    return UserList(items=[UserOut.of(user, departments[user.id]) for user in users])


@api.operation(
    "POST",
    "/users",
    summary="Create a user",
    roles=ADMIN,
    body=UserCreate,
    response=UserOut,
    status=201,
    tags=TAGS,
)
async def add_user(call: Call[UserCreate, None]) -> UserOut:
    body = call.body
    async with call.db.begin() as session:
        user = await create_user(
            session,
            email=body.email,
            name=body.name,
            role=body.role,
            password=body.password,
            join_default=body.department_ids is None,
        )
        if body.department_ids is not None:
            await set_departments(session, user.id, body.department_ids)
        out = await user_out(session, user)
    log.info("user_created", user_id=out.id, role=out.role.value, by=call.me.id)
    return out


@api.operation(
    "PATCH",
    "/users/{id}",
    summary="Change a user's name, role, departments or whether they can sign in",
    roles=ADMIN,
    body=UserPatch,
    response=UserOut,
    tags=TAGS,
)
async def update_user(call: Call[UserPatch, None]) -> UserOut:
    async with call.db.begin() as session:
        user = await get_user(session, call.int_param("id"))
        await change_user(session, user, call.body)
        out = await user_out(session, user)
    if call.body.model_fields_set & {"role", "department_ids", "is_active"}:
        await access_changed(call, {out.id})  # their open sockets follow at once
    log.info(
        "user_changed", user_id=out.id, by=call.me.id, fields=sorted(call.body.model_fields_set)
    )
    return out


@api.operation(
    "POST",
    "/users/{id}/password",
    summary="Set a user's password (ends their sign-ins)",
    roles=ADMIN,
    body=PasswordReset,
    tags=TAGS,
)
async def reset_user_password(call: Call[PasswordReset, None]) -> None:
    async with call.db.begin() as session:
        user = await get_user(session, call.int_param("id"))
        await reset_password(session, user, call.body.password)
    log.info("password_reset", user_id=user.id, by=call.me.id)
