"""Quick replies: short texts attendants insert by a shortcut (`/prazo`), which the local copilot
also draws on. Read by everyone, written by supervisors and admins."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.api.routing import STAFF, Api, Call
from core.copilot.service import COPILOT
from core.storage.models import QuickReply
from core.views import View
from zapdesk.errors import Conflict, NotFound

api = Api()
TAGS = ("knowledge",)
MAX_TEXT = 4096
_SHORTCUT = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


class QuickReplyOut(View):
    id: int
    shortcut: str
    text: str
    created_at: datetime
    updated_at: datetime


def _shortcut(value: str) -> str:
    value = value.strip().lstrip("/").lower()
    if not _SHORTCUT.fullmatch(value):
        raise ValueError("1 to 40 lowercase letters, digits, - or _ (a leading / is dropped)")
    return value


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("the text is empty")
    return value.strip()


class QuickReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shortcut: str = Field(max_length=41, description="Typed after `/`, e.g. `prazo`.")
    text: str = Field(max_length=MAX_TEXT)

    @field_validator("shortcut")
    @classmethod
    def _clean_shortcut(cls, value: str) -> str:
        return _shortcut(value)

    @field_validator("text")
    @classmethod
    def _clean_text(cls, value: str) -> str:
        return _text(value)


class QuickReplyEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shortcut: str | None = Field(None, max_length=41)
    text: str | None = Field(None, max_length=MAX_TEXT)

    @field_validator("shortcut")
    @classmethod
    def _clean_shortcut(cls, value: str | None) -> str | None:
        return None if value is None else _shortcut(value)

    @field_validator("text")
    @classmethod
    def _clean_text(cls, value: str | None) -> str | None:
        return None if value is None else _text(value)


class QuickReplyList(BaseModel):
    items: list[QuickReplyOut] = Field(description="By shortcut.")


def _taken(shortcut: str) -> Conflict:
    return Conflict(f"The shortcut /{shortcut} is taken.", details={"shortcut": shortcut})


async def _reply(call: Call[Any, Any], db: AsyncSession) -> QuickReply:
    reply_id = call.int_param("id")
    reply = await db.get(QuickReply, reply_id)
    if reply is None:
        raise NotFound(f"No quick reply {reply_id}.")
    return reply


@api.operation("GET", "/quick-replies", summary="Quick replies", response=QuickReplyList, tags=TAGS)
async def list_quick_replies(call: Call[None, None]) -> QuickReplyList:
    async with call.db() as db:
        rows = await db.scalars(select(QuickReply).order_by(QuickReply.shortcut))
        return QuickReplyList(items=[QuickReplyOut.model_validate(r) for r in rows])


@api.operation(
    "POST",
    "/quick-replies",
    summary="Add a quick reply",
    roles=STAFF,
    body=QuickReplyIn,
    response=QuickReplyOut,
    status=201,
    tags=TAGS,
)
async def create_quick_reply(call: Call[QuickReplyIn, None]) -> QuickReplyOut:
    try:
        async with call.db.begin() as db:
            reply = QuickReply(shortcut=call.body.shortcut, text=call.body.text)
            db.add(reply)
            await db.flush()
            out = QuickReplyOut.model_validate(reply)
    except IntegrityError:
        raise _taken(call.body.shortcut) from None
    call.request.app[COPILOT].knowledge.invalidate()
    return out


@api.operation(
    "PATCH",
    "/quick-replies/{id}",
    summary="Edit a quick reply",
    roles=STAFF,
    body=QuickReplyEdit,
    response=QuickReplyOut,
    tags=TAGS,
)
async def edit_quick_reply(call: Call[QuickReplyEdit, None]) -> QuickReplyOut:
    try:
        async with call.db.begin() as db:
            reply = await _reply(call, db)
            if call.body.shortcut is not None:
                reply.shortcut = call.body.shortcut
            if call.body.text is not None:
                reply.text = call.body.text
            await db.flush()
            await db.refresh(reply)
            out = QuickReplyOut.model_validate(reply)
    except IntegrityError:
        raise _taken(call.body.shortcut or "") from None
    call.request.app[COPILOT].knowledge.invalidate()
    return out


@api.operation(
    "DELETE",
    "/quick-replies/{id}",
    summary="Delete a quick reply",
    roles=STAFF,
    status=204,
    tags=TAGS,
)
async def delete_quick_reply(call: Call[None, None]) -> None:
    async with call.db.begin() as db:
        await db.delete(await _reply(call, db))
    call.request.app[COPILOT].knowledge.invalidate()
