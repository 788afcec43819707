"""Per-room booking rules, as pure functions: window, length, hours and days in the building's zone
(a DST day included), who may book by email and by AAD object id, and inheritance from the
organisation's defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.calendar import TimeSlot
from domain.rules import (
    BOOKERS,
    HOURS,
    LENGTH,
    WINDOW,
    RoomRules,
    RuleBroken,
    broken_rule,
    check_rules,
    days_text,
    describe,
    effective_rules,
    left_out_notes,
)

KEY = "11111111-2222-3333-4444-555555555555"
EMAIL = "alexw@example.com"
HELSINKI = "Europe/Helsinki"
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # Tue 1 Dec 2026, 12:00 in Helsinki


def _slot(start: datetime, minutes: int = 60) -> TimeSlot:
    return TimeSlot(start, start + timedelta(minutes=minutes))


def _check(rules: RoomRules, slot: TimeSlot, zone: str = HELSINKI, key: str = KEY, email: str = EMAIL) -> None:
    check_rules(rules, slot, key, email, NOW, zone, "Aurora")


def test_no_rules_allow_anything() -> None:
    _check(RoomRules(), _slot(NOW + timedelta(days=170), 8 * 60))


def test_window_allows_its_last_local_day_and_not_the_next() -> None:
    rules = RoomRules(window_days=14)
    # Tue 15 Dec, 23:45 in Helsinki is the last start allowed; Wed 16 Dec 00:00 is too far.
    _check(rules, _slot(datetime(2026, 12, 15, 21, 45, tzinfo=UTC), 15))
    with pytest.raises(RuleBroken) as refused:
        _check(rules, _slot(datetime(2026, 12, 15, 22, 0, tzinfo=UTC), 15))
    assert refused.value.reason == WINDOW
    assert refused.value.message == "Aurora can be booked at most 14 days ahead (until Tue 15 Dec)."


def test_window_of_zero_days_is_today_only() -> None:
    rules = RoomRules(window_days=0)
    _check(rules, _slot(NOW + timedelta(hours=2)))
    with pytest.raises(RuleBroken, match="Aurora can only be booked for today."):
        _check(rules, _slot(NOW + timedelta(days=1)))


def test_max_length() -> None:
    rules = RoomRules(max_minutes=120)
    _check(rules, _slot(NOW + timedelta(hours=1), 120))
    with pytest.raises(RuleBroken) as refused:
        _check(rules, _slot(NOW + timedelta(hours=1), 135))
    assert refused.value.reason == LENGTH and refused.value.message == "Aurora can be booked for at most 2 hours."
    with pytest.raises(RuleBroken, match="at most 90 minutes"):
        _check(RoomRules(max_minutes=90), _slot(NOW + timedelta(hours=1), 120))


def test_hours_and_days_are_the_buildings_not_the_bookers() -> None:
    rules = RoomRules(hours_start="08:00", hours_end="18:00", days=(0, 1, 2, 3, 4))
    # Wed 2 Dec 06:00-07:00 UTC is 08:00-09:00 in Helsinki: allowed, though 06:00 for a booker in UTC.
    _check(rules, _slot(datetime(2026, 12, 2, 6, 0, tzinfo=UTC)))
    with pytest.raises(RuleBroken) as refused:  # 07:30 in Helsinki
        _check(rules, _slot(datetime(2026, 12, 2, 5, 30, tzinfo=UTC)))
    assert refused.value.reason == HOURS
    assert refused.value.message == "Aurora can be booked 08:00–18:00 Mon–Fri (Europe/Helsinki)."
    with pytest.raises(RuleBroken):  # 17:30-18:30 in Helsinki: ends after the allowed hours
        _check(rules, _slot(datetime(2026, 12, 2, 15, 30, tzinfo=UTC)))
    _check(rules, _slot(datetime(2026, 12, 2, 15, 0, tzinfo=UTC)))  # 17:00-18:00 ends on the dot
    with pytest.raises(RuleBroken):  # Sat 5 Dec, 10:00 in Helsinki
        _check(rules, _slot(datetime(2026, 12, 5, 8, 0, tzinfo=UTC)))
    # The same instant is within hours in New York's zone only if the building is there.
    with pytest.raises(RuleBroken, match=r"\(America/New_York\)"):
        _check(rules, _slot(datetime(2026, 12, 2, 6, 0, tzinfo=UTC)), zone="America/New_York")


def test_hours_on_a_dst_day_follow_the_wall_clock() -> None:
    rules = RoomRules(hours_start="08:00", hours_end="18:00")
    # Helsinki moves to summer time on Sun 29 Mar 2026 (UTC+2 -> UTC+3): 05:00 UTC is 08:00 that day,
    # 07:00 the day before.
    _check(rules, _slot(datetime(2026, 3, 29, 5, 0, tzinfo=UTC)))
    with pytest.raises(RuleBroken):
        _check(rules, _slot(datetime(2026, 3, 28, 5, 0, tzinfo=UTC)))
    # 15:00 UTC is 18:00 on the DST day (ends on the dot) and 17:00 the day before.
    _check(rules, _slot(datetime(2026, 3, 29, 14, 0, tzinfo=UTC)))
    with pytest.raises(RuleBroken):
        _check(rules, _slot(datetime(2026, 3, 29, 14, 30, tzinfo=UTC)))
    _check(rules, _slot(datetime(2026, 3, 28, 15, 0, tzinfo=UTC)))


def test_crossing_midnight_needs_both_days_and_the_whole_day() -> None:
    late = _slot(datetime(2026, 12, 2, 21, 30, tzinfo=UTC))  # Wed 23:30 - Thu 00:30 in Helsinki
    _check(RoomRules(), late)
    _check(RoomRules(hours_start="00:00", hours_end="24:00", days=(2, 3)), late)
    with pytest.raises(RuleBroken):
        _check(RoomRules(days=(2,)), late)  # Thursday not allowed
    with pytest.raises(RuleBroken):
        _check(RoomRules(hours_start="00:00", hours_end="23:59"), late)
    with pytest.raises(RuleBroken):
        _check(RoomRules(hours_start="00:15", hours_end="24:00"), late)
    # Ending at midnight exactly stays on one day.
    _check(RoomRules(hours_start="08:00", hours_end="24:00", days=(2,)),
           _slot(datetime(2026, 12, 2, 21, 0, tzinfo=UTC)))


@pytest.mark.parametrize("bookers", [(EMAIL,), ("ALEXW@Example.com",), (KEY,), (KEY.upper(), "someone@example.com")])
def test_listed_bookers_by_email_or_aad_id(bookers: tuple[str, ...]) -> None:
    _check(RoomRules(bookers=bookers), _slot(NOW + timedelta(hours=1)))


def test_unlisted_people_may_not_book() -> None:
    rules = RoomRules(bookers=("meganb@example.com", "99999999-2222-3333-4444-555555555555"))
    with pytest.raises(RuleBroken) as refused:
        _check(rules, _slot(NOW + timedelta(hours=1)))
    assert refused.value.reason == BOOKERS
    assert refused.value.message == "Only some people may book Aurora. Ask an admin if you need it."
    with pytest.raises(RuleBroken):  # no email known: the key alone decides
        _check(rules, _slot(NOW + timedelta(hours=1)), email="")
    _check(RoomRules(bookers=()), _slot(NOW + timedelta(hours=1)))  # () is everyone


def test_room_rules_inherit_every_unset_field_from_the_defaults() -> None:
    defaults = RoomRules(window_days=30, max_minutes=240, hours_start="07:00", hours_end="19:00", bookers=(),
                         release_after_min=10)
    room = RoomRules(window_days=7, bookers=(EMAIL,))
    rules = effective_rules(defaults, room)
    assert (rules.window_days, rules.max_minutes, rules.hours_start, rules.bookers, rules.release_after_min) == \
        (7, 240, "07:00", (EMAIL,), 10)
    assert effective_rules(defaults, None) == defaults
    with pytest.raises(RuleBroken, match="at most 4 hours"):
        _check(rules, _slot(NOW + timedelta(days=1), 300))
    with pytest.raises(RuleBroken, match="at most 7 days"):
        _check(rules, _slot(NOW + timedelta(days=8)))


def test_who_may_book_is_checked_first() -> None:
    broken = broken_rule(RoomRules(window_days=1, bookers=("x@example.com",)), _slot(NOW + timedelta(days=9)),
                         KEY, EMAIL, NOW, HELSINKI, "Aurora")
    assert broken is not None and broken.reason == BOOKERS


def test_left_out_notes_one_line_per_reason_most_rooms_first() -> None:
    window = [RuleBroken(f"Room {i} can be booked at most 3 days ahead.", WINDOW) for i in range(2)]
    hours = [RuleBroken("Echo can be booked 08:00–18:00 Mon–Fri (Europe/Helsinki).", HOURS)]
    length = [RuleBroken("x", LENGTH)] * 3
    bookers = [RuleBroken("y", BOOKERS)] * 4
    assert left_out_notes([*hours, *window]) == (
        "2 rooms are left out: they can't be booked that far ahead.",
        "Echo can be booked 08:00–18:00 Mon–Fri (Europe/Helsinki).")
    assert left_out_notes([*hours, *window, *length, *bookers]) == (
        "4 rooms are left out: only some people may book them.",
        "3 rooms are left out: they can't be booked for that long.",
        "2 rooms are left out: they can't be booked that far ahead.")


def test_days_and_summary_text() -> None:
    assert days_text((0, 1, 2, 3, 4)) == "Mon–Fri"
    assert days_text((0, 2, 4)) == "Mon, Wed, Fri"
    assert days_text((5, 6, 0)) == "Mon, Sat, Sun"
    assert days_text(None) == "every day"
    assert describe(RoomRules()) == "no limits"
    assert describe(RoomRules(hours_start="00:00", hours_end="24:00", days=tuple(range(7)))) == "no limits"
    assert describe(RoomRules(hours_start="00:00", hours_end="24:00", days=(5, 6))) == "Sat, Sun"
    assert describe(RoomRules(window_days=14, max_minutes=120, hours_start="08:00", hours_end="18:00",
                              days=(0, 1, 2, 3, 4), bookers=(EMAIL,), checkin_required=True, auto_release=True,
                              release_after_min=10)) == \
        ("up to 14 days ahead · at most 2 hours · 08:00–18:00 Mon–Fri · 1 person may book · check-in required · "
         "no-shows released after 10 min")
