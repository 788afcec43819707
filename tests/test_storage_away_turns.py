"""Turns while the database is away (a PostgreSQL restart or failover): every kind of turn is answered
"try again", a card press too, never with botbuilder's bare 501 for an invoke nobody answered."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app import REPO_KEY
from cards.base import Card
from dialogs.common import Later, finish_later_work, within_budget
from dialogs.turn import Turn
from domain.errors import SORRY, STORAGE_AWAY
from domain.people import UserIdentity
from storage.backends import StorageUnavailable
from tests.card_schema import assert_valid_card
from tests.conftest import Connector, teams_activity


def _away(*_args: Any, **_kwargs: Any) -> Any:
    raise StorageUnavailable("the database went away: server closed the connection unexpectedly")


@pytest.fixture
def database_away(bot: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every read of the organisation's settings (each turn makes one) finds the database away."""
    monkeypatch.setattr(bot.app[REPO_KEY], "get_settings", _away)


async def test_a_card_press_while_the_database_is_away_gets_a_try_again_card(
        bot: TestClient, connector: Connector, database_away: None) -> None:
    invoke = teams_activity(connector, activity_type="invoke", name="adaptiveCard/action",
                            value={"action": {"type": "Action.Execute", "verb": "my_bookings", "data": {}}})
    response = await bot.post("/api/messages", json=invoke)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive", body
    assert_valid_card(body["value"])
    assert STORAGE_AWAY in str(body["value"])


async def test_a_message_while_the_database_is_away_is_answered_try_again(
        bot: TestClient, connector: Connector, database_away: None) -> None:
    response = await bot.post("/api/messages", json=teams_activity(connector, text="help"))
    assert response.status in (200, 201)
    assert connector.texts() == [STORAGE_AWAY]


class _NotAsked:
    async def resolve(self) -> None:
        raise AssertionError("not asked")

    async def held(self) -> frozenset[str]:
        raise AssertionError("not asked")


async def test_a_press_answered_after_its_turn_that_meets_the_database_away_says_try_again() -> None:
    """A booking still being worked on when its turn ended (Graph slow), whose record then cannot be
    written: the person later gets the same "try again" a turn would give, with the Try again button."""
    told: list[Card] = []

    async def tell(_user_key: str, content: Card) -> bool:
        told.append(content)
        return True

    async def book(_turn: Turn) -> Card:
        await asyncio.sleep(0.3)  # past the turn's budget
        return _away()

    step = within_budget("book", book, budget_s=0.05, later=Later(tell, finish_within_s=5))
    turn = Turn(user=UserIdentity("29:u1", "u1", "Una"), roster=_NotAsked(), roles=_NotAsked(), zone="UTC",
                data={"action": "book", "room": "hq-echo@example.com"})
    assert "Still working on it" in json.dumps(await step(turn))
    assert await finish_later_work(timeout_s=5) == 0
    [answer] = told
    assert STORAGE_AWAY in json.dumps(answer) and SORRY not in json.dumps(answer)
    assert '"verb": "book"' in json.dumps(answer)  # Try again presses Book again
