"""Contacts: search, detail, edit."""

from __future__ import annotations

from core.api.routing import Api

api = Api()
