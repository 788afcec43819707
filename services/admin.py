"""Admin use cases: connecting the tenant (admin consent), switching booking on and off, floor plans
and rooms (checked against the tenant), imports, admins, status. Every change is audited."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from domain.attendees import parse_guest_domains
from domain.calendar import AccessReport, DirectoryRoom
from domain.errors import (
    Conflict,
    DomainError,
    GraphAuthFailed,
    GraphError,
    MailboxNotEnabled,
    MailboxNotFound,
    NotFound,
    RoomAccessDenied,
    ValidationFailed,
)
from domain.fair_use import parse_limits
from domain.models import ROLE_ADMIN, ROLE_BOOKING_ADMIN, Admin, Building, Floor, OrgSettings, Room, normalize_email
from domain.numbers import whole_number
from storage.repository import Repository

log = logging.getLogger(__name__)

CONSENT_TTL = timedelta(minutes=15)
MAX_IMPORT = 500
MAX_CAPACITY = 1000
MIN_LEVEL, MAX_LEVEL = -20, 200  # floor levels: basements to the tallest towers


class Directory(Protocol):
    """What admin work needs from Microsoft 365 (RoomCalendarService provides it)."""

    async def list_directory_rooms(self) -> list[DirectoryRoom]: ...

    async def list_room_lists(self) -> list[tuple[str, str]]: ...

    async def rooms_in_list(self, room_list_email: str) -> list[DirectoryRoom]: ...

    async def calendar_access(self, mailboxes: Sequence[str]) -> dict[str, GraphError | None]: ...

    async def verify_access(self, registered: Sequence[str] = ..., fallback: Sequence[str] = ...) -> AccessReport: ...


class UserReader(Protocol):
    """Whether the app may read the tenant's users (graph.users.UserDirectory provides it)."""

    async def can_read(self) -> bool: ...


PICKER_ON = "on"
PICKER_OFF = ("off: needs the optional User.Read.All application permission (until then, people are invited "
              "by typed email)")


class TokenClient(Protocol):
    """Where the app's Graph tokens come from; reset() starts it afresh (see finish_consent)."""

    async def reset(self) -> None: ...


@dataclass(frozen=True)
class RoomCheck:
    email: str
    problem: str = ""  # why it cannot be registered; empty when it can
    listed: DirectoryRoom | None = None  # the room as Places lists it
    only_unlisted: bool = False  # the one problem is that Places does not list it (new rooms take 48 h)


@dataclass(frozen=True)
class ImportRow:
    email: str
    name: str
    capacity: int
    features: tuple[str, ...]
    building: str
    floor: str
    level: int = 0
    problem: str = ""  # empty: will be added


@dataclass(frozen=True)
class ConsentOutcome:
    ok: bool
    message: str
    admin_user_key: str = ""  # whom to tell in Teams
    tenant_id: str = ""


@dataclass(frozen=True)
class Status:
    settings: OrgSettings
    buildings: int
    floors: int
    rooms: int
    problems: tuple[str, ...] = field(default_factory=tuple)
    people_picker: bool = False  # people are picked by name (User.Read.All granted)

    @property
    def facts(self) -> tuple[tuple[str, str], ...]:
        """Lines of the status card beyond the counts."""
        return (("People picker", PICKER_ON if self.people_picker else PICKER_OFF),)


def _features(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value or "").replace(";", ",").split(",")
    return tuple(sorted({str(f).strip().lower() for f in items if str(f).strip()}))[:20]


def _whole(value: object, message: str, low: int, high: int) -> int:
    """A whole number from a card input ("6", "6.0", 6, "-1") or a CSV field (blank: 0), in [low, high]."""
    number = whole_number(0 if isinstance(value, str) and not value.strip() else value, low, high)
    if number is None:
        raise ValidationFailed(message)
    return number


def _capacity(value: object) -> int:
    return _whole(value, f"'{str(value)[:20]}' is not a number of seats from 0 to {MAX_CAPACITY}.", 0, MAX_CAPACITY)


POLICY_DELAY = ("A change to an access policy can take an hour or more to apply, so a room can turn readable "
                "or unreadable a while after the policy changed.")


