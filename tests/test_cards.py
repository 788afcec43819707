"""Every card the bot can build validates against Adaptive Card 1.5 and routes its actions."""

from __future__ import annotations

import pytest

from cards.base import action
from cards.help import help_card, welcome_card
from domain.commands import ADMIN_COMMANDS, USER_COMMANDS
from tests.card_schema import assert_valid_card, card_errors


@pytest.mark.parametrize("content", [
    help_card(list(USER_COMMANDS)),
    help_card(list(USER_COMMANDS), list(ADMIN_COMMANDS), note="Sorry, I didn't get that."),
    welcome_card("Alex Wilber", list(USER_COMMANDS), booking_enabled=True),
    welcome_card("", list(USER_COMMANDS), booking_enabled=False),
], ids=["help", "help-admin", "welcome", "welcome-booking-off"])
def test_card_validates(content: dict) -> None:
    assert_valid_card(content)


def test_execute_action_falls_back_to_submit_with_the_same_data() -> None:
    button = action("Cancel", "cancel_booking", booking_id="b1")
    assert button["type"] == "Action.Execute"
    assert button["verb"] == "cancel_booking"
    assert button["data"] == {"action": "cancel_booking", "booking_id": "b1"}
    assert button["fallback"]["type"] == "Action.Submit"
    assert button["fallback"]["data"] == button["data"]


def test_schema_check_rejects_a_broken_card() -> None:
    broken = help_card(list(USER_COMMANDS))
    broken["body"][0]["type"] = "TextBlok"
    assert card_errors(broken)


def test_welcome_mentions_booking_off_only_when_it_is_off() -> None:
    on = str(welcome_card("Alex", list(USER_COMMANDS), booking_enabled=True))
    off = str(welcome_card("Alex", list(USER_COMMANDS), booking_enabled=False))
    assert "not been switched on" not in on
    assert "not been switched on" in off
    assert "Hi Alex" in on


