"""What the buyers API reads and writes."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from backend.buyers.models import Buyer, BuyerContact
from backend.buyers.service import BuyerInput
from backend.invoices.schemas import BalanceOut, amount_text, checked_decimal
from backend.invoices.service import BuyerBalance

Reference = Annotated[str, msgspec.Meta(max_length=64, description="The supplier's own customer number")]
LegalName = Annotated[str, msgspec.Meta(max_length=300)]
Country = Annotated[str, msgspec.Meta(max_length=2, description="ISO 3166 alpha-2, such as CN")]
Currency = Annotated[str, msgspec.Meta(max_length=3, description="ISO 4217, such as CNY")]
Identifier = Annotated[str, msgspec.Meta(max_length=64)]
Terms = Annotated[int, msgspec.Meta(ge=0, le=365, description="Days from the issue date")]
CreditLimit = Annotated[Decimal, msgspec.Meta(description='An amount as a string ("500000.00") or a JSON number')]
Tag = Annotated[str, msgspec.Meta(max_length=40)]


class ExternalId(msgspec.Struct, forbid_unknown_fields=True):
    scheme: Annotated[str, msgspec.Meta(max_length=40, description="Whose id: insurer, bureau, DUNS…")]
    value: Annotated[str, msgspec.Meta(max_length=100)]


class BuyerIn(msgspec.Struct, forbid_unknown_fields=True):
    reference: Reference
    legal_name: LegalName
    country: Country
    currency: Currency
    payment_terms_days: Terms = 30
    vat_number: Identifier | None = None
    registration_number: Identifier | None = None
    external_ids: Annotated[list[ExternalId], msgspec.Meta(max_length=20)] = []
    credit_limit: CreditLimit | None = None
    parent_id: uuid.UUID | None = None
    tags: Annotated[list[Tag], msgspec.Meta(max_length=20)] = []

    def to_input(self) -> BuyerInput:
        return BuyerInput(
            reference=self.reference,
            legal_name=self.legal_name,
            country=self.country,
            currency=self.currency,
            payment_terms_days=self.payment_terms_days,
            vat_number=self.vat_number,
            registration_number=self.registration_number,
            external_ids=[{"scheme": e.scheme, "value": e.value} for e in self.external_ids],
            credit_limit=checked_decimal(self.credit_limit, "credit_limit"),
            parent_id=self.parent_id,
            tags=list(self.tags),
        )


class BuyerPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields sent change; `null` clears an optional one."""

    reference: Reference | UnsetType = UNSET
    legal_name: LegalName | UnsetType = UNSET
    country: Country | UnsetType = UNSET
    currency: Currency | UnsetType = UNSET
    payment_terms_days: Terms | UnsetType = UNSET
    vat_number: Identifier | UnsetType | None = UNSET
    registration_number: Identifier | UnsetType | None = UNSET
    external_ids: Annotated[list[ExternalId], msgspec.Meta(max_length=20)] | UnsetType = UNSET
    credit_limit: CreditLimit | UnsetType | None = UNSET
    parent_id: uuid.UUID | UnsetType | None = UNSET
    tags: Annotated[list[Tag], msgspec.Meta(max_length=20)] | UnsetType = UNSET

    def onto(self, buyer: Buyer) -> BuyerInput:
        current = BuyerIn(
            reference=buyer.reference,
            legal_name=buyer.legal_name,
            country=buyer.country,
            currency=buyer.currency,
            payment_terms_days=buyer.payment_terms_days,
            vat_number=buyer.vat_number,
            registration_number=buyer.registration_number,
            external_ids=[ExternalId(**e) for e in buyer.external_ids or []],
            credit_limit=buyer.credit_limit,
            parent_id=buyer.parent_id,
            tags=list(buyer.tags or []),
        )
        changes = {name: value for name, value in msgspec.structs.asdict(self).items() if value is not UNSET}
        return msgspec.structs.replace(current, **changes).to_input()


@dataclass
class ExternalIdOut:
    scheme: str
    value: str


@dataclass
class BuyerOut:
    id: uuid.UUID
    reference: str
    legal_name: str
    vat_number: str | None
    registration_number: str | None
    external_ids: list[ExternalIdOut]
    country: str
    currency: str
    payment_terms_days: int
    credit_limit: str | None
    parent_id: uuid.UUID | None
    tags: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, buyer: Buyer) -> BuyerOut:
        return cls(
            buyer.id,
            buyer.reference,
            buyer.legal_name,
            buyer.vat_number,
            buyer.registration_number,
            [ExternalIdOut(e["scheme"], e["value"]) for e in buyer.external_ids or []],
            buyer.country,
            buyer.currency,
            buyer.payment_terms_days,
            amount_text(buyer.credit_limit, buyer.currency),
            buyer.parent_id,
            list(buyer.tags or []),
            buyer.created_at,
            buyer.updated_at,
        )


@dataclass
class BuyerBalanceOut(BalanceOut):
    open_invoices: int
    on_account: str

    @classmethod
    def of_buyer(cls, balance: BuyerBalance) -> BuyerBalanceOut:
        return cls(
            **vars(BalanceOut.of(balance)),
            open_invoices=balance.open_invoices,
            on_account=amount_text(balance.on_account, balance.currency),
        )


@dataclass
class BuyerDetailOut(BuyerOut):
    balances: list[BuyerBalanceOut]


@dataclass
class BuyerPage:
    items: list[BuyerOut]
    total: int
    limit: int
    offset: int


class ContactIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(max_length=200)]
    email: Annotated[str, msgspec.Meta(max_length=320)]
    language: Annotated[str, msgspec.Meta(max_length=8, description="en or zh-CN")] = "en"
    role: Annotated[str, msgspec.Meta(max_length=100, description="Their job: AP clerk, controller…")] | None = None


# not_invited; invited (may sign in to the buyer portal); withdrawn (was invited, may no longer sign in).
PortalStatus = Literal["not_invited", "invited", "withdrawn"]


def portal_status(contact: BuyerContact) -> PortalStatus:
    if contact.portal_invited_at is None:
        return "not_invited"
    return "withdrawn" if contact.portal_revoked_at is not None else "invited"


@dataclass
class ContactOut:
    id: uuid.UUID
    buyer_id: uuid.UUID
    name: str
    email: str
    language: str
    role: str | None
    created_at: dt.datetime
    portal_status: PortalStatus
    portal_invited_at: dt.datetime | None
    portal_revoked_at: dt.datetime | None

    @classmethod
    def of(cls, contact: BuyerContact) -> ContactOut:
        return cls(
            contact.id,
            contact.buyer_id,
            contact.name,
            contact.email,
            contact.language,
            contact.role,
            contact.created_at,
            portal_status(contact),
            contact.portal_invited_at,
            contact.portal_revoked_at,
        )


@dataclass
class ContactList:
    items: list[ContactOut]
