"""Show more, Look at more rooms and Previous through the bot's HTTP edge: the buttons carry a rank
position and the pages before, which the bot checks (and the ranking it works out again) before asking
Graph anything."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app import SANDBOX_KEY
from dialogs.booking import MAX_POSITION
from tests.booking_helpers import buttons, card_text, form, repo, submit, tomorrow
from tests.conftest import ALEX, Connector

STALE = "That button is not valid any more. Please search again."


def _titled(card: dict[str, Any], title: str) -> dict[str, Any]:
    [found] = [a["data"] for a in card["actions"] if a["title"] == title]
    return found


def _rooms(card: dict[str, Any]) -> list[str]:
    return [b["room"] for b in buttons(card, "book")]


async def test_previous_shows_the_page_before_again(bot: TestClient, connector: Connector) -> None:
    first = await submit(bot, connector, form(tomorrow(), "16:00"))
    more = _titled(first, "Show more (9 more)")
    second = await submit(bot, connector, more)
    third = await submit(bot, connector, _titled(second, "Show more (4 more)"))
    assert "14 free" in card_text(second) and "14 free" in card_text(third)  # earlier pages' rooms counted
    assert [a["title"] for a in third["actions"]] == ["Previous", "Change search"]
    back = await submit(bot, connector, _titled(third, "Previous"))
    assert _rooms(back) == _rooms(second)
    again = await submit(bot, connector, _titled(back, "Previous"))
    assert _rooms(again) == _rooms(first) and [a["title"] for a in again["actions"]][0] == "Show more (9 more)"
    assert len({*_rooms(first), *_rooms(second), *_rooms(third)}) == 14  # never a room twice


async def test_a_room_starred_from_the_results_comes_first_back_in_them(bot: TestClient,
                                                                        connector: Connector) -> None:
    first = await submit(bot, connector, form(tomorrow(), "16:00"))
    second = await submit(bot, connector, _titled(first, "Show more (9 more)"))
    stars = buttons(second, "star")
    assert [s["room"] for s in stars] == _rooms(second) and not buttons(second, "unstar")
    starred = await submit(bot, connector, stars[2])  # B's favourites flow answers
    assert repo(bot).favourite_rooms(ALEX[0]) == [_rooms(second)[2]] and "Starred" in card_text(starred)
    back = await submit(bot, connector, buttons(starred, "more")[0])  # Back to results: the first page
    assert _rooms(back)[0] == _rooms(second)[2] and _rooms(back)[1:] == _rooms(first)[:4]
    assert [b["room"] for b in buttons(back, "unstar")] == [_rooms(second)[2]]
    assert "\u2605" in card_text(back) and "14 free" in card_text(back)


@pytest.mark.parametrize("change", [
    {"at": "5"}, {"at": -1}, {"at": True}, {"at": 5.0}, {"at": MAX_POSITION + 1}, {"shown": 6},
    {"shown": None}, {"back": "0,0"}, {"back": [[0]]}, {"back": [[5, 0]]}, {"back": [[0, 0], [0, 0]]},
    {"back": [[0, 5]]}, {"back": [[0, 0]] * 21}, {"back": [[0, "0"]]},
    {"at": 500, "shown": 5},  # further than the 14 rooms go
])
async def test_a_forged_or_stale_page_is_refused_before_graph(bot: TestClient, connector: Connector,
                                                              change: dict[str, Any]) -> None:
    first = await submit(bot, connector, form(tomorrow(), "16:00"))
    more = _titled(first, "Show more (9 more)")
    assert (more["at"], more["shown"], more["back"]) == (5, 5, [[0, 0]])
    stats = bot.server.app[SANDBOX_KEY].state.stats
    stats.clear()
    card = await submit(bot, connector, {**more, **change})
    assert STALE in card_text(card) and "Book a room" in card_text(card)
    assert stats.get("POST get_schedule", 0) == 0


async def test_a_more_button_from_before_rank_positions_shows_the_first_page(bot: TestClient,
                                                                             connector: Connector) -> None:
    first = await submit(bot, connector, form(tomorrow(), "16:00"))
    more = _titled(first, "Show more (9 more)")
    old = {k: v for k, v in more.items() if k not in ("at", "shown", "back")}
    card = await submit(bot, connector, {**old, "offset": 5})
    assert _rooms(card) == _rooms(first)
