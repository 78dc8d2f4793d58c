"""The durable outbox: nothing appended is lost, each session's events come out in order, a
poisoned event is parked visibly, and a restart offers again whatever was not acknowledged."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.outbox import Outbox, OutboxClosed, StoredEvent
from sessions.events import (
    EVENT,
    MessageData,
    MessageKind,
    MessageReceivedEvent,
    Peer,
    utcnow,
)

REPO = Path(__file__).resolve().parents[1]


def message(session_id: str, n: int) -> MessageReceivedEvent:
    """A customer's text message, as a session host hands it over."""
    customer = Peer(jid=f"5511{n:09d}@s.whatsapp.net", name=f"Customer {n}")
    return MessageReceivedEvent(
        session_id=session_id,
        data=MessageData(
            wa_id=f"3EB0{n:016X}",
            chat=customer,
            sender=customer,
            from_me=False,
            timestamp=utcnow(),
            kind=MessageKind.TEXT,
            text=f"Hello, this is message number {n}",
        ),
    )


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    box = Outbox(tmp_path / "gateway" / "outbox.db")
    await box.open()
    yield box
    await box.close()


def ids(events: list[StoredEvent]) -> list[str]:
    return [event.id for event in events]


async def test_appended_events_are_claimed_in_order_and_gone_once_acked(
    outbox: Outbox, tmp_path: Path
) -> None:
    events = [message("s1", n) for n in range(3)]
    await outbox.append(events)
    assert outbox.depth() == 3

    claimed = await outbox.claim(10)
    assert ids(claimed) == [event.id for event in events]
    assert [stored.session_id for stored in claimed] == ["s1"] * 3
    assert [stored.type for stored in claimed] == ["message.received"] * 3
    # The stored body is the event's JSON, exactly what core will parse.
    assert [EVENT.validate_json(stored.body) for stored in claimed] == events
    assert claimed[0].seq < claimed[1].seq < claimed[2].seq
    assert await outbox.claim(10) == []  # claimed events are not handed out twice

    await outbox.ack([stored.seq for stored in claimed])
    assert outbox.depth() == 0
    assert await outbox.claim(10) == []

    await outbox.close()
    reopened = Outbox(tmp_path / "gateway" / "outbox.db")
    await reopened.open()
    try:
        assert reopened.depth() == 0
        assert await reopened.claim(10) == []
    finally:
        await reopened.close()


async def test_each_session_keeps_its_order_while_sessions_interleave(outbox: Outbox) -> None:
    a1, b1, a2, c1, b2, a3 = (
        message("a", 1),
        message("b", 1),
        message("a", 2),
        message("c", 1),
        message("b", 2),
        message("a", 3),
    )
    await outbox.append([a1, b1])
    await outbox.append([a2, c1])
    await outbox.append([b2, a3])

    first = await outbox.claim(2)
    assert ids(first) == [a1.id, b1.id]
    # a and b have events in flight: their later events wait; c is free.
    assert ids(await outbox.claim(10)) == [c1.id]
    assert await outbox.claim(10) == []

    # b's batch failed and comes back: b1 is offered again, before b2.
    outbox.release([first[1].seq])
    assert ids(await outbox.claim(10)) == [b1.id, b2.id]

    # a1 is delivered: a2 and a3 follow, in order, in one claim.
    await outbox.ack([first[0].seq])
    assert ids(await outbox.claim(10)) == [a2.id, a3.id]


async def test_a_claim_takes_several_events_of_one_session_in_order(outbox: Outbox) -> None:
    events = [message(f"s{n % 3}", n) for n in range(12)]
    await outbox.append(events)
    claimed = await outbox.claim(7)
    assert ids(claimed) == [event.id for event in events[:7]]


async def test_concurrent_appends_keep_their_arrival_order(outbox: Outbox) -> None:
    events = [message(f"s{n % 5}", n) for n in range(200)]
    await asyncio.gather(*(outbox.append([event]) for event in events))
    claimed = await outbox.claim(500)
    assert ids(claimed) == [event.id for event in events]


async def test_a_restart_offers_again_everything_not_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    await box.open()
    events = [message(f"s{n % 2}", n) for n in range(6)]
    await box.append(events)
    claimed = await box.claim(4)
    await box.ack([claimed[0].seq])  # delivered; the other three claimed are in flight
    await box.close()

    box = Outbox(path)
    await box.open()
    try:
        assert box.depth() == 5
        again = await box.claim(10)
        assert ids(again) == [event.id for event in events[1:]]
        later = message("s0", 99)
        await box.append([later])
        await box.ack([stored.seq for stored in again])
        newest = await box.claim(10)
        assert ids(newest) == [later.id]
        assert newest[0].seq > again[-1].seq
    finally:
        await box.close()


