"""The desk's spine across real core processes, as an operator runs them: a delayed job and an
auto-close timer that outlive a ``kill -9`` run exactly once after the restart; two core
processes on PostgreSQL never let two people claim one conversation nor give anyone more than
their capacity."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from core.storage.models import (
    Conversation,
    ConversationEvent,
    ConversationStatus,
    EventKind,
    Job,
    Message,
)
from sessions.events import EventBatch
from sessions.signing import HEADER, sign
from tests.conftest import drop_pg_database, new_pg_database
from tests.test_core_workers import PASSWORD, core_env, create_admin, redis_prefix
from tests.test_ingest import T0, maria, received
from tests.test_up import free_port
from zapdesk.db import create_engine, session_factory

pytestmark = pytest.mark.timeout(150)
__all__ = ["redis_prefix"]  # a fixture
ADMIN = "admin@empresa.com.br"


class FakeGateway:
    """Answers sends: refused while ``down``, then sent; counts both."""

    def __init__(self) -> None:
        self.down = True
        self.refused = 0
        self.sent: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        if not request.path.endswith("/messages"):
            return web.Response(status=204)
        body = await request.json()
        if self.down:
            self.refused += 1
            return web.json_response({"error": {"code": "unavailable", "message": "x"}}, status=503)
        self.sent.append(body["client_id"])
        return web.json_response(
            {"client_id": body["client_id"], "status": "sent", "wa_id": f"WA-{body['client_id']}"}
        )


def environment(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    """A migrated database with an admin, and a core environment for it."""
    env = core_env(
        tmp_path,
        database_url,
        ZAPDESK_COPILOT_PROVIDER="off",
        ZAPDESK_JOBS_POLL_S="0.2",
        **extra,
    )
    create_admin(env, ADMIN)
    return env


@asynccontextmanager
async def core(env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zapdesk", "core", env=env, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{env['ZAPDESK_CORE_PORT']}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                assert process.returncode is None, "core exited"
                try:
                    async with http.get(f"{url}/readyz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


class Client:
    def __init__(self, http: aiohttp.ClientSession, env: dict[str, str]) -> None:
        self.http = http
        self.env = env
        self.url = f"http://127.0.0.1:{env['ZAPDESK_CORE_PORT']}"

    async def token(self, email: str, password: str = PASSWORD) -> dict[str, str]:
        login = {"email": email, "password": password}
        async with self.http.post(f"{self.url}/api/v1/auth/login", json=login) as response:
            assert response.status == 200, await response.text()
            return {"Authorization": f"Bearer {(await response.json())['access_token']}"}

    async def call(
        self, auth: dict[str, str], method: str, path: str, body: Any = None
    ) -> tuple[int, Any]:
        async with self.http.request(
            method, f"{self.url}/api/v1{path}", json=body, headers=auth
        ) as response:
            return response.status, (None if response.status == 204 else await response.json())

    async def customers_write(self, numbers: range) -> None:
        events = []
        for n in numbers:
            jid = f"55119{n:08d}@s.whatsapp.net"
            events.append(received(f"WA{n}", "Oi", peer=maria(jid, pn=jid), at=T0))
        body = EventBatch(events=events).model_dump_json().encode()
        headers = {HEADER: sign(self.env["ZAPDESK_WEBHOOK_SECRET"], body)}
        async with self.http.post(
            f"{self.url}/internal/events", data=body, headers=headers
        ) as response:
            assert response.status == 200, await response.text()

    async def customer_waits(self, auth: dict[str, str], **department: Any) -> dict[str, Any]:
        """Department 1 set up so, a customer writes: their conversation, as listed."""
        status, _ = await self.call(auth, "PATCH", "/departments/1", department)
        assert status == 200
        await self.customers_write(range(1))
        status, page = await self.call(auth, "GET", "/conversations")
        conversation: dict[str, Any] = page["items"][0]
        return conversation


async def eventually(check: Any, within_s: float = 60) -> Any:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.1)


@pytest.fixture
def gateway_port() -> int:
    return free_port()


@pytest.fixture
def restart_env(tmp_path: Path, database_url: str, gateway_port: int) -> dict[str, str]:
    return environment(
        tmp_path,
        database_url,
        ZAPDESK_GATEWAY_URL=f"http://127.0.0.1:{gateway_port}",
        ZAPDESK_SEND_RETRY_BASE_S="5",
    )


@pytest.fixture
def pg_env(
    tmp_path: Path, redis_server: str, redis_prefix: str, pg_server: None
) -> Iterator[dict[str, str]]:
    database_url = new_pg_database()
    yield environment(
        tmp_path,
        database_url,
        ZAPDESK_CORE_WORKERS="2",
        ZAPDESK_REDIS_URL=redis_server,
        ZAPDESK_REDIS_PREFIX=redis_prefix,
    )
    drop_pg_database(database_url)


async def test_a_delayed_job_survives_kill_9_and_runs_exactly_once_after_restart(
    restart_env: dict[str, str], database_url: str, gateway_port: int, aiohttp_server: Any
) -> None:
    env = restart_env
    gateway = FakeGateway()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", gateway.handle)
    await aiohttp_server(app, port=gateway_port)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        async with aiohttp.ClientSession() as http:
            client = Client(http, env)
            async with core(env) as first:
                admin = await client.token(ADMIN)
                await client.customers_write(range(1))
                status, page = await client.call(admin, "GET", "/conversations")
                conversation_id = page["items"][0]["id"]
                status, message = await client.call(
                    admin, "POST", f"/conversations/{conversation_id}/messages", {"text": "Olá!"}
                )
                assert status == 202

                # The gateway is down: the send waits for its retry, a few seconds away.
                async def refused() -> bool:
                    async with sessions() as db:
                        job = await db.scalar(select(Job).where(Job.kind == "send"))
                        return job is not None and job.attempts >= 1

                await eventually(refused)
                first.kill()  # kill -9, mid-wait
                await first.wait()
            async with sessions() as db:
                [job] = await db.scalars(select(Job).where(Job.kind == "send"))
                assert job.key == str(message["id"])
                # One refused attempt (two, if a slow machine let the retry come first).
                assert 1 <= job.attempts <= gateway.refused
            gateway.down = False
            async with core(env):

                async def sent() -> bool:
                    async with sessions() as db:
                        row = await db.get(Message, message["id"])
                        left = await db.scalar(select(func.count()).select_from(Job))
                        return row is not None and row.status.value == "sent" and left == 0

                await eventually(sent)
        assert gateway.sent == [message["client_id"]]  # once, after the restart
    finally:
        await engine.dispose()


async def test_an_auto_close_timer_survives_kill_9_and_fires_exactly_once(
    restart_env: dict[str, str], database_url: str
) -> None:
    """Core dies (kill -9) with a conversation's silence timer set; a new core resolves it
    once, with one message to the customer."""
    env = restart_env
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        async with aiohttp.ClientSession() as http:
            client = Client(http, env)
            async with core(env) as first:
                admin = await client.token(ADMIN)
                conversation = await client.customer_waits(admin, auto_close_s=3)
                conversation_id = conversation["id"]
                status, claimed = await client.call(
                    admin, "POST", f"/conversations/{conversation_id}/claim"
                )
                assert (status, claimed["status"]) == (200, "open")

                async def timer_set() -> bool:  # looked once, set for the deadline
                    async with sessions() as db:
                        job = await db.scalar(select(Job).where(Job.kind == "auto.close"))
                        return job is not None and job.locked_until is None and job.revision > 0

                await eventually(timer_set)
                first.kill()
                await first.wait()
            async with core(env):

                async def resolved() -> bool:
                    async with sessions() as db:
                        found = await db.get(Conversation, conversation_id)
                        left = await db.scalar(
                            select(func.count()).select_from(Job).where(Job.kind == "auto.close")
                        )
                        return found is not None and found.status.value == "resolved" and left == 0

                await eventually(resolved)
            async with sessions() as db:
                closes = await db.scalars(
                    select(ConversationEvent).where(
                        ConversationEvent.conversation_id == conversation_id,
                        ConversationEvent.to_status == ConversationStatus.RESOLVED,
                    )
                )
                assert [e.reason for e in closes] == ["auto-closed after 3 s of silence"]
                said = await db.scalar(
                    select(func.count())
                    .select_from(Message)
                    .where(
                        Message.conversation_id == conversation_id,
                        Message.author_type == "bot",
                    )
                )
                assert said == 1
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_two_core_processes_never_double_assign_nor_overfill(
    pg_env: dict[str, str],
) -> None:
    env = pg_env
    engine = create_engine(env["ZAPDESK_DATABASE_URL"])
    sessions = session_factory(engine)
    capacity, people = 30, 5
    try:
        # A connection per request: the kernel spreads them over both processes.
        connector = aiohttp.TCPConnector(force_close=True, limit=100)
        async with core(env), aiohttp.ClientSession(connector=connector) as http:
            client = Client(http, env)
            admin = await client.token(ADMIN)
            emails = [f"a{n}@empresa.com.br" for n in range(people)]
            for email in emails:
                status, _ = await client.call(
                    admin,
                    "POST",
                    "/users",
                    {"email": email, "name": email, "role": "attendant", "password": PASSWORD},
                )
                assert status == 201
            tokens = [await client.token(email) for email in emails]

            # Five people claim one conversation ten times each, at once.
            await client.customers_write(range(1))
            status, page = await client.call(admin, "GET", "/conversations")
            contested = page["items"][0]["id"]
            answers = await asyncio.gather(
                *(
                    client.call(token, "POST", f"/conversations/{contested}/claim")
                    for token in tokens
                    for _ in range(10)
                )
            )
            assert Counter(status for status, _ in answers) == {200: 1, 409: 49}
            async with sessions() as db:
                claims = await db.scalar(
                    select(func.count())
                    .select_from(ConversationEvent)
                    .where(
                        ConversationEvent.conversation_id == contested,
                        ConversationEvent.kind == EventKind.ASSIGNED,
                    )
                )
            assert claims == 1

            # Everyone online (a tab each), round robin with room for 30 each: 200 arrive.
            sockets = []
            for token in tokens:
                async with http.post(f"{client.url}/api/v1/ws/ticket", headers=token) as r:
                    ticket = (await r.json())["ticket"]
                sockets.append(
                    await http.ws_connect(f"{client.url}/api/v1/ws", params={"ticket": ticket})
                )

            async def all_online() -> bool:
                _, team = await client.call(admin, "GET", "/team")
                return sum(m["status"] == "online" for m in team["items"]) == people

            await eventually(all_online)
            status, _ = await client.call(
                admin,
                "PATCH",
                "/departments/1",
                {"assignment": "round_robin", "capacity": capacity},
            )
            assert status == 200
            await asyncio.gather(
                *(client.customers_write(range(1 + n * 10, 11 + n * 10)) for n in range(20))
            )

            async def settled() -> list[Conversation] | None:
                async with sessions() as db:
                    if await db.scalar(select(func.count()).select_from(Job)):
                        return None
                    return list(await db.scalars(select(Conversation)))

            rows = await eventually(settled)
            for ws in sockets:
                await ws.close()
        held = Counter(c.assignee_id for c in rows if c.status is ConversationStatus.OPEN)
        assert len(rows) == 201
        assert sum(held.values()) == capacity * people  # everyone filled, no one over
        assert max(held.values()) == capacity
        assert sum(c.status is ConversationStatus.QUEUED for c in rows) == 201 - capacity * people
        async with sessions() as db:
            given = Counter(
                await db.scalars(
                    select(ConversationEvent.conversation_id).where(
                        ConversationEvent.kind == EventKind.ASSIGNED
                    )
                )
            )
        assert max(given.values()) == 1  # no conversation assigned twice
    finally:
        await engine.dispose()


async def test_an_sla_clock_survives_kill_9_and_its_breach_is_recorded_once(
    restart_env: dict[str, str], database_url: str
) -> None:
    """Core dies (kill -9) while a customer waits for a first answer; a new core records the
    missed target once."""
    env = {**restart_env, "ZAPDESK_JOBS_LOCK_S": "5"}  # killed holding the job: let go soon
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        async with aiohttp.ClientSession() as http:
            client = Client(http, env)
            async with core(env) as first:
                admin = await client.token(ADMIN)
                conversation = await client.customer_waits(admin, sla_first_s=4)
                conversation_id = conversation["id"]
                assert conversation["sla_state"] == "running"
                first.kill()
                await first.wait()
            async with core(env):

                async def breached() -> bool:
                    async with sessions() as db:
                        found = await db.get(Conversation, conversation_id)
                        left = await db.scalar(
                            select(func.count()).select_from(Job).where(Job.kind == "sla.check")
                        )
                        return found is not None and found.sla_state == "breached" and left == 0

                await eventually(breached)
            async with sessions() as db:
                lines = await db.scalars(
                    select(ConversationEvent).where(
                        ConversationEvent.conversation_id == conversation_id,
                        ConversationEvent.kind == EventKind.SLA_BREACHED,
                    )
                )
                assert [line.data["kind"] for line in lines] == ["first"]
    finally:
        await engine.dispose()
