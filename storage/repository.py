"""The repository: RoomBot's persistent data, as domain objects, over any backend."""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
import secrets
import threading
import time
import uuid
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from domain.errors import Conflict, NotFound, ValidationFailed
from domain.jobs import JOB_KINDS, JOB_REMIND, Job
from domain.models import (
    BOOKING_CANCELLED,
    BOOKING_PENDING,
    Admin,
    Booking,
    Building,
    Floor,
    OrgSettings,
    Room,
    normalize_email,
)
from storage.backends import Backend, Duplicate

log = logging.getLogger(__name__)

_SETTINGS_KEY = "org"
_LAST_BOOKING_KEY = "last_booking"  # in a person's `users` partition: their newest archived booking

AUDIT_RETENTION_DAYS = 90  # audit days kept (AUDIT_RETENTION_DAYS)
ARCHIVE_AFTER_DAYS = 30  # bookings ended longer ago leave a person's own file (BOOKING_ARCHIVE_DAYS)
CANCELLED_ARCHIVED_AFTER = timedelta(days=1)  # cancelled bookings made longer ago leave it too
JOB_HORIZON = timedelta(minutes=61)  # a job is due at most this long before its booking starts (a reminder)
MAX_FAVOURITES = 25  # rooms a person can star
RECENT_ROOMS = 5  # recently booked rooms that rank first in a search
ARCHIVE_BATCH = 200  # bookings moved at most in one go (a first pass over a long history is spread)
REFUSALS_FLUSH_S = 5.0  # refusals from other tenants are counted in memory at most this long
TENANTS_PER_HOUR = 100  # distinct other tenants counted apart per hour; more are counted together
MORE_TENANTS = "(more tenants)"
TWO_TENANTS = "(two tenants)"  # activities naming two different tenants, counted as one
_REGISTRY = frozenset({"rooms", "buildings", "floors"})  # the organisation's collections a typed message may name
REGISTRY_RECHECK_S = 1.0  # on shared data, how long a turn's check of the organisation's data holds at most
CONSENT_GRACE = timedelta(days=1)  # the daily clean-up leaves consent requests this long past expiry
_T = TypeVar("_T")
_AUDIT_SEQUENCE = itertools.count()  # per process: entries written in the same nanosecond keep apart

# Every collection the repository keeps, by kind (its only names: a test holds it to these), so that
# storage.migrate copies all of them and no second list has to be kept by hand.
COLLECTIONS = ("settings", "buildings", "floors", "rooms", "admins", "consent_states", "secrets")
PARTITIONED = ("bookings", "booking_index", "booking_days", "booking_archive", "users", "conversations",
               "welcomed", "search_rate", "jobs",
               "audit")  # the audit log's form before it was appended to: moved into the log at start
LOGS = ("audit",)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "item"


