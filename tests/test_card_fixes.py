"""What a new user ran into with the cards (issue 16, item 7): action data the Teams clients own,
success notes that say what changed, admins by name, a room removed only after asking, times
with their date and the zone named once, the date picker from today, a way back from "Show more"."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import cards.admin
import cards.attendance
import cards.base
import cards.booking
import cards.favourites
import cards.help
import cards.manage
import cards.my_bookings
import cards.report
import cards.rules
from cards.admin import admins_card, floor_card, room_remove_card
from cards.base import ACTION_KEY
from cards.booking import Places, booking_form_card, form_values, results_card
from cards.my_bookings import change_card, done_note
from domain.booking import Page, SearchRequest, SearchResult
from domain.models import Admin, Booking, Building, Floor, OrgSettings, Room
from tests.card_schema import assert_valid_card
from tests.test_cards import _booking_and_admin_cards

# Names a Teams client (or the Bot Framework around it) gives a meaning of its own in a button's
# data or in the inputs merged into it: a card that uses one breaks there (the Playground's
# "Cannot assign to read only property 'key'"), or routes where it was not meant to.
RESERVED = {"key", "id", "type", "verb", "data", "title", "msteams", "trigger", "fallback"}
NOW = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)  # already 2 Dec in Helsinki
HQ, GROUND = Building("b1", "HQ"), Floor("f1", "b1", "Ground", 0)
PLACES = Places.of([HQ], [GROUND])
DELTA = Room(email="delta@example.com", display_name="Delta", building_id="b1", floor_id="f1", capacity=6)
AURORA = replace(DELTA, email="aurora@example.com", display_name="Aurora")
ROOMS = {r.email: r for r in (DELTA, AURORA)}
BOOKING = Booking(id="bk1", room_email=DELTA.email, event_id="e", ical_uid="i", booker_aad_id="a",
                  booker_email="alexw@example.com", start=datetime(2026, 12, 2, 8, tzinfo=UTC),
                  end=datetime(2026, 12, 2, 9, tzinfo=UTC), subject="Sync", attendees=("alexw@example.com",),
                  zone="Europe/Helsinki")


def _all_cards() -> dict[str, dict[str, Any]]:
    """Every card builder's output (module attributes, so the coverage test below sees each call)."""
    from domain.booking_ref import Plan
    from domain.commands import ADMIN_COMMANDS, USER_COMMANDS
    from domain.understanding import Intent

    later = BOOKING.start + timedelta(hours=2)
    plans = [Plan(Intent.CANCEL, BOOKING), Plan(Intent.END, BOOKING),
             Plan(Intent.EXTEND, BOOKING, BOOKING.start, later), Plan(Intent.MOVE, BOOKING, later,
                                                                      later + timedelta(hours=1), AURORA.email)]
    request = SearchRequest(BOOKING.start, BOOKING.end, "Europe/Helsinki")
    return {**_booking_and_admin_cards(),
            "help": cards.help.help_card(list(USER_COMMANDS), list(ADMIN_COMMANDS)),
            "welcome": cards.help.welcome_card("Alex", list(USER_COMMANDS), booking_enabled=True),
            "small-talk": cards.help.small_talk_card("You're welcome!", booking_enabled=True),
            "nearest": cards.help.nearest_card("I can book rooms.", True, ("book a room tomorrow at 9",)),
            "form-picker": cards.booking.booking_form_card(form_values(request), PLACES, [], picker=True, now=NOW),
            "people-picker": cards.my_bookings.people_card(BOOKING, ROOMS, NOW, "UTC", picker=True),
            **{f"manage-{p.intent.value}": cards.manage.confirm_card(p, ROOMS, NOW, "UTC") for p in plans},
            "manage-pick": cards.manage.pick_card(Intent.CANCEL, [(BOOKING, plans[0])], ROOMS, NOW, "UTC", "Pick."),
            "manage-none": cards.manage.no_match_card("No booking then."),
            "manage-extend": cards.manage.extend_ask_card(BOOKING, ROOMS, NOW, "UTC"),
            "manage-done": cards.manage.done_card("Cancelled."),
            "limits": cards.admin.limits_card(OrgSettings()),
            "room-remove": cards.admin.room_remove_card(DELTA, HQ, GROUND),
            "room-remove-no-floor": cards.admin.room_remove_card(DELTA, None, None),
            "favourites": cards.favourites.favourites_card([DELTA], [AURORA], PLACES, "Starred Delta.", good=True,
                                                           back=cards.base.action("Back to results", "more")),
            **_attendance_rules_and_report_cards()}


