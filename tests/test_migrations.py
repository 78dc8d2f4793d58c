"""Migrations are static and reversible: `alembic upgrade head` then `alembic check` finds the
models and the schema identical, on SQLite and on PostgreSQL; downgrade removes everything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect

from core.storage.migrations import ROOT, head_revision
from core.storage.models import Base
from zapdesk.db import create_engine


def alembic(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("alembic")), "-c", str(ROOT / "alembic.ini"), *args],
        env={**os.environ, "ZAPDESK_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def tables(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


async def test_upgrade_head_then_check_finds_no_drift(empty_database_url: str) -> None:
    upgraded = alembic(empty_database_url, "upgrade", "head")
    assert upgraded.returncode == 0, upgraded.stderr
    checked = alembic(empty_database_url, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No new upgrade operations detected" in checked.stdout
    current = alembic(empty_database_url, "current")
    assert head_revision() in current.stdout
    assert set(Base.metadata.tables) <= await tables(empty_database_url)


async def test_downgrade_removes_everything_and_upgrade_restores_it(
    empty_database_url: str,
) -> None:
    assert alembic(empty_database_url, "upgrade", "head").returncode == 0
    downgraded = alembic(empty_database_url, "downgrade", "base")
    assert downgraded.returncode == 0, downgraded.stderr
    assert await tables(empty_database_url) <= {"alembic_version"}
    assert alembic(empty_database_url, "upgrade", "head").returncode == 0
    assert set(Base.metadata.tables) <= await tables(empty_database_url)