async def test_events_survive_a_killed_process(tmp_path: Path) -> None:
    """What append() returned for is on disk even if the process dies the next instant."""
    path = tmp_path / "outbox.db"
    program = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys
        from gateway.outbox import Outbox
        from tests.test_outbox import message

        async def main() -> None:
            box = Outbox({str(path)!r})
            await box.open()
            for n in range(50):
                await box.append([message("s1", n), message("s2", n)])
            print("appended", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", program, stdout=subprocess.PIPE, env=env
    )
    out, _ = await child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert out.splitlines()[-1] == b"appended"

    box = Outbox(path)
    await box.open()
    try:
        assert box.depth() == 100
        claimed = await box.claim(200)
        assert [stored.session_id for stored in claimed] == ["s1", "s2"] * 50
    finally:
        await box.close()


async def test_a_parked_event_is_kept_aside_with_its_reason_and_can_be_retried(
    outbox: Outbox, tmp_path: Path
) -> None:
    bad, good = message("s1", 1), message("s1", 2)
    await outbox.append([bad, good])
    claimed = await outbox.claim(1)
    await outbox.park(claimed[0].seq, "422 validation_error: chat is not a JID", status=422)

    assert outbox.depth() == 1
    assert outbox.parked_count() == 1
    # The session is not blocked by its parked event: the next one goes on.
    assert ids(await outbox.claim(10)) == [good.id]

    [parked] = await outbox.parked()
    assert parked.event.id == bad.id
    assert parked.event.session_id == "s1"
    assert parked.status == 422
    assert parked.reason == "422 validation_error: chat is not a JID"
    assert EVENT.validate_json(parked.event.body) == bad
    assert parked.parked_at == pytest.approx(time.time(), abs=5)

    # Parked events survive a restart too.
    await outbox.close()
    await outbox.open()
    assert outbox.parked_count() == 1
    assert await outbox.retry_parked(parked.event.seq) is True
    assert await outbox.retry_parked(parked.event.seq) is False
    assert await outbox.retry_parked(12345) is False
    assert outbox.parked_count() == 0
    assert await outbox.parked() == []
    assert ids(await outbox.claim(10)) == [bad.id, good.id]


async def test_depth_and_oldest_age_follow_the_backlog(outbox: Outbox) -> None:
    assert outbox.depth() == 0
    assert outbox.oldest_age_s() == 0.0
    assert outbox.parked_count() == 0

    first = message("s1", 1)
    await outbox.append([first])
    await asyncio.sleep(0.2)
    second_at = time.time()
    await outbox.append([message("s2", 2), message("s3", 3)])
    assert outbox.depth() == 3
    age_with_first = outbox.oldest_age_s()
    assert age_with_first >= 0.2

    oldest, *rest = await outbox.claim(10)
    assert oldest.id == first.id
    assert outbox.depth() == 3  # in flight is still undelivered
    await outbox.ack([oldest.seq])
    assert outbox.depth() == 2
    # Now the second batch's age (however long the claim took), not the first's.
    assert outbox.oldest_age_s() <= time.time() - second_at

    await outbox.ack([event.seq for event in rest])
    assert outbox.depth() == 0
    assert outbox.oldest_age_s() == 0.0


async def test_appending_to_a_closed_outbox_fails_loudly(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    with pytest.raises(OutboxClosed):
        await box.append([message("s1", 1)])


async def test_append_throughput(outbox: Outbox) -> None:
    """Many sessions appending at once: the figure is printed; the floor is modest."""
    sessions = [f"session-{n}" for n in range(50)]
    per_session = 400
    batches = [[message(s, n) for n in range(per_session)] for s in sessions]

    async def session_host(events: list[MessageReceivedEvent]) -> None:
        # A host hands events over as they happen: one at a time, the hardest case.
        for event in events:
            await outbox.append([event])

    started = time.perf_counter()
    await asyncio.gather(*(session_host(events) for events in batches))
    elapsed = time.perf_counter() - started
    total = len(sessions) * per_session
    rate = total / elapsed
    print(f"\noutbox append: {total} events from {len(sessions)} sessions in {elapsed:.2f} s"
          f" = {rate:,.0f} events/s")  # fmt: skip
    assert outbox.depth() == total
    assert rate > 5_000
