"""What every service process does the same way: read settings, configure logs, open the
pool (migrating under the advisory lock), load the live configuration, run until SIGTERM,
then close everything and exit 0.

A service supplies only its body: ``async def body(rt: Runtime, stop: asyncio.Event)``, which
returns once ``stop`` is set and its own work is drained.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import ValidationError

from shared import metrics, tracing
from shared.clock import Clock, SystemClock
from shared.config.live import LiveConfig
from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.db import migrate
from shared.db.listener import PgListener
from shared.db.pool import connect, create_pool
from shared.logging import configure_logging, get_logger
from shared.loops import GaveUp, NotYet, retry_until
from shared.management import Readiness, create_management_app, start_management
from shared.settings import Settings, describe_invalid

log = get_logger("ciba.runtime")

_DATABASE_NOT_READY = (OSError, asyncpg.PostgresError)


@dataclass
class Runtime:
    settings: Settings
    service: str
    pool: asyncpg.Pool
    secrets: Secrets
    clock: Clock
    live_config: LiveConfig
    listener: PgListener
    # Set when the process must stop: SIGTERM, or a dead side task after its grace period.
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    readiness: Readiness = field(default_factory=Readiness)
    side_tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    # Why the process is failing (a side task died); it then exits with status 1.
    failure: str | None = None
    management: web.AppRunner | None = None

    @property
    def config(self) -> ServerConfig:
        return self.live_config.current

    def current_config(self) -> ServerConfig:
        """The live configuration as it is now: the source to hand a loop or a consumer that
        must see changes (it reads it once per round or message)."""
        return self.live_config.current

    def start_side_task(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` beside the service's work, supervised: if it ends before the process
        is stopping (an exception, a return, a cancellation), readiness fails at once and the
        process stops after ``side_task_exit_grace_sec``, then exits with status 1."""
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        task.add_done_callback(self._side_task_done)
        self.side_tasks.append(task)
        return task

    def _side_task_done(self, task: asyncio.Task[Any]) -> None:
        if self.stop.is_set():
            return  # it ended because the process is stopping
        if task.cancelled():
            error = "cancelled"
        elif task.exception() is not None:
            error = repr(task.exception())[:300]
        else:
            error = "returned"
        grace = self.settings.side_task_exit_grace_sec
        log.error("side_task_crashed", task=task.get_name(), error=error, exit_in_sec=grace)
        if self.failure is None:
            self.failure = f"side task {task.get_name()} died: {error}"
            asyncio.get_running_loop().call_later(grace, self.stop.set)

    async def _side_tasks_alive(self) -> str | None:
        return self.failure

    async def _postgres_answers(self) -> str | None:
        await self.pool.fetchval("SELECT 1")
        return None

    async def _listening(self) -> str | None:
        return None if self.listener.connected.is_set() else "the LISTEN connection is down"

    async def serve_management(self, configure: Callable[[web.Application], None] | None = None) -> None:
        """Start the management listener; ``configure`` adds the service's own routes."""
        app = create_management_app(self.readiness)
        if configure is not None:
            configure(app)
        self.management = await start_management(
            app, self.settings.management_host, self.settings.management_port_of(self.service),
            reuse_port=self.service == "gateway" and self.settings.http_workers > 1)


async def wait_for_database(dsn: str, *, timeout: float = 60.0) -> None:
    """Compose and Kubernetes may start us before Postgres answers: wait, then fail clearly."""
    async def answers() -> None:
        try:
            conn = await connect(dsn)
        except asyncpg.InvalidCatalogNameError:
            return  # the server answers; a missing database is not something to wait for
        await conn.close()

    try:
        await retry_until(answers, timeout=timeout, retry_on=_DATABASE_NOT_READY, event="database_not_ready")
    except GaveUp as exc:
        raise RuntimeError(f"database not reachable: {exc}") from None


async def wait_for_schema(dsn: str, *, timeout: float = 60.0) -> None:
    """A service started beside its migration job (a Compose one-shot, a Kubernetes Job)
    waits until the schema is at the version its code needs, then fails clearly."""
    needed = migrate.needed_version()

    async def current() -> None:
        conn = await connect(dsn)
        try:
            await migrate.refuse_newer(conn)  # no use waiting: a newer schema stays newer
            version = await migrate.current_version(conn)
        finally:
            await conn.close()
        if version < needed:
            raise NotYet(f"the database schema is at version {version}")

    try:
        await retry_until(current, timeout=timeout, retry_on=_DATABASE_NOT_READY, event="schema_not_ready")
    except GaveUp as exc:
        raise RuntimeError(f"{exc}; this release needs version {needed}: run `ciba-admin db upgrade`") from None


