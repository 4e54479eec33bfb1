"""`accord demo seed` gives a newcomer realistic data, once."""

from __future__ import annotations

from datetime import date

import pytest

from backend.db.uow import all_tenants_unit_of_work
from backend.demo import seed
from backend.tenants.repository import TenantRepository


async def test_demo_seed_creates_both_suppliers_once_and_prints_the_sign_in(client):
    printed: list[str] = []
    await seed.run(echo=printed.append)
    await seed.run(echo=printed.append)
    assert printed.count("demo data created") == 1 and "demo data is already there" in printed
    async with all_tenants_unit_of_work("test: demo tenants") as session:
        for supplier in seed.SUPPLIERS:
            assert (await TenantRepository(session).by_slug(supplier["slug"])).name == supplier["name"]
    password = next(line.split()[-1] for line in printed if line.strip().startswith("password"))
    from tests.conftest import Person, sign_in

    await sign_in(client, Person(seed.DEMO_LOGIN, password, None, None))
    home = await client.get("/console")
    assert "华东精密制造有限公司" in home.text and "Nordlicht Components GmbH" in home.text


def _bucket(invoice, today) -> str:
    overdue = (today - invoice.due_date).days
    for limit, name in ((0, "current"), (30, "1–30"), (60, "31–60"), (90, "61–90")):
        if overdue <= limit:
            return name
    return "90+"


async def test_the_demo_ledger_shows_every_status_with_balances_that_add_up(client):
    from datetime import date
    from decimal import Decimal

    from backend.buyers.repository import BuyerRepository
    from backend.db.tenancy import TenantId
    from backend.db.uow import tenant_unit_of_work
    from backend.invoices import checks
    from backend.invoices.models import EntryKind, InvoiceStatus
    from backend.invoices.repository import OPEN_STATUSES, InvoiceFilter, InvoiceRepository, LedgerRepository

    await seed.run(echo=lambda _line: None)  # once per database; a no-op when the first test seeded it
    async with all_tenants_unit_of_work("test: demo tenant") as session:
        tenant = await TenantRepository(session).by_slug(seed.SUPPLIERS[0]["slug"])
    today = date.today()
    async with tenant_unit_of_work(TenantId(tenant.id)) as session:
        buyer_count, buyers = await BuyerRepository(session).page(limit=100, offset=0)
        total, invoices = await InvoiceRepository(session).page(InvoiceFilter(), limit=1000, offset=0)
        ledger = LedgerRepository(session)
        allocated = {invoice.id: await ledger.totals_by_kind(invoice.id) for invoice in invoices}
        findings = {
            invoice.number: await checks.audit_invoice(session, invoice)
            for invoice in invoices
            if invoice.status is InvoiceStatus.DRAFT
        }
        on_account = [amount for buyer in buyers for _currency, amount in await ledger.unallocated_of_buyer(buyer.id)]
        contact_languages = {c.language for buyer in buyers for c in await BuyerRepository(session).contacts(buyer.id)}

    assert 8 <= buyer_count <= 12
    assert any("有限公司" in b.legal_name for b in buyers) and any(b.legal_name.isascii() for b in buyers)
    assert all(len(b.vat_number) == 18 for b in buyers if b.country == "CN")
    assert any(b.parent_id for b in buyers) and any(b.external_ids for b in buyers) and any(b.tags for b in buyers)
    assert {b.payment_terms_days for b in buyers} == {30, 45, 60}
    assert contact_languages == {"zh-CN", "en"}

    assert 60 <= total <= 120
    assert {i.currency for i in invoices} == {"CNY", "USD"}
    assert {i.status for i in invoices} >= {
        InvoiceStatus.DRAFT,
        InvoiceStatus.ISSUED,
        InvoiceStatus.PARTIALLY_PAID,
        InvoiceStatus.PAID,
        InvoiceStatus.CREDITED,
        InvoiceStatus.WRITTEN_OFF,
    }
    open_invoices = [i for i in invoices if i.status in OPEN_STATUSES]
    assert {_bucket(i, today) for i in open_invoices} == {"current", "1–30", "31–60", "61–90", "90+"}
    assert (today - min(i.issue_date for i in invoices)).days >= 200

    for invoice in invoices:
        kinds = allocated[invoice.id]
        reductions = sum((amount for kind, amount in kinds.items() if kind is not EntryKind.ADJUSTMENT), Decimal(0))
        assert invoice.open_amount == invoice.gross_amount + kinds.get(EntryKind.ADJUSTMENT, Decimal(0)) - reductions, (
            invoice.number
        )
        if invoice.status in (InvoiceStatus.PAID, InvoiceStatus.CREDITED, InvoiceStatus.WRITTEN_OFF):
            assert invoice.open_amount == 0, invoice.number
    every_kind = {kind for kinds in allocated.values() for kind in kinds}
    assert every_kind == set(EntryKind)
    assert any(amount > 0 for amount in on_account)

    severities = [{f.severity for f in found} for found in findings.values()]
    assert set() in severities and {"warning"} in severities
    assert sum("blocking" in s for s in severities) >= 2


