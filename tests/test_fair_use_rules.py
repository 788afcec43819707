"""Fair-use limits and invitee rules as plain functions: which limit, the message that says when it
lifts, exemptions, what an admin may type; and the cache of the tenant's room addresses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.attendees import AttendeeRefused, check_invitees, own_domains, parse_guest_domains, policy
from domain.calendar import DirectoryRoom, TimeSlot
from domain.errors import GraphUnavailable, ValidationFailed
from domain.fair_use import (
    LimitReached,
    SearchRateExceeded,
    check_changed_booking,
    check_new_booking,
    check_search_rate,
    parse_limit,
    parse_limits,
)
from domain.models import BOOKING_BOOKED, BOOKING_CANCELLED, BOOKING_PENDING, Booking, OrgSettings
from services.resources import ResourceDirectory

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 10:00 in Helsinki
ZONE = "Europe/Helsinki"
LIMITS = OrgSettings()  # the defaults: 10 upcoming, 5 a day, 8 h a day, 20 searches a minute


def _booking(n: int, start: datetime, minutes: int = 60, status: str = BOOKING_BOOKED) -> Booking:
    return Booking(id=f"b{n}", room_email="hq-echo@example.com", event_id=f"e{n}", ical_uid="", booker_aad_id="alex",
                   booker_email="alexw@example.com", start=start, end=start + timedelta(minutes=minutes),
                   status=status, zone=ZONE)


def _slot(start: datetime, minutes: int = 60) -> TimeSlot:
    return TimeSlot(start, start + timedelta(minutes=minutes))


def _days(n: int, hour: int = 7) -> datetime:
    """`n` days after NOW's day, at `hour` UTC."""
    return NOW.replace(hour=hour) + timedelta(days=n)


# --- upcoming bookings ----------------------------------------------------------------------


def test_the_eleventh_upcoming_booking_is_refused_saying_when_the_limit_lifts() -> None:
    mine = [_booking(i, _days(i + 1)) for i in range(10)]
    with pytest.raises(LimitReached) as refused:
        check_new_booking(LIMITS, mine, _slot(_days(20)), ZONE, NOW)
    assert refused.value.message == (
        "You already have 10 upcoming bookings, the most allowed. Cancel one in My bookings, or wait until "
        "Wed 2 Dec 2026, 09:00–10:00 (Europe/Helsinki) ends.")
    check_new_booking(LIMITS, mine[:9], _slot(_days(20)), ZONE, NOW)  # the tenth is fine


def test_cancelled_and_past_bookings_do_not_count_but_pending_ones_do() -> None:
    upcoming = [_booking(i, _days(i + 1)) for i in range(9)]
    others = [_booking(20, _days(12), status=BOOKING_CANCELLED), _booking(21, NOW - timedelta(hours=3))]
    check_new_booking(LIMITS, upcoming + others, _slot(_days(20)), ZONE, NOW)
    with pytest.raises(LimitReached, match="10 upcoming bookings"):
        check_new_booking(LIMITS, [*upcoming, _booking(22, _days(13), status=BOOKING_PENDING)], _slot(_days(20)),
                          ZONE, NOW)


def test_booking_admins_are_exempt_from_the_booking_limits() -> None:
    mine = [_booking(i, _days(1, hour=6 + i), minutes=60) for i in range(10)]
    check_new_booking(LIMITS, mine, _slot(_days(1, hour=17)), ZONE, NOW, exempt=True)
    with pytest.raises(LimitReached):
        check_new_booking(LIMITS, mine, _slot(_days(1, hour=17)), ZONE, NOW)


# --- one day --------------------------------------------------------------------------------


def test_a_sixth_booking_on_one_day_is_refused_and_other_days_are_fine() -> None:
    day = [_booking(i, _days(1, hour=5 + i), minutes=30) for i in range(5)]  # 07:00.. Helsinki, 2.5 h in all
    with pytest.raises(LimitReached) as refused:
        check_new_booking(LIMITS, day, _slot(_days(1, hour=12)), ZONE, NOW)
    assert refused.value.message == ("You already have 5 bookings on Wed 2 Dec 2026, the most allowed for one day. "
                                     "Cancel one in My bookings, or pick another day.")
    check_new_booking(LIMITS, day, _slot(_days(2, hour=12)), ZONE, NOW)


