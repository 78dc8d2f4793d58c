"""Limits of the realtime hub and the bus.

The defaults fit production. ``create_app`` installs them (``core.realtime.hub.setup``); a test
replaces ``app[REALTIME]`` before the app starts to patch a limit down (a send queue of 1, a
replay of 3 notices, a Redis key prefix of its own).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class RealtimeConfig:
    send_queue: int = 256
    """Frames (or replay batches) waiting for one socket; a socket whose queue is full is
    closed as too slow, so one stalled browser never holds the others up."""

    replay: int = 10_000
    """Notices kept for reconnecting clients (the in-process buffer, the Redis stream's
    ``MAXLEN ~``); a client further behind gets ``resync``."""

    hold: int = 10_000
    """Notices kept for a socket that has connected but not yet subscribed."""

    ticket_ttl: int = 30
    """Seconds a websocket ticket stays valid (it is also single-use)."""

    heartbeat: float = 30.0
    """Seconds between pings; a peer that does not answer within half of it is closed."""

    close_timeout: float = 5.0
    """Seconds a closing socket may take to flush and say goodbye before it is cut."""

    max_topics: int = 200
    max_message: int = 64 * 1024
    """Largest frame a client may send (bytes)."""

    redis_prefix: str = "zapdesk"
    """Prefix of the Redis keys: ``<prefix>:bus`` (the stream), ``<prefix>:bus:seq``,
    ``<prefix>:ws-ticket:<nonce>``."""

    redis_block_ms: int = 1000
    """How long one ``XREAD BLOCK`` waits before asking again (below the socket timeout)."""


REALTIME = web.AppKey("realtime_config", RealtimeConfig)