async def test_the_demo_has_an_erp_import_waiting_for_its_job_with_two_bad_rows(client):
    from backend.db.tenancy import TenantId
    from backend.db.uow import tenant_unit_of_work
    from backend.invoices.import_repository import ImportRepository
    from backend.invoices.models import ImportStatus

    await seed.run(echo=lambda _line: None)
    async with all_tenants_unit_of_work("test: demo tenant") as session:
        tenant = await TenantRepository(session).by_slug(seed.SUPPLIERS[0]["slug"])
    async with tenant_unit_of_work(TenantId(tenant.id)) as session:
        _total, records = await ImportRepository(session).recent(limit=10)
    (record,) = records
    # Confirmed: the job finishes it when `make run` starts the server with its in-process jobs.
    assert record.status is ImportStatus.QUEUED and record.format == "csv"
    assert [(e["row"], e["field"]) for e in record.errors] == [(27, "issue_date"), (28, "currency")]


# --- the dispute workflow at work -------------------------------------------------------------


async def _demo_tenant(slug: str):
    from backend.db.tenancy import TenantId

    async with all_tenants_unit_of_work("test: demo tenant") as session:
        return TenantId((await TenantRepository(session).by_slug(slug)).id)


async def _demo_cases(session):
    from backend.disputes.repository import CaseFilter, DisputeRepository

    _total, rows = await DisputeRepository(session).page(CaseFilter(), limit=500, offset=0)
    return [case for case, _buyer in rows]


async def test_each_demo_supplier_has_cases_in_every_state_and_phase_across_reasons_owners_and_items(client):
    from backend.db.uow import tenant_unit_of_work
    from backend.disputes.models import DisputePhase, DisputeState
    from backend.disputes.repository import DisputeRepository

    await seed.run(echo=lambda _line: None)
    for supplier in seed.SUPPLIERS:
        async with tenant_unit_of_work(await _demo_tenant(supplier["slug"])) as session:
            # The stories' cases: the demo's card chargebacks come from Stripe's events, not from a story.
            cases = [case for case in await _demo_cases(session) if case.channel != "card"]
            items = [item for case in cases for item in await DisputeRepository(session).items(case.id)]
            rules = await DisputeRepository(session).routing_rules()
            settings = await DisputeRepository(session).settings()
            events = [event for case in cases for event in await DisputeRepository(session).events(case.id)]
        assert 15 <= len(cases) <= 30, supplier["slug"]  # with the four escalation stories (backend/demo/escalation.py)
        assert {case.state for case in cases} == set(DisputeState), supplier["slug"]
        assert {case.phase for case in cases} == set(DisputePhase), supplier["slug"]
        quality_or_delivery = sum(case.reason_code in ("quality", "late_delivery") for case in cases)
        assert 0.5 <= quality_or_delivery / len(cases) <= 0.7 and len({case.reason_code for case in cases}) >= 6
        assert any(item.invoice_line_id for item in items) and any(item.invoice_line_id is None for item in items)
        assert len({case.owner_user_id for case in cases if case.owner_user_id}) >= 4
        assert any(case.owner_user_id is None for case in cases)
        # Ages vary over the last months, and the timeline happened on the days of the story, not all at once.
        ages = sorted((date.today() - case.opened_on).days for case in cases)
        assert ages[0] <= 1 and ages[-1] >= 75 and len(set(ages)) >= 15
        assert len({event.at.date() for event in events}) >= 30
        assert len(rules) >= 2 and any(rule.pool for rule in rules)
        assert any(event.kind == "assigned" and event.data.get("routed") for event in events)
        assert settings.approval_thresholds.get(supplier_currency(supplier)) is not None


