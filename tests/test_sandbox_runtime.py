"""The sandbox's fault settings and its standalone entry point."""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from sandbox.faults import Faults
from sandbox.seed import APP_CLIENT_ID, TENANT_ID
from sandbox.server import IssuedToken, RunningSandbox

ROOT = Path(__file__).resolve().parent.parent


def test_faults_come_from_the_environment() -> None:
    faults = Faults.from_env({"SANDBOX_LATENCY_MS": "100", "SANDBOX_FAULT_429": "0.3", "SANDBOX_RETRY_AFTER_S": "2",
                              "SANDBOX_FAULT_503": "0.1", "SANDBOX_FAULT_HANG": "0.05", "SANDBOX_HANG_S": "9",
                              "SANDBOX_FAULT_RESET": "0.05", "SANDBOX_FAULT_LOST": "0.02",
                              "SANDBOX_FAULT_SEED": "7"})
    assert faults.as_dict() == {"latency_ms": 100.0, "rate_429": 0.3, "retry_after_s": 2.0, "rate_503": 0.1,
                                "rate_hang": 0.05, "hang_s": 9.0, "rate_reset": 0.05, "rate_lost": 0.02, "seed": 7}
    assert Faults.from_env({}).roll() is None


def test_fault_shares_match_their_rates() -> None:
    faults = Faults(rate_429=0.3, rate_503=0.1, rate_hang=0.05, rate_lost=0.05, seed=1)
    counts = Counter(faults.roll() for _ in range(20_000))
    assert abs(counts["lost"] / 20_000 - 0.05) < 0.01
    assert abs(counts["429"] / 20_000 - 0.3) < 0.02
    assert abs(counts["503"] / 20_000 - 0.1) < 0.01
    assert abs(counts["hang"] / 20_000 - 0.05) < 0.01
    # inside $batch only status faults apply
    assert not {"hang", "lost"} & {faults.roll(allow_connection_faults=False) for _ in range(2_000)}


def test_bad_fault_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Faults(rate_429=1.5)
    with pytest.raises(ValueError):
        Faults.from_dict({"rate_4299": 0.1})


async def test_faults_change_at_run_time_and_stats_count_them(sandbox: RunningSandbox,
                                                              sandbox_http: aiohttp.ClientSession) -> None:
    async with sandbox_http.post(f"{sandbox.url}/_sandbox/faults", json={"rate_429": 1.0, "retry_after_s": 4}) as r:
        assert r.status == 200
    sandbox.state.tokens["t"] = IssuedToken(TENANT_ID, APP_CLIENT_ID, time.monotonic() + 60)
    async with sandbox_http.get(f"{sandbox.url}/v1.0/users/alexw@example.com",
                                headers={"Authorization": "Bearer t"}) as r:
        assert r.status == 429 and r.headers["Retry-After"] == "4"
        assert (await r.json())["error"]["code"] == "TooManyRequests"
    async with sandbox_http.get(f"{sandbox.url}/_sandbox/stats") as r:
        stats = await r.json()
    assert stats["stats"]["fault_429"] == 1 and stats["faults"]["rate_429"] == 1.0
    async with sandbox_http.post(f"{sandbox.url}/_sandbox/faults", json={"rate_429": 2}) as r:
        assert r.status == 400


def test_python_m_sandbox_runs_on_its_own(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SANDBOX_LATENCY_MS": "5"}
    process = subprocess.Popen([sys.executable, "-m", "sandbox", "--port", str(port), "--data-dir", str(tmp_path)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        while not any("faults:" in line for line in lines):
            line = process.stdout.readline()
            assert line, f"sandbox exited: {''.join(lines)}"
            lines.append(line)
        ca_file = re.search(r"SSL_CERT_FILE=(\S+)", "".join(lines)).group(1)
        context = ssl.create_default_context(cafile=ca_file)
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/_sandbox/health", context=context) as response:
            assert response.status == 200
        assert f"GRAPH_ENDPOINT=https://127.0.0.1:{port}" in "".join(lines)
        assert "'latency_ms': 5.0" in "".join(lines)  # SANDBOX_* variables are read
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
