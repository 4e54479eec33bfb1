"""Invoice import throughput: a 100,000-row CSV through the real import (preview, then the chunked job) into
PostgreSQL, beside a bare PostgreSQL COPY of the same file measured in the same run.

    .venv/bin/python -m bench.imports            (`make bench` runs it after the API benchmark)

The import runs in a child process as the application role (RLS on), so its peak memory (max RSS)
is its own. The COPY runs as the owner into a plain table with the same columns, typed, without RLS,
constraints or indexes: the floor no import can beat. Figures go to var/bench/imports.json.

Environment: BENCH_IMPORT_ROWS (default 100000), BENCH_IMPORT_LINES_PER_INVOICE (default 4).
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg

from backend.invoices.csv_format import COLUMNS
from bench import seed

ROOT = Path(__file__).resolve().parent.parent
OUTPUT_DIR = ROOT / "var" / "bench"
RESULTS_FILE = OUTPUT_DIR / "imports.json"
PG_HOST, PG_PORT, PG_SUPERUSER, APP_ROLE = "127.0.0.1", 5432, "postgres", "accord_app"
DATABASE = "accord_bench_imports"
BUYERS = 50
HEADER = list(COLUMNS)  # the documented column set, in its documented order
PRODUCTS = [
    ("6204-2RS", "深沟球轴承 6204-2RS", "6.80", "13"),
    ("30205", "圆锥滚子轴承 30205", "18.50", "13"),
    ("HP-200", "Hydraulic pump HP-200", "312.50", "13"),
    ("SK-12", "Seal kit SK-12", "8.40", "13"),
    ("HOSE-DN12", "液压软管 DN12（每米）", "1.20", "13"),
    ("FREIGHT", "运输服务 Freight Wuxi–Shanghai", "350.00", "9"),
    ("SVC-INST", "Installation and commissioning", "980.00", "6"),
]


def write_csv(path: Path, rows: int, lines_per_invoice: int) -> int:
    rng = random.Random(20261125)
    start = date(2026, 1, 5)
    invoices = 0
    with path.open("w", newline="", encoding="utf-8") as target:
        writer = csv.writer(target)
        writer.writerow(HEADER)
        written = 0
        while written < rows:
            invoices += 1
            issued = start + timedelta(days=invoices % 300)
            buyer = f"B-{invoices % BUYERS:04d}"
            number = f"ZC-{issued:%Y%m}-{invoices:07d}"
            for _line in range(min(lines_per_invoice, rows - written)):
                sku, description, price, tax = rng.choice(PRODUCTS)
                writer.writerow(
                    [number, buyer, "CNY", issued.isoformat(), "", (issued - timedelta(days=2)).isoformat(), f"PO-{invoices:07d}",
                     sku, description, rng.randint(1, 500), "EA", price, tax]
                )  # fmt: skip
                written += 1
    return invoices


async def bare_copy(owner_dsn: str, path: Path) -> float:
    connection = await asyncpg.connect(owner_dsn)
    try:
        await connection.execute(
            "CREATE TABLE bench_copy_rows (invoice_number text, buyer_reference text, currency text, issue_date date, "
            "due_date date, delivery_date date, po_reference text, sku text, description text, quantity numeric, "
            "unit text, unit_price numeric, tax_rate numeric)"
        )
        started = time.perf_counter()
        await connection.copy_to_table("bench_copy_rows", source=str(path), format="csv", header=True)
        return time.perf_counter() - started
    finally:
        await connection.close()


# --- the child process: the real import, as the application ---------------------------------


async def _import_in_child(tenant_id: str, path: Path) -> dict:
    from backend.auth.principal import Principal, PrincipalKind
    from backend.buyers import service as buyers
    from backend.buyers.service import BuyerInput
    from backend.db.engine import get_database
    from backend.db.tenancy import TenantId
    from backend.db.uow import tenant_unit_of_work
    from backend.invoices import imports
    from backend.tenants.models import Role
    from workers.invoices import run_import

    tenant = TenantId(uuid.UUID(tenant_id))
    principal = Principal(PrincipalKind.USER, uuid.uuid4(), tenant, Role.OWNER, "bench@bench.example.com", "bench")
    async with tenant_unit_of_work(tenant) as session:
        for number in range(BUYERS):
            data = BuyerInput(
                reference=f"B-{number:04d}", legal_name=f"华东机电 {number:02d} 有限公司", country="CN", currency="CNY"
            )
            await buyers.create_buyer(session, principal, data)
    started = time.perf_counter()
    async with tenant_unit_of_work(tenant) as session:
        with path.open("rb") as source:
            record = await imports.upload_import(session, principal, filename=path.name, source=source)
    previewed = time.perf_counter()
    async with tenant_unit_of_work(tenant) as session:
        await imports.confirm_import(session, principal, record.id)
    job_started = time.perf_counter()
    await run_import(tenant_id, str(uuid.uuid4()), str(record.id))
    finished = time.perf_counter()
    async with tenant_unit_of_work(tenant) as session:
        record = await imports.get_import(session, principal, record.id)
    await get_database().dispose_current()
    return {
        "status": record.status.value,
        "rows": record.processed_rows,
        "created_invoices": record.created_invoices,
        "error_count": record.error_count,
        "preview_seconds": previewed - started,
        "job_seconds": finished - job_started,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_main(tenant_id: str, path: str) -> None:
    print(json.dumps(asyncio.run(_import_in_child(tenant_id, Path(path)))))


# --- the run ----------------------------------------------------------------------------------


def main() -> int:
    rows = int(os.environ.get("BENCH_IMPORT_ROWS") or 100_000)
    lines_per_invoice = int(os.environ.get("BENCH_IMPORT_LINES_PER_INVOICE") or 4)
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    server_dsn = f"postgresql://{PG_SUPERUSER}@{PG_HOST}:{PG_PORT}/postgres"
    owner_dsn = f"postgresql://{PG_SUPERUSER}@{PG_HOST}:{PG_PORT}/{DATABASE}"
    with tempfile.TemporaryDirectory(prefix="accord-bench-imports-") as scratch:
        path = Path(scratch) / "invoices-100k.csv"
        invoices = write_csv(path, rows, lines_per_invoice)
        env = {name: value for name, value in os.environ.items() if name != "REDIS_URL"}
        env.update(
            DATABASE_URL=f"postgresql://{APP_ROLE}@{PG_HOST}:{PG_PORT}/{DATABASE}",
            DATABASE_ADMIN_URL=owner_dsn,
            ACCORD_VAR_DIR=scratch,
        )
        print(f"import benchmark: {rows:,} CSV rows ({invoices:,} invoices, {path.stat().st_size / 1e6:.1f} MB)", flush=True)
        try:
            asyncio.run(seed.recreate_database(server_dsn, DATABASE))
            seed.ensure_roles(DATABASE, host=PG_HOST, port=PG_PORT, superuser=PG_SUPERUSER)
            seed.migrate(env, bin_dir / "accord")
            tenant_id = _create_tenant(env, bin_dir)
            copy_seconds = asyncio.run(bare_copy(owner_dsn, path))
            child = subprocess.run(
                [str(bin_dir / "python"), "-m", "bench.imports", "--child", tenant_id, str(path)],
                env=env, cwd=ROOT, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if child.returncode != 0:
                print(f"IMPORT BENCHMARK FAILED:\n{child.stdout[-3000:]}{child.stderr[-5000:]}", file=sys.stderr)
                return 1
            result = json.loads(child.stdout.strip().splitlines()[-1])
        finally:
            try:
                asyncio.run(seed.drop_database(server_dsn, DATABASE))
            except Exception as error:
                print(f"warning: could not drop database {DATABASE}: {error}", file=sys.stderr)
    if result["status"] != "done" or result["created_invoices"] != invoices or result["rows"] != rows:
        print(f"IMPORT BENCHMARK FAILED: the import did not import everything: {result}", file=sys.stderr)
        return 1
    copy_rate = rows / copy_seconds
    import_rate = rows / result["job_seconds"]
    end_to_end_rate = rows / (result["job_seconds"] + result["preview_seconds"])
    print(f"{'':34}{'rows/s':>10}{'seconds':>10}")
    print(f"{'bare PostgreSQL COPY':34}{copy_rate:>10,.0f}{copy_seconds:>10.2f}")
    print(f"{'Accord import job':34}{import_rate:>10,.0f}{result['job_seconds']:>10.2f}")
    print(
        f"{'Accord preview + import job':34}{end_to_end_rate:>10,.0f}{result['job_seconds'] + result['preview_seconds']:>10.2f}"
    )
    print(f"ratio (import job / COPY) {import_rate / copy_rate:.2f}; import process peak memory {result['max_rss_mb']:.0f} MB")
    document = {
        "benchmark": "invoice CSV import",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "setup": {"rows": rows, "invoices": invoices, "lines_per_invoice": lines_per_invoice, "cpus": os.cpu_count()},
        "bare_copy": {"seconds": round(copy_seconds, 3), "rows_per_second": round(copy_rate)},
        "import": {
            "job_seconds": round(result["job_seconds"], 3),
            "preview_seconds": round(result["preview_seconds"], 3),
            "rows_per_second": round(import_rate),
            "rows_per_second_with_preview": round(end_to_end_rate),
            "peak_memory_mb": round(result["max_rss_mb"], 1),
        },
        "ratio_import_to_copy": round(import_rate / copy_rate, 3),
    }
    RESULTS_FILE.write_text(json.dumps(document, indent=2) + "\n")
    print(f"figures written to {RESULTS_FILE.relative_to(ROOT)}")
    return 0


def _create_tenant(env: dict[str, str], bin_dir: Path) -> str:
    # Through the app's onboarding, in a process of its own that reads the app's settings from env.
    code = (
        "import asyncio\n"
        "from backend.tenants.onboarding import create_tenant_with_key\n"
        "from backend.db.engine import get_database\n"
        "async def go():\n"
        "    t = await create_tenant_with_key(name='Bench Imports', admin_email='imports@bench.example.com', language='zh-CN')\n"
        "    await get_database().dispose_current()\n"
        "    print(t.tenant_id)\n"
        "asyncio.run(go())\n"
    )
    completed = subprocess.run(
        [str(bin_dir / "python"), "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return completed.stdout.strip().splitlines()[-1]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
