"""The lean connector sender (bot.connector): the activity as the Bot Connector REST API documents it,
the bot's bearer token from botbuilder's credentials (fetched off the event loop, kept until shortly
before it expires), and failures without an answer retried."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from botframework.connector.auth import MicrosoftAppCredentials
from multidict import CIMultiDict

from bot.adapter import create_adapter
from bot.connector import BotTokens, ConnectorError, ConnectorSender
from bot.notify import Delivery, Notifier, RetryPolicy, refusal_of
from bot.rate_limits import SendLimiter
from cards.base import card, text
from config import Config
from storage.backends import MemoryBackend
from storage.repository import Repository

REMINDER = card([text("Your booking of Aurora starts in 15 minutes.")])


class Recorder:
    """The connector's activity endpoints, recording each request; `status` answers the next ones."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[dict[str, Any]] = []
        self.status = 200

    def app(self) -> web.Application:
        async def activity(request: web.Request) -> web.Response:
            self.requests.append({"path": request.raw_path, "auth": request.headers.get("Authorization"),
                                  "body": await request.json(), "reply_to": request.match_info.get("aid")})
            if self.status != 200:
                return web.json_response({"error": {"code": "Unauthorized", "message": "no"}}, status=self.status)
            return web.json_response({"id": "1"})

        app = web.Application()
        app.router.add_post("/teams/v3/conversations/{cid}/activities", activity)
        app.router.add_post("/teams/v3/conversations/{cid}/activities/{aid}", activity)
        return app


@pytest.fixture
async def connector() -> AsyncIterator[Recorder]:
    recorder = Recorder()
    server = TestServer(recorder.app(), host="127.0.0.1")
    await server.start_server()
    recorder.url = str(server.make_url("")).rstrip("/")
    yield recorder
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def stored_reference(url: str) -> dict[str, Any]:
    """As RoomBot stores it from a Teams activity (ConversationReference serialized)."""
    return {"activityId": "f:1", "user": {"id": "29:user-1", "aadObjectId": "aad-1", "name": "Alex"},
            "bot": {"id": "28:roombot", "name": "RoomBot"}, "locale": "en-US", "channelId": "msteams",
            "serviceUrl": f"{url}/teams/",
            "conversation": {"id": "a:conv-1", "conversationType": "personal", "tenantId": "tenant-1"}}


def jwt(exp: float) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'exp': exp, 'aud': 'https://api.botframework.com'})}.sig"


class FakeCredentials:
    """botbuilder's AppCredentials: a blocking call for a token that lasts an hour from `clock`."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.calls = 0
        self.threads: set[int] = set()

    def get_access_token(self, force_refresh: bool = False) -> str:
        self.calls += 1
        self.threads.add(threading.get_ident())
        return jwt(self.clock[0] + 3600) + str(self.calls)


async def test_a_card_is_posted_as_the_documented_message_activity(connector: Recorder,
                                                                   session: aiohttp.ClientSession) -> None:
    sender = ConnectorSender(None, session)
    await sender.send(stored_reference(connector.url), REMINDER)
    [request] = connector.requests
    assert request["path"] == "/teams/v3/conversations/a%3Aconv-1/activities" and request["reply_to"] is None
    assert request["auth"] is None  # no app id: a local run, the Playground
    activity = request["body"]
    assert activity["type"] == "message"
    assert activity["from"] == {"id": "28:roombot", "name": "RoomBot"}
    assert activity["recipient"] == {"id": "29:user-1", "aadObjectId": "aad-1", "name": "Alex"}
    assert activity["conversation"] == {"id": "a:conv-1", "conversationType": "personal", "tenantId": "tenant-1"}
    assert activity["attachments"] == [{"contentType": "application/vnd.microsoft.card.adaptive",
                                        "content": REMINDER}]
    assert activity["locale"] == "en-US" and "replyToId" not in activity


async def test_the_bearer_token_is_fetched_off_the_loop_once_and_renewed_before_it_expires(
        connector: Recorder, session: aiohttp.ClientSession) -> None:
    clock = [1_000_000.0]
    credentials = FakeCredentials(clock)

    async def make() -> FakeCredentials:
        return credentials

    sender = ConnectorSender(BotTokens(make, clock=lambda: clock[0]), session)
    for _ in range(3):
        await sender.send(stored_reference(connector.url), REMINDER)
    assert credentials.calls == 1 and threading.get_ident() not in credentials.threads
    assert {r["auth"] for r in connector.requests} == {f"Bearer {jwt(clock[0] + 3600)}1"}
    clock[0] += 3600 - 241  # not yet
    await sender.send(stored_reference(connector.url), REMINDER)
    assert credentials.calls == 1
    clock[0] += 2  # within 4 minutes of its expiry (msal renews within 5): a new one
    await sender.send(stored_reference(connector.url), REMINDER)
    assert credentials.calls == 2 and connector.requests[-1]["auth"].endswith("2")


async def test_a_token_that_expires_too_soon_is_still_kept_a_little() -> None:
    """A clock ahead of the token issuer's must not turn every send into a token fetch."""
    clock = [1_000_000.0]
    credentials = FakeCredentials(clock)
    credentials.get_access_token = lambda force_refresh=False: jwt(clock[0] + 60)  # type: ignore[method-assign]

    async def make() -> FakeCredentials:
        return credentials

    tokens = BotTokens(make, clock=lambda: clock[0])
    first = await tokens.token()
    clock[0] += 29
    assert await tokens.token() == first
    clock[0] += 2
    assert await tokens.token() != first


