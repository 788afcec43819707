"""Favourite rooms through the bot's HTTP edge (issue 19): typed and pressed, per person, answered in
place of the pressed card; a favourite's Book opens the form for that room; "book my favourite room"
with one starred room searches that room."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.booking_helpers import buttons, card_text, elements, execute, repo, say, submit
from tests.conftest import ALEX, MEGAN, Connector

AURORA, CIRRUS = "hq-aurora@example.com", "hq-cirrus@example.com"


async def test_star_typed_and_pressed_then_my_rooms(bot: TestClient, connector: Connector) -> None:
    starred = await say(bot, connector, "star Aurora")
    assert "Starred Aurora." in card_text(starred) and repo(bot).favourite_rooms(ALEX[0]) == [AURORA]
    pressed = await execute(bot, connector, {"action": "star", "room": CIRRUS})  # Action.Execute
    assert "Starred Cirrus." in card_text(pressed)
    again = await submit(bot, connector, {"action": "star", "room": CIRRUS})  # Action.Submit: replaces the card
    assert "Cirrus already is one of your starred rooms." in card_text(again)
    mine = await say(bot, connector, "my favourite rooms")
    assert [b["room"] for b in buttons(mine, "unstar")] == [AURORA, CIRRUS]
    assert repo(bot).favourite_rooms(MEGAN[0]) == []
    megans = await say(bot, connector, "my rooms", user=MEGAN)
    assert "Your rooms" in card_text(megans) and not buttons(megans, "unstar")
    await say(bot, connector, "remove Aurora from my favorites")
    assert repo(bot).favourite_rooms(ALEX[0]) == [CIRRUS]


async def test_a_room_not_registered_is_named_back_and_a_forged_press_refused(bot: TestClient,
                                                                             connector: Connector) -> None:
    card = await say(bot, connector, "star Zeus")
    assert "I don't know a room called" in card_text(card) and "Zeus" in card_text(card)
    forged = await execute(bot, connector, {"action": "star", "room": "ceo@example.com"})
    assert "can't be starred" in card_text(forged)
    assert repo(bot).favourite_rooms(ALEX[0]) == []
    assert any(a["outcome"] == "refused" and a["action"] == "star room" for a in repo(bot).list_audit(100))


async def test_a_favourites_book_opens_the_form_for_that_room(bot: TestClient, connector: Connector) -> None:
    mine = await execute(bot, connector, {"action": "star", "room": AURORA})
    [book] = [b for b in buttons(mine, "form") if b.get("room")]
    form = await execute(bot, connector, book)
    assert "Room: Aurora" in card_text(form)
    [find] = buttons(form, "search")
    assert find["room"] == AURORA  # only it is searched
    assert any(i["id"] == "start" and "suggested" in i["label"] for i in elements(form, "Input."))


async def test_book_my_favourite_room_searches_the_one_starred(bot: TestClient, connector: Connector) -> None:
    repo(bot).star_room(ALEX[0], CIRRUS)
    card = await say(bot, connector, "book my favourite room tomorrow at 9 for an hour")
    assert {b["room"] for b in buttons(card, "book")} == {CIRRUS}
    repo(bot).star_room(ALEX[0], AURORA)  # two: the search is not narrowed to one of them
    card = await say(bot, connector, "book my favourite room tomorrow at 9 for an hour")
    assert len({b["room"] for b in buttons(card, "book")}) > 1


async def test_my_rooms_is_its_own_request_while_a_question_is_open(bot: TestClient,
                                                                    connector: Connector) -> None:
    question = await say(bot, connector, "a room for 4 tomorrow please")
    assert "What time on" in card_text(question)
    card = await say(bot, connector, "star Aurora")
    assert "Starred Aurora." in card_text(card)
