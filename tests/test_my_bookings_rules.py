"""The rules for managing a booking, as plain functions: repair from the room calendar, versions,
new times, extend, end now, people, reasons."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.calendar import CalendarEvent
from domain.errors import ValidationFailed
from domain.models import Booking
from domain.my_bookings import (
    BookingOver,
    StaleCard,
    booking_version,
    cancel_comment,
    changed_slot,
    check_version,
    clean_reason,
    ended_now_slot,
    extended_slot,
    people_after,
    repaired,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
BOOKING = Booking(id="b1", room_email="hq-delta@example.com", event_id="ev1", ical_uid="uid", booker_aad_id="aad",
                  booker_email="alexw@example.com", start=NOW + timedelta(hours=1), end=NOW + timedelta(hours=2),
                  subject="Sync", attendees=("alexw@example.com", "meganb@example.com"))


def _event(**changes) -> CalendarEvent:
    base = CalendarEvent(id="ev1", ical_uid="uid", subject="Sync", start=BOOKING.start, end=BOOKING.end,
                         organizer_email="hq-delta@example.com",
                         attendees=("meganb@example.com", "alexw@example.com"), created=NOW)
    return replace(base, **changes)


def test_repaired_follows_the_event_and_drops_what_is_not_ours() -> None:
    assert repaired(BOOKING, _event()) == BOOKING  # the booker is kept first
    moved = repaired(BOOKING, _event(start=NOW + timedelta(hours=3), end=NOW + timedelta(hours=4), subject="X"))
    assert (moved.start, moved.end, moved.subject) == (NOW + timedelta(hours=3), NOW + timedelta(hours=4), "X")
    assert repaired(BOOKING, None) is None
    assert repaired(BOOKING, _event(is_cancelled=True)) is None
    assert repaired(BOOKING, _event(id="other")) is None
    assert repaired(BOOKING, _event(organizer_email="someone@example.com")) is None


def test_a_version_changes_with_anything_a_card_shows() -> None:
    check_version(BOOKING, booking_version(BOOKING))
    for changed in (replace(BOOKING, end=BOOKING.end + timedelta(minutes=15)), replace(BOOKING, subject="Other"),
                    replace(BOOKING, attendees=("alexw@example.com",)), replace(BOOKING, room_email="x@example.com")):
        with pytest.raises(StaleCard):
            check_version(changed, booking_version(BOOKING))
    with pytest.raises(StaleCard):
        check_version(BOOKING, None)


def test_new_times() -> None:
    later = changed_slot(BOOKING, NOW + timedelta(hours=5), NOW + timedelta(hours=6), NOW)
    assert (later.start, later.end) == (NOW + timedelta(hours=5), NOW + timedelta(hours=6))
    with pytest.raises(ValidationFailed, match="in the past"):
        changed_slot(BOOKING, NOW - timedelta(hours=1), NOW + timedelta(hours=1), NOW)
    running = replace(BOOKING, start=NOW - timedelta(minutes=30), end=NOW + timedelta(minutes=30))
    longer = changed_slot(running, running.start, NOW + timedelta(hours=1), NOW)  # keeps its past start
    assert longer.start == running.start
    with pytest.raises(ValidationFailed, match="already passed"):
        changed_slot(running, running.start, NOW - timedelta(minutes=1), NOW)
    with pytest.raises(ValidationFailed, match="8 hours"):
        changed_slot(running, running.start, running.start + timedelta(hours=9), NOW)
    with pytest.raises(BookingOver):
        changed_slot(replace(BOOKING, end=NOW), NOW + timedelta(hours=1), NOW + timedelta(hours=2), NOW)


def test_extend_and_end_now() -> None:
    assert extended_slot(BOOKING, 60, NOW).end == BOOKING.end + timedelta(hours=1)
    for minutes in (45, "30", True, None, -15):
        with pytest.raises(ValidationFailed):
            extended_slot(BOOKING, minutes, NOW)
    with pytest.raises(ValidationFailed, match="8 hours"):
        extended_slot(replace(BOOKING, end=BOOKING.start + timedelta(hours=7, minutes=30)), 60, NOW)
    with pytest.raises(ValidationFailed, match="in progress"):
        ended_now_slot(BOOKING, NOW)
    running = replace(BOOKING, start=NOW - timedelta(minutes=30), end=NOW + timedelta(minutes=30))
    assert ended_now_slot(running, NOW + timedelta(microseconds=700)).end == NOW
    just_started = replace(running, start=NOW)
    assert ended_now_slot(just_started, NOW).end == NOW + timedelta(seconds=1)  # never empty


def test_people_and_reasons() -> None:
    assert people_after(BOOKING, "AdeleV@example.com; meganb@example.com", "") == (
        "alexw@example.com", "meganb@example.com", "adelev@example.com")
    assert people_after(BOOKING, "", ["meganb@example.com"]) == ("alexw@example.com",)
    with pytest.raises(ValidationFailed, match="yourself"):
        people_after(BOOKING, "", "alexw@example.com")
    with pytest.raises(ValidationFailed, match="At most 20"):
        people_after(BOOKING, [f"p{i}@example.com" for i in range(20)], "")
    assert clean_reason("  Board\nvisit ") == "Board visit" and clean_reason(None) == "" and clean_reason([1]) == ""
    with pytest.raises(ValidationFailed):
        clean_reason("x" * 501)
    assert cancel_comment("Megan", "") == "Cancelled by Megan in RoomBot."
    assert cancel_comment("Megan", "CEO visit") == "Cancelled by Megan in RoomBot. Reason: CEO visit"
