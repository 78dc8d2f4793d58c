"""Core benchmark: signed event ingest and realtime fan-out, on PostgreSQL and Redis.

``zapdesk core`` runs as a real process against a fresh PostgreSQL database (created here,
dropped at the end) and a Redis bus under a key prefix of its own. The script signs in as an
admin, opens ``--clients`` websockets subscribed to ``inbox`` and posts signed batches of
``message.received`` events to ``/internal/events``, as the gateway does:

1. warm-up: one batch per 100 customers, so each of ``--customers`` has a contact and a
   conversation (reported apart: creating them is a different path);
2. throughput: ``--posters`` concurrent posters, each with its own customers, as fast as
   core acknowledges, for ``--seconds`` -> messages/s;
3. paced: ``--paced-rate`` messages/s (batches sent on a schedule, not waiting for answers),
   for ``--paced-seconds`` -> latency from the POST being sent to each websocket client
   receiving the ``conversation.updated`` frame that shows the message (p50/p99);
4. the floor: a bare asyncpg script writes the same rows (contacts, identities, conversations
   and their audit event, messages, the conversation's preview and unread count) in the same
   batches, one transaction each, on another fresh database migrated to head -> rows/s; the
   table shows ours / floor.

``--bot both`` measures the throughput twice in one run, the number's bot off then on (a
numbered menu: each customer is greeted, asked, told it was not understood and routed to the
default queue after three tries; the bot's messages are sent to a stand-in gateway that
answers "sent") -> the ratio on / off.

``.venv/bin/python scripts/bench_core.py`` (``--profile core.prof`` runs core under cProfile).
Every process, database and Redis key it creates is removed at the end, on Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web
from benchkit import Row, cpu_s, free_port, print_table, say, tree_cpu_s  # a sibling module
from redis.asyncio import Redis

from sessions.events import (
    EventBatch,
    MessageData,
    MessageKind,
    MessageReceivedEvent,
    Peer,
    SessionStatusEvent,
    StatusData,
)
from sessions.signing import HEADER, sign
from sessions.states import SessionState
from zapdesk.proc import DIE_WITH_PARENT

ROOT = Path(__file__).resolve().parents[1]
SESSION_ID = "bench-core"
GOAL_MSG_PER_S = 3000
GOAL_P99_MS = 50.0
GOAL_RATIO = 0.5
GOAL_BOT_RATIO = 0.8
ADMIN_EMAIL = "bench-admin@example.com"
TEXT = "Olá! Gostaria de saber quando meu pedido chega, por favor."


# What the customers write: the same rows for core and for the floor.


@dataclass(frozen=True)
class Customer:
    phone: str
    lid: str
    name: str

    @property
    def peer(self) -> Peer:
        return Peer(
            jid=f"{self.lid}@lid",
            pn=f"{self.phone}@s.whatsapp.net",
            lid=f"{self.lid}@lid",
            name=self.name,
        )


@dataclass(frozen=True)
class Sent:
    """One message: its number (the marker in its text), its customer and WhatsApp id."""

    seq: int
    customer: Customer
    wa_id: str
    text: str
    at: datetime


def customers_of(count: int) -> list[Customer]:
    return [
        Customer(f"55119{n:08d}", f"{90000000000000 + n}", f"Cliente {n}") for n in range(count)
    ]


class Writer:
    """Numbers messages and cycles each poster through its own customers, 100 different ones
    per batch, so that concurrent batches never wait on each other's conversation locks."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.seq = 0

    def batch(self, customers: list[Customer], start: int, size: int) -> list[Sent]:
        now = datetime.now(UTC)
        out = []
        for i in range(size):
            self.seq += 1
            customer = customers[(start + i) % len(customers)]
            wa_id = f"BENCH{self.tag}{self.seq:010d}"
            out.append(Sent(self.seq, customer, wa_id, f"[{self.seq}] {TEXT}", now))
        return out


def body_of(batch: list[Sent]) -> bytes:
    events = [
        MessageReceivedEvent(
            session_id=SESSION_ID,
            data=MessageData(
                wa_id=m.wa_id,
                chat=m.customer.peer,
                sender=m.customer.peer,
                from_me=False,
                timestamp=m.at,
                kind=MessageKind.TEXT,
                text=m.text,
            ),
        )
        for m in batch
    ]
    return EventBatch(events=events).model_dump_json().encode()


# The world: databases, Redis keys and the core process.


