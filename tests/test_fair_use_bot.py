"""Fair use and invitees through /api/messages: the admin's limits card (validated, saved, audited),
one person booking and searching past the limits, a room typed as a participant."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from aiohttp.test_utils import TestClient

from tests.booking_helpers import buttons, card_text, execute, form, repo, room_events, say, submit, tomorrow
from tests.card_schema import assert_valid_card
from tests.conftest import ALEX, MEGAN, Connector

LIMITS = {"max_upcoming_bookings": "3", "max_bookings_per_day": "2", "max_hours_per_day": "4",
          "max_searches_per_minute": "30", "guest_domains": "Fabrikam.com, agency.co.uk", "allow_any_guest": "false"}


async def test_the_limits_card_validates_and_saves(bot: TestClient, connector: Connector) -> None:
    switch = await say(bot, connector, "enable booking")
    [open_limits] = buttons(switch, "limits")
    shown = await execute(bot, connector, open_limits)  # validated against Adaptive Card 1.5 on arrival
    assert "Fair use and guests" in card_text(shown) and '"value": "10"' in card_text(shown)
    [save] = buttons(shown, "limits_save")
    before = repo(bot).get_settings()
    for bad, why in (({"max_upcoming_bookings": "١٠"}, "Upcoming bookings per person, at most: give a whole number"),
                     ({"max_hours_per_day": "25"}, "from 1 to 24"), ({"max_searches_per_minute": "-1"}, "1 to 600"),
                     ({"guest_domains": "not a domain"}, "'not' is not a domain name")):
        refused = await execute(bot, connector, {**save, **LIMITS, **bad})
        assert "Nothing was saved" in card_text(refused) and why in card_text(refused), card_text(refused)
        assert next(iter(bad.values())) in card_text(refused)  # what was typed is shown again
        assert repo(bot).get_settings() == before
    saved = await submit(bot, connector, {**save, **LIMITS})
    assert_valid_card(saved)
    assert "Saved." in card_text(saved)
    settings = repo(bot).get_settings()
    assert (settings.max_upcoming_bookings, settings.max_bookings_per_day, settings.max_hours_per_day,
            settings.max_searches_per_minute) == (3, 2, 4, 30)
    assert settings.guest_domains == ("agency.co.uk", "fabrikam.com") and settings.allow_any_guest is False
    [entry] = [a for a in repo(bot).list_audit() if a["action"] == "limits"]
    assert entry["actor"] == ALEX[0] and "max_upcoming_bookings=3" in entry["detail"]
    assert_valid_card(await say(bot, connector, "status"))


async def test_one_person_booking_past_the_limit_is_told_which_and_when_it_lifts(bot: TestClient,
                                                                                connector: Connector,
                                                                                report) -> None:
    settings = repo(bot).get_settings()
    repo(bot).save_settings(replace(settings, max_upcoming_bookings=10))
    attempts, refused = 12, []
    for i in range(attempts):
        day = tomorrow() + timedelta(days=i)
        results = await submit(bot, connector, form(day, "09:00", duration=60), user=MEGAN)
        answer = await submit(bot, connector, buttons(results, "book")[0], user=MEGAN)
        if "Booked:" not in card_text(answer):
            refused.append(card_text(answer))
    assert len(refused) == 2
    assert all("You already have 10 upcoming bookings, the most allowed. Cancel one in My bookings, or wait until "
               in r and "09:00–10:00 (Europe/Helsinki) ends." in r for r in refused)
    report(f"fair use, bookings: {attempts} attempts by one person, {len(refused)} refused with the limit's message")
    # Alex is an admin: not limited.
    for i in range(2):
        results = await submit(bot, connector, form(tomorrow() + timedelta(days=i), "09:00", duration=60))
        assert "Booked:" in card_text(await submit(bot, connector, buttons(results, "book")[0]))


async def test_one_person_searching_past_the_rate_is_told_when_to_try_again(bot: TestClient, connector: Connector,
                                                                           report) -> None:
    assert repo(bot).get_settings().max_searches_per_minute == 20
    attempts, refused = 25, []
    for _ in range(attempts):
        answer = await submit(bot, connector, form(tomorrow(), "10:00"))
        if "Free rooms" not in card_text(answer):
            refused.append(answer)
    assert len(refused) == 5
    for answer in refused:
        assert "You've searched a lot in the last minute; try again in " in card_text(answer)
        assert buttons(answer, "search")  # the form, to search again later
    other = await submit(bot, connector, form(tomorrow(), "10:00"), user=MEGAN)
    assert "Free rooms" in card_text(other)  # per person
    report(f"fair use, searches: {attempts} in a minute by one person, {len(refused)} refused with 'try again in N s'")


async def test_a_room_typed_as_a_participant_is_refused_at_book(bot: TestClient, connector: Connector) -> None:
    day = tomorrow()
    results = await submit(bot, connector, form(day, "11:00", participants="meganb@example.com, HQ-Echo@example.com"))
    book = next(b for b in buttons(results, "book") if b["room"] != "hq-echo@example.com")
    answer = await submit(bot, connector, book)
    assert "hq-echo@example.com is a room, not a person: book it on its own." in card_text(answer)
    assert await room_events(bot, book["room"], day) == []
    outside = await submit(bot, connector, form(day, "12:00", participants="sam@fabrikam.com"))
    answer = await submit(bot, connector, buttons(outside, "book")[0])
    assert "sam@fabrikam.com is outside your organisation" in card_text(answer)


async def test_my_bookings_refuses_a_room_as_a_person_and_an_extension_past_the_hours(bot: TestClient,
                                                                                       connector: Connector) -> None:
    repo(bot).save_settings(replace(repo(bot).get_settings(), max_hours_per_day=1))
    results = await submit(bot, connector, form(tomorrow(), "10:00", duration=60), user=MEGAN)
    booked = await submit(bot, connector, buttons(results, "book")[0], user=MEGAN)
    assert "Booked:" in card_text(booked)
    listing = await say(bot, connector, "my bookings", user=MEGAN)
    people = await execute(bot, connector, buttons(listing, "people")[0], user=MEGAN)
    refused = await execute(bot, connector, {**buttons(people, "people_save")[0], "add": "boardroom@example.com"},
                            user=MEGAN)
    assert "boardroom@example.com is a room, not a person: book it on its own." in card_text(refused)
    [booking] = repo(bot).list_bookings_for_user(MEGAN[0])
    assert booking.attendees == (MEGAN[3],)
    extended = await execute(bot, connector, buttons(listing, "extend")[0], user=MEGAN)
    assert "the most is 1 h a day" in card_text(extended), card_text(extended)
    assert (repo(bot).get_booking(booking.id).end - booking.start) == timedelta(hours=1)
