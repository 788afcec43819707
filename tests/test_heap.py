"""What a serving bot made at startup is kept out of the garbage collector's full collections."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bench.echo_bot import create_echo_app
from bench.processes import free_port
from bot.edge import Limits, _serve, freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Each test starts with nothing frozen and gives the test process its heap back."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def _collectable(value: object) -> bool:
    """Whether the cyclic garbage collector's collections look at `value` (frozen objects it skips)."""
    return any(o is value for o in gc.get_objects())


def test_freezing_the_startup_heap_takes_what_exists_now(unfrozen: None) -> None:
    made_at_startup = [["room", n] for n in range(1000)]
    assert gc.get_freeze_count() == 0 and _collectable(made_at_startup[0])
    freeze_startup_heap()
    assert gc.get_freeze_count() >= len(made_at_startup)
    assert not _collectable(made_at_startup[0])
    made_later = ["turn"]
    assert _collectable(made_later)  # what turns make is collected as before


async def test_the_bot_freezes_its_startup_heap_once_it_serves(unfrozen: None) -> None:
    app = web.Application()
    started: list[int] = []

    async def startup(_: web.Application) -> None:
        started.append(gc.get_freeze_count())

    async def ping(_: web.Request) -> web.Response:
        return web.Response(text="up")

    app.on_startup.append(startup)
    app.router.add_get("/ping", ping)
    port = free_port()
    serving = asyncio.create_task(_serve(app, "127.0.0.1", port, Limits(max_connections=10, header_timeout_s=5), 5))
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/ping") as response:
                        assert response.status == 200
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
        assert started == [0]  # not during startup: what startup makes is frozen with the rest
        assert gc.get_freeze_count() > 0
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)


async def test_the_echo_baseline_is_hosted_the_same_way(unfrozen: None) -> None:
    server = TestServer(create_echo_app(), host="127.0.0.1")
    await server.start_server()
    try:
        assert gc.get_freeze_count() > 0
    finally:
        await server.close()
