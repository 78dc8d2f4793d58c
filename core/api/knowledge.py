"""The knowledge base the copilot grounds drafts in: articles (title, markdown body, tags),
read by everyone, written by supervisors and admins, searched by words."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from core.api.routing import STAFF, Api, Call
from core.copilot.bm25 import BM25Index
from core.copilot.knowledge import search_text
from core.copilot.service import COPILOT
from core.copilot.text import fold, words
from core.storage.models import KnowledgeArticle
from core.views import View
from zapdesk.errors import NotFound

api = Api()
TAGS = ("knowledge",)
MAX_BODY = 20_000
MAX_TAGS = 20
SEARCH_SCAN = 500  # candidates ranked for one search


class ArticleOut(View):
    id: int
    title: str
    body: str = Field(description="Markdown.")
    tags: list[str]
    created_at: datetime
    updated_at: datetime


def _title(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("the title is empty")
    return value


def _tags(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    cleaned = [" ".join(tag.split()).lower() for tag in value]
    if any(not 1 <= len(tag) <= 40 for tag in cleaned):
        raise ValueError("tags have 1 to 40 characters")
    return list(dict.fromkeys(cleaned))


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    body: str = Field("", max_length=MAX_BODY, description="Markdown.")
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)

    @field_validator("title")
    @classmethod
    def _clean_title(cls, value: str) -> str:
        return _title(value)

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, value: list[str]) -> list[str]:
        return _tags(value) or []


class ArticleEdit(BaseModel):
    """Only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=200)
    body: str | None = Field(None, max_length=MAX_BODY)
    tags: list[str] | None = Field(None, max_length=MAX_TAGS)

    @field_validator("title")
    @classmethod
    def _clean_title(cls, value: str | None) -> str | None:
        return None if value is None else _title(value)

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, value: list[str] | None) -> list[str] | None:
        return _tags(value)

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class KnowledgeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, max_length=200, description="Words in the title, body or tags.")
    tag: str | None = Field(None, max_length=40)
    limit: int = Field(50, ge=1, le=200)


class ArticleList(BaseModel):
    items: list[ArticleOut] = Field(description="Best match first; newest first without `q`.")


def _matching(query: KnowledgeQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for word in fold(query.q or "").split():
        conditions.append(KnowledgeArticle.search_text.contains(word, autoescape=True))
    if query.tag:
        tag = " ".join(fold(query.tag).split())
        conditions.append(KnowledgeArticle.search_text.like(f"%{tag}%"))
    return conditions


@api.operation(
    "GET",
    "/knowledge",
    summary="Knowledge-base articles, searched by words",
    query=KnowledgeQuery,
    response=ArticleList,
    tags=TAGS,
)
async def list_articles(call: Call[None, KnowledgeQuery]) -> ArticleList:
    """With `q`: articles holding every word (accents and case ignored), ranked by BM25."""
    query = call.query
    conditions = _matching(query)
    async with call.db() as db:
        found = list(
            await db.scalars(
                select(KnowledgeArticle)
                .where(*conditions)
                .order_by(KnowledgeArticle.updated_at.desc(), KnowledgeArticle.id.desc())
                .limit(SEARCH_SCAN if query.q or query.tag else query.limit)
            )
        )
    if query.tag:
        tag = " ".join(query.tag.split()).lower()
        found = [a for a in found if tag in a.tags]
    asked = words(query.q or "")
    if asked:
        index: BM25Index[KnowledgeArticle] = BM25Index()
        for article in found:
            index.add(words(f"{article.title} {article.title} {article.body}"), article)
        ranked = [hit.payload for hit in index.search(asked, query.limit)]
        found = ranked + [a for a in found if a not in ranked]
    return ArticleList(items=[ArticleOut.model_validate(a) for a in found[: query.limit]])


@api.operation(
    "POST",
    "/knowledge",
    summary="Add an article",
    roles=STAFF,
    body=ArticleIn,
    response=ArticleOut,
    status=201,
    tags=TAGS,
)
async def create_article(call: Call[ArticleIn, None]) -> ArticleOut:
    body = call.body
    async with call.db.begin() as db:
        article = KnowledgeArticle(
            title=body.title,
            body=body.body,
            tags=body.tags,
            search_text=search_text(body.title, body.body, body.tags),
        )
        db.add(article)
        await db.flush()
        out = ArticleOut.model_validate(article)
    call.request.app[COPILOT].knowledge.invalidate()
    return out


async def _article(call: Call[Any, Any], db: AsyncSession) -> KnowledgeArticle:
    article_id = call.int_param("id")
    article = await db.get(KnowledgeArticle, article_id)
    if article is None:
        raise NotFound(f"No article {article_id}.")
    return article


@api.operation("GET", "/knowledge/{id}", summary="An article", response=ArticleOut, tags=TAGS)
async def get_article(call: Call[None, None]) -> ArticleOut:
    async with call.db() as db:
        return ArticleOut.model_validate(await _article(call, db))


@api.operation(
    "PATCH",
    "/knowledge/{id}",
    summary="Edit an article",
    roles=STAFF,
    body=ArticleEdit,
    response=ArticleOut,
    tags=TAGS,
)
async def edit_article(call: Call[ArticleEdit, None]) -> ArticleOut:
    async with call.db.begin() as db:
        article = await _article(call, db)
        for name, value in call.body.changes().items():
            if value is not None:
                setattr(article, name, value)
        article.search_text = search_text(article.title, article.body, article.tags)
        await db.flush()
        await db.refresh(article)
        out = ArticleOut.model_validate(article)
    call.request.app[COPILOT].knowledge.invalidate()
    return out


@api.operation(
    "DELETE", "/knowledge/{id}", summary="Delete an article", roles=STAFF, status=204, tags=TAGS
)
async def delete_article(call: Call[None, None]) -> None:
    async with call.db.begin() as db:
        article = await _article(call, db)
        await db.delete(article)
    call.request.app[COPILOT].knowledge.invalidate()
