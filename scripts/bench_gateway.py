"""Gateway benchmark: real processes, production shape.

``zapdesk sim`` and ``zapdesk gateway`` run as subprocesses (the gateway with its session-host
children); core is stood in for by a receiver inside this script, on loopback, that checks every
webhook signature and notes when each event arrived.

* Throughput: link ``--sessions`` numbers, burst ``--messages`` customer messages over them, and
  report messages/s (received / (last arrival - burst request)) and the latency from the sim
  creating a message to the receiver getting it (p50/p99), plus the gateway's own delivery
  latency from /metrics and the CPU each process used. A paced run (``--paced-rate``) measures
  the latency below saturation.
* Scale: link ``--scale-sessions`` numbers in hosts of ``--capacity``, stop the gateway, start it
  again and time process start to every session connected (the restore); RSS per session is
  the sum of the host processes' VmRSS over the sessions.

``.venv/bin/python scripts/bench_gateway.py --messages 100000 --sessions 4 --scale-sessions 200``
Every process it starts is stopped at the end, on Ctrl-C and on SIGTERM too.
"""

from __future__ import annotations

import argparse
import asyncio
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
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from benchkit import Row, cpu_s, free_port, print_table, say  # a sibling module

from sessions.signing import HEADER, BadSignature, verify
from zapdesk.proc import DIE_WITH_PARENT

ROOT = Path(__file__).resolve().parents[1]
GOAL_EVENTS_PER_S = 5000
GOAL_RESTORE_S = 60.0


# Core's stand-in.


@dataclass
class Receiver:
    secret: str
    bad_signatures: int = 0
    duplicates: int = 0
    seen: set[str] = field(default_factory=set)
    kinds: Counter[str] = field(default_factory=Counter)
    arrivals: list[float] = field(default_factory=list)  # per message.received
    stamps: list[str] = field(default_factory=list)  # its data.timestamp, parsed later
    # session id -> (state, arrival, Event.at) of the latest session.status
    status: dict[str, tuple[str, float, str]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify(self.secret, request.headers.get(HEADER), body)
        except BadSignature:
            self.bad_signatures += 1
            return web.json_response({"error": {"code": "bad_signature"}}, status=401)
        now = time.time()
        for event in json.loads(body)["events"]:
            if event["id"] in self.seen:  # at-least-once delivery: count each event once
                self.duplicates += 1
                continue
            self.seen.add(event["id"])
            kind = event["type"]
            self.kinds[kind] += 1
            if kind == "message.received":
                self.arrivals.append(now)
                self.stamps.append(event["data"]["timestamp"])
            elif kind == "session.status":
                self.status[event["session_id"]] = (event["data"]["state"], now, event["at"])
        self.changed.set()
        return web.json_response({"accepted": True})

    def latencies(self, first: int) -> list[float]:
        """Seconds from the sim creating each message (from the ``first``th on) to its arrival."""
        pairs = zip(self.arrivals[first:], self.stamps[first:], strict=True)
        return [arrival - _epoch(stamp) for arrival, stamp in pairs]

    def connected_since(self, since: float) -> dict[str, float]:
        """Sessions whose latest status is a ``connected`` born after ``since``: arrival."""
        return {
            session_id: arrival
            for session_id, (state, arrival, at) in self.status.items()
            if state == "connected" and _epoch(at) >= since
        }

    async def until(self, done: Callable[[], bool], idle_s: float, what: str) -> None:
        """Waits for ``done``; gives up after ``idle_s`` without any new event."""
        while not done():
            self.changed.clear()
            try:
                async with asyncio.timeout(idle_s):
                    await self.changed.wait()
            except TimeoutError:
                raise SystemExit(
                    f"bench: no progress for {idle_s:.0f} s waiting for {what}"
                ) from None


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


# Processes.


def children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def proc_kb(pid: int, name: str, file: str = "status") -> int:
    """A ``Name:   123 kB`` line of /proc/<pid>/status (VmRSS) or smaps_rollup (Pss)."""
    for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


class Processes:
    """Every process this script starts, so that each is stopped exactly once, whatever happens."""

    def __init__(self, workdir: Path, zapdesk: str) -> None:
        self.workdir = workdir
        self.zapdesk = zapdesk
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.hosts: set[int] = set()  # gateway children seen, checked again at the end

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.workdir / f"{name}.log").open("ab") as log:
            # Own session: Ctrl-C reaches only this script, which stops children in order.
            process = subprocess.Popen(
                [self.zapdesk, *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=DIE_WITH_PARENT,  # only prctl: safe after fork
            )
        self.running[name] = process
        return process

    def remember_hosts(self, pid: int) -> list[int]:
        found = children(pid)
        self.hosts.update(found)
        return found

    async def stop(self, name: str, timeout_s: float = 120) -> float:
        """SIGTERM, then SIGKILL after ``timeout_s``; answers how long the exit took."""
        process = self.running.pop(name)
        started = time.monotonic()
        if process.poll() is None:
            self.remember_hosts(process.pid)
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, timeout_s)
            except subprocess.TimeoutExpired:
                print(f"bench: {name} did not exit in {timeout_s:.0f} s; killing it")
                process.kill()
                process.wait()
        return time.monotonic() - started

    def kill_leftovers(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                self.remember_hosts(process.pid)
                process.kill()
                process.wait()
        self.running.clear()
        for pid in self.hosts:  # hosts die with their gateway; any straggler is ours to end
            with contextlib.suppress(OSError):
                if b"gateway.host" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)

    def tail(self, name: str, lines: int = 20) -> str:
        path = self.workdir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


