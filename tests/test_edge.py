"""The bot's own HTTP limits, over real TCP to `python app.py --local` (its embedded sandbox): slow
headers and slow bodies are cut after their deadline, connections beyond the limit (derived from the
process's open-file limit) are refused while the earlier ones keep working, a flood of identical
errors is logged as one line and a count, and /healthz tells a public caller only that the bot is up.
Nothing stands in front of the bot here; in production Azure's front end or a proxy has its own limits."""

from __future__ import annotations

import json
import logging
import os
import re
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bench.processes import free_port
from bot import logs
from bot.edge import FILES_RESERVED, connection_limit

ROOT = Path(__file__).resolve().parent.parent
ROOM = 5  # connections the bot may hold: its open-file limit is set to leave room for that many
HEALTH_KEY = "health-key-for-the-test"
DEADLINE_S = 0.5
WAIT_S = 20  # how long a test waits for what must happen after a deadline of DEADLINE_S or 1 s


class Served:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.log = folder / "bot.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("Microsoft", "GRAPH_", "LOCAL_RUN"))}
        env.update(DATA_DIR=str(folder / "data"), PORT=str(self.port), PYTHONUNBUFFERED="1", HEALTH_KEY=HEALTH_KEY,
                   BODY_TIMEOUT_S=str(DEADLINE_S), HEADER_TIMEOUT_S="1")
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        files = FILES_RESERVED + ROOM

        def limit_files() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (files, hard))

        with self.log.open("wb") as out:
            self.process = subprocess.Popen([sys.executable, "app.py", "--local"], cwd=ROOT, env=env, stdout=out,
                                            stderr=subprocess.STDOUT, preexec_fn=limit_files)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if _get(self.port, "/healthz", close=True)[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the bot did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> str:
        """SIGTERM (a graceful shutdown, which logs the pending repeat counts); the process's log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.log.read_text()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    bot = Served(tmp_path_factory.mktemp("edge"))
    yield bot
    bot.stop()


def _connect(port: int, source: str | None = None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S,
                                    source_address=(source, 0) if source else None)
    return sock


def _response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response read off the socket: status, headers, body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def _closed(sock: socket.socket) -> bool:
    """Whether the server closes the connection (rather than keeping it open) within WAIT_S."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def _get(port: int, path: str, *, close: bool = False, source: str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    with _connect(port, source) as sock:
        return _ask(sock, path, close=close, headers=headers)


def _ask(sock: socket.socket, path: str, *, close: bool = False,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    connection = "close" if close else "keep-alive"
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bot\r\nConnection: {connection}\r\n{extra}\r\n".encode())
    return _response(sock)


def _admitted(port: int) -> socket.socket:
    """A connection the bot has taken and answers on (one closed just before may still hold its slot
    for a moment)."""
    for _ in range(50):
        sock = _connect(port)
        if _ask(sock, "/healthz")[0] == 200:
            return sock
        sock.close()
        time.sleep(0.1)
    raise AssertionError("no connection was admitted")


def test_the_connection_limit_leaves_room_below_the_open_file_limit() -> None:
    from config import Config

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert connection_limit() == soft - FILES_RESERVED
    assert connection_limit(100) == min(100, soft - FILES_RESERVED)
    assert connection_limit(10 * soft) == soft - FILES_RESERVED
    config = Config.from_env({"MAX_CONNECTIONS": "7", "BODY_TIMEOUT_S": "2.5", "HEADER_TIMEOUT_S": "3",
                              "HEALTH_KEY": " k3y "})
    assert (config.max_connections, config.body_timeout_s, config.header_timeout_s) == (7, 2.5, 3)
    assert config.health_key == "k3y" and "k3y" not in repr(config)
    assert Config.from_env({}).max_connections == 0  # as many as the open-file limit leaves room for


def test_connections_beyond_the_limit_are_refused_while_earlier_ones_keep_working(served: Served) -> None:
    held = [_admitted(served.port) for _ in range(ROOM)]
    try:
        for _ in range(30):  # a flood of connections beyond the limit: each answered 503 and closed
            with _connect(served.port) as extra:
                status, headers, _ = _response(extra)
                assert status == 503 and headers["connection"] == "close"
                assert _closed(extra)
        for sock in held:  # the earlier connections are still served
            status, _, body = _ask(sock, "/healthz")
            assert status == 200 and json.loads(body)["status"] == "ok"
        held.pop().close()
        held.append(_admitted(served.port))  # a closed connection frees its place
    finally:
        for sock in held:
            sock.close()


def test_request_headers_that_do_not_arrive_in_time_are_cut(served: Served) -> None:
    with _connect(served.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: bot\r\n")  # and nothing more
        status, _, _ = _response(sock)
        assert status == 408
        assert _closed(sock)


def test_a_body_that_does_not_arrive_in_time_is_cut(served: Served) -> None:
    with _connect(served.port) as sock:
        sock.sendall(b"POST /api/messages HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n{")
        began = time.monotonic()
        sock.settimeout(0.1)
        answer = b""
        while time.monotonic() - began < WAIT_S:  # one byte every 0.1 s: a slow-loris body
            try:
                answer = sock.recv(65536)
                break
            except TimeoutError:
                sock.sendall(b" ")
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b"X-Correlation-Id" in answer
        sock.settimeout(WAIT_S)
        assert _closed(sock)


def _public_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_health_details_only_for_loopback_or_the_health_key(served: Served) -> None:
    local = json.loads(_get(served.port, "/healthz")[2])
    assert local["graph"]["mode"] == "sandbox" and "tenant" in local and "bot_authentication" in local
    proxied = json.loads(_get(served.port, "/healthz", headers={"X-Forwarded-For": "203.0.113.9"})[2])
    assert proxied == {"status": "ok"}  # a proxy on this machine forwarding someone else
    public = _public_address()
    if public is None:
        pytest.skip("this machine has no address but loopback (the logic is tested in-process below)")
    assert json.loads(_get(served.port, "/healthz", source=public)[2]) == {"status": "ok"}
    wrong = json.loads(_get(served.port, "/healthz", source=public, headers={"X-Health-Key": "guess"})[2])
    assert wrong == {"status": "ok"}
    keyed = json.loads(_get(served.port, "/healthz", source=public, headers={"X-Health-Key": HEALTH_KEY})[2])
    assert keyed["graph"]["mode"] == "sandbox" and keyed["booking_enabled"] is not None


def test_identical_errors_are_logged_once_with_a_count(served: Served) -> None:
    """Runs last: it stops the bot, which logs the counts still pending."""
    log = served.stop()
    refused = [line for line in log.splitlines() if "refused a connection" in line]
    assert len(refused) == 2, refused  # one line, and its count
    assert re.search(r"refused a connection: 5 are open, the limit \(repeated (\d+) times in the last 60 s\)",
                     refused[1])
    assert int(re.search(r"repeated (\d+) times", refused[1])[1]) >= 29
    assert "Traceback" not in log


# --- the same rules in-process -------------------------------------------------------------------

def _health_request(peer: str, headers: dict[str, str] | None = None, key: str = HEALTH_KEY) -> web.Request:
    from app import CONFIG_KEY, REPO_KEY
    from config import Config

    class Settings:
        tenant_id, connected, booking_enabled = "t", True, True

    class Repo:
        def get_settings(self) -> Settings:
            return Settings()

    app = web.Application()
    app[CONFIG_KEY] = Config(health_key=key)
    app[REPO_KEY] = Repo()  # type: ignore[assignment]

    class Transport:
        def get_extra_info(self, name: str, default: object = None) -> object:
            return (peer, 40000) if name == "peername" else default

        def is_closing(self) -> bool:
            return False

    return make_mocked_request("GET", "/healthz", headers=headers or {}, app=app, transport=Transport())


@pytest.mark.parametrize(("peer", "headers", "key", "details"), [
    ("127.0.0.1", {}, HEALTH_KEY, True),
    ("::1", {}, "", True),
    ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}, HEALTH_KEY, False),
    ("203.0.113.9", {}, HEALTH_KEY, False),
    ("203.0.113.9", {"X-Health-Key": "wrong"}, HEALTH_KEY, False),
    ("203.0.113.9", {"X-Health-Key": ""}, "", False),  # no key configured: no key opens it
    ("203.0.113.9", {"X-Health-Key": HEALTH_KEY}, HEALTH_KEY, True),
    ("10.0.0.4", {"X-Health-Key": HEALTH_KEY + "x"}, HEALTH_KEY, False),
])
async def test_who_sees_health_details(peer: str, headers: dict[str, str], key: str, details: bool) -> None:
    from app import healthz

    body = json.loads((await healthz(_health_request(peer, headers, key))).body)
    assert ("graph" in body) is details
    assert body["status"] == "ok"
    if not details:
        assert body == {"status": "ok"}


def test_incident_references_of_counted_errors_are_still_logged() -> None:
    """A user quotes the reference of their failed turn: it can be found in the log even when that
    error is counted rather than logged with its traceback."""
    emitted: list[str] = []
    now = [1000.0]
    repeat_filter = logs.RepeatFilter(lambda r: emitted.append(r.getMessage()), 60, clock=lambda: now[0])
    for incident in ("aaaa1111", "bbbb2222", "cccc3333"):
        record = logging.LogRecord("bot.adapter", logging.ERROR, __file__, 1, "turn failed (incident %s, activity %s)",
                                   (incident, "message"), (ValueError, ValueError("x"), None))
        if repeat_filter.filter(record):
            emitted.append(record.getMessage())
    now[0] += 61
    repeat_filter.flush()
    assert emitted == ["turn failed (incident aaaa1111, activity message)",
                       "turn failed (incident aaaa1111, activity message) (repeated 2 times in the last 60 s; among "
                       "them: turn failed (incident bbbb2222, activity message) | turn failed (incident cccc3333, "
                       "activity message))"]


def test_the_repeat_filter_remembers_a_bounded_number_of_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines that all differ (an attacker's values in an info line) are logged as they come; the
    filter does not keep a window for each of them."""
    monkeypatch.setattr(logs, "MAX_WINDOWS", 100)
    passed: list[logging.LogRecord] = []
    repeat_filter = logs.RepeatFilter(passed.append, 60, clock=lambda: 1000.0)
    for n in range(1000):
        record = logging.LogRecord("test.unique", logging.INFO, __file__, 1, "unknown card action %r", (n,), None)
        if repeat_filter.filter(record):
            passed.append(record)
    assert len(passed) == 1000
    assert len(repeat_filter._windows) == 100


def test_a_flood_of_identical_records_is_one_line_and_a_count() -> None:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    now = [1000.0]
    handler = Collect()
    handler.addFilter(logs.RepeatFilter(handler.handle, 60, clock=lambda: now[0]))
    logger = logging.getLogger("test.flood")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        for attempt in range(1000):
            try:
                raise OSError(24, "Too many open files")
            except OSError:
                logger.error("accept failed on socket %d", attempt, exc_info=True)
        logger.warning("something else")  # another template: its own line
        for user in ("alice", "bob", "bob"):
            logger.info("booked a room for %s", user)  # below warnings, only identical messages repeat
        assert len(lines) == 4 and "accept failed on socket 0" in lines[0] and "Traceback" in lines[0]
        now[0] += 61
        logger.error("accept failed on socket %d", 1000, exc_info=(OSError, OSError(24, "x"), None))
    finally:
        logger.removeHandler(handler)
    among = " | ".join(f"accept failed on socket {n}" for n in range(1, 11))  # the first ten others, no more
    assert lines[4] == f"accept failed on socket 0 (repeated 999 times in the last 60 s; among them: {among})"
    assert lines[5] == "booked a room for bob (repeated 1 times in the last 60 s)"
    assert lines[6].startswith("accept failed on socket 1000")  # a new interval: shown again
    assert len(lines) == 7


async def test_the_loop_exception_handler_logs_accept_and_connection_errors_through_the_filter(
        caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    logs.install(caplog.handler, [])
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(logs.loop_exception_handler)
    try:
        listener = socket.socket()
        for _ in range(200):
            # What asyncio reports each time accept() fails past the open-file limit, and when a
            # connection's protocol fails: asyncio's own handler writes the (each time different)
            # transport and protocol into the message.
            loop.call_exception_handler({"message": "socket.accept() out of system resource",
                                         "exception": OSError(24, "Too many open files"), "socket": listener})
            loop.call_exception_handler({"message": "Fatal error: protocol.data_received() call failed.",
                                         "exception": ValueError("bad"), "transport": object(), "protocol": object()})
        listener.close()
    finally:
        loop.set_exception_handler(None)
    logs.flush_repeats(everything=True)
    for message in ("socket.accept() out of system resource", "protocol.data_received() call failed"):
        lines = [r for r in caplog.records if message in r.getMessage()]
        assert len(lines) == 2 and lines[0].exc_info is not None, message
        assert "repeated 199 times" in lines[1].getMessage()
