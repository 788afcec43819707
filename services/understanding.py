"""Reading a typed message (`domain.understanding.understand`) without holding up the bot.

Microsoft's date recognizer costs more than linearly in the text ("book " + "1-2 " * 260 takes
seconds), so it never runs on the event loop: the pool sends each text to a worker process, waits
with a deadline (queueing included), and kills a worker that overruns (a thread could not be
stopped). Texts longer than `MAX_CHARS` are not read at all. Either way the user gets the booking
form with a note saying why (`Unread`). One user's texts are read one at a time, so a user sending
many slow texts holds at most one worker and others keep being served; and each user has a budget of
worker time (`ReadingBudget`), so one user cannot keep a worker, and a core, busy all the time.

Workers fork from a fork server that built the recognizer's models once (`understanding_preload`),
so a new worker is ready in milliseconds; they run at a lower priority than the bot itself.

The catalog (every room's name: 50,000 of them in a big organisation) is not sent with every text: each
worker keeps the last one it was sent, with its index of names, and a text carries only its version. A
worker is sent a catalog (pickled once per version) only when it lacks that version: a new worker, or
after an admin changed the rooms. A version is a catalog object: the flows make and keep one per version of
the registry, and a catalog not seen before is a new version (the pool knows catalogs by weak reference,
and keeps only the last one it pickled, as bytes)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
import os
import pickle
import sys
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, Protocol

from domain.understanding import Catalog, Understanding, kept_in_bulk, understand

log = logging.getLogger(__name__)

MAX_CHARS = 200  # a booking said in words fits in far less ("book 1h at 10 tomorrow for 6 in HQ")
TARGET = "domain.understanding:understand"  # what a worker runs; tests give one that spins
CATALOGS_KNOWN = 4  # catalogs whose versions the pool knows (the one in use, and those just before it)
WORKER_NICENESS = 10  # when a worker and the bot share a core, the bot's turns come first
START_TIMEOUT_S = 120.0  # the first worker waits for the fork server to build the models

FORM_INSTEAD = "Please fill in the form below and press Find free rooms"  # what each note says to do instead
TOO_LONG = f"That message is too long for me to read. {FORM_INSTEAD}."
TOO_SLOW = f"That took me too long to read. {FORM_INSTEAD}."
NOT_READ = f"Sorry, I couldn't read that. {FORM_INSTEAD}."
TOO_MUCH = f"You sent me a lot to read just now. {FORM_INSTEAD}, or try typing again in a minute."


class ReadingBudget:
    """How much worker time each user may use: `burst_s` at once, refilled at `share` of a worker
    (a token bucket per user). Reading a normal text takes tens of ms; one user sending the slowest
    texts back to back would otherwise keep a worker, and a core, busy all the time."""

    def __init__(self, burst_s: float = 1.5, share: float = 0.1, users_kept: int = 10_000) -> None:
        self._burst_s = burst_s
        self._share = share
        self._users_kept = users_kept
        self._credit: dict[str, tuple[float, float]] = {}  # who -> (seconds left, as of when)

    @property
    def remembered(self) -> int:
        """How many users' spending it keeps (it forgets those refilled, past `users_kept`)."""
        return len(self._credit)

    def allows(self, who: str, now: float) -> bool:
        return self._left(who, now) > 0

    def spend(self, who: str, seconds: float, now: float) -> None:
        self._credit[who] = (self._left(who, now) - seconds, now)
        if len(self._credit) > self._users_kept:  # forget those whose credit is full again
            self._credit = {k: v for k, v in self._credit.items() if self._left(k, now) < self._burst_s}

    def _left(self, who: str, now: float) -> float:
        left, when = self._credit.get(who, (self._burst_s, now))
        return min(self._burst_s, left + (now - when) * self._share)


@dataclass(frozen=True)
class Unread:
    """A text that was not read (too long, not read in time); `note` tells the user what to do."""

    note: str


Reading = Understanding | Unread


class Understand(Protocol):
    """The port the flows read typed messages through."""

    async def __call__(self, text: str, now_local: datetime, catalog: Catalog, locale: str = "en-US", *,
                       who: str = "") -> Reading: ...


def too_long(text: str) -> bool:
    return len(" ".join(text.split())) > MAX_CHARS


async def read_here(text: str, now_local: datetime, catalog: Catalog, locale: str = "en-US", *,
                    who: str = "") -> Reading:
    """Reading on the event loop, for tests and tools without a pool: bounded in length, not in time."""
    if too_long(text):
        return Unread(TOO_LONG)
    return understand(text, now_local, catalog, locale)


# --- the worker process -------------------------------------------------------------------

