"""The baselines: the same audit-list query and JSON shape as the Accord API, and the same invoice-list
queries and table as the buyer portal's invoice page, with none of their layers.

No authentication, no ORM session events, no tenant transaction, no row-level security (it connects
as the owner): what is left is Litestar + SQLAlchemy Core + asyncpg, which is the floor the app's
endpoint can be compared against.

    BENCH_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/accord_bench \
      uvicorn bench.bare_app:create_app --factory --port 8001
"""

from __future__ import annotations

import os
import uuid
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any

from babel.dates import format_date
from babel.numbers import format_currency
from jinja2 import Environment
from litestar import Litestar, MediaType, get
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import Response
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    Uuid,
    and_,
    case,
    func,
    select,
)
from sqlalchemy.ext.asyncio import create_async_engine

# Declared with the column types the app's model uses, so result processing (UUIDs, JSON decoding,
# aware datetimes) costs the same here as in the ORM.
audit_events = Table(
    "audit_events",
    MetaData(),
    Column("tenant_id", Uuid, primary_key=True),
    Column("id", Uuid, primary_key=True),
    Column("seq", BigInteger),
    Column("occurred_at", DateTime(timezone=True)),
    Column("actor_kind", String(16)),
    Column("actor_id", String(64)),
    Column("actor_label", String(320)),
    Column("action", String(64)),
    Column("object_type", String(64)),
    Column("object_id", String(64)),
    Column("before", JSON),
    Column("after", JSON),
    Column("ip", String(64)),
    Column("success", Boolean),
    Column("prev_hash", String(64)),
    Column("hash", String(64)),
)

# What the API returns per entry (everything but prev_hash), in the same order.
OUTPUT_FIELDS = (
    "id",
    "seq",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "ip",
    "success",
    "hash",
)


def _async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


