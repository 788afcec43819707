"""The bot's own HTTP edge: how many connections it holds, how long a client may take to send its
request, and the server loop. In production Azure's front end (or a reverse proxy such as nginx)
enforces limits of its own; these hold when nothing does, as in the tests."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import resource
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.web_runner import GracefulExit

from bot import logs

log = logging.getLogger(__name__)

# File descriptors kept for everything but client connections: Graph's connection pool (100), the
# connector threads' sockets (64), storage files, logs, the embedded sandbox.
FILES_RESERVED = 256
KEEPALIVE_TIMEOUT_S = 75.0  # web.run_app's: idle kept-alive connections (and headers dribbled on them) close after it
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n")
TOO_SLOW = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
HEADERS_END = b"\r\n\r\n"


def connection_limit(requested: int = 0, reserved: int = FILES_RESERVED) -> int:
    """At most `requested` connections (0: no wish), and always fewer than the process's open-file
    limit allows: past it accept() fails (EMFILE) and so does every request, logging or not."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return requested or 10_000
    room = max(1, soft - reserved)
    return min(requested, room) if requested > 0 else room


def freeze_startup_heap() -> None:
    """Put what startup made (modules, the date recognizers' catalogs, the registry) out of the cyclic
    garbage collector's way: it lives as long as the process, yet every full collection, which a busy
    bot runs every few hundred turns, walked all of it (about 90,000 objects, 0.1 s or more each time).
    Python's own gc.freeze; what turns make is collected as before."""
    gc.collect()
    gc.freeze()


@dataclass(frozen=True)
class Limits:
    max_connections: int
    header_timeout_s: float


class Gate:
    """Counts the open connections of one server and hands out aiohttp's request handlers."""

    def __init__(self, server: Callable[[], asyncio.Protocol], limits: Limits) -> None:
        self.server = server
        self.limits = limits
        self.open = 0

    def protocol(self) -> asyncio.Protocol:
        return _Guarded(self)


class _Guarded(asyncio.Protocol):
    """One client connection. With room, it is aiohttp's (every event passed on) and must send its
    first request's headers within the limit; without room it is answered 503 and closed at once,
    which frees its file descriptor."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        gate = self._gate
        self._transport = transport  # type: ignore[assignment]
        if gate.open >= gate.limits.max_connections:
            log.warning("refused a connection: %d are open, the limit", gate.limits.max_connections)
            self._transport.write(BUSY)
            self._transport.close()
            return
        gate.open += 1
        self._inner = gate.server()
        self._timer = asyncio.get_running_loop().call_later(gate.limits.header_timeout_s, self._headers_late)
        self._inner.connection_made(transport)

    def _headers_late(self) -> None:
        self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            log.info("closed a connection whose request headers did not arrive within %s s",
                     self._gate.limits.header_timeout_s)
            self._transport.write(TOO_SLOW)
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if self._timer is not None:
            seen = self._tail + data
            if HEADERS_END in seen:
                self._timer.cancel()
                self._timer = None
                self._tail = b""
            else:
                self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._inner is not None:
            self._gate.open -= 1
            inner, self._inner = self._inner, None
            inner.connection_lost(exc)


class GuardedSite(web.TCPSite):
    """A TCPSite whose connections go through a Gate."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, limits: Limits) -> None:
        super().__init__(runner, host, port)
        self.limits = limits
        self.gate: Gate | None = None

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site; TCPSite.start would serve without the gate
        server = self._runner.server
        assert server is not None
        self.gate = Gate(server, self.limits)
        self._server = await asyncio.get_running_loop().create_server(
            self.gate.protocol, self._host, self._port, backlog=self._backlog)


def runner_for(app: web.Application, body_timeout_s: float) -> web.AppRunner:
    """An AppRunner as web.run_app makes it, except that the unread rest of a refused request's body
    is drained (so that the client reads the answer) for no longer than a body may take."""
    return web.AppRunner(app, handle_signals=True, access_log=None, keepalive_timeout=KEEPALIVE_TIMEOUT_S,
                         lingering_time=body_timeout_s)


async def _serve(app: web.Application, host: str, port: int, limits: Limits, body_timeout_s: float) -> None:
    runner = runner_for(app, body_timeout_s)
    await runner.setup()
    try:
        site = GuardedSite(runner, host, port, limits)
        await site.start()
        freeze_startup_heap()
        log.info("listening on %s (at most %d connections)", site.name, limits.max_connections)
        while True:
            await asyncio.sleep(logs.REPEAT_INTERVAL_S)
            logs.flush_repeats()  # counts of repeated log lines, even when nothing else is logged
    finally:
        await runner.cleanup()
        logs.flush_repeats(everything=True)


def run(app: web.Application, *, host: str, port: int, limits: Limits, body_timeout_s: float) -> None:
    """web.run_app's loop (until SIGINT or SIGTERM, then a graceful shutdown) with a GuardedSite, and
    the loop's errors logged through the repeat filter."""
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(logs.loop_exception_handler)
    asyncio.set_event_loop(loop)
    main_task = loop.create_task(_serve(app, host, port, limits, body_timeout_s))
    try:
        loop.run_until_complete(main_task)
    except (GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            main_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(main_task)
        finally:
            _cancel_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            asyncio.set_event_loop(None)


def _cancel_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
