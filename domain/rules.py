"""Per-room booking rules: what Exchange's room policies would check if the room did not organize
its own meetings (booking window, maximum length, allowed hours and days, who may book), and how
check-in and auto-release apply to the room.

Every field left None inherits the organisation's default (`OrgSettings.default_rules`); in the
defaults themselves None means no limit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from domain.calendar import TimeSlot
from domain.errors import DomainError, ValidationFailed
from domain.timezones import format_day, to_local, zone

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# The rules card's choices: a room's field that follows the organisation's; who may book.
DEFAULT, EVERYONE, LISTED = "default", "everyone", "listed"


@dataclass(frozen=True)
class RoomRules:
    window_days: int | None = None  # how many days ahead the room may be booked
    max_minutes: int | None = None  # the longest booking
    hours_start: str | None = None  # "HH:MM", in the building's time zone; with hours_end
    hours_end: str | None = None  # "HH:MM"; "24:00" is midnight at the end of the day
    days: tuple[int, ...] | None = None  # weekdays allowed, Monday 0 .. Sunday 6
    bookers: tuple[str, ...] | None = None  # who may book (emails or AAD object ids); () is everyone
    checkin_required: bool | None = None  # people are asked to check in
    auto_release: bool | None = None  # a booking nobody checked into is cancelled when check-in closes
    release_after_min: int | None = None  # check-in closes (and a no-show is released) this long after the start
    never_release: bool | None = None  # this room's bookings are never released

    def __post_init__(self) -> None:  # JSON gives lists back
        for name in ("days", "bookers"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | RoomRules | None) -> RoomRules | None:
        if doc is None or isinstance(doc, RoomRules):
            return doc
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})

    def over(self, defaults: RoomRules) -> RoomRules:
        """These rules with every unset field taken from `defaults`."""
        return RoomRules(**{f.name: (getattr(self, f.name) if getattr(self, f.name) is not None
                                     else getattr(defaults, f.name)) for f in fields(self)})


def effective_rules(defaults: RoomRules, room_rules: RoomRules | None) -> RoomRules:
    """A room's rules as they apply: its own, else the organisation's."""
    return room_rules.over(defaults) if room_rules is not None else defaults


def check_minutes(value: object, what: str, *, low: int = 0, high: int = 24 * 60) -> int:
    """A whole number of minutes within [low, high]; ValidationFailed says which setting is wrong."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(f"{what} must be a whole number of minutes from {low} to {high}.")
    return value


# --- checking a slot against the rules -----------------------------------------------------

# Why a room was refused; search counts the rooms it leaves out per reason.
BOOKERS, WINDOW, LENGTH, HOURS = "bookers", "window", "length", "hours"
MAX_WINDOW_DAYS = 180  # Exchange's default BookingWindowInDays, as domain.booking's horizon
MIN_LENGTH, MAX_LENGTH = 15, 8 * 60  # a booking's length, as domain.booking allows it
_DAY = 24 * 60


class RuleBroken(DomainError):
    """A room's booking rule says no; the message says which rule and what is allowed. `reason` is
    one of BOOKERS, WINDOW, LENGTH, HOURS."""

    user_message = "That room can't be booked for that time."

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason


@lru_cache(maxsize=256)
def clock_minutes(value: str, *, end: bool = False) -> int:
    """'HH:MM' as minutes after midnight; '24:00' only as an end. Raises ValueError."""
    hours, _, minutes = value.partition(":")
    if not (hours.isascii() and hours.isdigit() and minutes.isascii() and minutes.isdigit()
            and len(minutes) == 2 and 1 <= len(hours) <= 2):
        raise ValueError(value)
    total = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or total > (_DAY if end else _DAY - 1):
        raise ValueError(value)
    return total


def minutes_text(minutes: int) -> str:
    """'2 hours', '1 hour', '90 minutes'."""
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"


def days_text(days: tuple[int, ...] | None) -> str:
    """'Mon–Fri', 'Mon, Wed, Fri', 'every day'."""
    picked = sorted(set(days)) if days is not None else list(range(7))
    if len(picked) == 7:
        return "every day"
    if not picked:
        return "no day"
    runs: list[list[int]] = []
    for day in picked:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{WEEKDAYS[run[0]]}–{WEEKDAYS[run[-1]]}")
        else:
            parts += [WEEKDAYS[d] for d in run]
    return ", ".join(parts)


def hours_text(rules: RoomRules) -> str:
    """'08:00–18:00 Mon–Fri', '08:00–18:00 every day', 'Mon–Fri', or '' when every hour of every day."""
    hours = "" if (rules.hours_start or "00:00", rules.hours_end or "24:00") == ("00:00", "24:00") else \
        f"{rules.hours_start or '00:00'}–{rules.hours_end or '24:00'}"
    days = days_text(rules.days)
    if not hours:
        return "" if rules.days is None or len(set(rules.days)) == 7 else days
    return f"{hours} {days}"


def may_book(rules: RoomRules, booker_key: str, booker_email: str) -> bool:
    """Whether this person is among the room's bookers (everyone when the list is unset or empty):
    by AAD object id or by email, case-insensitively."""
    if not rules.bookers:
        return True
    listed = {b.strip().lower() for b in rules.bookers}
    return bool(({booker_key.strip().lower(), booker_email.strip().lower()} - {""}) & listed)


