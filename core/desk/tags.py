"""Tags: admin-defined, coloured labels on conversations ("Reclamação", "VIP"). A conversation's
tags are part of its view (``ConversationOut.tag_ids``), read for many conversations at once."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.inbox.sql import among, chunked
from core.storage.base import RowId, utcnow
from core.storage.models import ConversationTag, Tag
from core.views import View
from zapdesk.errors import Conflict, NotFound, ValidationFailed

NAME_MAX = 48
MAX_PER_CONVERSATION = 50
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


class TagNameTaken(Conflict):
    code = "tag_name_taken"
    default_message = "There is a tag with this name already."


class UnknownTag(ValidationFailed):
    code = "unknown_tag"
    default_message = "No tag with this id."


class TagOut(View):
    id: int
    name: str
    color: str = Field(description="`#rrggbb`.")
    created_at: datetime
    conversations: int | None = Field(
        None, description="How many conversations carry it (told to admins; null for others)."
    )

    @classmethod
    def of(cls, tag: Tag, conversations: int | None = None) -> TagOut:
        out = cls.model_validate(tag)
        out.conversations = conversations
        return out


def _name(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("the name is empty")
    return value


def _color(value: str) -> str:
    if not _COLOR.fullmatch(value):
        raise ValueError("a colour as #rrggbb")
    return value.lower()


class TagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=NAME_MAX, description="Unique, whatever the case.")
    color: str = Field(max_length=7, description="`#rrggbb`.")

    @field_validator("name")
    @classmethod
    def _clean_name(cls, value: str) -> str:
        return _name(value)

    @field_validator("color")
    @classmethod
    def _clean_color(cls, value: str) -> str:
        return _color(value)


class TagPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=NAME_MAX)
    color: str | None = Field(None, max_length=7)

    @field_validator("name")
    @classmethod
    def _clean_name(cls, value: str | None) -> str | None:
        return None if value is None else _name(value)

    @field_validator("color")
    @classmethod
    def _clean_color(cls, value: str | None) -> str | None:
        return None if value is None else _color(value)


class TagsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag_ids: list[RowId] = Field(
        max_length=MAX_PER_CONVERSATION, description="Every tag the conversation carries now."
    )


async def get_tag(db: AsyncSession, tag_id: int) -> Tag:
    tag = await db.get(Tag, tag_id)
    if tag is None:
        raise NotFound(f"No tag {tag_id}.", details={"tag_id": tag_id})
    return tag


async def ensure_free(db: AsyncSession, name: str, keep: int | None = None) -> None:
    """The name is nobody else's, in any case ("vip" and "VIP" are one tag). Tags are few:
    compared here, where every database folds accents' case alike."""
    folded = name.casefold()
    for tag_id, other in await db.execute(select(Tag.id, Tag.name)):
        if tag_id != keep and other.casefold() == folded:
            raise taken(name)


def taken(name: str) -> TagNameTaken:
    return TagNameTaken(details={"field": "name", "name": name})


async def counts(db: AsyncSession) -> dict[int, int]:
    """How many conversations carry each tag."""
    grouped = select(ConversationTag.tag_id, func.count()).group_by(ConversationTag.tag_id)
    return {tag_id: n for tag_id, n in await db.execute(grouped)}


async def tag_ids_of(db: AsyncSession, conversation_ids: Collection[int]) -> dict[int, list[int]]:
    """Each conversation's tag ids (every id asked for is answered, most with none): one query
    for a whole list or unit of work."""
    found: dict[int, list[int]] = {conversation_id: [] for conversation_id in conversation_ids}
    for chunk in chunked(found):
        rows = await db.execute(
            select(ConversationTag.conversation_id, ConversationTag.tag_id)
            .where(among(db, ConversationTag.conversation_id, chunk))
            .order_by(ConversationTag.conversation_id, ConversationTag.tag_id)
        )
        for conversation_id, tag_id in rows:
            found[conversation_id].append(tag_id)
    return found


async def set_tags(db: AsyncSession, conversation_id: int, tag_ids: list[int]) -> bool:
    """Makes the conversation carry exactly ``tag_ids``; answers whether that changed anything.
    ``unknown_tag`` (422) names the ids no tag has."""
    wanted = set(tag_ids)
    known = set(await db.scalars(select(Tag.id).where(Tag.id.in_(wanted)))) if wanted else set()
    if missing := sorted(wanted - known):
        raise UnknownTag(
            f"No tag {', '.join(map(str, missing))}.",
            details={"field": "tag_ids", "tag_ids": missing},
        )
    current = set((await tag_ids_of(db, [conversation_id]))[conversation_id])
    if removed := current - wanted:
        await db.execute(
            delete(ConversationTag).where(
                ConversationTag.conversation_id == conversation_id,
                ConversationTag.tag_id.in_(removed),
            )
        )
    if added := wanted - current:
        now = utcnow()
        db.add_all(
            ConversationTag(conversation_id=conversation_id, tag_id=tag_id, created_at=now)
            for tag_id in sorted(added)
        )
        await db.flush()
    return bool(removed or added)
