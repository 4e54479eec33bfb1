"""Engines and session factories, one per event loop (asyncpg connections belong to the loop that opened them)."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from backend.config import Settings, get_settings


def create_engine_for(url: str, *, echo: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True)


class Database:
    """Hands out the engine and session factory of the running event loop."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._by_loop: dict[asyncio.AbstractEventLoop, tuple[AsyncEngine, async_sessionmaker[AsyncSession]]] = {}
        self._lock = threading.Lock()

    def _current(self) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
        loop = asyncio.get_running_loop()
        with self._lock:
            if loop not in self._by_loop:
                engine = create_engine_for(self.settings.database_url)
                self._by_loop[loop] = (engine, async_sessionmaker(engine, expire_on_commit=False))
            return self._by_loop[loop]

    @property
    def engine(self) -> AsyncEngine:
        return self._current()[0]

    def session(self) -> AsyncSession:
        return self._current()[1]()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose_current(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            pair = self._by_loop.pop(loop, None)
        if pair:
            await pair[0].dispose()


_database: Database | None = None


def get_database() -> Database:
    global _database
    if _database is None:
        _database = Database()
    return _database


def use_database(database: Database | None) -> None:
    """Swap the process-wide database (tests point it at their own)."""
    global _database
    _database = database
