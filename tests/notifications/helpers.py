"""Notification test helpers: a buyer with a contact, notices made through `notify`, mails rendered as sent."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from backend.buyers import service as buyers
from backend.jobs.models import OutboxJob
from backend.notifications.models import Notice, OutgoingMail
from backend.notifications.notify import notify
from tests.conftest import Supplier
from tests.disputes.helpers import uow
from tests.factories import make_buyer, owner_of

REMINDER = {"case_number": "D-0007", "timer": "respond", "due_on": "2026-12-01"}


async def buyer_with_contact(
    supplier: Supplier, email_address: str = "li.na@buyer.example", *, language: str = "en"
) -> tuple[uuid.UUID, uuid.UUID]:
    buyer_id = await make_buyer(supplier)
    async with uow(supplier) as session:
        contact = await buyers.add_contact(
            session, owner_of(supplier), buyer_id, name="Li Na", email=email_address, language=language
        )
    return buyer_id, contact.id


async def tell(supplier: Supplier, kind: str = "case.reminder_owner", params: dict | None = None, **recipients) -> None:
    async with uow(supplier) as session:
        await notify(session, kind=kind, case_id=recipients.pop("case_id", None), params=params or REMINDER, **recipients)


async def notices_of(supplier: Supplier) -> list[Notice]:
    async with uow(supplier) as session:
        return list((await session.scalars(select(Notice).order_by(Notice.created_at))).all())


async def mails_of(supplier: Supplier) -> list[OutgoingMail]:
    async with uow(supplier) as session:
        return list((await session.scalars(select(OutgoingMail).order_by(OutgoingMail.created_at))).all())


async def send_jobs_of(supplier: Supplier) -> list[OutboxJob]:
    async with uow(supplier) as session:
        return list((await session.scalars(select(OutboxJob).where(OutboxJob.actor == "notifications.send"))).all())