def supplier_currency(supplier: dict) -> str:
    return seed.LEDGER[supplier["slug"]]["currency"]


async def test_the_demo_work_shows_tasks_checklists_offers_answers_and_resolutions(client):
    from backend.db.uow import tenant_unit_of_work
    from backend.disputes.models import DisputeState, OptionKind, ProposalStatus, TaskStatus
    from backend.disputes.repository import DisputeRepository

    await seed.run(echo=lambda _line: None)
    today = date.today()
    for supplier in seed.SUPPLIERS:
        async with tenant_unit_of_work(await _demo_tenant(supplier["slug"])) as session:
            disputes = DisputeRepository(session)
            cases = await _demo_cases(session)
            tasks = [task for case in cases for task in await disputes.tasks(case.id)]
            checklist = [answer for case in cases for answer in await disputes.checklist(case.id)]
            proposals = [proposal for case in cases for proposal in await disputes.proposals(case.id)]
            options = await disputes.options([proposal.id for proposal in proposals])
            instalments = [i for case in cases for i in await disputes.instalments(case.id)]
            evidence = await disputes.files_of("dispute", [case.id for case in cases])
        open_tasks = [task for task in tasks if task.status is TaskStatus.OPEN]
        assert any(task.due_on < today for task in open_tasks) and any(task.due_on >= today for task in open_tasks)
        assert sum(task.status is TaskStatus.ANSWERED for task in tasks) >= 8
        assert {answer.answer for answer in checklist} == {"yes", "no", "unknown"}
        statuses = {proposal.status for proposal in proposals}
        assert {ProposalStatus.OFFERED, ProposalStatus.ACCEPTED, ProposalStatus.COUNTERED, ProposalStatus.DECLINED} <= statuses
        assert any(proposal.counter_amount for proposal in proposals)
        assert {option.kind for option in options} >= {
            OptionKind.CREDIT_NOTE,
            OptionKind.DISCOUNT,
            OptionKind.REDELIVERY,
            OptionKind.PRICE_CORRECTION,
            OptionKind.INSTALMENTS,
            OptionKind.WRITE_OFF,
            OptionKind.REJECTION,
        }
        assert any(len(option.schedule) >= 3 for option in options) and instalments
        assert {stored.content_type for stored in evidence} == {"image/png", "application/pdf"}
        resolved = [case for case in cases if case.state is DisputeState.RESOLVED]
        assert all(case.outcome for case in resolved)
        assert any(case.credited_amount > 0 for case in resolved) and any(case.written_off_amount > 0 for case in resolved)
        assert any(case.collected_amount > 0 for case in resolved)
        assert {case.root_cause_code for case in resolved if case.root_cause_code} >= {
            "product_defect",
            "pricing",
            "buyer_liquidity",
        }