def within_window(rules: RoomRules, start: datetime, now: datetime, zone_name: str) -> bool:
    """Whether `start` falls on a local day no later than `window_days` after today (today counts as 0)."""
    if rules.window_days is None:
        return True
    where = zone(zone_name)
    return start.astimezone(where).date() <= now.astimezone(where).date() + timedelta(days=rules.window_days)


def within_hours(rules: RoomRules, slot: TimeSlot, zone_name: str) -> bool:
    """Whether the slot lies wholly within the allowed hours of allowed days, on the building's wall
    clock. A slot crossing midnight needs both days and 00:00–24:00 allowed."""
    if rules.hours_start is None and rules.hours_end is None and rules.days is None:
        return True
    first = clock_minutes(rules.hours_start or "00:00")
    last = clock_minutes(rules.hours_end or "24:00", end=True)
    days = set(rules.days) if rules.days is not None else set(range(7))
    where = zone(zone_name)
    start, end = slot.start.astimezone(where), slot.end.astimezone(where)
    final = (end - timedelta(microseconds=1)).date()
    day = start.date()
    while day <= final:
        begin = start.hour * 60 + start.minute + start.second / 60 if day == start.date() else 0
        finish = end.hour * 60 + end.minute + end.second / 60 if day == end.date() else _DAY
        if day.weekday() not in days or begin < first or finish > last:
            return False
        day += timedelta(days=1)
    return True


def broken_rule(rules: RoomRules, slot: TimeSlot, booker_key: str, booker_email: str, now: datetime,
                zone_name: str, room_name: str = "This room") -> RuleBroken | None:
    """The first rule the booking would break (who may book, window, length, hours and days), or None."""
    if not may_book(rules, booker_key, booker_email):
        return RuleBroken(f"Only some people may book {room_name}. Ask an admin if you need it.", BOOKERS)
    if not within_window(rules, slot.start, now, zone_name):
        days = rules.window_days or 0
        if days == 0:
            return RuleBroken(f"{room_name} can only be booked for today.", WINDOW)
        last = to_local(now, zone_name) + timedelta(days=days)
        return RuleBroken(f"{room_name} can be booked at most {days} day{'s' if days != 1 else ''} ahead (until "
                          f"{format_day(last, zone_name, to_local(now, zone_name).date())}).", WINDOW)
    if rules.max_minutes is not None and slot.end - slot.start > timedelta(minutes=rules.max_minutes):
        return RuleBroken(f"{room_name} can be booked for at most {minutes_text(rules.max_minutes)}.", LENGTH)
    if not within_hours(rules, slot, zone_name):
        return RuleBroken(f"{room_name} can be booked {hours_text(rules)} ({zone_name}).", HOURS)
    return None


def check_rules(rules: RoomRules, slot: TimeSlot, booker_key: str, booker_email: str, now: datetime,
                zone_name: str, room_name: str = "This room") -> None:
    """Raises RuleBroken, saying the rule and what is allowed, when the booking would break one.
    Hours and days are the building's (`zone_name`), not the booker's."""
    broken = broken_rule(rules, slot, booker_key, booker_email, now, zone_name, room_name)
    if broken is not None:
        raise broken


_LEFT_OUT = {WINDOW: "they can't be booked that far ahead", LENGTH: "they can't be booked for that long",
             HOURS: "they can't be booked at that time or on that day",
             BOOKERS: "only some people may book them"}


def left_out_notes(refusals: Sequence[RuleBroken], limit: int = 3) -> tuple[str, ...]:
    """Why search left rooms out, one short line per reason, most rooms first: a room's own message
    when it is the only one left out for that reason."""
    by_reason: dict[str, list[RuleBroken]] = {}
    for refusal in refusals:
        by_reason.setdefault(refusal.reason, []).append(refusal)
    lines = []
    for reason, found in sorted(by_reason.items(), key=lambda item: -len(item[1]))[:limit]:
        lines.append(found[0].message if len(found) == 1 else
                     f"{len(found)} rooms are left out: {_LEFT_OUT.get(reason, 'their booking rules say no')}.")
    return tuple(lines)


def describe(rules: RoomRules) -> str:
    """One line for admins: 'up to 14 days ahead · at most 2 hours · 08:00–18:00 Mon–Fri · 3 people may
    book · check-in required · no-shows released after 10 min'."""
    parts = []
    if rules.window_days is not None:
        parts.append("today only" if rules.window_days == 0 else f"up to {rules.window_days} days ahead")
    if rules.max_minutes is not None:
        parts.append(f"at most {minutes_text(rules.max_minutes)}")
    hours = hours_text(rules)
    if hours:
        parts.append(hours)
    if rules.bookers:
        parts.append(f"{len(rules.bookers)} {'person' if len(rules.bookers) == 1 else 'people'} may book")
    if rules.checkin_required:
        parts.append("check-in required")
    if rules.never_release:
        parts.append("never released")
    elif rules.auto_release:
        parts.append("no-shows released" + (f" after {rules.release_after_min} min"
                                             if rules.release_after_min is not None else ""))
    return " · ".join(parts) or "no limits"
