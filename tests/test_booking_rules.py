"""Booking rules and text understanding, without I/O: plain functions over domain objects."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from dialogs.booking import BookingFlow
from dialogs.common import Question
from dialogs.turn import Turn
from domain.booking import (
    SearchRequest,
    alternative_times,
    check_slot,
    clean_participants,
    keeps_slot,
    rank_free_rooms,
)
from domain.calendar import CalendarEvent, RoomSchedule, TimeSlot
from domain.errors import ValidationFailed
from domain.models import Building, Floor, Room
from domain.people import UserIdentity
from domain.timezones import format_slot, local_to_utc, next_quarter_hour
from domain.understanding import Catalog, Understanding, understand
from services.booking import BookingService
from storage.backends import MemoryBackend
from storage.repository import Repository

NOW = datetime(2026, 11, 24, 8, 7, tzinfo=UTC)
HQ = Building("b-hq", "Contoso HQ")
FLOORS = [Floor("f-g", "b-hq", "Ground floor", 1), Floor("f-2", "b-hq", "Second floor", 2)]


def _room(name: str, capacity: int, floor: str = "f-g", building: str = "b-hq") -> Room:
    return Room(email=f"{name}@example.com", display_name=name.title(), building_id=building, floor_id=floor,
                capacity=capacity)


CATALOG = Catalog(buildings=(HQ,), floors=tuple(FLOORS))
NOW_LOCAL = NOW.replace(tzinfo=None)


@pytest.mark.parametrize(("text", "expected"), [
    ("book now", {"now": True}),
    ("book a room for 6 tomorrow 14:00-15:00",
     {"capacity": 6, "day": date(2026, 11, 25), "start": time(14), "end": time(15)}),
    ("book 1h at 10 in Contoso HQ", {"duration": timedelta(hours=1), "start": time(10), "building_id": "b-hq"}),
    ("book 45 minutes at 14:30 for 4 people on the second floor",
     {"duration": timedelta(minutes=45), "start": time(14, 30), "capacity": 4, "floor_id": "f-2",
      "building_id": "b-hq"}),
    ("book for 2 hours tomorrow at 3pm", {"duration": timedelta(hours=2), "day": date(2026, 11, 25),
                                          "start": time(15)}),
    ("book friday 9-10", {"day": date(2026, 11, 27), "start": time(9), "end": time(10)}),  # the coming Friday
])
def test_quick_texts_are_understood(text: str, expected: dict) -> None:
    said = understand(text, NOW_LOCAL, CATALOG)
    for key, value in expected.items():
        assert getattr(said.when if hasattr(said.when, key) else said, key) == value, key
    assert said.not_understood == () and said.problems == ()


def test_what_is_not_understood_is_reported_not_guessed() -> None:
    said = understand("book at 10 next to the kitchen", NOW_LOCAL, CATALOG)
    assert said.when.start == time(10) and "kitchen" in said.not_understood


def _said_form(flow: BookingFlow, said: Understanding) -> tuple:
    values, assumed, latest_end = flow._said_form(said, "UTC", NOW_LOCAL)
    return values, assumed, flow._not_searchable(said, values, NOW_LOCAL, latest_end)


async def test_a_time_already_passed_today_goes_to_the_form_and_a_missing_time_is_asked() -> None:
    repo = Repository(MemoryBackend())
    flow = BookingFlow(BookingService(repo, calendar=None, clock=lambda: NOW), repo)  # type: ignore[arg-type]
    values, _assumed, note = _said_form(flow, understand("book at 07:00", NOW_LOCAL, CATALOG))  # it is 08:07
    assert note == "07:00 today has already passed. Pick a time below." and values.start == "07:00"
    values, assumed, note = _said_form(flow, understand("book 1h at 10", NOW_LOCAL, CATALOG))
    assert note is None and (values.start, values.duration, values.day) == ("10:00", 60, "2026-11-24")
    assert assumed == ("date",)  # today, not said: marked if a form shows it
    values, assumed, note = _said_form(flow, understand("book tomorrow at 10", NOW_LOCAL, CATALOG))
    assert note is None and values.duration == 30 and assumed == ("duration",)  # said on the card
    repo.save_settings(replace(repo.get_settings(), connected=True, booking_enabled=True))
    asked = await flow.understood(_no_turn(), understand("book tomorrow", NOW_LOCAL, CATALOG))
    assert isinstance(asked, Question) and "What time on Wed 25 Nov?" in str(asked.card)


def _no_turn() -> Turn:
    class Nobody:
        async def resolve(self) -> None:
            raise AssertionError("not asked")

        async def held(self) -> frozenset[str]:
            raise AssertionError("not asked")

    return Turn(user=UserIdentity("29:u1", "u1", "Una"), roster=Nobody(), roles=Nobody(), zone="UTC")


@pytest.mark.parametrize(("start", "end", "message"), [
    (NOW + timedelta(hours=1), NOW + timedelta(hours=1), "The end must be after the start."),
    (NOW + timedelta(hours=2), NOW + timedelta(hours=1), "The end must be after the start."),
    (NOW - timedelta(minutes=6), NOW + timedelta(hours=1), "That start time is in the past."),
    (NOW, NOW + timedelta(minutes=10), "at least 15 minutes"),
    (NOW, NOW + timedelta(hours=8, minutes=1), "at most 8 hours"),
    (NOW + timedelta(days=181), NOW + timedelta(days=181, hours=1), "180 days ahead"),
])
def test_slot_rules(start: datetime, end: datetime, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_slot(start, end, NOW)
    assert message in caught.value.detail


def test_slot_rules_allow_the_edges() -> None:
    check_slot(NOW - timedelta(minutes=5), NOW + timedelta(minutes=10), NOW)  # "book now", pressed late
    check_slot(NOW, NOW + timedelta(hours=8), NOW)


def test_participants_are_normalised_and_checked() -> None:
    assert clean_participants("Megan@Example.com; adelev@example.com,megan@example.com") == (
        "megan@example.com", "adelev@example.com")
    assert clean_participants(["<isaiahl@example.com>"]) == ("isaiahl@example.com",)
    with pytest.raises(ValidationFailed, match="At most 20"):
        clean_participants([f"p{i}@example.com" for i in range(21)])


ROOM = "hq-echo@example.com"


def _event(event_id: str, created_s: int | None, *, roombot: bool = True, show_as: str = "busy") -> CalendarEvent:
    """An event in ROOM: RoomBot's (organised by the room, with a transactionId) or an Outlook booking."""
    created = NOW + timedelta(seconds=created_s) if created_s is not None else None
    return CalendarEvent(id=event_id, ical_uid="", subject="", start=NOW, end=NOW,
                         organizer_email=ROOM if roombot else "meganb@example.com", attendees=(), created=created,
                         transaction_id=f"tx-{event_id}" if roombot else None, show_as=show_as)


