"""Per-process memory stays bounded: each map that gets an entry per person, conversation or mailbox
is filled past its bound here, and must both stay within it and still do its job."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses
from botbuilder.core import ConversationState, MemoryStorage, TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity

from bot import roombot
from bot.identity import MemberDirectory
from graph.client import GraphClient, RetryPolicy
from storage.backends import MemoryBackend
from storage.repository import Repository


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _context(aad: str) -> Any:
    sender = SimpleNamespace(id=f"29:{aad}", aad_object_id=aad, name=aad)
    return SimpleNamespace(activity=SimpleNamespace(from_property=sender))


class Roster:
    """Teams' roster: answers get_member with each person's current email, and lists who was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.emails: dict[str, str] = {}

    async def get_member(self, context: Any, user_id: str) -> Any:
        self.asked.append(user_id)
        aad = user_id.removeprefix("29:")
        return SimpleNamespace(aad_object_id=aad, name=aad, email=self.emails.get(aad, f"{aad}@example.com"),
                               user_principal_name=f"{aad}@example.com")


@pytest.fixture
def roster(monkeypatch: pytest.MonkeyPatch) -> Roster:
    teams = Roster()
    monkeypatch.setattr(TeamsInfo, "get_member", teams.get_member)
    return teams


# --- the member directory ------------------------------------------------------------------

async def test_the_member_directory_keeps_at_most_its_bound_and_the_most_recent(roster: Roster) -> None:
    members = MemberDirectory(kept=3, clock=FakeClock())
    for n in range(10):
        await members.resolve(_context(f"p{n}"))
    assert members.remembered == 3
    roster.asked.clear()
    for n in (7, 8, 9):  # the last three are still known: no roster call
        assert (await members.resolve(_context(f"p{n}"))).email == f"p{n}@example.com"
    assert roster.asked == []
    assert (await members.resolve(_context("p0"))).email == "p0@example.com"  # forgotten: asked again
    assert roster.asked == ["29:p0"]
    assert members.remembered == 3


async def test_a_remembered_member_is_asked_for_again_after_its_age(roster: Roster) -> None:
    clock = FakeClock()
    members = MemberDirectory(ttl_s=60.0, clock=clock)
    await members.resolve(_context("alex"))
    roster.emails["alex"] = "alex.w@example.com"
    clock.now += 59
    assert (await members.resolve(_context("alex"))).email == "alex@example.com"
    assert roster.asked == ["29:alex"]
    clock.now += 2
    assert (await members.resolve(_context("alex"))).email == "alex.w@example.com"
    assert roster.asked == ["29:alex", "29:alex"]


# --- the Graph client's per-mailbox semaphores -----------------------------------------------

@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession() as s:
        yield s


class Tokens:
    async def token(self) -> str:
        return "token"

    async def invalidate(self) -> None:
        pass


async def test_the_graph_client_keeps_no_semaphore_for_mailboxes_it_is_done_with(session: Any) -> None:
    client = GraphClient(session, Tokens(), "https://graph.test")
    with aioresponses() as mocked:
        mocked.get(re.compile(r".*/users/[^/]+/events$"), payload={}, repeat=True)
        for n in range(300):
            await client.request("GET", f"/users/room{n}@example.com/events")
            assert client.mailboxes_in_use == 0
        await asyncio.gather(*(client.request("GET", f"/users/room{n}@example.com/events") for n in range(300)))
    assert client.mailboxes_in_use == 0


async def test_the_per_mailbox_limit_holds_while_other_mailboxes_come_and_go(session: Any) -> None:
    """Four requests to room1 are throttled and wait to retry (holding no slot); meanwhile hundreds of
    other mailboxes come and go and four more requests to room1 take its slots. The four that retry
    must wait for those: their semaphore is the one still in use, not a forgotten one."""
    retry = asyncio.Event()
    waiting_to_retry = 0
    tried: set[str] = set()
    active = peak = 0

    async def sleep(_: float) -> None:
        nonlocal waiting_to_retry
        waiting_to_retry += 1
        await retry.wait()

    async def room1(url: Any, **kwargs: Any) -> CallbackResult:
        nonlocal active, peak
        request_id = kwargs["headers"]["client-request-id"]
        if len(tried) < 4 and request_id not in tried:
            tried.add(request_id)
            return CallbackResult(status=429, headers={"Retry-After": "0"}, payload=_error("TooManyRequests"))
        active += 1
        peak = max(peak, active)
        await retry.wait()
        await asyncio.sleep(0.01)
        active -= 1
        return CallbackResult(status=200, payload={})

    async def until(condition: Any) -> None:
        for _ in range(1000):
            if condition():
                return
            await asyncio.sleep(0.001)
        raise AssertionError("never happened")

    client = GraphClient(session, Tokens(), "https://graph.test", sleep=sleep,
                         retry=RetryPolicy(max_attempts=3, deadline_s=30))
    with aioresponses() as mocked:
        mocked.get(re.compile(r".*/users/room1/events$"), callback=room1, repeat=True)
        mocked.get(re.compile(r".*/users/other\d+/events$"), payload={}, repeat=True)
        first = [asyncio.create_task(client.request("GET", "/users/room1/events")) for _ in range(4)]
        await until(lambda: waiting_to_retry == 4)
        await asyncio.gather(*(client.request("GET", f"/users/other{n}/events") for n in range(500)))
        later = [asyncio.create_task(client.request("GET", "/users/room1/events")) for _ in range(4)]
        await until(lambda: active == 4)
        retry.set()
        assert await asyncio.gather(*first, *later) == [{}] * 8
    assert peak == 4
    assert client.mailboxes_in_use == 0


def _error(code: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": "x"}}


# --- the bot's memo of stored conversation references ----------------------------------------

def _personal_chat(aad: str) -> TurnContext:
    activity = {"type": "message", "channelId": "msteams", "serviceUrl": "https://smba.test/", "text": "help",
                "from": {"id": f"29:{aad}", "name": aad, "aadObjectId": aad},
                "recipient": {"id": "28:roombot", "name": "RoomBot"},
                "conversation": {"id": f"a:{aad}", "conversationType": "personal"},
                "channelData": {"tenant": {"id": "tenant-1"}}}
    return TurnContext(TestAdapter(), Activity().deserialize(activity))


def test_the_bot_remembers_at_most_its_bound_of_stored_references(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roombot, "STORED_REFERENCES_KEPT", 3)
    repo = Repository(MemoryBackend())
    saved: list[str] = []
    save = repo.save_conversation_reference
    monkeypatch.setattr(repo, "save_conversation_reference", lambda key, ref: (saved.append(key), save(key, ref)))
    bot = roombot.RoomBot(repo, ConversationState(MemoryStorage()))
    for n in range(10):
        bot._remember_conversation(_personal_chat(f"p{n}"))
    assert len(bot._stored_references) == 3
    saved.clear()
    for n in (7, 8, 9, 7):  # remembered: the turn stores nothing
        bot._remember_conversation(_personal_chat(f"p{n}"))
    assert saved == []
    bot._remember_conversation(_personal_chat("p0"))  # forgotten: stored again, p8 (least recent) goes
    bot._remember_conversation(_personal_chat("p8"))
    assert saved == ["p0", "p8"]
    assert repo.reachable_reference("p0") is not None
    assert len(bot._stored_references) == 3
