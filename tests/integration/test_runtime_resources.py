"""A service that fails on its way up closes what it opened: the runtime's pool when the
configuration cannot be loaded."""

from __future__ import annotations

import asyncpg
import pytest

from shared import runtime


async def test_the_pool_is_closed_when_loading_the_configuration_fails(settings, monkeypatch) -> None:
    opened: list[asyncpg.Pool] = []
    real_create_pool = runtime.create_pool

    async def create_pool(*args, **kwargs):
        pool = await real_create_pool(*args, **kwargs)
        opened.append(pool)
        return pool

    async def broken_load(self) -> None:
        raise RuntimeError("the configuration table is unreadable")

    monkeypatch.setattr(runtime, "create_pool", create_pool)
    monkeypatch.setattr(runtime.LiveConfig, "load", broken_load)
    with pytest.raises(RuntimeError, match="unreadable"):
        async with runtime.open_runtime(settings, "test"):
            pass
    assert len(opened) == 1 and opened[0].is_closing()
