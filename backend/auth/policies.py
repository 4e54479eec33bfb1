"""What each role may do. Checked by services, so the API and the pages refuse the same things."""

from __future__ import annotations

from enum import StrEnum

from backend.auth.principal import Principal, PrincipalKind
from backend.errors import PermissionDenied
from backend.i18n import _
from backend.tenants.models import Role


class Permission(StrEnum):
    MANAGE_TEAM = "manage_team"
    MANAGE_API_KEYS = "manage_api_keys"
    READ_AUDIT = "read_audit"
    READ_TEAM = "read_team"
    READ_LEDGER = "read_ledger"
    # Buyers, orders, deliveries, invoices, payments and adjustments; imports.
    EDIT_LEDGER = "edit_ledger"
    # Credit notes, write-offs, credit limits and the invoice-audit settings.
    APPROVE_LEDGER = "approve_ledger"
    # Register and work dispute cases: move, assign, message the buyer, propose, resolve.
    WORK_DISPUTES = "work_disputes"
    # Answer evaluation tasks and write internal notes on a case (collaborators from sales, logistics, quality).
    CONTRIBUTE_DISPUTES = "contribute_disputes"


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(Permission),
    Role.CREDIT_MANAGER: frozenset(
        {
            Permission.READ_AUDIT,
            Permission.READ_TEAM,
            Permission.READ_LEDGER,
            Permission.EDIT_LEDGER,
            Permission.APPROVE_LEDGER,
            Permission.WORK_DISPUTES,
            Permission.CONTRIBUTE_DISPUTES,
        }
    ),
    Role.COLLECTOR: frozenset(
        {
            Permission.READ_TEAM,
            Permission.READ_LEDGER,
            Permission.EDIT_LEDGER,
            Permission.WORK_DISPUTES,
            Permission.CONTRIBUTE_DISPUTES,
        }
    ),
    Role.COLLABORATOR: frozenset({Permission.READ_TEAM, Permission.READ_LEDGER, Permission.CONTRIBUTE_DISPUTES}),
    Role.VIEWER: frozenset({Permission.READ_TEAM, Permission.READ_LEDGER}),
}

# Roles an API key may carry: keys act for integrations, never as owners.
API_KEY_ROLES = (Role.ADMIN, Role.CREDIT_MANAGER, Role.COLLECTOR, Role.VIEWER)


def can(principal: Principal, permission: Permission) -> bool:
    # People outside the team (buyers' contacts, insurers) hold none of the team's rights, whatever
    # role their principal carries: what they may do is checked by the services made for them.
    if principal.kind in (PrincipalKind.BUYER_CONTACT, PrincipalKind.INSURER_USER):
        return False
    return permission in _GRANTS[principal.role]


def role_can(role: Role, permission: Permission) -> bool:
    """For choosing people (a case's owner, a task's assignee): what their role would let them do."""
    return permission in _GRANTS[role]


def require(principal: Principal, permission: Permission) -> None:
    if not can(principal, permission):
        raise PermissionDenied(_("Your role does not allow this."))
