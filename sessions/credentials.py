"""Where linked sessions' credentials are kept at rest: sealed blobs in a credential store.

A session's credentials (its whatsmeow SQLite file) let whoever holds them act as the company's
number, so they leave the session host's working directory only sealed with AES-256-GCM. The
stores see opaque blobs named ``<session_id>.db.enc``: ``FileStore`` keeps them in a local
directory (the embedded default), ``S3Store`` in any S3-compatible bucket (production).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# boto3 ships no type information (and its stub packages are not a dependency).
S3Client = Any

SUFFIX = ".db.enc"
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class CredentialError(Exception):
    """Stored credentials that cannot be used (wrong key, tampered, truncated, not ours).

    The message names the session and never includes key material."""


class InvalidSessionId(ValueError):
    """A session id that cannot safely become a file name or an object key."""


def check_session_id(session_id: str) -> str:
    if not _SESSION_ID.fullmatch(session_id):
        raise InvalidSessionId(f"invalid session id {session_id!r}: use 1-64 of A-Z a-z 0-9 _ -")
    return session_id


# Sealing


class Sealer:
    """AES-256-GCM with the session id as associated data, so a blob only opens as its session.

    Blob layout: ``MAGIC | VERSION | nonce (12) | ciphertext | tag (16)``. The header is
    authenticated too; the version lets a later format (or key rotation) coexist with this one.
    """

    MAGIC = b"ZDCR"
    VERSION = 1
    NONCE_SIZE = 12
    TAG_SIZE = 16
    # Fixed HKDF inputs: the setting is a passphrase-like string, not raw key bytes, and the
    # same string must give the same key in every process and after every restart.
    _SALT = b"zapdesk/credential-store/salt/v1"
    _INFO = b"zapdesk/credential-store/aes-256-gcm/v1"

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("the credentials encryption key must not be empty")
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=self._SALT, info=self._INFO
        ).derive(key.encode("utf-8"))
        self._aead = AESGCM(derived)
        self._header = self.MAGIC + bytes([self.VERSION])

    def __repr__(self) -> str:
        return "Sealer(<key hidden>)"

    def _associated(self, session_id: str) -> bytes:
        return self._header + check_session_id(session_id).encode("ascii")

    def seal(self, session_id: str, plain: bytes) -> bytes:
        nonce = secrets.token_bytes(self.NONCE_SIZE)
        sealed = self._aead.encrypt(nonce, plain, self._associated(session_id))
        return self._header + nonce + sealed

    def open(self, session_id: str, blob: bytes) -> bytes:
        header_size = len(self._header)
        if len(blob) < header_size + self.NONCE_SIZE + self.TAG_SIZE:
            raise CredentialError(f"credentials of session {session_id!r} are truncated")
        if blob[: len(self.MAGIC)] != self.MAGIC:
            raise CredentialError(f"credentials of session {session_id!r} are not a zapdesk blob")
        if blob[len(self.MAGIC)] != self.VERSION:
            raise CredentialError(
                f"credentials of session {session_id!r} use unknown format version "
                f"{blob[len(self.MAGIC)]}"
            )
        nonce = blob[header_size : header_size + self.NONCE_SIZE]
        try:
            return self._aead.decrypt(
                nonce, blob[header_size + self.NONCE_SIZE :], self._associated(session_id)
            )
        except InvalidTag:
            raise CredentialError(
                f"credentials of session {session_id!r} cannot be decrypted: wrong key, "
                "tampered data or a blob of another session"
            ) from None


# Stores


class CredentialStore(ABC):
    """Sealed credential blobs by session id. Every method is safe to call from the event loop."""

    @abstractmethod
    async def put(self, session_id: str, blob: bytes) -> None:
        """Stores (or replaces) the session's blob; readers see the old or the new one whole."""

    @abstractmethod
    async def get(self, session_id: str) -> bytes | None:
        """The session's blob, or None when there is none."""

    @abstractmethod
    async def delete(self, session_id: str) -> None:
        """Removes the session's blob; nothing to remove is not an error."""

    @abstractmethod
    async def list(self) -> list[str]:
        """Ids of the sessions with a stored blob, sorted."""

    @abstractmethod
    async def close(self) -> None:
        """Releases connections; the store is not used afterwards."""


