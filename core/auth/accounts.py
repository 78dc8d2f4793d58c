"""Creating users, and the first admin of a new installation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import exists, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth.passwords import generate_password, hash_password
from core.desk.departments import default_department
from core.storage.models import Role, User, department_members
from zapdesk.errors import Conflict, ValidationFailed

FIRST_ADMIN_EMAIL = "admin@zapdesk.local"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    role: Role,
    password: str,
    join_default: bool = True,
) -> User:
    """A new user; ``join_default``: in the default department (a desk without routing sees
    every conversation, as everyone is in the one department it has)."""
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise ValidationFailed("That is not an e-mail address.", details={"field": "email"})
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            f"The password needs at least {MIN_PASSWORD} characters.",
            details={"field": "password"},
        )
    if await session.scalar(select(exists().where(User.email == email))):
        raise Conflict("A user with this e-mail already exists.", details={"field": "email"})
    user = User(
        email=email,
        name=name.strip() or email,
        role=role,
        password_hash=await hash_password(password),
    )
    session.add(user)
    await session.flush()
    default = await default_department(session) if join_default else None
    if default is not None:
        await session.execute(
            insert(department_members).values(user_id=user.id, department_id=default)
        )
    return user


async def ensure_first_admin(session: AsyncSession) -> Credentials | None:
    """Creates an admin with a generated password when there is no user at all.

    Answers the credentials only when it created them, so they are shown exactly once.
    """
    if await session.scalar(select(exists().where(User.id.is_not(None)))):
        return None
    password = generate_password()
    await create_user(
        session, email=FIRST_ADMIN_EMAIL, name="Admin", role=Role.ADMIN, password=password
    )
    return Credentials(FIRST_ADMIN_EMAIL, password)
