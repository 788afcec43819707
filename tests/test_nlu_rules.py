"""The rules `understand` picks the recognizer's readings by: bare hours in working hours, dates in the
future, numeric dates by locale, parts of the day, seats that are not times, words left over."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from domain.models import Building, Floor
from domain.understanding import BookingRef, Catalog, Intent, RoomName, When, understand

WEDNESDAY = datetime(2026, 12, 2, 9, 40)
FRIDAY_AFTERNOON = datetime(2026, 12, 4, 15, 0)
DECEMBER_20 = datetime(2026, 12, 20, 11, 0)


def when(text: str, now: datetime = WEDNESDAY, locale: str = "en-US") -> When:
    return understand(text, now, Catalog(), locale).when


@pytest.mark.parametrize(("said", "hour"), [
    ("1", 13), ("2", 14), ("3", 15), ("4", 16), ("5", 17), ("6", 18), ("7", 19),
    ("8", 8), ("9", 9), ("10", 10), ("11", 11), ("12", 12),
])
def test_a_bare_hour_is_in_working_hours(said: str, hour: int) -> None:
    assert when(f"a room at {said}").start == time(hour)


@pytest.mark.parametrize(("text", "start"), [
    ("a room at 7am", time(7)), ("a room at 9pm", time(21)), ("a room at 20:00", time(20)),
    ("a room at 07:30", time(7, 30)), ("a room at 7:30", time(19, 30)), ("a room at 12pm", time(12)),
    ("a room at half past 3", time(15, 30)), ("a room at quarter to 10", time(9, 45)),
    ("a room at quarter past 2", time(14, 15)), ("a room at 9.30", time(9, 30)), ("a room around 2", time(14)),
    ("a room after 3", time(15)), ("a room at 3ish", time(15)),
])
def test_explicit_am_pm_and_24_hour_times_win_over_the_rule(text: str, start: time) -> None:
    assert when(text).start == start


@pytest.mark.parametrize(("text", "start", "end"), [
    ("a room 10-11", time(10), time(11)), ("a room 2-3", time(14), time(15)), ("a room 11-1", time(11), time(13)),
    ("a room 14-15", time(14), time(15)), ("a room from 2 to 3", time(14), time(15)),
    ("a room between 1 and 2", time(13), time(14)), ("a room 10-11:30", time(10), time(11, 30)),
    ("a room 9:30-10:30", time(9, 30), time(10, 30)), ("a room from 9 until 4", time(9), time(16)),
    ("a room 2pm-3pm", time(14), time(15)),
])
def test_hour_ranges_without_am_pm(text: str, start: time, end: time) -> None:
    got = when(text)
    assert (got.start, got.end) == (start, end)


@pytest.mark.parametrize(("text", "end"), [("a room until 4", time(16)), ("a room until 11", time(11)),
                                           ("a room till 16:30", time(16, 30)), ("a room before 10", time(10))])
def test_until_a_bare_hour_is_an_end_in_working_hours(text: str, end: time) -> None:
    assert when(text).end == end and when(text).start is None


@pytest.mark.parametrize(("text", "day", "start"), [
    ("a room friday", date(2026, 12, 4), None),  # today: the afternoon is still ahead
    ("a room friday at 4", date(2026, 12, 4), time(16)),
    ("a room friday at 10", date(2026, 12, 11), time(10)),  # 10:00 today has passed: next week's
    ("a room thursday", date(2026, 12, 10), None),
    ("a room monday 9am", date(2026, 12, 7), time(9)),
])
def test_a_weekday_is_today_while_what_was_asked_is_ahead_else_next_week(text: str, day: date,
                                                                            start: time | None) -> None:
    got = when(text, FRIDAY_AFTERNOON)
    assert (got.day, got.start) == (day, start)


@pytest.mark.parametrize(("text", "day"), [
    ("a room frday at 4", date(2026, 12, 4)), ("a room frday at 10", date(2026, 12, 11)),
    ("a room wensday", date(2026, 12, 9)), ("a room thursady at 2", date(2026, 12, 10)),
])
def test_a_misspelt_weekday_is_read_by_the_same_rule(text: str, day: date) -> None:
    got = understand(text, FRIDAY_AFTERNOON)
    assert got.when.day == day and got.not_understood == () and got.unknown_room == ""


def test_a_part_of_a_weekday_that_has_passed_is_next_weeks() -> None:
    assert when("friday morning", FRIDAY_AFTERNOON) == When(day=date(2026, 12, 11), window=(time(8), time(12)))
    assert when("friday afternoon", FRIDAY_AFTERNOON) == When(day=date(2026, 12, 4), window=(time(12), time(17)))


@pytest.mark.parametrize(("text", "day"), [
    ("a room on 15 Dec", date(2027, 12, 15)),  # gone this year: next year's, never a past day
    ("a room on the 15th", date(2027, 1, 15)),
    ("a room on 20 Dec", date(2026, 12, 20)),
    ("a room on 24 Dec", date(2026, 12, 24)),
    ("a room on 12/15", date(2027, 12, 15)),
    ("a room on jan 5", date(2027, 1, 5)),
])
def test_dates_are_in_the_future(text: str, day: date) -> None:
    assert when(text, DECEMBER_20).day == day


@pytest.mark.parametrize(("text", "now"), [
    ("a room today at 9", datetime(2026, 12, 2, 10, 0)),
    ("a room on 1/5/2020", WEDNESDAY),
    ("a room this morning", datetime(2026, 12, 2, 13, 0)),
    ("a room from 3pm to 2pm", WEDNESDAY),
    ("a room from 10pm to 1am", WEDNESDAY),
])
def test_what_cannot_be_booked_is_a_problem_said_back(text: str, now: datetime) -> None:
    assert understand(text, now, Catalog()).problems


@pytest.mark.parametrize(("text", "locale", "day"), [
    ("12/3", "en-US", date(2026, 12, 3)), ("12/3", "en-GB", date(2027, 3, 12)),
    ("12/3", "en-AU", date(2027, 3, 12)), ("12/3", "en-IN", date(2027, 3, 12)), ("12/3", "fr-FR", date(2027, 3, 12)),
    ("12/3", "en-CA", date(2026, 12, 3)), ("12/3", "en-PH", date(2026, 12, 3)), ("12/3", "", date(2026, 12, 3)),
    ("13/3", "en-US", date(2027, 3, 13)), ("3/13", "en-GB", date(2027, 3, 13)),  # a number above 12 settles it
    ("12.3.", "de-DE", date(2027, 3, 12)), ("3/12/2027", "en-GB", date(2027, 12, 3)),
    ("3/12/2027", "en-US", date(2027, 3, 12)), ("12/3", "en_GB", date(2027, 3, 12)),
    ("12/3", "EN-gb", date(2027, 3, 12)),
])
def test_numeric_dates_are_read_by_the_teams_locale(text: str, locale: str, day: date) -> None:
    assert when(f"a room on {text}", locale=locale).day == day


@pytest.mark.parametrize(("text", "window"), [
    ("tomorrow morning", (time(8), time(12))), ("this afternoon", (time(12), time(17))),
    ("this evening", (time(17), time(20))), ("tonight", (time(17), time(20))),
    ("tomorrow at lunchtime", (time(12), time(14))),
])
def test_parts_of_the_day_are_windows(text: str, window: tuple[time, time]) -> None:
    got = when(f"a room {text}")
    assert got.window == window and got.start is None and got.day is not None


def test_good_morning_is_a_greeting_and_tomorrow_morning_a_time() -> None:
    assert understand("good morning", WEDNESDAY).intent is Intent.GREETING
    booking = understand("book a room for tomorrow morning", WEDNESDAY)
    assert booking.intent is Intent.BOOK and booking.when.window == (time(8), time(12))
    assert understand("Morning! need a room at 3", WEDNESDAY).when.start == time(15)


@pytest.mark.parametrize(("text", "capacity", "start", "duration"), [
    ("a room for 6", 6, None, None), ("a room for 6pm", None, time(18), None),
    ("a room for 2 hours", None, None, timedelta(hours=2)), ("a room for two", 2, None, None),
    ("a room for six at 3", 6, time(15), None), ("a room for 4 at 10:30", 4, time(10, 30), None),
    ("me and 2 others at 1", 3, time(13), None),
])
def test_seats_are_not_mistaken_for_times(text: str, capacity: int | None, start: time | None,
                                          duration: timedelta | None) -> None:
    got = understand(text, WEDNESDAY)
    assert (got.capacity, got.when.start, got.when.duration) == (capacity, start, duration)


def test_words_left_over_are_named_but_not_the_polite_ones() -> None:
    assert understand("hey can you book me a room tomorrow at 10 please", WEDNESDAY).not_understood == ()
    assert understand("i wont need my booking tomorrow", WEDNESDAY).not_understood == ()  # no apostrophe
    assert understand("book a unicorn at 3", WEDNESDAY).not_understood == ("unicorn",)


def test_rooms_are_matched_whole_words_and_longest_first() -> None:
    catalog = Catalog(rooms=(RoomName("blue@x.com", "Blue"), RoomName("bigblue@x.com", "Big Blue")))
    assert understand("book big blue at 3", WEDNESDAY, catalog).room_email == "bigblue@x.com"
    assert understand("book Blue at 3", WEDNESDAY, catalog).room_email == "blue@x.com"
    assert understand("book bluebell at 3", WEDNESDAY, catalog).room_email == ""


def test_move_names_the_booking_before_to_and_the_new_time_after() -> None:
    got = understand("move my 2pm to 4pm", WEDNESDAY)
    assert (got.intent, got.booking, got.when) == (Intent.MOVE, BookingRef(start=time(14)), When(start=time(16)))


def test_a_room_after_to_is_where_a_booking_moves_before_it_which_booking() -> None:
    catalog = Catalog(rooms=(RoomName("aurora@x.com", "Aurora"),))
    to_aurora = understand("move my 2pm to Aurora at 4", WEDNESDAY, catalog)
    assert (to_aurora.room_email, to_aurora.booking, to_aurora.when) == (
        "aurora@x.com", BookingRef(start=time(14)), When(start=time(16)))
    the_aurora_one = understand("move my Aurora booking to 4pm", WEDNESDAY, catalog)
    assert (the_aurora_one.room_email, the_aurora_one.booking) == ("", BookingRef(room_email="aurora@x.com"))


def test_at_or_in_before_something_already_read_names_no_room() -> None:
    got = understand("book at 10 near the kitchen", WEDNESDAY)
    assert got.unknown_room == "" and got.when.start == time(10) and "kitchen" in got.not_understood
    assert understand("book at 10 in Zeus", WEDNESDAY).unknown_room == "Zeus"


def test_end_and_extend_without_a_booking_named_mean_the_one_in_progress() -> None:
    assert understand("end my meeting", WEDNESDAY).booking == BookingRef(current=True)
    assert understand("I need 15 more minutes", WEDNESDAY).booking == BookingRef(current=True)
    assert understand("cancel", WEDNESDAY).booking is None


def test_features_by_name_before_synonyms() -> None:
    catalog = Catalog(features=("display", "screen", "video conferencing"))
    assert understand("a room with a screen at 3", WEDNESDAY, catalog).features == ("screen",)
    assert understand("a room with a tv and a camera", WEDNESDAY, catalog).features == ("display",
                                                                                       "video conferencing")
    assert understand("a room with screens", WEDNESDAY, catalog).features == ("screen",)


def test_floors_by_name_then_by_level_and_said_back_when_ambiguous() -> None:
    one = Catalog(buildings=(Building("b", "Main"),),
                  floors=(Floor("g", "b", "Ground floor", 1), Floor("f1", "b", "First floor", 2)))
    assert understand("a room on the first floor", WEDNESDAY, one).floor_id == "f1"  # its name, not level 1
    assert understand("a room on floor 1", WEDNESDAY, one).floor_id == "g"  # no such name: by level
    two = Catalog(buildings=(Building("a", "Annex"), Building("b", "Main")),
                  floors=(Floor("a2", "a", "Second floor", 2), Floor("b2", "b", "Second floor", 2)))
    ambiguous = understand("a room on the second floor", WEDNESDAY, two)
    assert ambiguous.floor_id == "" and ambiguous.problems
    assert understand("a room in the Annex on the second floor", WEDNESDAY, two).floor_id == "a2"
    assert understand("a room on floor 7", WEDNESDAY, two).problems == ("I don't know a floor 7.",)


@pytest.mark.parametrize(("text", "day", "start"), [
    ("book a room tomorrow 10", date(2026, 12, 3), time(10)), ("book a room fri 9", date(2026, 12, 4), time(9)),
    ("book a room tomorrow, 10", date(2026, 12, 3), time(10)), ("I need a room, 3", None, time(15)),
    ("on Monday, 10", date(2026, 12, 7), time(10)), ("book a room tomorrow 2", date(2026, 12, 3), time(14)),
    ("a room tomorrow, 14", date(2026, 12, 3), time(14)),
])
def test_a_bare_hour_after_a_day_or_a_comma_is_a_start_in_working_hours(text: str, day: date | None,
                                                                         start: time) -> None:
    got = understand(text, WEDNESDAY)
    assert (got.when.day, got.when.start, got.unknown_room, got.not_understood) == (day, start, "", ())


def test_the_bots_question_answered_reads_with_the_request_as_a_whole() -> None:
    got = understand("a room for 4 tomorrow, 3pm for an hour", WEDNESDAY)
    assert (got.capacity, got.when) == (4, When(day=date(2026, 12, 3), start=time(15), duration=timedelta(hours=1)))
    seats_then_hour = understand("book a room for 6, 2", WEDNESDAY)
    assert (seats_then_hour.capacity, seats_then_hour.when.start) == (6, time(14))
    assert understand("room for 10", WEDNESDAY).capacity == 10
    assert understand("room for 10", WEDNESDAY).when == When()


@pytest.mark.parametrize("text", ["book room 12", "book a room 3 tomorrow at 10", "a room 42",
                                  "a room at 3 zeta"])  # nor reached across what was read
def test_an_unknown_room_is_never_a_number_nor_across_a_gap(text: str) -> None:
    assert understand(text, WEDNESDAY).unknown_room == ""


@pytest.mark.parametrize("said", ["until end of day", "until the end of the day", "till close of business",
                                  "till eod", "until cob", "to the end of the working day"])
def test_the_end_of_the_day_is_the_end_of_the_working_day(said: str) -> None:
    got = understand(f"book a room at 4 {said}", WEDNESDAY)
    assert (got.when.start, got.when.end, got.not_understood) == (time(16), time(17), ())


def test_the_rest_of_the_day_is_from_now_to_the_end_of_the_working_day() -> None:
    assert when("a room for the rest of the day") == When(now=True, end=time(17))


@pytest.mark.parametrize(("text", "now", "start"), [
    ("a room all day tomorrow", WEDNESDAY, time(9)), ("a room for the whole day on friday", WEDNESDAY, time(9)),
    ("a room all day", datetime(2026, 12, 2, 8, 0), time(9)),
    ("a room for the whole day", WEDNESDAY, time(9, 45)),  # today, 09:00 has passed: the next quarter hour
])
def test_all_day_is_the_working_day(text: str, now: datetime, start: time) -> None:
    got = when(text, now)
    assert (got.start, got.end, got.duration) == (start, time(17), None)


@pytest.mark.parametrize("text", ["a room before lunch", "a room first thing", "a room first thing tomorrow",
                                  "a room tomorrow first thing in the morning"])
def test_before_lunch_and_first_thing_are_the_morning(text: str) -> None:
    got = understand(text, WEDNESDAY)
    assert (got.when.window, got.when.start, got.unknown_room, got.not_understood) == (
        (time(8), time(12)), None, "", ())


@pytest.mark.parametrize(("text", "start"), [
    ("book a room at 1430", time(14, 30)), ("a room at 0930", time(9, 30)), ("1430", time(14, 30)),
    ("a room at 10h30", time(10, 30)), ("a room tomorrow 1400", time(14)),
])
def test_four_digit_and_h_times_are_24_hour(text: str, start: time) -> None:
    got = understand(text, WEDNESDAY)
    assert (got.when.start, got.not_understood) == (start, ())


@pytest.mark.parametrize(("text", "booking", "minutes"), [
    ("move my 3pm an hour later", BookingRef(start=time(15)), 60),
    ("push my 3pm an hour", BookingRef(start=time(15)), 60),
    ("push my 3pm back an hour", BookingRef(start=time(15)), 60),
    ("push my meeting by 30 mins", BookingRef(), 30),
    ("bring my 3pm forward by an hour", BookingRef(start=time(15)), -60),
    ("move my 10am 15 minutes earlier", BookingRef(start=time(10)), -15),
    ("I'm running late, can we push it 15 min", BookingRef(), 15),
])
def test_move_by_an_amount_names_the_booking_before_it_and_no_new_start(text: str, booking: BookingRef,
                                                                        minutes: int) -> None:
    got = understand(text, WEDNESDAY)
    assert (got.intent, got.booking, got.move_by, got.when) == (
        Intent.MOVE, booking, timedelta(minutes=minutes), When())


def test_a_bare_hour_names_a_booking_by_the_working_hours_rule() -> None:
    assert understand("cancel my 10", WEDNESDAY).booking == BookingRef(start=time(10))
    moved = understand("move my 9 to 11", WEDNESDAY)
    assert (moved.booking, moved.when, moved.not_understood) == (BookingRef(start=time(9)), When(start=time(11)), ())
    assert understand("cancel my 3", WEDNESDAY).booking == BookingRef(start=time(15))


@pytest.mark.parametrize(("text", "expected"), [
    ("book a room at 2, no wait, 3", When(start=time(15))),
    ("room tomorrow at 10 actually make it 11", When(day=date(2026, 12, 3), start=time(11))),
    ("room for 30 mins no make that 45", When(duration=timedelta(minutes=45))),
    ("a room friday at 4, I meant thursday", When(day=date(2026, 12, 3), start=time(16))),
    ("a room at 3 or rather 4pm", When(start=time(16))),
    ("a room at 3, sorry, 4", When(start=time(16))),
    ("a room tomorrow morning, actually at 10", When(day=date(2026, 12, 3), start=time(10))),
])
def test_a_message_that_corrects_itself_keeps_the_later_value(text: str, expected: When) -> None:
    got = understand(text, WEDNESDAY)
    assert (got.intent, got.when, got.not_understood, got.unknown_room) == (Intent.BOOK, expected, (), "")


def test_a_bare_number_correcting_is_of_the_kind_said_just_before_and_the_rest_is_kept() -> None:
    board = Catalog(features=("whiteboard",))
    time_said_last = understand("a room for 4 at 3 with a whiteboard, no make that 6", WEDNESDAY, board)
    assert (time_said_last.capacity, time_said_last.when.start, time_said_last.features) == (
        4, time(18), ("whiteboard",))
    more = understand("a room at 3 for 4, no make that 6", WEDNESDAY)
    assert (more.capacity, more.when.start) == (6, time(15))
    extended = understand("extend my meeting by 30 mins, actually make it 45", WEDNESDAY)
    assert (extended.intent, extended.extend_by, extended.when) == (Intent.EXTEND, timedelta(minutes=45), When())


def test_a_correction_word_with_nothing_before_it_is_no_correction() -> None:
    got = understand("actually, I need a room at 3", WEDNESDAY)
    assert (got.when.start, got.not_understood) == (time(15), ())


def test_two_rooms_named_are_asked_about_never_one_picked_silently() -> None:
    catalog = Catalog(rooms=(RoomName("aurora@x.com", "Aurora"), RoomName("borealis@x.com", "Borealis"),
                             RoomName("cirrus@x.com", "Cirrus")))
    got = understand("in aurora or borealis", WEDNESDAY, catalog)
    assert (got.intent, got.room_email, got.unknown_room, got.not_understood, got.problems) == (
        Intent.BOOK, "", "", (), ("Which room: Aurora or Borealis?",))
    three = understand("book Cirrus, Borealis or Aurora at 3", WEDNESDAY, catalog)
    assert (three.room_email, three.problems) == ("", ("Which room: Cirrus, Borealis or Aurora?",))
    assert understand("book aurora at 3", WEDNESDAY, catalog).room_email == "aurora@x.com"


@pytest.mark.parametrize("text", ["book meeting room 5 tomorrow", "cancel my 2 bookings", "a room on floor 2, 3 people",
                                  "a room friday, 2 hours"])
def test_a_number_that_counts_or_names_something_is_no_hour(text: str) -> None:
    got = understand(text, WEDNESDAY)
    assert got.when.start is None and (got.booking is None or got.booking.start is None)


def test_a_bigger_room_is_a_change_a_named_room_a_move_and_a_meetings_length_no_shift() -> None:
    catalog = Catalog(rooms=(RoomName("aurora@x.com", "Aurora"),))
    bigger = understand("change my 2pm to a bigger room", WEDNESDAY, catalog)
    assert (bigger.intent, bigger.booking) == (Intent.CHANGE, BookingRef(start=time(14)))
    to_aurora = understand("switch my booking to the Aurora room", WEDNESDAY, catalog)
    assert (to_aurora.intent, to_aurora.room_email) == (Intent.MOVE, "aurora@x.com")
    long_one = understand("move my 1h meeting to 3pm", WEDNESDAY)
    assert (long_one.move_by, long_one.when.start) == (None, time(15))


def test_the_rest_of_a_day_that_has_ended_is_a_problem() -> None:
    assert understand("a room for the rest of the day", datetime(2026, 12, 2, 17, 30)).problems == (
        "17:00 has already passed.",)
    assert understand("a room for the rest of the day", WEDNESDAY).problems == ()


_PLACES = Catalog(buildings=(Building("hh", "Harbour House"),), rooms=(RoomName("aurora@x.com", "Aurora"),),
                  features=("video",))


@pytest.mark.parametrize(("text", "start"), [
    ("book a room tomorrow, no video needed, at 11", time(11)), ("book a room not in Harbour House at 2", time(14)),
    ("any room except Aurora at 2", time(14)), ("without video at 3", time(15)),
])
def test_what_is_left_out_is_never_asked_for_and_is_said_back(text: str, start: time) -> None:
    got = understand(text, WEDNESDAY, _PLACES)
    assert (got.intent, got.when.start) == (Intent.BOOK, start)
    assert (got.features, got.building_id, got.room_email, got.not_understood) == ((), "", "", ())
    assert got.problems == ("I can't leave out a room, place or feature: pick what you need below.",)


def test_a_negation_without_a_place_or_feature_after_it_changes_nothing() -> None:
    got = understand("not sure, a room with video in Aurora at 2", WEDNESDAY, _PLACES)
    assert (got.features, got.room_email, got.problems) == (("video",), "aurora@x.com", ())


@pytest.mark.parametrize(("text", "start", "end"), [
    ("a room at 10 to 3", time(14, 50), None), ("a room at five past ten", time(10, 5), None),
    ("a room at twenty past two", time(14, 20), None), ("a room half four", time(16, 30), None),
    ("a room at ten to three", time(14, 50), None), ("a room at twenty-five past 9", time(9, 25), None),
    ("a room from 2 until half five", time(14), time(17, 30)), ("a room from 10 to 3", time(10), time(15)),
    ("a room 2 to 3", time(14), time(15)),
])
def test_british_clock_phrases_by_the_working_hours_rule(text: str, start: time, end: time | None) -> None:
    got = understand(text, WEDNESDAY, Catalog())
    assert (got.when.start, got.when.end, got.unknown_room, got.not_understood) == (start, end, "", ())


@pytest.mark.parametrize(("text", "day"), [
    ("a room tuesday week at 10", date(2026, 12, 15)), ("a room a week on tuesday at 10", date(2026, 12, 15)),
    ("a room wednesday week", date(2026, 12, 9)), ("a room a week tomorrow", date(2026, 12, 10)),
    ("a room a fortnight today at 2", date(2026, 12, 16)), ("a room a fortnight tomorrow", date(2026, 12, 17)),
    ("a room a fortnight on friday", date(2026, 12, 18)),
])
def test_a_weekday_week_and_a_fortnight_are_days_not_lengths(text: str, day: date) -> None:
    got = understand(text, WEDNESDAY, Catalog())
    assert (got.when.day, got.when.duration, got.not_understood) == (day, None, ())


def test_for_a_week_is_still_a_length() -> None:
    assert when("a room for a week").duration == timedelta(days=7)


def test_extend_to_a_length_is_the_new_total_length_and_by_a_length_is_added() -> None:
    from domain.booking_ref import Plan, planned
    from domain.errors import ValidationFailed
    from domain.models import Booking

    to = understand("extend my meeting to 2 hours", WEDNESDAY, Catalog())
    by = understand("extend my meeting by 2 hours", WEDNESDAY, Catalog())
    assert (to.intent, to.length, to.extend_by) == (Intent.EXTEND, timedelta(hours=2), None)
    assert (by.length, by.extend_by) == (None, timedelta(hours=2))
    start = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    meeting = Booking(id="m", room_email="a@x.com", event_id="ev", ical_uid="", booker_aad_id="alex",
                      booker_email="alex@x.com", start=start, end=start + timedelta(hours=1), zone="UTC")
    assert planned(meeting, to, WEDNESDAY.replace(tzinfo=UTC), "UTC") == Plan(
        Intent.EXTEND, meeting, start, start + timedelta(hours=2))
    with pytest.raises(ValidationFailed, match="already 1 hour long"):
        planned(meeting, understand("extend it to 45 minutes", WEDNESDAY, Catalog()), WEDNESDAY.replace(tzinfo=UTC),
                "UTC")


@pytest.mark.parametrize(("text", "day", "start", "duration"), [
    ("a room for 30m at 2", None, time(14), timedelta(minutes=30)),
    ("a room for 45m tomorrow at 10", date(2026, 12, 3), time(10), timedelta(minutes=45)),
    ("book a room for the 1st at 10", date(2027, 1, 1), time(10), None),
    ("a room for the 3rd at 2", date(2026, 12, 3), time(14), None),
])
def test_short_minutes_and_a_day_of_the_month_after_for_the(text: str, day: date | None, start: time,
                                                            duration: timedelta | None) -> None:
    got = understand(text, WEDNESDAY, Catalog())
    assert (got.when.day, got.when.start, got.when.duration, got.not_understood) == (day, start, duration, ())


def test_shorten_names_a_booking_to_change_and_who_is_in_a_room_books_nothing() -> None:
    catalog = Catalog(rooms=(RoomName("aurora@x.com", "Aurora"),))
    shorten = understand("shorten my meeting by 15 minutes", WEDNESDAY, catalog)
    assert (shorten.intent, shorten.not_understood) == (Intent.CHANGE, ())
    assert shorten.booking is not None
    assert understand("who is in Aurora right now", WEDNESDAY, catalog).intent is Intent.UNKNOWN
    assert understand("is Aurora free now", WEDNESDAY, catalog).intent is Intent.BOOK
    assert understand("I need a reservation", WEDNESDAY, catalog).intent is Intent.BOOK


@pytest.mark.parametrize(("text", "day", "start"), [
    ("book a room sometime friday morning for 1 hour", date(2026, 12, 4), None),
    ("book a room at 3, not 2", None, time(15)), ("a room anytime tomorrow", date(2026, 12, 3), None),
])
def test_sometime_and_a_time_not_wanted_leave_no_word_over(text: str, day: date | None, start: time | None) -> None:
    got = understand(text, WEDNESDAY, Catalog(rooms=(RoomName("aurora@x.com", "Aurora"),)))
    assert (got.when.day, got.when.start, got.unknown_room, got.not_understood) == (day, start, "", ())


def test_a_new_total_length_corrected_keeps_the_later_one() -> None:
    got = understand("extend my meeting to 2 hours no wait 3", WEDNESDAY, Catalog())
    assert (got.intent, got.length, got.extend_by, got.not_understood) == (Intent.EXTEND, timedelta(hours=3), None,
                                                                             ())


@pytest.mark.parametrize(("text", "ref"), [
    ("I need a bigger room for my 3 o'clock", BookingRef(start=time(15))),
    ("I need a different room for my 2pm tomorrow", BookingRef(day=date(2026, 12, 3), start=time(14))),
])
def test_a_bigger_room_for_my_booking_changes_it(text: str, ref: BookingRef) -> None:
    got = understand(text, WEDNESDAY, Catalog())
    assert (got.intent, got.booking, got.not_understood) == (Intent.CHANGE, ref, ())


def test_a_bigger_room_for_my_team_is_a_booking() -> None:
    assert understand("a bigger room for my team at 3", WEDNESDAY, Catalog()).intent is Intent.BOOK


@pytest.mark.parametrize(("text", "intent"), [
    ("what rooms are there", Intent.HELP), ("which rooms do you have", Intent.HELP), ("lunch?", Intent.UNKNOWN),
    ("what rooms are free at 2", Intent.BOOK), ("a room for lunch", Intent.BOOK),
])
def test_asking_what_rooms_there_are_is_help_and_lunch_alone_books_nothing(text: str, intent: Intent) -> None:
    assert understand(text, WEDNESDAY, Catalog()).intent is intent


@pytest.mark.parametrize(("text", "capacity"), [
    ("me and 3 colleague need room now", 4),
    ("Hi there, I hope you're well. Could you please book a room for six people tomorrow afternoon, ideally with a "
     "whiteboard? Thank you so much!", 6),
])
def test_polite_words_and_a_singular_colleague_leave_nothing_over(text: str, capacity: int) -> None:
    got = understand(text, WEDNESDAY, Catalog(features=("whiteboard",)))
    assert (got.intent, got.capacity, got.not_understood) == (Intent.BOOK, capacity, ())


@pytest.mark.parametrize("text", [
    "I wish to make a reservation friday at 9", "I'd be really grateful for a room on Friday from 2 to 3:30",
    "I'd like a room at 4pm for an hour if possible, thanks",
])
def test_more_polite_words_leave_nothing_over(text: str) -> None:
    got = understand(text, WEDNESDAY, Catalog())
    assert (got.intent, got.not_understood) == (Intent.BOOK, ())