def _ids_from_names(names: list[str]) -> list[str]:
    found = (name.removesuffix(SUFFIX) for name in names if name.endswith(SUFFIX))
    return sorted(sid for sid in found if _SESSION_ID.fullmatch(sid))


class FileStore(CredentialStore):
    """Blobs as ``<directory>/<session_id>.db.enc``, mode 0600, written by temp file + rename."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"FileStore({str(self.directory)!r})"

    def path(self, session_id: str) -> Path:
        return self.directory / f"{check_session_id(session_id)}{SUFFIX}"

    async def put(self, session_id: str, blob: bytes) -> None:
        await asyncio.to_thread(write_atomically, self.path(session_id), blob)

    async def get(self, session_id: str) -> bytes | None:
        path = self.path(session_id)

        def read() -> bytes | None:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None

        return await asyncio.to_thread(read)

    async def delete(self, session_id: str) -> None:
        await asyncio.to_thread(self.path(session_id).unlink, missing_ok=True)

    async def list(self) -> list[str]:
        def names() -> list[str]:
            try:
                return [entry.name for entry in os.scandir(self.directory) if entry.is_file()]
            except FileNotFoundError:
                return []

        return _ids_from_names(await asyncio.to_thread(names))

    async def close(self) -> None:
        """Nothing to release: every call opens and closes its own files."""


def write_atomically(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` (mode 0600) so that a crash leaves the old file or the new
    one, never a torn one: a temp file in the same directory, fsynced, renamed over."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # The rename itself must survive a power cut too.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class S3Store(CredentialStore):
    """Blobs as ``<prefix><session_id>.db.enc`` in an S3-compatible bucket, through boto3.

    boto3 blocks, so every call runs in a worker thread (boto3 clients are thread-safe). The
    client is made on first use, off the loop, because building one loads service models.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "sessions/",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        *,
        max_attempts: int = 5,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.region = region
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self.max_attempts = max_attempts
        self._client: S3Client | None = None
        self._client_lock = asyncio.Lock()

    def __repr__(self) -> str:
        where = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r}{where})"

    def key(self, session_id: str) -> str:
        return f"{self.prefix}{check_session_id(session_id)}{SUFFIX}"

    def _make_client(self) -> S3Client:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        config = Config(
            region_name=self.region,
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": self.max_attempts, "mode": "standard"},
            # S3-compatible services (MinIO, moto, most self-hosted ones) expect path-style
            # addressing; AWS itself is reached by virtual hosts.
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
        )
        session = boto3.session.Session(
            aws_access_key_id=self._access_key_id,
            aws_secret_access_key=self._secret_access_key,
            region_name=self.region,
        )
        return session.client("s3", endpoint_url=self.endpoint_url, config=config)

    async def client(self) -> S3Client:
        async with self._client_lock:
            if self._client is None:
                self._client = await asyncio.to_thread(self._make_client)
            return self._client

    async def put(self, session_id: str, blob: bytes) -> None:
        key, client = self.key(session_id), await self.client()
        await asyncio.to_thread(
            client.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=blob,
            ContentType="application/octet-stream",
        )

    async def get(self, session_id: str) -> bytes | None:
        key, client = self.key(session_id), await self.client()

        def read() -> bytes | None:
            try:
                response = client.get_object(Bucket=self.bucket, Key=key)
            except client.exceptions.NoSuchKey:
                return None
            with response["Body"] as body:
                data: bytes = body.read()
            return data

        return await asyncio.to_thread(read)

    async def delete(self, session_id: str) -> None:
        key, client = self.key(session_id), await self.client()
        await asyncio.to_thread(client.delete_object, Bucket=self.bucket, Key=key)

    async def list(self) -> list[str]:
        client = await self.client()

        def names() -> list[str]:
            found = []
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    rest = item["Key"][len(self.prefix) :]
                    if "/" not in rest:
                        found.append(rest)
            return found

        return _ids_from_names(await asyncio.to_thread(names))

    async def close(self) -> None:
        async with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)
