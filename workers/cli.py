from __future__ import annotations

import asyncio
import signal

import click


@click.command("worker")
@click.option("--threads", default=4, show_default=True, type=int)
def worker(threads: int) -> None:
    """Run jobs from Redis and relay the outbox to it; scale out by running more of these."""
    from backend.config import get_settings
    from workers.runtime import JobRuntime

    if get_settings().jobs_in_process:
        raise click.UsageError("set REDIS_URL: without it, jobs run inside `accord serve`")
    runtime = JobRuntime(threads=threads)
    runtime.start()
    click.echo(f"worker running with {threads} threads; stop with Ctrl-C or SIGTERM")
    _wait_for_signal()
    runtime.stop()


@click.command("scheduler")
@click.option("--tick", default=5.0, show_default=True, type=float, help="Seconds between looks at the schedule.")
@click.option("--every", type=float, default=None, help="Fire every job each this many seconds instead of its own interval.")
def scheduler(tick: float, every: float | None) -> None:
    """Fire periodic jobs; two of these running at once still fire each job once per interval."""
    from workers import scheduler as periodic

    schedule = periodic.every(every) if every else periodic.SCHEDULE

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await periodic.run_forever(stop, tick, schedule)

    asyncio.run(run())


def _wait_for_signal() -> None:
    import threading

    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