def test_the_day_is_the_bookers_local_day() -> None:
    # 22:30 UTC on the 1st is 00:30 on the 2nd in Helsinki: these five are on the 2nd there.
    late = [_booking(i, NOW.replace(hour=22, minute=30) + timedelta(minutes=i), minutes=15) for i in range(5)]
    with pytest.raises(LimitReached, match="5 bookings on Wed 2 Dec"):
        check_new_booking(LIMITS, late, _slot(_days(1, hour=12)), ZONE, NOW)
    check_new_booking(LIMITS, late, _slot(_days(1, hour=12)), "UTC", NOW)  # in UTC they are on the 1st


def test_hours_per_day_are_summed_and_the_message_says_how_much_is_left() -> None:
    mine = [_booking(1, _days(1, hour=5), minutes=240), _booking(2, _days(1, hour=10), minutes=210)]  # 7 h 30 min
    with pytest.raises(LimitReached) as refused:
        check_new_booking(LIMITS, mine, _slot(_days(1, hour=15), minutes=60), ZONE, NOW)
    assert refused.value.message == (
        "That would make 8 h 30 min booked on Wed 2 Dec 2026; the most is 8 h a day. You have 7 h 30 min booked "
        "that day already: book at most 30 min more that day, or pick another day.")
    check_new_booking(LIMITS, mine, _slot(_days(1, hour=15), minutes=30), ZONE, NOW)


def test_a_booking_past_midnight_counts_on_both_days() -> None:
    mine = [_booking(1, _days(2, hour=6), minutes=480)]  # 08:00-16:00 on the 3rd, Helsinki
    # 22:00 on the 2nd to 01:00 on the 3rd: one hour of it falls on the full 3rd.
    with pytest.raises(LimitReached, match="9 h booked on Thu 3 Dec"):
        check_new_booking(LIMITS, mine, _slot(_days(1, hour=20), minutes=180), ZONE, NOW)


def test_a_change_must_fit_the_day_only_when_it_lengthens_or_moves_the_booking() -> None:
    full = [_booking(i, _days(1, hour=5 + 2 * i), minutes=90) for i in range(5)]  # 5 bookings, 7.5 h on the 2nd
    other = _booking(9, _days(2, hour=8), minutes=60)
    mine = [*full, other]
    # Shorter or the same length, on its own day: always fine (even at the limits).
    check_changed_booking(LIMITS, mine, full[0], _slot(full[0].start + timedelta(minutes=30), 60), ZONE)
    # Longer on its own day: the hours limit, but not the count (it is already one of the five).
    check_changed_booking(LIMITS, mine, full[0], _slot(full[0].start, 120), ZONE)
    with pytest.raises(LimitReached, match="8 h 30 min booked"):
        check_changed_booking(LIMITS, mine, full[0], _slot(full[0].start, 150), ZONE)
    # Moved to the full day: a sixth booking there.
    with pytest.raises(LimitReached, match="5 bookings on Wed 2 Dec"):
        check_changed_booking(LIMITS, mine, other, _slot(_days(1, hour=18)), ZONE)
    check_changed_booking(LIMITS, mine, other, _slot(_days(1, hour=18)), ZONE, exempt=True)
    check_changed_booking(LIMITS, mine, full[0], _slot(_days(3, hour=8), 90), ZONE)  # to an empty day


# --- searches -------------------------------------------------------------------------------


def test_the_search_rate_is_a_sliding_minute_and_says_when_to_try_again() -> None:
    recent = [NOW - timedelta(seconds=20) + timedelta(milliseconds=i) for i in range(20)]
    with pytest.raises(SearchRateExceeded) as refused:
        check_search_rate(recent, NOW, 20)
    assert refused.value.message == "You've searched a lot in the last minute; try again in 40 s."
    assert refused.value.retry_after_s == 40
    kept = check_search_rate([*recent[:19], NOW - timedelta(seconds=61)], NOW, 20)  # the old one left the window
    assert kept[-1] == NOW and len(kept) == 20


# --- what an admin may type -----------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "0", "501", "-1", "+5", "1e3", "10.0", " 1 0", "١٠", "１０", "1\x000", True,
                                   None, 10.0])
def test_limits_are_bounded_whole_numbers_in_ascii_digits(value: object) -> None:
    with pytest.raises(ValidationFailed, match="give a whole number from 1 to 500"):
        parse_limit("max_upcoming_bookings", value)


