"""Chat through the bot's HTTP edge (issue 16): everyday sentences in, the right card out; one short
question whose typed answer continues the request; Book books only what the pressed card showed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

import bot.asking as asking
from config import Config
from tests.booking_helpers import (
    buttons,
    card_text,
    elements,
    execute,
    local,
    repo,
    room_events,
    say,
    submit,
    tomorrow,
)
from tests.conftest import ALEX, Connector


def _book_slots(card: dict[str, Any]) -> set[tuple[str, str]]:
    return {(b["start"], b["end"]) for b in buttons(card, "book")}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["id"]: i for i in elements(card, "Input.")}


async def test_a_sentence_without_a_command_word_finds_rooms_for_what_it_said(bot: TestClient,
                                                                              connector: Connector) -> None:
    card = await say(bot, connector, "I need a room for 6 people tomorrow from 2 to 3")
    day = tomorrow()
    assert _book_slots(card) == {(_iso(local(day, 14)), _iso(local(day, 15)))}
    assert {b["q"]["capacity"] for b in buttons(card, "book")} == {6}
    assert "didn't say how long" not in card_text(card)  # it did


async def test_a_missing_length_is_said_on_the_card_not_silently_assumed(bot: TestClient,
                                                                         connector: Connector) -> None:
    card = await say(bot, connector, "can I get a room tomorrow at 3")
    day = tomorrow()
    assert _book_slots(card) == {(_iso(local(day, 15)), _iso(local(day, 15, 30)))}  # a bare 3 is 15:00
    assert "You didn't say how long, so this is for 30 minutes" in card_text(card)


async def test_a_room_named_is_the_one_searched(bot: TestClient, connector: Connector) -> None:
    card = await say(bot, connector, "book Aurora tomorrow at 9 for an hour")
    day = tomorrow()
    assert {b["room"] for b in buttons(card, "book")} == {"hq-aurora@example.com"}
    assert _book_slots(card) == {(_iso(local(day, 9)), _iso(local(day, 10)))}


async def test_a_room_that_is_not_registered_is_named_back(bot: TestClient, connector: Connector) -> None:
    card = await say(bot, connector, "book the Zeus room tomorrow at 9")
    assert "I don't know a room called" in card_text(card) and "Zeus" in card_text(card)
    assert not buttons(card, "book")  # nothing offered as if Zeus had been found


async def test_a_missing_time_is_asked_and_the_typed_answer_continues_the_request(bot: TestClient,
                                                                                  connector: Connector) -> None:
    question = await say(bot, connector, "a room for 4 tomorrow please")
    assert "What time on" in card_text(question) and not buttons(question, "book")
    card = await say(bot, connector, "3pm for an hour")
    day = tomorrow()
    assert _book_slots(card) == {(_iso(local(day, 15)), _iso(local(day, 16)))}
    assert {b["q"]["capacity"] for b in buttons(card, "book")} == {4}  # what the question kept
    again = await say(bot, connector, "3pm for an hour")  # answered once: now a request of its own, for today
    assert "What time" not in card_text(again)


async def test_an_answer_that_is_a_request_of_its_own_is_read_as_one(bot: TestClient, connector: Connector) -> None:
    await say(bot, connector, "I need a room tomorrow")
    card = await say(bot, connector, "actually, show my bookings")
    assert "You have no upcoming bookings." in card_text(card)
    later = await say(bot, connector, "at 10")  # the question was dropped: "at 10" is today's or a form
    assert "What time" not in card_text(later)


async def test_never_mind_drops_the_question(bot: TestClient, connector: Connector) -> None:
    await say(bot, connector, "a room for 3 tomorrow")
    card = await say(bot, connector, "never mind")
    assert "OK, I won't book anything" in card_text(card) and not buttons(card, "book")
    card = await say(bot, connector, "at 11")  # no question open any more
    assert {b["q"]["capacity"] for b in buttons(card, "book")} <= {1}


async def test_a_pressed_card_drops_the_question(bot: TestClient, connector: Connector) -> None:
    await say(bot, connector, "a room for 3 tomorrow")
    await submit(bot, connector, {"action": "help"})  # Action.Submit
    card = await say(bot, connector, "tomorrow at 11")  # read on its own: any room, not one for 3
    assert {b["q"]["capacity"] for b in buttons(card, "book")} == {1}
    await say(bot, connector, "a room for 3 tomorrow")
    await execute(bot, connector, {"action": "help"})  # Action.Execute (an invoke)
    card = await say(bot, connector, "tomorrow at 11")
    assert {b["q"]["capacity"] for b in buttons(card, "book")} == {1}  # not the 3 seats asked before


async def test_a_question_left_unanswered_is_forgotten(bot: TestClient, connector: Connector,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    await say(bot, connector, "a room for 3 tomorrow")
    monkeypatch.setattr(asking, "ANSWER_WITHIN_S", -1.0)  # the question is now too old
    card = await say(bot, connector, "hello")
    assert "Hi Alex" in card_text(card)


async def test_greetings_and_thanks_get_a_line_and_the_main_buttons(bot: TestClient, connector: Connector) -> None:
    for said, answer in (("hi", "Hi Alex!"), ("Good morning!", "Hi Alex!"), ("thanks a lot", "You're welcome!"),
                         ("bye!", "Bye!")):
        card = await say(bot, connector, said)
        assert answer in card_text(card) and "What I can do" not in card_text(card), said
        assert [a["title"] for a in card["actions"]] == ["Book a room", "My bookings", "Help"]
    assert "\\\\*" not in card_text(await say(bot, connector, "hello"))  # the example is Markdown, not escaped
    mallory = ("00000000-0000-0000-0000-0000000000099", "[Mallory](https://e.vil)", "m@example.com", "m@example.com")
    greeted = card_text(await say(bot, connector, "hi", user=mallory))
    assert "Hi \\\\[Mallory\\\\]" in greeted  # a name is shown as written, never as a link


async def test_a_typed_cancel_is_confirmed_then_removes_the_event(bot: TestClient, connector: Connector) -> None:
    day = tomorrow()
    results = await say(bot, connector, "book Aurora tomorrow 14-15")
    [book] = buttons(results, "book")
    await execute(bot, connector, book)
    assert len(await room_events(bot, "hq-aurora@example.com", day)) == 1
    confirm = await say(bot, connector, "cancel my 2pm booking tomorrow")
    assert "Aurora" in card_text(confirm) and "14:00" in card_text(confirm)
    assert await room_events(bot, "hq-aurora@example.com", day)  # nothing changes before the press
    [do] = [a["data"] for a in elements(confirm, "Action.Execute") if a["data"]["action"] == "manage_do"]
    done = await execute(bot, connector, do)
    assert "Cancelled" in card_text(done)
    assert await room_events(bot, "hq-aurora@example.com", day) == []
    assert [b.status for b in repo(bot).list_bookings_for_user(ALEX[0])] == ["cancelled"]


async def test_the_form_from_book_marks_its_suggested_time(bot: TestClient, connector: Connector) -> None:
    form = await say(bot, connector, "book")
    inputs = _inputs(form)
    assert "suggested" in inputs["start"]["label"].lower()
    assert datetime.fromisoformat(inputs["date"]["value"]).date() >= (datetime.now(UTC) - timedelta(days=1)).date()


def _stored_conversations(config: Config) -> int:
    """Conversation-state records in the bot's state file (one per conversation that holds any)."""
    path = config.data_dir / "state.json"
    return len(json.loads(path.read_text()).get("state", {})) if path.exists() else 0


async def test_the_state_holds_a_record_only_while_a_question_is_open(bot: TestClient, connector: Connector,
                                                                      bot_config: Config) -> None:
    for said in ("help", "thanks", "my bookings", "book"):
        await say(bot, connector, said)
    assert _stored_conversations(bot_config) == 0  # turns without a question write nothing
    await say(bot, connector, "a room for 2 tomorrow")
    assert _stored_conversations(bot_config) == 1
    await say(bot, connector, "at 11")
    assert _stored_conversations(bot_config) == 0
    await say(bot, connector, "a room for 2 tomorrow")
    await submit(bot, connector, {"action": "help"})  # dropped by a pressed card: no record left either
    assert _stored_conversations(bot_config) == 0


async def test_a_part_of_the_day_offers_its_first_free_slot_and_says_so(bot: TestClient,
                                                                        connector: Connector) -> None:
    card = await say(bot, connector, "a room for 2 tomorrow morning for an hour")
    day = tomorrow()
    assert _book_slots(card) == {(_iso(local(day, 8)), _iso(local(day, 9)))}  # the demo rooms are free at 08:00
    assert "first time in that part of the day that a room is free" in card_text(card)
