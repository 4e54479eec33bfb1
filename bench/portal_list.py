"""The buyer portal's invoice list for a buyer with 5,000 invoices, beside a bare Litestar page rendering
the same rows from the same query, measured in the same run.

    .venv/bin/python -m bench.portal_list        (`make bench` runs it after the API and import benchmarks)

Builds a throwaway PostgreSQL database: one supplier onboarded by the app, 20 buyers (the measured one
with 5,000 invoices, the others 2,500 each, so the buyer's rows are a tenth of the table), a contact of
the measured buyer invited to the portal and signed in (a real portal session, through the app). The
invoices are COPYed in as the owner: issuing 52,500 through the service would take minutes and the
page only reads them. Then serves, one at a time and each as one uvicorn process, (1) the bare page
(`bench.bare_app`: the same two queries — totals per currency, then the page of 50 — with SQLAlchemy
Core as the owner, rendered with Jinja2 and Babel, no session, tenancy, RLS or CSRF) and (2) the real
portal page `/portal/invoices?status=all` with the contact's session cookie; loads each with wrk from a
separate process and prints requests/s and p99 of both and their ratio. Figures go to
var/bench/portal_list.json.

Environment: BENCH_SECONDS, BENCH_CONNECTIONS, BENCH_WARMUP_SECONDS as for bench.run.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import asyncpg

from bench import seed
from bench.run import (
    WRK_THREADS,
    BenchFailure,
    LoadResult,
    Options,
    Target,
    git_revision,
    install_wrk,
    log_tail,
    measure,
    print_warnings,
)

ROOT = Path(__file__).resolve().parent.parent
OUTPUT_DIR = ROOT / "var" / "bench"
RESULTS_FILE = OUTPUT_DIR / "portal_list.json"
PG_HOST, PG_PORT, PG_SUPERUSER, APP_ROLE = "127.0.0.1", 5432, "postgres", "accord_app"
DATABASE = "accord_bench_portal"
BUYERS, MEASURED_INVOICES, OTHER_INVOICES, PAGE_SIZE = 20, 5_000, 2_500, 50
PORTAL_COOKIE = "__Host-accord_portal"
BARE, ACCORD = "portal-bare", "portal-accord"  # also names the server logs, beside the API benchmark's
PAGE = "/portal/invoices?status=all"
# The invoice links of a list page, in order: what both pages must agree on.
INVOICE_LINK = re.compile(r'<a href="/portal/invoices/([0-9a-f-]{36})">([^<]+)</a>')
COUNT = re.compile(r"([\d,]+) invoices")

INVOICE_COLUMNS = (
    "tenant_id",
    "id",
    "buyer_id",
    "number",
    "status",
    "currency",
    "issue_date",
    "delivery_date",
    "due_date",
    "po_reference",
    "net_amount",
    "tax_amount",
    "gross_amount",
    "open_amount",
    "disputed_amount",
    "source",
    "created_at",
    "issued_at",
    "version",
)


# --- seeding ----------------------------------------------------------------------------------


async def _seed_in_child() -> dict:
    """The app's own onboarding, buyers, contact, invitation and portal session (as the application role)."""
    from backend.auth import portal as access
    from backend.auth.principal import Principal, PrincipalKind
    from backend.buyers import service as buyers
    from backend.buyers.service import BuyerInput
    from backend.db.engine import get_database
    from backend.db.uow import tenant_unit_of_work
    from backend.tenants.models import Role
    from backend.tenants.onboarding import create_tenant_with_key
    from backend.tenants.service import get_current_tenant

    onboarded = await create_tenant_with_key(
        name="华东轴承 Bench Supplier", admin_email="portal-owner@bench.example.com", language="en"
    )
    tenant_id = onboarded.tenant_id
    owner = Principal(PrincipalKind.USER, uuid.uuid4(), tenant_id, Role.OWNER, "bench@bench.example.com", "bench")
    buyer_ids = []
    async with tenant_unit_of_work(tenant_id) as session:
        for number in range(BUYERS):
            data = BuyerInput(
                reference=f"B-{number:04d}", legal_name=f"华东机电 {number:02d} 有限公司", country="CN", currency="CNY"
            )
            buyer_ids.append((await buyers.create_buyer(session, owner, data)).id)
        contact = await buyers.add_contact(
            session, owner, buyer_ids[0], name="Li Na", email="li.na@buyer.bench.example.com", language="en"
        )
        await access.invite_contact(session, owner, buyer_ids[0], contact.id)
        tenant = await get_current_tenant(session)
    token = await access.start_session(tenant, contact, ip=None, user_agent="bench", action="buyer_contact.signed_in")
    await get_database().dispose_current()
    return {"tenant_id": str(tenant_id), "buyer_ids": [str(b) for b in buyer_ids], "token": token}


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _invoice_rows(tenant_id: uuid.UUID, buyer_id: uuid.UUID, prefix: str, count: int, rng: random.Random):
    """A buyer's history: most invoices paid, some open (a few overdue), some disputed or credited."""
    today = date.today()
    for n in range(count):
        issued = today - timedelta(days=int((count - n) * 1825 / count))  # spread over five years, newest last
        due = issued + timedelta(days=30)
        gross = _money(Decimal(rng.randint(500, 500_000)) / 10)
        net = _money(gross / Decimal("1.13"))
        draw = rng.random()
        recent = (today - issued).days < 150
        if recent and draw < 0.6:
            status, open_, disputed = "issued", gross, Decimal(0)
        elif recent and draw < 0.75:
            status, open_, disputed = "partially_paid", _money(gross / 2), Decimal(0)
        elif recent and draw < 0.85:
            status, open_, disputed = "disputed", gross, _money(gross / 4)
        elif draw < 0.03:
            status, open_, disputed = "credited", Decimal(0), Decimal(0)
        else:
            status, open_, disputed = "paid", Decimal(0), Decimal(0)
        moment = datetime(issued.year, issued.month, issued.day, 9, tzinfo=UTC)
        yield (
            tenant_id,
            uuid.UUID(int=rng.getrandbits(128), version=4),
            buyer_id,
            f"{prefix}-{issued:%Y%m}-{n:05d}",
            status,
            "CNY",
            issued,
            issued - timedelta(days=2),
            due,
            f"PO-{prefix}-{n:05d}" if rng.random() < 0.8 else None,
            net,
            gross - net,
            gross,
            open_,
            disputed,
            "csv",
            moment,
            moment,
            1,
        )


