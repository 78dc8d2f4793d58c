"""Signing in and out: access tokens, refresh-token rotation, throttling, who am I."""

from __future__ import annotations

from core.api.routing import Api

api = Api()
