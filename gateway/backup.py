"""The supervisor's backup of session credentials: snapshot, seal, store; restore; delete.

Session hosts keep each session's credentials in ``<workdir>/<session_id>.db``, a SQLite file
that the session's driver keeps writing. The supervisor copies it with SQLite's online backup
API (a raw file copy of a live database can be torn, and misses what is still in the WAL) and
does so in its own process: neonize bundles its own SQLite, and two SQLite copies in one
process break each other's POSIX locks.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path

import structlog

from sessions.credentials import (
    CredentialError,
    CredentialStore,
    FileStore,
    S3Store,
    Sealer,
    check_session_id,
    write_atomically,
)
from zapdesk.settings import S3Settings

log = structlog.get_logger("zapdesk.gateway.backup")

SQLITE_HEADER = b"SQLite format 3\x00"
# Files SQLite keeps next to a database; a stale one beside a restored file would be replayed
# into it (a WAL) or rolled back onto it (a journal) and corrupt it.
COMPANIONS = ("-wal", "-shm", "-journal")
# How long a snapshot waits for a writer's lock before retrying (rollback-journal mode).
BUSY_TIMEOUT_S = 5.0


def _snapshot(db_path: Path) -> bytes:
    if not db_path.is_file():
        raise FileNotFoundError(f"no database at {db_path}")
    # mode=rw: never create an empty database where the file is missing.
    source = sqlite3.connect(
        f"{db_path.resolve().as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S
    )
    try:
        copy = sqlite3.connect(":memory:")
        try:
            # All pages in one step under one read transaction: a consistent database even
            # while another connection (or process) keeps committing.
            source.backup(copy, pages=-1, sleep=0.01)
            (verdict,) = copy.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise CredentialError(f"snapshot of {db_path.name} is damaged: {verdict}")
            return copy.serialize()
        finally:
            copy.close()
    finally:
        source.close()


async def snapshot(db_path: Path) -> bytes:
    """A consistent copy of the live SQLite database at ``db_path``, as the bytes of a database
    file. Raises FileNotFoundError when there is no such file."""
    return await asyncio.to_thread(_snapshot, Path(db_path))


def store_for(s3: S3Settings, data_dir: Path) -> CredentialStore:
    """The configured credential store: S3 when a bucket is set, else ``<data_dir>/credentials``."""
    if s3.bucket:
        secret = s3.secret_access_key.get_secret_value() if s3.secret_access_key else None
        return S3Store(
            s3.bucket,
            endpoint_url=s3.endpoint_url,
            region=s3.region,
            access_key_id=s3.access_key_id,
            secret_access_key=secret,
        )
    return FileStore(data_dir / "credentials")


class CredentialBackup:
    """Keeps the credential store in step with the session hosts' working directory.

    Operations on one session are serialized, so a backup racing a logout cannot put back
    credentials that were just deleted.
    """

    def __init__(self, store: CredentialStore, sealer: Sealer, workdir: Path) -> None:
        self.store = store
        self.sealer = sealer
        self.workdir = Path(workdir)
        self._locks: dict[str, asyncio.Lock] = {}

    def path(self, session_id: str) -> Path:
        return self.workdir / f"{check_session_id(session_id)}.db"

    def _lock(self, session_id: str) -> asyncio.Lock:
        return self._locks.setdefault(session_id, asyncio.Lock())

    async def backup(self, session_id: str) -> None:
        """Snapshots, seals and stores the session's credentials; nothing when it has none yet."""
        path = self.path(session_id)
        async with self._lock(session_id):
            try:
                plain = await snapshot(path)
            except FileNotFoundError:
                log.debug("credentials_backup_skipped", session_id=session_id, reason="no file")
                return
            blob = await asyncio.to_thread(self.sealer.seal, session_id, plain)
            await self.store.put(session_id, blob)
        log.debug("credentials_backed_up", session_id=session_id, size=len(blob))

    async def restore_missing(self, session_ids: Iterable[str]) -> list[str]:
        """Writes back, from the store, the credentials of every listed session whose local file
        is missing; answers the ids restored. A local file is never overwritten (it is newer
        than any backup), and a blob that cannot be opened is logged and left in the store."""
        restored = []
        for session_id in session_ids:
            try:
                if await self._restore(session_id):
                    restored.append(session_id)
            except CredentialError as exc:
                log.error("credentials_unreadable", session_id=session_id, error=str(exc))
            except Exception:
                log.exception("credentials_restore_failed", session_id=session_id)
        if restored:
            log.info("credentials_restored", sessions=len(restored))
        return restored

    async def _restore(self, session_id: str) -> bool:
        path = self.path(session_id)
        async with self._lock(session_id):
            if await asyncio.to_thread(path.exists):
                return False
            blob = await self.store.get(session_id)
            if blob is None:
                return False
            plain = await asyncio.to_thread(self.sealer.open, session_id, blob)
            if not plain.startswith(SQLITE_HEADER):
                raise CredentialError(f"credentials of session {session_id!r} are not SQLite")
            await asyncio.to_thread(self._place, path, plain)
        return True

    @staticmethod
    def _place(path: Path, plain: bytes) -> None:
        for suffix in COMPANIONS:
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        write_atomically(path, plain)

    async def delete(self, session_id: str) -> None:
        """Removes the session's credentials everywhere: local file, its companions, the store."""
        path = self.path(session_id)
        async with self._lock(session_id):

            def remove_local() -> None:
                for name in ("", *COMPANIONS):
                    path.with_name(path.name + name).unlink(missing_ok=True)

            await asyncio.to_thread(remove_local)
            await self.store.delete(session_id)
        log.info("credentials_deleted", session_id=session_id)

    async def backup_all(self, session_ids: Iterable[str]) -> None:
        """Backs up each session in turn; one failure is logged and the others go on."""
        for session_id in session_ids:
            try:
                await self.backup(session_id)
            except Exception:
                log.exception("credentials_backup_failed", session_id=session_id)

    async def run_periodic(
        self, list_sessions: Callable[[], Iterable[str]], interval_s: float
    ) -> None:
        """Backs up every listed session each ``interval_s`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                session_ids = list(list_sessions())
            except Exception:
                log.exception("credentials_backup_listing_failed")
                continue
            await self.backup_all(session_ids)
