"""The admin report: bookings, hours booked, check-in rate, released no-shows and utilisation per room
and per building over the last 7 or 30 days. Pure: bookings and the registry in, figures out.

Definitions (the card and the README say the same):
- The period is today and the days before it (`period_days` days in all, local days in the report's
  zone), up to now: what has not happened yet is not counted.
- A booking counts when it started in the period and was not cancelled by a person: bookings still on,
  and released no-shows (cancelled by RoomBot, `no_show`). Pending ones (never confirmed) do not count.
- Hours booked: each counted booking's time inside the period; a released no-show's only until its
  release (start + the room's release delay, or its end if sooner): the room was held that long.
- Check-in rate: checked in / counted bookings that were checked in, or whose check-in window has
  closed (start + the room's release delay, or its end if sooner) in a room that asks for check-in
  (check-in required or auto-release on, by its rules now); "no data" while there are none.
- Utilisation: booked time inside the room's available hours / those hours. Available hours are the
  room's rules' allowed hours and days where set, else working hours, Mon-Fri 08:00-18:00, in the
  report's zone; overlapping bookings count once.
- Rooms removed from the registry since are left out; rooms with no bookings show 0.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass
from datetime import date, datetime, time, timedelta

from domain.attendance import asks_for_checkin, checkin_closes
from domain.models import BOOKING_BOOKED, BOOKING_CANCELLED, Booking, Building, Floor, Room
from domain.rules import RoomRules, effective_rules
from domain.timezones import local_to_utc, to_local

PERIODS = (7, 30)  # the periods the card offers, in days
WORKING_HOURS = (time(8), time(18))  # the available hours where a room's rules set none
WORKING_DAYS = (0, 1, 2, 3, 4)  # Monday to Friday
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting so as a formula

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Figures:
    """One room's, one building's or the whole organisation's numbers (times in seconds)."""

    bookings: int = 0
    booked_s: int = 0  # booked time in the period
    checked_in: int = 0
    checkin_due: int = 0  # bookings whose check-in window has closed, or checked in: the rate's base
    no_shows: int = 0  # released no-shows
    used_s: int = 0  # booked time inside the available hours
    available_s: int = 0

    @property
    def hours_booked(self) -> float:
        return self.booked_s / 3600

    @property
    def checkin_rate(self) -> float | None:
        return self.checked_in / self.checkin_due if self.checkin_due else None

    @property
    def utilisation(self) -> float | None:
        return self.used_s / self.available_s if self.available_s else None

    def __add__(self, other: Figures) -> Figures:
        return Figures(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass(frozen=True)
class RoomRow:
    room: Room
    building: str  # names, for the card and the CSV
    floor: str
    figures: Figures
    rules_hours: bool  # its available hours come from its rules, not working hours


@dataclass(frozen=True)
class BuildingRow:
    building_id: str
    name: str
    rooms: int
    figures: Figures


@dataclass(frozen=True)
class Report:
    period_days: int
    start: datetime  # UTC: the first day's local midnight
    end: datetime  # UTC: now
    zone: str
    totals: Figures
    buildings: list[BuildingRow]  # by name
    rooms: list[RoomRow]  # busiest first: utilisation, then hours booked, then name


def build_report(bookings: Iterable[Booking], rooms: Sequence[Room], buildings: Sequence[Building],
                 floors: Sequence[Floor], period_days: int, now: datetime, defaults: RoomRules,
                 zone: str = "UTC") -> Report:
    """The report for the `period_days` local days up to `now` (see the module's definitions).
    `defaults` are the organisation's room rules; `zone` the one local days and hours are read in."""
    if period_days < 1:
        raise ValueError("a report covers at least one day")
    first_day = to_local(now, zone).date() - timedelta(days=period_days - 1)
    period = (local_to_utc(first_day, time(0), zone), now)
    by_room: dict[str, list[Booking]] = {}
    for booking in bookings:
        by_room.setdefault(booking.room_email, []).append(booking)
    building_names = {b.id: b.name for b in buildings}
    floor_names = {f.id: f.name for f in floors}
    rows = []
    windows: dict[RoomRules, list[Interval]] = {}  # rooms under the same rules share their available hours
    for room in rooms:
        rules = effective_rules(defaults, room.rules)
        if rules not in windows:
            windows[rules] = _available(rules, first_day, period_days, zone, period)
        figures = _room_figures(by_room.get(room.email, []), rules, period, windows[rules])
        rows.append(RoomRow(room, building_names.get(room.building_id, ""), floor_names.get(room.floor_id, ""),
                            figures, rules.hours_start is not None or rules.days is not None))
    rows.sort(key=lambda r: (-(r.figures.utilisation or 0), -r.figures.booked_s, r.room.display_name.lower()))
    return Report(period_days, period[0], now, zone, sum((r.figures for r in rows), Figures()),
                  _building_rows(rows, building_names), rows)


def _building_rows(rows: Sequence[RoomRow], names: Mapping[str, str]) -> list[BuildingRow]:
    grouped: dict[str, list[RoomRow]] = {}
    for row in rows:
        grouped.setdefault(row.room.building_id, []).append(row)
    found = [BuildingRow(building_id, names.get(building_id, building_id), len(members),
                         sum((r.figures for r in members), Figures())) for building_id, members in grouped.items()]
    return sorted(found, key=lambda b: b.name.lower())


def _room_figures(bookings: Sequence[Booking], rules: RoomRules, period: Interval,
                  available: Sequence[Interval]) -> Figures:
    start, now = period
    counted = [b for b in bookings if start <= b.start < now and _counts(b)]
    held = [_clip((b.start, checkin_closes(b, rules) if b.no_show else b.end), period) for b in counted]
    held = [h for h in held if h is not None]
    asks = asks_for_checkin(rules)
    due = [b for b in counted if b.checked_in_at is not None or (asks and checkin_closes(b, rules) <= now)]
    return Figures(
        bookings=len(counted),
        booked_s=sum(_seconds(h) for h in held),
        checked_in=sum(b.checked_in_at is not None for b in counted),
        checkin_due=len(due),
        no_shows=sum(b.no_show for b in counted),
        used_s=_overlap_s(_union(held), available),
        available_s=sum(_seconds(a) for a in available),
    )


def _counts(booking: Booking) -> bool:
    """On, or released as a no-show; not cancelled by a person, not pending."""
    return booking.status == BOOKING_BOOKED or (booking.status == BOOKING_CANCELLED and booking.no_show)


def _available(rules: RoomRules, first_day: date, days: int, zone: str, period: Interval) -> list[Interval]:
    """The room's available hours in the period: its rules' hours and days where set, else working hours."""
    opens, closes = (_clock(rules.hours_start), _clock(rules.hours_end)) if rules.hours_start and rules.hours_end \
        else (WORKING_HOURS[0], WORKING_HOURS[1])
    weekdays = set(rules.days) if rules.days is not None else set(WORKING_DAYS)
    found = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if day.weekday() not in weekdays:
            continue
        close_day = day + timedelta(days=1) if closes is None else day
        window = _clip((local_to_utc(day, opens or time(0), zone),
                        local_to_utc(close_day, closes or time(0), zone)), period)
        if window is not None:
            found.append(window)
    return found


def _clock(value: str) -> time | None:
    """"HH:MM" as a time; None for "24:00" (the end of the day)."""
    return None if value == "24:00" else time.fromisoformat(value)


def _clip(interval: Interval, bounds: Interval) -> Interval | None:
    start, end = max(interval[0], bounds[0]), min(interval[1], bounds[1])
    return (start, end) if start < end else None


def _seconds(interval: Interval) -> int:
    return int((interval[1] - interval[0]).total_seconds())


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _overlap_s(held: Sequence[Interval], available: Sequence[Interval]) -> int:
    """The time two sorted lists of disjoint intervals share, in one pass over both."""
    total, first = 0, 0
    for start, end in held:
        while first < len(available) and available[first][1] <= start:
            first += 1
        for window in available[first:]:
            if window[0] >= end:
                break
            both = _clip((start, end), window)
            total += _seconds(both) if both else 0
    return total


# --- CSV -----------------------------------------------------------------------------------

CSV_HEADER = ("building", "floor", "room", "email", "bookings", "hours booked", "checked in", "no-shows released",
              "check-in rate %", "utilisation %")


def report_csv(report: Report) -> str:
    """One row per room, as CSV; names that a spreadsheet would read as a formula are escaped."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in sorted(report.rooms, key=lambda r: (r.building.lower(), r.floor.lower(), r.room.display_name.lower())):
        f = row.figures
        writer.writerow([_cell(row.building), _cell(row.floor), _cell(row.room.display_name), _cell(row.room.email),
                         f.bookings, f"{f.hours_booked:.2f}", f.checked_in, f.no_shows, _percent(f.checkin_rate),
                         _percent(f.utilisation)])
    return out.getvalue()


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _percent(fraction: float | None) -> str:
    return "" if fraction is None else f"{fraction * 100:.1f}"