def _attendance_rules_and_report_cards() -> dict[str, dict[str, Any]]:
    """The cards of reminders and check-in, room rules and the admin report."""
    from domain.attendance import attendance_for
    from domain.report import build_report
    from domain.rules import RoomRules

    settings = OrgSettings(default_rules=RoomRules(checkin_required=True, auto_release=True, release_after_min=10))
    attendance = attendance_for(BOOKING, settings, DELTA)
    soon = BOOKING.start - timedelta(minutes=10)
    report = build_report([BOOKING], [DELTA, AURORA], [HQ], [GROUND], 7, BOOKING.end, settings.default_rules)
    return {"reminder": cards.attendance.reminder_card(BOOKING, DELTA, PLACES, soon, attendance, checkin_now=False),
            "released": cards.attendance.released_card(BOOKING, DELTA, PLACES, soon, free_again=True),
            "checked-in": cards.attendance.checked_in_card(BOOKING, DELTA, PLACES, soon, already=False),
            "checkin-refused": cards.attendance.checkin_refused_card("Check-in opens at 09:55.", BOOKING, DELTA,
                                                                    PLACES, soon),
            "checkin-pick": cards.attendance.pick_checkin_card([BOOKING], ROOMS, soon, "UTC"),
            "settings": cards.attendance.settings_card(15, False, is_admin=True, org_lines=["Check-in: on."]),
            "org-checkin": cards.attendance.org_checkin_card(reminder_min=15, opens_min=5, release_after_min=10,
                                                             auto_release=True, checkin_required=True,
                                                             invitees=False, exempt_min=480),
            "rules-room": cards.rules.rules_card(replace(DELTA, rules=RoomRules(window_days=14)),
                                                 settings.default_rules, "Europe/Helsinki"),
            "rules-org": cards.rules.rules_card(None, settings.default_rules, "UTC"),
            "report": cards.report.report_card(report, "https://bot.example.com/api/report.csv?t=x")}


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _data_names(content: dict[str, Any]) -> set[str]:
    """Every name a press can send: each button's data keys and each input's id."""
    names: set[str] = set()
    for node in _walk(content):
        if node.get("type") in ("Action.Submit", "Action.Execute"):
            names |= set(node.get("data") or {})
        elif str(node.get("type", "")).startswith("Input."):
            names.add(node["id"])
    return names


@pytest.mark.parametrize("name", list(_all_cards()))
def test_no_card_sends_a_name_the_client_reserves(name: str) -> None:
    content = _all_cards()[name]
    reserved = _data_names(content) & RESERVED
    assert not reserved, f"{name} card sends {reserved}"
    inputs = {n["id"] for n in _walk(content) if str(n.get("type", "")).startswith("Input.")}
    assert ACTION_KEY not in inputs  # an input must not overwrite the routing key


def test_the_scan_covers_every_card_builder(monkeypatch: pytest.MonkeyPatch) -> None:
    """A card builder added later is scanned too, or this fails."""
    called: set[str] = set()
    builders: set[str] = set()
    for module in (cards.admin, cards.attendance, cards.booking, cards.favourites, cards.help, cards.manage,
                   cards.my_bookings, cards.report, cards.rules):
        for attr, value in list(vars(module).items()):
            if callable(value) and attr.endswith("_card") and getattr(value, "__module__", "") == module.__name__:
                builders.add(attr)
                monkeypatch.setattr(module, attr, _recording(attr, value, called))
    _all_cards()
    assert builders - called == set()


def _recording(name: str, builder: Callable[..., Any], called: set[str]) -> Callable[..., Any]:
    def record(*args: Any, **kwargs: Any) -> Any:
        called.add(name)
        return builder(*args, **kwargs)
    return record


def _texts(content: dict[str, Any]) -> list[str]:
    found = []
    for node in _walk(content):
        if node.get("type") == "TextBlock":
            found.append(node["text"])
        elif node.get("type") == "FactSet":
            found += [f"{f['title']}: {f['value']}" for f in node["facts"]]
    return found