def test_the_earliest_created_booking_keeps_the_slot_then_the_smallest_id() -> None:
    mine = _event("b", 2)
    assert keeps_slot(mine, [mine, _event("a", 3)], ROOM)  # made first
    assert not keeps_slot(mine, [mine, _event("c", 1)], ROOM)  # the other was first
    assert not keeps_slot(_event("b", 1), [_event("a", 1)], ROOM)  # the same instant: the smaller id
    assert keeps_slot(_event("a", 1), [_event("b", 1)], ROOM)


def test_creation_times_100_ns_apart_are_no_tie() -> None:
    first, later = _event("z", 1), replace(_event("a", 1), created_100ns=1)  # the same microsecond
    assert keeps_slot(first, [first, later], ROOM)
    assert not keeps_slot(later, [first, later], ROOM)  # made after: the smaller id does not help it


def test_a_booking_made_outside_roombot_is_never_beaten_on_a_tie_or_an_unknown_time() -> None:
    mine = _event("a", 5)
    assert not keeps_slot(mine, [_event("z", 5, roombot=False)], ROOM)  # a tie goes to Outlook's booking
    assert keeps_slot(mine, [_event("z", 6, roombot=False)], ROOM)  # made after RoomBot's: RoomBot's stays
    assert not keeps_slot(mine, [_event("z", None, roombot=False)], ROOM)  # creation time unknown: yield
    assert not keeps_slot(mine, [_event("z", None)], ROOM)
    assert not keeps_slot(_event("a", None), [_event("z", 9)], ROOM)


def test_an_fyi_hold_shown_as_free_is_no_rival_and_every_other_status_is() -> None:
    mine = _event("b", 2)
    assert keeps_slot(mine, [_event("a", 1, roombot=False, show_as="free")], ROOM)
    for status in ("tentative", "busy", "oof", "workingElsewhere", "unknown", "Busy"):
        assert not keeps_slot(mine, [_event("a", 1, roombot=False, show_as=status)], ROOM), status


def test_ranking_prefers_the_smallest_adequate_room_then_the_last_floor() -> None:
    rooms = [_room("big", 12), _room("small-g", 4), _room("small-2", 4, "f-2"), _room("mid", 6)]
    slot = TimeSlot(NOW + timedelta(hours=1), NOW + timedelta(hours=2))
    schedules = {r.email: RoomSchedule(r.email) for r in rooms}
    schedules["mid@example.com"] = RoomSchedule("mid@example.com", busy=(slot,))
    ranked = rank_free_rooms(rooms, schedules, slot, near=_room("last", 8, "f-2"))
    assert [r.email for r in ranked] == ["small-2@example.com", "small-g@example.com", "big@example.com"]


def test_alternatives_never_start_in_the_past() -> None:
    room = _room("only", 4)
    request = SearchRequest(NOW + timedelta(minutes=53), NOW + timedelta(minutes=113), "UTC")  # 09:00-10:00
    schedules = {room.email: RoomSchedule(room.email, busy=(TimeSlot(NOW, NOW + timedelta(hours=3)),))}
    found = alternative_times([room], schedules, request, NOW)
    assert [s.start.strftime("%H:%M") for _, s in found] == ["11:15", "11:30", "11:45"]


def test_time_zone_helpers() -> None:
    assert next_quarter_hour(datetime(2026, 1, 1, 9, 7)) == datetime(2026, 1, 1, 9, 15)
    assert next_quarter_hour(datetime(2026, 1, 1, 9, 45)) == datetime(2026, 1, 1, 10, 0)
    assert local_to_utc(date(2026, 7, 1), time(10), "Europe/Helsinki") == datetime(2026, 7, 1, 7, tzinfo=UTC)
    assert local_to_utc(date(2026, 12, 1), time(10), "Europe/Helsinki") == datetime(2026, 12, 1, 8, tzinfo=UTC)
    start = datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert format_slot(start, start + timedelta(hours=1), "Europe/Helsinki") == \
        "Tue 1 Dec 2026, 10:00–11:00 (Europe/Helsinki)"
