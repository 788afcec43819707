"""The admin report's numbers against a seeded history, every figure worked out by hand in the comments
(not by the code under test), and its CSV."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dialogs.report import ReportFlow
from domain.models import BOOKING_BOOKED, BOOKING_CANCELLED, BOOKING_PENDING, Booking, Building, Floor, Room
from domain.report import CSV_HEADER, build_report, report_csv
from domain.rules import RoomRules
from storage.backends import MemoryBackend
from storage.repository import Repository
from tests.service_helpers import org_repo

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday, noon
DEFAULTS = RoomRules(checkin_required=True, release_after_min=10)
BUILDINGS = [Building("b-hq", "HQ"), Building("b-annex", "Annex")]
FLOORS = [Floor("f-1", "b-hq", "Floor 1"), Floor("f-2", "b-hq", "Floor 2"), Floor("f-a", "b-annex", "Ground")]
A = Room("a@example.com", "Aurora", "b-hq", "f-1")  # working hours
B = Room("b@example.com", "Borealis", "b-hq", "f-2",  # 09:00-17:00 every day
         rules=RoomRules(hours_start="09:00", hours_end="17:00", days=(0, 1, 2, 3, 4, 5, 6)))
C = Room("c@example.com", "Cirrus", "b-annex", "f-a", rules=RoomRules(release_after_min=30))  # working hours
D = Room("d@example.com", "Dune", "b-annex", "f-a")  # never booked
ROOMS = [A, B, C, D]


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in Nov/Dec 2026 (UTC): day 26..30 is November, 1..2 December."""
    return datetime(2026, 11 if day > 2 else 12, day, hour, minute, tzinfo=UTC)


def _booking(n: int, room: Room, start: datetime, end: datetime, *, status: str = BOOKING_BOOKED,
             checked_in: bool = False, no_show: bool = False) -> Booking:
    return Booking(id=f"bk-{n}", room_email=room.email, event_id=f"ev-{n}", ical_uid=f"uid-{n}",
                   booker_aad_id="aad-alex", booker_email="alex@example.com", start=start, end=end, status=status,
                   checked_in_at=start if checked_in else None, no_show=no_show)


HISTORY = [
    # Aurora (working hours Mon-Fri 08-18; check-in closes 10 min after the start)
    _booking(1, A, _at(26, 9), _at(26, 11), checked_in=True),  # Thu: 2 h, all inside, checked in
    _booking(2, A, _at(27, 17), _at(27, 19)),  # Fri: 2 h booked, 1 h inside 08-18; window closed, no check-in
    _booking(3, A, _at(30, 10), _at(30, 11), status=BOOKING_CANCELLED, no_show=True),  # Mon: released after 10 min
    _booking(4, A, _at(1, 14), _at(1, 15), status=BOOKING_CANCELLED),  # cancelled by a person: not counted
    _booking(5, A, datetime(2026, 11, 25, 10, tzinfo=UTC), datetime(2026, 11, 25, 11, tzinfo=UTC)),  # before
    _booking(6, A, _at(2, 11, 55), _at(2, 12, 30)),  # on now: 5 min so far; its window is still open
    _booking(7, A, _at(2, 13), _at(2, 14)),  # later today: not counted
    _booking(8, A, _at(1, 9), _at(1, 10), status=BOOKING_PENDING),  # never confirmed: not counted
    # Borealis (09-17 every day)
    _booking(9, B, _at(28, 10), _at(28, 12), checked_in=True),  # Sat: 2 h inside
    _booking(10, B, _at(28, 11), _at(28, 13), checked_in=True),  # Sat, overlapping (from Outlook): 2 h booked
    _booking(11, B, _at(29, 8), _at(29, 10)),  # Sun: 2 h booked, 1 h inside 09-17
    # Cirrus (check-in closes 30 min after the start)
    _booking(12, C, _at(1, 9), _at(1, 17), status=BOOKING_CANCELLED, no_show=True),  # released after 30 min
    _booking(13, C, _at(2, 11, 40), _at(2, 12)),  # 20 min; its window closed at its end, 12:00 (now)
]


def _report(period: int = 7, zone: str = "UTC", bookings: list[Booking] | None = None):
    return build_report(HISTORY if bookings is None else bookings, ROOMS, BUILDINGS, FLOORS, period, NOW, DEFAULTS,
                        zone)


def _row(report, room: Room):
    return next(r for r in report.rooms if r.room == room)


