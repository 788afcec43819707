"""Shared fixtures: the sandbox, Graph on it, a local Bot Framework connector, and the bot app."""

from __future__ import annotations

import asyncio
import itertools
import ssl
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import Config  # noqa: E402
from graph.calendar import RoomCalendarService  # noqa: E402
from graph.client import GraphClient, RetryPolicy  # noqa: E402
from graph.tokens import MsalTokenProvider  # noqa: E402
from sandbox.seed import APP_CLIENT_ID, APP_CLIENT_SECRET, PEOPLE, TENANT_ID  # noqa: E402
from sandbox.server import RunningSandbox, SandboxState, start_sandbox  # noqa: E402
from sandbox.spec import DEFAULT_SPEC, GraphSpec  # noqa: E402
from tests.card_schema import assert_valid_card  # noqa: E402

SHARED = ROOT.parent / "shared"
pytest_plugins = ["tests.pg_fixtures"]  # PostgreSQL and nginx: postgres, pg_url, postgres_factory, nginx_factory


_OPEN_PROVIDERS: list[MsalTokenProvider] = []
_FIGURES: list[str] = []


@pytest.fixture
def report() -> Callable[[str], None]:
    """Tests that measure something (faults injected, bookings made, duplicates found) hand their
    figures here; they are printed at the end of the run, in CI too."""
    return _FIGURES.append


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def graph_spec() -> GraphSpec:
    assert DEFAULT_SPEC.exists(), f"the shared Graph description is missing at {DEFAULT_SPEC}"
    return GraphSpec(DEFAULT_SPEC)


@pytest.fixture
def sandbox_state(graph_spec: GraphSpec) -> SandboxState:
    return SandboxState(spec=graph_spec)


@pytest.fixture
async def sandbox(tmp_path: Path, sandbox_state: SandboxState) -> AsyncIterator[RunningSandbox]:
    running = await start_sandbox(tmp_path / "sandbox", state=sandbox_state)
    yield running
    while _OPEN_PROVIDERS:  # close msal's keep-alive connections before the server goes
        _OPEN_PROVIDERS.pop().close()
    await running.stop()


def token_provider_for(sandbox: RunningSandbox, *, secret: str = APP_CLIENT_SECRET,
                       tenant: str = TENANT_ID) -> MsalTokenProvider:
    """An msal token provider for the sandbox; closed after the test."""
    provider = MsalTokenProvider(tenant_id=tenant, client_id=APP_CLIENT_ID, client_secret=secret,
                                 authority_host=sandbox.url, scope=f"{sandbox.url}/.default",
                                 ca_file=str(sandbox.tls.ca_cert), public_authority=False)
    _OPEN_PROVIDERS.append(provider)
    return provider




@pytest.fixture
async def sandbox_http(sandbox: RunningSandbox) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session that trusts the sandbox's certificate."""
    context = ssl.create_default_context(cafile=str(sandbox.tls.ca_cert))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        yield session
    await asyncio.sleep(0.05)  # lets TLS transports finish closing (aiohttp's graceful-shutdown advice)


@pytest.fixture
async def graph_client(sandbox: RunningSandbox, sandbox_http: aiohttp.ClientSession) -> GraphClient:
    return GraphClient(sandbox_http, token_provider_for(sandbox), sandbox.url,
                       retry=RetryPolicy(max_attempts=10, deadline_s=20, backoff_base_s=0.05, backoff_max_s=0.5))


@pytest.fixture
def calendar(graph_client: GraphClient) -> RoomCalendarService:
    return RoomCalendarService(graph_client)


# --- a local Bot Framework connector: catches what the bot sends -----------------------------

@dataclass
class Connector:
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)  # {"method", "path", "activity"}
    people: list[tuple[str, str, str, str]] = field(default_factory=lambda: list(PEOPLE))  # the roster
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def activities(self, method: str | None = None) -> list[dict[str, Any]]:
        return [r["activity"] for r in self.received if method is None or r["method"] == method]

    def cards(self, method: str | None = None) -> list[dict[str, Any]]:
        cards = []
        for activity in self.activities(method):
            for attachment in activity.get("attachments") or []:
                if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                    cards.append(attachment["content"])
        return cards

    def texts(self) -> list[str]:
        return [a.get("text") for a in self.activities() if a.get("text")]

    def clear(self) -> None:
        self.received.clear()


