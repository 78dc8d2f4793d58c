"""Running core's Alembic migrations from code, and reading where the database stands."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from zapdesk.errors import NotReady
from zapdesk.settings import masked

# alembic/ and alembic.ini sit at the top of the source tree (the project is installed editable,
# and the container image copies them next to the package).
ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["keep_logging"] = True
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking (Alembic runs its own event loop): call from a thread or before the loop.

    A database that cannot be reached is a NotReady error saying where and why, no traceback.
    """
    try:
        command.upgrade(alembic_config(database_url), revision)
    except (OSError, SQLAlchemyError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        text = str(reason).split("\n")[0] or type(reason).__name__
        raise NotReady(f"cannot migrate the database at {masked(database_url)}: {text}") from None


async def create_database_if_missing(database_url: str) -> bool:
    """On PostgreSQL, creates the URL's database when the server answers that it does not exist.

    For the development launcher: a newcomer's `ZAPDESK_DATABASE_URL=.../zapdesk make up` works
    on a server that has never seen zapdesk. Answers whether it created the database.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql" or not url.database:
        return False
    dsn = url.set(drivername="postgresql")
    try:
        connection = await asyncpg.connect(dsn.render_as_string(hide_password=False), timeout=10)
    except asyncpg.InvalidCatalogNameError:
        pass
    else:
        await connection.close()
        return False
    if not re.fullmatch(r"[A-Za-z0-9_-]+", url.database):
        raise NotReady(f"database {url.database!r} does not exist; create it first")
    admin = await asyncpg.connect(
        dsn.set(database="postgres").render_as_string(hide_password=False), timeout=10
    )
    try:
        await admin.execute(f'CREATE DATABASE "{url.database}"')
    finally:
        await admin.close()
    return True


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head() or ""


async def current_revision(connection: AsyncConnection) -> str | None:
    try:
        result = await connection.execute(text("SELECT version_num FROM alembic_version"))
    except DBAPIError:
        return None
    return result.scalar_one_or_none()
