"""Domain objects: the organisation's settings, its room registry, admins, bookings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from domain.errors import ValidationFailed
from domain.rules import RoomRules

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_V = TypeVar("_V")
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+$")


def normalize_email(value: str) -> str:
    """Lower-case, trimmed email address; raises ValidationFailed when it is not one."""
    email = (value or "").strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValidationFailed(f"'{value.strip()[:80]}' is not a valid email address.")
    return email


@dataclass(frozen=True)
class OrgSettings:
    """The organisation's connection to Microsoft 365, whether booking is on, the fair-use limits
    per person (domain.fair_use) and whom bookings may invite from outside (domain.attendees)."""

    tenant_id: str | None = None
    connected: bool = False
    booking_enabled: bool = False
    max_upcoming_bookings: int = 10
    max_bookings_per_day: int = 5  # bookings on one day (starting that local day), not made that day
    max_hours_per_day: int = 8
    max_searches_per_minute: int = 20
    guest_domains: tuple[str, ...] = ()  # outside domains whose addresses may be invited
    allow_any_guest: bool = False  # any outside address may be invited
    people_picker: bool = False  # the app may read users (User.Read.All), as last checked: people are picked by name
    # Reminders and check-in (domain.attendance); per-room rules override default_rules (domain.rules)
    reminder_min: int = 15  # a person's reminder before each booking, until they choose (0: off)
    checkin_opens_min: int = 5  # check-in opens this long before the start
    checkin_by_invitees: bool = False  # invited people may check in too, not only the booker
    release_exempt_min: int = 8 * 60  # bookings this long or longer are never released
    default_rules: RoomRules = field(default_factory=lambda: RoomRules(
        checkin_required=False, auto_release=False, release_after_min=10, never_release=False))

    def __post_init__(self) -> None:
        object.__setattr__(self, "guest_domains", tuple(self.guest_domains))  # a JSON list when read back
        object.__setattr__(self, "default_rules", RoomRules.from_doc(self.default_rules) or RoomRules())


@dataclass(frozen=True)
class Building:
    """A floor plan: one building with floors. `zone`: its IANA time zone, in which its rooms' allowed
    hours and days are read (domain.rules); empty: the configured DEFAULT_TIMEZONE."""

    id: str
    name: str
    zone: str = ""


@dataclass(frozen=True)
class Floor:
    id: str
    building_id: str
    name: str
    level: int = 0


_SHARED: dict[object, object] = {}
_SHARED_MAX = 100_000  # distinct values kept at most (floors and feature sets: a few thousand at 50,000 rooms)


def _shared(value: _V) -> _V:
    """One copy of an equal value (a floor id, a feature tuple) for every room that has it."""
    kept = _SHARED.get(value)
    if kept is not None:
        return kept  # type: ignore[return-value]
    if len(_SHARED) < _SHARED_MAX:
        _SHARED[value] = value
    return value


@dataclass(frozen=True, slots=True)
class Room:
    """A bookable space on a floor, keyed on its mailbox address (Places ids can change). Organisations
    register tens of thousands: slots, and the ids and feature sets rooms share kept once (_shared)."""

    email: str
    display_name: str
    building_id: str
    floor_id: str
    capacity: int = 0
    features: tuple[str, ...] = ()
    rules: RoomRules | None = None  # None: the organisation's default rules apply

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", normalize_email(self.email))
        object.__setattr__(self, "rules", RoomRules.from_doc(self.rules))
        if self.capacity < 0:
            raise ValidationFailed("A room's capacity cannot be negative.")
        object.__setattr__(self, "building_id", _shared(self.building_id))
        object.__setattr__(self, "floor_id", _shared(self.floor_id))
        object.__setattr__(self, "features",
                           _shared(tuple(sorted({f.strip().lower() for f in self.features if f.strip()}))))


ROLE_ADMIN = "admin"
ROLE_BOOKING_ADMIN = "booking_admin"


@dataclass(frozen=True)
class Admin:
    """An admin, known by AAD object id and/or UPN (configuration may give either). Name and email
    are what Teams said when the admin was added, so people see who it is, not an object id; admins
    added before that (or from configuration) may have neither."""

    key: str  # aad object id or normalised UPN
    roles: tuple[str, ...] = (ROLE_ADMIN,)
    added_by: str = ""
    name: str = ""
    email: str = ""


@dataclass(frozen=True)
class Booking:
    """A booking the bot made: an event in a room's calendar, organised by the room."""

    id: str
    room_email: str
    event_id: str
    ical_uid: str
    booker_aad_id: str
    booker_email: str
    start: datetime
    end: datetime
    subject: str = ""
    attendees: tuple[str, ...] = field(default_factory=tuple)  # everyone invited, the booker first
    status: str = "booked"  # BOOKING_PENDING until Graph confirmed it, BOOKING_CANCELLED after
    created_at: datetime | None = None
    zone: str = "UTC"  # the booker's time zone, for showing the times later
    attempt_key: str = ""  # booker + the search card's attempt id: one booking per card
    transaction_id: str = ""  # Graph's de-duplication id, kept across retries
    checked_in_at: datetime | None = None  # when someone checked in (domain.attendance)
    checked_in_by: str = ""  # who did: the booker's or an invitee's key
    no_show: bool = False  # nobody checked in: RoomBot released the room (status cancelled)


BOOKING_PENDING = "pending"
BOOKING_BOOKED = "booked"
BOOKING_CANCELLED = "cancelled"
