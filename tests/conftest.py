"""Shared fixtures: real PostgreSQL and Redis (required under CI), fresh databases per test,
hermetic settings, and a check that no asyncio task outlives its test."""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import structlog
from pydantic import SecretStr
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core import keys
from core.app import create_app
from core.auth.accounts import create_user
from core.auth.tokens import issue_access
from core.settings import DatabaseSettings, RedisSettings, Settings, WebSettings
from core.storage.migrations import upgrade
from core.storage.models import Department, Role, department_members
from sessions.signing import HEADER, sign
from zapdesk.db import create_engine, session_factory
from zapdesk.log import console_renderer
from zapdesk.settings import RuntimeSettings, S3Settings, ServiceSettings, masked

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def plain_structlog() -> None:
    """structlog's defaults, with core's console renderer (plain tracebacks: rich's held a
    test's event loop for seconds when a background task logged an error)."""
    structlog.reset_defaults()
    processors = list(structlog.get_config()["processors"])
    processors[-1] = console_renderer(colors=False)
    structlog.configure(processors=processors)


plain_structlog()
PG_URL = os.environ.get(
    "ZAPDESK_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ZAPDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Variables the tests themselves read; every other ZAPDESK_ variable is cleared per test.
_TEST_VARS = {"ZAPDESK_TEST_DATABASE_URL", "ZAPDESK_TEST_REDIS_URL"}


def unavailable(what: str, url: str, error: BaseException) -> None:
    """Under CI a missing server fails the test; on a laptop it is skipped, saying why."""
    text = f"{what} not reachable at {masked(url)}: {error!r}"
    if CI:
        pytest.fail(f"{text} (CI=true requires it)", pytrace=False)
    pytest.skip(f"{text}; start it or set the ZAPDESK_TEST_* variable")


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's environment, .env or ./data."""
    for name in list(os.environ):
        if name.startswith("ZAPDESK_") and name not in _TEST_VARS:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


# PostgreSQL: a server admin connection creates throwaway databases.


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_admin(sql: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=5)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run())


def new_pg_database(template: str | None = None) -> str:
    """Creates an empty (or templated) database on the test server; answers its URL."""
    name = f"zapdesk_test_{uuid.uuid4().hex[:12]}"
    clause = f" TEMPLATE {template}" if template else ""
    _pg_admin(f'CREATE DATABASE "{name}"{clause}')
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    _pg_admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> None:
    try:
        _pg_admin("SELECT 1")
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        unavailable("PostgreSQL", PG_URL, exc)


