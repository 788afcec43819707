"""The local PostgreSQL and nginx the multi-instance tests, the benchmark and scripts/run_cluster.sh stand
on: a cluster that starts, keeps what was committed across a restart and a crash, and a load balancer
that spreads turns over instances and skips a dead one without resending a turn one may have run."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from scripts.cluster import PG_BIN, LocalNginx, LocalPostgres, free_port
from tests import pg_fixtures


def _database(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_the_cluster_listens_on_loopback_with_fsync_on(postgres: LocalPostgres) -> None:
    assert postgres.url == f"postgresql://postgres@127.0.0.1:{postgres.port}/roombot"
    assert postgres.sql("SELECT current_database()") == "roombot"
    assert postgres.sql("SHOW listen_addresses") == "127.0.0.1"
    assert postgres.sql("SHOW fsync") == "on"
    assert postgres.sql("SHOW max_connections") == "200"
    owner = os.stat(f"/proc/{postgres.pid}").st_uid  # initdb refuses root: as root it runs as postgres
    assert owner == (pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid())


def test_a_database_per_test_is_fresh_and_dropped(postgres: LocalPostgres, pg_url: str) -> None:
    name = _database(pg_url)
    assert pg_url == postgres.url_for(name)
    assert postgres.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", name) == "0"
    postgres.sql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)", name)
    postgres.drop_database(name)
    assert postgres.sql(f"SELECT count(*) FROM pg_database WHERE datname = '{name}'", "postgres") == "0"
    postgres.create_database(name)  # the fixture drops it again
    assert postgres.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", name) == "0"


def test_a_plain_database_name_only(postgres: LocalPostgres) -> None:
    with pytest.raises(ValueError):
        postgres.create_database('x"; DROP DATABASE roombot; --')


def test_a_restart_keeps_committed_rows(postgres_factory: Callable[[], LocalPostgres]) -> None:
    cluster = postgres_factory()
    cluster.sql("CREATE TABLE booking (id int PRIMARY KEY); INSERT INTO booking SELECT generate_series(1, 100)")
    before = cluster.pid
    cluster.restart()
    assert cluster.pid is not None and cluster.pid != before
    assert cluster.sql("SELECT count(*) FROM booking") == "100"


def test_a_killed_cluster_recovers_committed_rows_and_drops_uncommitted_ones(
        postgres_factory: Callable[[], LocalPostgres]) -> None:
    cluster = postgres_factory()
    cluster.sql("CREATE TABLE booking (id int PRIMARY KEY); INSERT INTO booking SELECT generate_series(1, 100)")
    open_transaction = _hold_open_transaction(cluster, "INSERT INTO booking VALUES (999)")
    try:
        before = cluster.pid
        cluster.kill()
        assert cluster.pid is None
        cluster.start()
    finally:
        open_transaction.kill()
        open_transaction.communicate(timeout=10)  # reaps it and closes its stdin
    assert cluster.pid != before
    assert cluster.sql("SELECT count(*), max(id) FROM booking") == "100|100"
    assert "automatic recovery in progress" in cluster.log.read_text()  # it really crashed


def _hold_open_transaction(cluster: LocalPostgres, statement: str) -> subprocess.Popen[str]:
    """A psql session that ran `statement` in a transaction it leaves open."""
    session = subprocess.Popen([str(PG_BIN / "psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(cluster.port),
                                "-U", "postgres", "-d", "roombot"], stdin=subprocess.PIPE, text=True)
    assert session.stdin is not None
    session.stdin.write(f"BEGIN;\n{statement};\n")
    session.stdin.flush()
    for _ in range(200):
        if cluster.sql("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'") == "1":
            return session
        time.sleep(0.05)
    session.kill()
    raise AssertionError("the transaction did not open")


def test_a_stopped_cluster_starts_again_with_its_data(postgres_factory: Callable[[], LocalPostgres]) -> None:
    cluster = postgres_factory()
    cluster.sql("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")
    cluster.stop()
    assert cluster.pid is None
    again = LocalPostgres(cluster.folder)  # as scripts/run_cluster.sh does on its next run
    again.start()
    try:
        assert again.sql("SELECT x FROM kept") == "7"
        same = LocalPostgres(cluster.folder)
        same.start()  # already running: taken over as it is
        assert (same.port, same.pid) == (again.port, again.pid)
    finally:
        again.stop()


def test_a_deep_folder_gets_no_unix_socket_rather_than_no_server() -> None:
    """A Unix socket path is at most 107 bytes; a checkout deep in the file system still runs (over TCP)."""
    base = Path(tempfile.mkdtemp(prefix="roombot-pg-"))  # reachable by `postgres` when root
    base.chmod(0o711)
    cluster = LocalPostgres(base / ("deep" * 25))
    try:
        cluster.start()
        assert cluster.sql("SHOW unix_socket_directories") == ""
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


# --- nginx -------------------------------------------------------------------------------------

@dataclass
class Upstream:
    """A tiny bot stand-in: answers its name and the body it got; `drop` makes it read a request and
    hang up without answering, as an instance killed in the middle of a turn."""
    name: str
    url: str = ""
    received: list[str] = field(default_factory=list)
    drop: bool = False
    runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        self.received.append(f"{request.method} {body}")
        if self.drop:
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        return web.Response(text=f"{self.name}:{body}")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        """Closed: connections to it are refused."""
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def upstreams() -> AsyncIterator[list[Upstream]]:
    made = [Upstream("a"), Upstream("b")]
    for upstream in made:
        await upstream.start()
    yield made
    for upstream in made:
        await upstream.stop()


async def _post(session: aiohttp.ClientSession, balancer: LocalNginx, body: str) -> tuple[int, str]:
    async with session.post(f"{balancer.url}/api/messages", data=body) as response:
        return response.status, await response.text()


async def test_nginx_spreads_turns_over_the_instances(upstreams: list[Upstream],
                                                      nginx_factory: Callable[[list[str]], LocalNginx]) -> None:
    a, b = upstreams
    balancer = nginx_factory([a.url, b.url])
    async with aiohttp.ClientSession() as session:
        answers = [await _post(session, balancer, f"turn {i}") for i in range(10)]
        async with session.get(f"{balancer.url}/healthz") as response:
            assert response.status == 200
    assert all(status == 200 for status, _ in answers)
    assert {text for _, text in answers} == {f"{name}:turn {i}" for i, name in zip(range(10), "ab" * 5, strict=True)}
    assert len(a.received) + len(b.received) == 11


async def test_nginx_skips_a_dead_instance_without_an_error(upstreams: list[Upstream],
                                                            nginx_factory: Callable[[list[str]], LocalNginx]) -> None:
    a, b = upstreams
    balancer = nginx_factory([a.url, b.url])
    await b.stop()  # connection refused: the turn never reached it, so nginx may send it to `a`
    async with aiohttp.ClientSession() as session:
        answers = [await _post(session, balancer, f"turn {i}") for i in range(10)]
    assert answers == [(200, f"a:turn {i}") for i in range(10)]
    assert "Connection refused" in balancer.error_log.read_text()


async def test_nginx_does_not_resend_a_turn_an_instance_received(
        upstreams: list[Upstream], nginx_factory: Callable[[list[str]], LocalNginx]) -> None:
    a, b = upstreams
    a.drop = True  # reads the turn, then the connection drops: the turn may have run
    balancer = nginx_factory([a.url, b.url])
    async with aiohttp.ClientSession() as session:
        status, _ = await _post(session, balancer, "book room 1")
        assert status == 502
        assert a.received == ["POST book room 1"] and b.received == []
        # A GET may be repeated: the next instance answers it.
        async with session.get(f"{balancer.url}/healthz") as response:
            assert (response.status, await response.text()) == (200, "b:")


async def test_nginx_reload_points_at_other_instances(upstreams: list[Upstream],
                                                      nginx_factory: Callable[[list[str]], LocalNginx]) -> None:
    a, b = upstreams
    balancer = nginx_factory([a.url])
    async with aiohttp.ClientSession() as session:
        assert await _post(session, balancer, "1") == (200, "a:1")
        await asyncio.to_thread(balancer.reload, [b.url])  # the old worker ends after the loop answers
        assert [await _post(session, balancer, str(i)) for i in range(3)] == [(200, f"b:{i}") for i in range(3)]


def test_missing_packages_fail_the_tests_with_what_to_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never a silent skip: CI must run the PostgreSQL and nginx tests."""
    monkeypatch.setattr(pg_fixtures, "postgres_installed", lambda: False)
    with pytest.raises(pytest.fail.Exception, match=r"PostgreSQL 15 is not installed: run scripts/test\.sh"):
        pg_fixtures._cluster()
    monkeypatch.setattr(pg_fixtures, "nginx_installed", lambda: False)
    with pytest.raises(pytest.fail.Exception, match=r"nginx is not installed: run scripts/test\.sh"):
        pg_fixtures._balancer(tmp_path, ["http://127.0.0.1:1"])
