"""Imports every area's models so metadata (Alembic, tests) sees the whole schema."""

from backend.audit.models import AuditEvent
from backend.auth.models import ApiKey, SignInSession, SignInThrottle
from backend.buyers.models import Buyer, BuyerContact
from backend.db.base import Model, TenantOwned
from backend.invoices.models import (
    Allocation,
    Delivery,
    Invoice,
    InvoiceCheckSetting,
    InvoiceImport,
    InvoiceLine,
    LedgerEntry,
    OrderLine,
    PurchaseOrder,
    StoredFile,
)
from backend.jobs.models import JobExecution, OutboxJob, SchedulerTick
from backend.tenants.models import Membership, Tenant, User

__all__ = [
    "Allocation",
    "ApiKey",
    "AuditEvent",
    "Buyer",
    "BuyerContact",
    "Delivery",
    "Invoice",
    "InvoiceCheckSetting",
    "InvoiceImport",
    "InvoiceLine",
    "JobExecution",
    "LedgerEntry",
    "Membership",
    "Model",
    "OrderLine",
    "OutboxJob",
    "PurchaseOrder",
    "SchedulerTick",
    "SignInSession",
    "SignInThrottle",
    "StoredFile",
    "Tenant",
    "TenantOwned",
    "User",
]
