"""One error hierarchy with stable string codes, shared by core and gateway.

Services raise these; the HTTP edge renders them as ``{"error": {"code", "message",
"details"}}`` with the status below, and the websocket uses the same codes.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ZapdeskError(Exception):
    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Something went wrong on our side."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None):
        self.message = message or self.default_message
        self.details = details or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class BadRequest(ZapdeskError):
    code, status, default_message = "bad_request", 400, "The request could not be understood."


class Unauthorized(ZapdeskError):
    code, status, default_message = "unauthorized", 401, "Sign in to continue."


class PermissionDenied(ZapdeskError):
    code, status, default_message = "permission_denied", 403, "You are not allowed to do this."


class NotFound(ZapdeskError):
    code, status, default_message = "not_found", 404, "Nothing here."


class MethodNotAllowed(ZapdeskError):
    code, status, default_message = "method_not_allowed", 405, "Method not allowed here."


class Conflict(ZapdeskError):
    code, status, default_message = "conflict", 409, "This conflicts with the current state."


class PayloadTooLarge(ZapdeskError):
    code, status, default_message = "payload_too_large", 413, "The request body is too large."


class ValidationFailed(ZapdeskError):
    code, status, default_message = "validation_error", 422, "Some fields are not valid."


class RateLimited(ZapdeskError):
    code, status, default_message = "rate_limited", 429, "Too many attempts; try again later."


class NotReady(ZapdeskError):
    code, status, default_message = "not_ready", 503, "The service is not ready."