@asynccontextmanager
async def open_runtime(settings: Settings, service: str, *, clock: Clock | None = None,
                       stop: asyncio.Event | None = None) -> AsyncIterator[Runtime]:
    await wait_for_database(settings.database_url, timeout=settings.startup_wait_sec)
    if settings.migrate_on_start:
        conn = await connect(settings.database_url)
        try:
            await migrate.refuse_newer(conn)
            await migrate.upgrade(conn)
        finally:
            await conn.close()
    else:
        await wait_for_schema(settings.database_url, timeout=settings.startup_wait_sec)
    pool = await create_pool(settings.database_url, min_size=settings.db_pool_min,
                             max_size=settings.db_pool_max, connect_timeout=settings.db_connect_timeout_sec)
    try:  # the pool is closed however the rest fails, loading the configuration included
        listener = PgListener(settings.database_url)
        secrets = Secrets(settings.master_keys)
        live_config = LiveConfig(pool, settings.env, secrets)
        await live_config.load()
        live_config.attach(listener)
        rt = Runtime(settings=settings, service=service, pool=pool, secrets=secrets, clock=clock or SystemClock(),
                     live_config=live_config, listener=listener, stop=stop or asyncio.Event())
        metrics.start(service, pool_state=lambda: (pool.get_size() - pool.get_idle_size(), pool.get_idle_size(),
                                                   pool.get_max_size()))
        rt.readiness.add("postgres", rt._postgres_answers)
        rt.readiness.add("listener", rt._listening)
        rt.readiness.add("side_tasks", rt._side_tasks_alive)
        try:
            yield rt
        finally:
            rt.stop.set()
            if rt.management is not None:
                await rt.management.cleanup()
            for task in rt.side_tasks:
                task.cancel()
            for task in rt.side_tasks:
                with suppress(asyncio.CancelledError, Exception):
                    await task
    finally:
        await pool.close()


async def start_watchers(rt: Runtime) -> None:
    """Start the LISTEN connection and the config watcher (after all subscriptions), and
    return once the LISTEN connection is open: a service that says it is ready must not miss
    a notification sent the moment after."""
    rt.start_side_task(rt.listener.run(), "pg-listener")
    rt.start_side_task(rt.live_config.watch(), "config-watcher")
    try:
        await asyncio.wait_for(rt.listener.connected.wait(), rt.settings.startup_wait_sec)
    except TimeoutError:
        raise RuntimeError(
            f"the LISTEN connection did not open within {rt.settings.startup_wait_sec:g} s") from None


Body = Callable[[Runtime, asyncio.Event], Awaitable[None]]


def load_settings(service: str) -> Settings:
    """The process settings from the environment; exit status 2 with one line when invalid."""
    try:
        return Settings()
    except ValidationError as exc:
        print(f"{service}: invalid settings: {describe_invalid(exc)}", file=sys.stderr)
        raise SystemExit(2) from None


def run_service(service: str, body: Body, settings: Settings | None = None) -> None:
    """The console-script entry point of a service."""
    settings = settings or load_settings(service)
    configure_logging(service, settings.log_format, settings.log_level,
                      notification_log_file=settings.notification_log_file)
    try:
        if tracing.configure(service):
            log.info("tracing_enabled")
        with asyncio.Runner(loop_factory=_loop_factory(settings)) as runner:
            runner.run(_run(settings, service, body))
    except (RuntimeError, OSError, asyncpg.PostgresError) as exc:
        log.error("service_failed", error=str(exc) or type(exc).__name__)
        raise SystemExit(1) from None
    finally:
        tracing.shutdown()  # exports the spans still buffered
    log.info("service_stopped")


async def _run(settings: Settings, service: str, body: Body) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("service_starting", env=settings.env, namespace=settings.bus_namespace)
    try:
        async with open_runtime(settings, service, stop=stop) as rt:
            await body(rt, stop)
            if rt.failure is not None:
                raise RuntimeError(rt.failure)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop unless the operator asked for asyncio's own loop: its transports and scheduling
    are in C, which matters in services that spend most of their time on socket I/O."""
    if settings.event_loop == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None