def access_problem(error: GraphError, *, with_delay: bool = True) -> str:
    """Why a mailbox's calendar cannot be used, in words for an admin."""
    if isinstance(error, RoomAccessDenied):
        return ("The app is not allowed to use this room's calendar: an ApplicationAccessPolicy or RBAC for "
                "Applications scope leaves it out." + (f" {POLICY_DELAY}" if with_delay else ""))
    if isinstance(error, MailboxNotEnabled):
        return error.user_message
    if isinstance(error, MailboxNotFound) or error.status == 404:
        return "There is no mailbox with that address in your tenant."
    return error.user_message


def scope_summary(readable: int, total: int) -> str:
    """One line on how much of the registry the app can read, or empty when it can read all of it."""
    if total == 0 or readable == total:
        return ""
    if readable == 0:
        return (f"None of the {total} registered rooms' calendars can be read: the Calendars.ReadWrite "
                f"application permission is missing, or an access policy leaves out every room.")
    return (f"The app is scoped to some mailboxes: {readable} of {total} registered rooms readable. "
            f"{POLICY_DELAY}")


def _missing_permissions(report: AccessReport) -> list[str]:
    missing = [] if report.places else ["Place.Read.All"]
    if report.checked and not report.calendars:
        missing.insert(0, "Calendars.ReadWrite")
    return missing


def _missing_message(report: AccessReport, missing: list[str]) -> str:
    if len(missing) == 2:
        return ("Connected, but the app has neither of its application permissions (Calendars.ReadWrite and "
                "Place.Read.All) in this tenant yet. Consent can take a few minutes to apply: run connect again "
                "shortly, and if it still fails, grant them to the app in Entra ID.")
    if missing == ["Place.Read.All"]:
        return ("Connected, but the app is missing the Place.Read.All application permission. Grant it to the app "
                "in Entra ID, then run connect again.")
    if report.policy_denied == report.checked:
        return (f"Connected, but none of the {report.checked} room calendars tried can be read: each answered that "
                f"an access policy (ApplicationAccessPolicy or RBAC for Applications) leaves it out. Add the rooms "
                f"to the policy's scope. {POLICY_DELAY}")
    return (f"Connected, but the app cannot read any of the {report.checked} room calendars tried: the app is "
            f"missing the Calendars.ReadWrite application permission. Grant it to the app in Entra ID (consent can "
            f"take a few minutes to apply), then run connect again.")


def _picker_note(picker: bool | None) -> str:
    if picker:
        return "People can be picked by name (User.Read.All is granted)."
    if picker is None:
        return "Whether people can be picked by name could not be checked: run status in a minute."
    return ("To pick people by name rather than type their email addresses, grant the app the optional "
            "User.Read.All application permission in Entra ID, then run status.")


def _scope_note(report: AccessReport) -> str:
    if report.registered:
        return scope_summary(report.registered_readable, report.registered)
    if report.scoped:
        return (f"The app is scoped to some mailboxes: {report.readable} of {report.checked} rooms that Microsoft "
                f"365 lists are readable. Register rooms the app may read. {POLICY_DELAY}")
    return ""


