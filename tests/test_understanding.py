"""The understanding pool: typed messages read in worker processes, within a deadline, one user's
texts one at a time; runaway workers killed and replaced; nothing left running after close."""

from __future__ import annotations

import asyncio
import gc
import os
import weakref
from collections.abc import AsyncIterator
from datetime import date, datetime, time

import pytest

from domain.models import Building, Floor
from domain.understanding import Catalog, Intent, RoomName, Understanding, When
from services.understanding import (
    MAX_CHARS,
    NOT_READ,
    TOO_LONG,
    TOO_MUCH,
    TOO_SLOW,
    ReadingBudget,
    UnderstandingPool,
    Unread,
    read_here,
)
from tests.understanding_helpers import TARGET, alive

NOW = datetime(2026, 11, 24, 9, 0)
HQ = Building(id="hq", name="Contoso HQ")
FLOORS = (Floor(id="hq-2", building_id="hq", name="Second floor", level=2),)
NONE = Catalog()
WORST = "book " + "1-2 " * 260  # seconds of the date recognizer's time on the event loop, before


@pytest.fixture
async def pool() -> AsyncIterator[UnderstandingPool]:
    pool = UnderstandingPool(workers=2, deadline_s=1.5, target=TARGET)
    await pool.start()
    yield pool
    await pool.close()


async def test_a_text_is_read_in_a_worker_with_the_catalog_and_locale(pool: UnderstandingPool) -> None:
    quick = await pool.understand("book tomorrow 10:00-11:00 for 6 in Contoso HQ second floor", NOW,
                                  Catalog(buildings=(HQ,), floors=FLOORS), "en-GB", who="alex")
    assert quick == Understanding(intent=Intent.BOOK, when=When(day=date(2026, 11, 25), start=time(10), end=time(11)),
                                  capacity=6, building_id="hq", floor_id="hq-2", command=True)
    assert os.getpid() not in pool.pids and all(alive(pid) for pid in pool.pids)
    for locale, day in (("en-US", date(2026, 12, 3)), ("en-GB", date(2027, 3, 12))):  # the locale reaches it
        reading = await pool.understand("book 12/3 at 10", NOW, NONE, locale, who="alex")
        assert isinstance(reading, Understanding) and reading.when.day == day


async def test_a_worker_is_sent_the_catalog_once_per_version(pool: UnderstandingPool) -> None:
    """A text carries the catalog's version only: each worker is sent a catalog once, when it lacks that
    version (a new one after the rooms changed, or a worker that replaced one that died)."""
    aurora = Catalog(rooms=(RoomName("aurora@x.com", "Aurora"),))
    for _ in range(6):  # the two workers take turns
        reading = await pool.understand("book Aurora at 10", NOW, aurora, who="alex")
        assert isinstance(reading, Understanding) and reading.room_email == "aurora@x.com"
    assert pool.catalogs_sent == 2
    renamed = Catalog(rooms=(RoomName("aurora@x.com", "Zenith"),))
    for _ in range(4):
        reading = await pool.understand("book Zenith at 10", NOW, renamed, who="alex")
        assert isinstance(reading, Understanding) and reading.room_email == "aurora@x.com"
    assert pool.catalogs_sent == 4
    gone = weakref.ref(aurora)
    del aurora
    gc.collect()
    assert gone() is None  # the pool knows versions, it keeps no catalog (the flows keep theirs)
    assert await pool.understand("book die", NOW, renamed, who="alex") == Unread(NOT_READ)
    for _ in range(500):
        if len(pool.pids) == 2:
            break
        await asyncio.sleep(0.01)
    for _ in range(4):
        reading = await pool.understand("book Zenith at 10", NOW, renamed, who="alex")
        assert isinstance(reading, Understanding) and reading.room_email == "aurora@x.com"
    assert pool.catalogs_sent == 5  # the new worker only


async def test_a_runaway_parse_is_killed_and_its_worker_replaced(pool: UnderstandingPool) -> None:
    before = pool.pids
    assert await pool.understand("book spin", NOW, NONE, who="mallory") == Unread(TOO_SLOW)
    for _ in range(500):  # the replacement forks from the warm fork server
        if len(pool.pids) == 2:
            break
        await asyncio.sleep(0.01)
    after = pool.pids
    [killed] = set(before) - set(after)
    assert len(after) == 2 and not alive(killed)
    for _ in range(3):  # both workers read normal texts again
        quick = await pool.understand("book tomorrow 10:00-11:00", NOW, NONE, who="alex")
        assert isinstance(quick, Understanding) and quick.when.start == time(10) and quick.when.end == time(11)