def _resolve(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _serve(conn: Connection, target: str) -> None:
    """A worker: read requests until the bot closes the pipe (or dies: the pipe closes with it)."""
    with suppress(OSError):
        os.nice(WORKER_NICENESS)
    read = _resolve(target)
    if "services.understanding_preload" not in sys.modules:  # not forked from the warm fork server
        from domain.understanding import warm_up

        warm_up()
    conn.send("ready")
    kept: tuple[int, Catalog] = (0, Catalog())  # the catalog's version, and the catalog
    while True:
        try:
            text, now_local, version, sent, locale = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if sent is not None:
                kept = (version, _received(sent))
            if kept[0] != version:
                raise LookupError(f"catalog {version} was not sent (this worker keeps {kept[0]})")
            answer: tuple[str, Any] = ("ok", read(text, now_local, kept[1], locale))
        except Exception as exc:  # noqa: BLE001 - reported to the bot, which shows the form
            answer = ("error", f"{type(exc).__name__}: {str(exc)[:200]}")
        conn.send(answer)


def _received(sent: bytes) -> Catalog:
    """A catalog sent to a worker, with its names indexed (hundreds of thousands of objects, all kept)."""
    with kept_in_bulk():
        return pickle.loads(sent).indexed()


def _context() -> Any:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["services.understanding_preload"])
        return context
    return multiprocessing.get_context("spawn")


async def _readable(conn: Connection) -> None:
    """Wait, without a thread, until the worker answered (or its end of the pipe closed)."""
    if conn.poll():
        return
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = conn.fileno()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(fd)


class _Worker:
    def __init__(self, context: Any, target: str) -> None:
        """Blocking (the first start waits for the fork server): call it in a thread."""
        self.conn, child_end = context.Pipe()
        self.process = context.Process(target=_serve, args=(child_end, target), name="roombot-understanding",
                                       daemon=True)
        self.process.start()
        self.pid = self.process.pid
        self.catalog = 0  # the version of the catalog it keeps (0: none yet, or not known)
        child_end.close()

    async def ready(self) -> None:
        await _readable(self.conn)
        if self.conn.recv() != "ready":
            raise RuntimeError("the understanding worker did not start")

    async def ask(self, args: tuple[Any, ...]) -> tuple[str, Any]:
        self.conn.send(args)  # small (a catalog once per version), and the worker is waiting for it
        await _readable(self.conn)
        return self.conn.recv()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()

    def reap(self, timeout_s: float = 5.0) -> None:
        """Blocking: wait for the process to end (an idle one ends when its pipe closes), killing it
        if it does not."""
        self.process.join(timeout_s)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout_s)


