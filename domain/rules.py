"""Per-room booking rules: what Exchange's room policies would check if the room did not organize
its own meetings (booking window, maximum length, allowed hours and days, who may book), and how
check-in and auto-release apply to the room.

Every field left None inherits the organisation's default (`OrgSettings.default_rules`); in the
defaults themselves None means no limit."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from domain.errors import ValidationFailed

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


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
