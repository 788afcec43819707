"""The thin Graph HTTP client, against canned responses (aioresponses)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from domain.calendar import TimeSlot
from domain.errors import (
    GraphAuthFailed,
    GraphBadRequest,
    GraphThrottled,
    GraphUnavailable,
    ItemNotFound,
    MailboxNotEnabled,
    MailboxNotFound,
    RoomAccessDenied,
)
from graph.calendar import RoomCalendarService
from graph.client import UNPROVEN_TOKEN_RETRY_S, GraphClient, RetryPolicy

BASE = "https://graph.test/v1.0"


class FakeTokens:
    def __init__(self) -> None:
        self.issued = 0
        self.invalidated = 0

    async def token(self) -> str:
        self.issued += 1
        return f"token-{self.invalidated}"

    async def invalidate(self) -> None:
        self.invalidated += 1


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(session: aiohttp.ClientSession, sleeps: Sleeps) -> GraphClient:
    return GraphClient(session, FakeTokens(), "https://graph.test", sleep=sleeps,
                       retry=RetryPolicy(max_attempts=4, deadline_s=30))


def _error(code: str, message: str = "x") -> dict:
    return {"error": {"code": code, "message": message}}


async def test_sends_token_preferences_and_returns_json(client: GraphClient) -> None:
    seen = {}

    def capture(url, **kwargs):
        seen.update(kwargs["headers"])
        return CallbackResult(status=200, payload={"id": "u1"})

    with aioresponses() as mocked:
        mocked.get(f"{BASE}/users/a@example.com", callback=capture)
        assert await client.request("GET", "/users/a@example.com") == {"id": "u1"}
    assert seen["Authorization"] == "Bearer token-0"
    assert 'outlook.timezone="UTC"' in seen["Prefer"] and 'IdType="ImmutableId"' in seen["Prefer"]
    assert seen["client-request-id"]


async def test_429_waits_for_retry_after_then_succeeds(client: GraphClient, sleeps: Sleeps) -> None:
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/users/a", status=429, payload=_error("TooManyRequests"), headers={"Retry-After": "3"})
        mocked.get(f"{BASE}/users/a", status=503, payload=_error("ServiceNotAvailable"))
        mocked.get(f"{BASE}/users/a", status=200, payload={"ok": True})
        assert await client.request("GET", "/users/a") == {"ok": True}
    assert sleeps.calls[0] == 3.0
    assert len(sleeps.calls) == 2 and 0 < sleeps.calls[1] <= 8


async def test_gives_up_after_max_attempts_with_throttled(client: GraphClient, sleeps: Sleeps) -> None:
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/users/a", status=429, payload=_error("TooManyRequests"), headers={"Retry-After": "1"},
                   repeat=True)
        with pytest.raises(GraphThrottled):
            await client.request("GET", "/users/a")
    assert len(sleeps.calls) == 3  # 4 attempts, 3 waits


async def test_a_retry_after_beyond_the_deadline_fails_at_once(session, sleeps) -> None:
    client = GraphClient(session, FakeTokens(), "https://graph.test", sleep=sleeps,
                         retry=RetryPolicy(deadline_s=5))
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/users/a", status=429, payload=_error("TooManyRequests"), headers={"Retry-After": "60"})
        with pytest.raises(GraphThrottled):
            await client.request("GET", "/users/a")
    assert sleeps.calls == []


async def test_network_errors_are_retried_unless_unsafe(client: GraphClient, sleeps: Sleeps) -> None:
    with aioresponses() as mocked:
        mocked.post(f"{BASE}/users/a/events", exception=aiohttp.ServerDisconnectedError())
        mocked.post(f"{BASE}/users/a/events", status=201, payload={"id": "e1"})
        assert await client.request("POST", "/users/a/events", json={}) == {"id": "e1"}
        mocked.post(f"{BASE}/users/a/events/e1/cancel", exception=aiohttp.ServerDisconnectedError())
        with pytest.raises(GraphUnavailable):
            await client.request("POST", "/users/a/events/e1/cancel", json={}, retry_on_network_error=False)


async def test_a_hung_attempt_times_out_and_is_retried(session, sleeps) -> None:
    client = GraphClient(session, FakeTokens(), "https://graph.test", sleep=sleeps,
                         retry=RetryPolicy(attempt_timeout_s=0.2, deadline_s=5))
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/users/a", exception=TimeoutError())
        mocked.get(f"{BASE}/users/a", payload={"ok": 1})
        assert await client.request("GET", "/users/a") == {"ok": 1}


async def test_401_refreshes_the_token_once(session, sleeps) -> None:
    tokens = FakeTokens()
    client = GraphClient(session, tokens, "https://graph.test", sleep=sleeps)
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/users/a", status=401, payload=_error("InvalidAuthenticationToken"))
        mocked.get(f"{BASE}/users/a", status=200, payload={"ok": 1})
        assert await client.request("GET", "/users/a") == {"ok": 1}
        assert tokens.invalidated == 1
        mocked.get(f"{BASE}/users/b", status=401, payload=_error("InvalidAuthenticationToken"), repeat=True)
        with pytest.raises(GraphAuthFailed):
            await client.request("GET", "/users/b")


async def test_a_403_on_a_token_graph_never_accepted_gets_a_new_token_once_it_is_not_brand_new(session) -> None:
    """A token issued before admin consent carries no roles and lives an hour; another instance may have
    completed the consent since. A token Graph accepted before is not replaced on a 403 (an access policy
    at work), nor one just issued (the token endpoint would give the same)."""
    tokens = FakeTokens()
    now = [100.0]
    client = GraphClient(session, tokens, "https://graph.test", clock=lambda: now[0])
    denied = {"status": 403, "payload": _error("ErrorAccessDenied")}
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/users/a", **denied)
        with pytest.raises(RoomAccessDenied):  # just issued: asking again would not help
            await client.request("GET", "/users/a")
        assert tokens.invalidated == 0
        now[0] += UNPROVEN_TOKEN_RETRY_S
        mocked.get(f"{BASE}/users/a", **denied)
        mocked.get(f"{BASE}/users/a", status=200, payload={"ok": 1})
        assert await client.request("GET", "/users/a") == {"ok": 1}  # with a new token
        assert tokens.invalidated == 1
        requests = mocked.requests[("GET", URL(f"{BASE}/users/a"))]
        assert [r.kwargs["headers"]["Authorization"] for r in requests[-2:]] == ["Bearer token-0", "Bearer token-1"]

        now[0] += 60 * UNPROVEN_TOKEN_RETRY_S  # accepted once: a 403 now is a real refusal
        mocked.get(f"{BASE}/users/b", **denied)
        with pytest.raises(RoomAccessDenied):
            await client.request("GET", "/users/b")
        assert tokens.invalidated == 1


async def test_batch_items_refused_to_a_token_graph_never_accepted_go_again_with_a_new_one(session) -> None:
    """A batch answers 200 whatever its items say: its items tell whether the token was accepted."""
    tokens = FakeTokens()
    now = [100.0]
    client = GraphClient(session, tokens, "https://graph.test", clock=lambda: now[0])

    def answer(url, **kwargs):  # the first token has no roles; later ones have
        token = kwargs["headers"]["Authorization"]
        status = 403 if token == "Bearer token-0" else 200
        return CallbackResult(status=200, payload={"responses": [
            {"id": item["id"], "status": status, "body": _error("ErrorAccessDenied") if status == 403 else {}}
            for item in kwargs["json"]["requests"]]})

    with aioresponses() as mocked:
        mocked.post(f"{BASE}/$batch", callback=answer, repeat=True)
        calls = [{"method": "GET", "url": f"/users/r{i}/events"} for i in range(3)]
        assert {r.status for r in await client.batch(calls)} == {403}  # just issued: kept
        now[0] += UNPROVEN_TOKEN_RETRY_S
        assert {r.status for r in await client.batch(calls)} == {200}
        assert tokens.invalidated == 1


@pytest.mark.parametrize(("status", "code", "error"), [
    (403, "ErrorAccessDenied", RoomAccessDenied),
    (404, "ErrorItemNotFound", ItemNotFound),
    (404, "ErrorInvalidUser", MailboxNotFound),
    (404, "MailboxNotEnabledForRESTAPI", MailboxNotEnabled),
    (400, "ErrorInvalidRequest", GraphBadRequest),
    (500, "InternalServerError", GraphUnavailable),
])
async def test_graph_errors_map_to_domain_errors(client: GraphClient, status, code, error) -> None:
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/users/a", status=status, payload=_error(code, "details"))
        with pytest.raises(error) as raised:
            await client.request("GET", "/users/a")
    assert raised.value.code == code and raised.value.status == status
    assert raised.value.user_message


async def test_at_most_four_concurrent_requests_per_mailbox(client: GraphClient) -> None:
    active = {"room1": 0, "room2": 0}
    peak = {"room1": 0, "room2": 0}

    async def slow(url, **kwargs):
        mailbox = "room1" if "room1" in str(url) else "room2"
        active[mailbox] += 1
        peak[mailbox] = max(peak[mailbox], active[mailbox])
        await asyncio.sleep(0.02)
        active[mailbox] -= 1
        return CallbackResult(status=200, payload={})

    with aioresponses() as mocked:
        mocked.get(re.compile(r".*/users/room\d/events.*"), callback=slow, repeat=True)
        await asyncio.gather(*(client.request("GET", f"/users/room{1 + i % 2}/events") for i in range(20)))
    assert peak == {"room1": 4, "room2": 4}


async def test_get_all_follows_next_links(client: GraphClient) -> None:
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/places/microsoft.graph.room",
                   payload={"value": [{"n": 1}], "@odata.nextLink": f"{BASE}/places/microsoft.graph.room?$skip=1"})
        mocked.get(f"{BASE}/places/microsoft.graph.room?$skip=1", payload={"value": [{"n": 2}]})
        assert await client.get_all("/places/microsoft.graph.room") == [{"n": 1}, {"n": 2}]


async def test_batch_splits_by_20_and_retries_throttled_items(client: GraphClient, sleeps: Sleeps) -> None:
    bodies = []
    throttled_once = set()

    def answer(url, **kwargs):
        payload = kwargs["json"]
        bodies.append(payload)
        responses = []
        for item in payload["requests"]:
            if int(item["id"]) % 7 == 0 and item["id"] not in throttled_once:
                throttled_once.add(item["id"])
                responses.append({"id": item["id"], "status": 429, "headers": {"Retry-After": "2"}, "body": {}})
            else:
                responses.append({"id": item["id"], "status": 200, "body": {"echo": item["url"]}})
        return CallbackResult(status=200, payload={"responses": responses})

    with aioresponses() as mocked:
        mocked.post(f"{BASE}/$batch", callback=answer, repeat=True)
        results = await client.batch([{"method": "GET", "url": f"/users/r{i}/events"} for i in range(45)])
    assert [len(b["requests"]) for b in bodies[:3]] == [20, 20, 5]
    assert all(len(b["requests"]) <= 20 for b in bodies)
    assert [r.body["echo"] for r in results] == [f"/users/r{i}/events" for i in range(45)]
    assert all(r.status == 200 for r in results)
    assert 2.0 in sleeps.calls


async def test_get_schedule_runs_ceil_n_over_20_calls(client: GraphClient) -> None:
    calls = []

    def answer(url, **kwargs):
        body = kwargs["json"]
        calls.append(body)
        return CallbackResult(status=200, payload={"value": [
            {"scheduleId": s, "availabilityView": "0", "scheduleItems": []} for s in body["schedules"]]})

    rooms = [f"room{i}@example.com" for i in range(45)]
    start = datetime(2026, 11, 25, 9, tzinfo=UTC)
    with aioresponses() as mocked:
        mocked.post(re.compile(r".*/calendar/getSchedule$"), callback=answer, repeat=True)
        result = await RoomCalendarService(client).get_schedule(rooms, TimeSlot(start, start + timedelta(hours=1)))
    assert len(calls) == 3
    assert sorted(len(c["schedules"]) for c in calls) == [5, 20, 20]
    assert set(result) == set(rooms)
    assert calls[0]["startTime"] == {"dateTime": "2026-11-25T09:00:00", "timeZone": "UTC"}


async def test_an_attendees_change_patches_only_attendees(client: GraphClient) -> None:
    sent = []

    def answer(url, **kwargs):
        sent.append(kwargs["json"])
        return CallbackResult(status=200, payload={
            "id": "e1", "subject": "S", "start": {"dateTime": "2026-11-25T09:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-25T09:30:00.0000000", "timeZone": "UTC"},
            "organizer": {"emailAddress": {"address": "room@example.com"}},
            "attendees": [{"emailAddress": {"address": "meganb@example.com"}}]})

    with aioresponses() as mocked:
        mocked.patch(f"{BASE}/users/room@example.com/events/e1", callback=answer)
        event = await RoomCalendarService(client).update_event("room@example.com", "e1",
                                                               attendees=[("meganb@example.com", "")])
    assert sent == [{"attendees": [{"emailAddress": {"address": "meganb@example.com", "name": "meganb@example.com"},
                                    "type": "required"}]}]
    assert event.attendees == ("meganb@example.com",)
    with pytest.raises(ValueError):
        await RoomCalendarService(client).update_event("room@example.com", "e1")


async def test_batch_answers_in_any_order_and_throttled_items_wait_their_own_retry_after(
        client: GraphClient, sleeps: Sleeps) -> None:
    throttled_once: set[str] = set()

    def answer(url, **kwargs):
        responses = []
        for item in kwargs["json"]["requests"]:
            if item["id"] in ("1", "4") and item["id"] not in throttled_once:
                throttled_once.add(item["id"])
                responses.append({"id": item["id"], "status": 429, "headers": {"Retry-After": "3"},
                                  "body": {"error": {"code": "ApplicationThrottled"}}})
            else:
                responses.append({"id": item["id"], "status": 200, "body": {"echo": item["url"]}})
        return CallbackResult(status=200, payload={"responses": list(reversed(responses))})  # any order

    with aioresponses() as mocked:
        mocked.post(f"{BASE}/$batch", callback=answer, repeat=True)
        results = await client.batch([{"method": "GET", "url": f"/users/room@example.com/events/e{i}"}
                                      for i in range(6)])
    assert [r.body["echo"] for r in results] == [f"/users/room@example.com/events/e{i}" for i in range(6)]
    assert sleeps.calls == [3.0]  # the items' own Retry-After, once


async def test_places_are_paged_with_top_and_skip_when_no_next_link_comes(client: GraphClient) -> None:
    rooms = [{"id": f"id-{i}", "emailAddress": f"r{i}@example.com"} for i in range(250)]
    asked = []

    def answer(url, **kwargs):
        top, skip = int(kwargs["params"]["$top"]), int(kwargs["params"]["$skip"])
        asked.append((top, skip))
        return CallbackResult(status=200, payload={"@odata.count": len(rooms), "value": rooms[skip:skip + top]})

    with aioresponses() as mocked:
        mocked.get(re.compile(r".*/places/microsoft\.graph\.room\?.*"), callback=answer, repeat=True)
        listed = await client.get_pages("/places/microsoft.graph.room", page_size=100)
    assert listed == rooms and asked == [(100, 0), (100, 100), (100, 200)]


async def test_paging_stops_when_a_server_ignores_skip(client: GraphClient) -> None:
    calls = []

    def answer(url, **kwargs):
        calls.append(url)
        return CallbackResult(status=200, payload={"value": [{"id": "a"}, {"id": "b"}]})  # always the same page

    with aioresponses() as mocked:
        mocked.get(re.compile(r".*/places/microsoft\.graph\.room\?.*"), callback=answer, repeat=True)
        listed = await client.get_pages("/places/microsoft.graph.room", page_size=2)
    assert listed == [{"id": "a"}, {"id": "b"}] and len(calls) == 2
