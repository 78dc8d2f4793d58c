"""Conversations and their messages: lists with filters and search, detail, sending, reading."""

from __future__ import annotations

from core.api.routing import Api

api = Api()
