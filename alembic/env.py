"""Alembic environment: async engine from core's factory, batch mode on SQLite."""

import asyncio
import logging.config

from alembic import context
from sqlalchemy.engine import Connection

from core.settings import DatabaseSettings
from core.storage.models import Base
from zapdesk.db import create_engine
from zapdesk.settings import RuntimeSettings

config = context.config
if config.config_file_name and not config.attributes.get("keep_logging"):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

url: str = config.attributes.get("database_url") or DatabaseSettings.load().url(
    RuntimeSettings.load()
)


# Full-text search lives outside the models (FTS5 table and triggers on SQLite, an expression
# index on PostgreSQL): alembic check must not ask to drop it.
SEARCH_OBJECTS = ("messages_fts", "ix_messages_body_search")


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return not (name or "").startswith(SEARCH_OBJECTS)


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=Base.metadata,
        compare_type=True,
        include_name=_include_name,
        **kwargs,
    )


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds tables; foreign keys must not fire while it copies rows.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    _configure(connection=connection, render_as_batch=sqlite)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(url=url, literal_binds=True, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
