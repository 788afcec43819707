"""Booking rules: what a valid request is, which free room fits best, what to offer when nothing
is free, and who wins when two bookings of one room overlap. Plain functions over domain objects."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from domain.calendar import CalendarEvent, RoomSchedule, TimeSlot
from domain.errors import Conflict, DomainError, GraphError, GraphUnavailable, NotFound, ValidationFailed
from domain.models import BOOKING_BOOKED, Booking, OrgSettings, Room, normalize_email
from domain.timezones import local_day_window

MIN_DURATION = timedelta(minutes=15)
MAX_DURATION = timedelta(hours=8)
DEFAULT_DURATION = timedelta(minutes=30)
MAX_FORM_MINUTES = 24 * 60  # the longest duration a form takes in as a number (the rules then say if it may be booked)
DURATION_CHOICES = (15, 30, 45, 60, 90, 120, 180, 240, 300, 360, 420, 480)  # minutes, for the form
# Exchange's default BookingWindowInDays for rooms: a room does not take bookings further ahead.
BOOKING_HORIZON = timedelta(days=180)
# A start a little in the past is fine ("book now", then a minute to press Book); more is not.
PAST_GRACE = timedelta(minutes=5)
MAX_CAPACITY = 1000
MAX_SUBJECT = 255
MAX_PARTICIPANTS = 20
ALTERNATIVES = 3
SLOT_STEP = timedelta(minutes=15)  # the starts tried for a first free slot and for other times
_ATTEMPT = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class NotConnected(DomainError):
    user_message = ("RoomBot is not connected to your organisation's Microsoft 365 yet. "
                    "An admin needs to run 'connect' first.")


class BookingDisabled(DomainError):
    user_message = "Room booking is switched off. An admin can switch it on with 'enable booking'."


class RoomNotRegistered(NotFound):
    user_message = "That room is not one I can book: only rooms an admin has added to a floor plan can be booked."


class RoomTaken(Conflict):
    """The room was taken between the search and the booking, or by a booking made the same moment."""

    user_message = "Sorry, that room was just taken for that time."

    def __init__(self, room: Room, slot: TimeSlot) -> None:
        super().__init__(f"{room.display_name} was just taken for that time.")
        self.room = room
        self.slot = slot


class NothingBooked(GraphUnavailable):
    """Graph kept failing, and reading the room's calendar back shows no event was made."""

    user_message = "Microsoft 365 did not answer in time, so nothing was booked. Please try again."


class BookingUnconfirmed(GraphUnavailable):
    """Graph kept failing, even to read back whether the event was made."""

    user_message = ("Microsoft 365 did not answer in time, so I can't tell yet whether the room was booked. "
                    "Look in My bookings in a few minutes: the booking is there if it went through.")


class CalendarsUnreadable(GraphError):
    """Not one of the rooms asked about could be read."""

    user_message = ("I could not read any room's calendar just now, so I can't tell which rooms are free. Please "
                    "try again later; RoomBot's admins can see why with status.")


class BookingNotFound(NotFound):
    user_message = "I can't find that booking."


class NotYourBooking(DomainError):
    user_message = "Only the person who made a booking can change or cancel it."


def check_open(settings: OrgSettings) -> None:
    """Booking needs a connected tenant and an admin who switched it on."""
    if not settings.connected:
        raise NotConnected()
    if not settings.booking_enabled:
        raise BookingDisabled()


def check_slot(start: datetime, end: datetime, now: datetime) -> None:
    """The rules every booked or searched time must pass. Raises ValidationFailed."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationFailed("A time without a time zone cannot be booked.")
    if end <= start:
        raise ValidationFailed("The end must be after the start.")
    if start < now - PAST_GRACE:
        raise ValidationFailed("That start time is in the past. Pick a time from now on.")
    if end - start < MIN_DURATION:
        raise ValidationFailed("A booking must last at least 15 minutes.")
    if end - start > MAX_DURATION:
        raise ValidationFailed("A booking can last at most 8 hours.")
    if start > now + BOOKING_HORIZON:
        raise ValidationFailed("Rooms can be booked at most 180 days ahead.")


def clean_subject(value: object) -> str:
    subject = " ".join(str(value or "").split())
    if len(subject) > MAX_SUBJECT:
        raise ValidationFailed(f"The subject can have at most {MAX_SUBJECT} characters.")
    return subject


def clean_participants(value: object) -> tuple[str, ...]:
    """Extra participants from a comma/semicolon/space separated text or a list; each must be an
    email address. Duplicates are dropped, order kept."""
    if isinstance(value, list | tuple):
        parts = [str(v) for v in value]
    else:
        parts = re.split(r"[,;\s]+", str(value or ""))
    emails: list[str] = []
    for part in parts:
        part = part.strip().strip("<>")
        if not part:
            continue
        email = normalize_email(part)  # raises ValidationFailed naming the bad address
        if email not in emails:
            emails.append(email)
    if len(emails) > MAX_PARTICIPANTS:
        raise ValidationFailed(f"At most {MAX_PARTICIPANTS} extra participants can be invited.")
    return tuple(emails)


def is_attempt(value: object) -> bool:
    """Whether a card's attempt id is well formed (one booking per results card)."""
    return isinstance(value, str) and _ATTEMPT.match(value) is not None


