"""Bad values are answers, not incidents: a zone name that is a folder, minutes or seats past any
bound, digits that `str.isdigit` takes but `int` does not. Each goes through the bot's real flows
and gets a clear answer; no turn ends in the error handler."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.adapter import SORRY
from domain.booking import MAX_CAPACITY
from domain.errors import ValidationFailed
from domain.numbers import whole_number
from domain.timezones import first_zone, graph_zone, is_zone, zone
from tests.booking_helpers import buttons, card_text, elements, form, repo, say, submit, tomorrow
from tests.conftest import ALEX, Connector, teams_activity

NOT_ZONES = ["Europe", "Etc", "America/Argentina", "posixrules", "localtime", "Europe/", "/etc/passwd",
             "Europe/../Europe/Helsinki", "UTC\n", "right/UTC", "", " ", "x" * 100]
BAD_NUMBERS = ["1e12", "999999999999", "²", "³", "٣٠", "３０", "-30", "30.5", "0x1e", "1_0", "NaN", "inf", "0"]


@pytest.fixture
def failed_turns(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    """Turns that ended in the adapter's error handler (it logs 'turn failed')."""
    caplog.set_level(logging.ERROR, logger="bot.adapter")
    records: list[logging.LogRecord] = []
    yield records
    records += [r for r in caplog.records if r.name == "bot.adapter" and "turn failed" in r.getMessage()]
    assert records == []


def _note(card: dict[str, Any]) -> str:
    """The note a card opens with (what was wrong), not its inputs' own error messages."""
    return " ".join(t["text"] for t in elements(card, "TextBlock") if t.get("color") == "Attention")


def _no_incident(connector: Connector) -> None:
    assert not any(SORRY in text for text in connector.texts()), connector.texts()


# --- zones -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NOT_ZONES)
def test_only_iana_zone_names_are_zones(name: str) -> None:
    assert not is_zone(name)
    with pytest.raises(ValidationFailed):
        zone(name)
    if name and name.strip() != "UTC":  # Graph's zone names are read trimmed
        with pytest.raises(ValueError):
            graph_zone(name)
    assert first_zone(name, "Europe/Helsinki") == "Europe/Helsinki"


def test_real_zones_still_are() -> None:
    assert all(is_zone(n) for n in ("UTC", "Europe/Helsinki", "America/Argentina/Buenos_Aires", "Etc/GMT+5"))
    assert str(graph_zone("W. Europe Standard Time")) == "Europe/Berlin"


@pytest.mark.parametrize("name", ["Europe", "Etc", "America/Argentina"])
async def test_a_client_zone_that_is_a_folder_gets_the_default(bot: TestClient, connector: Connector,
                                                               failed_turns: list, name: str) -> None:
    """Teams' clientInfo (and localTimezone) are the client's word: a folder name there is no zone."""
    activity = teams_activity(connector, text="book", localTimezone=name)
    activity["entities"][0]["timezone"] = name
    response = await bot.post("/api/messages", json=activity)
    assert response.status == 201
    [card] = connector.cards()
    assert "Book a room" in card_text(card) and "Times are in UTC." in card_text(card)
    assert repo(bot).get_user_zone(ALEX[0]) is None  # not remembered either
    _no_incident(connector)


async def test_a_form_zone_that_is_a_folder_uses_the_users_zone(bot: TestClient, connector: Connector,
                                                                failed_turns: list) -> None:
    results = await submit(bot, connector, {**form(tomorrow(), "10:00"), "zone": "Europe"})
    assert "Free rooms" in card_text(results) and "Times are in Europe/Helsinki." in card_text(results)
    again = await submit(bot, connector, {**buttons(results, "more")[0], "q": {
        **buttons(results, "more")[0]["q"], "zone": "Etc"}}) if buttons(results, "more") else None
    if again is not None:
        assert "Free rooms" in card_text(again)
    _no_incident(connector)


# --- numbers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", BAD_NUMBERS + ["", " ", True, None, 1.5, float("inf"), [], {}, -1])
def test_whole_numbers_are_ascii_digits_within_bounds(value: object) -> None:
    assert whole_number(value, 1, 10 ** 6) is None


