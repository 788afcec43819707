"""The processes a benchmark run starts: the Microsoft 365 sandbox, RoomBot and the echo baseline.
Each runs as its own Python process, as in production, so its memory and CPU are its own."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from sandbox.seed import APP_CLIENT_ID, APP_CLIENT_SECRET, TENANT_ID
from sandbox.tls import ensure_tls_files

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status_mb(pid: int, field: str) -> float | None:
    """A memory figure of /proc/<pid>/status (VmHWM, VmRSS), in MB; None if it has none."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    peak = _status_mb(pid, "VmHWM")
    if peak is None:
        raise RuntimeError("no VmHWM in /proc status")
    return peak


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (RoomBot's understanding fork server and workers, ...)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":  # a zombie has ended
            children.setdefault(int(fields[1]), []).append(int(proc.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def rss_mb(pid: int) -> float:
    """The process's resident memory now (VmRSS), in MB; 0 if it has ended."""
    try:
        return _status_mb(pid, "VmRSS") or 0.0
    except OSError:
        return 0.0


class Process:
    """A child process serving HTTP on a local port, ready once `health_path` answers 200."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str], log: Path, url: str,
                 health_path: str, *, ssl_context: Any = None) -> None:
        self.name, self.command, self.env, self.log, self.url = name, list(command), env, log, url
        self._health = f"{url}{health_path}"
        self._ssl = ssl_context
        self.ca_file = ""  # the CA its TLS certificate chains to (the sandbox)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            return subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    async def start(self, timeout_s: float = 120) -> None:
        self.process = self._spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ssl)) as session:
            while loop.time() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited ({self.process.returncode}): {self.tail()}")
                try:
                    async with session.get(self._health) as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start: {self.tail()}")

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self.pid)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def sandbox_process(folder: Path, *, rooms: int, people: int) -> Process:
    """`python -m sandbox` with `rooms` generated rooms and `people` generated people."""
    port = free_port()
    command = [sys.executable, "-m", "sandbox", "--port", str(port), "--data-dir", str(folder),
               "--rooms", str(rooms), "--people", str(people)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in list(env):
        if name.startswith("SANDBOX_"):
            del env[name]  # latency and faults are set through the control API
    tls = ensure_tls_files(folder / "sandbox-tls")  # made here so the client can trust it at once
    process = Process("sandbox", command, env, folder / "sandbox.log", f"https://127.0.0.1:{port}",
                      "/_sandbox/health", ssl_context=ssl.create_default_context(cafile=str(tls.ca_cert)))
    process.ca_file = str(tls.ca_cert)
    return process


def bot_env(data_dir: Path, port: int, graph_url: str, ca_file: str, **extra: str) -> dict[str, str]:
    """The environment of a bot process pointed at a sandbox as if it were a tenant."""
    return {**os.environ, "LOCAL_RUN": "1", "PORT": str(port), "DATA_DIR": str(data_dir),
            "GRAPH_TENANT_ID": TENANT_ID, "GRAPH_CLIENT_ID": APP_CLIENT_ID, "GRAPH_CLIENT_SECRET": APP_CLIENT_SECRET,
            "GRAPH_ENDPOINT": graph_url, "AUTHORITY_HOST": graph_url, "SSL_CERT_FILE": ca_file,
            "REQUESTS_CA_BUNDLE": ca_file, "MicrosoftAppId": "", "PYTHONUNBUFFERED": "1", **extra}


def roombot_process(data_dir: Path, graph_url: str, ca_file: str, *, graph_timeout_s: float = 10,
                    profile: Path | None = None, loop_lag: Path | None = None, database_url: str = "") -> Process:
    """`python app.py --local`; with `profile`, under pyinstrument, which writes its report there when
    the process stops; with `loop_lag`, with a ticker that writes there how long the loop was held;
    with `database_url`, on that PostgreSQL database instead of TinyDB files in `data_dir`."""
    port = free_port()
    env = bot_env(data_dir, port, graph_url, ca_file, GRAPH_TIMEOUT_S=str(graph_timeout_s))
    if database_url:
        env["DATABASE_URL"] = database_url
    command = [sys.executable, "app.py", "--local"]
    if loop_lag is not None:
        env["LOOP_LAG_FILE"] = str(loop_lag)
        command[1:] = ["bench/lag_bot.py"]
    if profile is not None:
        command[1:1] = ["-m", "pyinstrument", "--renderer", "text", "--outfile", str(profile)]
    return Process("RoomBot", command, env, data_dir.parent / f"roombot-{port}.log", f"http://127.0.0.1:{port}",
                   "/healthz")


def echo_process(folder: Path) -> Process:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    return Process("echo bot", [sys.executable, "-m", "bench.echo_bot"], env, folder / f"echo-{port}.log",
                   f"http://127.0.0.1:{port}", "/healthz")
