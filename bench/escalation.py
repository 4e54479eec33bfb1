"""The escalation sweep over 1,000,000 open dispute cases across 1,000 tenants, beside the same SELECT
run bare, measured in the same run.

    .venv/bin/python -m bench.escalation        (`make bench` runs it after the other benchmarks)

Builds a throwaway PostgreSQL database from the migrations and loads, as the owner and inside SQL
(generate_series, foreign-key triggers off for the load, the secondary indexes built after it),
1,000 tenants with a buyer each and 1,000 open cases per tenant, one case in twenty with its next
timer step passed (50,000 due), the rest due within three weeks. Then, in a child process that is
the app (its settings read from the environment), times:

  sweep   the app's `backend.disputes.timers.sweep` in an all-tenants unit of work as the
          application role (row-level security on): the one statement that selects the due cases
          not queued already, marks them queued and writes one job each into the outbox, and its commit;
  bare    the SELECT of the due cases alone, as the owner (no row-level security), all rows fetched.

Each is run once to warm up, then RUNS times (the outbox emptied before each sweep); the median is
reported with the ratio. Figures go to var/bench/escalation.json. Environment: BENCH_ESCALATION_RUNS.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench import seed
from bench.run import BenchFailure, git_revision

ROOT = Path(__file__).resolve().parent.parent
OUTPUT_DIR = ROOT / "var" / "bench"
RESULTS_FILE = OUTPUT_DIR / "escalation.json"
PG_HOST, PG_PORT, PG_SUPERUSER, APP_ROLE = "127.0.0.1", 5432, "postgres", "accord_app"
DATABASE = "accord_bench_escalation"
TENANTS, CASES_PER_TENANT, DUE_ONE_IN = 1_000, 1_000, 20
DUE = TENANTS * CASES_PER_TENANT // DUE_ONE_IN
RUNS = int(os.environ.get("BENCH_ESCALATION_RUNS") or 5)

# The SELECT the sweep's INSERT … SELECT is built on (backend/disputes/timers_repository.py).
DUE_SELECT = "SELECT c.tenant_id, c.id FROM dispute_cases AS c WHERE c.next_timer_at IS NOT NULL AND c.next_timer_at <= $1"
# Built after the load: an index kept up row by row while a million random keys go in costs minutes.
SECONDARY_INDEXES = (
    "ix_dispute_cases_next_timer_at",
    "ix_dispute_cases_tenant_id_buyer_id",
    "ix_dispute_cases_tenant_id_owner_user_id",
    "ix_dispute_cases_tenant_id_state_opened_on",
)

LOAD_STATEMENTS = (
    "INSERT INTO tenants (id, name, slug, country, time_zone, default_language, created_at) "
    "SELECT gen_random_uuid(), 'Bench supplier ' || g, 'bench-' || g, 'CN', 'Asia/Shanghai', 'en', now() "
    f"FROM generate_series(1, {TENANTS}) AS g",
    "INSERT INTO buyers (tenant_id, id, reference, legal_name, external_ids, country, currency, payment_terms_days, tags, "
    "created_at, updated_at, version) "
    "SELECT t.id, gen_random_uuid(), 'B-0001', '华东机电有限公司', '[]', 'CN', 'CNY', 30, '[]', now(), now(), 1 FROM tenants AS t",
    # One case in DUE_ONE_IN is due (its step passed up to five minutes ago); the others come within three weeks.
    "INSERT INTO dispute_cases (tenant_id, id, number, buyer_id, currency, state, phase, reason_code, description, channel, "
    "opened_on, escalation_level, disputed_amount, credited_amount, written_off_amount, collected_amount, created_by, "
    "created_at, state_changed_at, phase_changed_at, version, next_timer_at, next_timer) "
    "SELECT b.tenant_id, gen_random_uuid(), 'D-2026-' || lpad(g::text, 5, '0'), b.id, 'CNY', "
    "(ARRAY['open', 'acknowledged', 'under_review', 'negotiating'])[1 + g % 4], 'early', 'quality', 'Bench case', 'email', "
    "current_date - (g % 60), 0, 1000 + g, 0, 0, 0, 'bench', now(), now(), now(), 1, "
    f"CASE WHEN g % {DUE_ONE_IN} = 0 THEN $1::timestamptz - (g % 300) * interval '1 second' "
    "ELSE $1::timestamptz + (1 + g % 500) * interval '1 hour' END, 'acknowledge' "
    f"FROM buyers AS b CROSS JOIN generate_series(1, {CASES_PER_TENANT}) AS g ORDER BY b.tenant_id",
)


async def load(owner_dsn: str, now: datetime) -> float:
    """The tenants, buyers and cases, as the owner; seconds taken."""
    started = time.perf_counter()
    connection = await asyncpg.connect(owner_dsn)
    try:
        definitions = dict(
            await connection.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'dispute_cases' AND indexname = ANY($1)",
                list(SECONDARY_INDEXES),
            )
        )
        if set(definitions) != set(SECONDARY_INDEXES):
            raise BenchFailure(f"dispute_cases lacks indexes the migrations make: {set(SECONDARY_INDEXES) - set(definitions)}")
        async with connection.transaction():
            # The rows are made consistent by construction: skip the per-row foreign-key triggers.
            await connection.execute("SET LOCAL session_replication_role = replica")
            await connection.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for name in SECONDARY_INDEXES:
                await connection.execute(f"DROP INDEX {name}")
            await connection.execute(LOAD_STATEMENTS[0])
            await connection.execute(LOAD_STATEMENTS[1])
            await connection.execute(LOAD_STATEMENTS[2], now)
            for name in SECONDARY_INDEXES:
                await connection.execute(definitions[name])
        await connection.execute("VACUUM ANALYZE dispute_cases")
        await connection.execute("VACUUM ANALYZE outbox")
        cases, due = await connection.fetchrow(
            "SELECT count(*), count(*) FILTER (WHERE next_timer_at <= $1) FROM dispute_cases", now
        )
    finally:
        await connection.close()
    if (cases, due) != (TENANTS * CASES_PER_TENANT, DUE):
        raise BenchFailure(f"loaded {cases:,} cases with {due:,} due, expected {TENANTS * CASES_PER_TENANT:,} and {DUE:,}")
    return time.perf_counter() - started


# --- the measurement, in a child process that is the app ---------------------------------------------


async def _measure_in_child(owner_dsn: str, now: datetime) -> dict:
    from backend.db.engine import get_database
    from backend.db.uow import all_tenants_unit_of_work
    from backend.disputes import timers

    owner = await asyncpg.connect(owner_dsn)
    sweeps: list[float] = []
    selects: list[float] = []
    try:
        for run in range(RUNS + 1):  # the first warms caches and the connection pool
            await owner.execute("TRUNCATE outbox")
            # The sweep marks the cases it queued; a fresh start for each run.
            await owner.execute(
                "UPDATE dispute_cases SET timer_queued_until = NULL, timer_attempts = 0 WHERE timer_queued_until IS NOT NULL"
            )
            started = time.perf_counter()
            async with all_tenants_unit_of_work("bench: escalation sweep") as session:
                enqueued = await timers.sweep(session, now)
            swept = time.perf_counter() - started
            started = time.perf_counter()
            rows = await owner.fetch(DUE_SELECT, now)
            selected = time.perf_counter() - started
            queued = await owner.fetchval("SELECT count(*) FROM outbox WHERE actor = $1", timers.RUN_ACTOR)
            if not enqueued == len(rows) == queued == DUE:
                raise RuntimeError(
                    f"sweep enqueued {enqueued} ({queued} in the outbox), SELECT found {len(rows)}, expected {DUE}"
                )
            if run:
                sweeps.append(swept)
                selects.append(selected)
        sample = await owner.fetchrow("SELECT tenant_id, payload FROM outbox LIMIT 1")
        plan = await owner.fetch("EXPLAIN " + DUE_SELECT, now)
    finally:
        await owner.close()
        await get_database().dispose_current()
    return {
        "sweep_seconds": sweeps,
        "select_seconds": selects,
        "sample_job": {"tenant_id": str(sample["tenant_id"]), "payload": json.loads(sample["payload"])},
        "select_plan": [row[0] for row in plan],
    }


# --- report -------------------------------------------------------------------------------------------


def print_table(figures: dict, load_seconds: float) -> None:
    sweep, select = statistics.median(figures["sweep_seconds"]), statistics.median(figures["select_seconds"])
    print()
    print(
        f"benchmark: escalation sweep, PostgreSQL, {TENANTS * CASES_PER_TENANT:,} open cases in {TENANTS:,} tenants, "
        f"{DUE:,} due (loaded in {load_seconds:.0f} s)"
    )
    print(f"  median of {RUNS} runs after one to warm up, {os.cpu_count()} CPUs")
    print(f"{'':44}{'ms':>10}")
    print(f"{'sweep (select due + enqueue 1 job each)':44}{sweep * 1000:>10.1f}")
    print(f"{'bare SELECT of the due cases':44}{select * 1000:>10.1f}")
    print(f"{'ratio (sweep / bare SELECT)':44}{sweep / select:>10.2f}")
    print(f"  the SELECT's plan: {figures['select_plan'][0].strip()}")


def save(figures: dict, load_seconds: float) -> dict | None:
    previous = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else None
    sweep, select = statistics.median(figures["sweep_seconds"]), statistics.median(figures["select_seconds"])
    document = {
        "benchmark": "escalation sweep",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "setup": {
            "database": "postgresql",
            "tenants": TENANTS,
            "open_cases": TENANTS * CASES_PER_TENANT,
            "due_cases": DUE,
            "runs": RUNS,
            "cpus": os.cpu_count(),
            "load_seconds": round(load_seconds, 1),
        },
        "results": {
            "sweep_ms": round(sweep * 1000, 1),
            "bare_select_ms": round(select * 1000, 1),
            "sweep_runs_ms": [round(s * 1000, 1) for s in figures["sweep_seconds"]],
            "bare_select_runs_ms": [round(s * 1000, 1) for s in figures["select_seconds"]],
        },
        "ratio": round(sweep / select, 2),
        "select_plan": figures["select_plan"],
    }
    RESULTS_FILE.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return previous


# --- the run ----------------------------------------------------------------------------------------


def main() -> int:
    started = time.monotonic()
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    server_dsn = f"postgresql://{PG_SUPERUSER}@{PG_HOST}:{PG_PORT}/postgres"
    owner_dsn = f"postgresql://{PG_SUPERUSER}@{PG_HOST}:{PG_PORT}/{DATABASE}"
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="accord-bench-escalation-") as scratch:
        base_env = {name: value for name, value in os.environ.items() if name != "REDIS_URL"}
        app_env = {
            **base_env,
            "DATABASE_URL": f"postgresql://{APP_ROLE}@{PG_HOST}:{PG_PORT}/{DATABASE}",
            "DATABASE_ADMIN_URL": owner_dsn,
            "ACCORD_VAR_DIR": scratch,
        }
        try:
            print(f"escalation benchmark: preparing database {DATABASE}", flush=True)
            asyncio.run(seed.recreate_database(server_dsn, DATABASE))
            seed.ensure_roles(DATABASE, host=PG_HOST, port=PG_PORT, superuser=PG_SUPERUSER)
            seed.migrate(app_env, bin_dir / "accord")
            load_seconds = asyncio.run(load(owner_dsn, now))
            print(f"  {TENANTS * CASES_PER_TENANT:,} cases in {TENANTS:,} tenants loaded in {load_seconds:.0f} s", flush=True)
            child = subprocess.run(
                [str(bin_dir / "python"), "-m", "bench.escalation", "--measure-child", owner_dsn, now.isoformat()],
                env=app_env, cwd=ROOT, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if child.returncode != 0:
                raise BenchFailure(f"the measurement failed:\n{child.stdout[-3000:]}{child.stderr[-5000:]}")
            figures = json.loads(child.stdout.strip().splitlines()[-1])
        except BenchFailure as failure:
            print(f"\nESCALATION BENCHMARK FAILED: {failure}", file=sys.stderr)
            return 1
        finally:
            try:
                asyncio.run(seed.drop_database(server_dsn, DATABASE))
            except Exception as error:
                print(f"warning: could not drop database {DATABASE}: {error}", file=sys.stderr)

    print_table(figures, load_seconds)
    previous = save(figures, load_seconds)
    print(f"\nfigures written to {RESULTS_FILE.relative_to(ROOT)}")
    if previous:
        print(
            f"previous run ({previous['measured_at']}, commit {previous['git']['commit'][:10]}): "
            f"sweep {previous['results']['sweep_ms']:,.0f} ms, bare SELECT {previous['results']['bare_select_ms']:,.0f} ms"
        )
    print(f"total time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure-child"]:
        print(json.dumps(asyncio.run(_measure_in_child(sys.argv[2], datetime.fromisoformat(sys.argv[3])))))
    else:
        sys.exit(main())
