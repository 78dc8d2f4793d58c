"""Demo customers: with ``zapdesk sim --demo`` a few simulated people write to every linked
number now and then, so a freshly started desk has conversations to work on."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable

import structlog
from aiohttp import web

from sessions.sim import traffic
from sessions.sim.device_socket import WORLD

log = structlog.get_logger("zapdesk.sim.demo")

PEOPLE = [
    ("5511987650001", "Ana Souza"),
    ("5521987650002", "Bruno Lima"),
    ("5531987650003", "Carla Mendes"),
    ("5541987650004", "Diego Rocha"),
    ("5551987650005", "Elisa Martins"),
]
LINES = [
    "Oi! Vocês entregam no sábado?",
    "Boa tarde, meu pedido ainda não chegou. Podem verificar?",
    "Qual o horário de funcionamento da loja?",
    "Vocês aceitam Pix?",
    "Gostaria de trocar um produto que veio com defeito.",
    "Tem esse modelo no tamanho M?",
    "Obrigado pelo atendimento! 😊",
    "Consigo parcelar em 3x no cartão?",
]


DEMO_EVERY_S = (15.0, 45.0)


def demo_traffic(every_s: tuple[float, float]) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context for the sim app: one demo message every so often, per linked number."""

    async def run(app: web.Application) -> None:
        world, rng = app[WORLD], random.Random()  # noqa: S311 - demo text, not secrets
        while True:
            await asyncio.sleep(rng.uniform(*every_s))
            for account in list(world.accounts.values()):
                if account.device is None:
                    continue
                phone, name = rng.choice(PEOPLE)
                customer = world.customer(phone, name)
                traffic.customer_message(world, customer, account, text=rng.choice(LINES))
                log.info("demo_message", to=account.phone, customer=name)

    async def context(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(run(app), name="sim-demo-traffic")
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    return context
