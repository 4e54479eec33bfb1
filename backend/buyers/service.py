"""Buyers and their contacts: the only code that changes them."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth.policies import Permission, require
from backend.auth.principal import Principal
from backend.buyers.models import Buyer, BuyerContact
from backend.buyers.repository import BuyerRepository
from backend.db.base import utcnow
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.i18n import _, normalise
from backend.money import is_currency, parse_decimal, storable
from backend.payments import subscriptions
from backend.tenants.service import normalise_email

_COUNTRY = re.compile(r"^[A-Z]{2}$")
MAX_TAGS, MAX_EXTERNAL_IDS = 20, 20


@dataclass
class BuyerInput:
    reference: str
    legal_name: str
    country: str
    currency: str
    payment_terms_days: int = 30
    vat_number: str | None = None
    registration_number: str | None = None
    external_ids: list[dict] = field(default_factory=list)
    credit_limit: Decimal | str | None = None
    parent_id: uuid.UUID | None = None
    tags: list[str] = field(default_factory=list)


def buyer_view(buyer: Buyer) -> dict:
    return {
        "reference": buyer.reference,
        "legal_name": buyer.legal_name,
        "vat_number": buyer.vat_number,
        "registration_number": buyer.registration_number,
        "external_ids": buyer.external_ids,
        "country": buyer.country,
        "currency": buyer.currency,
        "payment_terms_days": buyer.payment_terms_days,
        "credit_limit": None if buyer.credit_limit is None else str(buyer.credit_limit),
        "parent_id": None if buyer.parent_id is None else str(buyer.parent_id),
        "tags": buyer.tags,
    }


def _clean(value: str | None, limit: int, field_name: str) -> str | None:
    value = (value or "").strip()
    if len(value) > limit:
        raise ValidationFailed(
            _("%(field)s is longer than %(limit)s characters."), field=field_name, params={"field": field_name, "limit": limit}
        )
    return value or None


async def _validated(session: AsyncSession, data: BuyerInput, buyer_id: uuid.UUID | None) -> dict:
    reference = _clean(data.reference, 64, "reference")
    if not reference:
        raise ValidationFailed(_("Enter the buyer's customer number."), field="reference")
    legal_name = _clean(data.legal_name, 300, "legal_name")
    if not legal_name:
        raise ValidationFailed(_("Enter the buyer's legal name."), field="legal_name")
    country = (data.country or "").strip().upper()
    if not _COUNTRY.match(country):
        raise ValidationFailed(_("Enter the country as a two-letter ISO code, such as CN or DE."), field="country")
    currency = (data.currency or "").strip().upper()
    if not is_currency(currency):
        raise ValidationFailed(_("Unknown currency code: %(value)s."), field="currency", params={"value": data.currency or ""})
    try:
        terms = int(data.payment_terms_days)
    except (TypeError, ValueError):
        terms = -1
    if not 0 <= terms <= 365:
        raise ValidationFailed(_("Payment terms are a number of days from 0 to 365."), field="payment_terms_days")
    credit_limit = None
    if data.credit_limit not in (None, ""):
        credit_limit = parse_decimal(data.credit_limit)
        if credit_limit is None or credit_limit < 0 or not storable(credit_limit):
            raise ValidationFailed(_("The credit limit must be an amount of zero or more."), field="credit_limit")
    tags = sorted({t.strip()[:40] for t in (data.tags or []) if isinstance(t, str) and t.strip()})
    if len(tags) > MAX_TAGS:
        raise ValidationFailed(_("A buyer has at most 20 tags."), field="tags")
    external_ids = []
    for item in data.external_ids or []:
        scheme = str((item or {}).get("scheme", "")).strip()[:40]
        value = str((item or {}).get("value", "")).strip()[:100]
        if not scheme or not value:
            raise ValidationFailed(_("Each external id needs a scheme and a value."), field="external_ids")
        external_ids.append({"scheme": scheme, "value": value})
    if len(external_ids) > MAX_EXTERNAL_IDS:
        raise ValidationFailed(_("A buyer has at most 20 external ids."), field="external_ids")
    repository = BuyerRepository(session)
    existing = await repository.by_reference(reference)
    if existing is not None and existing.id != buyer_id:
        raise Conflict(_("Another buyer already has this customer number."), field="reference")
    if data.parent_id is not None:
        if data.parent_id == buyer_id:
            raise ValidationFailed(_("A buyer cannot be its own parent company."), field="parent_id")
        parent = await repository.get(data.parent_id)
        if parent is None:
            raise ValidationFailed(_("The parent company is not one of your buyers."), field="parent_id")
    return {
        "reference": reference,
        "legal_name": legal_name,
        "vat_number": _clean(data.vat_number, 64, "vat_number"),
        "registration_number": _clean(data.registration_number, 64, "registration_number"),
        "external_ids": external_ids,
        "country": country,
        "currency": currency,
        "payment_terms_days": terms,
        "credit_limit": credit_limit,
        "parent_id": data.parent_id,
        "tags": tags,
    }


async def create_buyer(session: AsyncSession, principal: Principal, data: BuyerInput) -> Buyer:
    require(principal, Permission.EDIT_LEDGER)
    values = await _validated(session, data, None)
    if values["credit_limit"] is not None:
        require(principal, Permission.APPROVE_LEDGER)
    await subscriptions.check_room(session, principal, "buyers")
    buyer = Buyer(**values)
    session.add(buyer)
    await session.flush()
    audit.record(session, principal.actor(), "buyer.created", "buyer", buyer.id, after=buyer_view(buyer))
    return buyer


async def update_buyer(session: AsyncSession, principal: Principal, buyer_id: uuid.UUID, data: BuyerInput) -> Buyer:
    require(principal, Permission.EDIT_LEDGER)
    buyer = await get_buyer(session, principal, buyer_id, for_update=True)
    values = await _validated(session, data, buyer.id)
    if values["credit_limit"] != buyer.credit_limit:
        # A credit limit is a credit decision, not a data correction.
        require(principal, Permission.APPROVE_LEDGER)
    before = buyer_view(buyer)
    for name, value in values.items():
        setattr(buyer, name, value)
    after = buyer_view(buyer)
    if after != before:
        buyer.updated_at = utcnow()
        await session.flush()
        audit.record(session, principal.actor(), "buyer.updated", "buyer", buyer.id, before=before, after=after)
    return buyer


async def get_buyer(session: AsyncSession, principal: Principal, buyer_id: uuid.UUID, *, for_update: bool = False) -> Buyer:
    require(principal, Permission.READ_LEDGER)
    buyer = await BuyerRepository(session).get(buyer_id, for_update=for_update)
    if buyer is None:
        raise NotFound(_("Not found."))
    return buyer


async def list_buyers(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int = 50,
    offset: int = 0,
    query: str | None = None,
    country: str | None = None,
    tag: str | None = None,
):
    require(principal, Permission.READ_LEDGER)
    return await BuyerRepository(session).page(limit=limit, offset=offset, query=query, country=country, tag=tag)


# --- contacts ------------------------------------------------------------------------------

CONTACT_LANGUAGES = ("en", "zh-CN")


def contact_view(contact: BuyerContact) -> dict:
    return {"name": contact.name, "email": contact.email, "language": contact.language, "role": contact.role}


async def add_contact(
    session: AsyncSession,
    principal: Principal,
    buyer_id: uuid.UUID,
    *,
    name: str,
    email: str,
    language: str = "en",
    role: str | None = None,
) -> BuyerContact:
    require(principal, Permission.EDIT_LEDGER)
    buyer = await get_buyer(session, principal, buyer_id)
    name = _clean(name, 200, "name")
    if not name:
        raise ValidationFailed(_("Enter the contact's name."), field="name")
    email = normalise_email(email)
    chosen = normalise(language)
    if chosen not in CONTACT_LANGUAGES:
        raise ValidationFailed(_("Choose English or Simplified Chinese."), field="language")
    if await BuyerRepository(session).contact_by_email(buyer.id, email):
        raise Conflict(_("This buyer already has a contact with this e-mail address."), field="email")
    contact = BuyerContact(buyer_id=buyer.id, name=name, email=email, language=chosen, role=_clean(role, 100, "role"))
    session.add(contact)
    await session.flush()
    audit.record(session, principal.actor(), "buyer.contact_added", "buyer", buyer.id, after=contact_view(contact))
    return contact


async def remove_contact(session: AsyncSession, principal: Principal, buyer_id: uuid.UUID, contact_id: uuid.UUID) -> None:
    require(principal, Permission.EDIT_LEDGER)
    buyer = await get_buyer(session, principal, buyer_id)
    contact = await BuyerRepository(session).contact(buyer.id, contact_id)
    if contact is None:
        raise NotFound(_("Not found."))
    before = contact_view(contact)
    await session.delete(contact)
    audit.record(session, principal.actor(), "buyer.contact_removed", "buyer", buyer.id, before=before)


async def list_contacts(session: AsyncSession, principal: Principal, buyer_id: uuid.UUID):
    buyer = await get_buyer(session, principal, buyer_id)
    return await BuyerRepository(session).contacts(buyer.id)
