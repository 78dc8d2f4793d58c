"""Incoming media on disk, under ``<data_dir>/media/``: what customers send, downloaded by the
session hosts' drivers and served to core by ``GET /media/{key}``.

Files are content-addressed: the key is the hex SHA-256 of the plain file, so the same picture
sent twice (or redelivered after a host crash) is stored once. Each file ``<key>`` has a small
sidecar ``<key>.json`` with its type and name. Both are written to a temporary name and renamed,
so a reader never sees half a file and a crash leaves at worst a stray ``.tmp``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from zapdesk.errors import NotFound

KEY = re.compile(r"^[0-9a-f]{64}$")
DEFAULT_MIME = "application/octet-stream"


class MediaNotFound(NotFound):
    code, default_message = "media_not_found", "No such file."


@dataclass(frozen=True)
class StoredFile:
    key: str
    path: Path
    mime: str
    filename: str | None
    size: int


def valid_key(key: str) -> bool:
    """A hex SHA-256 and nothing else: no separators, dots or upper case reach the disk."""
    return KEY.fullmatch(key) is not None


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, data: bytes, mime: str | None = None, filename: str | None = None) -> str:
        """Stores ``data`` (blocking: call it in a thread) and answers its key."""
        key = hashlib.sha256(data).hexdigest()
        target = self.root / key
        if not target.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            self._write(target, data)
        sidecar = self.root / f"{key}.json"
        if not sidecar.exists():
            meta = {"mime": mime or DEFAULT_MIME, "filename": filename}
            self._write(sidecar, json.dumps(meta).encode())
        return key

    async def save(self, data: bytes, mime: str | None = None, filename: str | None = None) -> str:
        return await asyncio.to_thread(self.put, data, mime, filename)

    def _write(self, target: Path, data: bytes) -> None:
        handle, temporary = tempfile.mkstemp(
            dir=self.root, prefix=f".{target.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def find(self, key: str) -> StoredFile:
        """The stored file, or MediaNotFound (for a malformed key too: nothing is looked up)."""
        if not valid_key(key):
            raise MediaNotFound(details={"key": key[:80]})
        path = self.root / key
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise MediaNotFound(details={"key": key}) from None
        mime, filename = DEFAULT_MIME, None
        try:
            meta = json.loads((self.root / f"{key}.json").read_text())
            mime = str(meta.get("mime") or DEFAULT_MIME)
            filename = meta.get("filename") or None
        except (OSError, ValueError, AttributeError):
            pass  # the bytes are what matter; serve them as a plain download
        return StoredFile(key=key, path=path, mime=mime, filename=filename, size=size)