def clean_attempt(value: object) -> str:
    if not is_attempt(value):
        raise ValidationFailed("That button is not valid any more. Please search again.")
    return value


@dataclass(frozen=True)
class SearchRequest:
    """What the user is looking for. Times are UTC; `zone` is the user's, for display."""

    start: datetime
    end: datetime
    zone: str
    min_capacity: int = 1
    building_id: str = ""
    floor_id: str = ""
    features: tuple[str, ...] = ()
    subject: str = ""
    participants: tuple[str, ...] = field(default_factory=tuple)
    room_email: str = ""  # one room asked for by name ("book Aurora at 9"): only it is searched
    # A part of the day asked for ("tomorrow morning"): the first start from `start` on, on the quarter
    # hour, at which a room is free for the whole duration and the booking ends by then.
    latest_end: datetime | None = None

    @property
    def slot(self) -> TimeSlot:
        return TimeSlot(self.start, self.end)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def matches(room: Room, request: SearchRequest, *, place: bool = True) -> bool:
    """Whether a room meets the request's needs (capacity, features) and, with `place`, its
    building/floor filter and the room asked for by name."""
    if room.capacity < request.min_capacity:
        return False
    if not set(request.features) <= set(room.features):
        return False
    if place:
        if request.room_email and room.email != request.room_email:
            return False
        if request.building_id and room.building_id != request.building_id:
            return False
        if request.floor_id and room.floor_id != request.floor_id:
            return False
    return True


def fit_key(room: Room, near: Room | None) -> tuple[int, int, str, str]:
    """Smallest adequate room first, then the floor (then building) of the user's last booking."""
    if near is None:
        closeness = 2
    elif room.floor_id == near.floor_id:
        closeness = 0
    elif room.building_id == near.building_id:
        closeness = 1
    else:
        closeness = 2
    return room.capacity, closeness, room.display_name.lower(), room.email


# Whether a room's booking rules let the person book it for a slot (domain.rules); None: every room.
Allowed = Callable[[Room, TimeSlot], bool] | None


def rank_free_rooms(rooms: Iterable[Room], schedules: dict[str, RoomSchedule], slot: TimeSlot,
                    near: Room | None = None, allowed: Allowed = None, *, in_order: bool = False) -> list[Room]:
    """The rooms free for `slot`, best fit first; `in_order`: the rooms are ranked already
    (domain.ranking: the person's starred and recent rooms first), their order is kept."""
    free = [r for r in rooms if r.email in schedules and schedules[r.email].is_free(slot)
            and (allowed is None or allowed(r, slot))]
    return free if in_order else sorted(free, key=lambda r: fit_key(r, near))


def first_free_slot(rooms: Sequence[Room], schedules: dict[str, RoomSchedule], request: SearchRequest,
                    near: Room | None = None, allowed: Allowed = None,
                    in_order: bool = False) -> tuple[TimeSlot, list[Room]] | None:
    """For a part of the day: the earliest slot of the request's duration, on the quarter hour from its start
    and ending by its `latest_end`, at which some room is free; with the rooms free then, best fit first."""
    step = SLOT_STEP
    start = request.start
    latest_end = request.latest_end or request.end
    while start + request.duration <= latest_end:
        slot = TimeSlot(start, start + request.duration)
        free = rank_free_rooms(rooms, schedules, slot, near, allowed, in_order=in_order)
        if free:
            return slot, free
        start += step
    return None