async def wait_ready(
    http: aiohttp.ClientSession, url: str, procs: Processes, name: str, timeout_s: float = 60
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if procs.running[name].poll() is not None:
            raise SystemExit(f"bench: {name} exited at start:\n{procs.tail(name)}")
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(url) as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.05)
    raise SystemExit(f"bench: {name} not ready in {timeout_s:.0f} s:\n{procs.tail(name)}")


# The world: sim, gateway, receiver.


@dataclass
class World:
    procs: Processes
    http: aiohttp.ClientSession
    receiver: Receiver
    receiver_url: str
    token: str
    capacity: int
    sim_url: str = ""
    gateway_url: str = ""
    gateway_env: dict[str, str] = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def start_sim(self) -> None:
        port = free_port()
        self.sim_url = f"http://127.0.0.1:{port}"
        self.procs.start(
            "sim", ["sim", "--port", str(port)], clean_env(ZAPDESK_LOG_LEVEL="warning")
        )
        await wait_ready(self.http, f"{self.sim_url}/healthz", self.procs, "sim")

    async def start_gateway(self, data_dir: Path) -> float:
        """Starts (or restarts, same data dir) the gateway; answers the wall-clock start time."""
        if not self.gateway_env:
            port = free_port()
            self.gateway_url = f"http://127.0.0.1:{port}"
            self.gateway_env = clean_env(
                ZAPDESK_DATA_DIR=str(data_dir),
                ZAPDESK_GATEWAY_PORT=str(port),
                ZAPDESK_GATEWAY_DRIVER="sim",
                ZAPDESK_SIM_URL=self.sim_url,
                ZAPDESK_HOST_CAPACITY=str(self.capacity),
                ZAPDESK_CORE_URL=self.receiver_url,
                ZAPDESK_WEBHOOK_SECRET=self.receiver.secret,
                ZAPDESK_GATEWAY_TOKEN=self.token,
                ZAPDESK_CREDENTIAL_KEY=secrets.token_urlsafe(32),
                ZAPDESK_LOG_LEVEL="warning",
            )
        started = time.time()
        self.procs.start("gateway", ["gateway"], self.gateway_env)
        await wait_ready(self.http, f"{self.gateway_url}/healthz", self.procs, "gateway")
        return started

    @property
    def gateway_pid(self) -> int:
        return self.procs.running["gateway"].pid

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = f"{self.gateway_url}{path}"
        async with self.http.request(method, url, json=body, headers=self.auth) as response:
            return response.status, await response.json()

    async def sim(self, path: str, body: Any) -> Any:
        async with self.http.post(f"{self.sim_url}{path}", json=body) as response:
            if response.status >= 300:
                raise SystemExit(f"bench: sim {path} answered {await response.text()}")
            return await response.json()

    async def metrics(self) -> str:
        async with self.http.get(f"{self.gateway_url}/metrics") as response:
            return await response.text()

    async def link(self, session_id: str, phone: str, timeout_s: float = 120) -> None:
        """Creates the session, scans its QR with ``phone`` and waits for it to connect."""
        status, answer = await self.api("POST", "/sessions", {"id": session_id, "name": phone})
        if status != 201:
            raise SystemExit(f"bench: create {session_id}: {answer}")
        deadline = time.monotonic() + timeout_s
        while True:
            status, qr = await self.api("GET", f"/sessions/{session_id}/qr")
            if status == 200:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: no QR for {session_id}: {qr}")
            await asyncio.sleep(0.05)
        await self.sim(f"/phones/{phone}/scan", {"code": qr["code"], "name": f"Bench {phone}"})
        while True:
            status, view = await self.api("GET", f"/sessions/{session_id}")
            if view.get("state") == "connected":
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: {session_id} not connected: {view}")
            await asyncio.sleep(0.05)

    async def link_all(self, prefix: str, count: int, concurrency: int) -> list[str]:
        gate = asyncio.Semaphore(concurrency)
        phones = [f"55119{prefix}{n:07d}" for n in range(1, count + 1)]

        async def one(n: int, phone: str) -> None:
            async with gate:
                await self.link(f"{prefix}-{n:04d}", phone)

        async with asyncio.TaskGroup() as group:
            for n, phone in enumerate(phones, 1):
                group.create_task(one(n, phone))
        return phones


