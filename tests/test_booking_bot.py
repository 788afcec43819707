"""Booking through the bot's HTTP edge: Teams-shaped activities in, cards out (each validated
against Adaptive Card 1.5 by the connector), events in the sandbox's room calendars."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.booking_helpers import (
    ZONE,
    buttons,
    card_text,
    execute,
    form,
    local,
    repo,
    room_events,
    say,
    submit,
    tomorrow,
)
from tests.conftest import ALEX, MEGAN, Connector


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
    assert "Free rooms" in text and "10:00–11:00 (Europe/Helsinki)" in text
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
    found = []

    def walk(node):
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Input."):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


def _floor(bot: TestClient, level: int, building: str = "Contoso") -> str:
    return next(f.id for f in repo(bot).list_floors(_building(bot, building)) if f.level == level)


def _building(bot: TestClient, prefix: str) -> str:
    return next(b.id for b in repo(bot).list_buildings() if b.name.startswith(prefix))