class UnderstandingPool:
    """Worker processes that read typed messages, each within `deadline_s` of its arrival."""

    def __init__(self, workers: int = 2, deadline_s: float = 2.0, target: str | None = None,
                 budget: ReadingBudget | None = None) -> None:
        self._size = max(1, workers)
        self._deadline_s = deadline_s
        self._budget = budget or ReadingBudget()
        self._target = target or TARGET
        self._context = _context()
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._workers: set[_Worker] = set()  # idle or busy, not yet being replaced
        self._busy: set[_Worker] = set()
        self._replacing: set[asyncio.Task[None]] = set()
        self._users: dict[str, tuple[asyncio.Lock, int]] = {}  # who -> (their lock, their texts waiting)
        # The latest catalogs seen, newest first, and their versions: known, not kept (the flows keep theirs)
        self._catalogs: list[tuple[weakref.ref[Catalog], int]] = []
        self._pickled: tuple[int, bytes] = (0, b"")  # the newest version, as sent to the workers that lack it
        self._versions = 0
        self._catalogs_sent = 0
        self._closed = False
        # Starting and reaping processes blocks (the first start waits for the fork server): in threads
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="understanding")

    @property
    def users_waiting(self) -> int:
        """How many users have a text being read or waiting (a user's lock lives only while one does)."""
        return len(self._users)

    @property
    def catalogs_sent(self) -> int:
        """How many times a worker was sent a catalog (once per version and worker; for tests and logs)."""
        return self._catalogs_sent

    @property
    def pids(self) -> list[int]:
        """The workers' process ids (for tests and logs)."""
        return sorted(w.pid for w in self._workers)

    async def start(self) -> None:
        try:
            await asyncio.gather(*(self._add_worker() for _ in range(self._size)))
        except BaseException:
            await self.close()
            raise
        log.info("%d understanding workers ready", self._size)

    async def close(self) -> None:
        """Stop every worker and wait until each process has ended."""
        self._closed = True
        for worker in self._busy:
            worker.kill()  # its reader sees the pipe close and hands it back below
        for _ in range(500):
            if not self._busy:
                break
            await asyncio.sleep(0.01)
        await asyncio.gather(*self._replacing, return_exceptions=True)
        workers, self._workers = self._workers, set()
        for worker in workers - self._busy:
            worker.conn.close()  # an idle worker exits when its pipe closes
        await asyncio.gather(*(self._blocking(w.reap) for w in workers))
        self._threads.shutdown(wait=False)  # every call in it has ended (the reaps above)

    async def _blocking(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._threads, call, *args)

    async def understand(self, text: str, now_local: datetime, catalog: Catalog, locale: str = "en-US", *,
                         who: str = "") -> Reading:
        """What a typed message says, or why it was not read. Never longer than the deadline."""
        if too_long(text):
            return Unread(TOO_LONG)
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            async with asyncio.timeout(self._deadline_s), self._one_at_a_time(who):
                if loop.time() - began > self._deadline_s / 2:
                    return Unread(TOO_SLOW)  # that user's previous text took most of this one's time
                if not self._budget.allows(who, loop.time()):
                    log.info("a user's message was not read: their reading time is used up")
                    return Unread(TOO_MUCH)
                status, answer = await self._ask((text, now_local, catalog, locale), who)
        except TimeoutError:
            log.warning("a message of %d characters was not read within %.1f s", len(text),
                        self._deadline_s)
            return Unread(TOO_SLOW)
        except (EOFError, OSError) as exc:
            log.warning("an understanding worker died (%s)", type(exc).__name__)
            return Unread(NOT_READ)
        if status != "ok":
            log.warning("reading a message failed: %s", answer)
            return Unread(NOT_READ)
        return answer

    @asynccontextmanager
    async def _one_at_a_time(self, who: str) -> AsyncIterator[None]:
        """A user's texts are read one after another: one user holds at most one worker."""
        lock, waiting = self._users.get(who) or (asyncio.Lock(), 0)
        self._users[who] = (lock, waiting + 1)
        try:
            async with lock:
                yield
        finally:
            lock, waiting = self._users[who]
            if waiting == 1:
                del self._users[who]
            else:
                self._users[who] = (lock, waiting - 1)

    def _version(self, catalog: Catalog) -> int:
        """The catalog's version: the same object is the same version (see the module's doc)."""
        for known, version in self._catalogs:
            if known() is catalog:
                return version
        self._versions += 1
        self._catalogs = [(weakref.ref(catalog), self._versions), *self._catalogs[:CATALOGS_KNOWN - 1]]
        return self._versions

    def _catalog_for(self, worker: _Worker, catalog: Catalog, version: int) -> bytes | None:
        """The catalog to send with a text, pickled once per version; None when the worker keeps it."""
        if worker.catalog == version:
            return None
        if self._pickled[0] != version:
            self._pickled = (version, pickle.dumps(catalog, pickle.HIGHEST_PROTOCOL))
        self._catalogs_sent += 1
        return self._pickled[1]

    async def _ask(self, args: tuple[str, datetime, Catalog, str], who: str) -> tuple[str, Any]:
        text, now_local, catalog, locale = args
        worker = await self._idle.get()  # first come, first served
        self._busy.add(worker)
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            version = self._version(catalog)
            sent = self._catalog_for(worker, catalog, version)
            worker.catalog = 0  # not known until it answers
            answer = await worker.ask((text, now_local, version, sent, locale))
            worker.catalog = version if answer[0] == "ok" else 0  # after an error: sent again, to be sure
        except BaseException:  # overran its deadline (cancelled) or died: it is not used again
            self._replace(worker)
            raise
        finally:
            self._busy.discard(worker)
            self._budget.spend(who, loop.time() - began, loop.time())
        self._idle.put_nowait(worker)
        return answer

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        worker.conn.close()
        if self._closed:
            return  # close() reaps it
        self._workers.discard(worker)
        task = asyncio.create_task(self._renew(worker))
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def _renew(self, old: _Worker) -> None:
        await self._blocking(old.reap)
        while not self._closed:
            try:
                await self._add_worker()
                log.info("replaced understanding worker %s", old.pid)
                return
            except (OSError, RuntimeError, EOFError, TimeoutError) as exc:
                log.error("could not start an understanding worker (%s); trying again", exc)
                await asyncio.sleep(1)

    async def _add_worker(self) -> None:
        worker = await self._blocking(_Worker, self._context, self._target)
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                await worker.ready()
        except BaseException:
            worker.kill()
            worker.conn.close()
            await self._blocking(worker.reap)
            raise
        if self._closed:
            worker.conn.close()
            await self._blocking(worker.reap)
            return
        self._workers.add(worker)
        self._idle.put_nowait(worker)
