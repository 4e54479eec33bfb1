"""Every actor, declared on the broker. `dramatiq workers.actors` and `accord worker` load this."""

from workers import disputes, escalation, invoices, maintenance, notifications, payments, portal, tenants
from workers.broker import broker

__all__ = ["broker", "disputes", "escalation", "invoices", "maintenance", "notifications", "payments", "portal", "tenants"]