# --- admins ---------------------------------------------------------------------------------

def test_admins_are_shown_by_name_and_email_and_removed_by_key() -> None:
    megan = Admin(key="00000000-0000-0000-0000-000000000021", added_by="00000000-0000-0000-0000-000000000020",
                  name="Megan Bowen", email="meganb@example.com")
    alex = Admin(key="00000000-0000-0000-0000-000000000020", name="Alex Wilber", email="alexw@example.com")
    old_upn, old_id = Admin(key="old@example.com"), Admin(key="00000000-0000-0000-0000-000000000099")
    content = admins_card([megan, alex, old_upn, old_id])
    assert_valid_card(content)
    texts = _texts(content)
    titles = [n["text"] for n in _walk(content) if n.get("type") == "TextBlock" and n.get("weight") == "Bolder"
              and n.get("style") != "heading"]
    assert titles == ["Megan Bowen", "Alex Wilber", "old@example.com", "Name not known yet"]
    assert "meganb@example.com" in texts and "object id 00000000-0000-0000-0000-000000000099" in texts
    assert any("added by Alex Wilber" in t for t in texts)  # the adder by name too, when known
    removes = [n["data"] for n in _walk(content) if n.get("type") == "Action.Execute"
               and n["data"][ACTION_KEY] == "admin_remove"]
    assert removes == [{ACTION_KEY: "admin_remove", "admin": a.key} for a in (megan, alex, old_upn, old_id)]


# --- rooms ----------------------------------------------------------------------------------

def test_removing_a_room_asks_first() -> None:
    floor = floor_card(HQ, GROUND, [DELTA])
    verbs = {n["data"][ACTION_KEY] for n in _walk(floor) if n.get("type") == "Action.Execute"}
    assert "room_remove" in verbs and "room_remove_confirm" not in verbs  # the floor's button only asks
    ask = room_remove_card(DELTA, HQ, GROUND)
    assert "Remove Delta?" in _texts(ask) and "delta@example.com · HQ · Ground" in _texts(ask)
    buttons = [(a["title"], a["data"]) for a in ask["actions"]]
    assert buttons == [("Remove", {ACTION_KEY: "room_remove_confirm", "room": DELTA.email, "floor": "f1"}),
                       ("Keep it", {ACTION_KEY: "floor_open", "floor": "f1"})]


# --- what a change did ----------------------------------------------------------------------

@pytest.mark.parametrize(("what", "after", "said"), [
    ("Changed", replace(BOOKING, subject="Planning"), "Changed: Delta, subject now “Planning”."),
    ("Changed", replace(BOOKING, end=BOOKING.end + timedelta(minutes=30)),
     "Changed: Delta, now Wed 2 Dec, 10:00–11:30."),
    ("Changed", replace(BOOKING, start=BOOKING.start + timedelta(hours=1), end=BOOKING.end + timedelta(hours=1),
                        subject=""), "Changed: Delta, now Wed 2 Dec, 11:00–12:00; no subject now."),
    ("Extended", replace(BOOKING, end=BOOKING.end + timedelta(minutes=15)), "Extended: Delta, now Wed 2 Dec, "
                                                                            "10:00–11:15."),
    ("People saved", replace(BOOKING, attendees=("alexw@example.com", "meganb@example.com", "adelev@example.com")),
     "People saved: Delta, added meganb@example.com, adelev@example.com."),
    ("People saved", replace(replace(BOOKING, attendees=("alexw@example.com",)), subject="Sync"), "People saved: "
                                                                                                  "Delta, still Wed 2 "
                                                                                                  "Dec, 10:00–11:00."),
    ("Moved", replace(BOOKING, room_email=AURORA.email), "Moved: now in Aurora (was Delta), Wed 2 Dec, 10:00–11:00."),
    ("Ended", replace(BOOKING, end=datetime(2026, 12, 2, 8, 52, 30, tzinfo=UTC)), "Ended at 10:52; Delta is free now."),
])
def test_a_success_note_says_what_changed(what: str, after: Booking, said: str) -> None:
    assert done_note(what, after, ROOMS, "Europe/Helsinki", NOW, BOOKING) == said


