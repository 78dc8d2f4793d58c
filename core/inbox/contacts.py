"""Who a WhatsApp identity is: phone-number and ``@lid`` JIDs resolve to one contact.

WhatsApp addresses one person by a phone-number JID and by a LID; an event may carry either or
both (``Peer``). Each JID is a ``ContactIdentity`` row; when an event shows that two contacts
are the same person, they are merged into the older one (identities and conversations move).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable
from functools import lru_cache
from typing import Any

import structlog
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.inbox.sql import among, chunked
from core.inbox.text import clipped
from core.storage.models import Contact, ContactIdentity, IdentityKind
from core.storage.rows import ContactRow, IdentityRow, insert_rows, store_changes
from sessions.events import Peer

log = structlog.get_logger("core.inbox.contacts")

PN_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"
NAME_MAX = 120
PHONE_MAX = 20

Identities = dict[str, IdentityKind]
MergeHook = Callable[[ContactRow, ContactRow], Awaitable[None]]


# A desk hears the same people all day: their JIDs are worked out once (bounded memory).
@lru_cache(maxsize=1 << 16)
def canonical(jid: str) -> str:
    """The JID without its device part: ``5511...:12@s.whatsapp.net`` → ``5511...@s...``."""
    user, at, server = jid.strip().partition("@")
    return f"{user.split(':', 1)[0]}{at}{server}"


@lru_cache(maxsize=1 << 16)
def identity_kind(jid: str) -> IdentityKind | None:
    server = jid.rpartition("@")[2]
    if server == PN_SERVER:
        return IdentityKind.PHONE
    if server == LID_SERVER:
        return IdentityKind.LID
    return None  # groups, broadcasts, newsletters: not a person


def phone_of(jid: str) -> str | None:
    """The digits of a phone-number JID, as the contact's phone."""
    digits = "".join(c for c in jid.partition("@")[0] if c.isdigit())
    return digits[:PHONE_MAX] or None


def identities_of(peers: Iterable[Peer]) -> Identities:
    """Every person-JID the peers carry, in a stable order."""
    found: Identities = {}
    for peer in peers:
        for jid in (peer.pn, peer.lid, peer.jid):
            if jid:
                jid = canonical(jid)
                kind = identity_kind(jid)
                if kind is not None:
                    found.setdefault(jid, kind)
    return found


async def contacts_by_id(db: AsyncSession, ids: Collection[int]) -> dict[int, ContactRow]:
    """The contacts with these ids, each with all of its identities."""
    found: dict[int, ContactRow] = {}
    for chunk in chunked(ids):
        found.update(await _contacts_where(db, among(db, _CONTACT.id, chunk)))
    return found


async def contacts_by_jid(db: AsyncSession, jids: Collection[str]) -> dict[int, ContactRow]:
    """The contacts any of these JIDs belong to, each with all of its identities."""
    found: dict[int, ContactRow] = {}
    for chunk in chunked(jids):
        owners = select(_IDENTITY.contact_id).where(among(db, _IDENTITY.jid, chunk))
        found.update(await _contacts_where(db, _CONTACT.id.in_(owners.scalar_subquery())))
    return found


_CONTACT, _IDENTITY = ContactRow.table.c, IdentityRow.table.c
# Each contact with its identities in one statement: one row per identity.
_IDENTITY_FIELDS = [(name, f"identity_{name}") for name in IdentityRow.selected_names()]
_IDENTITY_COLUMNS = [_IDENTITY[name].label(label) for name, label in _IDENTITY_FIELDS]
_CONTACT_NAMES = ContactRow.selected_names()


async def _contacts_where(db: AsyncSession, condition: Any) -> dict[int, ContactRow]:
    statement = (
        select(*ContactRow.selected(), *_IDENTITY_COLUMNS)
        .select_from(
            ContactRow.table.outerjoin(IdentityRow.table, _IDENTITY.contact_id == _CONTACT.id)
        )
        .where(condition)
    )
    contacts: dict[int, ContactRow] = {}
    for row in (await db.execute(statement)).mappings():
        contact = contacts.get(row["id"])
        if contact is None:
            contact = ContactRow.loaded({name: row[name] for name in _CONTACT_NAMES})
            contacts[row["id"]] = contact
        if row["identity_id"] is not None:
            identity = {name: row[label] for name, label in _IDENTITY_FIELDS}
            contact.identities.append(IdentityRow.loaded(identity))
    return contacts


