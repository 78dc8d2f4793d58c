"""Credential stores (a local directory and an S3 server on loopback) and the sealing that keeps
what they hold unreadable without the key."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3  # type: ignore[import-untyped]
import pytest

from sessions.credentials import (
    CredentialError,
    CredentialStore,
    FileStore,
    InvalidSessionId,
    S3Store,
    Sealer,
)

BUCKET = "zapdesk-credentials"
ACCESS_KEY_ID = SECRET_ACCESS_KEY = "testing"
SQLITE_HEADER = b"SQLite format 3"


# An S3 server on loopback (moto's), shared by the tests of one module.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"moto_server exited with {process.returncode}", pytrace=False)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    pytest.fail("moto_server did not answer within 15 s", pytrace=False)


@contextlib.contextmanager
def running_s3_server() -> Iterator[str]:
    """Starts moto's S3 server on a free loopback port with BUCKET created; yields its URL."""
    executable = Path(sys.executable).with_name("moto_server")
    port = _free_port()
    process = subprocess.Popen(
        [str(executable), "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_listening(process, port)
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )
        try:
            client.create_bucket(Bucket=BUCKET)
        finally:
            client.close()
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def s3_store(endpoint: str, *, max_attempts: int = 5) -> S3Store:
    """A store under a prefix of its own, so tests sharing the bucket do not see each other."""
    return S3Store(
        BUCKET,
        prefix=f"t-{uuid.uuid4().hex}/",
        endpoint_url=endpoint,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        max_attempts=max_attempts,
    )


def make_database(path: Path, rows: list[str]) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE IF NOT EXISTS device (jid TEXT)")
        db.executemany("INSERT INTO device VALUES (?)", [(r,) for r in rows])


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def rows_of(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [r for (r,) in db.execute("SELECT jid FROM device ORDER BY rowid")]


# The stores: one suite over every backend.


async def test_a_stored_blob_comes_back_whole_and_is_replaced_by_the_next(
    store: CredentialStore,
) -> None:
    await store.put("loja-centro", b"first")
    assert await store.get("loja-centro") == b"first"

    blob = bytes(range(256)) * 4096  # 1 MiB, every byte value
    await store.put("loja-centro", blob)
    assert await store.get("loja-centro") == blob


async def test_a_missing_session_reads_as_none(store: CredentialStore) -> None:
    assert await store.get("never-linked") is None
    assert await store.list() == []


async def test_list_names_stored_sessions_and_delete_removes_one(store: CredentialStore) -> None:
    for session_id in ("suporte_2", "loja-centro", "Vendas"):
        await store.put(session_id, session_id.encode())

    assert await store.list() == ["Vendas", "loja-centro", "suporte_2"]

    await store.delete("loja-centro")
    await store.delete("loja-centro")  # already gone: not an error
    await store.delete("never-linked")
    assert await store.get("loja-centro") is None
    assert await store.get("Vendas") == b"Vendas"
    assert await store.list() == ["Vendas", "suporte_2"]


@pytest.mark.parametrize("bad", ["", "../secrets", "a/b", "loja centro", "x" * 65, "ç"])
async def test_session_ids_that_could_escape_their_name_are_refused(
    store: CredentialStore, bad: str
) -> None:
    with pytest.raises(InvalidSessionId):
        await store.put(bad, b"blob")
    with pytest.raises(InvalidSessionId):
        await store.get(bad)
    with pytest.raises(InvalidSessionId):
        await store.delete(bad)
    assert await store.list() == []


async def test_stores_with_different_places_do_not_see_each_other(
    store: CredentialStore, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    other: CredentialStore
    if isinstance(store, FileStore):
        other = FileStore(tmp_path / "elsewhere")
    else:
        other = s3_store(request.getfixturevalue("s3_endpoint"))
    try:
        await store.put("loja-centro", b"mine")
        assert await other.get("loja-centro") is None
        assert await other.list() == []
    finally:
        await other.close()


async def test_file_store_writes_owner_only_files_and_leaves_no_temp_files(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path / "credentials")
    await store.put("loja-centro", b"one")
    await store.put("loja-centro", b"two")
    (tmp_path / "credentials" / "notes.txt").write_text("not a blob")

    path = tmp_path / "credentials" / "loja-centro.db.enc"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert names_in(path.parent) == ["loja-centro.db.enc", "notes.txt"]
    assert await store.list() == ["loja-centro"]


async def test_an_unreachable_s3_server_is_an_error_not_a_missing_blob() -> None:
    store = s3_store(f"http://127.0.0.1:{_free_port()}", max_attempts=1)
    try:
        with pytest.raises(Exception, match="Could not connect"):
            await store.get("loja-centro")
    finally:
        await store.close()


# Sealing


def test_a_sealed_blob_opens_with_the_same_key_in_another_process() -> None:
    plain = b"SQLite format 3\x00" + bytes(1000)
    blob = Sealer("correct horse battery staple").seal("loja-centro", plain)

    # A new Sealer from the same setting, as after a restart.
    assert Sealer("correct horse battery staple").open("loja-centro", blob) == plain
    # Random nonces: sealing twice never gives the same bytes.
    assert Sealer("correct horse battery staple").seal("loja-centro", plain) != blob


def test_a_wrong_key_cannot_open_a_blob() -> None:
    blob = Sealer("the right key").seal("loja-centro", b"credentials")
    with pytest.raises(CredentialError, match="loja-centro"):
        Sealer("the wrong key").open("loja-centro", blob)


def test_a_blob_of_one_session_cannot_be_opened_as_another() -> None:
    sealer = Sealer("key")
    blob = sealer.seal("loja-centro", b"credentials of loja-centro")
    with pytest.raises(CredentialError):
        sealer.open("suporte", blob)


def test_any_flipped_byte_or_truncation_is_detected() -> None:
    sealer = Sealer("key")
    blob = sealer.seal("loja-centro", b"credentials" * 10)
    # Header, version, nonce, ciphertext and tag alike.
    for index in (0, 4, 5, 16, 17, len(blob) // 2, len(blob) - 1):
        tampered = bytearray(blob)
        tampered[index] ^= 0x01
        with pytest.raises(CredentialError):
            sealer.open("loja-centro", bytes(tampered))
    for size in (0, 5, 32, len(blob) - 1):
        with pytest.raises(CredentialError):
            sealer.open("loja-centro", blob[:size])


def test_an_empty_key_is_refused_and_never_shown() -> None:
    with pytest.raises(ValueError, match="empty"):
        Sealer("")
    assert "s3cr3t" not in repr(Sealer("s3cr3t"))


async def test_stored_credentials_are_not_readable_as_sqlite_without_the_key(
    store: CredentialStore, tmp_path: Path
) -> None:
    source = tmp_path / "loja-centro.db"
    make_database(source, ["5511999990000@s.whatsapp.net", "device-key"])
    sealer = Sealer("key")

    await store.put("loja-centro", sealer.seal("loja-centro", source.read_bytes()))
    stored = await store.get("loja-centro")

    assert stored is not None
    assert SQLITE_HEADER not in stored
    assert b"device-key" not in stored
    leaked = tmp_path / "leaked.db"
    leaked.write_bytes(stored)
    with contextlib.closing(sqlite3.connect(leaked)) as db, pytest.raises(sqlite3.DatabaseError):
        db.execute("SELECT * FROM sqlite_master").fetchall()

    opened = tmp_path / "opened.db"
    opened.write_bytes(sealer.open("loja-centro", stored))
    assert rows_of(opened) == ["5511999990000@s.whatsapp.net", "device-key"]
