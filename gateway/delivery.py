"""Webhook delivery: empties the outbox into core, signed, batched, retried until acknowledged.

One loop, one batch in flight. A batch leaves when ``batch_max`` events are waiting or the
first of them has waited ``linger_ms``. Core's answer decides what happens next:

* 2xx: the batch is committed in core; it is acknowledged (deleted from the outbox).
* no answer, 5xx, 429, 401/403 (a secret mismatch), 404/405 (a wrong URL): nothing is wrong
  with the events themselves; they go back to the outbox and the same batch is retried after a
  growing, fully jittered delay, for as long as it takes.
* any other 4xx: some event in the batch is refused. The batch is split in halves and each
  half resent, recursively, until the refused event stands alone; it is parked with core's
  status and reason, and everything else is delivered. Core's error details are not trusted
  to point at the event, so a wrong index can never park a good one.

Delivery is at least once (a stop or crash between core's commit and our acknowledgement
repeats a batch); core is idempotent on ``Event.id``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, deque
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field

import aiohttp
import structlog

from gateway.outbox import Outbox, StoredEvent
from sessions.signing import HEADER, sign

log = structlog.get_logger("gateway.delivery")

EVENTS_PATH = "/internal/events"
# Refusals that say nothing about the events: retry them, never park.
_RETRY_STATUSES = frozenset({401, 403, 404, 405, 408, 429})
_ERROR_BODY_LIMIT = 64 * 1024


class Backoff:
    """Exponential backoff with full jitter: each delay is uniform in [0, ceiling]."""

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self.ceiling = initial
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def next(self) -> float:
        delay = self._rng.uniform(0, self.ceiling)
        self.ceiling = min(self.maximum, self.ceiling * 2)
        return delay

    def reset(self) -> None:
        self.ceiling = self.initial


@dataclass
class DeliveryStats:
    """Figures the supervisor exports to Prometheus."""

    delivered: int = 0  # events acknowledged by core
    batches: int = 0  # POSTs core accepted
    parked: int = 0  # events parked by this delivery
    failures: Counter[str] = field(default_factory=Counter)  # by kind, see Delivery._post
    last_post_s: float = 0.0  # round trip of the last accepted POST
    last_latency_s: float = 0.0  # acknowledged - Event.at, for the newest event delivered
    retrying: bool = False  # core is unreachable or refusing; the current batch waits
    retry_delays: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=64))
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=2048))

    def latency_quantile(self, q: float) -> float:
        """A rolling quantile of (acknowledged - Event.at) over the last events delivered."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def latency_p50_s(self) -> float:
        return self.latency_quantile(0.50)

    @property
    def latency_p99_s(self) -> float:
        return self.latency_quantile(0.99)


