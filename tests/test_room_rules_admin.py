"""Admins set booking rules through the bot: a room's (rooms -> floor -> Rules), the organisation's
defaults (scope "org", as settings offers it) and a building's time zone; saved only when every value
is valid, audited, shown back. The card validates against Adaptive Card 1.5 in every shape; what the
card's inputs may say is parsed strictly. And a person searching through the bot is told why."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient

from cards.booking import results_card
from cards.rules import rules_card
from domain.booking import SearchRequest, SearchResult
from domain.errors import ValidationFailed
from domain.models import Room
from domain.rules import RoomRules
from services.rules import parse_length, parse_rules
from tests.booking_helpers import buttons, card_text, elements, execute, repo, say, submit
from tests.card_schema import assert_valid_card
from tests.conftest import MEGAN, Connector

AURORA = "hq-aurora@example.com"
SAVED = {"window_days": "14", "max_minutes": "2 h", "hours_start": "8:00", "hours_end": "18:00",
         "days": "0,1,2,3,4", "bookers_mode": "listed",
         "bookers": "alexw@example.com; 11111111-2222-3333-4444-555555555555",
         "checkin_required": "true", "auto_release": "default", "release_after_min": "", "never_release": "false"}


async def _aurora_rules_card(bot: TestClient, connector: Connector) -> dict:
    plans = await say(bot, connector, "rooms")
    floor = await submit(bot, connector, buttons(plans, "floor_open")[0])
    [edit] = [b for b in buttons(floor, "rules_edit") if b.get("room") == AURORA]
    return await execute(bot, connector, edit)


async def test_room_rules_round_trip(bot: TestClient, connector: Connector) -> None:
    settings = repo(bot).get_settings()  # defaults known here, whatever the demo organisation has
    repo(bot).save_settings(replace(settings, default_rules=RoomRules(release_after_min=10)))
    card = await _aurora_rules_card(bot, connector)
    text = card_text(card)
    assert "Booking rules: Aurora" in text and "Organisation default (no limit)" in text
    assert {i["id"] for i in elements(card, "Input.")} >= set(SAVED)
    [save] = buttons(card, "rules_save")
    assert save == {"action": "rules_save", "room": AURORA}
    shown = await execute(bot, connector, {**save, **SAVED})
    assert ("Saved Aurora's rules: up to 14 days ahead · at most 2 hours · 08:00–18:00 Mon–Fri · 2 people may "
            "book · check-in required (UTC).") in card_text(shown)
    assert "Own rules: up to 14 days ahead" in card_text(shown)  # the room's row on its floor
    stored = repo(bot).get_room(AURORA).rules
    assert stored == RoomRules(window_days=14, max_minutes=120, hours_start="08:00", hours_end="18:00",
                               days=(0, 1, 2, 3, 4), bookers=("alexw@example.com",
                                                              "11111111-2222-3333-4444-555555555555"),
                               checkin_required=True, never_release=False)
    audit = repo(bot).list_audit(5)[0]
    assert audit["action"] == "room rules" and audit["detail"].startswith(AURORA)
    again = await execute(bot, connector, {"action": "rules_edit", "room": AURORA})  # shows what is stored
    values = {i["id"]: i.get("value") for i in elements(again, "Input.")}
    assert values["window_days"] == "14" and values["max_minutes"] == "120" and values["days"] == "0,1,2,3,4"
    assert values["bookers_mode"] == "listed" and values["auto_release"] == "default"
    cleared = await execute(bot, connector, {**save, **{k: "" for k in SAVED}, "bookers_mode": "default"})
    assert "Saved Aurora's rules: no limits (UTC)." in card_text(cleared)
    assert repo(bot).get_room(AURORA).rules is None


async def test_invalid_rules_save_nothing_and_keep_what_was_typed(bot: TestClient, connector: Connector) -> None:
    before = repo(bot).get_room(AURORA)
    typed = {**SAVED, "hours_start": "18:00", "hours_end": "08:00"}
    refused = await execute(bot, connector, {"action": "rules_save", "room": AURORA, **typed})
    assert "Nothing was saved: Allowed hours: give both times as HH:MM" in card_text(refused)
    values = {i["id"]: i.get("value") for i in elements(refused, "Input.")}
    assert values["hours_start"] == "18:00" and values["max_minutes"] == "2 h"
    assert repo(bot).get_room(AURORA) == before


async def test_forged_room_and_non_admins_are_refused(bot: TestClient, connector: Connector) -> None:
    forged = await execute(bot, connector, {"action": "rules_save", "room": "nobody@example.com", **SAVED})
    assert "nobody@example.com is not a registered room" in card_text(forged)
    for name in ("rules_edit", "rules_save", "building_zone"):
        await say(bot, connector, "help", user=MEGAN)  # Megan is no admin
        refused = await execute(bot, connector, {"action": name, "room": AURORA, "scope": "org",
                                                 "building": "b-contoso-hq", "zone-b-contoso-hq": "Asia/Tokyo",
                                                 **SAVED}, user=MEGAN)
        assert "only RoomBot admins" in card_text(refused)
    assert repo(bot).get_room(AURORA).rules is None
    assert repo(bot).get_building("b-contoso-hq").zone == ""


async def test_org_defaults_from_the_settings_button(bot: TestClient, connector: Connector) -> None:
    settings = await say(bot, connector, "settings")
    [edit] = buttons(settings, "rules_edit")
    card = await execute(bot, connector, edit)
    assert "Default booking rules" in card_text(card)
    [save] = buttons(card, "rules_save")
    assert save == {"action": "rules_save", "scope": "org"}
    values = {**SAVED, "bookers_mode": "everyone", "bookers": "", "auto_release": "true", "release_after_min": "10"}
    shown = await execute(bot, connector, {**save, **values})
    assert "Saved. Rooms follow these unless they have their own: up to 14 days ahead" in card_text(shown)
    assert repo(bot).get_settings().default_rules == RoomRules(
        window_days=14, max_minutes=120, hours_start="08:00", hours_end="18:00", days=(0, 1, 2, 3, 4), bookers=(),
        checkin_required=True, auto_release=True, release_after_min=10, never_release=False)
    room = await execute(bot, connector, {"action": "rules_edit", "room": AURORA})  # a room shows what it inherits
    assert "Organisation default (14)" in card_text(room) and "Organisation default (on)" in card_text(room)
    refused = await execute(bot, connector, {**save, **values, "release_after_min": ""})
    assert "Nothing was saved: Release after must be a whole number of minutes from 1 to 120." in card_text(refused)


async def test_building_zone_is_set_on_the_floor_plans(bot: TestClient, connector: Connector) -> None:
    plans = await say(bot, connector, "rooms")
    [zone] = [b for b in buttons(plans, "building_zone") if b["building"] == "b-contoso-hq"]
    shown = await submit(bot, connector, {**zone, "zone-b-contoso-hq": "Europe/Helsinki"})
    assert "Contoso HQ is in Europe/Helsinki" in card_text(shown)
    assert repo(bot).get_building("b-contoso-hq").zone == "Europe/Helsinki"
    refused = await submit(bot, connector, {**zone, "zone-b-contoso-hq": "Mars/Olympus"})
    assert "'Mars/Olympus' is not a time zone I know." in card_text(refused)
    assert repo(bot).get_building("b-contoso-hq").zone == "Europe/Helsinki"
    card = await execute(bot, connector, {"action": "rules_edit", "room": AURORA})
    assert "Hours and days are in Europe/Helsinki" in card_text(card)


async def test_a_search_through_the_bot_says_why_the_room_is_left_out(bot: TestClient, connector: Connector) -> None:
    room = repo(bot).get_room(AURORA)
    repo(bot).update_room(replace(room, rules=RoomRules(bookers=("meganb@example.com",))))
    card = await say(bot, connector, "book Aurora tomorrow at 10")
    assert "Only some people may book Aurora. Ask an admin if you need it." in card_text(card), card_text(card)
    # Megan is listed by email: the bot finds her address in Teams and offers the room.
    mine = await say(bot, connector, "book Aurora tomorrow at 10", user=MEGAN)
    assert "Free rooms" in card_text(mine) and "Only some people" not in card_text(mine)


# --- the card and its values ----------------------------------------------------------------

ROOM = Room(email=AURORA, display_name="Aurora", building_id="b", floor_id="f")
DEFAULTS = RoomRules(window_days=30, days=(0, 1, 2, 3, 4), checkin_required=True, release_after_min=10)


@pytest.mark.parametrize("content", [
    rules_card(ROOM, DEFAULTS, "Europe/Helsinki"),
    rules_card(replace(ROOM, rules=RoomRules(window_days=3, bookers=("a@example.com",), auto_release=True)),
               RoomRules(), "UTC", "Saved.", good=True),
    rules_card(ROOM, DEFAULTS, "UTC", "Nothing was saved.", typed={**SAVED, "window_days": "abc"}),
    rules_card(None, DEFAULTS, "UTC"),
    rules_card(None, RoomRules(), "UTC", "Nothing was saved.", typed={"checkin_required": "bogus"}),
], ids=["room", "room-own", "room-typed", "org", "org-typed"])
def test_rules_card_validates(content: dict) -> None:
    assert_valid_card(content)
    assert all("action" in b["data"] for b in elements(content, "Action.Execute"))


def test_results_card_shows_why_rooms_were_left_out() -> None:
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    request = SearchRequest(start=now + timedelta(days=20), end=now + timedelta(days=20, hours=1), zone="UTC")
    content = results_card(SearchResult(request=request, left_out=("3 rooms are left out: they can't be booked "
                                                                   "that far ahead.",)), _Places(), "attempt-01", now)
    assert_valid_card(content)
    assert "No room with at least 1 seat can be booked then." in card_text(content)
    assert "3 rooms are left out: they can't be booked that far ahead." in card_text(content)


class _Places:
    buildings: dict = {}
    floors: dict = {}

    def where(self, room: Room) -> str:
        return ""


@pytest.mark.parametrize(("typed", "minutes"), [("90", 90), ("90 min", 90), ("2h", 120), ("1.5 h", 90),
                                                ("1h30", 90), ("1:30", 90), ("8 hours", 480), ("", None)])
def test_lengths_in_minutes_or_hours(typed: str, minutes: int | None) -> None:
    assert parse_length(typed) == minutes


@pytest.mark.parametrize("typed", ["10", "9 h", "1.51h", "abc", "-30", "٩٠"])
def test_lengths_out_of_bounds_or_unreadable_are_refused(typed: str) -> None:
    with pytest.raises(ValidationFailed, match="Longest booking"):
        parse_length(typed)


@pytest.mark.parametrize(("values", "message"), [
    ({"window_days": "181"}, "Booking window"),
    ({"hours_start": "08:00"}, "Allowed hours"),
    ({"hours_start": "24:00", "hours_end": "24:00"}, "Allowed hours"),
    ({"hours_start": "08:60", "hours_end": "18:00"}, "Allowed hours"),
    ({"days": "7"}, "Allowed days"),
    ({"bookers_mode": "listed", "bookers": ""}, "list at least one"),
    ({"bookers_mode": "listed", "bookers": "bob"}, "neither an email address nor an object id"),
    ({"bookers_mode": "someone"}, "Who may book"),
    ({"checkin_required": "maybe"}, "Check-in required"),
    ({"release_after_min": "0"}, "Release after"),
])
def test_bad_values_are_refused_with_the_field_named(values: dict, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        parse_rules(values, org=False)


def test_a_room_inherits_what_is_left_empty_and_the_org_has_no_limit_there() -> None:
    assert parse_rules({}, org=False) == RoomRules()
    assert parse_rules({"bookers_mode": "everyone", "hours_start": "00:00", "hours_end": "24:00"}, org=False) == \
        RoomRules(bookers=(), hours_start="00:00", hours_end="24:00")  # explicit: lifts an org restriction
    assert parse_rules({"release_after_min": "5"}, org=True) == RoomRules(
        bookers=(), checkin_required=False, auto_release=False, release_after_min=5, never_release=False)