def test_each_rooms_figures_match_the_hand_computed_history() -> None:
    report = _report()
    # The period: Thu 26 Nov 00:00 to Wed 2 Dec 12:00 (7 days, today included, up to now).
    assert report.start == _at(26, 0) and report.end == NOW
    a = _row(report, A).figures
    # Counted: 1, 2, 3, 6 (4 cancelled by a person, 5 before the period, 7 later, 8 pending).
    assert a.bookings == 4
    # 2 h + 2 h + 10 min (released) + 5 min (until now) = 4 h 15 min = 15,300 s
    assert a.booked_s == 15_300 and a.hours_booked == pytest.approx(4.25)
    # Working hours: Thu, Fri, Mon, Tue 10 h each + Wed 08:00-12:00 4 h = 44 h = 158,400 s
    assert a.available_s == 158_400
    # Inside them: 2 h + 1 h (17-18) + 10 min + 5 min = 3 h 15 min = 11,700 s
    assert a.used_s == 11_700 and a.utilisation == pytest.approx(11_700 / 158_400)
    # Check-in due: 1, 2, 3 (6's window is open until 12:05); checked in: 1
    assert (a.checked_in, a.checkin_due, a.checkin_rate) == (1, 3, pytest.approx(1 / 3))
    assert a.no_shows == 1

    b = _row(report, B).figures
    # 3 bookings, 6 h booked; inside 09-17: Sat 10-13 once (overlap counted once) 3 h + Sun 09-10 1 h = 4 h
    assert (b.bookings, b.booked_s, b.used_s) == (3, 21_600, 14_400)
    # Available: 8 h on Thu..Tue (6 days) + Wed 09-12 3 h = 51 h
    assert b.available_s == 51 * 3600
    assert (b.checked_in, b.checkin_due, b.no_shows) == (2, 3, 0)

    c = _row(report, C).figures
    # Released after 30 min (its own rule) = 1,800 s, + 20 min = 1,200 s; both windows closed
    assert (c.bookings, c.booked_s, c.used_s, c.available_s) == (2, 3_000, 3_000, 158_400)
    assert (c.checked_in, c.checkin_due, c.checkin_rate, c.no_shows) == (0, 2, 0.0, 1)

    d = _row(report, D).figures
    assert (d.bookings, d.booked_s, d.available_s, d.utilisation, d.checkin_rate) == (0, 0, 158_400, 0.0, None)


def test_check_in_counts_where_rooms_ask_for_it() -> None:
    quiet = replace(D, rules=RoomRules(checkin_required=False, auto_release=False))
    releasing = replace(D, email="e@example.com", rules=RoomRules(checkin_required=False, auto_release=True))
    history = [_booking(30, quiet, _at(27, 9), _at(27, 10)),  # not asked, not checked in: not due
               _booking(31, quiet, _at(27, 11), _at(27, 12), checked_in=True),  # checked in anyway: counts
               _booking(32, releasing, _at(27, 9), _at(27, 9, 5))]  # auto-release asks; closes at its end, 09:05
    report = build_report(history, [quiet, releasing], BUILDINGS, FLOORS, 7, NOW, DEFAULTS)
    assert [(r.figures.checked_in, r.figures.checkin_due) for r in report.rooms] == [(1, 1), (0, 1)]
    early = build_report(history, [releasing], BUILDINGS, FLOORS, 7, _at(27, 9, 6), DEFAULTS)
    assert early.rooms[0].figures.checkin_due == 1  # closed at 09:05 (its end), before 09:10


def test_totals_and_buildings_add_the_rooms_up() -> None:
    report = _report()
    t = report.totals
    # bookings 4+3+2+0; booked 15,300+21,600+3,000; checked in 1+2+0; due 3+3+2; no-shows 1+0+1
    assert (t.bookings, t.booked_s, t.checked_in, t.checkin_due, t.no_shows) == (9, 39_900, 3, 8, 2)
    # used 11,700+14,400+3,000; available 158,400 + 183,600 + 158,400 + 158,400
    assert (t.used_s, t.available_s) == (29_100, 658_800)
    assert t.checkin_rate == pytest.approx(3 / 8) and t.utilisation == pytest.approx(29_100 / 658_800)
    annex, hq = report.buildings  # by name
    assert (annex.name, annex.rooms, annex.figures.bookings, annex.figures.used_s, annex.figures.available_s) == (
        "Annex", 2, 2, 3_000, 316_800)
    assert (hq.name, hq.rooms, hq.figures.bookings, hq.figures.booked_s, hq.figures.checkin_due) == (
        "HQ", 2, 7, 36_900, 6)
    assert hq.figures.used_s == 26_100 and hq.figures.available_s == 342_000