@get("/audit-events")
async def list_events(
    state: State,
    tenant: uuid.UUID,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    # The app selects every column (select(AuditEvent)); so does this, so both move the same bytes.
    statement = select(audit_events).where(audit_events.c.tenant_id == tenant).order_by(audit_events.c.seq.desc()).limit(limit)
    async with state.engine.connect() as connection:
        rows = (await connection.execute(statement)).mappings().all()
    items = [{name: row[name] for name in OUTPUT_FIELDS} for row in rows]
    return {"items": items, "next_before": rows[-1]["seq"] if len(rows) == limit else None}


# --- the buyer portal's invoice list -------------------------------------------------------------

# Every column of the app's model, with its types, so loading a row costs what the ORM's does.
invoices = Table(
    "invoices",
    MetaData(),
    Column("tenant_id", Uuid, primary_key=True),
    Column("id", Uuid, primary_key=True),
    Column("buyer_id", Uuid),
    Column("number", String(64)),
    Column("status", String(24)),
    Column("currency", String(3)),
    Column("issue_date", Date),
    Column("delivery_date", Date),
    Column("due_date", Date),
    Column("po_reference", String(64)),
    Column("order_id", Uuid),
    Column("net_amount", Numeric(19, 4)),
    Column("tax_amount", Numeric(19, 4)),
    Column("gross_amount", Numeric(19, 4)),
    Column("open_amount", Numeric(19, 4)),
    Column("disputed_amount", Numeric(19, 4)),
    Column("source", String(16)),
    Column("import_id", Uuid),
    Column("notes", Text),
    Column("created_at", DateTime(timezone=True)),
    Column("issued_at", DateTime(timezone=True)),
    Column("version", Integer),
)
OPEN_STATUSES = ("issued", "partially_paid", "disputed")
STATUS_LABELS = {
    "issued": "Issued",
    "partially_paid": "Partially paid",
    "paid": "Paid",
    "disputed": "Disputed",
    "credited": "Credited",
    "written_off": "Written off",
}
INVOICE_PAGE_SIZE = 50

# The portal's table (buyer/_invoice_rows.html) without the page around it: same columns, same formatting.
LIST_TEMPLATE = Environment(autoescape=True).from_string(
    """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Invoices</title></head><body><main>
<p>{{ total }} invoices</p>
<table><thead><tr><th>Invoice</th><th>Status</th><th>Issued</th><th>Due</th><th>Amount</th><th>Open</th><th>In dispute</th></tr></thead>
<tbody>
{% for i in rows %}{% set is_open = i.open_amount > 0 and i.status in open_statuses %}
<tr><td><a href="/portal/invoices/{{ i.id }}">{{ i.number }}</a>{% if i.po_reference %}<br><span>PO {{ i.po_reference }}</span>{% endif %}</td>
<td><span>{{ labels[i.status] }}</span>{% if is_open and i.due_date < today %} <span>Overdue</span>{% endif %}</td>
<td>{{ date(i.issue_date) }}</td><td>{{ date(i.due_date) }}</td><td>{{ money(i.gross_amount, i.currency) }}</td>
<td>{% if is_open %}{{ money(i.open_amount, i.currency) }}{% else %}—{% endif %}</td>
<td>{% if is_open and i.disputed_amount > 0 %}{{ money([i.disputed_amount, i.open_amount]|min, i.currency) }}{% endif %}</td></tr>
{% endfor %}</tbody>
<tfoot>{% for t in totals %}<tr><th colspan="4">Total {{ t.currency }} ({{ t.count }} invoices)</th><td>{{ money(t.gross, t.currency) }}</td>
<td>{{ money(t.open, t.currency) }}</td><td>{% if t.disputed > 0 %}{{ money(t.disputed, t.currency) }}{% endif %}</td></tr>{% endfor %}</tfoot>
</table></main></body></html>"""
)


def _money(amount, currency: str) -> str:
    return format_currency(amount, currency, locale="en")


def _date(value) -> str:
    return format_date(value, format="medium", locale="en")


@get("/portal/invoices", media_type=MediaType.HTML)
async def list_invoices(state: State, tenant: uuid.UUID, buyer: uuid.UUID, status: str = "all") -> Response:
    """The portal's 'all invoices' view: totals per currency (the pager's count), then the first page, newest first."""
    c = invoices.c
    where = (c.tenant_id == tenant, c.buyer_id == buyer, c.status != "draft")
    still_open = and_(c.status.in_(OPEN_STATUSES), c.open_amount > 0)
    held = case((c.disputed_amount < c.open_amount, c.disputed_amount), else_=c.open_amount)
    totals_statement = (
        select(
            c.currency.label("currency"),
            func.count(c.id).label("count"),
            func.coalesce(func.sum(c.gross_amount), 0).label("gross"),
            func.coalesce(func.sum(case((still_open, c.open_amount), else_=0)), 0).label("open"),
            func.coalesce(func.sum(case((still_open, held), else_=0)), 0).label("disputed"),
        )
        .where(*where)
        .group_by(c.currency)
        .order_by(c.currency)
    )
    newest_first = (c.issue_date.desc(), c.number.desc(), c.id)
    page_statement = select(invoices).where(*where).order_by(*newest_first).limit(INVOICE_PAGE_SIZE).offset(0)
    async with state.engine.connect() as connection:
        totals = (await connection.execute(totals_statement)).mappings().all()
        rows = (await connection.execute(page_statement)).mappings().all()
    html = LIST_TEMPLATE.render(
        rows=rows,
        totals=totals,
        total=sum(t["count"] for t in totals),
        labels=STATUS_LABELS,
        open_statuses=OPEN_STATUSES,
        today=date.today(),
        money=_money,
        date=_date,
    )
    return Response(html, media_type=MediaType.HTML)


def create_app() -> Litestar:
    database_url = _async_url(os.environ["BENCH_DATABASE_URL"])

    @asynccontextmanager
    async def lifespan(app: Litestar):
        # Same pool settings as backend.db.engine, so pool behaviour is not what differs.
        app.state.engine = create_async_engine(database_url, pool_size=10, max_overflow=10, pool_pre_ping=True)
        try:
            yield
        finally:
            await app.state.engine.dispose()

    return Litestar(route_handlers=[list_events, list_invoices], lifespan=[lifespan], debug=False)