async def test_a_refused_token_is_not_used_again(connector: Recorder, session: aiohttp.ClientSession) -> None:
    clock = [1_000_000.0]
    credentials = FakeCredentials(clock)

    async def make() -> FakeCredentials:
        return credentials

    sender = ConnectorSender(BotTokens(make, clock=lambda: clock[0]), session)
    connector.status = 401
    with pytest.raises(ConnectorError) as refused:
        await sender.send(stored_reference(connector.url), REMINDER)
    assert refused.value.status == 401 and refused.value.code == "Unauthorized"
    connector.status = 200
    await sender.send(stored_reference(connector.url), REMINDER)
    assert credentials.calls == 2 and connector.requests[-1]["auth"].endswith("2")


async def test_the_token_comes_from_botbuilders_credentials_for_the_bots_app() -> None:
    adapter = create_adapter(Config(app_id="app-1", app_password="secret", app_type="SingleTenant",
                                    app_tenant_id="tenant-1"))
    credentials = await BotTokens.of_adapter(adapter, "app-1").credentials()
    assert isinstance(credentials, MicrosoftAppCredentials)
    assert credentials.microsoft_app_id == "app-1" and credentials.microsoft_app_password == "secret"
    assert credentials.tenant == "tenant-1" and credentials.oauth_scope == "https://api.botframework.com"


def test_a_notifier_with_an_app_id_sends_with_a_token_and_one_without_sends_none() -> None:
    adapter = create_adapter(Config(app_id="app-1", app_password="secret"))
    repo = Repository(MemoryBackend())
    assert isinstance(Notifier(adapter, repo, "app-1")._sender._tokens, BotTokens)  # noqa: SLF001
    assert Notifier(adapter, repo, None)._sender._tokens is None  # noqa: SLF001


async def test_a_connector_that_cannot_be_reached_is_retried_and_marks_nobody(session: aiohttp.ClientSession) -> None:
    closed = TestServer(web.Application(), host="127.0.0.1")
    await closed.start_server()
    url = str(closed.make_url("")).rstrip("/")
    await closed.close()  # nothing listens there now
    repo = Repository(MemoryBackend())
    repo.save_conversation_reference("aad-1", stored_reference(url))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    notifier = Notifier(None, repo, None, limiter=SendLimiter(1e6), sleep=sleep, jitter=lambda: 0.5)
    notifier.use_session(session)
    assert await notifier.deliver("aad-1", REMINDER, policy=RetryPolicy(tries=2)) is Delivery.FAILED
    assert len(slept) == 1 and not repo.is_unreachable("aad-1")


def test_a_connector_answer_maps_to_the_refusals() -> None:
    throttled = refusal_of(ConnectorError(429, "Throttled", CIMultiDict({"retry-after": "2"})))
    assert throttled.retry and throttled.retry_after_s == 2
    blocked = refusal_of(ConnectorError(403, "ConversationBlockedByUser"))
    assert blocked.gone and not blocked.retry and blocked.reason == "403 ConversationBlockedByUser"
    assert not refusal_of(ConnectorError(403, "InvalidBotApiHost")).gone
    assert refusal_of(aiohttp.ServerDisconnectedError()).retry
