"""`zapdesk up` as a person runs it: both services answer, the first admin is shown once,
Ctrl-C stops everything with exit status 0, and nothing is left running."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from core.storage.migrations import head_revision
from tests.conftest import PG_URL, drop_pg_database

pytestmark = pytest.mark.timeout(120)
BANNER_END = "Press Ctrl-C to stop."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Up:
    """A running `zapdesk up` whose output is read line by line as it comes."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.core_port, self.gateway_port = free_port(), free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "zapdesk", "up", *args],
            env={
                **os.environ,
                "ZAPDESK_CORE_PORT": str(self.core_port),
                "ZAPDESK_GATEWAY_PORT": str(self.gateway_port),
                **env,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, args=(stream, sink), daemon=True)
            for stream, sink in ((self.process.stdout, self.stdout), (self.process.stderr, None))
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, stream: object, sink: list[str] | None) -> None:
        for line in stream:  # type: ignore[attr-defined]
            if sink is None:
                self.stderr.append(line)
            else:
                sink.append(line)
                self.lines.put(line)

    def wait_banner(self, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if BANNER_END in self.lines.get(timeout=0.5):
                    return "".join(self.stdout)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
        pytest.fail(f"no banner; stdout={self.stdout} stderr={''.join(self.stderr)[-3000:]}")

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for reader in self.readers:
            reader.join(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)


@contextlib.contextmanager
def running(env: dict[str, str] | None = None, *args: str) -> Iterator[Up]:
    up = Up(env or {}, *args)
    try:
        yield up
    finally:
        up.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except FileNotFoundError:
            return True
        if status == "Z":  # exited; only the reaping is left to its (dead) parent
            return True
        time.sleep(0.05)
    return False


def test_up_serves_both_shows_the_admin_once_and_stops_cleanly() -> None:
    with running() as up:
        banner = up.wait_banner()
        assert f"http://127.0.0.1:{up.core_port}" in banner
        assert "admin@zapdesk.local" in banner
        assert "password:" in banner
        status, body = get(f"http://127.0.0.1:{up.core_port}/readyz")
        assert status == 200, body
        assert head_revision() in body
        assert get(f"http://127.0.0.1:{up.gateway_port}/healthz")[0] == 200
        children = up.children()
        assert len(children) == 2
        assert up.stop(signal.SIGINT) == 0
        assert all(gone(pid) for pid in children)
        assert "Traceback" not in "".join(up.stderr)

    with running() as again:
        banner = again.wait_banner()
        assert "admin@zapdesk.local" not in banner
        assert "password" not in banner
        assert again.stop(signal.SIGTERM) == 0


@pytest.mark.postgres
@pytest.mark.usefixtures("pg_server")
def test_up_creates_migrates_and_runs_on_a_new_postgresql_database() -> None:
    url = make_url(PG_URL).set(database=f"zapdesk_up_{uuid.uuid4().hex[:8]}")
    url = url.render_as_string(hide_password=False)
    try:
        with running({"ZAPDESK_DATABASE_URL": url}) as up:
            up.wait_banner()
            status, body = get(f"http://127.0.0.1:{up.core_port}/readyz")
            assert status == 200, body
            assert head_revision() in body
            assert not Path("data", "zapdesk.db").exists()
            assert up.stop() == 0
    finally:
        drop_pg_database(url)


def test_simulate_adds_the_simulated_whatsapp_and_its_phone_page() -> None:
    sim_port = free_port()
    with running({"ZAPDESK_SIM_URL": f"http://127.0.0.1:{sim_port}"}, "--simulate") as up:
        banner = up.wait_banner()
        assert f"http://127.0.0.1:{sim_port}/phone" in banner
        status, page = get(f"http://127.0.0.1:{sim_port}/phone")
        assert status == 200
        assert "<html" in page
        children = up.children()
        assert len(children) == 3
        assert up.stop() == 0
        assert all(gone(pid) for pid in children)


def test_a_service_that_cannot_start_stops_the_other_and_is_reported() -> None:
    with socket.socket() as taken, running() as up:
        taken.bind(("127.0.0.1", up.core_port))
        taken.listen()
        assert up.process.wait(timeout=60) == 1
        stderr = "".join(up.stderr)
        assert "core stopped while starting" in stderr
        assert "Traceback" not in stderr


def test_killing_the_launcher_takes_the_services_with_it() -> None:
    with running() as up:
        up.wait_banner()
        children = up.children()
        up.process.kill()
        up.process.wait()
        assert all(gone(pid) for pid in children)