def test_valid_limits_are_parsed() -> None:
    assert parse_limit("max_upcoming_bookings", " 12 ") == 12 and parse_limit("max_hours_per_day", 24) == 24
    assert parse_limits({"max_upcoming_bookings": "3", "max_bookings_per_day": "2", "max_hours_per_day": "4",
                         "max_searches_per_minute": "600"}) == {
        "max_upcoming_bookings": 3, "max_bookings_per_day": 2, "max_hours_per_day": 4, "max_searches_per_minute": 600}
    with pytest.raises(ValidationFailed, match="Hours booked per person on one day, at most: .* 1 to 24"):
        parse_limit("max_hours_per_day", "25")


# --- invitees -------------------------------------------------------------------------------


def _rules(settings: OrgSettings = LIMITS):
    rooms = ["hq-echo@example.com", "boardroom@example.com"]
    return policy(settings, frozenset(rooms), own_domains(rooms, ["admin@contoso.co.uk"], ["alexw@example.com"]))


def test_a_room_is_never_invited() -> None:
    with pytest.raises(AttendeeRefused) as refused:
        check_invitees(["meganb@example.com", "BoardRoom@example.com"], _rules(replace(LIMITS, allow_any_guest=True)))
    assert refused.value.message == "boardroom@example.com is a room, not a person: book it on its own."


def test_outside_addresses_need_a_guest_domain_or_the_switch() -> None:
    check_invitees(["meganb@example.com", "ceo@contoso.co.uk"], _rules())  # the rooms' and an admin's domain
    with pytest.raises(AttendeeRefused) as refused:
        check_invitees(["sam@fabrikam.com"], _rules())
    assert refused.value.message.startswith("sam@fabrikam.com is outside your organisation")
    assert "add fabrikam.com to the guest domains" in refused.value.message
    check_invitees(["sam@fabrikam.com"], _rules(replace(LIMITS, guest_domains=("fabrikam.com",))))
    check_invitees(["sam@fabrikam.com"], _rules(replace(LIMITS, allow_any_guest=True)))
    with pytest.raises(AttendeeRefused):  # a subdomain is another domain
        check_invitees(["sam@mail.fabrikam.com"], _rules(replace(LIMITS, guest_domains=("fabrikam.com",))))


def test_guest_domains_are_checked_and_tidied() -> None:
    assert parse_guest_domains("Partner.com, @agency.co.uk; partner.com\nfoo.org.") == (
        "agency.co.uk", "foo.org", "partner.com")
    assert parse_guest_domains("  ") == ()
    for bad in ("partner", "part ner.com/x", "-x.com", "a@b.com", "ex_ample.com"):
        with pytest.raises(ValidationFailed):
            parse_guest_domains(bad)


# --- the tenant's room addresses ------------------------------------------------------------


class _Places:
    def __init__(self) -> None:
        self.reads = 0
        self.rooms = ["boardroom@example.com"]
        self.fail = False

    async def list_directory_rooms(self) -> list[DirectoryRoom]:
        self.reads += 1
        if self.fail:
            raise GraphUnavailable("down")
        return [DirectoryRoom(email=e, display_name=e) for e in self.rooms]

    async def list_room_lists(self) -> list[tuple[str, str]]:
        return [("hq-rooms@example.com", "HQ rooms")]

    async def list_directory_workspaces(self) -> list[str]:
        return ["hq-desks2@example.com"]


async def test_the_room_directory_is_cached_and_read_again_periodically() -> None:
    places, clock = _Places(), [0.0]
    directory = ResourceDirectory(places, refresh=timedelta(hours=1), retry=timedelta(minutes=5),
                                  monotonic=lambda: clock[0])
    expected = {"boardroom@example.com", "hq-rooms@example.com", "hq-desks2@example.com"}
    assert await directory.addresses() == expected
    places.rooms.append("new@example.com")
    clock[0] = 3599
    assert await directory.addresses() == expected and places.reads == 1  # cached
    clock[0] = 3600
    assert "new@example.com" in await directory.addresses() and places.reads == 2
    places.fail = True
    clock[0] = 7200
    assert "new@example.com" in await directory.addresses()  # a failed read keeps what was known
    clock[0] = 7200 + 299
    await directory.addresses()
    assert places.reads == 3  # tried again after 5 minutes, not at once
    clock[0] = 7200 + 300
    await directory.addresses()
    assert places.reads == 4
