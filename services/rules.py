"""Admins set the booking rules: per room (`rooms` -> a room -> Rules) and the organisation's defaults,
from the same card. Values come from a card, so every one is checked here; nothing is saved unless all
are valid. Every change is audited."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from domain.errors import NotFound, ValidationFailed
from domain.models import Building, Room, normalize_email
from domain.numbers import whole_number
from domain.rules import (
    DEFAULT,
    EVERYONE,
    LISTED,
    MAX_LENGTH,
    MAX_WINDOW_DAYS,
    MIN_LENGTH,
    RoomRules,
    check_minutes,
    clock_minutes,
    describe,
)
from domain.timezones import zone
from storage.repository import Repository

# The card's inputs, by name (also the keys of what the card sends back).
FIELDS = ("window_days", "max_minutes", "hours_start", "hours_end", "days", "bookers_mode", "bookers",
          "checkin_required", "auto_release", "release_after_min", "never_release")
SWITCHES = ("checkin_required", "auto_release", "never_release")
MAX_BOOKERS = 200
MAX_RELEASE_MIN = 120  # as the organisation's check-in settings allow
_AAD_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_LENGTH = re.compile(r"^(?:(?P<h>[0-9]{1,2})\s*h(?:ours?)?\s*(?P<hm>[0-9]{1,2})\s*(?:m|min|minutes?)?"
                     r"|(?P<clock_h>[0-9]{1,2}):(?P<clock_m>[0-9]{2})"
                     r"|(?P<n>[0-9]{1,3}(?:[.,][0-9]{1,2})?)\s*(?P<unit>h|hours?|m|min|minutes?)?)$")


def _blank(value: str) -> bool:
    return not value or value == DEFAULT


def parse_window(value: str) -> int | None:
    if _blank(value):
        return None
    days = whole_number(value, 0, MAX_WINDOW_DAYS)
    if days is None:
        raise ValidationFailed(f"Booking window: give a whole number of days from 0 (today only) to "
                               f"{MAX_WINDOW_DAYS}, or leave it empty.")
    return days


def parse_length(value: str) -> int | None:
    """'90', '90 min', '2h', '1.5 h', '1h30', '1:30' as minutes; empty: None."""
    if _blank(value):
        return None
    match = _LENGTH.match(value.strip().lower())
    minutes: float | None = None
    if match and match["h"] is not None:
        minutes = int(match["h"]) * 60 + int(match["hm"])
    elif match and match["clock_h"] is not None:
        minutes = int(match["clock_h"]) * 60 + int(match["clock_m"])
    elif match:
        number = float(match["n"].replace(",", "."))
        minutes = number * 60 if (match["unit"] or "m").startswith("h") else number
    if minutes is None or minutes != int(minutes) or not MIN_LENGTH <= minutes <= MAX_LENGTH:
        raise ValidationFailed(f"Longest booking: give minutes (90) or hours (2 h) from {MIN_LENGTH} minutes to "
                               f"{MAX_LENGTH // 60} hours, or leave it empty.")
    return int(minutes)


def parse_hours(start: str, end: str) -> tuple[str | None, str | None]:
    if not start and not end:
        return None, None
    problem = ValidationFailed("Allowed hours: give both times as HH:MM (like 08:00 and 18:00; 24:00 is "
                               "midnight at the end of the day), the first before the second, or leave both empty.")
    if not start or not end:
        raise problem
    try:
        first, last = clock_minutes(start), clock_minutes(end, end=True)
    except ValueError:
        raise problem from None
    if first >= last:
        raise problem
    return f"{first // 60:02d}:{first % 60:02d}", f"{last // 60:02d}:{last % 60:02d}"


def parse_days(value: str) -> tuple[int, ...] | None:
    if _blank(value):
        return None
    days = [whole_number(part, 0, 6) for part in value.split(",") if part.strip()]
    if not days or any(d is None for d in days):
        raise ValidationFailed("Allowed days: pick days from Monday to Sunday, or none.")
    return tuple(sorted({d for d in days if d is not None}))


def parse_bookers(mode: str, listed: str, *, org: bool) -> tuple[str, ...] | None:
    """Who may book: everyone (()), the listed emails or AAD object ids, or (a room's) the default (None)."""
    if mode == EVERYONE or (org and _blank(mode)):
        return ()
    if _blank(mode):
        return None
    if mode != LISTED:
        raise ValidationFailed("Who may book: pick everyone, or only the people listed.")
    people: list[str] = []
    for part in re.split(r"[,;\s]+", listed):
        part = part.strip().strip("<>").lower()
        if not part:
            continue
        if "@" in part:
            part = normalize_email(part)  # ValidationFailed names the bad address
        elif not _AAD_ID.match(part):
            raise ValidationFailed(f"Who may book: '{part[:60]}' is neither an email address nor an object id.")
        if part not in people:
            people.append(part)
    if not people:
        raise ValidationFailed("Who may book: list at least one person's email address, or pick everyone.")
    if len(people) > MAX_BOOKERS:
        raise ValidationFailed(f"Who may book: at most {MAX_BOOKERS} people can be listed.")
    return tuple(people)


def parse_switch(value: str, title: str, *, org: bool) -> bool | None:
    if value in ("true", "false"):
        return value == "true"
    if _blank(value):
        return False if org else None
    raise ValidationFailed(f"{title}: pick on or off.")


def parse_release(value: str, *, org: bool) -> int | None:
    if _blank(value) and not org:
        return None
    number = whole_number(value, 1, MAX_RELEASE_MIN)
    return check_minutes(number if number is not None else value, "Release after", low=1, high=MAX_RELEASE_MIN)


def parse_rules(values: Mapping[str, str], *, org: bool) -> RoomRules:
    """The rules an admin's card gives. For a room, empty fields inherit the organisation's; for the
    organisation, empty means no limit."""
    get = {name: str(values.get(name) or "").strip()[:4000] for name in FIELDS}
    hours_start, hours_end = parse_hours(get["hours_start"], get["hours_end"])
    return RoomRules(
        window_days=parse_window(get["window_days"]), max_minutes=parse_length(get["max_minutes"]),
        hours_start=hours_start, hours_end=hours_end, days=parse_days(get["days"]),
        bookers=parse_bookers(get["bookers_mode"], get["bookers"], org=org),
        checkin_required=parse_switch(get["checkin_required"], "Check-in required", org=org),
        auto_release=parse_switch(get["auto_release"], "Auto-release", org=org),
        release_after_min=parse_release(get["release_after_min"], org=org),
        never_release=parse_switch(get["never_release"], "Never release", org=org))


class RulesService:
    def __init__(self, repo: Repository) -> None:
        self._repo = repo

    def room(self, email: object) -> Room:
        """A registered room, whatever a card said."""
        room = self._repo.get_room(email) if isinstance(email, str) else None
        if room is None:
            raise NotFound(f"{str(email)[:254]} is not a registered room (any more).")
        return room

    def defaults(self) -> RoomRules:
        return self._repo.get_settings().default_rules

    def save_room(self, actor: str, email: object, values: Mapping[str, str]) -> Room:
        room = self.room(email)
        rules = parse_rules(values, org=False)
        room = replace(room, rules=None if rules == RoomRules() else rules)
        self._repo.update_room(room)
        self._repo.add_audit(actor, "room rules", f"{room.email}: {describe(rules) if room.rules else 'defaults'}")
        return room

    def save_org(self, actor: str, values: Mapping[str, str]) -> RoomRules:
        rules = parse_rules(values, org=True)
        self._repo.save_settings(replace(self._repo.get_settings(), default_rules=rules))
        self._repo.add_audit(actor, "default rules", describe(rules))
        return rules

    def set_zone(self, actor: str, building_id: object, name: object) -> Building:
        """A building's time zone (its rooms' hours are read in it); empty: the configured default."""
        building = self._repo.get_building(building_id if isinstance(building_id, str) else "")
        name = str(name or "").strip()
        if name:
            zone(name)  # ValidationFailed: not a zone
        building = self._repo.update_building(replace(building, zone=name))
        self._repo.add_audit(actor, "building zone", f"{building.id}: {name or 'default'}")
        return building