class RetryLater(Exception):
    """Core did not take the batch for reasons unrelated to its events."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


class Delivery:
    def __init__(
        self,
        outbox: Outbox,
        core_url: str,
        secret: str,
        *,
        batch_max: int = 500,
        linger_ms: float = 20,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        request_timeout_s: float = 30.0,
        stop_timeout_s: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        self._outbox = outbox
        self._url = core_url.rstrip("/") + EVENTS_PATH
        self._secret = secret
        self._batch_max = batch_max
        self._linger_s = linger_ms / 1000
        self._timeout = aiohttp.ClientTimeout(
            total=request_timeout_s, sock_connect=connect_timeout_s
        )
        self._stop_timeout_s = stop_timeout_s
        self.backoff = Backoff(backoff_initial_s, backoff_max_s, rng)
        self.stats = DeliveryStats()
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        # Since when deliverable events have been waiting (monotonic); None when none are.
        self._pending_since: float | None = None
        self._appends_seen = 0

    # Lifecycle

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping.clear()
        self._http = aiohttp.ClientSession(timeout=self._timeout)
        self._outbox.add_listener(self._on_append)
        # Whatever is already in the outbox (a backlog, a restart) goes out at once.
        self._pending_since = time.monotonic() - self._linger_s
        self._task = asyncio.create_task(self._run(), name="outbox-delivery")
        log.info("delivery_started", url=self._url, backlog=self._outbox.depth())

    async def stop(self, timeout_s: float | None = None) -> None:
        """Lets an in-flight POST finish (up to the timeout), then stops. Nothing is lost:
        whatever core did not acknowledge stays in the outbox for the next start."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._wake.set()
        limit = self._stop_timeout_s if timeout_s is None else timeout_s
        _, running = await asyncio.wait({task}, timeout=limit)
        if running:
            log.warning("delivery_stop_timeout", timeout_s=limit)
            task.cancel()
            await asyncio.wait({task})
        self._outbox.remove_listener(self._on_append)
        if self._http is not None:
            await self._http.close()
            self._http = None
        log.info("delivery_stopped", depth=self._outbox.depth())

    def _on_append(self) -> None:
        self._appends_seen += 1
        if self._pending_since is None:
            self._pending_since = time.monotonic()
        self._wake.set()

    # The loop

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._wait_for_batch()
                if self._stopping.is_set():
                    return
                seen = self._appends_seen
                batch = await self._outbox.claim(self._batch_max)
                if len(batch) == self._batch_max:
                    self._pending_since = time.monotonic() - self._linger_s  # more waiting
                elif seen != self._appends_seen:
                    self._pending_since = time.monotonic()  # appended while we claimed
                else:
                    self._pending_since = None
                if batch and not await self._deliver(batch):
                    # The same events are claimed again, first, once the delay is over.
                    self._pending_since = time.monotonic() - self._linger_s
                    await self._pause(self._retry_delay())
            except Exception:
                # An outbox failure (disk full...) must not end delivery; the events are safe.
                log.exception("delivery_loop_error")
                self._pending_since = time.monotonic() - self._linger_s
                await self._pause(self._retry_delay())

    async def _wait_for_batch(self) -> None:
        """Returns when a full batch is waiting, or the first waiting event lingered enough."""
        while not self._stopping.is_set():
            since = self._pending_since
            if since is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            waiting = self._outbox.depth() - self._outbox.claimed_count()
            remaining = since + self._linger_s - time.monotonic()
            if waiting >= self._batch_max or remaining <= 0:
                return
            self._wake.clear()
            with suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._wake.wait()

    async def _pause(self, delay: float) -> None:
        """Sleeps ``delay`` seconds, or less if asked to stop."""
        with suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._stopping.wait()

    def _retry_delay(self) -> float:
        ceiling = self.backoff.ceiling
        delay = self.backoff.next()
        self.stats.retry_delays.append((ceiling, delay))
        return delay

    async def _deliver(self, batch: list[StoredEvent]) -> bool:
        """True when every event was delivered or parked; False to retry what is left."""
        try:
            await self._send(batch)
        except RetryLater as exc:
            self.stats.failures[exc.kind] += 1
            self.stats.retrying = True
            log.warning(
                "delivery_failed", kind=exc.kind, error=str(exc), events=len(batch),
                retry_ceiling_s=self.backoff.ceiling,
            )  # fmt: skip
            return False
        finally:
            # Whatever was neither acknowledged nor parked (a failure, a stop) is handed back.
            self._outbox.release(event.seq for event in batch)
        if self.stats.retrying:
            log.info("delivery_recovered")
        self.stats.retrying = False
        self.backoff.reset()
        return True

    async def _send(self, events: Sequence[StoredEvent]) -> None:
        """Delivers ``events``; isolates and parks refused ones by halving the batch."""
        status, answer = await self._post(events)
        if 200 <= status < 300:
            await self._outbox.ack([event.seq for event in events])
            self._record_delivered(events)
            return
        if len(events) > 1:
            middle = len(events) // 2
            await self._send(events[:middle])
            await self._send(events[middle:])
            return
        event = events[0]
        reason = _reason(status, answer)
        await self._outbox.park(event.seq, reason, status)
        self.stats.parked += 1
        log.warning(
            "event_parked", seq=event.seq, event_id=event.id, session_id=event.session_id,
            type=event.type, status=status, reason=reason,
        )  # fmt: skip

    async def _post(self, events: Sequence[StoredEvent]) -> tuple[int, bytes]:
        """One signed POST. Answers (status, body) for 2xx and event refusals; raises
        RetryLater for everything else, its kind naming the failure for metrics."""
        if self._http is None:
            raise RetryLater("stopped", "delivery is not running")
        # EventBatch's JSON, assembled from each event's stored JSON without re-serializing.
        body = b'{"events":[' + b",".join(event.body for event in events) + b"]}"
        headers = {HEADER: sign(self._secret, body), "Content-Type": "application/json"}
        started = time.monotonic()
        try:
            async with self._http.post(self._url, data=body, headers=headers) as response:
                status = response.status
                answer = b"" if status < 300 else await _read_capped(response)
        except TimeoutError:
            raise RetryLater("timeout", "core did not answer in time") from None
        except aiohttp.ClientConnectorError as exc:
            raise RetryLater("connect", str(exc.os_error)) from None
        except aiohttp.ClientError as exc:
            raise RetryLater("network", repr(exc)) from None
        if 200 <= status < 300:
            self.stats.last_post_s = time.monotonic() - started
            self.stats.batches += 1
            return status, answer
        if status >= 500:
            raise RetryLater("server_error", f"core answered {status}")
        if status == 429:
            raise RetryLater("throttled", "core answered 429")
        if status in _RETRY_STATUSES:
            # A wrong secret or URL is a configuration error, never the events' fault.
            raise RetryLater("refused", f"core answered {_reason(status, answer)}")
        self.stats.failures["rejected"] += 1
        return status, answer

    def _record_delivered(self, events: Sequence[StoredEvent]) -> None:
        now = time.time()
        self.stats.delivered += len(events)
        self.stats.latencies.extend(now - event.at for event in events)
        self.stats.last_latency_s = now - events[-1].at


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    """The start of an error body; core's are small, but a proxy's might not be."""
    chunks: list[bytes] = []
    size = 0
    while size < _ERROR_BODY_LIMIT:
        chunk = await response.content.read(_ERROR_BODY_LIMIT - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _reason(status: int, answer: bytes) -> str:
    """Core's ``{"error": {"code", "message"}}`` as one line; the raw start of it otherwise."""
    try:
        error = json.loads(answer)["error"]
        return f"{status} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        text = answer[:200].decode("utf-8", "replace").strip()
        return f"{status} {text}" if text else f"HTTP {status}"
