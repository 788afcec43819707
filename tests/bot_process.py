"""RoomBot as a real process (`python app.py --local`), pointed at a sandbox like a tenant, for
tests that need several bot processes or a kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from bench.processes import bot_env, free_port
from domain.fair_use import highest_limits
from sandbox.bootstrap import prepare_demo_org
from sandbox.server import RunningSandbox
from storage.backends import TinyDbBackend
from storage.postgres import PostgresBackend
from storage.repository import Repository

ROOT = Path(__file__).resolve().parent.parent


def prepare_data(data_dir: Path, database_url: str = "") -> None:
    """The organisation an admin would have set up: connected to the sandbox's tenant, booking on,
    the demo rooms on their floor plans; the highest fair-use limits (these tests are loads). In
    `data_dir`'s TinyDB files, or in PostgreSQL at `database_url`."""
    repo = Repository(PostgresBackend(database_url) if database_url else TinyDbBackend(data_dir))
    try:
        prepare_demo_org(repo)
        repo.save_settings(highest_limits(repo.get_settings()))  # a load: far more per person than fair use
    finally:
        repo.close()


class BotProcess:
    def __init__(self, data_dir: Path, sandbox: RunningSandbox, *, graph_timeout_s: float = 5,
                 database_url: str = "", **env: str) -> None:
        """`database_url`: an instance on that PostgreSQL database (its data_dir holds only logs);
        `env`: more variables (JOB_LEASE_S, REMINDER_MIN, ...)."""
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"bot-{self.port}.log"
        self.env = bot_env(data_dir, self.port, sandbox.url, str(sandbox.tls.ca_cert),
                           GRAPH_TIMEOUT_S=str(graph_timeout_s), DATABASE_URL=database_url, **env)
        self.process: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            return subprocess.Popen([sys.executable, "app.py", "--local"], cwd=ROOT, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT)

    async def start(self, timeout_s: float = 90) -> None:
        """Start the process and wait until /healthz answers."""
        self.process = self._spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with aiohttp.ClientSession() as session:
            while loop.time() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the bot exited ({self.process.returncode}): {self.log.read_text()[-2000:]}")
                try:
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"the bot did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()