def _clean_name(name: str, what: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed(f"A {what} needs a name.")
    if len(name) > 80:
        raise ValidationFailed(f"A {what} name can have at most 80 characters.")
    return name


def _dt_to_json(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _dt_from_json(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _bucket(key: str) -> str:
    """One of 4,096 buckets, for indexes over keys that name no partition of their own."""
    return hashlib.sha1(key.encode()).hexdigest()[:3]


def _day(value: datetime) -> str:
    return value.astimezone(UTC).date().isoformat()


def _archive_part(booker: str, day: str) -> str:
    """A person's archived bookings are kept by month of their start: archiving writes that month."""
    return f"{booker}/{day[:7]}"


def _ns(value: datetime) -> int:
    return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000


class Repository:
    """Organisation settings, the room registry, admins, bookings and conversation references.

    What grows with people and time is kept per partition, so that a turn's reads and writes cost
    what its own user has, not what the organisation has: a person's bookings (found by attempt
    there too), conversation reference and time zone; the audit log by day. Two small indexes find
    a booking by id (4,096 buckets) and the bookings starting on a day (for the admin list).

    What grows without end is bounded: bookings that ended `archive_after_days` ago (and cancelled
    ones a day old) move from the person's own partition to an archive by person and month, where
    they are still found by id and in `list_bookings`; audit days older than `audit_retention_days`
    are dropped; so are expired consent requests. Refusals of other tenants' activities are counted
    per tenant and hour, not written one by one.
    """

    def __init__(self, backend: Backend, *, audit_retention_days: int = AUDIT_RETENTION_DAYS,
                 archive_after_days: int | None = ARCHIVE_AFTER_DAYS, clock: Callable[[], datetime] = _utc_now,
                 refusals_flush_s: float = REFUSALS_FLUSH_S) -> None:
        """`archive_after_days=None` keeps every booking in its person's partition (the benchmark
        compares with it)."""
        self._backend = backend
        self._clock = clock
        self._audit_retention = timedelta(days=audit_retention_days)
        self._archive_after = timedelta(days=archive_after_days) if archive_after_days is not None else None
        self._refusals_flush_s = refusals_flush_s
        self._settings = backend.collection("settings")
        self._buildings = backend.collection("buildings")
        self._floors = backend.collection("floors")
        self._rooms = backend.collection("rooms")
        self._admins = backend.collection("admins")
        self._bookings = backend.partitioned("bookings")  # by booker
        self._booking_index = backend.partitioned("booking_index")  # id -> booker, by bucket of the id
        self._booking_days = backend.partitioned("booking_days")  # id -> booker, by start day (UTC)
        self._archive = backend.partitioned("booking_archive")  # by booker and month (_archive_part)
        self._audit = backend.log("audit")  # by day
        self._legacy_audit = backend.partitioned("audit")  # by day, before the audit log was appended to
        # Refusals of other tenants' activities not written yet: (hour, tenant) -> count, first, last, actor.
        self._refusals: dict[tuple[str, str], dict[str, Any]] = {}
        self._tenants_seen: tuple[str, set[str]] = ("", set())  # this hour's tenants counted apart
        self._refusals_lock = threading.Lock()
        self._refusals_timer: threading.Timer | None = None
        self._housekept_on = ""
        self._consent_states = backend.collection("consent_states")
        self._secrets = backend.collection("secrets")  # keys made once, shared by every instance on this data
        self._users = backend.partitioned("users")  # by user
        self._conversations = backend.partitioned("conversations")  # by user
        self._welcomed = backend.partitioned("welcomed")  # by bucket of the conversation id
        self._search_rate = backend.partitioned("search_rate")  # by user: their searches of the last minute
        self._jobs = backend.partitioned("jobs")  # by the hour (UTC) their booking starts: _job_part
        self._jobs_for: Callable[[Booking], list[Job]] | None = None
        # The organisation's own data (settings, buildings, floors, rooms, admins) is read on every turn and
        # changed by admins only: kept parsed, dropped when this process writes it, and on shared data
        # (several instances) checked against its version: once a turn (`one_turn`), else on every read.
        self._kept: dict[str, Any] = {}
        self._registry_edits = 0  # changes to the rooms, buildings and floors kept (`registry_version`)
        self._versions: dict[str, int] = {}
        self._move_legacy_files()
        self.housekeeping()

    def read_org(self) -> None:
        """Read the organisation's data now (at start), in one read of its file, rather than a read each on the
        first turns (50,000 rooms are 10 MB of JSON: a few tenths of a second each time, on the event loop)."""
        with self._backend.read_together():
            self.get_settings()
            self._building_map()
            self._floor_map()
            self._registry()
            self._admin_map()

    def _move_legacy_files(self) -> None:
        """RoomBot before partitions kept all bookings, conversations and the audit log in one file
        each: move what they hold into partitions, then set the files aside (renamed, not deleted).
        A crash in between repeats the move at the next start; every step of it can be repeated."""
        bookings = self._backend.legacy_documents("bookings.json", "bookings")
        if bookings is not None:
            self.import_bookings(self._booking_from(doc) for doc in bookings.values())
            self._backend.retire("bookings.json")
        conversations = self._backend.legacy_documents("conversations.json", "conversations")
        if conversations is not None:
            for key, doc in conversations.items():
                if key.startswith("welcomed:"):
                    self.mark_welcomed(key.removeprefix("welcomed:"))
                elif doc.get("reference"):
                    self.save_conversation_reference(key, doc["reference"])
            for key, doc in (self._backend.legacy_documents("conversations.json", "users") or {}).items():
                if doc.get("zone"):
                    self.save_user_zone(key, doc["zone"])
            self._backend.retire("conversations.json")
        audit = self._backend.legacy_documents("audit.json", "audit")
        if audit is not None:
            by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for doc in audit.values():
                by_day[str(doc.get("at", ""))[:10] or "0000-00-00"].append(doc)
            for day, docs in by_day.items():  # a repeat after a crash appends again; reads drop repeats
                self._audit.append(day, sorted(docs, key=lambda d: str(d.get("key"))))
            self._backend.retire("audit.json")
        for day in self._legacy_audit.parts():  # one TinyDB file per day: rewritten by every entry
            self._audit.append(day, sorted(self._legacy_audit.all(day), key=lambda d: str(d.get("key"))))
            self._legacy_audit.drop(day)

    @property
    def shared(self) -> bool:
        """Whether several processes share this data (PostgreSQL), so nothing read may be kept for long."""
        return self._backend.shared

    def housekeeping(self, now: datetime | None = None) -> None:
        """The daily clean-up (at start, then on the first audit entry, refusal or consent request of a day):
        audit days past retention are dropped, and consent requests long expired."""
        now = now or self._clock()
        self._housekept_on = _day(now)
        oldest_kept = _day(now - self._audit_retention)
        for day in self._audit.parts():
            if day < oldest_kept:
                self._audit.drop(day)
        self._drop_expired_consent_states(now - CONSENT_GRACE)

    def _daily(self, now: datetime) -> None:
        if _day(now) != self._housekept_on:
            self.housekeeping(now)

    def close(self) -> None:
        self.flush_refusals()
        self._backend.close()

    # --- organisation settings -------------------------------------------------------------

    def _org(self, name: str, load: Callable[[], _T]) -> _T:
        """The organisation's collection `name` as `load` parses it, kept until it changes (see __init__)."""
        if self._backend.shared:
            turn, now = _TURN.get(), time.monotonic()
            if turn is None or now - turn[0] >= REGISTRY_RECHECK_S:
                versions = self._backend.versions()  # another instance's admin may have changed something
                for changed in [n for n in self._kept if versions.get(n, 0) != self._versions.get(n, 0)]:
                    self._changed(changed)
                self._versions = versions
                if turn is not None:
                    turn[0] = now
        if name not in self._kept:
            self._kept[name] = load()
        return self._kept[name]

    def _changed(self, name: str) -> None:
        self._kept.pop(name, None)
        if name in _REGISTRY:
            self._registry_edits += 1

    def _added(self, name: str, key: str, value: Any) -> None:
        """`value` was just written under `key` into the organisation's collection `name`: the parsed copy
        kept gets it too instead of being read again (a floor plan of 2,500 floors added one by one read
        all of them back each time). On shared data it is dropped as on any change (see `_org`)."""
        kept = self._kept.get(name)
        if kept is None or self._backend.shared:
            self._changed(name)
        else:
            kept[key] = value
            if name in _REGISTRY:
                self._registry_edits += 1

    def get_settings(self) -> OrgSettings:
        def load() -> OrgSettings:
            doc = self._settings.get(_SETTINGS_KEY)
            return OrgSettings(**_known(OrgSettings, doc)) if doc else OrgSettings()
        return self._org("settings", load)

    def save_settings(self, settings: OrgSettings) -> OrgSettings:
        with self._backend.transaction():
            before = self.get_settings()
            self._changed("settings")
            self._settings.put(_SETTINGS_KEY, asdict(settings))
            if _attendance_of(before) != _attendance_of(settings):  # reminders and releases follow the new defaults
                self._replan_upcoming(lambda b: True)
        return settings

    # --- buildings (floor plans) and floors -------------------------------------------------

    def add_building(self, name: str) -> Building:
        name = _clean_name(name, "building")
        if any(b.name.lower() == name.lower() for b in self.list_buildings()):
            raise Conflict(f"There is already a building called '{name}'.")
        building = Building(id=self._new_id("b", name, self._buildings), name=name)
        self._buildings.put(building.id, asdict(building))
        self._added("buildings", building.id, building)
        return building

    def rename_building(self, building_id: str, name: str) -> Building:
        building = self.get_building(building_id)
        name = _clean_name(name, "building")
        if any(b.name.lower() == name.lower() and b.id != building_id for b in self.list_buildings()):
            raise Conflict(f"There is already a building called '{name}'.")
        building = replace(building, name=name)
        self._changed("buildings")
        self._buildings.put(building.id, asdict(building))
        return building

    def update_building(self, building: Building) -> Building:
        """Save a building's other fields (its time zone); its name changes through rename_building."""
        stored = self.get_building(building.id)
        building = replace(building, name=stored.name)
        self._changed("buildings")
        self._buildings.put(building.id, asdict(building))
        return building

    def remove_building(self, building_id: str) -> Building:
        """Remove a building and its floors; refused while rooms are registered in it."""
        building = self.get_building(building_id)
        if self.list_rooms(building_id=building_id):
            raise Conflict(f"'{building.name}' still has rooms. Remove or move them first.")
        with self._backend.transaction():
            for floor in self.list_floors(building_id):
                self._floors.delete(floor.id)
            self._buildings.delete(building_id)
        self._changed("floors")
        self._changed("buildings")
        return building

    def _building_map(self) -> dict[str, Building]:
        return self._org("buildings", lambda: {b.id: b for b in (Building(**_known(Building, d))
                                                                 for d in self._buildings.all())})

    def get_building(self, building_id: str) -> Building:
        building = self._building_map().get(building_id) if isinstance(building_id, str) else None
        if building is None:
            raise NotFound("That building does not exist.")
        return building

    def list_buildings(self) -> list[Building]:
        return sorted(self._building_map().values(), key=lambda b: b.name.lower())

    def add_floor(self, building_id: str, name: str, level: int = 0) -> Floor:
        self.get_building(building_id)
        name = _clean_name(name, "floor")
        if any(f.name.lower() == name.lower() for f in self.list_floors(building_id)):
            raise Conflict(f"That building already has a floor called '{name}'.")
        floor = Floor(id=self._new_id("f", f"{building_id}-{name}", self._floors), building_id=building_id,
                      name=name, level=level)
        self._floors.put(floor.id, asdict(floor))
        self._added("floors", floor.id, floor)
        return floor

    def rename_floor(self, floor_id: str, name: str) -> Floor:
        floor = self.get_floor(floor_id)
        name = _clean_name(name, "floor")
        if any(f.name.lower() == name.lower() and f.id != floor_id for f in self.list_floors(floor.building_id)):
            raise Conflict(f"That building already has a floor called '{name}'.")
        floor = replace(floor, name=name)
        self._changed("floors")
        self._floors.put(floor.id, asdict(floor))
        return floor

    def remove_floor(self, floor_id: str) -> Floor:
        """Remove a floor; refused while rooms are registered on it."""
        floor = self.get_floor(floor_id)
        if self.list_rooms(floor_id=floor_id):
            raise Conflict(f"'{floor.name}' still has rooms. Remove or move them first.")
        self._changed("floors")
        self._floors.delete(floor_id)
        return floor

    def _floor_map(self) -> dict[str, Floor]:
        return self._org("floors", lambda: {f.id: f for f in (Floor(**_known(Floor, d)) for d in self._floors.all())})

    def get_floor(self, floor_id: str) -> Floor:
        floor = self._floor_map().get(floor_id) if isinstance(floor_id, str) else None
        if floor is None:
            raise NotFound("That floor does not exist.")
        return floor

    def list_floors(self, building_id: str | None = None) -> list[Floor]:
        floors = [f for f in self._floor_map().values() if not building_id or f.building_id == building_id]
        return sorted(floors, key=lambda f: (f.building_id, f.level, f.name.lower()))

    # --- rooms ----------------------------------------------------------------------------

    def add_room(self, room: Room) -> Room:
        self.add_rooms([room])
        return room

    def add_rooms(self, rooms: Iterable[Room]) -> int:
        """Register several rooms in one write (all or none: each is checked first)."""
        docs: dict[str, dict[str, Any]] = {}
        floors: dict[str, Floor] = {}
        for room in rooms:
            floor = floors.get(room.floor_id) or self.get_floor(room.floor_id)
            floors[floor.id] = floor
            if floor.building_id != room.building_id:
                raise ValidationFailed("That floor is not in that building.")
            if room.email in docs:
                raise Conflict(f"{room.email} is already registered.")
            docs[room.email] = self._room_doc(room)
        self._changed("rooms")
        with self._backend.transaction():  # inserted, not overwritten: another instance may register one too
            taken = self._rooms.insert_many(docs)
            if taken is not None:
                raise Conflict(f"{taken} is already registered.")
        return len(docs)

    def update_room(self, room: Room) -> Room:
        before = self.get_room(room.email)
        if before is None:
            raise NotFound(f"{room.email} is not a registered room.")
        self._changed("rooms")
        with self._backend.transaction():
            self._rooms.put(room.email, self._room_doc(room))
            if before.rules != room.rules:  # its bookings' releases follow the new rules
                self._replan_upcoming(lambda b: b.room_email == room.email)
        return room

    def _registry(self) -> _Registry:
        def load() -> _Registry:
            rooms = sorted((self._room_from(d) for d in self._rooms.each()),
                           key=lambda r: (r.building_id, r.floor_id, r.email))
            return _Registry((room.email, room) for room in rooms)
        return self._org("rooms", load)

    def rooms_fitting(self, min_capacity: int = 0) -> list[Room]:
        """The registered rooms with at least `min_capacity` seats, smallest first, then by name and email
        (domain.booking.fit_key's order, closeness aside): a search can take them in this order and stop
        once it has enough, rather than sort 50,000 rooms each time. Sorted once per registry change."""
        capacities, rooms = self._registry().by_fit()
        return rooms[bisect_left(capacities, min_capacity):]

    def registry_version(self) -> int:
        """A number that changes whenever the rooms, buildings or floors kept parsed change (here, or on shared
        data on another instance, as checked on each read), so what is made from them (the names a typed
        message may say) is made once per change."""
        self._registry(), self._building_map(), self._floor_map()  # noqa: B018 - checked, as any read is
        return self._registry_edits
    def room_registry(self) -> Mapping[str, Room]:
        """The registered rooms by email (what is worked out from them, as search's rank index, is kept while
        `registry_version` stays the same)."""
        return self._registry()

    def get_room(self, email: str) -> Room | None:
        """The registered room with that address, or None (also for malformed addresses)."""
        try:
            key = normalize_email(email)
        except ValidationFailed:
            return None
        return self._registry().get(key)

    def list_rooms(self, building_id: str | None = None, floor_id: str | None = None) -> list[Room]:
        """Registered rooms, by building, floor and email; those of a building or floor come from an index, not
        from a pass over the whole registry."""
        registry = self._registry()
        if not (building_id or floor_id):
            return list(registry.values())
        rooms = registry.on(building_id=building_id or "", floor_id=floor_id or "")
        return [r for r in rooms if not building_id or r.building_id == building_id]

    def room_features(self) -> list[str]:
        """Every feature some registered room has, sorted (the booking form's choices), worked out once per
        registry change rather than from 50,000 rooms on every form."""
        return list(self._registry().features())

    def remove_room(self, email: str) -> None:
        self._changed("rooms")
        if not self._rooms.delete(normalize_email(email)):
            raise NotFound(f"{email} is not a registered room.")

    @staticmethod
    def _room_doc(room: Room) -> dict[str, Any]:
        doc = {name: getattr(room, name) for name in _ROOM_FIELDS}  # asdict's deep copy: a third of seeding 50,000
        doc["features"] = list(room.features)
        doc["rules"] = asdict(room.rules) if room.rules is not None else None
        return doc

    @staticmethod
    def _room_from(doc: dict[str, Any]) -> Room:
        return Room(**{**_known(Room, doc), "features": tuple(doc.get("features", ()))})

    # --- admins -----------------------------------------------------------------------------

    def add_admin(self, admin: Admin) -> Admin:
        key = admin.key.strip().lower()
        if not key:
            raise ValidationFailed("An admin needs an AAD object id or a user principal name.")
        admin = replace(admin, key=key)
        self._changed("admins")
        self._admins.put(key, {"key": key, "roles": list(admin.roles), "added_by": admin.added_by,
                               "name": admin.name, "email": admin.email})
        return admin

    def remove_admin(self, key: str) -> None:
        key = key.strip().lower()
        if self._admins.get(key) is None:
            raise NotFound(f"{key} is not an admin.")
        if len(self._admins.all()) <= 1:
            raise ValidationFailed("At least one admin must remain.")
        self._changed("admins")
        self._admins.delete(key)

    def list_admins(self) -> list[Admin]:
        return sorted(self._admin_map().values(), key=lambda a: a.key)

    def _admin_map(self) -> dict[str, Admin]:
        return self._org("admins", lambda: {a.key: a for a in map(self._admin_from, self._admins.all())})

    def find_admin(self, *keys: str | None) -> Admin | None:
        """The admin matching any of the given identities (AAD object id, UPN, email)."""
        admins = self._admin_map()
        return next((admins[k.strip().lower()] for k in keys if k and k.strip().lower() in admins), None)

    @staticmethod
    def _admin_from(doc: dict[str, Any]) -> Admin:
        """An admin record; those written before names were kept have no name or email."""
        return Admin(key=doc["key"], roles=tuple(doc["roles"]), added_by=doc.get("added_by", ""),
                     name=doc.get("name") or "", email=doc.get("email") or "")

    # --- bookings ---------------------------------------------------------------------------

    def add_booking(self, booking: Booking) -> Booking:
        if booking.attempt_key and self.get_booking_by_attempt(booking.booker_aad_id, booking.attempt_key):
            raise Conflict("That booking attempt is already recorded.")
        # Indexes first: a crash in between leaves an index entry without its booking, which reads
        # as no booking; never a booking that cannot be found. (On PostgreSQL all or none is written,
        # and the attempt id is unique per person there too: two instances cannot both record it.)
        try:
            with self._backend.transaction():
                if not self._booking_index.insert(_bucket(booking.id), booking.id, self._index_entry(booking)):
                    raise Conflict("That booking is already recorded.")
                self._booking_days.put(_day(booking.start), booking.id, self._owner(booking))
                self._bookings.put(booking.booker_aad_id, booking.id, self._booking_doc(booking))
                self._replan(None, booking)
        except Duplicate as exc:
            raise Conflict("That booking attempt is already recorded.") from exc
        return booking

    @staticmethod
    def _owner(booking: Booking) -> dict[str, Any]:
        return {"id": booking.id, "booker": booking.booker_aad_id}

    @staticmethod
    def _index_entry(booking: Booking) -> dict[str, Any]:
        """Whose booking an id is, and its start day (where the archive keeps it)."""
        return {"id": booking.id, "booker": booking.booker_aad_id, "day": _day(booking.start)}

    def import_bookings(self, bookings: Iterable[Booking]) -> int:
        """Record many bookings (an import, a migration): one write per partition touched. Bookings
        already recorded are replaced."""
        by_part: dict[tuple[Any, str], dict[str, dict[str, Any]]] = defaultdict(dict)
        bookings_list = list(bookings)
        for b in bookings_list:
            by_part[(self._booking_index, _bucket(b.id))][b.id] = self._index_entry(b)
            by_part[(self._booking_days, _day(b.start))][b.id] = self._owner(b)
            by_part[(self._bookings, b.booker_aad_id)][b.id] = self._booking_doc(b)
        indexes_first = sorted(by_part.items(), key=lambda item: item[0][0] is self._bookings)  # as in add_booking
        with self._backend.transaction():
            for (collection, part), docs in indexes_first:
                collection.put_many(part, docs)
            if self._jobs_for is not None:  # imported bookings are new here: their jobs, one write per partition
                self.put_jobs(job for b in bookings_list for job in self._jobs_for(b))
        return sum(len(docs) for (c, _), docs in by_part.items() if c is self._bookings)

    def get_booking_by_attempt(self, booker_aad_id: str, attempt_key: str) -> Booking | None:
        return next((b for b in self.list_bookings_for_user(booker_aad_id) if b.attempt_key == attempt_key), None)

    def last_booking_for(self, booker_aad_id: str) -> Booking | None:
        """The user's most recently made booking that went through (cancelled ones count: they
        still say where the user likes to meet), archived ones included."""
        made = [b for b in self.list_bookings_for_user(booker_aad_id) if b.status != BOOKING_PENDING]
        archived = self._users.get(booker_aad_id, _LAST_BOOKING_KEY) if booker_aad_id else None
        if archived is not None:
            made.append(self._booking_from(archived))
        return max(made, key=_made_at, default=None)

    def update_booking(self, booking: Booking) -> Booking:
        doc, archived_in = self._locate(booking.id)
        current = self._booking_from(doc) if doc else None
        if current is None or current.booker_aad_id != booking.booker_aad_id:
            raise NotFound("That booking does not exist.")
        with self._backend.transaction():
            moved_day = _day(current.start) != _day(booking.start)
            if moved_day:  # the new day's entry first, as in add_booking
                self._booking_days.put(_day(booking.start), booking.id, self._owner(booking))
            if archived_in is None:
                self._bookings.put(booking.booker_aad_id, booking.id, self._booking_doc(booking))
            else:  # a past booking: it stays in the archive (the new month's first, then the index, then the old)
                self._archive.put(_archive_part(booking.booker_aad_id, _day(booking.start)), booking.id,
                                  self._booking_doc(booking))
            if moved_day:
                self._booking_index.put(_bucket(booking.id), booking.id, self._index_entry(booking))
                if archived_in is not None and archived_in != _archive_part(booking.booker_aad_id, _day(booking.start)):
                    self._archive.delete(archived_in, booking.id)
                self._booking_days.delete(_day(current.start), booking.id)
            self._replan(current, booking)
        return booking

    def get_booking(self, booking_id: str) -> Booking | None:
        doc, _ = self._locate(booking_id)
        return self._booking_from(doc) if doc else None

    def _locate(self, booking_id: str) -> tuple[dict[str, Any] | None, str | None]:
        """A booking's document and, when it is archived, its archive partition. The person's own
        partition is read first: while a move to the archive is under way (or was cut short by a
        crash) the booking is in both, and the same."""
        if not isinstance(booking_id, str) or not booking_id:
            return None, None
        owner = self._booking_index.get(_bucket(booking_id), booking_id)
        if owner is None:
            return None, None
        doc = self._bookings.get(owner["booker"], booking_id)
        if doc is not None or not owner.get("day"):
            return doc, None
        part = _archive_part(owner["booker"], owner["day"])
        doc = self._archive.get(part, booking_id)
        return (doc, part) if doc is not None else (None, None)

    def list_bookings_for_user(self, booker_aad_id: str) -> list[Booking]:
        """The person's current bookings: to come, going on, ended in the last `archive_after_days`,
        and cancelled in the last day or so. Older ones are moved to the archive as they are met
        here, so what a turn reads does not grow with the person's history."""
        docs = self._bookings.all(booker_aad_id) if booker_aad_id else []
        bookings = [self._booking_from(d) for d in docs]
        now = self._clock()
        old = [b for b in bookings if self._archivable(b, now)][:ARCHIVE_BATCH]
        if old:
            self._move_to_archive(booker_aad_id, old)
            moved = {b.id for b in old}
            bookings = [b for b in bookings if b.id not in moved]
        return sorted(bookings, key=lambda b: b.start)

    def _archivable(self, booking: Booking, now: datetime) -> bool:
        if self._archive_after is None or booking.status == BOOKING_PENDING:
            return False
        return booking.end < now - self._archive_after or (
            booking.status == BOOKING_CANCELLED and _made_at(booking) < now - CANCELLED_ARCHIVED_AFTER)

    def _move_to_archive(self, booker: str, bookings: list[Booking]) -> None:
        """Copy to the archive, then delete from the person's partition: a crash in between leaves
        a booking in both (read from the person's, moved again next time), never in neither."""
        with self._backend.transaction():
            by_part: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
            for b in bookings:
                by_part[_archive_part(booker, _day(b.start))][b.id] = self._booking_doc(b)
            for part, docs in by_part.items():
                self._archive.put_many(part, docs)
            # Index entries written before the archive existed do not say the day the archive needs.
            entries: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
            for b in bookings:
                if self._booking_index.get(_bucket(b.id), b.id) != self._index_entry(b):
                    entries[_bucket(b.id)][b.id] = self._index_entry(b)
            for bucket, docs in entries.items():
                self._booking_index.put_many(bucket, docs)
            newest = max(bookings, key=_made_at)
            last = self._users.get(booker, _LAST_BOOKING_KEY)
            if last is None or _made_at(self._booking_from(last)) < _made_at(newest):
                self._users.put(booker, _LAST_BOOKING_KEY, self._booking_doc(newest))
            self._bookings.delete_many(booker, [b.id for b in bookings])
        log.info("archived %d bookings of %s", len(bookings), booker)

    def list_bookings(self, since: datetime | None = None, until: datetime | None = None) -> list[Booking]:
        """Every booking (whatever its status), soonest first; with `since`, only those still going
        on or to come then, reading the days from the day before `since` on (a booking lasts at most
        a day); with `until`, only those starting before it (later days are not read)."""
        found = [b for chunk in self.booking_chunks(since, until) for b in chunk]
        return sorted(found, key=lambda b: (b.start, b.id))

    def booking_chunks(self, since: datetime | None = None, until: datetime | None = None,
                       size: int = 50) -> Iterator[list[Booking]]:
        """`list_bookings` a few at a time (unsorted), so that a long read (the admin report over a
        month) can give the event loop back between chunks."""
        first_day = _day(since - timedelta(days=1)) if since else ""
        last_day = _day(until) if until else None
        chunk: list[Booking] = []
        for day in sorted(self._booking_days.parts()):
            if day < first_day or (last_day is not None and day > last_day):
                continue
            for entry in self._booking_days.all(day):
                doc = (self._bookings.get(entry["booker"], entry["id"])
                       or self._archive.get(_archive_part(entry["booker"], day), entry["id"]))
                booking = self._booking_from(doc) if doc else None
                if booking is not None and _day(booking.start) == day and (since is None or booking.end > since) \
                        and (until is None or booking.start < until):
                    chunk.append(booking)
                    if len(chunk) >= size:
                        yield chunk
                        chunk = []
        if chunk:
            yield chunk

    def remove_booking(self, booking_id: str) -> None:
        doc, archived_in = self._locate(booking_id)
        if doc is None:
            raise NotFound("That booking does not exist.")
        booking = self._booking_from(doc)
        with self._backend.transaction():
            self._bookings.delete(booking.booker_aad_id, booking_id)
            if archived_in is not None:
                self._archive.delete(archived_in, booking_id)
            last = self._users.get(booking.booker_aad_id, _LAST_BOOKING_KEY)
            if last is not None and last.get("id") == booking_id:
                self._users.delete(booking.booker_aad_id, _LAST_BOOKING_KEY)
            self._booking_days.delete(_day(booking.start), booking_id)
            self._booking_index.delete(_bucket(booking_id), booking_id)
            self._replan(booking, None)

    @staticmethod
    def _booking_doc(booking: Booking) -> dict[str, Any]:
        return {"id": booking.id, "room_email": booking.room_email, "event_id": booking.event_id,
                "ical_uid": booking.ical_uid, "booker_aad_id": booking.booker_aad_id,
                "booker_email": booking.booker_email, "start": _dt_to_json(booking.start),
                "end": _dt_to_json(booking.end), "subject": booking.subject, "attendees": list(booking.attendees),
                "status": booking.status, "created_at": _dt_to_json(booking.created_at), "zone": booking.zone,
                "attempt_key": booking.attempt_key, "transaction_id": booking.transaction_id,
                "checked_in_at": _dt_to_json(booking.checked_in_at), "checked_in_by": booking.checked_in_by,
                "no_show": booking.no_show}

    @staticmethod
    def _booking_from(doc: dict[str, Any]) -> Booking:
        return Booking(**{**_known(Booking, doc), "start": _dt_from_json(doc["start"]),
                          "end": _dt_from_json(doc["end"]),
                          "created_at": _dt_from_json(doc.get("created_at")),
                          "checked_in_at": _dt_from_json(doc.get("checked_in_at")),
                          "attendees": tuple(doc.get("attendees", ()))})

    # --- jobs: reminders and releases (services.scheduler runs them) -----------------------

    def plan_jobs_with(self, jobs_for: Callable[[Booking], list[Job]]) -> None:
        """Keep every booking's jobs as `jobs_for` plans them: whenever a booking is recorded,
        changed or removed, its jobs are written again in the same call, so a booking moved,
        extended or cancelled (by RoomBot, or found changed in Outlook) never keeps an old job."""
        self._jobs_for = jobs_for

    def _replan(self, old: Booking | None, new: Booking | None) -> None:
        if self._jobs_for is None:
            return
        wanted = {job.key: job for job in self._jobs_for(new)} if new is not None else {}
        if old is not None and _job_part(old.start) != (_job_part(new.start) if new else None):
            self._jobs.delete_many(_job_part(old.start), [f"{kind}:{old.id}" for kind in JOB_KINDS])
        if new is None:
            return
        part = _job_part(new.start)
        stale = [key for key in (f"{kind}:{new.id}" for kind in JOB_KINDS) if key not in wanted]
        if stale:
            self._jobs.delete_many(part, stale)
        current = {key: self._jobs.get(part, key) for key in wanted}
        changed = {key: _job_doc(job) for key, job in wanted.items()
                   if current[key] is None or _job_plan(current[key]) != _job_plan(_job_doc(job))
                   or current[key].get("planned", current[key].get("due")) != _dt_to_json(job.due)}
        if changed:
            self._jobs.put_many(part, changed)

    def put_jobs(self, jobs: Iterable[Job]) -> None:
        """Write jobs as they are (a claim, a try counted), one write per partition."""
        by_part: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for job in jobs:
            by_part[_job_part(job.for_start)][job.key] = _job_doc(job)
        with self._backend.transaction():
            for part, docs in by_part.items():
                self._jobs.put_many(part, docs)

    def due_jobs(self, now: datetime, limit: int = 500) -> list[Job]:
        """Jobs due at `now`, oldest due first. Only the partitions of bookings that start before
        `now` plus JOB_HORIZON are read (no reminder comes earlier than that)."""
        last = _job_part(now + JOB_HORIZON)
        due: list[Job] = []
        for part in sorted(self._jobs.parts()):
            if part > last:
                break
            due.extend(job for job in map(_job_from, self._jobs.all(part)) if job.due <= now)
        return sorted(due, key=lambda j: (j.due, j.key))[:limit]

    def claim_jobs(self, now: datetime, *, owner: str, reminders_until: datetime | None = None,
                   lease: timedelta = timedelta(0), limit: int = 500) -> list[Job]:
        """Claim for `owner` the jobs due at `now` (reminders up to `reminders_until`, to start a burst
        early), soonest first: each is written with its claim in the same statement that finds it
        (FOR UPDATE SKIP LOCKED on PostgreSQL), so two schedulers never take one job. A job another
        owner claimed is taken over once its claim is older than `lease` (that owner died)."""
        rows = self._backend.claim_due(
            "jobs", last_part=_job_part(max(now, reminders_until or now) + JOB_HORIZON), now=_dt_to_json(now) or "",
            early_kind=JOB_REMIND, early_until=_dt_to_json(reminders_until or now) or "", owner=owner,
            stale_before=_dt_to_json(now - lease) or "", limit=limit)
        return [_job_from(doc) for _, _, doc in rows]

    def renew_claims(self, jobs: Iterable[Job], owner: str, now: datetime) -> int:
        """Keep `owner`'s claims on jobs it is still running fresh (so the lease does not run out)."""
        return self._backend.renew_claims("jobs", [(_job_part(j.for_start), j.key) for j in jobs], owner,
                                          _dt_to_json(now) or "")

    def lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take or renew a named lease (see Backend.lease): held across instances on shared data."""
        return self._backend.lease(name, owner, seconds)

    def release(self, name: str, owner: str) -> None:
        self._backend.release(name, owner)

    def next_job_due(self, now: datetime) -> datetime | None:
        """When the next job is due (the scheduler sleeps until then), looking JOB_HORIZON ahead."""
        last = _job_part(now + JOB_HORIZON)
        dues = [datetime.fromisoformat(doc["due"]) for part in self._jobs.parts() if part <= last
                for doc in self._jobs.all(part)]
        return min(dues, default=None)

    def finish_jobs(self, jobs: Iterable[Job]) -> None:
        """Jobs done (or dropped): gone, one write per partition. A job planned again while it ran
        (its booking moved meanwhile) is a new job and stays."""
        self._settle_jobs(jobs, retry=False)

    def retry_jobs(self, jobs: Iterable[Job]) -> None:
        """Jobs that could not run: written back as given (a later due, a try counted, no claim),
        unless their booking planned them again meanwhile."""
        self._settle_jobs(jobs, retry=True)

    def _settle_jobs(self, jobs: Iterable[Job], *, retry: bool) -> None:
        by_part: dict[str, list[Job]] = defaultdict(list)
        for job in jobs:
            by_part[_job_part(job.for_start)].append(job)
        for part, group in by_part.items():
            with self._backend.transaction():
                stored = {job.key: self._jobs.get(part, job.key) for job in group}
                ours = [job for job in group if stored[job.key] is not None
                        and _job_plan(stored[job.key]) == _job_plan(_job_doc(job))]
                if retry:
                    self._jobs.put_many(part, {job.key: _job_doc(job) for job in ours})
                    continue
                self._jobs.delete_many(part, [job.key for job in ours])
                if not self._backend.shared and not self._jobs.all(part):
                    self._jobs.drop(part)  # an empty partition's file

    def get_job(self, kind: str, booking: Booking) -> Job | None:
        doc = self._jobs.get(_job_part(booking.start), f"{kind}:{booking.id}")
        return _job_from(doc) if doc else None

    # --- a person's own settings -------------------------------------------------------------

    def get_reminder_min(self, user_key: str) -> int | None:
        """The minutes before a booking a person wants a reminder (0: none); None: not chosen."""
        doc = self._users.get(user_key, "profile") if user_key else None
        value = doc.get("reminder_min") if doc else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def save_reminder_min(self, user_key: str, minutes: int) -> None:
        """A person's reminder lead; their upcoming bookings' reminders follow it."""
        with self._backend.transaction():
            doc = self._users.get(user_key, "profile") or {}
            self._users.put(user_key, "profile", {**doc, "reminder_min": minutes})
            if self._jobs_for is not None:
                now = self._clock()
                for booking in self.list_bookings_for_user(user_key):
                    if booking.end > now:
                        self._replan(booking, booking)

    # --- a person's favourite and recent rooms ---------------------------------------------

    def favourite_rooms(self, user_key: str) -> list[str]:
        """The room emails a person starred, first starred first (rooms removed since included: the
        caller keeps the registered ones)."""
        doc = self._users.get(user_key, "profile") if user_key else None
        value = doc.get("favourites") if doc else None
        return [e for e in value if isinstance(e, str)] if isinstance(value, list) else []

    def star_room(self, user_key: str, email: str) -> bool:
        """Star a room for a person; False if it already was. At most MAX_FAVOURITES (ValidationFailed)."""
        email = normalize_email(email)
        with self._backend.transaction():
            doc = self._users.get(user_key, "profile") or {}
            starred = self.favourite_rooms(user_key)
            if email in starred:
                return False
            if len(starred) >= MAX_FAVOURITES:
                raise ValidationFailed(f"You can star at most {MAX_FAVOURITES} rooms. Unstar one first.")
            self._users.put(user_key, "profile", {**doc, "favourites": [*starred, email]})
            return True

    def unstar_room(self, user_key: str, email: str) -> bool:
        """Take a room off a person's favourites; False if it was not one."""
        email = normalize_email(email)
        with self._backend.transaction():
            doc = self._users.get(user_key, "profile") or {}
            starred = self.favourite_rooms(user_key)
            if email not in starred:
                return False
            self._users.put(user_key, "profile", {**doc, "favourites": [e for e in starred if e != email]})
            return True

    def recent_rooms(self, user_key: str, limit: int = RECENT_ROOMS) -> list[str]:
        """The rooms a person booked most recently, newest first, each once: from their bookings of the
        last weeks (cancelled ones too: they still say where the person meets) and their newest archived
        one. Read from their own partition: costs what the person has, not the organisation."""
        if not user_key:
            return []
        made = [b for b in self.list_bookings_for_user(user_key) if b.status != BOOKING_PENDING]
        archived = self._users.get(user_key, _LAST_BOOKING_KEY)
        if archived is not None:
            made.append(self._booking_from(archived))
        rooms: list[str] = []
        for booking in sorted(made, key=_made_at, reverse=True):
            if booking.room_email not in rooms:
                rooms.append(booking.room_email)
                if len(rooms) == limit:
                    break
        return rooms

    def _replan_upcoming(self, which: Callable[[Booking], bool]) -> None:
        """Plan the jobs of upcoming bookings again after a setting they depend on changed."""
        if self._jobs_for is None:
            return
        for booking in self.list_bookings(since=self._clock()):
            if which(booking):
                self._replan(booking, booking)

    # --- audit log --------------------------------------------------------------------------

    def add_audit(self, actor: str, action: str, detail: str = "", outcome: str = "done") -> None:
        """Append one entry to the day's log (a write of that entry only)."""
        now = self._clock()
        self._audit.append(_day(now), [{"key": self._audit_key(now), "at": now.isoformat(), "actor": actor,
                                        "action": action, "detail": detail[:500], "outcome": outcome}])
        self._daily(now)

    def _audit_key(self, when: datetime) -> str:
        # Keys sort in the order entries were written (nanoseconds, then process and sequence).
        return f"{_ns(when):020d}-{os.getpid()}-{next(_AUDIT_SEQUENCE):09d}"

    def count_refusal(self, tenant: str | None, actor: str, action: str) -> bool:
        """An activity from another tenant (or naming two), ignored. Anyone can send those, as many
        as they like: they are counted in memory per (tenant, hour) and written as one line per
        tenant and hour at most every `refusals_flush_s` seconds (and at close), so a flood costs a
        few lines, not a write per message. A crash loses at most those seconds' counts. True for
        the first refusal of that tenant this hour (in this process): worth a line in the log."""
        now = self._clock()
        hour = now.strftime("%Y-%m-%dT%H")
        label = (tenant or "(none)")[:100]
        with self._refusals_lock:
            seen_hour, seen = self._tenants_seen
            if seen_hour != hour:
                seen = set()
                self._tenants_seen = (hour, seen)
            first = label not in seen
            if first:
                if len(seen) >= TENANTS_PER_HOUR:
                    label = MORE_TENANTS  # forged tenant ids cannot make the audit grow either
                    first = label not in seen
                seen.add(label)
            counted = self._refusals.setdefault((hour, label), {"count": 0, "first": now.isoformat()})
            counted.update(count=counted["count"] + 1, last=now.isoformat(), actor=actor[:200], action=action[:100])
            if self._refusals_timer is None:
                self._refusals_timer = threading.Timer(self._refusals_flush_s, self._flush_refusals_quietly)
                self._refusals_timer.daemon = True
                self._refusals_timer.start()
        self._daily(now)
        return first

    def flush_refusals(self) -> None:
        """Write the refusals counted so far: one line per (tenant, hour), its count since the last
        write. Several processes each write their own counts; reading adds them up."""
        with self._refusals_lock:
            if self._refusals_timer is not None:
                self._refusals_timer.cancel()
                self._refusals_timer = None
            by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for (hour, tenant), counted in self._refusals.items():
                by_day[hour[:10]].append({"refusals": hour, "tenant": tenant, **counted})
            # Written under the lock: a reader sees the counts either here or in the log, never in neither.
            for day, docs in by_day.items():
                self._audit.append(day, docs)
            self._refusals.clear()

    def _flush_refusals_quietly(self) -> None:
        try:
            self.flush_refusals()
        except Exception:  # a timer thread: nobody else would see it
            log.exception("could not write the counted refusals")

    def list_audit(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest entries first (reading back day by day only as far as needed). Refusals of
        other tenants are one entry per tenant and hour, with a `count`."""
        with self._refusals_lock:
            pending = [{"refusals": hour, "tenant": tenant, **c} for (hour, tenant), c in self._refusals.items()]
        days = set(self._audit.parts()) | {doc["refusals"][:10] for doc in pending}
        entries: list[dict[str, Any]] = []
        for day in sorted(days, reverse=True):
            entries += self._day_entries(self._audit.read(day) + [d for d in pending if d["refusals"][:10] == day])
            if len(entries) >= limit:
                break
        return sorted(entries, key=lambda d: d["key"], reverse=True)[:limit]

    def _day_entries(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        entries: dict[str, dict[str, Any]] = {}  # by key: an entry appended twice (a repeated move) is one
        counts: dict[tuple[str, str], dict[str, Any]] = {}
        for doc in docs:
            if "refusals" not in doc:
                entries[str(doc.get("key"))] = doc
                continue
            total = counts.setdefault((doc["refusals"], doc["tenant"]), {**doc, "count": 0})
            total["count"] += doc["count"]
            total["first"] = min(total["first"], doc["first"])
            if doc["last"] >= total["last"]:
                total.update(last=doc["last"], actor=doc["actor"], action=doc["action"])
        for (_hour, tenant), total in counts.items():
            last = datetime.fromisoformat(total["last"])
            first = datetime.fromisoformat(total["first"])
            what = (f"from another tenant: {tenant!r}" if tenant != TWO_TENANTS else
                    "whose channelData.tenant.id and conversation.tenantId differ")
            key = f"{_ns(last):020d}-refusals-{tenant}"
            entries[key] = {"key": key, "at": total["last"], "actor": total["actor"], "action": total["action"],
                            "detail": f"{total['count']} activities {what}, {first:%H:%M:%S}-{last:%H:%M:%S} UTC",
                            "outcome": "refused", "tenant": tenant, "count": total["count"],
                            "first": total["first"], "last": total["last"]}
        return list(entries.values())

    # --- admin-consent requests (single use) -------------------------------------------------

    def put_consent_state(self, key: str, doc: dict[str, Any], now: datetime | None = None) -> None:
        """Store a consent request; `doc["expires"]` (ISO time) says until when it may be taken.
        Requests expired by `now` are removed on the way."""
        now = now or self._clock()
        self._drop_expired_consent_states(now)
        self._consent_states.put(key, doc)
        self._daily(self._clock())

    def take_consent_state(self, key: str, now: datetime | None = None) -> dict[str, Any] | None:
        """The request for that key, removed so it cannot be used again (expired or not: the caller
        says which); requests expired by `now` are removed too."""
        doc = self._consent_states.take(key)  # one DELETE ... RETURNING on PostgreSQL: used once
        self._drop_expired_consent_states(now or self._clock())
        return doc

    def _drop_expired_consent_states(self, now: datetime) -> None:
        expired = [key for key, doc in self._consent_states.items() if _expired(doc, now)]
        if expired:
            self._consent_states.delete_many(expired)

    # --- keys for signing (download links) -------------------------------------------------

    def get_secret(self, name: str) -> bytes:
        """A random 32-byte key, made the first time it is asked for and kept with the data, so that
        every instance sharing the data signs and checks alike (and a restart keeps links valid)."""
        doc = self._secrets.get(name)
        if doc is None:
            self._secrets.insert(name, {"key": secrets.token_bytes(32).hex()})
            doc = self._secrets.get(name) or {}  # what was stored is the key, whoever stored it
        return bytes.fromhex(doc["key"])

    # --- conversation references (for proactive messages) ----------------------------------

    def save_conversation_reference(self, user_key: str, reference: dict[str, Any]) -> bool:
        """Store a user's conversation reference; returns False when nothing changed. The user chatted
        with the bot, so they can be reached again: an unreachable mark is cleared (a write, even when
        the reference is the same)."""
        current = self._conversations.get(user_key, "reference")
        doc = {**(current or {}), "reference": reference}
        if doc.get("unreachable"):
            doc["unreachable"] = None  # set, not dropped: TinyDB's put merges into the stored document
        if current == doc:
            return False
        self._conversations.put(user_key, "reference", doc)
        return True

    def get_conversation_reference(self, user_key: str) -> dict[str, Any] | None:
        doc = self._conversations.get(user_key, "reference")
        return doc["reference"] if doc else None

    def reachable_reference(self, user_key: str) -> dict[str, Any] | None:
        """The user's conversation reference, or None when there is none or they are marked
        unreachable: one read, for every proactive send."""
        doc = self._conversations.get(user_key, "reference") if user_key else None
        return doc["reference"] if doc and not doc.get("unreachable") else None

    def mark_unreachable(self, user_key: str, reason: str, now: datetime | None = None) -> bool:
        """Record that Teams refused to deliver to the user (they blocked or removed the bot, or the chat
        is gone), so that nothing is sent to them until they chat again. Returns False when they were
        already marked or have no conversation (read and written with no await in between: of several
        concurrent refusals, one marks)."""
        current = self._conversations.get(user_key, "reference") if user_key else None
        if current is None or current.get("unreachable"):
            return False
        at = _dt_to_json(now or self._clock())
        self._conversations.put(user_key, "reference", {**current, "unreachable": {"reason": reason[:200], "at": at}})
        return True

    def is_unreachable(self, user_key: str) -> bool:
        doc = self._conversations.get(user_key, "reference") if user_key else None
        return bool(doc and doc.get("unreachable"))

    def get_user_zone(self, user_key: str) -> str | None:
        doc = self._users.get(user_key, "profile")
        return doc.get("zone") if doc else None

    def save_user_zone(self, user_key: str, zone: str) -> None:
        """Remember the time zone a user's Teams client last reported (written only on change)."""
        doc = self._users.get(user_key, "profile") or {}
        if doc.get("zone") != zone:
            self._users.put(user_key, "profile", {**doc, "zone": zone})

    def mark_welcomed(self, conversation_id: str) -> bool:
        """Record that a conversation got its welcome card; False if it already had one."""
        return self._welcomed.insert(_bucket(conversation_id), conversation_id, {"welcomed": True})

    # --- fair use: searches per person ---------------------------------------------------

    def record_search(self, user_key: str, check: Callable[[list[datetime]], list[datetime]]) -> None:
        """Apply `check` to the user's recent search times and store what it returns (it raises to
        refuse). Read and written with no await in between, so searches of one process cannot
        interleave; kept in storage, not in memory, so that it holds wherever the data is shared."""
        doc = self._search_rate.get(user_key, "recent") or {}
        recent = [t for t in (_dt_from_json(v) for v in doc.get("at", [])) if t is not None]
        kept = check(recent)
        self._search_rate.put(user_key, "recent", {"at": [_dt_to_json(t) for t in kept]})

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _new_id(prefix: str, name: str, collection: Any) -> str:
        base = f"{prefix}-{_slug(name)}"
        return base if collection.get(base) is None else f"{base}-{uuid.uuid4().hex[:6]}"


# The time (monotonic) the organisation's data was last checked in this turn; None outside a turn.
_TURN: ContextVar[list[float] | None] = ContextVar("repository_turn", default=None)


@contextmanager
def one_turn() -> Iterator[None]:
    """A turn (or a scheduler round, a redirect): on shared data the organisation's data kept in memory is
    checked against its version once at its start (one small read), not on every read within it, so a
    change made on another instance is seen by the next turn, and a turn reads one version of it (a
    turn longer than REGISTRY_RECHECK_S checks again)."""
    token = _TURN.set([float("-inf")])
    try:
        yield
    finally:
        _TURN.reset(token)


def _known(cls: type, doc: dict[str, Any]) -> dict[str, Any]:
    """The fields of `doc` that `cls` has. During a rolling deploy a newer instance may write a field this
    version does not know yet; it is ignored here rather than failing every read (and kept in the
    document until this version writes it back)."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = frozenset(f.name for f in fields(cls))
    return doc if names.issuperset(doc) else {k: v for k, v in doc.items() if k in names}


_FIELDS: dict[type, frozenset[str]] = {}
_ROOM_FIELDS = tuple(f.name for f in fields(Room))


class _Registry(dict[str, Room]):
    """The registered rooms by email (in building, floor, email order), kept parsed (`Repository._org`);
    their fit order is worked out the first time it is asked for, and goes with them when they change."""

    _fit: tuple[list[int], list[Room]] | None = None
    _places: dict[tuple[str, str], list[Room]] | None = None
    _features: tuple[str, ...] | None = None

    def by_fit(self) -> tuple[list[int], list[Room]]:
        if self._fit is None:
            rooms = sorted(self.values(), key=lambda r: (r.capacity, r.display_name.lower(), r.email))
            self._fit = ([r.capacity for r in rooms], rooms)
        return self._fit

    def on(self, *, building_id: str = "", floor_id: str = "") -> list[Room]:
        """The rooms of a floor, else of a building, in registry order."""
        if self._places is None:
            places: dict[tuple[str, str], list[Room]] = defaultdict(list)
            for room in self.values():
                places["building", room.building_id].append(room)
                places["floor", room.floor_id].append(room)
            self._places = dict(places)
        return self._places.get(("floor", floor_id) if floor_id else ("building", building_id), [])

    def features(self) -> tuple[str, ...]:
        if self._features is None:
            self._features = tuple(sorted({f for room in self.values() for f in room.features}))
        return self._features


def _attendance_of(settings: OrgSettings) -> tuple[Any, ...]:
    """The settings a booking's reminder and release depend on."""
    return (settings.reminder_min, settings.checkin_opens_min, settings.release_exempt_min, settings.default_rules)


def _job_part(start: datetime) -> str:
    """Jobs are kept by the hour (UTC) their booking starts: a booking's old jobs are found from
    its old start, and the due ones in the few partitions around now."""
    return start.astimezone(UTC).strftime("%Y-%m-%dT%H")


def _job_doc(job: Job) -> dict[str, Any]:
    return {"kind": job.kind, "booking_id": job.booking_id, "due": _dt_to_json(job.due),
            "for_start": _dt_to_json(job.for_start), "claim": job.claim, "claimed_at": _dt_to_json(job.claimed_at),
            "tries": job.tries, "planned": _dt_to_json(job.planned or job.due)}


def _job_plan(doc: dict[str, Any]) -> tuple[Any, ...]:
    """What makes a job the same job: its booking and the start it was planned for (a claim, a try
    counted or a retry's later due do not)."""
    return doc.get("kind"), doc.get("booking_id"), doc.get("for_start")


def _job_from(doc: dict[str, Any]) -> Job:
    return Job(kind=doc["kind"], booking_id=doc["booking_id"], due=datetime.fromisoformat(doc["due"]),
               for_start=datetime.fromisoformat(doc["for_start"]), claim=doc.get("claim", ""),
               claimed_at=_dt_from_json(doc.get("claimed_at")), tries=int(doc.get("tries", 0)),
               planned=_dt_from_json(doc.get("planned")), taken_from=str(doc.get("taken_from") or ""))


def _made_at(booking: Booking) -> datetime:
    return booking.created_at or booking.start


def _expired(doc: dict[str, Any], now: datetime) -> bool:
    """Whether a consent request's `expires` is past (one without a readable expiry is)."""
    try:
        return datetime.fromisoformat(doc["expires"]) < now
    except (KeyError, TypeError, ValueError):
        return True
