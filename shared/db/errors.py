"""Telling "the database is unreachable for now" from every other failure.

An outage (Postgres restarting, a network cut, a pool that cannot connect in time) is nobody's
fault and passes: the gateway answers 503 temporarily_unavailable with Retry-After instead of
a 500, and consumers hand the message back without charging it one of its attempts.
"""

from __future__ import annotations

import asyncpg

UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # connect, acquire or command timeout
    asyncpg.PostgresConnectionError,  # the connection broke or was refused
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, not accepting connections yet
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.InterfaceError,  # a connection or pool that was closed under us
)


def database_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, UNAVAILABLE)
