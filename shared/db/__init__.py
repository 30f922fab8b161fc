"""Postgres access: the pool, migrations, LISTEN, batching.

``Connection`` is what the repositories take: a connection of its own (``asyncpg.connect``)
or one lent by a pool (``pool.acquire()`` hands out a ``PoolConnectionProxy``, which forwards
every call to its connection; asyncpg's own ``isinstance`` check accepts both, but the stubs
keep the two apart).
"""

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