def alternative_times(rooms: Sequence[Room], schedules: dict[str, RoomSchedule], request: SearchRequest,
                      now: datetime, near: Room | None = None, limit: int = ALTERNATIVES,
                      allowed: Allowed = None, in_order: bool = False) -> list[tuple[Room, TimeSlot]]:
    """Other start times the same (local) day, on the quarter hour: the nearest earlier and later
    ones, then the next nearest; each with the best-fitting room free for the whole duration."""
    day_start, day_end = local_day_window(request.start, request.zone)
    earliest = max(day_start, now.astimezone(UTC))
    step = SLOT_STEP
    first = day_start + step * -(-(earliest - day_start) // step)  # round up to the quarter hour
    candidates: list[TimeSlot] = []
    start = first
    while start + request.duration <= day_end:
        if start != request.start:
            candidates.append(TimeSlot(start, start + request.duration))
        start += step
    candidates.sort(key=lambda s: (abs(s.start - request.start), s.start))
    options: list[tuple[Room, TimeSlot]] = []
    for candidate in candidates:
        best = rank_free_rooms(rooms, schedules, candidate, near, allowed, in_order=in_order)
        if best:
            options.append((best[0], candidate))
    # The nearest earlier and the nearest later time first, then the next nearest ones.
    found = [pick for pick in (next((o for o in options if o[1].start > request.start), None),
                               next((o for o in options if o[1].start < request.start), None)) if pick]
    found += [o for o in options if o not in found][:max(0, limit - len(found))]
    return sorted(found, key=lambda pair: pair[1].start)


def keeps_slot(mine: CalendarEvent, overlapping: Iterable[CalendarEvent], room_email: str) -> bool:
    """Whether RoomBot's event `mine` keeps its slot against the other events overlapping it: the
    earliest created stays. Exchange checks nothing when the room organises, so every bot process
    decides this from the same calendar and comes to the same answer:

    - an event that leaves the room free (showAs free, an FYI hold) is no rival;
    - another RoomBot booking created at the same instant loses to the smaller id (the instant to
      the 100 ns Graph writes: an event made after this one read its slot back is always later);
    - a booking made outside RoomBot (Outlook) wins a tie, and so does any event whose creation time
      cannot be read: RoomBot yields rather than double-book, since the other booking never will."""
    for other in overlapping:
        if other.id == mine.id or not other.blocks:
            continue
        mine_at, other_at = mine.created_order, other.created_order
        if mine_at is None or other_at is None or other_at < mine_at:
            return False
        if other_at == mine_at and (not other.made_by_roombot(room_email) or other.id < mine.id):
            return False
    return True


@dataclass(frozen=True)
class Page:
    """Where a page of results starts in the ranking of the rooms that meet a search (domain.ranking),
    how many free rooms the pages before it showed, and those pages' own (at, shown), oldest first, for
    Previous. Small numbers a card carries; the service checks them against the ranking it recomputes."""

    at: int = 0
    shown: int = 0
    back: tuple[tuple[int, int], ...] = ()

    def next(self, at: int, shown: int, keep: int) -> Page:
        """The page after this one, remembering at most `keep` pages to go back to."""
        return Page(at, self.shown + shown, ((*self.back, (self.at, self.shown)))[-keep:] if keep else ())

    def previous(self) -> Page | None:
        return Page(*self.back[-1], self.back[:-1]) if self.back else None


@dataclass(frozen=True)
class SearchResult:
    request: SearchRequest
    # The free rooms found from `page.at` on, in rank order: the card shows the first page of them.
    free: tuple[Room, ...] = ()
    other_times: tuple[tuple[Room, TimeSlot], ...] = ()
    other_places: tuple[Room, ...] = ()
    unreadable: tuple[tuple[Room, str], ...] = ()
    considered: int = 0  # rooms that met the filters and were looked at (asked Graph about)
    page: Page = field(default_factory=Page)
    # Whether every room that meets the filters from `page.at` on was looked at: the count of free rooms
    # is exact ("N free"), else a floor ("At least N free").
    complete: bool = True
    more_at: int | None = None  # where Show more (or Look at more rooms) goes on from; None: nothing left
    starred: frozenset[str] = frozenset()  # the person's starred rooms (their emails)
    # The person's own upcoming bookings that overlap the time asked for, with their room's name: told
    # on the card before Book is pressed (booking again is still allowed).
    own_overlaps: tuple[tuple[Booking, str], ...] = ()
    # Why rooms that met the filters were left out by their booking rules (domain.rules): a line per
    # reason, when no room is free.
    left_out: tuple[str, ...] = ()


def own_overlaps(bookings: Iterable[Booking], slot: TimeSlot, now: datetime) -> list[Booking]:
    """Which of a person's bookings are booked, not over, and overlap `slot`."""
    return [b for b in bookings if b.status == BOOKING_BOOKED and b.end > now
            and slot.overlaps(TimeSlot(b.start, b.end))]
