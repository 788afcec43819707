"""Proactive messages through the lean connector sender (bot.connector) to a local Bot Framework connector that answers
as Teams does when it throttles (429 with Retry-After), fails (412, 502, 504) or refuses (403, 404).
Waits go through a fake clock: nothing sleeps."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from app import NOTIFIER_KEY, REPO_KEY
from bot import notify
from bot.adapter import create_adapter
from bot.notify import TELL_POLICY, Delivery, Notifier, RetryPolicy, refusal_of
from bot.rate_limits import SendLimiter, Window
from cards.base import card, text
from config import Config
from storage.backends import MemoryBackend
from storage.repository import Repository
from tests.card_schema import assert_valid_card
from tests.conftest import ALEX, teams_activity

REMINDER = card([text("Your booking of Aurora starts in 15 minutes.")])


@dataclass
class Answer:
    status: int
    code: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # raw body (a gateway's page); default: Teams' JSON error
    delay_s: float = 0.0  # (real) time before answering


@dataclass
class ScriptedConnector:
    """The connector's activity endpoints: each request takes the next scripted answer; once the script
    is used up, a 200 that records the activity."""

    url: str = ""
    script: list[Answer] = field(default_factory=list)
    requests: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        async def activity(request: web.Request) -> web.Response:
            self.requests += 1
            body = await request.json()
            for attachment in body.get("attachments") or []:
                if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                    assert_valid_card(attachment["content"])
            if self.script:
                answer = self.script.pop(0)
                await asyncio.sleep(answer.delay_s)
                if answer.status == 200:
                    return web.json_response({"id": "late"})
                if answer.body is not None:
                    return web.Response(text=answer.body, status=answer.status, headers=answer.headers,
                                        content_type="text/html")
                return web.json_response({"error": {"code": answer.code or "ServiceError", "message": "scripted"}},
                                         status=answer.status, headers=answer.headers)
            self.received.append(body)
            return web.json_response({"id": f"reply-{next(self._ids)}"})

        app = web.Application()
        app.router.add_post("/v3/conversations/{cid}/activities", activity)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", activity)
        return app


@pytest.fixture
async def teams() -> AsyncIterator[ScriptedConnector]:
    connector = ScriptedConnector()
    server = TestServer(connector.app(), host="127.0.0.1")
    await server.start_server()
    connector.url = str(server.make_url("")).rstrip("/")
    yield connector
    await server.close()


class StepClock:
    """A fake clock for one delivery at a time: a sleep is recorded and moves the time on at once. The
    notifier's waits between tries are `slept`; the limiter's waits for a send slot, `paced`."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self.paced: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await self._wait(seconds)

    async def pace(self, seconds: float) -> None:
        self.paced.append(seconds)
        await self._wait(seconds)

    async def _wait(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def reference(connector: ScriptedConnector, n: int = 1) -> dict[str, Any]:
    return {"conversation": {"id": f"a:conv-{n}", "conversationType": "personal"}, "channelId": "msteams",
            "serviceUrl": connector.url, "user": {"id": f"29:user-{n}", "aadObjectId": f"aad-{n}"},
            "bot": {"id": "28:roombot", "name": "RoomBot"}, "locale": "en-US"}


@dataclass
class Setup:
    notifier: Notifier
    repo: Repository
    clock: StepClock


@pytest.fixture
async def setup(teams: ScriptedConnector) -> AsyncIterator[Setup]:
    """A Notifier as the app makes it (the app's adapter, an HTTP session), with two people who chatted."""
    repo = Repository(MemoryBackend())
    for n in (1, 2):
        repo.save_conversation_reference(f"aad-{n}", reference(teams, n))
    clock = StepClock()
    notifier = Notifier(create_adapter(Config()), repo, None, limiter=SendLimiter(clock=clock, sleep=clock.pace),
                        clock=clock, sleep=clock.sleep, jitter=lambda: 0.5)
    async with aiohttp.ClientSession() as session:
        notifier.use_session(session)
        yield Setup(notifier, repo, clock)


def _audits(repo: Repository) -> list[dict[str, Any]]:
    return [entry for entry in repo.list_audit() if entry["action"] == "person unreachable in Teams"]


async def test_a_throttled_send_waits_for_retry_after_then_lands(setup: Setup, teams: ScriptedConnector) -> None:
    teams.script = [Answer(429, "Throttled", {"Retry-After": "3"})]
    assert await setup.notifier.deliver("aad-1", REMINDER) is Delivery.SENT
    assert teams.requests == 2 and len(teams.received) == 1
    assert teams.received[0]["attachments"][0]["content"] == REMINDER
    assert setup.clock.slept == [pytest.approx(3 + 0.5 * 0.5)]  # Retry-After, plus jitter of the first backoff


async def test_429_then_502_then_412_then_a_gateway_page_are_all_retried_with_growing_backoff(
        setup: Setup, teams: ScriptedConnector) -> None:
    teams.script = [Answer(429, "Throttled", {"Retry-After": "1"}), Answer(502), Answer(412, "PreconditionFailed"),
                    Answer(504, body="<html><body>Gateway Timeout</body></html>")]
    assert await setup.notifier.deliver("aad-1", REMINDER) is Delivery.SENT
    assert teams.requests == 5 and len(teams.received) == 1
    # full jitter (0.5 here) of 0.5, 1, 2, 4 s; Retry-After on top for the 429
    assert setup.clock.slept == pytest.approx([1 + 0.25, 0.5, 1.0, 2.0])


async def test_a_blocked_bot_marks_the_person_unreachable_and_later_deliveries_make_no_request(
        setup: Setup, teams: ScriptedConnector) -> None:
    teams.script = [Answer(403, "ConversationBlockedByUser")]
    assert await setup.notifier.deliver("aad-1", REMINDER) is Delivery.UNREACHABLE
    assert setup.repo.is_unreachable("aad-1") and teams.requests == 1
    for _ in range(3):
        assert await setup.notifier.deliver("aad-1", REMINDER) is Delivery.UNREACHABLE
    assert await setup.notifier.tell("aad-1", REMINDER) is False
    assert teams.requests == 1 and setup.clock.slept == []  # no retry, no request: no storm
    assert [e["detail"] for e in _audits(setup.repo)] == ["aad-1: 403 ConversationBlockedByUser"]
    assert await setup.notifier.deliver("aad-2", REMINDER) is Delivery.SENT  # others are unaffected


async def test_concurrent_refusals_audit_the_mark_once(setup: Setup, teams: ScriptedConnector) -> None:
    teams.script = [Answer(403, "BotNotInConversationRoster") for _ in range(3)]
    results = await asyncio.gather(*(setup.notifier.deliver("aad-1", REMINDER) for _ in range(3)))
    assert results == [Delivery.UNREACHABLE] * 3
    assert len(_audits(setup.repo)) == 1


@pytest.mark.parametrize("answer", [Answer(404, "ConversationNotFound"), Answer(403, "BotDisabledByAdmin"),
                                    Answer(403, "ForbiddenOperationException"), Answer(403, "")])
async def test_a_gone_conversation_or_any_other_refusal_of_the_person_marks_them(
        setup: Setup, teams: ScriptedConnector, answer: Answer) -> None:
    teams.script = [answer]
    assert await setup.notifier.deliver("aad-1", REMINDER) is Delivery.UNREACHABLE
    assert setup.repo.is_unreachable("aad-1") and teams.requests == 1


@pytest.mark.parametrize("answer", [Answer(403, "InvalidBotApiHost"), Answer(404, "ActivityNotFoundInConversation"),
                                    Answer(401, "BotNotRegistered"),
                                    Answer(400, "BadArgument"), Answer(413, "MessageSizeTooBig"),
                                    Answer(500, "ServiceError")])
async def test_the_bots_own_faults_fail_at_once_and_mark_nobody(setup: Setup, teams: ScriptedConnector,
                                                               answer: Answer) -> None:
    teams.script = [answer]
    assert await setup.notifier.deliver("aad-1", REMINDER) is Delivery.FAILED
    assert teams.requests == 1 and setup.clock.slept == []
    assert not setup.repo.is_unreachable("aad-1")


async def test_502_every_time_fails_after_the_policys_tries(setup: Setup, teams: ScriptedConnector) -> None:
    teams.script = [Answer(502) for _ in range(10)]
    assert await setup.notifier.deliver("aad-1", REMINDER) is Delivery.FAILED
    assert teams.requests == RetryPolicy().tries == 5
    assert len(setup.clock.slept) == 4 and sum(setup.clock.slept) < RetryPolicy().within_s
    assert not setup.repo.is_unreachable("aad-1")


async def test_a_delivery_gives_up_rather_than_wait_past_its_time(setup: Setup, teams: ScriptedConnector) -> None:
    teams.script = [Answer(429, "Throttled", {"Retry-After": "120"})]
    assert await setup.notifier.deliver("aad-1", REMINDER) is Delivery.FAILED  # 120 s: the reminder would be late
    assert teams.requests == 1 and setup.clock.slept == []
    teams.script = [Answer(503), Answer(503), Answer(503)]
    short = RetryPolicy(tries=10, within_s=2.0, backoff_s=1.0)
    assert await setup.notifier.deliver("aad-1", REMINDER, policy=short) is Delivery.FAILED
    assert sum(setup.clock.slept) <= 2.0


async def test_tell_tries_briefly_inside_a_turn(setup: Setup, teams: ScriptedConnector) -> None:
    teams.script = [Answer(502) for _ in range(10)]
    assert await setup.notifier.tell("aad-1", REMINDER) is False
    assert teams.requests == TELL_POLICY.tries == 2
    teams.script = []
    assert await setup.notifier.tell("aad-2", REMINDER) is True


async def test_no_stored_conversation_is_unreachable_without_a_request(setup: Setup, teams: ScriptedConnector) -> None:
    assert await setup.notifier.deliver("aad-unknown", REMINDER) is Delivery.UNREACHABLE
    assert await setup.notifier.deliver("", REMINDER) is Delivery.UNREACHABLE
    assert teams.requests == 0 and not setup.repo.is_unreachable("aad-unknown")


async def test_a_try_without_an_answer_in_time_is_retried(setup: Setup, teams: ScriptedConnector) -> None:
    teams.script = [Answer(200, delay_s=1.0)]  # answers, but too late for the try
    quick = RetryPolicy(tries=2, try_timeout_s=0.2)
    assert await setup.notifier.deliver("aad-1", REMINDER, policy=quick) is Delivery.SENT
    assert teams.requests == 2 and len(setup.clock.slept) == 1


async def test_refusals_are_remembered_within_a_bound_and_still_stop_a_send_queued_before(
        teams: ScriptedConnector, monkeypatch: pytest.MonkeyPatch) -> None:
    """19 people refuse one after another: five are remembered. Then two sends to a 20th are queued;
    the second waits for its conversation's slot while the first is refused, and stops without a request.
    An hour (here ten minutes) later nobody is remembered."""
    monkeypatch.setattr(notify, "REFUSED_KEPT", 5)
    monkeypatch.setattr(notify, "REFUSED_FOR_S", 600.0)
    repo = Repository(MemoryBackend())
    for n in range(1, 21):
        repo.save_conversation_reference(f"aad-{n}", reference(teams, n))
    clock = StepClock()

    async def pace(seconds: float) -> None:  # a wait for a send slot ends once aad-20's refusal is known
        await clock.pace(seconds)
        for _ in range(5000):
            if repo.is_unreachable("aad-20"):
                return
            await asyncio.sleep(0.001)

    limiter = SendLimiter(clock=clock, sleep=pace, windows=(Window(1, 10),))
    notifier = Notifier(create_adapter(Config()), repo, None, limiter=limiter, clock=clock, sleep=clock.sleep,
                        jitter=lambda: 0.5)
    teams.script = [Answer(403, "ConversationBlockedByUser") for _ in range(20)]
    async with aiohttp.ClientSession() as session:
        notifier.use_session(session)
        for n in range(1, 20):
            assert await notifier.deliver(f"aad-{n}", REMINDER) is Delivery.UNREACHABLE
            clock.now += 1  # past the tenant's pace: no wait
        assert notifier.refused_remembered == 5 and teams.requests == 19
        both = await asyncio.gather(*(notifier.deliver("aad-20", REMINDER) for _ in range(2)))
        assert both == [Delivery.UNREACHABLE] * 2 and teams.requests == 20
        assert notifier.refused_remembered == 5
        clock.now += 601
        assert notifier.refused_remembered == 0


def test_what_a_failure_without_a_status_means() -> None:
    from msrest.exceptions import ClientRequestError, DeserializationError

    assert refusal_of(ClientRequestError("connection refused")).retry  # msrest's wrapper of requests' errors
    assert refusal_of(TimeoutError()).retry
    assert refusal_of(DeserializationError("Cannot deserialize content-type: text/html")).retry
    assert not refusal_of(KeyError("bug")).retry and not refusal_of(KeyError("bug")).gone


def test_retry_after_as_an_http_date() -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from msrest.exceptions import HttpOperationError

    exc = HttpOperationError.__new__(HttpOperationError)
    exc.response = SimpleNamespace(status_code=429, headers={"Retry-After": "Wed, 02 Dec 2026 10:00:30 GMT"})
    refusal = refusal_of(exc, datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC))
    assert refusal.retry and refusal.retry_after_s == 30


