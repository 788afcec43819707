"""Quick booking text: "book now", "book a room for 6 tomorrow 14:00-15:00", "book 1h at 10 in HQ".

Dates and times are read by Microsoft's Recognizers-Text (the library botbuilder-dialogs uses);
capacity, building and floor by plain rules against the room registry. What is not understood is
reported, never guessed: the caller then shows the booking form filled with what was understood."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from domain.models import Building, Floor
from domain.understanding import Catalog, Understanding
from domain.understanding import warm_up as warm_up  # the one recognizer, built once per process

# Words that carry no booking detail of their own.
_FILLER = {"book", "a", "an", "the", "room", "rooms", "meeting", "for", "at", "in", "on", "from", "to", "me",
           "please", "us", "people", "persons", "person", "ppl", "seats", "of", "and", "with", "by",
           "i", "need", "want", "some", "space", "until", "till", "starting", "start", "floor"}
_CAPACITY = [
    re.compile(r"\bfor\s+(\d{1,4})(?!\s*(?:h\b|hr|hour|min|m\b|:|\.|am|pm|a\.m|p\.m|o'clock|-|–))"
               r"(?:\s*(?:people|persons|person|ppl|attendees|seats|guests))?\b", re.IGNORECASE | re.ASCII),
    re.compile(r"\b(\d{1,4})\s*(?:people|persons|person|ppl|attendees|seats|guests)\b", re.IGNORECASE | re.ASCII),
]  # ASCII: \d would take any script's digits ('٦'), which are reported as not understood instead


@dataclass(frozen=True)
class QuickBooking:
    """What a quick booking text said. Local (naive) dates and times in the user's zone."""

    day: date | None = None
    start: time | None = None
    end: time | None = None
    duration: timedelta | None = None
    now: bool = False
    capacity: int | None = None
    building_id: str = ""
    floor_id: str = ""
    not_understood: tuple[str, ...] = field(default_factory=tuple)
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_time(self) -> bool:
        return self.now or self.start is not None

    @property
    def complete(self) -> bool:
        """Enough, and nothing left over, to search straight away."""
        return self.has_time and not self.not_understood and not self.problems


def _datetime_model() -> Any:
    from domain.understanding import _datetime_model as model

    return model()


def booking_catalog(buildings: Sequence[Building], floors: Sequence[Floor]) -> Catalog:
    """What BookingFlow's quick texts may name until it reads `Understanding` itself: places only (a room
    or feature it cannot carry stays a word not understood, never dropped)."""
    return Catalog(buildings=tuple(buildings), floors=tuple(floors))


def quick_booking(reading: Understanding) -> QuickBooking:
    """An `Understanding` as the `QuickBooking` BookingFlow reads. A part of the day is no start time
    ("What time?" is asked rather than the window's first hour booked); an unknown room stays a word not
    understood."""
    when = reading.when
    unknown = (reading.unknown_room,) if reading.unknown_room else ()
    return QuickBooking(day=when.day, start=when.start, end=when.end, duration=when.duration, now=when.now,
                        capacity=reading.capacity, building_id=reading.building_id, floor_id=reading.floor_id,
                        not_understood=unknown + reading.not_understood, problems=reading.problems)


def _remove(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _find_names(text: str, names: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """The (id, matched text) of the longest name found in text, case-insensitive, whole words."""
    for item_id, name in sorted(names, key=lambda n: -len(n[1])):
        match = re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE)
        if match:
            return item_id, match.group(0)
    return "", ""


def _time_of(value: str) -> time:
    return time.fromisoformat(value[:8])


def parse_quick_booking(text: str, now_local: datetime, buildings: Sequence[Building] = (),
                        floors: Sequence[Floor] = ()) -> QuickBooking:
    """Read a `book ...` message. `now_local` is the user's wall-clock time (naive or aware)."""
    now_local = now_local.replace(tzinfo=None, second=0, microsecond=0)
    rest = " " + " ".join(text.split()) + " "
    values: dict[str, Any] = {}
    problems: list[str] = []

    building_id, matched = _find_names(rest, [(b.id, b.name) for b in buildings])
    if building_id:
        values["building_id"] = building_id
        rest = rest.replace(matched, " " * len(matched), 1)
    candidates = [f for f in floors if not building_id or f.building_id == building_id]
    floor_id, matched = _find_names(rest, [(f.id, f.name) for f in candidates])
    if floor_id:
        values["floor_id"] = floor_id
        values.setdefault("building_id", next(f.building_id for f in floors if f.id == floor_id))
        rest = rest.replace(matched, " " * len(matched), 1)

    for pattern in _CAPACITY:
        match = pattern.search(rest)
        if match:
            values["capacity"] = int(match.group(1))
            rest = _remove(rest, match.start(), match.end())
            break

    for result in _datetime_model().parse(rest, now_local):
        try:
            used = _read_datetime(result, now_local, values, problems)
        except (ValueError, KeyError, TypeError, OverflowError):
            # The recognizer found a date it could not resolve ("not resolved", year 10000, ...):
            # its words stay in `not_understood`, so the user is asked to check them.
            used = False
        if used:
            rest = _remove(rest, result.start, result.end + 1)

    leftovers = tuple(w for w in re.findall(r"[^\s,.;!?]+", rest) if w.lower() not in _FILLER)
    return QuickBooking(not_understood=leftovers, problems=tuple(problems), **values)


def _read_datetime(result: Any, now: datetime, values: dict[str, Any], problems: list[str]) -> bool:
    """Fold one recognizer result into `values`; False if it is not something we can use."""
    kind = result.type_name.rsplit(".", 1)[-1]
    options = (result.resolution or {}).get("values") or []
    if not options:
        return False
    first = options[0]
    if kind == "duration":
        values["duration"] = timedelta(seconds=float(first["value"]))
        return True
    if kind == "datetime" and first.get("timex") == "PRESENT_REF":
        values["now"] = True
        return True
    if kind == "date":
        values["day"] = date.fromisoformat(first["value"])
        return True
    if kind == "time":
        values["start"] = _time_of(first["value"])
        return True
    if kind == "datetime":
        moment = datetime.fromisoformat(first["value"])
        values["day"], values["start"] = moment.date(), moment.time()
        return True
    if kind == "timerange" and "start" in first and "end" in first:
        values["start"], values["end"] = _time_of(first["start"]), _time_of(first["end"])
        return True
    if kind == "datetimerange" and "start" in first and "end" in first:
        start, end = datetime.fromisoformat(first["start"]), datetime.fromisoformat(first["end"])
        values["day"], values["start"] = start.date(), start.time()
        if end.date() != start.date():
            problems.append("A booking has to start and end on the same day.")
        values["end"] = end.time()
        return True
    return False
