"""Realtime: websocket tickets (the socket itself is core.realtime.hub)."""

from __future__ import annotations

from core.api.routing import Api

api = Api()
