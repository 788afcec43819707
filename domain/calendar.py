"""Calendar data as the core sees it: time slots, room schedules, events, directory rooms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# showAs / a schedule item's status that leaves a room free: an FYI hold ("free"). Everything else
# (tentative, busy, oof, workingElsewhere, unknown, or a status Graph adds later) makes it busy. Search
# (getSchedule) and the checks around booking (calendarView) use this one rule.
FREE_STATUSES = frozenset({"free"})


def makes_busy(status: str | None) -> bool:
    """Whether an item with this showAs / status makes the room busy."""
    return (status or "busy").strip().lower() not in FREE_STATUSES


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
    show_as: str = "busy"
    # createdDateTime's 7th fractional digit (100 ns), which a datetime cannot hold: Exchange's times
    # of two events made one after the other may differ by no more than that.
    created_100ns: int = 0

    @property
    def created_order(self) -> tuple[datetime, int] | None:
        """When it was created, to the 100 ns Graph writes (None when not known): the race rule's
        key. Compared to the microsecond only, a later event could tie an earlier one and win on its id."""
        return None if self.created is None else (self.created, self.created_100ns)

    @property
    def blocks(self) -> bool:
        """Whether it makes the room busy (an FYI hold shown as free does not)."""
        return not self.is_cancelled and makes_busy(self.show_as)

    def made_by_roombot(self, room_email: str) -> bool:
        """Organised by the room itself with a transactionId: how RoomBot books (a person's Outlook
        booking is organised by that person; the room is only invited)."""
        return self.organizer_email == room_email.lower() and bool(self.transaction_id)


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


@dataclass(frozen=True)
class AccessReport:
    """What a connection can do in the tenant: read Places, and read which room calendars."""

    places: bool  # Place.Read.All works
    registered: int = 0  # registered rooms checked
    registered_readable: int = 0
    checked: int = 0  # mailboxes checked in all (registered rooms, then the rooms Places lists)
    readable: int = 0
    policy_denied: int = 0  # refused in Graph's words for an ApplicationAccessPolicy

    @property
    def calendars(self) -> bool:
        """Calendars.ReadWrite works: at least one mailbox could be read. When none could, the
        permission is missing (or nothing could be checked)."""
        return self.readable > 0

    @property
    def scoped(self) -> bool:
        """Some mailboxes readable, others not: an access policy scopes the app."""
        return 0 < self.readable < self.checked
