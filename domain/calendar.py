"""Calendar data as the core sees it: time slots, room schedules, events, directory rooms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TimeSlot:
    start: datetime  # timezone-aware
    end: datetime

    def overlaps(self, other: TimeSlot) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class RoomSchedule:
    """One room's busy times over a window, from getSchedule. `error` is set when Graph could
    not read that room (the call as a whole still succeeds)."""

    email: str
    busy: tuple[TimeSlot, ...] = ()
    availability_view: str = ""
    error: str | None = None

    def is_free(self, slot: TimeSlot) -> bool:
        return self.error is None and not any(b.overlaps(slot) for b in self.busy)


@dataclass(frozen=True)
class CalendarEvent:
    id: str
    ical_uid: str
    subject: str
    start: datetime
    end: datetime
    organizer_email: str
    attendees: tuple[str, ...]
    created: datetime | None
    is_cancelled: bool = False
    transaction_id: str | None = None


@dataclass(frozen=True)
class DirectoryRoom:
    """A room as Microsoft 365's Places directory describes it."""

    email: str
    display_name: str
    capacity: int = 0
    building: str = ""
    floor_number: int | None = None
    floor_label: str = ""
    features: tuple[str, ...] = ()
