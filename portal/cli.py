from __future__ import annotations

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers", "processes", default=1, show_default=True, type=int, help="Web processes (production, with REDIS_URL)."
)
def serve(host: str, port: int, processes: int) -> None:
    """Serve the API and the web pages (with in-process jobs when REDIS_URL is unset)."""
    import uvicorn

    from backend.config import get_settings

    if processes > 1 and get_settings().jobs_in_process:
        raise click.UsageError("several web processes need REDIS_URL: in-process jobs would run once per process")
    uvicorn.run(
        "portal.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=processes,
        proxy_headers=True,
        log_level="info",
        server_header=False,
    )
