"""How much the Accord API's layers cost on its hottest read: the tenant-scoped audit list.

    .venv/bin/python -m bench.run            (or `make bench`)

Builds a throwaway PostgreSQL database (20 tenants, 100,000 audit entries), then serves, one at a
time and each as one uvicorn process, (1) a bare Litestar endpoint running the same query as the
owner and (2) the real app, and loads each with wrk from a separate process. Prints requests/s and
p99 latency of both and their ratio, and keeps the figures in var/bench/api_list.json.

Environment: BENCH_SECONDS (default 15), BENCH_CONNECTIONS (default 32), BENCH_WARMUP_SECONDS (2).
Server logs are kept in var/bench/*-server.log for a look after the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench import seed

ROOT = Path(__file__).resolve().parent.parent
OUTPUT_DIR = ROOT / "var" / "bench"
RESULTS_FILE = OUTPUT_DIR / "api_list.json"

PG_HOST, PG_PORT, PG_SUPERUSER, APP_ROLE = "127.0.0.1", 5432, "postgres", "accord_app"
DATABASE = "accord_bench"
TENANTS, ENTRIES_PER_TENANT, PAGE_SIZE = 20, 5_000, 50
HOST = "127.0.0.1"
WRK_THREADS = 2  # one per core of the target machine; wrk shares those cores with the server and PostgreSQL
ENDPOINT = f"GET /api/v1/audit-events?limit={PAGE_SIZE}"


class BenchFailure(RuntimeError):
    """The benchmark cannot give a meaningful figure; the message says why."""


@dataclass(frozen=True)
class Options:
    seconds: int
    connections: int
    warmup_seconds: int

    @classmethod
    def from_environment(cls) -> Options:
        def positive(name: str, default: int) -> int:
            value = int(os.environ.get(name) or default)
            if value < 1:
                raise SystemExit(f"{name} must be at least 1")
            return value

        options = cls(positive("BENCH_SECONDS", 15), positive("BENCH_CONNECTIONS", 32), positive("BENCH_WARMUP_SECONDS", 2))
        if options.connections < WRK_THREADS:
            raise SystemExit(f"BENCH_CONNECTIONS must be at least {WRK_THREADS} (wrk needs a connection per thread)")
        return options


@dataclass
class Target:
    key: str
    label: str
    command: list[str]
    env: dict[str, str]
    path_and_query: str  # after http://host:port
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        return OUTPUT_DIR / f"{self.key}-server.log"


@dataclass
class LoadResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    socket_errors: dict[str, int]
    log_errors: list[str] = field(default_factory=list)


# --- wrk --------------------------------------------------------------------------------------

_UNIT_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _latency_ms(output: str, percentile: str) -> float:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    if not match:
        raise BenchFailure(f"wrk printed no {percentile}% latency (was --latency passed?):\n{output}")
    return float(match[1]) * _UNIT_TO_MS[match[2]]


def parse_wrk(output: str) -> LoadResult:
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    if not rate or not total:
        raise BenchFailure(f"could not read wrk's output:\n{output}")
    # wrk counts a 4xx/5xx as a completed request: a fast error page must not pass for throughput.
    if failed := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        raise BenchFailure(f"wrk got {failed[1]} non-2xx responses out of {total[1]}:\n{output}")
    if int(total[1]) == 0:
        raise BenchFailure(f"wrk completed no request:\n{output}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=False)) if errors else {}
    return LoadResult(
        requests_per_second=float(rate[1]),
        p50_ms=_latency_ms(output, "50"),
        p99_ms=_latency_ms(output, "99"),
        requests=int(total[1]),
        socket_errors={kind: n for kind, n in socket_errors.items() if n},
    )


def run_wrk(wrk: str, target: Target, url: str, seconds: int, connections: int) -> str:
    command = [wrk, f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in target.headers.items():
        command += ["-H", f"{name}: {value}"]
    completed = subprocess.run([*command, url], check=False, capture_output=True, text=True, timeout=seconds + 60)
    if completed.returncode != 0:
        raise BenchFailure(f"wrk failed ({completed.returncode}) against {target.label}:\n{completed.stdout}{completed.stderr}")
    return completed.stdout


# --- servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def wait_until_listening(process: subprocess.Popen, port: int, target: Target, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchFailure(
                f"{target.label} exited with {process.returncode} while starting; {target.log_path}:\n{log_tail(target.log_path)}"
            )
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise BenchFailure(
        f"{target.label} did not listen on port {port} within {timeout:.0f} s; {target.log_path}:\n{log_tail(target.log_path)}"
    )


def fetch_page(url: str, target: Target) -> dict:
    """One request before any load: the endpoint must answer 200 with a full page, or the figures mean nothing."""
    request = urllib.request.Request(url, headers=target.headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    except OSError as error:
        raise BenchFailure(f"{target.label}: request to {url} failed: {error}") from error
    if status != 200:
        time.sleep(0.3)  # let the server flush its traceback to the log
        raise BenchFailure(
            f"{target.label} answered {status} to {url}: {body[:500].decode(errors='replace')}\n"
            f"{target.log_path} ends with:\n{log_tail(target.log_path)}"
        )
    page = json.loads(body)
    if len(page.get("items", [])) != PAGE_SIZE:
        raise BenchFailure(f"{target.label} returned {len(page.get('items', []))} items, expected {PAGE_SIZE}: {body[:300]!r}")
    return page


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown runs the app's lifespan exit
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def errors_in_log(path: Path) -> list[str]:
    """Error lines the server logged while being measured (the access log lines are not errors)."""
    text = path.read_text(errors="replace") if path.exists() else ""
    return [line for line in text.splitlines() if re.search(r"\bERROR\b|Traceback|CRITICAL", line)]


def measure(target: Target, wrk: str, options: Options, *, fetch=fetch_page) -> tuple[LoadResult, dict]:
    """`fetch` checks the one request made before any load (the portal benchmark checks an HTML page)."""
    port = free_port()
    url = f"http://{HOST}:{port}{target.path_and_query}"
    command = [*target.command, "--host", HOST, "--port", str(port)]
    print(f"  {target.label}: starting on port {port} (log: {target.log_path.relative_to(ROOT)})", flush=True)
    with target.log_path.open("wb") as log:
        process = subprocess.Popen(command, env=target.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_listening(process, port, target)
            page = fetch(url, target)
            print(
                f"  {target.label}: 200 with {PAGE_SIZE} items; warming up {options.warmup_seconds} s, then {options.seconds} s of load",
                flush=True,
            )
            parse_wrk(run_wrk(wrk, target, url, options.warmup_seconds, options.connections))
            result = parse_wrk(run_wrk(wrk, target, url, options.seconds, options.connections))
        finally:
            stop(process)
    result.log_errors = errors_in_log(target.log_path)
    return result, page


# --- report -----------------------------------------------------------------------------------


def compare_pages(bare: dict, accord: dict) -> list[str]:
    """Both endpoints must return the same entries, or the comparison is between different work."""
    if [item["id"] for item in bare["items"]] != [item["id"] for item in accord["items"]]:
        raise BenchFailure("the bare endpoint and the Accord API returned different entries for the same tenant")
    differences = [
        f"entry {a['seq']}: field {name!r}: bare {b[name]!r} vs Accord {a[name]!r}"
        for b, a in zip(bare["items"], accord["items"], strict=False)
        for name in sorted(set(a) | set(b))
        if a.get(name) != b.get(name)
    ]
    if set(bare) != set(accord) or bare.get("next_before") != accord.get("next_before"):
        differences.append(
            f"page envelope: bare {sorted(bare)} next_before={bare.get('next_before')}, Accord {sorted(accord)} next_before={accord.get('next_before')}"
        )
    return differences


def print_table(results: dict[str, LoadResult], labels: dict[str, str], rows: int, options: Options) -> None:
    print()
    print(f"benchmark: tenant-scoped list ({ENDPOINT}), PostgreSQL, {rows:,} audit rows in {TENANTS} tenants")
    print(f"  wrk -t{WRK_THREADS} -c{options.connections} -d{options.seconds}s, one uvicorn process each, {os.cpu_count()} CPUs")
    print(f"{'':21}{'requests/s':>12}{'p99 ms':>10}")
    for key in ("bare", "accord"):
        if key in results:
            print(f"{labels[key]:21}{results[key].requests_per_second:>12,.0f}{results[key].p99_ms:>10.2f}")
    if {"bare", "accord"} <= results.keys():
        bare, accord = results["bare"], results["accord"]
        print(
            f"{'ratio (Accord / bare)':21}{accord.requests_per_second / bare.requests_per_second:>12.2f}{accord.p99_ms / bare.p99_ms:>10.2f}"
        )


def print_warnings(results: dict[str, LoadResult], labels: dict[str, str]) -> None:
    for key, result in results.items():
        if result.socket_errors:
            print(f"warning: {labels[key]}: wrk socket errors {result.socket_errors} (timeouts leave slow requests out of p99)")
        if result.log_errors:
            print(f"warning: {labels[key]} logged {len(result.log_errors)} error line(s), first: {result.log_errors[0]}")


def git_revision() -> dict[str, object]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], check=False, cwd=ROOT, capture_output=True, text=True).stdout.strip()

    # The working tree may be mid-change; say so, since the figures then describe uncommitted code.
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no"))}


def save(results: dict[str, LoadResult], rows: int, options: Options, response_differences: list[str]) -> dict | None:
    previous = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else None
    bare, accord = results["bare"], results["accord"]
    document = {
        "benchmark": "tenant-scoped list",
        "endpoint": ENDPOINT,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "setup": {
            "database": "postgresql",
            "tenants": TENANTS,
            "audit_rows": rows,
            "cpus": os.cpu_count(),
            "wrk_threads": WRK_THREADS,
            "connections": options.connections,
            "seconds": options.seconds,
            "warmup_seconds": options.warmup_seconds,
        },
        "results": {key: asdict(result) for key, result in results.items()},
        "ratio": {
            "requests_per_second": round(accord.requests_per_second / bare.requests_per_second, 3),
            "p99": round(accord.p99_ms / bare.p99_ms, 3),
        },
        "response_differences": response_differences,
    }
    RESULTS_FILE.write_text(json.dumps(document, indent=2) + "\n")
    return previous


# --- the run ----------------------------------------------------------------------------------


def install_wrk() -> str:
    subprocess.run([str(ROOT / "infra/install-bench-tools.sh")], check=True, stdout=subprocess.DEVNULL)
    wrk = shutil.which("wrk")
    if not wrk:
        raise BenchFailure("infra/install-bench-tools.sh ran but wrk is not on PATH")
    return wrk


def main() -> int:
    options = Options.from_environment()
    started = time.monotonic()
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    wrk = install_wrk()
    bin_dir = Path(sys.executable).parent  # the venv's bin, whatever PATH says

    server_dsn = f"postgresql://{PG_SUPERUSER}@{PG_HOST}:{PG_PORT}/postgres"
    owner_url = f"postgresql://{PG_SUPERUSER}@{PG_HOST}:{PG_PORT}/{DATABASE}"
    results: dict[str, LoadResult] = {}
    labels = {"bare": "bare Litestar", "accord": "Accord API"}
    rows = TENANTS * ENTRIES_PER_TENANT

    with tempfile.TemporaryDirectory(prefix="accord-bench-") as scratch:
        base_env = {name: value for name, value in os.environ.items() if name != "REDIS_URL"}  # in-process jobs
        app_env = {
            **base_env,
            "DATABASE_URL": f"postgresql://{APP_ROLE}@{PG_HOST}:{PG_PORT}/{DATABASE}",
            "DATABASE_ADMIN_URL": owner_url,
            "ACCORD_VAR_DIR": scratch,
        }
        try:
            print(f"preparing database {DATABASE}: {TENANTS} tenants, {rows:,} audit entries", flush=True)
            asyncio.run(seed.recreate_database(server_dsn, DATABASE))
            seed.ensure_roles(DATABASE, host=PG_HOST, port=PG_PORT, superuser=PG_SUPERUSER)
            seed.migrate(app_env, bin_dir / "accord")
            os.environ.update(app_env)  # create_tenants runs the app's onboarding in this process
            os.environ.pop("REDIS_URL", None)
            tenants = seed.create_tenants(TENANTS)
            rows = asyncio.run(seed.fill_audit_trail(owner_url, tenants, ENTRIES_PER_TENANT))
            tenant = tenants[0]

            targets = [
                Target(
                    key="bare",
                    label=labels["bare"],
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
                    env={**base_env, "BENCH_DATABASE_URL": owner_url},
                    path_and_query=f"/audit-events?limit={PAGE_SIZE}&tenant={tenant.tenant_id}",
                ),
                Target(
                    key="accord",
                    label=labels["accord"],
                    command=[str(bin_dir / "accord"), "serve"],
                    env=app_env,
                    path_and_query=f"/api/v1/audit-events?limit={PAGE_SIZE}",
                    headers={"Authorization": f"Bearer {tenant.api_key}"},
                ),
            ]
            pages = {}
            for target in targets:
                results[target.key], pages[target.key] = measure(target, wrk, options)
            response_differences = compare_pages(pages["bare"], pages["accord"])
        except BenchFailure as failure:
            print_table(results, labels, rows, options)
            print(f"\nBENCHMARK FAILED: {failure}", file=sys.stderr)
            return 1
        finally:
            try:
                asyncio.run(seed.drop_database(server_dsn, DATABASE))
            except Exception as error:
                print(f"warning: could not drop database {DATABASE}: {error}", file=sys.stderr)

    print_table(results, labels, rows, options)
    previous = save(results, rows, options, response_differences)
    print(f"\nfigures written to {RESULTS_FILE.relative_to(ROOT)}")
    if previous:
        print(
            f"previous run ({previous['measured_at']}, commit {previous['git']['commit'][:10]}): "
            f"Accord {previous['results']['accord']['requests_per_second']:,.0f} req/s, "
            f"ratio {previous['ratio']['requests_per_second']:.2f}"
        )
    print_warnings(results, labels)
    for difference in response_differences[:5]:
        print(f"warning: responses differ: {difference}")
    print(f"total time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    from bench import escalation, imports, portal_list

    # The invoice import, portal list and escalation sweep benchmarks run after, whatever the API benchmark's outcome.
    sys.exit(max(main(), imports.main(), portal_list.main(), escalation.main()))
