"""Declaring API operations: path, roles, body, query and response models in one place.

The same pydantic models validate requests and write the OpenAPI document, so the document
cannot drift from what the server accepts::

    api = Api()

    @api.operation("GET", "/conversations/{id}", summary="A conversation", response=ConversationOut)
    async def get_conversation(call: Call[None, None]) -> ConversationOut: ...
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import keys
from core.api.storable import unstorable
from core.auth.current import authenticate
from core.settings import Settings
from core.storage.base import MAX_ID
from core.storage.models import Role, User
from zapdesk.errors import NotFound, PermissionDenied, ValidationFailed
from zapdesk.web import read_json, validated

B = TypeVar("B")
T = TypeVar("T")
Q = TypeVar("Q")

PREFIX = "/api/v1"
PUBLIC: frozenset[Role] = frozenset()
ANY_USER = frozenset(Role)
STAFF = frozenset({Role.SUPERVISOR, Role.ADMIN})
ADMIN = frozenset({Role.ADMIN})

_PARAM = re.compile(r"{(\w+)}")
_ID = re.compile(r"[0-9]{1,19}")


@dataclass
class Call(Generic[B, Q]):
    """One request as a handler sees it: who asks, and the validated body and query."""

    request: web.Request
    user: User | None
    body: B
    query: Q

    @property
    def settings(self) -> Settings:
        return self.request.app[keys.SETTINGS]

    @property
    def db(self) -> async_sessionmaker[AsyncSession]:
        return self.request.app[keys.SESSIONS]

    @property
    def me(self) -> User:
        """The signed-in user (operations with roles always have one)."""
        if self.user is None:  # pragma: no cover - guarded by the roles check
            raise PermissionDenied()
        return self.user

    def param(self, name: str) -> str:
        return self.request.match_info[name]

    def int_param(self, name: str) -> int:
        value = self.request.match_info[name]
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
        if not _ID.fullmatch(value) or int(value) > MAX_ID:
            raise NotFound(f"No {name} {value!r}.")
        return int(value)


Handler = Callable[[Call[Any, Any]], Awaitable[Any]]


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    handler: Handler
    roles: frozenset[Role]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    tags: tuple[str, ...] = ()
    description: str = ""
    _body_adapter: TypeAdapter[Any] | None = field(default=None, repr=False)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    def path_params(self) -> list[str]:
        return _PARAM.findall(self.path)


class Api:
    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def operation(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        roles: frozenset[Role] = ANY_USER,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        tags: tuple[str, ...] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(
                Operation(
                    method=method,
                    path=path,
                    summary=summary,
                    handler=handler,
                    roles=roles,
                    body=body,
                    query=query,
                    response=response,
                    status=status,
                    tags=tags,
                    description=(handler.__doc__ or "").strip(),
                    _body_adapter=TypeAdapter(body) if body is not None else None,
                )
            )
            return handler

        return register

    def install(self, app: web.Application) -> None:
        for operation in self.operations:
            app.router.add_route(operation.method, PREFIX + operation.path, _endpoint(operation))


def _storable(value: T, where: str) -> T:
    """``value`` (a validated body or query), or a 422 if it holds text no database keeps."""
    dumped = value.model_dump() if isinstance(value, BaseModel) else value
    if (field_name := unstorable(dumped)) is not None:
        message = "contains a NUL character or a lone surrogate"
        raise ValidationFailed(
            f"{field_name or where}: {message}.",
            details={"errors": [{"field": field_name, "message": message}]},
        )
    return value


def _endpoint(operation: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    query_adapter = TypeAdapter(operation.query) if operation.query is not None else None

    async def endpoint(request: web.Request) -> web.StreamResponse:
        user = None
        if operation.roles:
            user = await authenticate(request)
            if user.role not in operation.roles:
                raise PermissionDenied(
                    "Your role cannot do this.", details={"required": sorted(operation.roles)}
                )
        for name in operation.path_params():
            if unstorable(request.match_info[name]) is not None:
                raise NotFound(f"No {name} like that.")
        body = None
        if operation._body_adapter is not None:
            body = _storable(await read_json(request, operation._body_adapter), "body")
        query = None
        if query_adapter is not None:
            query = _storable(validated(query_adapter, dict(request.query), where="query"), "query")
        result = await operation.handler(Call(request, user, body, query))
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204)
        if isinstance(result, BaseModel):
            return web.json_response(result.model_dump(mode="json"), status=operation.status)
        return web.json_response(result, status=operation.status)

    endpoint.__name__ = operation.operation_id
    return endpoint