async def test_the_demo_user_can_approve_a_credit_note_another_member_asked_for(client):
    from backend.db.uow import global_unit_of_work, tenant_unit_of_work
    from backend.disputes import service as disputes
    from backend.disputes.models import ApprovalStatus, DisputeState
    from backend.disputes.repository import DisputeRepository
    from backend.invoices.models import EntryKind
    from backend.invoices.repository import LedgerRepository
    from backend.tenants.repository import MembershipRepository, UserRepository

    class SeenAndRolledBack(Exception):
        pass

    await seed.run(echo=lambda _line: None)
    async with global_unit_of_work() as session:
        demo_user = await UserRepository(session).by_email(seed.DEMO_LOGIN)
    for supplier in seed.SUPPLIERS:
        tenant_id = await _demo_tenant(supplier["slug"])
        # Approved inside a unit of work that is then rolled back: the demo keeps its approval waiting.
        with pytest.raises(SeenAndRolledBack):
            async with tenant_unit_of_work(tenant_id) as session:
                membership = await MembershipRepository(session).of_user(demo_user.id)
                demo = seed._principal_for(tenant_id, demo_user, membership.role)
                (pending, case), *_others = await DisputeRepository(session).pending_approvals()
                assert pending.requested_by_user_id != demo_user.id and pending.status is ApprovalStatus.PENDING
                assert case.state is DisputeState.AGREED and pending.credit_amount > 0
                credited_before = {
                    item.invoice_id: (await LedgerRepository(session).totals_by_kind(item.invoice_id)).get(
                        EntryKind.CREDIT_NOTE, 0
                    )
                    for item in await DisputeRepository(session).items(case.id)
                }
                await disputes.decide_approval(session, demo, pending.id, approve=True)
                assert (await DisputeRepository(session).get(case.id)).state is DisputeState.RESOLVED
                credited_after = {
                    invoice_id: (await LedgerRepository(session).totals_by_kind(invoice_id)).get(EntryKind.CREDIT_NOTE, 0)
                    for invoice_id in credited_before
                }
                assert sum(credited_after.values()) - sum(credited_before.values()) == pending.credit_amount
                raise SeenAndRolledBack
        async with tenant_unit_of_work(tenant_id) as session:
            assert len(await DisputeRepository(session).pending_approvals()) == 1


async def test_demo_threads_hold_messages_in_the_buyers_language_and_notes_the_buyer_never_sees(client):
    from backend.db.uow import tenant_unit_of_work
    from backend.disputes import service as disputes
    from backend.disputes.repository import DisputeRepository

    await seed.run(echo=lambda _line: None)
    languages = {
        supplier["slug"]: {b["reference"]: b["contacts"][0][2] for b in seed.LEDGER[supplier["slug"]]["buyers"]}
        for supplier in seed.SUPPLIERS
    }
    for supplier in seed.SUPPLIERS:
        async with tenant_unit_of_work(await _demo_tenant(supplier["slug"])) as session:
            from backend.buyers.repository import BuyerRepository

            references = {b.id: b.reference for b in (await BuyerRepository(session).page(limit=100, offset=0))[1]}
            threads = []
            for case in await _demo_cases(session):
                messages = await DisputeRepository(session).messages(case.id)
                seen_by_buyer = await disputes.buyer_case_view(session, case.buyer_id, case.id)
                threads.append((case, messages, seen_by_buyer))
        notes = [m for _case, messages, _view in threads for m in messages if m.internal]
        external = [(case, m) for case, messages, _view in threads for m in messages if not m.internal]
        assert len(notes) >= 10 and len(external) >= 10
        for case, message in external:
            chinese = languages[supplier["slug"]][references[case.buyer_id]].startswith("zh")
            assert chinese == any("\u4e00" <= character <= "\u9fff" for character in message.body), (case.number, message.body)
        for _case, messages, view in threads:
            shown = {m.id for m, _files in view.messages}
            assert shown == {m.id for m in messages if not m.internal}


