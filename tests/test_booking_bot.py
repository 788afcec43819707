"""Booking through the bot's HTTP edge: Teams-shaped activities in, cards out (each validated
against Adaptive Card 1.5 by the connector), events in the sandbox's room calendars."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient

from config import Config
from dialogs.common import finish_later_work
from sandbox.faults import Faults
from tests.booking_helpers import (
    ZONE,
    buttons,
    card_text,
    day_label,
    elements,
    execute,
    form,
    local,
    repo,
    room_events,
    sandbox,
    say,
    submit,
    tomorrow,
)
from tests.conftest import ALEX, MEGAN, Connector


@pytest.fixture
def bot_config(tmp_path) -> Config:
    """A short Graph deadline (2 s), so the test with a hanging Microsoft 365 is quick."""
    return Config(data_dir=tmp_path / "data", sandbox_port=0, graph_timeout_s=2)


async def test_book_shows_the_form_in_the_users_time_zone(bot: TestClient, connector: Connector) -> None:
    card = await say(bot, connector, "book")
    inputs = {i["id"]: i for i in _inputs(card)}
    assert {"date", "start", "duration", "capacity", "place", "features", "subject", "participants"} <= set(inputs)
    assert inputs["duration"]["value"] == "30"
    assert inputs["start"]["value"][-2:] in ("00", "15", "30", "45")
    assert f"Times are in {ZONE}." in card_text(card)
    places = [c["title"] for c in inputs["place"]["choices"]]
    assert places[0] == "Anywhere" and "Contoso HQ · Second floor" in places and "Harbour House (any floor)" in places
    assert buttons(card, "search") == [{"action": "search", "zone": ZONE}]


async def test_search_book_and_cancel_with_action_submit(bot: TestClient, connector: Connector) -> None:
    day = tomorrow()
    results = await submit(bot, connector, form(day, "10:00", duration=60, capacity=6, place="f:" + _floor(bot, 2),
                                               subject="Planning", participants="megan@example.com"))
    text = card_text(results)
    assert "Free rooms" in text and f"{day_label(day)}, 10:00–11:00" in text
    assert text.count("Europe/Helsinki.") == 1 and "(Europe/Helsinki)" not in text  # the zone named once
    books = buttons(results, "book")
    # The smallest adequate room first: Echo (6) before Fjord (10) and Glacier (20); Harbor (4) is too small.
    assert [b["room"] for b in books] == ["hq-echo@example.com", "hq-fjord@example.com", "hq-glacier@example.com"]

    confirmation = await submit(bot, connector, books[0])
    assert "Booked: Echo" in card_text(confirmation)
    assert "alexw@example.com, megan@example.com" in card_text(confirmation)
    [event] = await room_events(bot, "hq-echo@example.com", day)
    assert event.organizer_email == "hq-echo@example.com"
    assert event.attendees == ("alexw@example.com", "megan@example.com")
    assert (event.start, event.end) == (local(day, 10), local(day, 11)) and event.subject == "Planning"
    [booking] = repo(bot).list_bookings_for_user(ALEX[0])
    assert (booking.event_id, booking.ical_uid, booking.status) == (event.id, event.ical_uid, "booked")

    again = await submit(bot, connector, books[0])  # the same card pressed again (a stale client)
    assert "You already booked this from that card." in card_text(again)
    another_room = await submit(bot, connector, books[1])  # another room on the same results card
    assert "Booked: Echo" in card_text(another_room)
    assert len(await room_events(bot, "hq-echo@example.com", day)) == 1
    assert await room_events(bot, "hq-fjord@example.com", day) == []

    [cancel] = buttons(confirmation, "cancel")
    cancelled = await submit(bot, connector, cancel)
    assert "Cancelled: Echo" in card_text(cancelled)
    assert await room_events(bot, "hq-echo@example.com", day) == []
    assert repo(bot).get_booking(booking.id).status == "cancelled"


async def test_book_and_cancel_with_action_execute(bot: TestClient, connector: Connector) -> None:
    day = tomorrow()
    results = await execute(bot, connector, form(day, "14:00", capacity=10, place="b:" + _building(bot, "Harbour")))
    books = buttons(results, "book")
    assert [b["room"] for b in books] == ["hh-nautilus@example.com", "hh-lagoon@example.com"]  # 10, then 16
    confirmation = await execute(bot, connector, books[0])
    assert "Booked: Nautilus" in card_text(confirmation)
    assert len(await room_events(bot, "hh-nautilus@example.com", day)) == 1
    cancelled = await execute(bot, connector, buttons(confirmation, "cancel")[0])
    assert "Cancelled: Nautilus" in card_text(cancelled)
    assert await room_events(bot, "hh-nautilus@example.com", day) == []
    assert connector.received == []  # invokes are answered in the HTTP response, nothing else is sent


async def test_only_the_booker_can_cancel(bot: TestClient, connector: Connector) -> None:
    day = tomorrow()
    results = await submit(bot, connector, form(day, "09:00"))
    confirmation = await submit(bot, connector, buttons(results, "book")[0])
    [cancel] = buttons(confirmation, "cancel")
    refused = await submit(bot, connector, cancel, user=MEGAN)  # Megan replays Alex's button
    assert "Only the person who made a booking can change or cancel it." in card_text(refused)
    assert len(await room_events(bot, buttons(results, "book")[0]["room"], day)) == 1
    forged = await submit(bot, connector, {"action": "cancel", "booking": "not-a-booking"})
    assert "I can't find that booking." in card_text(forged)


def _inputs(card: dict) -> list[dict]:
    return elements(card, "Input.")


def _floor(bot: TestClient, level: int, building: str = "Contoso") -> str:
    return next(f.id for f in repo(bot).list_floors(_building(bot, building)) if f.level == level)


def _building(bot: TestClient, prefix: str) -> str:
    return next(b.id for b in repo(bot).list_buildings() if b.name.startswith(prefix))


async def test_book_with_a_full_sentence_goes_straight_to_free_rooms(bot: TestClient, connector: Connector) -> None:
    card = await say(bot, connector, "book a room for 6 tomorrow 14:00-15:00")
    text = card_text(card)
    assert "Free rooms" in text and f"{day_label(tomorrow())}, 14:00–15:00" in text
    books = buttons(card, "book")
    assert books and all(repo(bot).get_room(b["room"]).capacity >= 6 for b in books)
    assert books[0]["start"] == local(tomorrow(), 14).isoformat().replace("+00:00", "Z")
    assert repo(bot).list_bookings_for_user(ALEX[0]) == []  # a quick path shows rooms; it never books


async def test_book_in_a_building_with_a_duration(bot: TestClient, connector: Connector) -> None:
    card = await say(bot, connector, "book 1h tomorrow at 10 in Harbour House")
    books = buttons(card, "book")
    assert books and {repo(bot).get_room(b["room"]).building_id for b in books} == {_building(bot, "Harbour")}
    assert (books[0]["start"], books[0]["end"]) == tuple(
        local(tomorrow(), h).isoformat().replace("+00:00", "Z") for h in (10, 11))


async def test_book_now_searches_thirty_minutes_from_now(bot: TestClient, connector: Connector) -> None:
    card = await say(bot, connector, "book now")
    [first, *_] = buttons(card, "book")
    from datetime import datetime
    start, end = (datetime.fromisoformat(first[k].replace("Z", "+00:00")) for k in ("start", "end"))
    assert (end - start).total_seconds() == 30 * 60
    assert abs((start - datetime.now(start.tzinfo)).total_seconds()) < 120


async def test_what_is_not_understood_gets_the_form_filled_with_what_was(bot: TestClient,
                                                                         connector: Connector) -> None:
    card = await say(bot, connector, "book tomorrow for 8 people at 10 next to the coffee machine")
    text = card_text(card)
    assert "Book a room" in text and "I didn't understand" in text and "coffee" in text
    inputs = {i["id"]: i.get("value") for i in _inputs(card)}
    assert inputs["date"] == tomorrow().isoformat() and inputs["start"] == "10:00" and inputs["capacity"] == 8
    assert repo(bot).list_bookings_for_user(ALEX[0]) == []


async def test_a_form_with_mistakes_comes_back_with_the_reason(bot: TestClient, connector: Connector) -> None:
    day = tomorrow()
    card = await submit(bot, connector, form(day, "10:00", duration=600))
    assert "A booking can last at most 8 hours." in card_text(card)
    card = await submit(bot, connector, form(day, "10:00", participants="megan@example.com, megan(at)example"))
    text = card_text(card)
    assert "'megan(at)example' is not a valid email address." in text
    assert {i["id"]: i.get("value") for i in _inputs(card)}["participants"] == "megan@example.com, megan(at)example"
    card = await submit(bot, connector, form(day - timedelta(days=2), "10:00"))
    assert "That start time is in the past." in card_text(card)
    card = await submit(bot, connector, form(day, "10:00", place="f:no-such-floor"))
    assert "That building or floor no longer exists." in card_text(card)


async def test_forged_book_payloads_are_refused_and_change_nothing(bot: TestClient, connector: Connector) -> None:
    day = tomorrow()
    results = await submit(bot, connector, form(day, "10:00"))
    genuine = buttons(results, "book")[0]
    forgeries = {
        "not one I can book": {**genuine, "room": "boardroom@example.com"},  # in the tenant, not registered
        "That start time is in the past.": {**genuine, "start": "2020-01-01T10:00:00Z",
                                            "end": "2020-01-01T11:00:00Z"},
        "A booking can last at most 8 hours.": {**genuine, "end": local(day, 23).isoformat()},
        "is not a valid email address": {**genuine, "q": {**genuine["q"], "participants": ["x@@y"]}},
        "That button is not valid any more.": {**genuine, "attempt": "../../etc"},
        "The start time is not valid.": {**genuine, "start": "soon"},
    }
    stats = bot.server.app[__import__("app").SANDBOX_KEY].state.stats
    stats.clear()
    for message, data in forgeries.items():
        card = await submit(bot, connector, data)
        assert message in card_text(card), message
    assert sum(stats.values()) == 0  # refused before Graph
    assert repo(bot).list_bookings_for_user(ALEX[0]) == []


async def test_booking_switched_off_is_said_plainly(bot: TestClient, connector: Connector) -> None:
    from dataclasses import replace
    results = await submit(bot, connector, form(tomorrow(), "10:00"))
    settings = repo(bot).get_settings()
    repo(bot).save_settings(replace(settings, booking_enabled=False))
    for card in (await say(bot, connector, "book"), await submit(bot, connector, buttons(results, "book")[0])):
        assert "Room booking is switched off." in card_text(card)
    repo(bot).save_settings(replace(settings, connected=False))
    assert "not connected to your organisation's Microsoft 365" in card_text(await say(bot, connector, "book now"))
    assert repo(bot).list_bookings_for_user(ALEX[0]) == []


async def test_show_more_pages_through_free_rooms(bot: TestClient, connector: Connector) -> None:
    results = await submit(bot, connector, form(tomorrow(), "16:00"))
    first_page = [b["room"] for b in buttons(results, "book")]
    [more] = buttons(results, "more")
    assert len(first_page) == 5 and "Show more (9 more)" in card_text(results)
    second = await submit(bot, connector, more)
    second_page = [b["room"] for b in buttons(second, "book")]
    assert len(second_page) == 5 and not set(first_page) & set(second_page)
    assert {b["attempt"] for b in buttons(second, "book")} == {more["attempt"]}  # still one booking per card


async def test_a_taken_room_is_said_with_what_is_still_free(bot: TestClient, connector: Connector) -> None:
    day = tomorrow()
    alex_card = await submit(bot, connector, form(day, "12:00", capacity=20))
    megan_card = await submit(bot, connector, form(day, "12:00", capacity=20), user=MEGAN)
    [alex_press] = buttons(alex_card, "book")
    [megan_press] = buttons(megan_card, "book")
    assert "Booked: Glacier" in card_text(await submit(bot, connector, alex_press))
    taken = await submit(bot, connector, megan_press, user=MEGAN)
    text = card_text(taken)
    assert "Sorry, Glacier was just taken for that time. Here is what is still free." in text
    assert "No free room" in text and "Other times that day" in text
    assert len(await room_events(bot, "hq-glacier@example.com", day)) == 1


@pytest.mark.graph_timeout(1)  # a 3 s turn budget, a booking tried for 9 s
async def test_a_slow_microsoft_365_gets_still_working_then_the_booking_in_a_proactive_message(
        bot: TestClient, connector: Connector) -> None:
    day = tomorrow()
    press = buttons(await submit(bot, connector, form(day, "15:00")), "book")[0]
    running = sandbox(bot)
    running.state.faults = Faults(rate_hang=1.0, hang_s=3)
    later: list[dict] = []
    card = await submit(bot, connector, press, others=later)
    assert "Still working on it" in card_text(card) and later == []
    running.state.faults = Faults()  # Microsoft 365 recovers while the booking is still being tried
    assert await finish_later_work(timeout_s=30) == 0
    [message] = connector.received[-1:]
    assert message["method"] == "POST" and message["path"].startswith("/v3/conversations/conv-1/activities")
    assert "Booked:" in card_text(message["activity"]["attachments"][0]["content"])
    [event] = await room_events(bot, press["room"], day)
    [booking] = repo(bot).list_bookings_for_user(ALEX[0])
    assert (booking.status, booking.event_id) == ("booked", event.id)


@pytest.mark.graph_timeout(1)
async def test_microsoft_365_hanging_for_good_gets_nothing_booked_and_try_again_books_once(
        bot: TestClient, connector: Connector) -> None:
    day = tomorrow()
    press = buttons(await submit(bot, connector, form(day, "15:00")), "book")[0]
    running = sandbox(bot)
    running.state.faults = Faults(rate_hang=1.0, hang_s=3)
    card = await submit(bot, connector, press, others=[])
    assert "Still working on it" in card_text(card)
    assert await finish_later_work(timeout_s=30) == 0
    running.state.faults = Faults()
    answer = connector.received[-1]["activity"]["attachments"][0]["content"]
    assert "Microsoft 365 did not answer in time, so nothing was booked. Please try again." in card_text(answer)
    assert await room_events(bot, press["room"], day) == []
    assert repo(bot).list_bookings_for_user(ALEX[0]) == []  # no record left behind
    [again] = buttons(answer, "book")
    assert {k: again[k] for k in ("room", "start", "end", "attempt")} == \
        {k: press[k] for k in ("room", "start", "end", "attempt")}
    assert "Booked:" in card_text(await submit(bot, connector, again))
    assert len(await room_events(bot, press["room"], day)) == 1
