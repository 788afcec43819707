"""What a typed message asks for: the intent (book, my bookings, move, extend, end, cancel, help, greeting,
thanks) and the details people give (when, how many, where, which room, which of their bookings).

Dates and times are read by Microsoft's Recognizers-Text; rooms, places, features and seats by plain rules
against the organisation's catalog. Nothing is guessed silently: what was not understood is reported
(`not_understood`, `unknown_room`, `problems`), so the caller asks, or shows it marked as a default."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from domain.models import Building, Floor


class Intent(StrEnum):
    BOOK = "book"  # find or book a room
    MY_BOOKINGS = "my bookings"
    CHANGE = "change"  # change one of my bookings, without saying how: its change card
    MOVE = "move"  # to another time (`when`)
    EXTEND = "extend"  # by `extend_by`, or until `when.end`
    END = "end"  # end it now
    CANCEL = "cancel"
    HELP = "help"
    GREETING = "greeting"
    THANKS = "thanks"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class When:
    """What a text said about time, in the user's wall clock (naive local dates and times)."""

    day: date | None = None
    start: time | None = None
    end: time | None = None
    duration: timedelta | None = None
    now: bool = False  # "now", "right now", "asap"
    window: tuple[time, time] | None = None  # a part of the day ("tomorrow morning"): the first free slot in it

    @property
    def empty(self) -> bool:
        return self == When()


@dataclass(frozen=True)
class BookingRef:
    """How a text names one of the person's own bookings ("my 2pm", "my meeting tomorrow", "the Aurora
    booking", "my next booking"). Empty: the text named none in particular (the caller then lists them)."""

    day: date | None = None
    start: time | None = None
    room_email: str = ""
    next: bool = False  # "my next booking"
    current: bool = False  # "my meeting now", "end my meeting": the one in progress


@dataclass(frozen=True)
class RoomName:
    email: str
    name: str


@dataclass(frozen=True)
class Catalog:
    """What a text may name: the registered buildings, floors, rooms and room features."""

    buildings: tuple[Building, ...] = ()
    floors: tuple[Floor, ...] = ()
    rooms: tuple[RoomName, ...] = ()
    features: tuple[str, ...] = ()


@dataclass(frozen=True)
class Understanding:
    intent: Intent
    when: When = field(default_factory=When)  # BOOK: the slot asked for; MOVE: the new time; EXTEND: `end`
    capacity: int | None = None
    building_id: str = ""
    floor_id: str = ""
    room_email: str = ""
    features: tuple[str, ...] = ()
    unknown_room: str = ""  # a room named that is not registered: "I don't know a room called X"
    booking: BookingRef | None = None  # CHANGE, MOVE, EXTEND, END, CANCEL: which booking
    extend_by: timedelta | None = None  # EXTEND "by 30 minutes"
    command: bool = False  # the text began with a command word ("book ...", "my bookings")
    not_understood: tuple[str, ...] = ()  # words left over
    problems: tuple[str, ...] = ()  # understood, but impossible ("from 3pm to 2pm")


def understand(text: str, now_local: datetime, catalog: Catalog = Catalog(), locale: str = "en-US") -> Understanding:
    """Read one message. `now_local` is the user's wall-clock time; `locale` is Teams' clientInfo locale
    (it decides whether "12/3" is 3 December or 12 March)."""
    raise NotImplementedError  # issue 16: being built
