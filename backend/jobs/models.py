from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Model, TenantOwned, new_id, utcnow


class OutboxJob(TenantOwned, Model):
    """A job recorded in the transaction that caused it; the relay publishes it after commit."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_unpublished",
            "available_at",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    actor: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    publish_attempts: Mapped[int] = mapped_column(default=0)


class JobExecution(TenantOwned, Model):
    """Written in the same transaction as a job's work: a second delivery finds it and does nothing."""

    __tablename__ = "job_executions"

    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    actor: Mapped[str] = mapped_column(String(100))
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)


class SchedulerTick(Model):
    """One row per periodic job and interval: the scheduler that inserts it fires the job, others see the row."""

    __tablename__ = "scheduler_ticks"

    job_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    slot: Mapped[int] = mapped_column(primary_key=True)
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
