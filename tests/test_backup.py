"""The supervisor's credential backup: consistent snapshots of live databases, sealed into the
store (a local directory or an S3 server on loopback), restored when the local file is gone,
and deleted everywhere on logout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gateway.backup import CredentialBackup, snapshot
from sessions.credentials import CredentialStore, Sealer
from tests.test_credentials import make_database, names_in, rows_of

JID = "5511999990000@s.whatsapp.net"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "hosts"
    path.mkdir()
    return path


@pytest.fixture
def backup(store: CredentialStore, workdir: Path) -> CredentialBackup:
    return CredentialBackup(store, Sealer("test-credentials-key"), workdir)


# Snapshots of a database that is being written


class Writer(threading.Thread):
    """Commits rows as fast as it can, each commit keeping ``count(items) == totals.n``."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="sqlite-writer")
        self.path = path
        self.stop = threading.Event()
        self.commits = 0
        self.progress = threading.Condition()

    def run(self) -> None:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        db.execute("PRAGMA synchronous=OFF")  # locking as usual, without waiting for the disk
        try:
            while not self.stop.is_set():
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO items(payload) VALUES (?)", (os.urandom(700),))
                db.execute("UPDATE totals SET n = n + 1")
                db.execute("COMMIT")
                with self.progress:
                    self.commits += 1
                    self.progress.notify_all()
        finally:
            db.close()

    def wait_for_commits(self, count: int) -> None:
        with self.progress:
            if not self.progress.wait_for(lambda: self.commits >= count, timeout=10):
                raise TimeoutError(f"the writer made only {self.commits} commits")


def create_ledger(path: Path, journal_mode: str) -> None:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute(f"PRAGMA journal_mode={journal_mode}")
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, payload BLOB)")
        db.execute("CREATE TABLE totals (n INTEGER)")
        db.execute("BEGIN")
        db.executemany("INSERT INTO items(payload) VALUES (?)", [(os.urandom(700),)] * 2000)
        db.execute("INSERT INTO totals VALUES (2000)")
        db.execute("COMMIT")


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
async def test_snapshots_of_a_database_being_written_are_whole_and_consistent(
    tmp_path: Path, journal_mode: str
) -> None:
    source = tmp_path / "live.db"
    create_ledger(source, journal_mode)
    writer = Writer(source)
    writer.start()
    seen = []
    try:
        for attempt in range(6):
            # Let the writer commit between snapshots.
            await asyncio.to_thread(writer.wait_for_commits, 20 * (attempt + 1))
            copy = tmp_path / f"copy-{attempt}.db"
            copy.write_bytes(await snapshot(source))
            with contextlib.closing(sqlite3.connect(copy)) as db:
                assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                (items,) = db.execute("SELECT count(*) FROM items").fetchone()
                (total,) = db.execute("SELECT n FROM totals").fetchone()
            assert items == total
            seen.append(items)
    finally:
        writer.stop.set()
        await asyncio.to_thread(writer.join)

    assert seen == sorted(seen)
    assert seen[-1] > seen[0] > 2000  # the writer was committing while we copied


