"""Tags: admins name and colour them, everyone reads them, and whoever may see a conversation
sets the tags it carries (a change of the conversation, announced to whom watches it)."""

from __future__ import annotations

import structlog
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.api.routing import ADMIN, Api, Call
from core.auth.visibility import Viewer
from core.desk import tags as service
from core.desk.api import act
from core.desk.changes import Changes
from core.storage.models import Role, Tag
from core.storage.rows import ConversationRow
from core.views import ConversationOut

log = structlog.get_logger("core.desk")

api = Api()
TAGS = ("desk",)


class TagList(BaseModel):
    items: list[service.TagOut]


@api.operation("GET", "/tags", summary="Every tag, by name", response=TagList, tags=TAGS)
async def list_tags(call: Call[None, None]) -> TagList:
    """Everyone reads them (the inbox shows and filters by them); admins also get how many
    conversations carry each."""
    async with call.db() as db:
        found = list(await db.scalars(select(Tag).order_by(func.lower(Tag.name), Tag.id)))
        counts = await service.counts(db) if call.me.role is Role.ADMIN else None
    return TagList(
        items=[
            service.TagOut.of(tag, None if counts is None else counts.get(tag.id, 0))
            for tag in found
        ]
    )


@api.operation(
    "POST",
    "/tags",
    summary="Create a tag",
    roles=ADMIN,
    body=service.TagIn,
    response=service.TagOut,
    status=201,
    tags=TAGS,
)
async def create_tag(call: Call[service.TagIn, None]) -> service.TagOut:
    """`tag_name_taken` (409) when another tag has the name, in any case."""
    try:
        async with call.db.begin() as db:
            await service.ensure_free(db, call.body.name)
            tag = Tag(name=call.body.name, color=call.body.color)
            db.add(tag)
            await db.flush()
            out = service.TagOut.of(tag, 0)
    except IntegrityError:
        raise service.taken(call.body.name) from None  # made at the same moment by someone else
    log.info("tag_created", tag_id=out.id, by=call.me.id)
    return out


@api.operation(
    "PATCH",
    "/tags/{id}",
    summary="Rename or recolour a tag",
    roles=ADMIN,
    body=service.TagPatch,
    response=service.TagOut,
    tags=TAGS,
)
async def update_tag(call: Call[service.TagPatch, None]) -> service.TagOut:
    try:
        async with call.db.begin() as db:
            tag = await service.get_tag(db, call.int_param("id"))
            if call.body.name is not None:
                await service.ensure_free(db, call.body.name, keep=tag.id)
                tag.name = call.body.name
            if call.body.color is not None:
                tag.color = call.body.color
            await db.flush()
            out = service.TagOut.of(tag, (await service.counts(db)).get(tag.id, 0))
    except IntegrityError:
        raise service.taken(call.body.name or "") from None
    return out


@api.operation(
    "DELETE",
    "/tags/{id}",
    summary="Delete a tag (the conversations carrying it lose it)",
    roles=ADMIN,
    tags=TAGS,
)
async def delete_tag(call: Call[None, None]) -> None:
    async with call.db.begin() as db:
        await db.delete(await service.get_tag(db, call.int_param("id")))
    log.info("tag_deleted", tag_id=call.int_param("id"), by=call.me.id)


@api.operation(
    "PUT",
    "/conversations/{id}/tags",
    summary="Set the tags a conversation carries",
    body=service.TagsIn,
    response=ConversationOut,
    tags=("conversations",),
)
async def set_conversation_tags(call: Call[service.TagsIn, None]) -> ConversationOut:
    """By anyone who may see the conversation; `unknown_tag` (422) names ids no tag has.
    Whoever watches the conversation sees the new tags (`conversation.updated`)."""

    async def move(
        db: AsyncSession, changes: Changes, conversation: ConversationRow, viewer: Viewer
    ) -> None:
        if await service.set_tags(db, conversation.key, call.body.tag_ids):
            changes.conversation_updated(conversation)  # shown again, with its tags

    return await act(call, move)
