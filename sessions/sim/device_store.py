"""A sim device's credentials: one small SQLite file (WAL), like whatsmeow's store for neonize.

The supervisor backs this file up with SQLite's backup API and restores it before a start,
exactly as it does for neonize's stores; a restored file restores the session without QR.
These functions block (SQLite): call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS device (
    device_id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    phone TEXT NOT NULL,
    jid TEXT NOT NULL,
    lid TEXT NOT NULL,
    push_name TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class DeviceCredentials:
    device_id: str
    token: str
    phone: str
    jid: str
    lid: str
    push_name: str


def load(path: Path) -> DeviceCredentials | None:
    if not path.exists():
        return None
    with contextlib.closing(sqlite3.connect(path)) as db:
        try:
            row = db.execute(
                "SELECT device_id, token, phone, jid, lid, push_name FROM device LIMIT 1"
            ).fetchone()
        except sqlite3.OperationalError:  # an empty or foreign file: nothing stored
            return None
    return None if row is None else DeviceCredentials(*row)


def save(path: Path, credentials: DeviceCredentials) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(SCHEMA)
        with db:  # one transaction: the file never holds two devices or none
            db.execute("DELETE FROM device")
            db.execute(
                "INSERT INTO device VALUES (?, ?, ?, ?, ?, ?)",
                (
                    credentials.device_id,
                    credentials.token,
                    credentials.phone,
                    credentials.jid,
                    credentials.lid,
                    credentials.push_name,
                ),
            )


def delete(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
