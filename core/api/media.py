"""Media uploads: attachments the desk sends (type and size limits; local disk or S3)."""

from __future__ import annotations

from core.api.routing import Api

api = Api()
