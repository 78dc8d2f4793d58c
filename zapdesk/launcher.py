"""``zapdesk up``: core and gateway as two child processes on one machine, embedded defaults.

The children run in their own sessions, so a Ctrl-C reaches only this launcher, which then
stops each child exactly once (SIGTERM, a graceful shutdown, SIGKILL after a timeout). On Linux
a child also dies with its launcher, so nothing is left behind if the launcher is killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import structlog

from zapdesk.errors import NotReady
from zapdesk.log import configure_logging
from zapdesk.proc import DIE_WITH_PARENT

log = structlog.get_logger("zapdesk.up")

READY_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
POLL_INTERVAL = 0.2


@dataclass
class Child:
    name: str
    ready_url: str
    process: asyncio.subprocess.Process = field(repr=False)

    @property
    def exited(self) -> bool:
        return self.process.returncode is not None


def up(*, simulate: bool = False) -> int:
    from core.auth.accounts import ensure_first_admin
    from core.settings import Settings as CoreSettings
    from core.storage.migrations import create_database_if_missing, upgrade
    from gateway.settings import Settings as GatewaySettings
    from zapdesk.db import create_engine, session_factory
    from zapdesk.settings import masked

    if simulate:
        # The children inherit this: the gateway drives the simulated WhatsApp.
        os.environ["ZAPDESK_GATEWAY_DRIVER"] = "sim"
    # Both children read the same environment: validate it (and create secrets) once, here.
    core = CoreSettings.load()
    gateway = GatewaySettings.load().gateway
    runtime = core.runtime
    configure_logging(runtime.log_level, runtime.log_format, service="up")
    runtime.data_dir.mkdir(parents=True, exist_ok=True)

    try:
        if asyncio.run(create_database_if_missing(core.database_url)):
            log.info("database_created", database=masked(core.database_url))
    except (OSError, asyncpg.PostgresError) as exc:
        raise NotReady(f"cannot reach the database at {masked(core.database_url)}: {exc}") from None
    log.info("migrating", database=masked(core.database_url))
    upgrade(core.database_url)

    async def first_admin() -> str:
        engine = create_engine(core.database_url)
        try:
            async with session_factory(engine).begin() as session:
                created = await ensure_first_admin(session)
        finally:
            await engine.dispose()
        if created is None:
            return ""
        return (
            "\n  First admin (shown only this once, keep it now):\n"
            f"    e-mail:   {created.email}\n"
            f"    password: {created.password}\n"
        )

    admin = asyncio.run(first_admin())
    services = core.services
    children = [
        ("core", ["core"], f"http://127.0.0.1:{services.core_port}/readyz"),
        ("gateway", ["gateway"], f"http://127.0.0.1:{services.gateway_port}/healthz"),
    ]
    simulated = ""
    if simulate:
        sim = urlsplit(gateway.sim_url)
        port = str(sim.port or 8090)
        children.insert(0, ("sim", ["sim", "--port", port, "--demo"], f"{gateway.sim_url}/healthz"))
        simulated = (
            f"  Simulated phone (scan the QR here, play customers): {gateway.sim_url}/phone\n"
        )
    banner = (
        "\nzapdesk is running\n"
        f"  Web:     {core.public_url}\n"
        f"  Gateway: http://127.0.0.1:{services.gateway_port}\n"
        f"{simulated}"
        f"{admin}"
        "Press Ctrl-C to stop.\n"
    )
    return asyncio.run(_supervise(children, banner))


def run_workers(name: str, argv: list[str], count: int) -> int:
    """``count`` copies of ``zapdesk <argv>`` sharing one port, stopped together; if one stops
    on its own, all stop (the service manager restarts the whole)."""
    specs = [(f"{name} worker {n}", argv, "") for n in range(1, count + 1)]
    log.info("workers_starting", service=name, workers=count)
    return asyncio.run(_supervise(specs, ""))


async def _supervise(specs: list[tuple[str, list[str], str]], banner: str) -> int:
    """Starts the children, waits until each answers its ready URL (none: started is ready),
    prints the banner, and stops them all at Ctrl-C, SIGTERM or when one stops by itself."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    children: list[Child] = []
    try:
        for name, argv, url in specs:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "zapdesk",
                *argv,
                start_new_session=True,
                preexec_fn=DIE_WITH_PARENT,
            )
            children.append(Child(name, url, process))
        problem = await _wait_ready(children, stop)
        if problem is None and not stop.is_set():
            if banner:
                print(banner, flush=True)
            problem = await _wait_for_exit(children, stop)
    finally:
        clean = await _stop_all(children)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if problem:
        print(f"zapdesk: {problem}", file=sys.stderr, flush=True)
        return 1
    return 0 if clean else 1


async def _wait_ready(children: list[Child], stop: asyncio.Event) -> str | None:
    """None once every child answers its ready URL; otherwise what went wrong."""
    pending = [child for child in children if child.ready_url]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while pending:
            if stop.is_set():
                return None
            for child in list(pending):
                if child.exited:
                    return f"{child.name} stopped while starting; its log is above"
                try:
                    async with http.get(child.ready_url) as response:
                        if response.status == 200:
                            pending.remove(child)
                except (aiohttp.ClientError, TimeoutError):
                    pass
            if loop.time() > deadline:
                names = ", ".join(c.name for c in pending)
                return f"{names} not ready after {READY_TIMEOUT:.0f} s; its log is above"
            if pending:
                await asyncio.sleep(POLL_INTERVAL)
    return None


async def _wait_for_exit(children: list[Child], stop: asyncio.Event) -> str | None:
    """Waits for Ctrl-C (None) or for a child to stop on its own (what happened)."""
    waits = {asyncio.ensure_future(child.process.wait()): child for child in children}
    stopping = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait([*waits, stopping], return_when=asyncio.FIRST_COMPLETED)
    for task in [*waits, stopping]:
        task.cancel()
    for task, child in waits.items():
        if task in done:
            return f"{child.name} stopped unexpectedly (exit status {task.result()})"
    return None


async def _stop_all(children: list[Child]) -> bool:
    """SIGTERM each child once, SIGKILL what is still there after the timeout; clean = all 0."""
    running = [c for c in children if not c.exited]
    for child in running:
        child.process.terminate()
    clean = True
    for child in running:
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                code = await child.process.wait()
        except TimeoutError:
            log.warning("killing", child=child.name, after_s=STOP_TIMEOUT)
            child.process.kill()
            code = await child.process.wait()
        if code != 0:
            clean = False
            log.warning("child_exit", child=child.name, status=code)
    return clean
