"""A delivery's body as events: the batch is refused whole, naming the first bad event, so that
nothing of it is applied (the gateway then isolates and parks that event)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from sessions.events import (
    EVENT,
    ContactUpdatedEvent,
    Event,
    EventBatch,
    MessageEditedEvent,
    MessageReactionEvent,
    MessageReceivedEvent,
    MessageRevokedEvent,
    MessageSentEvent,
    MessageStatusEvent,
    Peer,
)
from zapdesk.errors import BadRequest, ValidationFailed

# Column sizes of what is looked up by equality (truncating would confuse two ids).
WA_ID_MAX = 128
CLIENT_ID_MAX = 64
JID_MAX = 100


def parse_batch(body: bytes) -> list[Event]:
    """The events of ``{"events": [...]}``, or a 400/422 naming the first bad one."""
    try:
        events = EventBatch.model_validate_json(body).events
    except ValidationError:
        return _explain(body)  # the slow path, only for a bad batch
    for index, event in enumerate(events):
        problem = _unstorable(event)
        if problem is not None:
            field, message = problem
            raise _bad_event(index, [{"field": field, "message": message}])
    return events


def _explain(body: bytes) -> list[Event]:
    try:
        raw: Any = json.loads(body)
    except ValueError:
        raise BadRequest("The body is not valid JSON.") from None
    items = raw.get("events") if isinstance(raw, dict) else None
    if not isinstance(items, list) or set(raw) != {"events"}:
        raise ValidationFailed(
            'The body must be {"events": [...]}.',
            details={"errors": [{"field": "events", "message": "a list of events is required"}]},
        )
    for index, item in enumerate(items):
        try:
            # Through JSON again, so that what the fast path refused is refused here too.
            EVENT.validate_json(json.dumps(item))
        except ValidationError as exc:
            errors = [
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors(include_url=False)
            ]
            raise _bad_event(index, errors) from None
    raise ValidationFailed("The batch is not valid.")  # pragma: no cover - defensive


def _bad_event(index: int, errors: list[dict[str, str]]) -> ValidationFailed:
    first = errors[0]
    where = f"{first['field']}: " if first["field"] else ""
    return ValidationFailed(
        f"Event {index} is not valid: {where}{first['message']}",
        details={"index": index, "errors": errors},
    )


def _unstorable(event: Event) -> tuple[str, str] | None:
    """Ids longer than the columns that hold them: refused rather than cut or failed later."""
    ids: list[tuple[str, str | None, int]] = []
    if isinstance(event, MessageReceivedEvent | MessageSentEvent):
        data = event.data
        ids += [
            ("data.wa_id", data.wa_id, WA_ID_MAX),
            ("data.client_id", data.client_id, CLIENT_ID_MAX),
        ]
        if data.quoted is not None:
            ids.append(("data.quoted.wa_id", data.quoted.wa_id, WA_ID_MAX))
        ids += _jids("data.chat", data.chat) + _jids("data.sender", data.sender)
    elif isinstance(event, ContactUpdatedEvent):
        ids += _jids("data.peer", event.data.peer)
    elif isinstance(event, MessageStatusEvent):
        ids += [("data.wa_ids", wa_id, WA_ID_MAX) for wa_id in event.data.wa_ids]
        ids.append(("data.client_id", event.data.client_id, CLIENT_ID_MAX))
    elif isinstance(event, MessageEditedEvent | MessageRevokedEvent | MessageReactionEvent):
        ids.append(("data.wa_id", event.data.wa_id, WA_ID_MAX))
    for field, value, limit in ids:
        if value is not None and len(value) > limit:
            return field, f"longer than {limit} characters"
    return None


def _jids(field: str, peer: Peer) -> list[tuple[str, str | None, int]]:
    return [(f"{field}.{name}", getattr(peer, name), JID_MAX) for name in ("jid", "pn", "lid")]