def connector_app(state: Connector) -> web.Application:
    """The Bot Framework connector's endpoints the bot calls: replies, updates, the roster."""
    async def activity(request: web.Request) -> web.Response:
        if request.method == "PUT" and request.match_info["aid"].startswith("gone-"):  # a deleted message
            return web.json_response({"error": {"code": "ActivityNotFoundInConversation",
                                                "message": "The activity was not found."}}, status=404)
        body = await request.json()
        for attachment in body.get("attachments") or []:
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                assert_valid_card(attachment["content"])  # every card the bot sends
        state.received.append({"method": request.method, "path": request.path, "activity": body})
        return web.json_response({"id": f"reply-{next(state._ids)}"})

    async def member(request: web.Request) -> web.Response:
        user_id = request.match_info["user"]
        for aad, name, upn, email in state.people:
            if user_id.lower() in (aad, f"user-{aad}", upn.lower(), email.lower()):  # Teams takes a UPN too
                return web.json_response({"id": user_id, "name": name, "aadObjectId": aad, "email": email,
                                          "userPrincipalName": upn, "tenantId": TENANT_ID})
        return web.json_response({"error": {"code": "MemberNotFoundInConversation"}}, status=404)

    app = web.Application()
    app.router.add_post("/v3/conversations/{cid}/activities", activity)
    app.router.add_post("/v3/conversations/{cid}/activities/{aid}", activity)
    app.router.add_put("/v3/conversations/{cid}/activities/{aid}", activity)
    app.router.add_get("/v3/conversations/{cid}/members/{user}", member)
    return app


@pytest.fixture
async def connector() -> AsyncIterator[Connector]:
    state = Connector()
    server = TestServer(connector_app(state), host="127.0.0.1")
    await server.start_server()
    state.url = str(server.make_url("")).rstrip("/")
    yield state
    await server.close()


# --- the bot -------------------------------------------------------------------------------

@pytest.fixture
def bot_config(tmp_path: Path, request: pytest.FixtureRequest) -> Config:
    """The bot's configuration; `@pytest.mark.graph_timeout(s)` shortens its Graph timeout (and with
    it the turn budget and how long a booking keeps trying)."""
    marker = request.node.get_closest_marker("graph_timeout")
    return Config(data_dir=tmp_path / "data", sandbox_port=0, graph_timeout_s=marker.args[0] if marker else 10)


@pytest.fixture
async def bot(bot_config: Config) -> AsyncIterator[TestClient]:
    from app import create_app

    client = TestClient(TestServer(create_app(bot_config), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


ALEX = PEOPLE[0]
MEGAN = PEOPLE[1]


def teams_activity(connector: Connector, *, text: str | None = None, value: dict[str, Any] | None = None,
                   user: tuple[str, str, str, str] = ALEX, tenant: str = TENANT_ID, conversation: str = "conv-1",
                   activity_type: str = "message", **extra: Any) -> dict[str, Any]:
    """An activity shaped like those Teams sends in a personal chat."""
    aad, name, _upn, _email = user
    activity: dict[str, Any] = {
        "type": activity_type,
        "id": str(uuid.uuid4()),
        "timestamp": "2026-11-24T10:00:00.000Z",
        "serviceUrl": connector.url,
        "channelId": "msteams",
        "from": {"id": f"user-{aad}", "name": name, "aadObjectId": aad},
        "conversation": {"id": conversation, "conversationType": "personal", "tenantId": tenant},
        "recipient": {"id": "28:roombot", "name": "RoomBot"},
        "channelData": {"tenant": {"id": tenant}},
        "locale": "en-US",
        "entities": [{"type": "clientInfo", "locale": "en-US", "country": "US", "platform": "Web",
                      "timezone": "Europe/Helsinki"}],
    }
    if text is not None:
        activity["text"] = text
    if value is not None:
        activity["value"] = value
    activity.update(extra)
    return activity
