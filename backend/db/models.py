"""Imports every area's models so metadata (Alembic, tests) sees the whole schema."""

from backend.audit.models import AuditEvent
from backend.auth.models import ApiKey, SignInSession, SignInThrottle
from backend.buyers.models import Buyer, BuyerContact
from backend.db.base import Model, TenantOwned
from backend.disputes.models import (
    Approval,
    ChecklistAnswer,
    DisputeCase,
    DisputeCode,
    DisputeEvent,
    DisputeItem,
    DisputeMessage,
    DisputeSettings,
    DisputeTask,
    Instalment,
    Proposal,
    ProposalOption,
    RoutingRule,
)
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
from backend.notifications.models import DigestRecord, Notice, NotificationPreference, OutgoingMail
from backend.payments.models import CardDispute, PaymentAccount, PaymentAttempt, StripeEvent, TenantSubscription
from backend.tenants.models import Membership, Tenant, User

__all__ = [
    "Allocation",
    "ApiKey",
    "Approval",
    "AuditEvent",
    "Buyer",
    "BuyerContact",
    "CardDispute",
    "ChecklistAnswer",
    "Delivery",
    "DigestRecord",
    "DisputeCase",
    "DisputeCode",
    "DisputeEvent",
    "DisputeItem",
    "DisputeMessage",
    "DisputeSettings",
    "DisputeTask",
    "Instalment",
    "Invoice",
    "InvoiceCheckSetting",
    "InvoiceImport",
    "InvoiceLine",
    "JobExecution",
    "LedgerEntry",
    "Membership",
    "Model",
    "Notice",
    "NotificationPreference",
    "OrderLine",
    "OutboxJob",
    "OutgoingMail",
    "PaymentAccount",
    "PaymentAttempt",
    "Proposal",
    "ProposalOption",
    "PurchaseOrder",
    "RoutingRule",
    "SchedulerTick",
    "SignInSession",
    "SignInThrottle",
    "StoredFile",
    "StripeEvent",
    "Tenant",
    "TenantOwned",
    "TenantSubscription",
    "User",
]
