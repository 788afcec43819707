"""Fair use: per-person limits on booking and searching, so one person cannot book every room for
months or spend the organisation's Graph quota. Plain functions over domain objects.

What "per day" means here: the bookings on one day (those that start on that local day in the
booker's time zone), not the bookings made on one day. A cap on bookings made per day would still
let one person hold a room every day for months, a few days at a time; a cap on one day's
bookings and hours stops hogging where it hurts, and the cap on upcoming bookings stops the months.
Cancelled bookings do not count; pending ones (a Book press in flight) do, so two presses at once
cannot both pass."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from domain.calendar import TimeSlot
from domain.errors import DomainError, ValidationFailed
from domain.models import BOOKING_CANCELLED, Booking, OrgSettings
from domain.timezones import format_day, format_slot, local_day_window, to_local

SEARCH_WINDOW = timedelta(minutes=1)

# name: (title on the admin card, lowest, highest)
LIMIT_BOUNDS: dict[str, tuple[str, int, int]] = {
    "max_upcoming_bookings": ("Upcoming bookings per person, at most", 1, 500),
    "max_bookings_per_day": ("Bookings per person on one day, at most", 1, 50),
    "max_hours_per_day": ("Hours booked per person on one day, at most", 1, 24),
    "max_searches_per_minute": ("Searches per person per minute, at most", 1, 600),
}
_DIGITS = re.compile(r"[0-9]{1,4}")  # ASCII digits only: no signs, spaces, '١٢' or '1e3'


class LimitReached(DomainError):
    """A fair-use limit says no; the message says which and when it lifts."""

    user_message = "You have reached a fair-use limit."


class SearchRateExceeded(LimitReached):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"You've searched a lot in the last minute; try again in {retry_after_s} s.")
        self.retry_after_s = retry_after_s


def parse_limit(name: str, value: object) -> int:
    """One limit from an admin's card input: a whole number within its bounds, ASCII digits only."""
    title, low, high = LIMIT_BOUNDS[name]
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not _DIGITS.fullmatch(text) or not low <= int(text) <= high:
        raise ValidationFailed(f"{title}: give a whole number from {low} to {high}.")
    return int(text)


def parse_limits(values: Mapping[str, object]) -> dict[str, int]:
    return {name: parse_limit(name, values.get(name)) for name in LIMIT_BOUNDS}


def highest_limits(settings: OrgSettings) -> OrgSettings:
    """The highest limits an admin can set: for load tests and benchmarks, which simulate far more
    booking per person than fair use allows."""
    return replace(settings, **{name: high for name, (_, _, high) in LIMIT_BOUNDS.items()})


def _counted(bookings: Iterable[Booking]) -> list[Booking]:
    return [b for b in bookings if b.status != BOOKING_CANCELLED]


def _hours(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" + (f" {rest} min" if rest else "")


def _overlap(slot: TimeSlot, start: datetime, end: datetime) -> timedelta:
    return max(timedelta(0), min(slot.end, end) - max(slot.start, start))


def _days(slot: TimeSlot, zone: str) -> list[tuple[datetime, datetime]]:
    """The local days (as UTC windows) a slot touches: one, or two when it runs past midnight."""
    days = [local_day_window(slot.start, zone)]
    last = slot.end - timedelta(microseconds=1)
    if to_local(last, zone).date() != to_local(slot.start, zone).date():
        days.append(local_day_window(last, zone))
    return days


def check_upcoming(settings: OrgSettings, mine: Sequence[Booking], now: datetime, zone: str) -> None:
    """At most `max_upcoming_bookings` bookings not over yet. Lifts when the first of them ends."""
    upcoming = sorted((b for b in _counted(mine) if b.end > now), key=lambda b: b.end)
    limit = settings.max_upcoming_bookings
    if len(upcoming) >= limit:
        first = upcoming[len(upcoming) - limit]  # the booking whose end brings the count under the limit
        raise LimitReached(
            f"You already have {len(upcoming)} upcoming bookings, the most allowed. Cancel one in My bookings, "
            f"or wait until {format_slot(first.start, first.end, zone)} ends.")


def check_day(settings: OrgSettings, mine: Sequence[Booking], slot: TimeSlot, zone: str, *,
              count: bool = True) -> None:
    """On each local day the slot touches: fewer than `max_bookings_per_day` bookings starting that
    day (unless `count` is False), and at most `max_hours_per_day` hours booked that day with this
    slot."""
    counted = _counted(mine)
    for day_start, day_end in _days(slot, zone):
        day = format_day(day_start, zone)
        starting = [b for b in counted if day_start <= b.start < day_end]
        if count and day_start <= slot.start < day_end and len(starting) >= settings.max_bookings_per_day:
            raise LimitReached(
                f"You already have {len(starting)} bookings on {day}, the most allowed for one day. Cancel one in "
                f"My bookings, or pick another day.")
        booked = sum((_overlap(TimeSlot(day_start, day_end), b.start, b.end) for b in counted), timedelta(0))
        adding = _overlap(TimeSlot(day_start, day_end), slot.start, slot.end)
        allowed = timedelta(hours=settings.max_hours_per_day)
        if booked + adding > allowed:
            left = allowed - booked
            more = (f"book at most {_hours(left)} more that day" if left >= timedelta(minutes=15)
                    else "cancel or shorten one in My bookings")
            raise LimitReached(
                f"That would make {_hours(booked + adding)} booked on {day}; the most is "
                f"{settings.max_hours_per_day} h a day. You have {_hours(booked)} booked that day already: {more}, "
                f"or pick another day.")


def check_new_booking(settings: OrgSettings, mine: Sequence[Booking], slot: TimeSlot, zone: str,
                      now: datetime, *, exempt: bool = False) -> None:
    """The limits a new booking must pass. Booking admins are exempt (they book for others)."""
    if exempt:
        return
    check_upcoming(settings, mine, now, zone)
    check_day(settings, mine, slot, zone)


def check_changed_booking(settings: OrgSettings, mine: Sequence[Booking], booking: Booking, slot: TimeSlot,
                          zone: str, *, exempt: bool = False) -> None:
    """A booking changed or moved to `slot`: the day limits, counting it at its new time only. A
    change that neither lengthens it nor moves it to another day is always allowed (it takes
    nothing more than it had)."""
    if exempt:
        return
    same_day = to_local(slot.start, zone).date() == to_local(booking.start, zone).date()
    if same_day and slot.end - slot.start <= booking.end - booking.start:
        return
    # The booking itself counts at its new time only; on its own day the number of bookings stays.
    check_day(settings, [b for b in mine if b.id != booking.id], slot, zone, count=not same_day)


def check_search_rate(recent: Iterable[datetime], now: datetime, limit: int) -> list[datetime]:
    """A sliding one-minute window: the searches of the last minute, with this one, or
    SearchRateExceeded saying when the oldest of them leaves the window."""
    kept = sorted(t for t in recent if now - SEARCH_WINDOW < t <= now)
    if len(kept) >= limit:
        frees_at = kept[len(kept) - limit] + SEARCH_WINDOW
        raise SearchRateExceeded(max(1, math.ceil((frees_at - now).total_seconds())))
    return [*kept, now][-limit:]