async def test_a_text_too_long_is_not_read_at_all(pool: UnderstandingPool) -> None:
    before = pool.pids
    assert await pool.understand(WORST, NOW, NONE, who="mallory") == Unread(TOO_LONG)
    spinning = "book spin " + "x " * MAX_CHARS  # would run away, were it read
    assert await pool.understand(spinning, NOW, NONE, who="mallory") == Unread(TOO_LONG)
    assert pool.pids == before  # no worker was given it
    assert await read_here(WORST, NOW, NONE) == Unread(TOO_LONG)  # the in-process reading is bounded too
    spaced = "book   tomorrow " + " " * 500 + "10:00-11:00"  # spacing does not count
    assert isinstance(await pool.understand(spaced, NOW, NONE), Understanding)


async def test_one_users_runaway_texts_do_not_starve_others(pool: UnderstandingPool) -> None:
    """Mallory sends five runaway texts at once. They are read one after another, so Mallory holds
    one worker at most: Alex's text, sent just after, is read by the other one."""
    mallory = [asyncio.create_task(pool.understand(f"book spin {n}", NOW, NONE, who="mallory"))
               for n in range(5)]
    await asyncio.sleep(0.05)
    alex = await pool.understand("book tomorrow 10:00-11:00", NOW, NONE, who="alex")
    assert isinstance(alex, Understanding) and alex.when.start == time(10)
    assert not all(task.done() for task in mallory)
    assert all(isinstance(answer, Unread) for answer in await asyncio.gather(*mallory))


async def test_a_users_lock_lives_only_while_their_texts_are_read(pool: UnderstandingPool) -> None:
    texts = [pool.understand("book tomorrow 10:00-11:00", NOW, NONE, who=f"user-{n % 30}") for n in range(60)]
    reading = asyncio.ensure_future(asyncio.gather(*texts))
    await asyncio.sleep(0)
    assert pool.users_waiting == 30
    assert all(isinstance(answer, Understanding | Unread) for answer in await reading)
    assert pool.users_waiting == 0
    again = await pool.understand("book tomorrow 10:00-11:00", NOW, NONE, who="user-0")
    assert isinstance(again, Understanding) and again.when.start == time(10)


async def test_a_user_who_used_up_their_reading_time_is_not_read_for_a_while() -> None:
    pool = UnderstandingPool(workers=2, deadline_s=1, target=TARGET, budget=ReadingBudget(burst_s=0.5, share=0.01))
    await pool.start()
    try:
        assert await pool.understand("book spin", NOW, NONE, who="mallory") == Unread(TOO_SLOW)
        assert await pool.understand("book tomorrow 10:00-11:00", NOW, NONE, who="mallory") == Unread(TOO_MUCH)
        alex = await pool.understand("book tomorrow 10:00-11:00", NOW, NONE, who="alex")
        assert isinstance(alex, Understanding) and alex.when.start == time(10)
    finally:
        await pool.close()


def test_the_reading_budget_is_a_token_bucket_per_user() -> None:
    budget = ReadingBudget(burst_s=2, share=0.25, users_kept=2)
    assert budget.allows("mallory", 0)
    budget.spend("mallory", 1.5, now=0)
    assert budget.allows("mallory", 0)  # 0.5 s left
    budget.spend("mallory", 1.5, now=0)  # the last read may overrun what was left
    assert not budget.allows("mallory", 3.9) and budget.allows("mallory", 4.1)  # -1 s, refilled at 0.25 s/s
    assert budget.allows("alex", 0)  # each user has their own
    budget.spend("alex", 0.1, now=0)
    budget.spend("megan", 2.5, now=100)  # past two users kept, those refilled by now are forgotten
    assert budget.remembered == 1 and budget.allows("alex", 100) and not budget.allows("megan", 100)


async def test_a_worker_that_dies_or_fails_gets_the_form_not_an_error(pool: UnderstandingPool) -> None:
    before = pool.pids
    assert await pool.understand("book fail", NOW, NONE, who="alex") == Unread(NOT_READ)
    assert pool.pids == before  # an exception in the parse leaves the worker usable
    assert await pool.understand("book die", NOW, NONE, who="alex") == Unread(NOT_READ)
    for _ in range(500):
        if len(pool.pids) == 2:
            break
        await asyncio.sleep(0.01)
    assert len(set(pool.pids) - set(before)) == 1
    assert isinstance(await pool.understand("book at 10", NOW, NONE, who="alex"), Understanding)


async def test_close_ends_every_worker_even_a_busy_one() -> None:
    pool = UnderstandingPool(workers=2, deadline_s=30, target=TARGET)
    await pool.start()
    pids = pool.pids
    busy = asyncio.create_task(pool.understand("book spin", NOW, NONE, who="mallory"))
    await asyncio.sleep(0.2)
    await pool.close()
    assert await busy == Unread(NOT_READ)
    assert pool.pids == [] and not any(alive(pid) for pid in pids)
