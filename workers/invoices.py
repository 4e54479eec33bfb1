"""The invoice import job. Unlike `tenant_actor`, it opens one unit of work per chunk of the file, so the
import's progress is committed as it goes and a job delivered again continues after the last chunk."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import dramatiq

from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.errors import DomainError
from backend.invoices import imports
from workers import broker as _broker  # noqa: F401 - the broker must exist before actors are declared

log = logging.getLogger("accord.jobs")


async def run_import(tenant_id: str, job_id: str, import_id: str) -> None:
    tenant = TenantId(uuid.UUID(tenant_id))  # from the message; every query below is scoped to it
    async with tenant_unit_of_work(tenant) as session:
        run = await imports.begin_import(session, tenant, uuid.UUID(import_id), job_id=job_id)
    if run is None:
        return  # done already, or not this tenant's
    try:
        # Reading the file (fetched from object storage, then parsed) blocks, so it runs off the event loop.
        with contextlib.closing(imports.chunks_of(run)) as chunks:
            while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                async with tenant_unit_of_work(tenant) as session:
                    await imports.import_chunk(session, run, chunk)
        async with tenant_unit_of_work(tenant) as session:
            await imports.finish_import(session, run)
    except (FileNotFoundError, DomainError) as error:
        # The stored file is gone or no longer reads: another try cannot help.
        async with tenant_unit_of_work(tenant) as session:
            await imports.note_failure(session, run, f"{type(error).__name__}: {error}", final=True)
    except Exception as error:
        async with tenant_unit_of_work(tenant) as session:
            gave_up = await imports.note_failure(
                session, run, f"{type(error).__name__}: {error}", final=False, attempts_allowed=MAX_RETRIES + 1
            )
        if gave_up:
            log.exception("invoice import %s failed on its last attempt; it is marked failed", import_id)
            return
        log.exception("invoice import %s failed; it will be retried", import_id)
        raise


MAX_RETRIES = 5
import_invoices = dramatiq.actor(
    run_import, actor_name=imports.IMPORT_ACTOR, queue_name="default", max_retries=MAX_RETRIES, time_limit=60 * 60 * 1000
)
# Tests await the function itself; Dramatiq's own wrapper needs its worker's event-loop thread.
import_invoices.run_async = run_import