def _booking_and_admin_cards() -> dict[str, dict]:
    """Each booking and admin card, in each of its shapes, built from plain domain objects."""
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from cards.admin import (
        admins_card,
        booking_switch_card,
        connect_card,
        consent_result_card,
        disconnect_card,
        floor_card,
        floor_plans_card,
        import_preview_card,
        status_card,
    )
    from cards.booking import (
        FormValues,
        Places,
        booking_form_card,
        cancelled_card,
        confirmation_card,
        form_values,
        results_card,
    )
    from cards.my_bookings import admin_cancelled_notice, change_card, move_card, my_bookings_card, people_card
    from domain.booking import SearchRequest, SearchResult
    from domain.calendar import TimeSlot
    from domain.models import Admin, Booking, Building, Floor, OrgSettings, Room
    from services.admin import ImportRow

    now = datetime(2026, 11, 24, 9, tzinfo=UTC)
    hq, floor = Building("b1", "HQ"), Floor("f1", "b1", "Ground", 0)
    places = Places.of([hq], [floor])
    rooms = [Room(email=f"r{i}@example.com", display_name=f"Room {i}", building_id="b1", floor_id="f1",
                  capacity=4 + i, features=("video",)) for i in range(7)]
    request = SearchRequest(now + timedelta(hours=1), now + timedelta(hours=2), "Europe/Helsinki", min_capacity=2,
                            floor_id="f1", building_id="b1", features=("video",), subject="Sync",
                            participants=("megan@example.com",))
    slot = TimeSlot(now + timedelta(hours=3), now + timedelta(hours=4))
    booking = Booking(id="bk1", room_email="r0@example.com", event_id="e", ical_uid="i", booker_aad_id="a",
                      booker_email="alexw@example.com", start=request.start, end=request.end, subject="Sync",
                      attendees=("alexw@example.com",), zone="Europe/Helsinki")
    running = replace(booking, id="bk2", start=now - timedelta(minutes=10), end=now + timedelta(minutes=20),
                      attendees=("alexw@example.com", "meganb@example.com"))
    connected = OrgSettings("t1", connected=True, booking_enabled=True)
    row = ImportRow("r9@example.com", "Room 9", 6, ("video",), "HQ", "Ground")
    return {
        "form": booking_form_card(form_values(request), places, ["video"], note="Pick a time."),
        "form-empty": booking_form_card(FormValues(day="2026-11-24", start="09:15"), Places.of([], []), []),
        "results": results_card(SearchResult(request, free=tuple(rooms), considered=7), places, "attempt-1", now,
                                note="Room 9 was just taken."),
        "no-room": results_card(SearchResult(request, other_times=((rooms[0], slot),), other_places=(rooms[1],),
                                             unreadable=((rooms[2], "denied"),), considered=3), places, "a-1", now),
        "nothing-at-all": results_card(SearchResult(request), places, "attempt-1", now),
        "confirmation": confirmation_card(booking, rooms[0], places, now, note="You already booked this."),
        "cancelled": cancelled_card(booking, None, now),
        "connect": connect_card("https://login.example/t/adminconsent?x=1", connected, 15),
        "connect-first": connect_card("https://login.example/t/adminconsent?x=1", OrgSettings(), 15, note="n"),
        "disconnect": disconnect_card(connected),
        "disconnect-not-connected": disconnect_card(OrgSettings()),
        "consent-ok": consent_result_card(True, "Connected."),
        "consent-failed": consent_result_card(False, "Declined."),
        "booking-switch": booking_switch_card(OrgSettings(), note="Saved.", saved=True),
        "status": status_card(True, "t1", True, (1, 1, 7), ["r2@example.com: denied"]),
        "status-fine": status_card(False, None, False, (0, 0, 0), []),
        "floor-plans": floor_plans_card([hq], [floor], {"f1": 7}, note="Added HQ.", good=True),
        "floor-plans-empty": floor_plans_card([], [], {}),
        "floor": floor_card(hq, floor, rooms, note="Added Room 6."),
        "floor-empty": floor_card(hq, floor, []),
        "import-preview": import_preview_card([row, ImportRow("x@example.com", "", 0, (), "", "", "line 2: bad")],
                                              "your CSV", "r9@example.com,Room 9,6,HQ,Ground"),
        "import-nothing": import_preview_card([], "Microsoft 365 (Places)"),
        "my-bookings": my_bookings_card([booking, running, *[replace(booking, id=f"b{i}") for i in range(5)]],
                                        {r.email: r for r in rooms}, places, now, "UTC", offset=5, note="Ended.",
                                        good=True, dropped=2, unreadable=("b4",)),
        "my-bookings-in-progress": my_bookings_card([running], {}, places, now, "UTC"),
        "my-bookings-empty": my_bookings_card([], {}, places, now, "UTC", dropped=1),
        "all-bookings": my_bookings_card([booking], {}, places, now, "UTC", everyone=True),
        "change": change_card(booking, {r.email: r for r in rooms}, places, now, "Europe/Helsinki"),
        "change-again": change_card(booking, {}, places, now, "UTC", {"date": "2026-11-25", "start": "10:30",
                                                                      "duration": "75", "subject": "x"}, "Taken."),
        "move": move_card(booking, rooms[1:3], {}, places, now, "UTC", slot.start, slot.end, "Sync"),
        "move-nowhere": move_card(booking, [], {}, places, now, "UTC", slot.start, slot.end, ""),
        "people": people_card(running, {}, now, "UTC", note="Not an email."),
        "people-alone": people_card(booking, {}, now, "UTC"),
        "admin-cancelled": admin_cancelled_notice(booking, "Room 0", "Megan Bowen", "CEO visit", now),
        "admins": admins_card([Admin("alexw@example.com"), Admin("a" * 8 + "-0000-0000-0000-" + "0" * 12,
                                                                 ("booking_admin",), "alex")], note="Added."),
    }


@pytest.mark.parametrize("name", list(_booking_and_admin_cards()))
def test_booking_and_admin_cards_validate_and_route(name: str) -> None:
    content = _booking_and_admin_cards()[name]
    assert_valid_card(content)

    def routed(node) -> bool:
        if isinstance(node, dict):
            if node.get("type") in ("Action.Execute", "Action.Submit") and "action" not in node.get("data", {}):
                return False
            return all(routed(v) for v in node.values())
        if isinstance(node, list):
            return all(routed(v) for v in node)
        return True

    assert routed(content)  # every button carries its "action" routing key