def test_people_removed_are_said_too() -> None:
    before = replace(BOOKING, attendees=("alexw@example.com", "meganb@example.com"))
    assert done_note("People saved", BOOKING, ROOMS, "UTC", NOW, before) == \
        "People saved: Delta, removed meganb@example.com."


# --- times: with their date, the zone once ----------------------------------------------------

_TIME = re.compile(r"[0-9]{2}:[0-9]{2}")
_DATED = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [0-9]{1,2} [A-Z][a-z]{2}(?: [0-9]{4})?, [0-9]{2}:[0-9]{2}")


@pytest.mark.parametrize("name", ["results", "no-room", "confirmation", "cancelled", "my-bookings",
                                  "my-bookings-in-progress", "all-bookings", "change", "move", "people",
                                  "admin-cancelled", "manage-cancel", "manage-end", "manage-extend",
                                  "manage-move", "manage-pick"])
def test_every_time_carries_its_date_and_the_zone_is_named_once(name: str) -> None:
    content = _all_cards()[name]
    texts = [t for t in _texts(content) if _TIME.search(t)]
    assert texts, name
    for shown in texts:
        starts = {m.start() for m in re.finditer(r"[0-9]{2}:[0-9]{2}–", shown)}
        assert starts and starts <= {m.end() - 5 for m in _DATED.finditer(shown)}, shown  # each slot dated
    zone_lines = [t for t in _texts(content) if "Times are in" in t]
    assert len(zone_lines) == 1, (name, zone_lines)
    zone = re.search(r"Times are in (\S+)\.", zone_lines[0]).group(1)
    assert sum(t.count(zone) for t in _texts(content)) == 1, (name, zone_lines)


def test_a_time_shows_its_year_only_when_not_this_years() -> None:
    later = replace(BOOKING, start=datetime(2027, 1, 4, 8, tzinfo=UTC), end=datetime(2027, 1, 4, 9, tzinfo=UTC))
    assert done_note("Changed", later, ROOMS, "UTC", NOW, BOOKING) == "Changed: Delta, now Mon 4 Jan 2027, 08:00–09:00."


# --- the date picker and "Show more" ----------------------------------------------------------

def _date_input(content: dict[str, Any]) -> dict[str, Any]:
    [found] = [n for n in _walk(content) if n.get("type") == "Input.Date"]
    return found


def test_the_date_pickers_start_at_today_in_the_users_zone() -> None:
    request = SearchRequest(BOOKING.start, BOOKING.end, "Europe/Helsinki")
    form = booking_form_card(form_values(request), PLACES, [], now=NOW)
    assert _date_input(form)["min"] == "2026-12-02"  # 00:30 on 2 Dec there, while still 1 Dec in UTC
    assert _date_input(change_card(BOOKING, ROOMS, PLACES, NOW, "America/New_York"))["min"] == "2026-12-01"
    assert_valid_card(form)


def test_show_more_has_a_way_back() -> None:
    """Each page is the search again from a rank position (the service's SearchResult.page): Show more
    goes on from where this page ended, Previous asks the page before again."""
    request = SearchRequest(BOOKING.start, BOOKING.end, "Europe/Helsinki")
    rooms = [replace(DELTA, email=f"r{i}@example.com", display_name=f"Room {i}") for i in range(12)]

    def pages(result: SearchResult) -> dict[str, dict[str, Any]]:
        content = results_card(result, PLACES, "attempt-1", NOW)
        assert_valid_card(content)
        return {a["title"]: {k: a["data"][k] for k in ("at", "shown", "back")}
                for a in content["actions"] if a["data"][ACTION_KEY] == "more"}

    first = SearchResult(request, free=tuple(rooms), considered=12, more_at=5)
    assert pages(first) == {"Show more (7 more)": {"at": 5, "shown": 5, "back": [[0, 0]]}}
    second = SearchResult(request, free=tuple(rooms[5:]), considered=7, page=Page(5, 5, ((0, 0),)), more_at=10)
    assert pages(second) == {"Previous": {"at": 0, "shown": 0, "back": []},
                             "Show more (2 more)": {"at": 10, "shown": 10, "back": [[0, 0], [5, 5]]}}
    third = SearchResult(request, free=tuple(rooms[10:]), considered=2, page=Page(10, 10, ((0, 0), (5, 5))))
    assert pages(third) == {"Previous": {"at": 5, "shown": 5, "back": [[0, 0]]}}
