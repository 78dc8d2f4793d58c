"""Typed keys for everything the gateway keeps on its ``web.Application``."""

from __future__ import annotations

from aiohttp import web

from gateway.metrics import GatewayCollector
from gateway.outbox import Outbox
from gateway.settings import Settings
from gateway.supervisor import Supervisor

SETTINGS = web.AppKey("settings", Settings)
SUPERVISOR = web.AppKey("supervisor", Supervisor)
OUTBOX = web.AppKey("outbox", Outbox)
COLLECTOR = web.AppKey("collector", GatewayCollector)