@pytest.fixture(scope="session")
def pg_template(pg_server: None) -> Iterator[str]:
    """A database migrated to head once per run; each test gets a copy of it."""
    url = new_pg_database()
    upgrade(url)
    yield str(make_url(url).database)
    drop_pg_database(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "zapdesk.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the migration head, on each backend."""
    if backend == "sqlite":
        path = tmp_path / "zapdesk.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = new_pg_database(template=request.getfixturevalue("pg_template"))
    yield url
    drop_pg_database(url)


@pytest.fixture
def empty_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """A fresh database with no tables at all, on each backend."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("pg_server")
    url = new_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with session_factory(engine)() as session:
        yield session


@pytest.fixture(scope="session")
def redis_server() -> str:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (OSError, RedisError) as exc:
        unavailable("Redis", REDIS_URL, exc)
    finally:
        client.close()
    return REDIS_URL


def make_settings(tmp_path: Path, database_url: str, **concerns: Any) -> Settings:
    """Core settings built in code, with fixed test secrets and everything under tmp_path."""
    values: dict[str, Any] = {
        "runtime": RuntimeSettings(data_dir=tmp_path / "data"),
        "services": ServiceSettings(
            webhook_secret=SecretStr("test-webhook-secret"),
            gateway_token=SecretStr("test-gateway-token"),
        ),
        "web": WebSettings(
            secret_key=SecretStr("test-secret-key-that-is-long-enough-0123"),
            webui_dir=tmp_path / "dist",
        ),
        "database": DatabaseSettings(database_url=database_url),
        "redis": RedisSettings(),
        "s3": S3Settings(),
    }
    values.update(concerns)
    return Settings(**values)


# No asyncio task may outlive an async test (fixtures included).


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    yield
    current = asyncio.current_task()
    for _ in range(3):  # let tasks that are already finishing finish
        leaked = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not leaked:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"tasks outlived the test: {[t.get_name() for t in leaked]}", pytrace=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        function = getattr(item, "function", None)
        if function is not None and inspect.iscoroutinefunction(function):
            # First in line, so it is torn down last, after every other fixture.
            item.fixturenames.insert(0, "no_leaked_tasks")  # type: ignore[attr-defined]


# The storage suite's result per backend, shown at the end of the run.

_per_backend: Counter[tuple[str, str]] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and not report.passed):
        for name in ("sqlite", "postgresql"):
            if f"[{name}" in report.nodeid or f"-{name}]" in report.nodeid:
                _per_backend[(name, report.outcome)] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _per_backend:
        return
    terminalreporter.section("storage backends")
    for name in ("sqlite", "postgresql"):
        counts = {o: n for (b, o), n in _per_backend.items() if b == name}
        shown = ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "not run"
        terminalreporter.write_line(f"{name}: {shown}")


# Core as its clients see it: an app on a fresh database, users of every role, signed batches.


WEBHOOK_SECRET = "test-webhook-secret"


class Desk:
    """A running core app (``client``) with helpers to make users and sign requests."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.app = client.app

    async def user(
        self, role: str, email: str | None = None, departments: list[int] | None = None
    ) -> Any:
        email = email or f"{role}-{uuid.uuid4().hex[:6]}@empresa.com.br"
        for department_id in departments or []:
            await self.department(department_id)
        async with self.app[keys.SESSIONS].begin() as db:
            user = await create_user(
                db,
                email=email,
                name=role.title(),
                role=Role(role),
                password="senha-forte-1",
                join_default=departments is None,  # as an admin creating someone would
            )
            for department_id in departments or []:
                await db.execute(
                    department_members.insert().values(user_id=user.id, department_id=department_id)
                )
        return user

    async def department(self, department_id: int, **fields: Any) -> int:
        """Department ``department_id`` ("Dep N" unless it exists), made once even when
        several users of it are made at the same time."""
        try:
            async with self.app[keys.SESSIONS].begin() as db:
                if await db.get(Department, department_id) is None:
                    db.add(Department(id=department_id, name=f"Dep {department_id}", **fields))
        except IntegrityError:
            pass  # made meanwhile by another
        return department_id

    def auth(self, user: Any) -> dict[str, str]:
        secret = self.app[keys.SETTINGS].web.secret_key.get_secret_value()
        return {"Authorization": f"Bearer {issue_access(secret, user.id, user.role)}"}

    @staticmethod
    def signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
        return {HEADER: sign(secret, body), "Content-Type": "application/json"}


@pytest.fixture
async def desk(database_url: str, tmp_path: Path, aiohttp_client: Any) -> Desk:
    """Core on a fresh migrated database, on SQLite and on PostgreSQL. (The database first:
    fixtures end in reverse order, so core stops before its database is dropped.)"""
    return Desk(await aiohttp_client(create_app(make_settings(tmp_path, database_url))))


# Credential stores: a file store and an S3 store on moto's server, for the suites that run
# over both (credentials, backup).


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from tests.test_credentials import running_s3_server

    with running_s3_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["file", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    from sessions.credentials import CredentialStore, FileStore
    from tests.test_credentials import s3_store

    made: CredentialStore
    if request.param == "file":
        made = FileStore(tmp_path / "credentials")
    else:
        made = s3_store(request.getfixturevalue("s3_endpoint"))
    yield made
    await made.close()
