"""Turns while the database is away (a PostgreSQL restart or failover): every kind of turn is answered
"try again", a card press too, never with botbuilder's bare 501 for an invoke nobody answered."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app import REPO_KEY
from bot.adapter import STORAGE_AWAY
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
