"""Outbound pacing: a number sends its burst at once, then at the steady rate, in order."""

from __future__ import annotations

import asyncio
import time

from gateway.pacing import Pacer, typing_time


async def test_a_burst_goes_at_once_then_the_rate_holds() -> None:
    pacer = Pacer(per_minute=600, burst=3)  # 10 a second after the first 3
    started = time.monotonic()
    waits = [await pacer.acquire() for _ in range(3)]
    assert waits == [0.0, 0.0, 0.0]
    assert time.monotonic() - started < 0.05
    for _ in range(4):
        await pacer.acquire()
    elapsed = time.monotonic() - started
    assert 0.35 <= elapsed < 0.8  # four more at 10/s


async def test_waiting_senders_go_in_arrival_order() -> None:
    pacer = Pacer(per_minute=1200, burst=1)
    order: list[int] = []

    async def send(n: int) -> None:
        await pacer.acquire()
        order.append(n)

    await asyncio.gather(*(send(n) for n in range(5)))
    assert order == [0, 1, 2, 3, 4]


def test_typing_looks_human_but_never_long() -> None:
    assert typing_time("Oi") < typing_time("Olá! Seu pedido sai hoje à tarde, tudo certo?")
    assert typing_time("x" * 10_000) == 3.0