async def fill_invoices(owner_dsn: str, tenant_id: uuid.UUID, buyer_ids: list[uuid.UUID]) -> int:
    rng = random.Random(20261125)  # the same data every run
    connection = await asyncpg.connect(owner_dsn)
    try:
        for index, buyer_id in enumerate(buyer_ids):
            count = MEASURED_INVOICES if index == 0 else OTHER_INVOICES
            rows = list(_invoice_rows(tenant_id, buyer_id, f"ZC{index:02d}", count, rng))
            await connection.copy_records_to_table("invoices", records=rows, columns=INVOICE_COLUMNS)
        await connection.execute("ANALYZE")
        return await connection.fetchval("SELECT count(*) FROM invoices")
    finally:
        await connection.close()


# --- one request before any load -----------------------------------------------------------------


def fetch_list_page(url: str, target: Target) -> dict:
    """The page must answer 200 with a full page of invoices, or the figures mean nothing."""
    request = urllib.request.Request(url, headers=target.headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, body, final_url = response.status, response.read().decode(), response.url
    except urllib.error.HTTPError as error:
        status, body, final_url = error.code, error.read().decode(errors="replace"), url
    except OSError as error:
        raise BenchFailure(f"{target.label}: request to {url} failed: {error}") from error
    if status != 200 or final_url != url:
        time.sleep(0.3)
        raise BenchFailure(
            f"{target.label} answered {status} at {final_url} to {url}: {body[:500]}\n"
            f"{target.log_path} ends with:\n{log_tail(target.log_path)}"
        )
    invoices = INVOICE_LINK.findall(body)
    count = COUNT.search(body)
    if len(invoices) != PAGE_SIZE or not count:
        raise BenchFailure(f"{target.label} listed {len(invoices)} invoices, expected {PAGE_SIZE}: {body[:800]!r}")
    return {"invoices": invoices, "total": int(count[1].replace(",", "")), "bytes": len(body)}


def compare_pages(bare: dict, accord: dict) -> None:
    if bare["invoices"] != accord["invoices"] or bare["total"] != accord["total"]:
        raise BenchFailure(
            f"the bare page and the portal listed different invoices: bare {bare['total']} {bare['invoices'][:3]}…, "
            f"portal {accord['total']} {accord['invoices'][:3]}…"
        )
    if accord["total"] != MEASURED_INVOICES:
        raise BenchFailure(f"the portal counted {accord['total']} invoices, expected {MEASURED_INVOICES}")


# --- report -----------------------------------------------------------------------------------


def print_table(results: dict[str, LoadResult], labels: dict[str, str], rows: int, options: Options) -> None:
    print()
    print(
        f"benchmark: buyer portal invoice list (GET {PAGE}, {PAGE_SIZE} per page), PostgreSQL, "
        f"a buyer with {MEASURED_INVOICES:,} of the supplier's {rows:,} invoices"
    )
    print(f"  wrk -t{WRK_THREADS} -c{options.connections} -d{options.seconds}s, one uvicorn process each, {os.cpu_count()} CPUs")
    print(f"{'':24}{'requests/s':>12}{'p99 ms':>10}")
    for key in (BARE, ACCORD):
        if key in results:
            print(f"{labels[key]:24}{results[key].requests_per_second:>12,.0f}{results[key].p99_ms:>10.2f}")
    if {BARE, ACCORD} <= results.keys():
        bare, accord = results[BARE], results[ACCORD]
        print(
            f"{'ratio (portal / bare)':24}{accord.requests_per_second / bare.requests_per_second:>12.2f}"
            f"{accord.p99_ms / bare.p99_ms:>10.2f}"
        )


def save(results: dict[str, LoadResult], rows: int, options: Options, pages: dict[str, dict]) -> dict | None:
    previous = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else None
    bare, accord = results[BARE], results[ACCORD]
    document = {
        "benchmark": "buyer portal invoice list",
        "page": PAGE,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "setup": {
            "database": "postgresql",
            "buyer_invoices": MEASURED_INVOICES,
            "tenant_invoices": rows,
            "page_size": PAGE_SIZE,
            "cpus": os.cpu_count(),
            "wrk_threads": WRK_THREADS,
            "connections": options.connections,
            "seconds": options.seconds,
            "warmup_seconds": options.warmup_seconds,
        },
        "response_bytes": {"bare": pages[BARE]["bytes"], "accord": pages[ACCORD]["bytes"]},
        "results": {"bare": asdict(bare), "accord": asdict(accord)},
        "ratio": {
            "requests_per_second": round(accord.requests_per_second / bare.requests_per_second, 3),
            "p99": round(accord.p99_ms / bare.p99_ms, 3),
        },
    }
    RESULTS_FILE.write_text(json.dumps(document, indent=2) + "\n")
    return previous


# --- the run ----------------------------------------------------------------------------------


def main() -> int:
    options = Options.from_environment()
    started = time.monotonic()
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    wrk = install_wrk()
    bin_dir = Path(sys.executable).parent
    server_dsn = f"postgresql://{PG_SUPERUSER}@{PG_HOST}:{PG_PORT}/postgres"
    owner_dsn = f"postgresql://{PG_SUPERUSER}@{PG_HOST}:{PG_PORT}/{DATABASE}"
    labels = {BARE: "bare Litestar page", ACCORD: "Accord portal page"}
    results: dict[str, LoadResult] = {}
    pages: dict[str, dict] = {}
    rows = 0

    with tempfile.TemporaryDirectory(prefix="accord-bench-portal-") as scratch:
        base_env = {name: value for name, value in os.environ.items() if name != "REDIS_URL"}  # in-process jobs
        app_env = {
            **base_env,
            "DATABASE_URL": f"postgresql://{APP_ROLE}@{PG_HOST}:{PG_PORT}/{DATABASE}",
            "DATABASE_ADMIN_URL": owner_dsn,
            "ACCORD_VAR_DIR": scratch,
        }
        try:
            print(f"portal list benchmark: preparing database {DATABASE}", flush=True)
            asyncio.run(seed.recreate_database(server_dsn, DATABASE))
            seed.ensure_roles(DATABASE, host=PG_HOST, port=PG_PORT, superuser=PG_SUPERUSER)
            seed.migrate(app_env, bin_dir / "accord")
            # In a process of its own: the app reads (and caches) its settings from the environment.
            child = subprocess.run(
                [str(bin_dir / "python"), "-m", "bench.portal_list", "--seed-child"],
                env=app_env, cwd=ROOT, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if child.returncode != 0:
                raise BenchFailure(f"seeding failed:\n{child.stdout[-3000:]}{child.stderr[-5000:]}")
            seeded = json.loads(child.stdout.strip().splitlines()[-1])
            tenant_id, buyer_ids = uuid.UUID(seeded["tenant_id"]), [uuid.UUID(b) for b in seeded["buyer_ids"]]
            rows = asyncio.run(fill_invoices(owner_dsn, tenant_id, buyer_ids))
            print(f"  {rows:,} invoices, {MEASURED_INVOICES:,} of them the measured buyer's", flush=True)

            targets = [
                Target(
                    key=BARE,
                    label=labels[BARE],
                    command=[
                        str(bin_dir / "python"),
                        "-m",
                        "uvicorn",
                        "bench.bare_app:create_app",
                        "--factory",
                        # The options `accord serve` gives uvicorn, so only the app differs.
                        "--workers",
                        "1",
                        "--proxy-headers",
                        "--log-level",
                        "info",
                        "--no-server-header",
                    ],
                    env={**base_env, "BENCH_DATABASE_URL": owner_dsn},
                    path_and_query=f"/portal/invoices?status=all&tenant={tenant_id}&buyer={buyer_ids[0]}",
                ),
                Target(
                    key=ACCORD,
                    label=labels[ACCORD],
                    command=[str(bin_dir / "accord"), "serve"],
                    env=app_env,
                    path_and_query=PAGE,
                    headers={"Cookie": f"{PORTAL_COOKIE}={seeded['token']}", "Accept-Language": "en"},
                ),
            ]
            for target in targets:
                results[target.key], pages[target.key] = measure(target, wrk, options, fetch=fetch_list_page)
            compare_pages(pages[BARE], pages[ACCORD])
        except BenchFailure as failure:
            print_table(results, labels, rows, options)
            print(f"\nPORTAL BENCHMARK FAILED: {failure}", file=sys.stderr)
            return 1
        finally:
            try:
                asyncio.run(seed.drop_database(server_dsn, DATABASE))
            except Exception as error:
                print(f"warning: could not drop database {DATABASE}: {error}", file=sys.stderr)

    print_table(results, labels, rows, options)
    previous = save(results, rows, options, pages)
    print(f"\nfigures written to {RESULTS_FILE.relative_to(ROOT)}")
    if previous:
        print(
            f"previous run ({previous['measured_at']}, commit {previous['git']['commit'][:10]}): "
            f"portal {previous['results']['accord']['requests_per_second']:,.0f} req/s, "
            f"ratio {previous['ratio']['requests_per_second']:.2f}"
        )
    print_warnings(results, labels)
    print(f"total time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--seed-child"]:
        print(json.dumps(asyncio.run(_seed_in_child())))
    else:
        sys.exit(main())
