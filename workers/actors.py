"""Every actor, declared on the broker. `dramatiq workers.actors` and `accord worker` load this."""

from workers import disputes, invoices, maintenance, notifications, payments, portal, tenants
from workers.broker import broker

__all__ = ["broker", "disputes", "invoices", "maintenance", "notifications", "payments", "portal", "tenants"]
