"""Which booking a typed message names, and what it would do to it: pure rules at a fixed clock, in
two time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.booking_ref import Plan, matching, no_match_message, planned
from domain.errors import ValidationFailed
from domain.models import BOOKING_CANCELLED, Booking
from domain.understanding import BookingRef, Intent, Understanding, When

HEL = "Europe/Helsinki"
NY = "America/New_York"
TODAY = date(2026, 12, 2)  # a Wednesday
AURORA, DELTA = "aurora@example.com", "delta@example.com"


def at(day: date, hour: int, minute: int = 0, zone: str = HEL) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def booking(name: str, day: date, hour: int, minutes: int = 60, room: str = DELTA, zone: str = HEL,
            minute: int = 0, **extra) -> Booking:
    start = at(day, hour, minute, zone)
    return Booking(id=name, room_email=room, event_id=f"ev-{name}", ical_uid="", booker_aad_id="alex",
                   booker_email="alexw@example.com", start=start, end=start + timedelta(minutes=minutes),
                   zone=zone, **extra)


NOW = at(TODAY, 10, 30)
TOMORROW = TODAY + timedelta(days=1)
EARLY = booking("early", TODAY, 10)  # 10:00-11:00 today: in progress at NOW
TWO = booking("two", TODAY, 14, room=AURORA)
TWO_TOMORROW = booking("two-tomorrow", TOMORROW, 14)
FOUR_TOMORROW = booking("four-tomorrow", TOMORROW, 16, room=AURORA)
OVER = booking("over", TODAY, 8)  # 08:00-09:00: over at NOW
GONE = booking("gone", TODAY, 15, status=BOOKING_CANCELLED)
ALL = [FOUR_TOMORROW, TWO_TOMORROW, TWO, EARLY, OVER, GONE]


def ids(found: list[Booking]) -> list[str]:
    return [b.id for b in found]


def test_a_start_time_means_today_first_then_the_next_day_with_that_start() -> None:
    assert ids(matching(ALL, BookingRef(start=time(14)), Intent.CANCEL, NOW, HEL)) == ["two"]
    later = at(TODAY, 15, 30)  # today's 14:00 is over: tomorrow's is meant
    assert ids(matching(ALL, BookingRef(start=time(14)), Intent.CANCEL, later, HEL)) == ["two-tomorrow"]
    assert ids(matching(ALL, BookingRef(start=time(16)), Intent.MOVE, NOW, HEL)) == ["four-tomorrow"]
    assert matching(ALL, BookingRef(start=time(9)), Intent.CANCEL, NOW, HEL) == []


def test_a_day_and_a_start_name_that_day_only() -> None:
    assert ids(matching(ALL, BookingRef(day=TOMORROW, start=time(14)), Intent.CANCEL, NOW, HEL)) == ["two-tomorrow"]
    assert ids(matching(ALL, BookingRef(day=TOMORROW), Intent.CANCEL, NOW, HEL)) == ["two-tomorrow",
                                                                                    "four-tomorrow"]
    assert ids(matching(ALL, BookingRef(day=TODAY), Intent.CHANGE, NOW, HEL)) == ["early", "two"]  # not the over one


def test_a_room_next_and_current() -> None:
    assert ids(matching(ALL, BookingRef(room_email="Aurora@example.com"), Intent.CHANGE, NOW, HEL)) == [
        "two", "four-tomorrow"]
    assert ids(matching(ALL, BookingRef(next=True), Intent.CANCEL, NOW, HEL)) == ["two"]  # not the one in progress
    assert ids(matching(ALL, BookingRef(next=True, room_email=AURORA, day=TOMORROW), Intent.CANCEL, NOW, HEL)) == [
        "four-tomorrow"]
    assert ids(matching(ALL, BookingRef(current=True), Intent.EXTEND, NOW, HEL)) == ["early"]
    assert ids(matching([EARLY], BookingRef(next=True), Intent.CANCEL, NOW, HEL)) == ["early"]  # the only one left


def test_end_means_the_booking_in_progress_and_an_empty_ref_lists_all() -> None:
    assert ids(matching(ALL, None, Intent.END, NOW, HEL)) == ["early"]
    assert ids(matching(ALL, BookingRef(), Intent.END, NOW, HEL)) == ["early"]
    assert matching(ALL, BookingRef(start=time(14)), Intent.END, NOW, HEL) == []  # not started yet
    assert ids(matching(ALL, BookingRef(), Intent.CANCEL, NOW, HEL)) == ["early", "two", "two-tomorrow",
                                                                        "four-tomorrow"]


def test_times_are_read_in_the_users_zone() -> None:
    ny_two = booking("ny-two", TODAY, 14, zone=NY)  # 14:00 in New York is 21:00 in Helsinki
    assert ids(matching([ny_two, TWO], BookingRef(start=time(14)), Intent.CANCEL, NOW, NY)) == ["ny-two"]
    assert ids(matching([ny_two, TWO], BookingRef(start=time(14)), Intent.CANCEL, NOW, HEL)) == ["two"]
    # Just after midnight in Helsinki it is still the evening before in New York: "today" differs.
    late = booking("late", TOMORROW, 0, minute=30)  # 00:30 tomorrow in Helsinki, 17:30 today in New York
    assert ids(matching([late], BookingRef(day=TODAY), Intent.CANCEL, NOW, NY)) == ["late"]
    assert matching([late], BookingRef(day=TODAY), Intent.CANCEL, NOW, HEL) == []


def test_no_match_is_said_plainly() -> None:
    assert no_match_message(BookingRef(day=TODAY, start=time(14)), Intent.CANCEL, NOW, HEL) == (
        "You have no booking at 14:00 today.")
    assert no_match_message(BookingRef(start=time(9)), Intent.CANCEL, NOW, HEL) == (
        "You have no upcoming booking at 09:00.")
    assert no_match_message(BookingRef(room_email=AURORA, day=TOMORROW), Intent.MOVE, NOW, HEL, "Aurora") == (
        "You have no booking tomorrow in Aurora.")
    assert no_match_message(None, Intent.END, NOW, HEL) == "You have no booking in progress now."
    assert no_match_message(BookingRef(), Intent.CANCEL, NOW, HEL) == "You have no upcoming bookings."
    assert no_match_message(BookingRef(day=date(2026, 12, 9)), Intent.CANCEL, NOW, HEL) == (
        "You have no booking on Wed 9 Dec.")


def test_cancel_and_end_need_nothing_more_change_asks() -> None:
    assert planned(TWO, Understanding(Intent.CANCEL), NOW, HEL) == Plan(Intent.CANCEL, TWO)
    assert planned(EARLY, Understanding(Intent.END), NOW, HEL) == Plan(Intent.END, EARLY)
    assert planned(TWO, Understanding(Intent.CHANGE), NOW, HEL) is None


def test_extend_by_a_length_or_until_an_end() -> None:
    by = planned(TWO, Understanding(Intent.EXTEND, extend_by=timedelta(minutes=30)), NOW, HEL)
    assert by == Plan(Intent.EXTEND, TWO, TWO.start, at(TODAY, 15, 30))
    until = planned(TWO, Understanding(Intent.EXTEND, when=When(end=time(16))), NOW, HEL)
    assert until == Plan(Intent.EXTEND, TWO, TWO.start, at(TODAY, 16))
    ny_two = booking("ny-two", TODAY, 14, zone=NY)
    assert planned(ny_two, Understanding(Intent.EXTEND, when=When(end=time(16))), NOW, NY).end == at(TODAY, 16,
                                                                                                       zone=NY)


def test_extend_without_a_length_asks_and_a_shorter_end_is_refused() -> None:
    assert planned(TWO, Understanding(Intent.EXTEND), NOW, HEL) is None
    assert planned(TWO, Understanding(Intent.EXTEND, when=When(start=time(15))), NOW, HEL) is None  # no end said
    with pytest.raises(ValidationFailed, match="already ends at 15:00"):
        planned(TWO, Understanding(Intent.EXTEND, when=When(end=time(14, 30))), NOW, HEL)
    with pytest.raises(ValidationFailed):
        planned(TWO, Understanding(Intent.EXTEND, extend_by=timedelta(0)), NOW, HEL)


def test_move_to_a_new_start_keeps_the_day_and_length() -> None:
    moved = planned(TWO, Understanding(Intent.MOVE, when=When(start=time(16))), NOW, HEL)
    assert moved == Plan(Intent.MOVE, TWO, at(TODAY, 16), at(TODAY, 17))
    to_day = planned(TWO, Understanding(Intent.MOVE, when=When(day=TOMORROW)), NOW, HEL)
    assert to_day == Plan(Intent.MOVE, TWO, at(TOMORROW, 14), at(TOMORROW, 15))
    with_end = planned(TWO, Understanding(Intent.MOVE, when=When(day=TOMORROW, start=time(9), end=time(9, 30))),
                       NOW, HEL)
    assert with_end == Plan(Intent.MOVE, TWO, at(TOMORROW, 9), at(TOMORROW, 9, 30))
    longer = planned(TWO, Understanding(Intent.MOVE, when=When(start=time(16), duration=timedelta(hours=2))),
                     NOW, HEL)
    assert longer == Plan(Intent.MOVE, TWO, at(TODAY, 16), at(TODAY, 18))


def test_move_by_an_amount_shifts_the_booking_keeping_its_length() -> None:
    later = planned(TWO, Understanding(Intent.MOVE, move_by=timedelta(hours=1)), NOW, HEL)
    assert later == Plan(Intent.MOVE, TWO, at(TODAY, 15), at(TODAY, 16))
    earlier = planned(TWO, Understanding(Intent.CHANGE, move_by=timedelta(minutes=-30)), NOW, HEL)
    assert earlier == Plan(Intent.MOVE, TWO, at(TODAY, 13, 30), at(TODAY, 14, 30))
    with pytest.raises(ValidationFailed):
        planned(TWO, Understanding(Intent.MOVE, move_by=timedelta(0)), NOW, HEL)


def test_move_to_another_room_keeps_the_time() -> None:
    assert planned(TWO, Understanding(Intent.MOVE, room_email=DELTA), NOW, HEL) == Plan(
        Intent.MOVE, TWO, TWO.start, TWO.end, DELTA)
    # The room it is in already is no move.
    assert planned(TWO, Understanding(Intent.MOVE, room_email=AURORA, when=When(start=time(16))), NOW, HEL) == Plan(
        Intent.MOVE, TWO, at(TODAY, 16), at(TODAY, 17))


def test_move_without_a_new_time_asks_never_guesses() -> None:
    assert planned(TWO, Understanding(Intent.MOVE), NOW, HEL) is None
    assert planned(TWO, Understanding(Intent.MOVE, room_email=AURORA), NOW, HEL) is None
    assert planned(TWO, Understanding(Intent.MOVE, when=When(now=True)), NOW, HEL) is None
    assert planned(TWO, Understanding(Intent.MOVE, when=When(day=TOMORROW, window=(time(8), time(12)))), NOW,
                   HEL) is None
    with pytest.raises(ValidationFailed, match="already"):
        planned(TWO, Understanding(Intent.MOVE, when=When(start=time(14))), NOW, HEL)
    with pytest.raises(ValidationFailed, match="end must be after"):
        planned(TWO, Understanding(Intent.MOVE, when=When(start=time(16), end=time(15))), NOW, HEL)


def test_a_change_that_says_a_time_or_room_is_a_move() -> None:
    assert planned(TWO, Understanding(Intent.CHANGE, when=When(start=time(15))), NOW, HEL) == Plan(
        Intent.MOVE, TWO, at(TODAY, 15), at(TODAY, 16))
    assert planned(TWO, Understanding(Intent.CHANGE, room_email=DELTA), NOW, HEL) == Plan(
        Intent.MOVE, TWO, TWO.start, TWO.end, DELTA)
