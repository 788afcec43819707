"""Time zones: users see their own (Teams' clientInfo.timezone, else the configured default);
Graph and storage get UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from domain.errors import ValidationFailed

FALLBACK_ZONE = "UTC"

# Windows zone names, which Graph accepts in a dateTimeTimeZone and may answer with, to IANA names (the
# common ones of CLDR's windowsZones; RoomBot itself sends and asks for UTC).
WINDOWS_ZONES = {"utc": "UTC", "tzone://microsoft/utc": "UTC", "coordinated universal time": "UTC",
                 "gmt standard time": "Europe/London", "w. europe standard time": "Europe/Berlin",
                 "romance standard time": "Europe/Paris", "central europe standard time": "Europe/Budapest",
                 "fle standard time": "Europe/Helsinki", "e. europe standard time": "Europe/Chisinau",
                 "eastern standard time": "America/New_York", "central standard time": "America/Chicago",
                 "mountain standard time": "America/Denver", "pacific standard time": "America/Los_Angeles",
                 "india standard time": "Asia/Kolkata", "china standard time": "Asia/Shanghai",
                 "tokyo standard time": "Asia/Tokyo", "aus eastern standard time": "Australia/Sydney"}


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """The IANA zone names this machine's tz database has. ZoneInfo alone opens any path under it: a
    folder ('Europe') fails with an OSError, and 'localtime' or 'posixrules' are files, not zones."""
    return frozenset(available_timezones() - {"localtime", "posixrules", "Factory"}) | {"UTC"}


def _zone_info(key: str) -> ZoneInfo:
    if key not in known_zones():
        raise ZoneInfoNotFoundError(f"not an IANA time zone: {key[:64]!r}")
    return ZoneInfo(key)


def graph_zone(name: object) -> tzinfo:
    """The zone a dateTimeTimeZone names: none or UTC, an IANA name, or a Windows name. Raises
    ValueError for anything else."""
    if name is None or name == "":
        return UTC
    if not isinstance(name, str) or len(name) > 64:
        raise ValueError(f"not a time zone: {name!r}")
    key = WINDOWS_ZONES.get(name.strip().lower(), name.strip())
    if key.upper() == "UTC":
        return UTC
    try:
        return _zone_info(key)
    except ZoneInfoNotFoundError as exc:  # a KeyError
        raise ValueError(f"not a time zone: {name!r}") from exc


def zone(name: str | None) -> ZoneInfo:
    """The zone with that IANA name; raises ValidationFailed for an unknown one."""
    if not name or not isinstance(name, str) or len(name) > 64:
        raise ValidationFailed("A time zone is missing.")
    try:
        return _zone_info(name)
    except ZoneInfoNotFoundError as exc:  # _zone_info refuses every name not in the IANA list
        raise ValidationFailed(f"'{name[:64]}' is not a time zone I know.") from exc


def is_zone(name: str | None) -> bool:
    try:
        zone(name)
    except ValidationFailed:
        return False
    return True


def first_zone(*names: str | None) -> str:
    """The first valid IANA zone name among `names`, else UTC."""
    for name in names:
        if is_zone(name):
            return str(name)
    return FALLBACK_ZONE


def iso_utc(value: datetime) -> str:
    """An aware time as ISO 8601 in UTC with a Z, as Graph query strings and card data carry it."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_local(value: datetime, zone_name: str) -> datetime:
    return value.astimezone(zone(zone_name))


def local_to_utc(day: date, at: time, zone_name: str) -> datetime:
    """A wall-clock time in a zone, as UTC. Times skipped by a DST change move forward by the gap,
    as clocks do."""
    local = datetime.combine(day, at, tzinfo=zone(zone_name))
    return local.astimezone(UTC)


def next_quarter_hour(now: datetime) -> datetime:
    """The next :00/:15/:30/:45 after `now` (same zone as `now`)."""
    base = now.replace(second=0, microsecond=0)
    return base + timedelta(minutes=15 - base.minute % 15)


def local_day_window(moment: datetime, zone_name: str) -> tuple[datetime, datetime]:
    """The whole local day around `moment`, in UTC."""
    local = moment.astimezone(zone(zone_name))
    start = datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)
    end = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=local.tzinfo)
    return start.astimezone(UTC), end.astimezone(UTC)


def format_time(value: datetime, zone_name: str) -> str:
    return to_local(value, zone_name).strftime("%H:%M")


def format_day(value: datetime, zone_name: str, today: date | None = None) -> str:
    """'Wed 2 Dec', with the year when it is not `today`'s (or `today` is not known)."""
    local = to_local(value, zone_name)
    year = "" if today is not None and local.year == today.year else f" {local.year}"
    return f"{local:%a} {local.day} {local:%b}{year}"


def format_slot(start: datetime, end: datetime, zone_name: str, today: date | None = None, *,
                named: bool = True) -> str:
    """'Wed 2 Dec, 14:00–15:00 (Europe/Helsinki)': every time with its date (an end on another day
    shows its own). Cards name the zone once for all their times, so they pass `named=False`."""
    day = format_day(start, zone_name, today)
    end_local, start_local = to_local(end, zone_name), to_local(start, zone_name)
    end_text = format_time(end, zone_name)
    if end_local.date() != start_local.date():
        end_text = f"{format_day(end, zone_name, today)}, {end_text}"
    return f"{day}, {format_time(start, zone_name)}–{end_text}" + (f" ({zone_name})" if named else "")
