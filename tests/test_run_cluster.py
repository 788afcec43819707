"""scripts/run_cluster.sh, the second run command: PostgreSQL (kept in its folder across runs), the
sandbox, two bots on the database and nginx in front of them, on loopback; Ctrl+C stops all of it."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psycopg
import pytest

from bench.processes import descendants, free_port
from scripts.cluster import LocalPostgres, alive, nginx_installed, postgres_installed
from tests.conftest import Connector, teams_activity

ROOT = Path(__file__).resolve().parent.parent
# Ctrl+C reaches a script run from a terminal even when these tests run where SIGINT is ignored (a shell's
# background job): a shell cannot undo an ignored signal, so this resets it before becoming the script.
TERMINAL = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"


class Run:
    """One run of the script, started as a terminal would (its own process group, Ctrl+C not ignored)."""

    def __init__(self, folder: Path, port: int) -> None:
        env = {**os.environ, "CLUSTER_DIR": str(folder), "PORT": str(port), "PLAYGROUND": "0"}
        self.process = subprocess.Popen([sys.executable, "-c", TERMINAL, str(ROOT / "scripts/run_cluster.sh")],
                                        cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.lines: list[str] = []

    async def wait_up(self, timeout_s: float = 180) -> None:
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout_s):
            while True:
                line = await asyncio.to_thread(self.process.stdout.readline)
                assert line, f"the script ended: {''.join(self.lines)}"
                self.lines.append(line)
                if line.startswith("RoomBot is up behind nginx"):
                    return

    def found(self, pattern: str) -> list[str]:
        return [m for line in self.lines for m in re.findall(pattern, line)]

    def ctrl_c(self) -> str:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        rest, _ = self.process.communicate(timeout=90)
        return rest


@pytest.fixture
def cluster_dir() -> Iterator[Path]:
    """Under the system's temporary folder: as root PostgreSQL runs as `postgres`, which cannot reach pytest's."""
    folder = Path(tempfile.mkdtemp(prefix="roombot-run-"))
    folder.chmod(0o711)  # as a checkout's data/ folder is: others may pass through
    yield folder
    LocalPostgres(folder / "pg").stop()  # in case a run failed half-way
    shutil.rmtree(folder, ignore_errors=True)


async def _turn(session: aiohttp.ClientSession, url: str, connector: Connector, text: str) -> str:
    """Send a message; its activity id."""
    activity = teams_activity(connector, text=text)
    async with session.post(f"{url}/api/messages", json=activity) as response:
        assert response.status in (200, 201, 202), await response.text()
    return activity["id"]


async def test_two_instances_on_postgres_behind_nginx_start_and_stop_with_one_command(
        cluster_dir: Path, connector: Connector) -> None:
    if not (postgres_installed() and nginx_installed()):
        pytest.fail("PostgreSQL or nginx is not installed: run scripts/test.sh", pytrace=False)
    port = free_port()
    run = Run(cluster_dir, port)
    try:
        await run.wait_up()
        [database_url] = run.found(r"PostgreSQL: (\S+)")
        instances = run.found(r"RoomBot instance \d: (\S+)")
        assert len(instances) == 2
        async with aiohttp.ClientSession() as session:
            for url in instances:  # both on the database the script set the demo organisation up in
                async with session.get(f"{url}/healthz") as response:
                    health = await response.json()
                assert health["tenant"]["connected"] and health["booking_enabled"]
            sent = [await _turn(session, f"http://127.0.0.1:{port}", connector, "help") for _ in range(2)]
        assert {a.get("replyToId") for a in connector.activities()} >= set(sent)  # both answered, via nginx
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept_across_runs (x int); INSERT INTO kept_across_runs VALUES (42)")
        pids = descendants(run.process.pid)
        assert len(pids) >= 5  # the sandbox, two bots (and their workers), nginx and its worker
    finally:
        rest = run.ctrl_c()
    assert "Stopped." in rest and run.process.returncode == 130
    assert not any(alive(pid) for pid in pids)
    assert LocalPostgres(cluster_dir / "pg").pid is None

    again = Run(cluster_dir, port)  # the data is kept
    try:
        await again.wait_up()
        [database_url] = again.found(r"PostgreSQL: (\S+)")
        with psycopg.connect(database_url) as conn:
            assert conn.execute("SELECT x FROM kept_across_runs").fetchall() == [(42,)]
    finally:
        again.ctrl_c()
