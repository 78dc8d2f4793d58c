"""Users (admins): create, change role, deactivate, reset password."""

from __future__ import annotations

from core.api.routing import Api

api = Api()
