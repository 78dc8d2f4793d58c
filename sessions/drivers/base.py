"""What every driver offers a session host. Hosts use sim and neonize through this alone.

A ``Driver`` lives once per host process and makes one ``SessionDriver`` per hosted session.
Everything a session does on its own (status changes, QR codes, messages, receipts) reaches
the host through ``emit``, always called on the host's event-loop thread.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Protocol

from sessions.commands import MarkRead, SendCommand, SendResult, SetPresence, SetTyping
from sessions.events import Event, PairCodeData

Emit = Callable[[Event], None]


class DurableEmit(Protocol):
    """What hosts pass as ``emit``: it also tells when emitted events are safe on disk."""

    def __call__(self, event: Event) -> None: ...

    async def durable(self) -> None:
        """Returns once every event emitted so far is in the gateway's outbox."""


class DriverError(Exception):
    """A command the driver could not carry out; the message is safe to show to people."""


class SessionDriver(ABC):
    def __init__(self, session_id: str, store: Path, emit: Emit) -> None:
        self.session_id = session_id
        # The session's credentials: one SQLite file, backed up by the supervisor.
        self.store = store
        self.emit = emit

    async def durable(self) -> None:
        """Waits until what this session emitted is stored by the gateway. A driver whose
        source redelivers what it was not told was processed (the simulated WhatsApp) waits for
        this before acknowledging, so a host killed mid-stream loses nothing."""
        durable = getattr(self.emit, "durable", None)
        if durable is not None:
            await durable()

    @abstractmethod
    async def start(self) -> None:
        """Begins connecting (restoring stored credentials, or offering QR codes) and returns;
        progress arrives as session.status / session.qr events. Reconnects on its own."""

    @abstractmethod
    async def stop(self) -> None:
        """Disconnects and stops reconnecting; credentials stay for the next start."""

    @abstractmethod
    async def logout(self) -> None:
        """Unlinks the device from the phone and deletes the credentials."""

    @abstractmethod
    async def pair_code(self, phone: str) -> PairCodeData:
        """A code to type on the phone instead of scanning the QR (only while codes are shown)."""

    @abstractmethod
    async def send(self, command: SendCommand) -> SendResult:
        """Sends and answers WhatsApp's id, or raises DriverError."""

    @abstractmethod
    async def mark_read(self, command: MarkRead) -> None: ...

    @abstractmethod
    async def typing(self, command: SetTyping) -> None: ...

    @abstractmethod
    async def presence(self, command: SetPresence) -> None: ...


class Driver(ABC):
    name: ClassVar[str]

    async def open(self, capacity: int) -> None:  # noqa: B027 - an optional hook
        """Prepares the host for up to ``capacity`` sessions (e.g. sizes thread pools)."""

    @abstractmethod
    def session(self, session_id: str, store: Path, emit: Emit) -> SessionDriver: ...

    async def close(self) -> None:  # noqa: B027 - an optional hook
        """Releases what ``open`` took; sessions are already stopped."""
