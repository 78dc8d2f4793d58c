"""Schemathesis against the live /api/v1/openapi.json, signed in as an admin: whatever it sends,
core never answers a server error, and what it answers matches the document.

Core runs for real (the ``desk`` fixture, on SQLite and on PostgreSQL) with a few rows in it (a
conversation with a customer's picture, a contact, channels, an attendant, an upload), so that
half the generated requests name rows that exist and reach the handlers' real work instead of
stopping at 404. Schemathesis sends its requests with ``requests``, which blocks, so the fuzzing
runs in a worker thread while the event loop keeps serving core.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, CheckContext, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import select

from core import keys
from core.storage.models import Channel, Contact, Conversation, Message
from sessions.events import (
    EventBatch,
    Media,
    MessageData,
    MessageKind,
    MessageReceivedEvent,
    Peer,
    SessionStatusEvent,
    StatusData,
)
from sessions.states import SessionState
from tests.conftest import Desk

# Per operation and per generation mode (valid data, then invalid data).
EXAMPLES = 25
SESSION = "fuzz-loja"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100

EXCLUDED = {
    # Ends every sign-in of the admin doing the fuzzing: what follows would test nothing.
    # It takes no input, so there is nothing to fuzz either (tests/test_auth_api.py covers it).
    ("POST", "/api/v1/auth/logout-all"),
}
# The gateway is not running in this test: operations that must reach it (the channels', a
# received file's download) answer 503 `gateway_unavailable`. That is core saying clearly what
# is wrong, on purpose; any other 5xx, and a 503 anywhere else, is a failure.
GATEWAY_ROUTES = ("/api/v1/channels", "/api/v1/messages/{id}/media")


def server_error_unless_gateway_away(
    ctx: CheckContext, response: Response, case: Case
) -> bool | None:
    if (
        case.operation.path.startswith(GATEWAY_ROUTES)
        and response.status_code == 503
        and _error_code(response) == "gateway_unavailable"
    ):
        return None
    return not_a_server_error(ctx, response, case)


def _error_code(response: Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


CHECKS = [server_error_unless_gateway_away, response_schema_conformance]


@dataclass
class Rows:
    """Ids of seeded rows, by the ``{id}`` each operation path takes."""

    admin: int
    by_path: dict[str, str] = field(default_factory=dict)

    def known_id(self, operation: APIOperation) -> str | None:
        for prefix, row_id in self.by_path.items():
            if operation.path.startswith(prefix):
                return row_id
        return None


async def seed(desk: Desk, admin: Any) -> Rows:
    """A customer's picture message (through the gateway's webhook, as in production), an
    attendant, a second channel to be deleted, an upload."""
    peer = Peer(jid="5511988887777@s.whatsapp.net", pn="5511988887777@s.whatsapp.net", name="Ana")
    at = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    picture = MessageData(
        wa_id="FUZZ1",
        chat=peer,
        sender=peer,
        from_me=False,
        timestamp=at,
        kind=MessageKind.IMAGE,
        text="olha",
        media=Media(mime="image/png", size=len(PNG), filename="foto.png", key="a" * 64),
    )
    events = EventBatch(
        events=[
            SessionStatusEvent(
                session_id=SESSION, at=at, data=StatusData(state=SessionState.CONNECTED, detail="")
            ),
            MessageReceivedEvent(session_id=SESSION, data=picture),
        ]
    )
    body = events.model_dump_json().encode()
    posted = await desk.client.post("/internal/events", data=body, headers=desk.signed(body))
    assert posted.status == 200, await posted.text()
    form = aiohttp.FormData()
    form.add_field("file", PNG, content_type="image/png", filename="foto.png")
    uploaded = await desk.client.post("/api/v1/media", data=form, headers=desk.auth(admin))
    assert uploaded.status == 201, await uploaded.text()
    attendant = await desk.user("attendant")
    async with desk.app[keys.SESSIONS].begin() as db:
        spare = Channel(session_id="fuzz-spare", name="Sobra")
        db.add(spare)
        await db.flush()
        conversation = await db.scalar(select(Conversation.id))
        contact = await db.scalar(select(Contact.id))
        channel = await db.scalar(select(Channel.id).where(Channel.session_id == SESSION))
        message = await db.scalar(select(Message.id))
        spare_id = spare.id
    known = {
        "/api/v1/conversations/{id}": conversation,
        "/api/v1/contacts/{id}": contact,
        # Deleting the channel would take the conversation with it: that one gets a spare.
        "/api/v1/channels/{id}/": channel,
        "/api/v1/channels/{id}": spare_id,
        "/api/v1/users/{id}": attendant.id,
        "/api/v1/messages/{id}": message,
        "/api/v1/media/{id}": (await uploaded.json())["id"],
    }
    assert all(value is not None for value in known.values()), known
    return Rows(admin=admin.id, by_path={path: str(value) for path, value in known.items()})


def names_user(case: Case, user_id: int) -> bool:
    """Whether the case's ``{id}`` would reach ``user_id`` (core reads it as ASCII digits)."""
    raw = str((case.path_parameters or {}).get("id", "")).strip()
    return raw.isascii() and raw.isdigit() and int(raw) == user_id


