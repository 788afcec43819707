"""The composition root: tenant mode is configuration, not code."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app import CALENDAR_KEY, create_app
from config import Config
from sandbox.seed import APP_CLIENT_ID, APP_CLIENT_SECRET, TENANT_ID
from sandbox.server import RunningSandbox

ROOT = Path(__file__).resolve().parent.parent


async def test_tenant_mode_uses_the_configured_graph_endpoint(sandbox: RunningSandbox, tmp_path: Path) -> None:
    config = Config.from_env({
        "GRAPH_TENANT_ID": TENANT_ID, "GRAPH_CLIENT_ID": APP_CLIENT_ID, "GRAPH_CLIENT_SECRET": APP_CLIENT_SECRET,
        "GRAPH_ENDPOINT": sandbox.url, "AUTHORITY_HOST": sandbox.url, "SSL_CERT_FILE": str(sandbox.tls.ca_cert),
        "DATA_DIR": str(tmp_path / "data")})
    client = TestClient(TestServer(create_app(config), host="127.0.0.1"))
    await client.start_server()
    try:
        health = await (await client.get("/healthz")).json()
        assert health["graph"] == {"mode": "tenant", "endpoint": f"{sandbox.url}/v1.0"}
        # No tenant has been connected through the bot yet, and booking stays off until an admin enables it.
        assert health["tenant"]["connected"] is False and health["booking_enabled"] is False
        rooms = await client.server.app[CALENDAR_KEY].list_directory_rooms()
        assert len(rooms) >= 12
        assert sandbox.state.stats["token_requests"] == 1
    finally:
        await client.close()


async def test_tenant_mode_guards_the_configured_tenant_before_connect(tmp_path: Path, connector) -> None:
    from tests.conftest import teams_activity

    config = Config.from_env({"GRAPH_TENANT_ID": "contoso-tenant", "DATA_DIR": str(tmp_path / "data"),
                              "GRAPH_ENDPOINT": "https://127.0.0.1:9", "AUTHORITY_HOST": "https://127.0.0.1:9"})
    client = TestClient(TestServer(create_app(config), host="127.0.0.1"))
    await client.start_server()
    try:
        assert (await client.post("/api/messages", json=teams_activity(connector, text="help",
                                                                         tenant="fabrikam-tenant"))).status == 201
        assert connector.received == []
        assert (await client.post("/api/messages", json=teams_activity(connector, text="help",
                                                                         tenant="contoso-tenant"))).status == 201
        assert len(connector.cards()) == 1
    finally:
        await client.close()


async def test_with_an_app_id_requests_without_a_token_are_401(tmp_path: Path, connector) -> None:
    from tests.conftest import teams_activity

    config = Config.from_env({"MicrosoftAppId": "6a1c5a1e-0000-4000-8000-000000000001",
                              "MicrosoftAppPassword": "not-used", "DATA_DIR": str(tmp_path / "data")})
    client = TestClient(TestServer(create_app(config), host="127.0.0.1"))
    await client.start_server()
    try:
        response = await client.post("/api/messages", json=teams_activity(connector, text="help"))
        assert response.status == 401
        assert connector.received == []
        assert (await (await client.get("/healthz")).json())["bot_authentication"] == "on"
    finally:
        await client.close()


def test_main_warns_when_running_unauthenticated(monkeypatch, caplog, tmp_path: Path) -> None:
    import app

    started = {}
    monkeypatch.setattr(app.edge, "run", lambda application, **kwargs: started.update(kwargs))
    monkeypatch.setattr(app, "load_dotenv", lambda: None)
    monkeypatch.delenv("MicrosoftAppId", raising=False)
    monkeypatch.delenv("GRAPH_TENANT_ID", raising=False)
    monkeypatch.setenv("PORT", "3999")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    with caplog.at_level("WARNING"):
        app.main(["--local"])
    assert started["host"] == "127.0.0.1" and started["port"] == 3999 and started["body_timeout_s"] == 10
    assert 0 < started["limits"].max_connections < resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert "MicrosoftAppId is not set" in caplog.text and "local use only" in caplog.text
    started.clear()
    monkeypatch.setenv("HOST", "0.0.0.0")
    with pytest.raises(SystemExit):
        app.main(["--local"])
    assert started == {} and "loopback only" in caplog.text


def test_python_app_py_refuses_to_run_unauthenticated_unless_local(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Microsoft", "LOCAL_RUN", "GRAPH_"))}
    env.update(DATA_DIR=str(tmp_path / "data"), PORT="0")
    run = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "not starting: MicrosoftAppId is not set" in run.stderr and "--local" in run.stderr