@dataclass
class World:
    args: argparse.Namespace
    workdir: Path
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    databases: list[str] = field(default_factory=list)
    core: subprocess.Popen[bytes] | None = None
    port: int = 0
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    password: str = ""
    gateway_port: int = 0  # the stand-in gateway that takes the bot's sends
    # Set on Ctrl-C / SIGTERM: a cancel can be lost inside a client request, this cannot.
    stopping: bool = False
    customers: list[Customer] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"zdbench{self.tag}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def dsn(self, name: str) -> str:
        return f"postgresql://{self.args.pg}/{name}"

    async def create_database(self, suffix: str) -> str:
        name = f"zapdesk_bench_{self.tag}_{suffix}{len(self.databases) or ''}"
        conn = await asyncpg.connect(self.dsn("postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.databases.append(name)
        return name

    def env(self, database: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith("ZAPDESK_")}
        return {
            **keep,
            "ZAPDESK_DATA_DIR": str(self.workdir / "data"),
            "ZAPDESK_CORE_PORT": str(self.port),
            "ZAPDESK_DATABASE_URL": f"postgresql+asyncpg://{self.args.pg}/{database}",
            "ZAPDESK_REDIS_URL": f"redis://{self.args.redis}/{self.args.redis_db}",
            "ZAPDESK_REDIS_PREFIX": self.prefix,
            "ZAPDESK_WEBHOOK_SECRET": self.secret,
            "ZAPDESK_SECRET_KEY": secrets.token_urlsafe(32),
            "ZAPDESK_GATEWAY_TOKEN": secrets.token_urlsafe(32),
            "ZAPDESK_LOG_LEVEL": "warning",
            "ZAPDESK_CORE_WORKERS": str(self.args.workers),
            "ZAPDESK_GATEWAY_URL": f"http://127.0.0.1:{self.gateway_port}",
            # Ingest and fan-out alone: the copilot's drafts are measured by bench_copilot.py.
            "ZAPDESK_COPILOT_PROVIDER": "off",
        }

    def zapdesk(self, args: list[str], env: dict[str, str], stdin: str = "") -> None:
        done = subprocess.run(
            [self.args.zapdesk, *args],
            env=env,
            cwd=self.workdir,
            input=stdin.encode(),
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"bench: zapdesk {args[0]} failed:\n{done.stderr.decode()}")

    async def migrate(self, database: str) -> dict[str, str]:
        env = self.env(database)
        await asyncio.to_thread(self.zapdesk, ["migrate"], env)
        return env

    async def start_core(self, http: aiohttp.ClientSession) -> int:
        """Starts core on a fresh database with an admin; answers its pid once it is healthy."""
        self.port = free_port()
        database = await self.create_database("core")
        env = await self.migrate(database)
        password = secrets.token_urlsafe(16)
        create = ["user", "create", "--email", ADMIN_EMAIL, "--role", "admin", "--password-stdin"]
        await asyncio.to_thread(self.zapdesk, create, env, password + "\n")
        self.password = password
        command = [self.args.zapdesk, "core"]
        if self.args.profile:
            profile = self.args.profile  # made absolute in main(): core runs elsewhere
            command = [sys.executable, "-m", "cProfile", "-o", profile, "-m", "zapdesk", "core"]
        with (self.workdir / "core.log").open("ab") as log:
            self.core = subprocess.Popen(  # noqa: ASYNC220 - starting it does not wait
                command,
                env=env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only this script, which stops core
                preexec_fn=DIE_WITH_PARENT,  # only prctl: safe after fork
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.core.poll() is not None:
                raise SystemExit(f"bench: core exited at start:\n{self.tail()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{self.url}/healthz") as response:
                    if response.status == 200:
                        return self.core.pid
            await asyncio.sleep(0.1)
        raise SystemExit(f"bench: core not ready in 60 s:\n{self.tail()}")

    def tail(self) -> str:
        path = self.workdir / "core.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-20:])

    def stop_core(self) -> None:
        core, self.core = self.core, None
        if core is None or core.poll() is not None:
            return
        core.terminate()  # graceful: cProfile writes its file on a normal exit
        try:
            core.wait(60)
        except subprocess.TimeoutExpired:
            core.kill()
            core.wait()

    async def clean(self) -> None:
        self.stop_core()
        with contextlib.suppress(Exception):
            conn = await asyncpg.connect(self.dsn("postgres"))
            try:
                for name in self.databases:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()
        with contextlib.suppress(Exception):
            redis = Redis.from_url(f"redis://{self.args.redis}/{self.args.redis_db}")
            try:
                keys = [k async for k in redis.scan_iter(match=f"{self.prefix}:*")]
                if keys:
                    await redis.delete(*keys)
            finally:
                await redis.aclose()


# Websocket clients.
#
# Each client stamps the bytes as they arrive and reads the frames in them later (every 10 ms,
# in one task for all): 20 clients in one process would otherwise stamp the last socket's
# frames only after reading the other 19 sockets' (several ms per batch of the script's own
# time, counted as latency). Frames from the server are not masked; the client's are.

# A conversation frame's preview of a message this script wrote: "[<seq>] ...".
_PREVIEW = re.compile(rb'"last_message_preview":"\[(\d+)\]')
_NOTICE = b'{"seq":'


class Client(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.head = b""  # the HTTP answer, until the upgrade
        self.arrived: list[tuple[float, bytes]] = []  # (when, bytes) not read yet
        self.rest = b""  # the start of a frame whose end has not arrived
        self.results: list[bytes] = []
        self.record = False
        self.frames = 0  # notices
        self.last_frame = 0.0
        self.seen: dict[int, float] = {}  # message seq -> when its frame arrived
        self.closed: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.upgraded.done():
            self.arrived.append((time.perf_counter(), data))
            return
        self.head += data
        if b"\r\n\r\n" in self.head:
            head, _, rest = self.head.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(SystemExit(f"bench: websocket refused: {head[:80]!r}"))
                return
            self.upgraded.set_result(None)
            if rest:
                self.arrived.append((time.perf_counter(), rest))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed is None:
            self.closed = 1006

    def send(self, payload: bytes) -> None:
        """A masked text frame (RFC 6455 5.3)."""
        assert self.transport is not None  # noqa: S101 - connected
        mask = secrets.token_bytes(4)
        size = len(payload)
        head = bytes((0x81, 0x80 | size)) if size < 126 else bytes((0x81, 0xFE)) + size.to_bytes(2)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(head + mask + masked)

    def read(self) -> None:
        """Reads the frames that arrived, each stamped with when its last byte came."""
        arrived, self.arrived = self.arrived, []
        for at, data in arrived:
            buf = self.rest + data
            pos, end = 0, len(buf)
            while end - pos >= 2:
                size, head = buf[pos + 1] & 0x7F, 2
                if size == 126:
                    size, head = int.from_bytes(buf[pos + 2 : pos + 4]), 4
                elif size == 127:
                    size, head = int.from_bytes(buf[pos + 2 : pos + 10]), 10
                start = pos + head
                if end < start + size:
                    break
                opcode = buf[pos] & 0x0F
                if opcode == 1 and buf.startswith(_NOTICE, start):
                    self.frames += 1
                    self.last_frame = at
                    shown = self.record and _PREVIEW.search(buf, start, start + size)
                    if shown:
                        self.seen.setdefault(int(shown[1]), at)
                elif opcode == 1:
                    self.results.append(buf[start : start + size])
                elif opcode == 8:
                    self.closed = int.from_bytes(buf[start : start + 2]) if size >= 2 else 1005
                pos = start + size
            self.rest = buf[pos:]

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(bytes((0x88, 0x80)) + secrets.token_bytes(4))
            self.transport.close()


async def read_clients(clients: list[Client]) -> None:
    while True:
        for client in clients:
            client.read()
        await asyncio.sleep(0.01)


async def open_clients(world: World, http: aiohttp.ClientSession, count: int) -> list[Client]:
    login = {"email": ADMIN_EMAIL, "password": world.password}
    async with http.post(f"{world.url}/api/v1/auth/login", json=login) as response:
        response.raise_for_status()
        token = (await response.json())["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    loop = asyncio.get_running_loop()
    clients = []
    for _ in range(count):
        async with http.post(f"{world.url}/api/v1/ws/ticket", headers=auth) as response:
            response.raise_for_status()
            ticket = (await response.json())["ticket"]
        _, client = await loop.create_connection(Client, "127.0.0.1", world.port)
        assert client.transport is not None  # noqa: S101 - connected
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        client.transport.write(
            f"GET /api/v1/ws?ticket={ticket} HTTP/1.1\r\nHost: 127.0.0.1:{world.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {world.url}\r\n\r\n".encode()
        )
        await asyncio.wait_for(client.upgraded, 10)
        client.send(b'{"id": 1, "type": "subscribe", "topics": ["inbox"]}')
        deadline = time.monotonic() + 10
        while not client.results:  # notices published before the answer may come first
            if time.monotonic() > deadline:
                raise SystemExit("bench: no answer to subscribe")
            await asyncio.sleep(0.01)
            client.read()
        answer = json.loads(client.results[0])
        if answer.get("type") != "result" or not answer.get("ok"):
            raise SystemExit(f"bench: subscribe refused: {answer}")
        clients.append(client)
    return clients


# Posting.


@dataclass
class Posts:
    messages: int = 0
    batches: int = 0
    acks_ms: list[float] = field(default_factory=list)
    sent_at: dict[int, float] = field(default_factory=dict)  # message seq -> POST sent
    last_ack: float = 0.0


async def post(world: World, http: aiohttp.ClientSession, batch: list[Sent], posts: Posts) -> None:
    if world.stopping:
        raise asyncio.CancelledError
    body = body_of(batch)
    headers = {HEADER: sign(world.secret, body), "Content-Type": "application/json"}
    started = time.perf_counter()
    for m in batch:
        posts.sent_at[m.seq] = started
    async with http.post(f"{world.url}/internal/events", data=body, headers=headers) as response:
        answer = await response.read()
        if response.status != 200:
            raise SystemExit(f"bench: core answered {response.status}: {answer[:300]!r}")
    posts.last_ack = time.perf_counter()
    posts.acks_ms.append((posts.last_ack - started) * 1000)
    posts.messages += len(batch)
    posts.batches += 1


def slices(customers: list[Customer], parts: int) -> list[list[Customer]]:
    return [customers[i::parts] for i in range(parts)]


async def warm_up(world: World, http: aiohttp.ClientSession, writer: Writer) -> Posts:
    posts = Posts()
    customers, size = world.customers, world.args.batch
    for start in range(0, len(customers), size):
        await post(world, http, writer.batch(customers, start, size), posts)
    return posts


async def throughput(world: World, http: aiohttp.ClientSession, writer: Writer) -> Posts:
    posts = Posts()
    size = world.args.batch
    deadline = time.perf_counter() + world.args.seconds

    async def poster(mine: list[Customer]) -> None:
        start = 0
        while time.perf_counter() < deadline:
            await post(world, http, writer.batch(mine, start, size), posts)
            start += size

    await asyncio.gather(*(poster(s) for s in slices(world.customers, world.args.posters)))
    return posts


async def paced(world: World, http: aiohttp.ClientSession, writer: Writer) -> Posts:
    """Open loop: each batch leaves at its time, whether or not the previous was answered."""
    posts = Posts()
    size = world.args.batch
    interval = size / world.args.paced_rate
    total = max(1, round(world.args.paced_seconds / interval))
    started = time.perf_counter()
    tasks: set[asyncio.Task[None]] = set()
    for k in range(total):
        await asyncio.sleep(max(0.0, started + k * interval - time.perf_counter()))
        batch = writer.batch(world.customers, k * size, size)
        tasks.add(asyncio.create_task(post(world, http, batch, posts)))
    await asyncio.gather(*tasks)
    return posts


# The floor: the same rows, written by a bare asyncpg script.

_FLOOR_LOOKUP = """
SELECT i.jid, c.id FROM contact_identities i
JOIN conversations c ON c.contact_id = i.contact_id AND c.channel_id = $2
    AND c.status NOT IN ('resolved', 'closed')
WHERE i.jid = ANY($1::text[]) FOR UPDATE OF c"""
_FLOOR_CONTACTS = """
INSERT INTO contacts (push_name, phone, attributes, created_at, updated_at)
SELECT n, p, '{}'::jsonb, $3, $3 FROM unnest($1::text[], $2::text[]) AS t(n, p)
RETURNING id, phone"""
_FLOOR_IDENTITIES = """
INSERT INTO contact_identities (contact_id, jid, kind, created_at)
SELECT c, j, k, $4 FROM unnest($1::bigint[], $2::text[], $3::text[]) AS t(c, j, k)"""
_FLOOR_CONVERSATIONS = """
INSERT INTO conversations (channel_id, contact_id, status, unread_count, last_message_at,
    last_message_preview, created_at, updated_at)
SELECT $2, c, 'bot', 0, $3, '', $3, $3 FROM unnest($1::bigint[]) AS t(c)
RETURNING id, contact_id"""
_FLOOR_AUDIT = """
INSERT INTO conversation_events (conversation_id, kind, actor_type, to_status, reason, data,
    created_at)
SELECT v, 'created', 'contact', 'bot', 'first message', '{}'::jsonb, $2
FROM unnest($1::bigint[]) AS t(v)"""
_FLOOR_MESSAGES = """
INSERT INTO messages (conversation_id, channel_id, wa_message_id, direction, author_type, type,
    body, reactions, status, sent_at, created_at)
SELECT v, $5, w, 'inbound', 'contact', 'text', b, '{}'::jsonb, 'received', t, t
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[]) AS u(v, w, b, t)
RETURNING id"""
_FLOOR_SHOW = """
UPDATE conversations c SET last_message_at = greatest(c.last_message_at, u.t),
    last_message_preview = u.p, unread_count = c.unread_count + 1, updated_at = $4
FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS u(id, p, t) WHERE c.id = u.id"""


async def floor_batch(conn: asyncpg.Connection, channel: int, batch: list[Sent]) -> None:
    """One batch in one transaction: find each customer's open conversation (locked, as core
    does), create the missing contacts, identities, conversations and audit events, insert
    the messages, show the newest in each conversation."""
    now = datetime.now(UTC)
    async with conn.transaction():
        jids = [j for m in batch for j in (m.customer.peer.pn, m.customer.peer.lid)]
        found = dict(await conn.fetch(_FLOOR_LOOKUP, jids, channel))
        conversation = {m.customer.phone: found.get(m.customer.peer.pn) for m in batch}
        new = [m.customer for m in batch if conversation[m.customer.phone] is None]
        if new:
            names, phones = [c.name for c in new], [c.phone for c in new]
            contacts = dict(
                (phone, id_) for id_, phone in await conn.fetch(_FLOOR_CONTACTS, names, phones, now)
            )
            ids = [contacts[c.phone] for c in new]
            await conn.execute(
                _FLOOR_IDENTITIES,
                ids + ids,
                [c.peer.pn for c in new] + [c.peer.lid for c in new],
                ["pn"] * len(new) + ["lid"] * len(new),
                now,
            )
            made = dict(
                (contact, id_)
                for id_, contact in await conn.fetch(_FLOOR_CONVERSATIONS, ids, channel, now)
            )
            await conn.execute(_FLOOR_AUDIT, list(made.values()), now)
            for c in new:
                conversation[c.phone] = made[contacts[c.phone]]
        targets = [conversation[m.customer.phone] for m in batch]
        texts, stamps = [m.text for m in batch], [m.at for m in batch]
        wa_ids = [m.wa_id for m in batch]
        await conn.fetch(_FLOOR_MESSAGES, targets, wa_ids, texts, stamps, channel)
        await conn.execute(_FLOOR_SHOW, targets, texts, stamps, now)


@dataclass
class Floor:
    warm_rate: float
    messages: int
    seconds: float
    cpu: tuple[str, str]  # as Cpu.end answers

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


async def floor_run(
    dsn: str,
    customers: list[Customer],
    writer: Writer,
    *,
    batch: int,
    connections: int,
    seconds: float,
) -> Floor:
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    try:
        channel = await pool.fetchval(
            "INSERT INTO channels (session_id, name, status, created_at)"
            " VALUES ($1, 'Bench', 'connected', now()) RETURNING id",
            SESSION_ID,
        )
        began = time.perf_counter()
        async with pool.acquire() as conn:
            for start in range(0, len(customers), batch):
                await floor_batch(conn, channel, writer.batch(customers, start, batch))
        warm_rate = len(customers) / (time.perf_counter() - began)
        written = 0
        deadline = time.perf_counter() + seconds

        async def worker(mine: list[Customer]) -> None:
            nonlocal written
            start = 0
            async with pool.acquire() as conn:
                while time.perf_counter() < deadline:
                    await floor_batch(conn, channel, writer.batch(mine, start, batch))
                    written += batch
                    start += batch

        cpu = Cpu()
        cpu.begin(None)
        began = time.perf_counter()
        await asyncio.gather(*(worker(s) for s in slices(customers, connections)))
        took = time.perf_counter() - began
        return Floor(warm_rate, written, took, cpu.end(None, took, written))
    finally:
        await pool.close()


def machine(load: tuple[float, float, float]) -> str:
    """Date, commit, cores, memory and kernel: what docs/benchmarks.md records with a figure."""
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    measured = ["--", "core", "sessions", "zapdesk", "alembic"]  # the code this benchmark runs
    dirty = subprocess.run([*git, "status", "--porcelain", *measured],
                           capture_output=True, text=True)  # fmt: skip
    meminfo = Path("/proc/meminfo").read_text().split()
    memory_gib = int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024**2
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, commit {commit.stdout.strip() or '?'}"
        f"{' (core/sessions/zapdesk/alembic modified)' if dirty.stdout.strip() else ''}, "
        f"{os.cpu_count()} CPUs, {memory_gib:.0f} GiB, {os.uname().sysname} "
        f"{os.uname().release}, load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


# Figures.


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class Cpu:
    """CPU seconds over a run of core (none for the floor), PostgreSQL and Redis (every process
    of theirs on the machine, not only our backends) and this script (posters and websocket
    clients, or the floor's connections)."""

    start: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)

    @staticmethod
    def sample(core_pid: int | None) -> tuple[float, ...]:
        servers = {"postgres": 0.0, "redis-server": 0.0}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    name = (entry / "comm").read_text().strip()
                    if name in servers:
                        servers[name] += cpu_s(int(entry.name))
        core = tree_cpu_s(core_pid) if core_pid else 0.0
        return core, servers["postgres"], servers["redis-server"], cpu_s(os.getpid())

    def begin(self, core_pid: int | None) -> None:
        self.start = self.sample(core_pid)

    def end(self, core_pid: int | None, seconds: float, messages: int) -> tuple[str, str]:
        """(each part's share of a core, each part's CPU per message)."""
        used = [b - a for a, b in zip(self.start, self.sample(core_pid), strict=True)]
        parts = [p for p in zip(("core", "postgres", "redis", "bench"), used, strict=True) if p[1]]
        shares = ", ".join(f"{name} {cpu / seconds:.2f}" for name, cpu in parts)
        each = " + ".join(f"{name} {cpu * 1000 / messages:.3f}" for name, cpu in parts)
        return shares, f"{each} = {sum(used) * 1000 / messages:.3f} ms"


async def drain(clients: list[Client], expected: int, idle_s: float = 5) -> None:
    """Waits until every client has ``expected`` frames, or none came for ``idle_s``."""
    before, quiet = -1, time.monotonic()
    while any(c.closed is None and c.frames < expected for c in clients):
        total = sum(c.frames for c in clients)
        if total != before:
            before, quiet = total, time.monotonic()
        elif time.monotonic() - quiet > idle_s:
            return
        await asyncio.sleep(0.05)


async def settle(clients: list[Client], expected: set[int], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(c.closed is not None or expected <= c.seen.keys() for c in clients):
            return
        await asyncio.sleep(0.05)


def p50_p99(values: list[float]) -> str:
    return f"{pct(values, 50):.0f} / {pct(values, 99):.0f} ms"


def goal(ok: bool) -> str:
    return "met" if ok else "NOT met"


@dataclass
class CoreFigures:
    ingest: list[Row]
    realtime: list[Row]
    rate: float


async def gateway_stand_in() -> tuple[web.AppRunner, int]:
    """Answers every send "sent" (the bot's messages), the list of sessions empty, and anything
    else 204."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method == "POST" and request.path.endswith("/messages"):
            body = await request.json()
            client_id = body["client_id"]
            return web.json_response({"client_id": client_id, "status": "sent", "wa_id": client_id})
        if request.method == "GET" and request.path == "/sessions":
            return web.json_response({"sessions": []})
        return web.Response(status=204)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def switch_bot_on(world: World, http: aiohttp.ClientSession) -> None:
    """The number gets a bot: its channel is made by a first event, then its menu is set."""
    status = SessionStatusEvent(
        session_id=SESSION_ID,
        at=datetime.now(UTC),
        data=StatusData(state=SessionState.CONNECTED, detail=""),
    )
    body = EventBatch(events=[status]).model_dump_json().encode()
    headers = {HEADER: sign(world.secret, body), "Content-Type": "application/json"}
    async with http.post(f"{world.url}/internal/events", data=body, headers=headers) as r:
        r.raise_for_status()
    login = {"email": ADMIN_EMAIL, "password": world.password}
    async with http.post(f"{world.url}/api/v1/auth/login", json=login) as response:
        auth = {"Authorization": f"Bearer {(await response.json())['access_token']}"}
    async with http.get(f"{world.url}/api/v1/channels", headers=auth) as response:
        channel = (await response.json())["items"][0]["id"]
    async with http.get(f"{world.url}/api/v1/departments", headers=auth) as response:
        department = (await response.json())["items"][0]["id"]
    options = [{"label": label, "department_id": department} for label in ("Vendas", "Suporte")]
    bot = {"enabled": True, "menu": {"prompt": "Escolha:", "options": options}}
    async with http.put(
        f"{world.url}/api/v1/channels/{channel}/bot", json=bot, headers=auth
    ) as response:
        if response.status != 200:
            raise SystemExit(f"bench: the bot was refused: {await response.text()}")


async def measure_core(
    args: argparse.Namespace, world: World, http: aiohttp.ClientSession, *, bot: bool = False
) -> CoreFigures:
    say(f"starting core (PostgreSQL + Redis), bot {'on' if bot else 'off'}")
    pid = await world.start_core(http)
    if bot:
        await switch_bot_on(world, http)
    writer = Writer(world.tag)
    clients = await open_clients(world, http, args.clients)
    reader = asyncio.create_task(read_clients(clients), name="ws-readers")
    cpu = Cpu()
    try:
        say(f"{args.clients} websocket clients on inbox; warm-up")
        began = time.perf_counter()
        warm = await warm_up(world, http, writer)
        warm_rate = warm.messages / (time.perf_counter() - began)

        say(f"throughput: {args.posters} posters for {args.seconds:.0f} s")
        cpu.begin(pid)
        began = time.perf_counter()
        burst = await throughput(world, http, writer)
        burst_s = burst.last_ack - began
        burst_cpu, burst_per_message = cpu.end(pid, burst_s, burst.messages)
        expected_frames = warm.messages + burst.messages
        await drain(clients, expected_frames)
        core_ms = (tree_cpu_s(pid) - cpu.start[0]) * 1000 / burst.messages  # fan-out included
        frames = sum(c.frames for c in clients) / max(1, len(clients))
        fanned_s = max((c.last_frame for c in clients), default=burst.last_ack) - began

        say(f"paced: {args.paced_rate:.0f} msg/s for {args.paced_seconds:.0f} s")
        for c in clients:
            c.record = True
        cpu.begin(pid)
        began = time.perf_counter()
        calm = await paced(world, http, writer)
        calm_cpu, _ = cpu.end(pid, time.perf_counter() - began, calm.messages)
        await settle(clients, set(calm.sent_at))
        for c in clients:
            c.read()
        sent = calm.sent_at
        latencies = [
            (at - sent[n]) * 1000 for c in clients for n, at in c.seen.items() if n in sent
        ]
        dropped = sum(c.closed is not None for c in clients)
    finally:
        reader.cancel()
        for c in clients:
            c.close()
        world.stop_core()

    rate = burst.messages / burst_s
    ingest: list[Row] = [
        ("core processes (workers)", f"{args.workers}"),
        ("websocket clients on inbox", f"{args.clients}"),
        ("customers / batch size", f"{args.customers} / {args.batch}"),
        ("warm-up (new contacts)", f"{warm.messages} msg at {warm_rate:,.0f} msg/s"),
        ("posters / run", f"{args.posters} / {burst_s:.1f} s"),
        ("messages acknowledged", f"{burst.messages:,}"),
        ("throughput", f"{rate:,.0f} msg/s"),
        ("POST ack p50 / p99", p50_p99(burst.acks_ms)),
        ("frames per client / expected", f"{frames:,.0f} / {expected_frames:,}"),
        ("last frame after run start", f"{fanned_s:.1f} s"),
        ("CPU (1.0 = a core)", burst_cpu),
        ("CPU per message (all parts)", burst_per_message),
        ("core CPU per message", f"{core_ms:.2f} ms (one core: {1000 / core_ms:,.0f} msg/s)"),
        (f"goal >= {GOAL_MSG_PER_S:,} msg/s", goal(rate >= GOAL_MSG_PER_S)),
    ]
    realtime: list[Row] = [
        ("websocket clients (N)", f"{args.clients}"),
        ("messages / batches", f"{calm.messages:,} / {calm.batches}"),
        ("deliveries seen / expected", f"{len(latencies):,} / {len(sent) * len(clients):,}"),
        ("clients dropped", f"{dropped}"),
        ("POST ack p50 / p99", p50_p99(calm.acks_ms)),
        ("post -> websocket p50 / p99", p50_p99(latencies)),
        ("post -> websocket max", f"{max(latencies, default=0):.0f} ms"),
        ("CPU (1.0 = a core)", calm_cpu),
        (f"goal p99 <= {GOAL_P99_MS:.0f} ms", goal(pct(latencies, 99) <= GOAL_P99_MS)),
    ]
    return CoreFigures(ingest, realtime, rate)


async def measure_floor(args: argparse.Namespace, world: World, ours: float) -> list[Row]:
    say(f"floor: bare asyncpg, {args.posters} connections for {args.floor_seconds:.0f} s")
    database = await world.create_database("floor")
    await world.migrate(database)
    floor = await floor_run(
        world.dsn(database),
        world.customers,
        Writer(world.tag),
        batch=args.batch,
        connections=args.posters,
        seconds=args.floor_seconds,
    )
    ratio = ours / floor.rate
    return [
        ("warm-up (new contacts)", f"{floor.warm_rate:,.0f} msg/s"),
        ("connections / run", f"{args.posters} / {floor.seconds:.1f} s"),
        ("messages written", f"{floor.messages:,}"),
        ("floor", f"{floor.rate:,.0f} msg/s"),
        ("CPU (1.0 = a core)", floor.cpu[0]),
        ("CPU per message (all parts)", floor.cpu[1]),
        ("ours / floor", f"{ratio:.2f}"),
        (f"goal >= {GOAL_RATIO}", goal(ratio >= GOAL_RATIO)),
    ]


async def run(args: argparse.Namespace, world: World) -> int:
    world.customers = customers_of(args.customers)
    load = os.getloadavg()  # other work on the machine skews every figure: say how much
    timeout = aiohttp.ClientTimeout(total=120)
    gateway, world.gateway_port = await gateway_stand_in()
    try:
        async with aiohttp.ClientSession(
            timeout=timeout, connector=aiohttp.TCPConnector(limit=0)
        ) as http:
            core = await measure_core(args, world, http, bot=args.bot == "on")
            with_bot = None
            if args.bot == "both":
                with_bot = await measure_core(args, world, http, bot=True)
    finally:
        await gateway.cleanup()
    bot_label = {"off": "", "on": ", bot on", "both": ", bot off"}[args.bot]
    results = [
        (f"Ingest (core on PostgreSQL, bus on Redis{bot_label})", core.ingest),
        (f"Realtime (paced at {args.paced_rate:.0f} msg/s{bot_label})", core.realtime),
    ]
    if with_bot is not None:
        ratio = with_bot.rate / core.rate
        results.append(
            (
                "The bot on and off (same run)",
                [
                    ("throughput, bot off", f"{core.rate:,.0f} msg/s"),
                    ("throughput, bot on", f"{with_bot.rate:,.0f} msg/s"),
                    ("on / off", f"{ratio:.2f}"),
                    (f"goal >= {GOAL_BOT_RATIO}", goal(ratio >= GOAL_BOT_RATIO)),
                ],
            )
        )
        results.append(("Ingest (bot on)", with_bot.ingest))
    if args.floor_seconds > 0:
        floor = await measure_floor(args, world, core.rate)
        results.append(("Floor (bare asyncpg, same rows and batches)", floor))
    print(f"\n{machine(load)}\n{' '.join(sys.argv)}")
    for title, rows in results:
        print_table(title, rows)
    if args.profile:
        print(f"\ncore profile: {args.profile}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=20, help="websocket clients (N)")
    parser.add_argument(
        "--workers", type=int, default=1, help="core processes (ZAPDESK_CORE_WORKERS)"
    )
    parser.add_argument("--customers", type=int, default=1000, help="distinct customers")
    parser.add_argument("--batch", type=int, default=100, help="events per POST")
    parser.add_argument("--posters", type=int, default=4, help="concurrent posters")
    parser.add_argument("--seconds", type=float, default=20, help="throughput run length")
    parser.add_argument("--paced-rate", type=float, default=500, help="msg/s of the paced run")
    parser.add_argument("--paced-seconds", type=float, default=20, help="paced run length")
    parser.add_argument("--floor-seconds", type=float, default=20, help="floor run; 0 skips")
    parser.add_argument(
        "--bot",
        choices=("off", "on", "both"),
        default="off",
        help="the number's bot; both: measure off then on, and print the ratio",
    )
    parser.add_argument("--profile", help="run core under cProfile, writing this file")
    parser.add_argument("--pg", default="postgres@127.0.0.1:5432", help="user@host:port")
    parser.add_argument("--redis", default="127.0.0.1:6379", help="host:port")
    parser.add_argument("--redis-db", type=int, default=14)
    parser.add_argument("--keep", action="store_true", help="keep the work dir (core.log)")
    default_zapdesk = ROOT / ".venv" / "bin" / "zapdesk"
    parser.add_argument(
        "--zapdesk",
        default=str(default_zapdesk) if default_zapdesk.exists() else shutil.which("zapdesk"),
    )
    args = parser.parse_args()
    if args.profile:
        args.profile = str(Path(args.profile).resolve())
    if args.customers < args.batch * args.posters:
        parser.error("--customers must be at least --batch x --posters")
    workdir = Path(tempfile.mkdtemp(prefix="zapdesk-bench-core-"))
    world = World(args, workdir)

    async def guarded() -> int:
        task = asyncio.current_task()

        def stop() -> None:
            world.stopping = True
            if task is not None:
                task.cancel()

        # Ctrl-C and SIGTERM cancel the run, so that the cleanup below runs.
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop)
        try:
            return await run(args, world)
        finally:
            await world.clean()

    try:
        return asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        world.stop_core()
        if args.keep:
            print(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