def described(error: BaseException) -> str:
    """The error and, for a group (Schemathesis's failures, Hypothesis's flaky one), its parts."""
    parts = [str(error)]
    if isinstance(error, BaseExceptionGroup):
        parts += [described(inner) for inner in error.exceptions]
    return "\n".join(parts)


@dataclass
class Fuzzing:
    base_url: str
    headers: dict[str, str]
    rows: Rows
    failures: list[str] = field(default_factory=list)
    calls: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    signed_out: int = 0

    @property
    def token(self) -> str:
        return self.headers["Authorization"]

    def run(self) -> None:
        schema = schemathesis.openapi.from_url(
            self.base_url + "api/v1/openapi.json", headers=self.headers, timeout=10
        )
        with requests.Session() as session:
            for result in schema.get_all_operations():
                operation = result.ok()
                if (operation.method.upper(), operation.path) in EXCLUDED:
                    continue
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    self.fuzz(operation, mode, session)

    def strategy(self, operation: APIOperation, mode: GenerationMode) -> st.SearchStrategy[Case]:
        strategy = operation.as_strategy(generation_mode=mode)
        known = self.rows.known_id(operation)
        if known is not None:
            # Half the cases on a row that exists, the rest on whatever id was generated.
            strategy = strategy | operation.as_strategy(
                generation_mode=mode, path_parameters={"id": known}
            )
        if operation.path.startswith("/api/v1/users/{id}"):
            # Demoting or deactivating the fuzzing admin would turn every later call into a
            # 401/403, which tests nothing; every other user id is fair game.
            strategy = strategy.filter(lambda case: not names_user(case, self.rows.admin))
        return strategy

    def fuzz(
        self, operation: APIOperation, mode: GenerationMode, session: requests.Session
    ) -> None:
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            # A fixed draw: a run fails because of the change under test, not a new sample.
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis.given(case=self.strategy(operation, mode))
        def test(case: Case) -> None:
            self.calls += 1
            response = case.call_and_validate(
                base_url=self.base_url.rstrip("/"),
                session=session,
                headers=self.headers,
                checks=CHECKS,
                timeout=10,
            )
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            # Invalid-data cases may leave the token out on purpose, and signing in with made-up
            # credentials is a 401 too; any other 401 means the admin got signed out.
            sent_token = response.request.headers.get("Authorization") == self.token
            signing_in = operation.path.startswith("/api/v1/auth/")
            if response.status_code == 401 and sent_token and not signing_in:
                self.signed_out += 1

        try:
            test()
        # Schemathesis reports what it found as an exception group of failures.
        except (Exception, BaseExceptionGroup) as exc:
            self.failures.append(f"{operation.label} ({mode.value}): {described(exc)}")


# Schemathesis draws some values with the `random` module inside its strategies; Hypothesis
# says so with a deprecation warning, which `filterwarnings=error` would turn into a failure of
# ours. It is about the tool, not about core.
@pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)
# About 2,600 requests, each generated, sent and checked against the document: half a minute
# on a laptop, over the suite's default minute on a slow CI machine sharing its cores.
@pytest.mark.timeout(300)
async def test_no_server_errors_whatever_the_input(desk: Desk) -> None:
    admin = await desk.user("admin")
    fuzzing = Fuzzing(
        base_url=str(desk.client.make_url("/")),
        headers=desk.auth(admin),
        rows=await seed(desk, admin),
    )
    await asyncio.to_thread(fuzzing.run)
    assert not fuzzing.failures, "\n\n".join(fuzzing.failures)
    # It did reach the handlers: successes as well as refusals, and the admin stayed signed in.
    assert fuzzing.calls > 1000, fuzzing.calls
    assert sum(n for status, n in fuzzing.statuses.items() if status < 300) > 200, fuzzing.statuses
    assert fuzzing.signed_out == 0, fuzzing.statuses
