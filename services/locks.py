"""Locks by name that hold across every instance sharing the data.

Two presses on one booking (Cancel twice, Extend and End now, a press on each of two instances behind a
load balancer) must act one after the other, so that the second finds its card out of date rather than
acting again. In one process an asyncio.Lock per name does that; on shared data (PostgreSQL) the holder
also takes a lease in the database (one row per name, taken by one statement), so the press that
reached the other instance waits for it too. A lease outlives a holder that died for at most `ttl_s`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from domain.errors import DomainError
from storage.repository import Repository

log = logging.getLogger(__name__)

LEASE_S = 120.0  # longer than the longest held section (a booking's patience with a struggling Graph)
WAIT_S = 20.0  # a press waits this long for another instance's press on the same booking
POLL_S = 0.05


class StillBusy(DomainError):
    user_message = "That booking is being changed just now. Please try again in a moment."


class SharedLocks:
    def __init__(self, repo: Repository, prefix: str, *, ttl_s: float = LEASE_S, wait_s: float = WAIT_S,
                 poll_s: float = POLL_S) -> None:
        self._repo = repo
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._wait_s = wait_s
        self._poll_s = poll_s
        # One lock per name in use, gone when nobody holds or waits for it.
        self._local: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        lock = self._local.get(name)
        if lock is None:
            lock = self._local[name] = asyncio.Lock()
        async with lock:
            if not self._repo.shared:  # one process owns the data: the local lock is the whole story
                yield
                return
            lease, owner = f"{self._prefix}:{name}", uuid.uuid4().hex
            loop = asyncio.get_running_loop()
            give_up = loop.time() + self._wait_s
            while not self._repo.lease(lease, owner, self._ttl_s):
                if loop.time() >= give_up:
                    log.warning("gave up waiting for %s, held by another instance", lease)
                    raise StillBusy()
                await asyncio.sleep(self._poll_s)
            try:
                yield
            finally:
                self._repo.release(lease, owner)
