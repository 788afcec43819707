"""Per-process memory stays bounded: each map that gets an entry per person, conversation or mailbox
is filled past its bound here, and must both stay within it and still do its job."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botbuilder.core.teams import TeamsInfo

from bot.identity import MemberDirectory


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