# --- through the app: the same notifier the bot uses ----------------------------------------------------

async def test_a_person_marked_unreachable_who_chats_again_is_reached(bot: TestClient,
                                                                    teams: ScriptedConnector) -> None:
    """RoomBot keeps what it stored last per person in memory, to skip rewriting the same reference every
    turn; a marked person's next turn must still reach the repository and clear the mark."""
    repo, notifier = bot.server.app[REPO_KEY], bot.server.app[NOTIFIER_KEY]
    assert (await bot.post("/api/messages", json=teams_activity(teams, text="help"))).status == 201
    teams.script = [Answer(403, "ConversationBlockedByUser")]
    assert await notifier.deliver(ALEX[0], REMINDER) is Delivery.UNREACHABLE
    assert repo.is_unreachable(ALEX[0])
    assert (await bot.post("/api/messages", json=teams_activity(teams, text="help"))).status == 201  # same chat
    assert not repo.is_unreachable(ALEX[0])
    assert await notifier.deliver(ALEX[0], REMINDER) is Delivery.SENT
    assert teams.received[-1]["attachments"][0]["content"] == REMINDER


async def test_tell_says_false_when_teams_refuses_even_though_the_adapter_logs_channel_errors(
        bot: TestClient, teams: ScriptedConnector) -> None:
    """The app's adapter logs channel errors and returns (inside a turn); `tell` must look at the send
    itself, or every refusal would count as delivered."""
    assert (await bot.post("/api/messages", json=teams_activity(teams, text="help"))).status == 201
    teams.script = [Answer(400, "BadArgument")]
    assert await bot.server.app[NOTIFIER_KEY].tell(ALEX[0], REMINDER) is False


def test_the_tenant_rate_is_configurable() -> None:
    assert Config().teams_sends_per_second == Config.from_env({}).teams_sends_per_second == 45
    assert Config.from_env({"TEAMS_SENDS_PER_SECOND": "12.5"}).teams_sends_per_second == 12.5
    for wrong in ("0", "-1"):
        with pytest.raises(ValueError, match="TEAMS_SENDS_PER_SECOND"):
            Config.from_env({"TEAMS_SENDS_PER_SECOND": wrong})


def test_the_app_paces_its_notifier_at_the_configured_rate(tmp_path) -> None:
    from app import create_app

    app = create_app(Config(data_dir=tmp_path / "data", teams_sends_per_second=20))  # not started
    try:
        assert app[NOTIFIER_KEY].limiter.rate == 20
    finally:
        app[REPO_KEY].close()