def test_rooms_come_busiest_first() -> None:
    # Borealis 14,400/183,600 = 7.8 % > Aurora 11,700/158,400 = 7.4 % > Cirrus 1.9 % > Dune 0
    assert [r.room.display_name for r in _report().rooms] == ["Borealis", "Aurora", "Cirrus", "Dune"]


def test_thirty_days_reach_further_back() -> None:
    report = _report(30)
    # From Tue 3 Nov 00:00: booking 5 (Wed 25 Nov, 1 h, inside working hours) now counts too
    assert report.start == datetime(2026, 11, 3, tzinfo=UTC)
    assert _row(report, A).figures.bookings == 5 and _row(report, A).figures.booked_s == 15_300 + 3_600
    # Working days 3 Nov .. 1 Dec: 21 (Mon-Fri of four weeks and a day, 3 Nov a Tuesday) x 10 h + 4 h today
    assert _row(report, A).figures.available_s == (21 * 10 + 4) * 3600


def test_local_days_and_hours_follow_the_zone() -> None:
    # In Helsinki (UTC+2 in December) working hours are 06:00-16:00 UTC, and the period starts at
    # Wed 25 Nov 22:00 UTC: a booking at 07:00-08:00 UTC lies inside, one at 16:30-17:30 UTC outside.
    early = _booking(20, D, _at(27, 7), _at(27, 8))
    late = _booking(21, D, _at(27, 16, 30), _at(27, 17, 30))
    report = _report(zone="Europe/Helsinki", bookings=[early, late])
    assert report.start == datetime(2026, 11, 25, 22, tzinfo=UTC)
    d = _row(report, D).figures
    # Thu, Fri, Mon, Tue 10 h + Wed (14:00 local now) 08:00-14:00 6 h = 46 h
    assert (d.bookings, d.booked_s, d.used_s, d.available_s) == (2, 7_200, 3_600, 46 * 3600)


def test_midnight_as_the_end_of_allowed_hours() -> None:
    allday = replace(D, rules=RoomRules(hours_start="00:00", hours_end="24:00", days=(0, 1, 2, 3, 4, 5, 6)))
    report = build_report([], [allday], BUILDINGS, FLOORS, 7, NOW, DEFAULTS)
    assert report.rooms[0].figures.available_s == (6 * 24 + 12) * 3600 and report.rooms[0].rules_hours


def test_the_csv_has_one_row_per_room_with_the_same_numbers() -> None:
    rows = list(csv.reader(io.StringIO(report_csv(_report()))))
    assert tuple(rows[0]) == CSV_HEADER
    by_room = {r[2]: r for r in rows[1:]}
    assert len(rows) == 1 + len(ROOMS)
    # Aurora: 4 bookings, 4.25 h, 1 checked in, 1 released, 1/3 = 33.3 %, 11,700/158,400 = 7.4 %
    assert by_room["Aurora"] == ["HQ", "Floor 1", "Aurora", "a@example.com", "4", "4.25", "1", "1", "33.3", "7.4"]
    # Dune: nothing due, so no check-in rate
    assert by_room["Dune"] == ["Annex", "Ground", "Dune", "d@example.com", "0", "0.00", "0", "0", "", "0.0"]


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)", "\tTab"])
def test_csv_cells_a_spreadsheet_would_run_are_escaped(name: str) -> None:
    room = replace(D, display_name=name)
    text = report_csv(build_report([], [room], [Building("b-annex", name)], FLOORS, 7, NOW, DEFAULTS))
    row = list(csv.reader(io.StringIO(text)))[1]
    assert row[0] == row[2] == "'" + name


async def test_a_long_report_gives_the_event_loop_back_while_it_reads() -> None:
    repo: Repository = org_repo()
    room = repo.list_rooms()[0]
    now = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    start = now - timedelta(days=3)
    repo.import_bookings(_booking(n, room, start + timedelta(minutes=n), start + timedelta(minutes=n + 30))
                         for n in range(500))
    assert isinstance(repo._backend, MemoryBackend)  # the point is the chunks, not the backend's speed
    flow = ReportFlow(repo, "https://bot.example.com", "UTC", lambda: now)
    ticks = 0
    done = asyncio.Event()

    async def other_turns() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(other_turns())
    await asyncio.sleep(0)
    report = await flow._report(7)
    done.set()
    await ticker
    assert report.totals.bookings == 500
    assert ticks >= 500 // 50  # other work ran between every chunk of 50 bookings