def _order(contact: ContactRow) -> tuple[int, int]:
    # The oldest stored contact survives a merge; one not yet stored only if all are new.
    return (0, contact.id) if contact.id is not None else (1, 0)


class ContactBook:
    """The contacts one batch touches, by JID, with creation, linking and merging."""

    def __init__(
        self, db: AsyncSession, owners: dict[str, ContactRow], on_merge: MergeHook
    ) -> None:
        self._db = db
        self._owners = owners
        self._on_merge = on_merge
        self._merged_into: dict[ContactRow, ContactRow] = {}
        self._created: dict[ContactRow, None] = {}

    def owner(self, jid: str) -> ContactRow | None:
        contact = self._owners.get(canonical(jid))
        return None if contact is None else self.current(contact)

    def current(self, contact: ContactRow) -> ContactRow:
        """The contact as it stands now: a merged one answers the one it went into."""
        while contact in self._merged_into:
            contact = self._merged_into[contact]
        return contact

    def known(self) -> dict[int, ContactRow]:
        return {c.id: c for c in self._owners.values() if c.id is not None}

    async def store(self) -> None:
        """Writes the batch's contacts: new ones with their identities, and changed ones."""
        await insert_rows(self._db, list(self._created))
        contacts = dict.fromkeys(self.current(c) for c in self._owners.values())
        new: list[IdentityRow] = []
        for contact in contacts:
            for identity in contact.identities:
                if identity.was is None:  # not stored yet
                    identity.contact_id = contact.id
                    new.append(identity)
        await insert_rows(self._db, new, ids=False)
        await store_changes(self._db, contacts)

    async def identify(
        self, identities: Identities, name: str | None, *, rename: bool = True
    ) -> tuple[ContactRow, bool]:
        """The one contact these identities belong to (created, linked or merged as needed),
        and whether anything changed. ``rename``: the name is the one the person uses now (a
        new message), not only a name to fall back on (a contact update, which the gateway
        may deliver again later)."""
        found: list[ContactRow] = []
        for jid in identities:
            contact = self.owner(jid)
            if contact is not None and contact not in found:
                found.append(contact)
        changed = False
        if not found:
            contact = ContactRow()
            self._created[contact] = None
            changed = True
        else:
            found.sort(key=_order)
            contact = found[0]
            for other in found[1:]:
                await self._merge(contact, other)
                changed = True
        for jid, kind in identities.items():
            if jid not in self._owners or self.current(self._owners[jid]) is not contact:
                contact.identities.append(IdentityRow(contact_id=contact.id, jid=jid, kind=kind))
                self._owners[jid] = contact
                changed = True
        push_name = clipped(name, NAME_MAX) if name else None
        if push_name and push_name != contact.push_name and (rename or not contact.push_name):
            contact.push_name = push_name
            changed = True
        if contact.phone is None:
            phone = next(
                (phone_of(j) for j, k in identities.items() if k is IdentityKind.PHONE), None
            )
            if phone is not None:
                contact.phone = phone
                changed = True
        return contact, changed

    async def _merge(self, survivor: ContactRow, loser: ContactRow) -> None:
        """Folds ``loser`` into ``survivor``: the same person seen under two identities."""
        for identity in loser.identities:
            identity.contact_id = survivor.id
            survivor.identities.append(identity)
            self._owners[identity.jid] = survivor
        loser.identities = []
        survivor.name = survivor.name or loser.name
        survivor.push_name = survivor.push_name or loser.push_name
        survivor.phone = survivor.phone or loser.phone
        survivor.email = survivor.email or loser.email
        survivor.attributes = {**loser.attributes, **survivor.attributes}
        self._merged_into[loser] = survivor
        if loser.id is None:  # created earlier in this batch: it was never stored
            del self._created[loser]
            return
        await self._db.execute(
            update(ContactIdentity)
            .where(ContactIdentity.contact_id == loser.id)
            .values(contact_id=survivor.id)
        )
        await self._on_merge(survivor, loser)
        await self._db.execute(delete(Contact).where(Contact.id == loser.id))
        log.info("contacts_merged", contact_id=survivor.id, merged_id=loser.id)