def clean_env(**ours: str) -> dict[str, str]:
    """The caller's environment without its ZAPDESK_* settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPDESK_")}
    return {**env, **ours}


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def metric(text: str, name: str, labels: str = "") -> float | None:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


@contextlib.contextmanager
def cpu_window(pids: dict[str, int], into: dict[str, float]) -> Iterator[None]:
    """CPU seconds each process used inside the block, as a share of one core."""
    before = {name: cpu_s(pid) for name, pid in pids.items()}
    started = time.monotonic()
    yield
    wall = time.monotonic() - started
    for name, pid in pids.items():
        into[name] = (cpu_s(pid) - before[name]) / wall if wall else 0.0


# The two runs.


async def throughput(world: World, args: argparse.Namespace) -> list[Row]:
    receiver = world.receiver
    await world.start_sim()
    await world.start_gateway(world.procs.workdir / "throughput")
    say(f"throughput: linking {args.sessions} sessions")
    phones = await world.link_all("1", args.sessions, args.link_concurrency)
    say(f"throughput: burst of {args.messages} messages")
    hosts = world.procs.remember_hosts(world.gateway_pid)
    pids = {"supervisor": world.gateway_pid, "sim": world.procs.running["sim"].pid}
    pids |= {f"host {n}": pid for n, pid in enumerate(hosts)}
    pids["bench (receiver)"] = os.getpid()

    first_message = len(receiver.arrivals)
    goal = first_message + args.messages
    cpu: dict[str, float] = {}
    with cpu_window(pids, cpu):
        requested = time.time()
        burst = {"to": phones, "count": args.messages, "customers": args.customers}
        made = await world.sim("/customers/burst", burst)
        await receiver.until(lambda: len(receiver.arrivals) >= goal, args.idle_timeout, "burst")
    arrivals = receiver.arrivals[first_message:]
    latencies = receiver.latencies(first_message)
    rate = len(arrivals) / (arrivals[-1] - requested)
    text = await world.metrics()
    rows: list[Row] = [
        ("sessions / hosts", f"{args.sessions} / {len(hosts)}"),
        ("messages burst / received", f"{args.messages} / {len(arrivals)}"),
        ("sim generation rate", f"{made['per_s']} msg/s"),
        ("throughput (sim -> receiver)", f"{rate:,.0f} events/s"),
        ("latency p50 / p99 (burst)", f"{quantile(latencies, 0.5):.2f} / "
                                      f"{quantile(latencies, 0.99):.2f} s"),
    ]  # fmt: skip
    if args.paced_rate > 0:
        say(f"throughput: paced, {args.paced_rate:.0f} msg/s for {args.paced_seconds:.0f} s")
        rows += await paced(world, phones, args)
    p50 = metric(text, "zapdesk_gateway_delivery_latency_seconds", '{quantile="0.5"}')
    p99 = metric(text, "zapdesk_gateway_delivery_latency_seconds", '{quantile="0.99"}')
    rows.append(("gateway delivery latency p50/p99", f"{p50:.3f} / {p99:.3f} s (last 2048)"))
    rows.append(
        ("CPU during burst (1.0 = a core)", ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
    )
    rows.append(
        ("bad signatures / duplicates", f"{receiver.bad_signatures} / {receiver.duplicates}")
    )
    rows.append((f"goal >= {GOAL_EVENTS_PER_S:,} events/s", verdict(rate >= GOAL_EVENTS_PER_S)))
    await world.procs.stop("gateway")
    await world.procs.stop("sim")
    return rows


async def paced(world: World, phones: list[str], args: argparse.Namespace) -> list[Row]:
    """A steady rate below saturation: the latency a message sees when nothing is queued."""
    receiver = world.receiver
    first = len(receiver.arrivals)
    step_s = 0.05
    per_step = max(1, round(args.paced_rate * step_s))
    steps = max(1, round(args.paced_seconds / step_s))
    started = time.monotonic()
    for n in range(steps):
        burst = {"to": phones, "count": per_step, "customers": args.customers}
        await world.sim("/customers/burst", burst)
        await asyncio.sleep(max(0.0, started + (n + 1) * step_s - time.monotonic()))
    goal = first + per_step * steps
    await receiver.until(lambda: len(receiver.arrivals) >= goal, args.idle_timeout, "paced")
    latencies = receiver.latencies(first)
    rate = per_step * steps / (time.monotonic() - started)
    return [
        (f"latency p50 / p99 (paced, {rate:,.0f}/s)", f"{quantile(latencies, 0.5) * 1000:.0f} / "
                                                      f"{quantile(latencies, 0.99) * 1000:.0f} ms"),
    ]  # fmt: skip


async def scale(world: World, args: argparse.Namespace) -> list[Row]:
    receiver, procs = world.receiver, world.procs
    await world.start_sim()
    data_dir = procs.workdir / "scale"
    started = await world.start_gateway(data_dir)
    ready_s = time.time() - started
    say(f"scale: linking {args.scale_sessions} sessions")
    linking = time.time()
    await world.link_all("2", args.scale_sessions, args.link_concurrency)
    linked_s = time.time() - linking
    hosts_first = len(procs.remember_hosts(world.gateway_pid))
    say("scale: stopping the gateway")
    stop_s = await procs.stop("gateway")
    say("scale: starting it again; waiting for every session to be connected")

    started = await world.start_gateway(data_dir)
    restarted = time.time()  # every host and session starts from here; poll the API too
    api_s: float | None = None
    while api_s is None or len(receiver.connected_since(started)) < args.scale_sessions:
        if api_s is None:
            _, listing = await world.api("GET", "/sessions")
            fresh = [
                s for s in listing["sessions"]
                if s["state"] == "connected" and s["connected_since"]
                and _epoch(s["connected_since"]) >= started
            ]  # fmt: skip
            if len(fresh) >= args.scale_sessions:
                api_s = time.time() - started
        if time.time() - started > args.restore_timeout:
            raise SystemExit(
                f"bench: restore not done in {args.restore_timeout:.0f} s: "
                f"{len(receiver.connected_since(started))} connected"
            )
        await asyncio.sleep(0.1)
    say("scale: restored")
    connected_at = receiver.connected_since(started).values()
    first_s, events_s = min(connected_at) - started, max(connected_at) - started
    hosts = procs.remember_hosts(world.gateway_pid)
    rss = sum(proc_kb(pid, "VmRSS") for pid in hosts)
    pss = sum(proc_kb(pid, "Pss", "smaps_rollup") for pid in hosts)
    supervisor_kb = proc_kb(world.gateway_pid, "VmRSS")
    n = args.scale_sessions
    rows: list[Row] = [
        ("sessions / capacity / hosts", f"{n} / {args.capacity} / {len(hosts)} "
                                        f"(first link: {hosts_first})"),
        ("gateway start to /healthz", f"{ready_s:.2f} s (restart: {restarted - started:.2f} s)"),
        ("first link, all (create+scan)", f"{linked_s:.1f} s"),
        ("gateway stop (SIGTERM to exit)", f"{stop_s:.1f} s"),
        ("restore: start to all connected", f"{api_s:.1f} s (GET /sessions), "
                                            f"{events_s:.1f} s (events at receiver)"),
        ("restore: start to first connected", f"{first_s:.1f} s"),
        ("RSS per session (hosts VmRSS/n)", f"{rss / n / 1024:.1f} MiB "
                                            f"(hosts {rss / 1024:.0f} MiB in all)"),
        ("PSS per session (hosts Pss/n)", f"{pss / n / 1024:.1f} MiB"),
        ("supervisor RSS", f"{supervisor_kb / 1024:.0f} MiB"),
        (f"goal restore <= {GOAL_RESTORE_S:.0f} s",
         verdict(max(api_s or 0.0, events_s) <= GOAL_RESTORE_S)),
    ]  # fmt: skip
    await procs.stop("gateway")
    await procs.stop("sim")
    return rows


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def machine(load: tuple[float, float, float]) -> str:
    """Date, commit, cores, memory and kernel: what docs/benchmarks.md records with a figure."""
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    measured = ["--", "gateway", "sessions", "zapdesk"]  # the code this benchmark runs
    dirty = subprocess.run([*git, "status", "--porcelain", *measured],
                           capture_output=True, text=True)  # fmt: skip
    memory_gib = proc_kb(os.getpid(), "MemTotal", "../meminfo") / 1024**2
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, commit {commit.stdout.strip() or '?'}"
        f"{' (gateway/sessions/zapdesk modified)' if dirty.stdout.strip() else ''}, "
        f"{os.cpu_count()} CPUs, "
        f"{memory_gib:.0f} GiB, {os.uname().sysname} {os.uname().release}, "
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


async def run(args: argparse.Namespace, procs: Processes) -> int:
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    load = os.getloadavg()  # other work on the machine skews every figure: say how much
    receiver = Receiver(secrets.token_urlsafe(32))
    core = web.Application()
    core.router.add_post("/internal/events", receiver.handle)
    runner = web.AppRunner(core, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    timeout = aiohttp.ClientTimeout(total=120)
    results: list[tuple[str, list[Row]]] = []
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            url, token = f"http://127.0.0.1:{port}", secrets.token_urlsafe(32)
            if not args.skip_throughput:
                world = World(procs, http, receiver, url, token, args.capacity)
                results.append(("Throughput", await throughput(world, args)))
            if not args.skip_scale:
                world = World(procs, http, receiver, url, token, args.capacity)
                results.append(("Scale", await scale(world, args)))
    finally:
        for name in list(procs.running):
            await procs.stop(name, timeout_s=30)
        await runner.cleanup()
    print(f"\n{machine(load)}\n{' '.join(sys.argv)}")
    for title, rows in results:
        print_table(title, rows)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="burst size")
    parser.add_argument("--sessions", type=int, default=4, help="sessions sharing the burst")
    parser.add_argument("--customers", type=int, default=1000, help="distinct customers writing")
    parser.add_argument("--paced-rate", type=float, default=1000, help="msg/s; 0 skips")
    parser.add_argument("--paced-seconds", type=float, default=10, help="paced run length")
    parser.add_argument("--scale-sessions", type=int, default=200, help="sessions to restore")
    parser.add_argument("--capacity", type=int, default=10, help="sessions per host process")
    parser.add_argument("--link-concurrency", type=int, default=10, help="links at once")
    parser.add_argument("--restore-timeout", type=float, default=300, help="seconds")
    parser.add_argument("--idle-timeout", type=float, default=60, help="seconds without an event")
    parser.add_argument("--skip-throughput", action="store_true", help="only the scale run")
    parser.add_argument("--skip-scale", action="store_true", help="only the throughput run")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data)")
    default_zapdesk = ROOT / ".venv" / "bin" / "zapdesk"
    parser.add_argument(
        "--zapdesk",
        default=str(default_zapdesk) if default_zapdesk.exists() else shutil.which("zapdesk"),
        help="the zapdesk command to run sim and gateway with",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="zapdesk-bench-"))
    procs = Processes(workdir, args.zapdesk)
    try:
        return asyncio.run(run(args, procs))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        procs.kill_leftovers()
        if args.keep:
            print(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
