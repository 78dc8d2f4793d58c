"""Contacts: search, detail, edit."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from core.api.routing import Api, Call
from core.desk.changes import Changes
from core.desk.unit import DESK
from core.inbox import queries
from core.inbox.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor
from core.storage.models import Contact
from core.views import ContactOut

api = Api()
TAGS = ("contacts",)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_TEXT = 1000
AttributeValue = str | int | float | bool | None


class ContactQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(
        None, max_length=200, description="Part of the name, WhatsApp name, e-mail or phone."
    )
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class ContactPage(BaseModel):
    items: list[ContactOut] = Field(description="Newest contacts first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: end.")


class ContactDetailOut(ContactOut):
    conversation_ids: list[int] = Field(
        default_factory=list,
        description="The latest conversations with this contact you may see, newest first.",
    )

    @classmethod
    def with_conversations(cls, contact: Contact, conversation_ids: list[int]) -> ContactDetailOut:
        return cls(**dict(ContactOut.of(contact)), conversation_ids=conversation_ids)


class ContactEdit(BaseModel):
    """Only the fields given change; ``null`` clears a name or an e-mail."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=120)
    email: str | None = Field(None, max_length=254)
    attributes: dict[str, AttributeValue] | None = Field(
        None,
        description=f"Replaces all custom fields: at most {MAX_ATTRIBUTES}, names up to "
        f"{MAX_ATTRIBUTE_KEY} characters, values text (up to {MAX_ATTRIBUTE_TEXT}), numbers, "
        "true/false or null.",
    )

    @field_validator("name", mode="before")
    @classmethod
    def _strip_name(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if not _EMAIL.match(value):
            raise ValueError("not an e-mail address")
        return value

    @field_validator("attributes")
    @classmethod
    def _attributes(
        cls, value: dict[str, AttributeValue] | None
    ) -> dict[str, AttributeValue] | None:
        if value is None:
            return None
        if len(value) > MAX_ATTRIBUTES:
            raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
        for key, item in value.items():
            if not 1 <= len(key) <= MAX_ATTRIBUTE_KEY:
                raise ValueError(f"attribute names have 1 to {MAX_ATTRIBUTE_KEY} characters")
            if isinstance(item, str) and len(item) > MAX_ATTRIBUTE_TEXT:
                raise ValueError(f"{key!r}: at most {MAX_ATTRIBUTE_TEXT} characters")
        return value

    def changes(self) -> dict[str, Any]:
        changes = {name: getattr(self, name) for name in self.model_fields_set}
        if changes.get("attributes", True) is None:
            changes["attributes"] = {}  # null clears them all (the column is never null)
        return changes


@api.operation(
    "GET",
    "/contacts",
    summary="Contacts, searched by name, phone or e-mail",
    query=ContactQuery,
    response=ContactPage,
    tags=TAGS,
)
async def list_contacts(call: Call[None, ContactQuery]) -> ContactPage:
    """Attendants get the contacts of conversations they may see."""
    query = call.query
    after = None if query.cursor is None else decode_cursor(query.cursor)
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        page = await queries.list_contacts(db, viewer, query.q, after, query.limit)
        return ContactPage(
            items=[ContactOut.of(contact) for contact in page.items],
            next_cursor=page.next_cursor,
        )


@api.operation(
    "GET",
    "/contacts/{id}",
    summary="A contact, its WhatsApp identities and latest conversations",
    response=ContactDetailOut,
    tags=TAGS,
)
async def get_contact(call: Call[None, None]) -> ContactDetailOut:
    async with call.db() as db:
        viewer = await queries.viewer_of(db, call.me)
        contact, conversation_ids = await queries.get_contact(db, viewer, call.int_param("id"))
        return ContactDetailOut.with_conversations(contact, conversation_ids)


@api.operation(
    "PATCH",
    "/contacts/{id}",
    summary="Edit a contact's name, e-mail or custom fields",
    body=ContactEdit,
    response=ContactDetailOut,
    tags=TAGS,
)
async def edit_contact(call: Call[ContactEdit, None]) -> ContactDetailOut:
    """Attendants may edit the contacts of conversations they may see; supervisors and admins
    any contact. The phone and WhatsApp identities come from WhatsApp and are not editable.
    The contact's latest conversations are announced again (`conversation.updated`), so open
    screens show the new name."""
    contact_id = call.int_param("id")

    async def work(db: AsyncSession, changes: Changes) -> ContactDetailOut:
        viewer = await queries.viewer_of(db, call.me)
        contact, conversation_ids = await queries.update_contact(
            db, viewer, contact_id, call.body.changes()
        )
        for conversation in await queries.latest_of_contact(db, contact_id):
            changes.conversation_updated(conversation)  # shown again, with the new name
        return ContactDetailOut.with_conversations(contact, conversation_ids)

    return await call.request.app[DESK].run(work)