def test_whole_numbers_that_are() -> None:
    assert [whole_number(v, 1, 480) for v in ("30", " 30 ", "030", 30, "30.0", 30.0)] == [30] * 6
    assert whole_number("481", 1, 480) is None and whole_number(0, 1, 480) is None


@pytest.mark.parametrize("value", BAD_NUMBERS)
async def test_a_bad_duration_in_the_booking_form_is_answered(bot: TestClient, connector: Connector,
                                                              failed_turns: list, value: str) -> None:
    answer = await submit(bot, connector, {**form(tomorrow(), "10:00"), "duration": value})
    assert "Book a room" in card_text(answer) and _note(answer) == "Pick a duration of at most 8 hours."
    _no_incident(connector)


@pytest.mark.parametrize("value", BAD_NUMBERS)
async def test_a_bad_seat_count_in_the_booking_form_is_answered(bot: TestClient, connector: Connector,
                                                                failed_turns: list, value: str) -> None:
    answer = await submit(bot, connector, {**form(tomorrow(), "10:00"), "capacity": value})
    assert "Book a room" in card_text(answer) and _note(answer) == f"Seats must be between 1 and {MAX_CAPACITY}."
    _no_incident(connector)


async def test_an_overlong_duration_in_range_keeps_its_choice(bot: TestClient, connector: Connector,
                                                              failed_turns: list) -> None:
    answer = await submit(bot, connector, {**form(tomorrow(), "10:00"), "duration": "600"})
    assert _note(answer) == "A booking can last at most 8 hours."
    [duration] = [i for i in elements(answer, "Input.") if i["id"] == "duration"]
    assert duration["value"] == "600" and "600" in [c["value"] for c in duration["choices"]]


async def _booked(bot: TestClient, connector: Connector) -> dict[str, Any]:
    results = await submit(bot, connector, form(tomorrow(), "10:00", subject="Sync"))
    await submit(bot, connector, buttons(results, "book")[0])
    return await say(bot, connector, "my bookings")


@pytest.mark.parametrize("value", BAD_NUMBERS)
async def test_a_bad_duration_in_a_change_is_answered(bot: TestClient, connector: Connector, failed_turns: list,
                                                      value: str) -> None:
    listing = await _booked(bot, connector)
    change = await submit(bot, connector, buttons(listing, "change")[0])
    inputs = {i["id"]: i.get("value") for i in elements(change, "Input.")}
    for verb in ("change_save", "change_rooms"):
        answer = await submit(bot, connector, {**buttons(change, verb)[0], **inputs, "duration": value})
        assert "Change:" in card_text(answer) and _note(answer) == "Pick a duration."
    [booking] = repo(bot).list_bookings_for_user(ALEX[0])
    assert (booking.end - booking.start).total_seconds() == 30 * 60  # unchanged
    _no_incident(connector)


@pytest.mark.parametrize(("field", "value", "answer"), [
    ("date", "٢٠٢٦-١١-٢٥", "Pick a date."), ("date", "2026-1-5", "Pick a date."),
    ("start", "١٠:٠٠", "Pick a start time."), ("start", "10:00:00:00", "Pick a start time.")])
async def test_dates_and_times_are_ascii_digits(bot: TestClient, connector: Connector, failed_turns: list,
                                                field: str, value: str, answer: str) -> None:
    card = await submit(bot, connector, {**form(tomorrow(), "10:00"), field: value})
    assert "Book a room" in card_text(card) and _note(card) == answer


async def test_a_quick_booking_with_other_digits_asks_rather_than_guesses(bot: TestClient, connector: Connector,
                                                                         failed_turns: list) -> None:
    card = await say(bot, connector, "book for ٦ tomorrow at 10")
    assert _note(card).startswith("I didn't understand") and "٦" in _note(card)
    [capacity] = [i for i in elements(card, "Input.") if i["id"] == "capacity"]
    assert capacity["value"] == 1