class AdminService:
    def __init__(self, repo: Repository, directory: Directory, *, expected_tenant: str = "",
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), tokens: TokenClient | None = None,
                 users: UserReader | None = None) -> None:
        self._repo = repo
        self._directory = directory
        self._tokens = tokens
        self._users = users  # None: the people picker is not offered
        self._expected_tenant = expected_tenant
        self._clock = clock

    def audit(self, actor: str, action: str, detail: str = "", outcome: str = "done") -> None:
        self._repo.add_audit(actor, action, detail, outcome)

    # --- connection and booking switch ---------------------------------------------------

    def start_consent(self, actor: str, user_key: str, teams_tenant: str | None) -> str:
        """A fresh, single-use `state` for the consent link, tied to the admin who asked (and the
        Teams tenant they asked from). Only a hash of it is stored."""
        state = secrets.token_urlsafe(32)
        self._repo.put_consent_state(_hash(state), {
            "actor": actor, "user_key": user_key, "teams_tenant": teams_tenant or "",
            "expires": (self._clock() + CONSENT_TTL).isoformat()}, now=self._clock())
        self.audit(actor, "connect started")
        return state

    async def finish_consent(self, state: str, *, tenant: str, granted: bool, error: str = "",
                             description: str = "") -> ConsentOutcome:
        """The consent redirect came back. Refused (changing nothing) unless `state` is one we issued,
        unused and unexpired. Then the tenant is checked, the connection verified with a token and
        Graph calls, and the result recorded."""
        now = self._clock()
        request = self._repo.take_consent_state(_hash(state), now=now) if state and len(state) < 200 else None
        if request is None:
            raise ValidationFailed("This consent link is not valid or was used already. Run connect again in Teams.")
        if datetime.fromisoformat(request["expires"]) < now:
            raise ValidationFailed("This consent link has expired. Run connect again in Teams.")
        actor, user_key = request["actor"], request["user_key"]
        if error or not granted:
            reason = (description or error or "consent was not granted").split(" Trace ID")[0]
            self.audit(actor, "connect", f"consent denied: {reason}", "refused")
            return ConsentOutcome(False, f"Admin consent was not granted ({reason}). Nothing changed. Run connect "
                                         f"again and accept the permissions.", user_key)
        expected = self._expected_tenant or request["teams_tenant"]
        if tenant != expected or (request["teams_tenant"] and tenant != request["teams_tenant"]):
            self.audit(actor, "connect", f"wrong tenant {tenant}", "refused")
            return ConsentOutcome(False, f"Consent was given in tenant {tenant}, but RoomBot works for tenant "
                                         f"{expected}. Sign in with an admin account of that tenant and run "
                                         f"connect again.", user_key, tenant)
        if self._tokens is not None:
            # A consent just given must be checked with fresh token answers: msal would otherwise repeat,
            # for 60 s, a refusal the token endpoint gave before the consent.
            await self._tokens.reset()
        try:
            report = await self._directory.verify_access([r.email for r in self._repo.list_rooms()],
                                                         fallback=[user_key])
        except GraphAuthFailed as exc:
            self.audit(actor, "connect", exc.detail, "failed")
            return ConsentOutcome(False, "The app could not sign in to your tenant after consent (check the app's "
                                         "client secret and that consent was given in the right tenant).",
                                  user_key, tenant)
        except GraphError as exc:
            self.audit(actor, "connect", exc.detail, "failed")
            return ConsentOutcome(False, f"The connection check failed: {exc.user_message}", user_key, tenant)
        missing = _missing_permissions(report)
        if missing:
            self.audit(actor, "connect", f"missing {', '.join(missing)}: {report}", "failed")
            return ConsentOutcome(False, _missing_message(report, missing), user_key, tenant)
        picker = await self._can_read_users()
        settings = self._repo.get_settings()
        self._repo.save_settings(replace(settings, tenant_id=tenant, connected=True, people_picker=bool(picker)))
        self.audit(actor, "connect", f"tenant {tenant}; {report.readable} of {report.checked} calendars readable; "
                                     f"people picker {'on' if picker else 'off'}")
        notes = [n for n in (_scope_note(report), _picker_note(picker)) if n]
        return ConsentOutcome(True, f"RoomBot is connected to your Microsoft 365 tenant ({tenant})."
                                    + "".join(f" {n}" for n in notes), user_key, tenant)

    async def _can_read_users(self) -> bool | None:
        """Whether the app may read users, for the people picker; None when it could not be told."""
        if self._users is None:
            return False
        try:
            return await self._users.can_read()
        except GraphError as exc:
            log.warning("could not check whether the app may read users: %s", exc.detail)
            return None

    def disconnect(self, actor: str) -> OrgSettings:
        settings = replace(self._repo.get_settings(), connected=False)
        self._repo.save_settings(settings)
        self.audit(actor, "disconnect")
        return settings

    def set_booking(self, actor: str, enabled: bool) -> OrgSettings:
        settings = self._repo.get_settings()
        if settings.booking_enabled != enabled:
            settings = self._repo.save_settings(replace(settings, booking_enabled=enabled))
            self.audit(actor, "booking " + ("enabled" if enabled else "disabled"))
        return settings

    def set_limits(self, actor: str, values: Mapping[str, object]) -> OrgSettings:
        """The fair-use limits and guest rules from the admin's card: all checked, then saved together."""
        limits = parse_limits(values)
        guests = parse_guest_domains(values.get("guest_domains"))
        allow_any = str(values.get("allow_any_guest", "")).strip().lower() == "true"
        settings = self._repo.get_settings()
        changed = replace(settings, **limits, guest_domains=guests, allow_any_guest=allow_any)
        if changed != settings:
            self._repo.save_settings(changed)
            self.audit(actor, "limits", ", ".join(f"{k}={v}" for k, v in limits.items())
                       + f"; guest domains: {', '.join(guests) or 'none'}; any outside address: {allow_any}")
        return changed

    async def status(self) -> Status:
        settings = self._repo.get_settings()
        rooms = self._repo.list_rooms()
        problems = []
        if not settings.connected:
            problems.append("Not connected to Microsoft 365: run connect.")
        if not settings.booking_enabled:
            problems.append("Booking is switched off: run enable booking.")
        if not rooms:
            problems.append("No rooms are registered: add some with rooms.")
        elif settings.connected:
            try:
                access = await self._directory.calendar_access([r.email for r in rooms])
                summary = scope_summary(sum(err is None for err in access.values()), len(access))
                problems += [summary] if summary else []
                problems += [f"{email}: {access_problem(err, with_delay=not summary)}" for email, err in access.items()
                             if err]
            except GraphError as exc:
                problems.append(f"Room calendars could not be checked: {exc.user_message}")
        if settings.connected:
            settings = self._record_picker(await self._can_read_users(), settings)
        return Status(settings, len(self._repo.list_buildings()), len(self._repo.list_floors()), len(rooms),
                      tuple(problems), people_picker=settings.people_picker)

    def _record_picker(self, picker: bool | None, settings: OrgSettings) -> OrgSettings:
        """Keep what the last check found (a check that could not be made changes nothing)."""
        if picker is None or picker == settings.people_picker:
            return settings
        self.audit("status", "people picker " + ("on: User.Read.All granted" if picker else
                                                 "off: User.Read.All not granted"))
        return self._repo.save_settings(replace(settings, people_picker=picker))

    # --- rooms ----------------------------------------------------------------------------

    async def check_rooms(self, emails: Sequence[str]) -> dict[str, RoomCheck]:
        """Check addresses against the tenant: the mailbox exists, the app may read its calendar, and
        Places lists it as a room. Two kinds of Graph calls in all: Places, and $batch per 20."""
        listed = {r.email: r for r in await self._directory.list_directory_rooms()}
        access = await self._directory.calendar_access(list(emails))
        checks = {}
        for email in emails:
            error = access.get(email)
            if error is not None:
                checks[email] = RoomCheck(email, access_problem(error), listed.get(email))
            elif email not in listed:
                checks[email] = RoomCheck(email, f"{email} is not listed as a room in Microsoft 365 (Places). If it "
                                                 "is a room created in the last 48 hours, add it with "
                                                 "'Not in Places yet' ticked.", only_unlisted=True)
            else:
                checks[email] = RoomCheck(email, listed=listed[email])
        return checks

    async def add_room(self, actor: str, *, floor_id: str, email: str, name: str = "", capacity: object = "",
                       features: object = "", unlisted_ok: bool = False) -> Room:
        floor = self._repo.get_floor(floor_id)
        email = normalize_email(email)
        if self._repo.get_room(email) is not None:
            raise Conflict(f"{email} is already registered.")
        check = (await self.check_rooms([email]))[email]
        if check.problem and not (check.only_unlisted and unlisted_ok):
            self.audit(actor, "room add", f"{email}: {check.problem}", "refused")
            raise ValidationFailed(check.problem)
        listed = check.listed
        room = Room(email=email, display_name=" ".join(str(name).split())[:80] or (listed.display_name if listed
                                                                                   else email.split("@")[0]),
                    building_id=floor.building_id, floor_id=floor.id,
                    capacity=_capacity(capacity) if str(capacity).strip() else (listed.capacity if listed else 0),
                    features=_features(features) or (listed.features if listed else ()))
        self._repo.add_room(room)
        self.audit(actor, "room add", f"{email} on {floor.id}")
        return room

    def update_room(self, actor: str, email: str, *, name: str, capacity: object, features: object,
                    floor_id: str | None = None) -> Room:
        room = self._repo.get_room(email)
        if room is None:
            raise NotFound(f"{email} is not a registered room.")
        floor = self._repo.get_floor(floor_id) if floor_id else self._repo.get_floor(room.floor_id)
        name = " ".join(str(name).split())[:80]
        if not name:
            raise ValidationFailed("A room needs a name.")
        room = replace(room, display_name=name, capacity=_capacity(capacity), features=_features(features),
                       floor_id=floor.id, building_id=floor.building_id)
        self._repo.update_room(room)
        self.audit(actor, "room edit", room.email)
        return room

    def remove_room(self, actor: str, email: str) -> None:
        self._repo.remove_room(email)
        self.audit(actor, "room remove", email)

    # --- buildings and floors -------------------------------------------------------------

    def add_building(self, actor: str, name: str) -> Building:
        building = self._repo.add_building(name)
        self.audit(actor, "building add", building.name)
        return building

    def rename_building(self, actor: str, building_id: str, name: str) -> Building:
        building = self._repo.rename_building(building_id, name)
        self.audit(actor, "building rename", f"{building_id} -> {building.name}")
        return building

    def remove_building(self, actor: str, building_id: str) -> Building:
        building = self._repo.remove_building(building_id)
        self.audit(actor, "building remove", building.name)
        return building

    def add_floor(self, actor: str, building_id: str, name: str, level: object = 0) -> Floor:
        level = _whole(level, f"A floor's level must be a whole number from {MIN_LEVEL} to {MAX_LEVEL}.",
                       MIN_LEVEL, MAX_LEVEL)
        floor = self._repo.add_floor(building_id, name, level)
        self.audit(actor, "floor add", f"{building_id}: {floor.name}")
        return floor

    def rename_floor(self, actor: str, floor_id: str, name: str) -> Floor:
        floor = self._repo.rename_floor(floor_id, name)
        self.audit(actor, "floor rename", f"{floor_id} -> {floor.name}")
        return floor

    def remove_floor(self, actor: str, floor_id: str) -> Floor:
        floor = self._repo.remove_floor(floor_id)
        self.audit(actor, "floor remove", f"{floor.building_id}: {floor.name}")
        return floor

    # --- imports --------------------------------------------------------------------------

    async def places_plan(self) -> list[ImportRow]:
        """What an import from Places would add: room lists and Places' building/floor fields give the
        floor plans. Nothing is saved."""
        by_email: dict[str, tuple[DirectoryRoom, str]] = {}
        for list_email, list_name in await self._directory.list_room_lists():
            for room in await self._directory.rooms_in_list(list_email):
                by_email.setdefault(room.email, (room, list_name))
        for room in await self._directory.list_directory_rooms():
            by_email.setdefault(room.email, (room, ""))
        rows = []
        for room, list_name in sorted(by_email.values(), key=lambda x: x[0].email)[:MAX_IMPORT]:
            building = room.building or list_name.removesuffix(" rooms") or "Other rooms"
            floor = room.floor_label or (f"Floor {room.floor_number}" if room.floor_number is not None
                                         else "Main floor")
            rows.append(ImportRow(room.email, room.display_name or room.email, room.capacity, room.features,
                                  building, floor, room.floor_number or 0))
        return await self._checked(rows, require_listed=False)

    async def csv_plan(self, text: str) -> list[ImportRow]:
        """Rows of `email, name, capacity, building, floor[, features separated by ;]` (a header row
        is allowed), checked like rooms added one by one. Nothing is saved."""
        rows, problems = [], []
        for number, fields in enumerate(csv.reader(io.StringIO(text or "")), start=1):
            fields = [f.strip() for f in fields]
            if not any(fields) or (number == 1 and fields[0].lower() == "email"):
                continue
            if len(rows) + len(problems) >= MAX_IMPORT:
                raise ValidationFailed(f"At most {MAX_IMPORT} rooms can be imported at once.")
            try:
                if len(fields) < 5:
                    raise ValidationFailed("needs email, name, capacity, building and floor")
                email = normalize_email(fields[0])
                rows.append(ImportRow(email, fields[1][:80] or email, _capacity(fields[2]),
                                      _features(fields[5] if len(fields) > 5 else ""), fields[3][:80], fields[4][:80]))
            except DomainError as exc:
                problems.append(ImportRow(fields[0][:80] if fields else "", "", 0, (), "", "",
                                          problem=f"line {number}: {exc.detail}"))
        if not rows and not problems:
            raise ValidationFailed("Paste at least one line: email, name, capacity, building, floor, features.")
        return problems + await self._checked(rows, require_listed=True)

    async def _checked(self, rows: list[ImportRow], *, require_listed: bool) -> list[ImportRow]:
        seen: set[str] = set()
        checks = await self.check_rooms([r.email for r in rows]) if rows else {}
        result = []
        for row in rows:
            problem = ""
            if row.email in seen:
                problem = "listed twice"
            elif self._repo.get_room(row.email) is not None:
                problem = "already registered"
            elif not row.building or not row.floor:
                problem = "needs a building and a floor"
            else:
                check = checks[row.email]
                if check.problem and (require_listed or not check.only_unlisted):
                    problem = check.problem
            seen.add(row.email)
            result.append(replace(row, problem=problem))
        return result

    def apply_plan(self, actor: str, rows: Iterable[ImportRow], source: str) -> int:
        """Save the rows without a problem, creating buildings and floors by name. Returns rooms added."""
        buildings = {b.name.lower(): b for b in self._repo.list_buildings()}
        floors = {(f.building_id, f.name.lower()): f for f in self._repo.list_floors()}
        added = 0
        for row in rows:
            if row.problem or self._repo.get_room(row.email) is not None:
                continue
            building = buildings.get(row.building.lower()) or self._repo.add_building(row.building)
            buildings[building.name.lower()] = building
            floor = floors.get((building.id, row.floor.lower())) or self._repo.add_floor(building.id, row.floor,
                                                                                         row.level)
            floors[(building.id, floor.name.lower())] = floor
            self._repo.add_room(Room(email=row.email, display_name=row.name, building_id=building.id,
                                     floor_id=floor.id, capacity=row.capacity, features=row.features))
            added += 1
        self.audit(actor, f"import from {source}", f"{added} rooms")
        return added

    # --- admins ---------------------------------------------------------------------------

    def add_admin(self, actor: str, key: str, role: str = ROLE_ADMIN, *, name: str = "", email: str = "") -> Admin:
        """`name` and `email`: who the key is, as Teams said when asked (kept to show the admin by)."""
        if role not in (ROLE_ADMIN, ROLE_BOOKING_ADMIN):
            raise ValidationFailed("Pick a role: admin or booking admin.")
        key = " ".join(str(key).split()).lower()
        if "@" in key:
            key = normalize_email(key)
        elif len(key) != 36 or key.count("-") != 4:
            raise ValidationFailed("Give the person's user principal name (name@company.com) or AAD object id.")
        email = email.strip().lower() if "@" in email and len(email) <= 254 else (key if "@" in key else "")
        admin = self._repo.add_admin(Admin(key=key, roles=(role,), added_by=actor, name=" ".join(name.split())[:120],
                                           email=email))
        self.audit(actor, "admin add", f"{key} as {role}")
        return admin

    def remember_name(self, name: str, email: str, *keys: str) -> None:
        """Fills in the name of an admin added without one (from configuration, or before names were
        kept) when that admin is seen: an admin should not stay an object id on the admins card."""
        admin = self._repo.find_admin(*keys)
        name = " ".join(name.split())[:120]
        if admin is not None and name and not admin.name:
            self._repo.add_admin(replace(admin, name=name, email=admin.email or email.strip().lower()[:254]))

    def remove_admin(self, actor: str, key: str) -> None:
        remaining = [a for a in self._repo.list_admins() if ROLE_ADMIN in a.roles and a.key != key.lower()]
        target = self._repo.find_admin(key)
        if target and ROLE_ADMIN in target.roles and not remaining:
            raise ValidationFailed("At least one admin must remain.")
        self._repo.remove_admin(key)
        self.audit(actor, "admin remove", key)


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()
