"""Channels: the linked WhatsApp numbers, proxied to the gateway's session API."""

from __future__ import annotations

from core.api.routing import Api

api = Api()