async def test_a_snapshot_includes_commits_still_in_the_write_ahead_log(tmp_path: Path) -> None:
    source = tmp_path / "live.db"
    db = sqlite3.connect(source, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=wal")
        db.execute("PRAGMA wal_autocheckpoint=0")
        db.execute("CREATE TABLE device (jid TEXT)")
        db.execute("INSERT INTO device VALUES (?)", (JID,))
        assert (tmp_path / "live.db-wal").stat().st_size > 0
        copy = tmp_path / "copy.db"
        copy.write_bytes(await snapshot(source))
    finally:
        db.close()
    assert rows_of(copy) == [JID]


async def test_a_snapshot_of_a_missing_file_fails_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await snapshot(tmp_path / "gone.db")
    assert names_in(tmp_path) == []


# Backup, restore, delete: on every store


async def test_backup_then_lost_file_then_restore_brings_the_credentials_back(
    backup: CredentialBackup, store: CredentialStore, workdir: Path
) -> None:
    make_database(workdir / "loja-centro.db", [JID, "identity-key"])
    await backup.backup("loja-centro")
    assert await store.list() == ["loja-centro"]

    (workdir / "loja-centro.db").unlink()
    restored = await backup.restore_missing(["loja-centro", "never-backed-up"])

    assert restored == ["loja-centro"]
    assert rows_of(workdir / "loja-centro.db") == [JID, "identity-key"]
    assert stat.S_IMODE((workdir / "loja-centro.db").stat().st_mode) == 0o600
    assert not (workdir / "never-backed-up.db").exists()
    assert names_in(workdir) == ["loja-centro.db"]


async def test_restore_never_overwrites_a_local_file(
    backup: CredentialBackup, workdir: Path
) -> None:
    make_database(workdir / "loja-centro.db", ["old"])
    await backup.backup("loja-centro")
    make_database(workdir / "loja-centro.db", ["newer"])

    assert await backup.restore_missing(["loja-centro"]) == []
    assert rows_of(workdir / "loja-centro.db") == ["old", "newer"]


async def test_a_blob_that_does_not_open_is_reported_and_not_written(
    backup: CredentialBackup, store: CredentialStore, workdir: Path
) -> None:
    make_database(workdir / "source.db", [JID])
    plain = (workdir / "source.db").read_bytes()
    await store.put("other-key", Sealer("a key from another install").seal("other-key", plain))
    await store.put("swapped", backup.sealer.seal("loja-centro", plain))
    await store.put("fine", backup.sealer.seal("fine", plain))

    with capture_logs() as logs:
        restored = await backup.restore_missing(["other-key", "swapped", "fine"])

    assert restored == ["fine"]
    assert not (workdir / "other-key.db").exists()
    assert not (workdir / "swapped.db").exists()
    unreadable = [e["session_id"] for e in logs if e["event"] == "credentials_unreadable"]
    assert unreadable == ["other-key", "swapped"]
    assert await store.get("other-key") is not None  # kept: the right key may come back


async def test_backup_of_a_session_without_a_file_stores_nothing(
    backup: CredentialBackup, store: CredentialStore
) -> None:
    await backup.backup("not-paired-yet")
    assert await store.get("not-paired-yet") is None


async def test_delete_removes_the_credentials_everywhere(
    backup: CredentialBackup, store: CredentialStore, workdir: Path
) -> None:
    make_database(workdir / "loja-centro.db", [JID])
    make_database(workdir / "suporte.db", [JID])
    await backup.backup("loja-centro")
    await backup.backup("suporte")
    for companion in ("-wal", "-shm"):
        (workdir / f"loja-centro.db{companion}").write_bytes(b"")

    await backup.delete("loja-centro")

    assert names_in(workdir) == ["suporte.db"]
    assert await store.get("loja-centro") is None
    assert await store.list() == ["suporte"]
    assert await backup.restore_missing(["loja-centro"]) == []


async def test_periodic_backup_keeps_going_past_failures(
    backup: CredentialBackup, store: CredentialStore, workdir: Path
) -> None:
    make_database(workdir / "loja-centro.db", [JID])
    (workdir / "broken.db").write_bytes(b"not a database at all" * 100)
    calls = 0

    def list_sessions() -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("registry unavailable")
        return ["broken", "loja-centro"]

    async def stored_rows() -> list[str]:
        blob = await store.get("loja-centro")
        if blob is None:
            return []
        copy = workdir.parent / "check.db"
        copy.write_bytes(backup.sealer.open("loja-centro", blob))
        return rows_of(copy)

    async def eventually(expected: list[str]) -> None:
        async with asyncio.timeout(10):
            while True:
                if await stored_rows() == expected:
                    return
                await asyncio.sleep(0.01)

    with capture_logs() as logs:
        task = asyncio.create_task(backup.run_periodic(list_sessions, 0.01))
        try:
            await eventually([JID])
            make_database(workdir / "loja-centro.db", ["paired again"])
            await eventually([JID, "paired again"])  # later rounds still run
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    events = {(e["event"], e.get("session_id")) for e in logs}
    assert ("credentials_backup_listing_failed", None) in events
    assert ("credentials_backup_failed", "broken") in events
    assert await store.get("broken") is None