async def test_the_demo_ledger_holds_exactly_what_the_cases_in_progress_dispute(client):
    from backend.db.uow import tenant_unit_of_work
    from backend.disputes.models import ACTIVE_STATES
    from backend.disputes.repository import DisputeRepository
    from backend.invoices.repository import OPEN_STATUSES, InvoiceFilter, InvoiceRepository

    await seed.run(echo=lambda _line: None)
    for supplier in seed.SUPPLIERS:
        async with tenant_unit_of_work(await _demo_tenant(supplier["slug"])) as session:
            disputed: dict = {}
            for case in await _demo_cases(session):
                if case.state in ACTIVE_STATES:
                    for item in await DisputeRepository(session).items(case.id):
                        disputed[item.invoice_id] = disputed.get(item.invoice_id, 0) + item.amount - item.settled_amount
            _total, invoices = await InvoiceRepository(session).page(InvoiceFilter(), limit=1000, offset=0)
        assert len(disputed) >= 12
        for invoice in invoices:
            open_amount = invoice.open_amount if invoice.status in OPEN_STATUSES else 0
            assert invoice.disputed_amount == min(disputed.get(invoice.id, 0), open_amount), invoice.number
        # A partial dispute leaves the rest payable: a buyer paid what it does not dispute.
        assert any(0 < invoice.disputed_amount == invoice.open_amount < invoice.gross_amount for invoice in invoices)


async def test_the_demo_opens_the_buyer_portal_to_every_buyer_in_each_suppliers_colours(client):
    """Every buyer has an invited contact, each supplier its own colours and logo, one person is a contact
    at both suppliers, and `make run` says how to get in."""
    from backend.buyers.repository import BuyerRepository
    from backend.db.tenancy import TenantId
    from backend.db.uow import tenant_unit_of_work
    from backend.demo.portal import DEMO_CONTACT
    from backend.tenants.service import branding_by_slug
    from tests.buyer_portal.access_helpers import sign_in_with_password

    printed: list[str] = []
    await seed.run(echo=printed.append)  # once per database; a no-op that still prints when already seeded
    slugs = [supplier["slug"] for supplier in seed.SUPPLIERS]
    for slug in slugs:
        assert any(line.strip().endswith(f"/portal/sign-in?supplier={slug}") for line in printed)
    assert any("sign-in link" in line and "mail" in line for line in printed)
    portal_password = next(line.split()[-1] for line in printed if line.strip().startswith("portal password"))

    brands = [await branding_by_slug(slug) for slug in slugs]
    assert len({(brand.colour, brand.accent) for brand in brands}) == 2
    for brand in brands:
        logo = await client.get(f"/portal/brand/{brand.slug}/logo?v={brand.version}")
        assert logo.status_code == 200 and logo.content.startswith(b"\x89PNG\r\n\x1a\n")

    invited_names, statuses = set(), set()
    for slug in slugs:
        async with all_tenants_unit_of_work("test: a demo tenant") as session:
            tenant = await TenantRepository(session).by_slug(slug)
        async with tenant_unit_of_work(TenantId(tenant.id)) as session:
            repository = BuyerRepository(session)
            _total, buyers = await repository.page(limit=100, offset=0)
            for buyer in buyers:
                contacts = await repository.contacts(buyer.id)
                assert any(contact.portal_open for contact in contacts), buyer.legal_name
                invited_names |= {contact.name for contact in contacts if contact.portal_open}
                statuses |= {(contact.portal_invited_at is None, contact.portal_revoked_at is None) for contact in contacts}
    assert any(name.isascii() for name in invited_names) and any(not name.isascii() for name in invited_names)
    # Some contacts not invited yet, and one whose access was withdrawn: every state the console shows.
    assert {(True, True), (False, True), (False, False)} <= statuses

    signed_in = await sign_in_with_password(client, DEMO_CONTACT, portal_password)
    assert signed_in.status_code == 303, signed_in.text
    account = await client.get("/portal/account")
    assert all(supplier["name"] in account.text for supplier in seed.SUPPLIERS)
