"""The repository: RoomBot's persistent data, as domain objects, over any backend."""

from __future__ import annotations

import hashlib
import itertools
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.errors import Conflict, NotFound, ValidationFailed
from domain.models import BOOKING_PENDING, Admin, Booking, Building, Floor, OrgSettings, Room, normalize_email
from storage.backends import Backend

_SETTINGS_KEY = "org"


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


class Repository:
    """Organisation settings, the room registry, admins, bookings and conversation references.

    What grows with people and time is kept per partition, so that a turn's reads and writes cost
    what its own user has, not what the organisation has: a person's bookings (found by attempt
    there too), conversation reference and time zone; the audit log by day. Two small indexes find
    a booking by id (4,096 buckets) and the bookings starting on a day (for the admin list).
    """

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._settings = backend.collection("settings")
        self._buildings = backend.collection("buildings")
        self._floors = backend.collection("floors")
        self._rooms = backend.collection("rooms")
        self._admins = backend.collection("admins")
        self._bookings = backend.partitioned("bookings")  # by booker
        self._booking_index = backend.partitioned("booking_index")  # id -> booker, by bucket of the id
        self._booking_days = backend.partitioned("booking_days")  # id -> booker, by start day (UTC)
        self._audit = backend.partitioned("audit")  # by day
        self._audit_sequence = itertools.count()
        self._consent_states = backend.collection("consent_states")
        self._users = backend.partitioned("users")  # by user
        self._conversations = backend.partitioned("conversations")  # by user
        self._welcomed = backend.partitioned("welcomed")  # by bucket of the conversation id
        self._search_rate = backend.partitioned("search_rate")  # by user: their searches of the last minute
        # The registry is read on every search and changed by admins only: kept parsed. (One process
        # owns its data folder.)
        self._room_cache: dict[str, Room] | None = None
        self._move_legacy_files()

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
            for key, doc in audit.items():
                self._audit.put(str(doc.get("at", ""))[:10] or "0000-00-00", key, doc)
            self._backend.retire("audit.json")

    def close(self) -> None:
        self._backend.close()

    # --- organisation settings -------------------------------------------------------------

    def get_settings(self) -> OrgSettings:
        doc = self._settings.get(_SETTINGS_KEY)
        return OrgSettings(**doc) if doc else OrgSettings()

    def save_settings(self, settings: OrgSettings) -> OrgSettings:
        self._settings.put(_SETTINGS_KEY, asdict(settings))
        return settings

    # --- buildings (floor plans) and floors -------------------------------------------------

    def add_building(self, name: str) -> Building:
        name = _clean_name(name, "building")
        if any(b.name.lower() == name.lower() for b in self.list_buildings()):
            raise Conflict(f"There is already a building called '{name}'.")
        building = Building(id=self._new_id("b", name, self._buildings), name=name)
        self._buildings.put(building.id, asdict(building))
        return building

    def rename_building(self, building_id: str, name: str) -> Building:
        building = self.get_building(building_id)
        name = _clean_name(name, "building")
        if any(b.name.lower() == name.lower() and b.id != building_id for b in self.list_buildings()):
            raise Conflict(f"There is already a building called '{name}'.")
        building = replace(building, name=name)
        self._buildings.put(building.id, asdict(building))
        return building

    def remove_building(self, building_id: str) -> Building:
        """Remove a building and its floors; refused while rooms are registered in it."""
        building = self.get_building(building_id)
        if self.list_rooms(building_id=building_id):
            raise Conflict(f"'{building.name}' still has rooms. Remove or move them first.")
        for floor in self.list_floors(building_id):
            self._floors.delete(floor.id)
        self._buildings.delete(building_id)
        return building

    def get_building(self, building_id: str) -> Building:
        doc = self._buildings.get(building_id)
        if doc is None:
            raise NotFound("That building does not exist.")
        return Building(**doc)

    def list_buildings(self) -> list[Building]:
        return sorted((Building(**d) for d in self._buildings.all()), key=lambda b: b.name.lower())

    def add_floor(self, building_id: str, name: str, level: int = 0) -> Floor:
        self.get_building(building_id)
        name = _clean_name(name, "floor")
        if any(f.name.lower() == name.lower() for f in self.list_floors(building_id)):
            raise Conflict(f"That building already has a floor called '{name}'.")
        floor = Floor(id=self._new_id("f", f"{building_id}-{name}", self._floors), building_id=building_id,
                      name=name, level=level)
        self._floors.put(floor.id, asdict(floor))
        return floor

    def rename_floor(self, floor_id: str, name: str) -> Floor:
        floor = self.get_floor(floor_id)
        name = _clean_name(name, "floor")
        if any(f.name.lower() == name.lower() and f.id != floor_id for f in self.list_floors(floor.building_id)):
            raise Conflict(f"That building already has a floor called '{name}'.")
        floor = replace(floor, name=name)
        self._floors.put(floor.id, asdict(floor))
        return floor

    def remove_floor(self, floor_id: str) -> Floor:
        """Remove a floor; refused while rooms are registered on it."""
        floor = self.get_floor(floor_id)
        if self.list_rooms(floor_id=floor_id):
            raise Conflict(f"'{floor.name}' still has rooms. Remove or move them first.")
        self._floors.delete(floor_id)
        return floor

    def get_floor(self, floor_id: str) -> Floor:
        doc = self._floors.get(floor_id)
        if doc is None:
            raise NotFound("That floor does not exist.")
        return Floor(**doc)

    def list_floors(self, building_id: str | None = None) -> list[Floor]:
        docs = self._floors.find(building_id=building_id) if building_id else self._floors.all()
        return sorted((Floor(**d) for d in docs), key=lambda f: (f.building_id, f.level, f.name.lower()))

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
            if room.email in docs or self._rooms.get(room.email) is not None:
                raise Conflict(f"{room.email} is already registered.")
            docs[room.email] = self._room_doc(room)
        self._room_cache = None
        self._rooms.put_many(docs)
        return len(docs)

    def update_room(self, room: Room) -> Room:
        if self._rooms.get(room.email) is None:
            raise NotFound(f"{room.email} is not a registered room.")
        self._room_cache = None
        self._rooms.put(room.email, self._room_doc(room))
        return room

    def _registry(self) -> dict[str, Room]:
        if self._room_cache is None:
            rooms = sorted((self._room_from(d) for d in self._rooms.all()),
                           key=lambda r: (r.building_id, r.floor_id, r.email))
            self._room_cache = {room.email: room for room in rooms}
        return self._room_cache

    def get_room(self, email: str) -> Room | None:
        """The registered room with that address, or None (also for malformed addresses)."""
        try:
            key = normalize_email(email)
        except ValidationFailed:
            return None
        return self._registry().get(key)

    def list_rooms(self, building_id: str | None = None, floor_id: str | None = None) -> list[Room]:
        return [r for r in self._registry().values()
                if (not building_id or r.building_id == building_id) and (not floor_id or r.floor_id == floor_id)]

    def remove_room(self, email: str) -> None:
        self._room_cache = None
        if not self._rooms.delete(normalize_email(email)):
            raise NotFound(f"{email} is not a registered room.")

    @staticmethod
    def _room_doc(room: Room) -> dict[str, Any]:
        doc = asdict(room)
        doc["features"] = list(room.features)
        return doc

    @staticmethod
    def _room_from(doc: dict[str, Any]) -> Room:
        return Room(**{**doc, "features": tuple(doc.get("features", ()))})

    # --- admins -----------------------------------------------------------------------------

    def add_admin(self, admin: Admin) -> Admin:
        key = admin.key.strip().lower()
        if not key:
            raise ValidationFailed("An admin needs an AAD object id or a user principal name.")
        admin = replace(admin, key=key)
        self._admins.put(key, {"key": key, "roles": list(admin.roles), "added_by": admin.added_by})
        return admin

    def remove_admin(self, key: str) -> None:
        key = key.strip().lower()
        if self._admins.get(key) is None:
            raise NotFound(f"{key} is not an admin.")
        if len(self._admins.all()) <= 1:
            raise ValidationFailed("At least one admin must remain.")
        self._admins.delete(key)

    def list_admins(self) -> list[Admin]:
        return sorted((Admin(key=d["key"], roles=tuple(d["roles"]), added_by=d.get("added_by", ""))
                       for d in self._admins.all()), key=lambda a: a.key)

    def find_admin(self, *keys: str | None) -> Admin | None:
        """The admin matching any of the given identities (AAD object id, UPN, email)."""
        for key in keys:
            if key:
                doc = self._admins.get(key.strip().lower())
                if doc:
                    return Admin(key=doc["key"], roles=tuple(doc["roles"]), added_by=doc.get("added_by", ""))
        return None

    # --- bookings ---------------------------------------------------------------------------

    def add_booking(self, booking: Booking) -> Booking:
        if self._booking_index.get(_bucket(booking.id), booking.id) is not None:
            raise Conflict("That booking is already recorded.")
        if booking.attempt_key and self.get_booking_by_attempt(booking.booker_aad_id, booking.attempt_key):
            raise Conflict("That booking attempt is already recorded.")
        # Indexes first: a crash in between leaves an index entry without its booking, which reads
        # as no booking; never a booking that cannot be found.
        owner = {"id": booking.id, "booker": booking.booker_aad_id}
        self._booking_index.put(_bucket(booking.id), booking.id, owner)
        self._booking_days.put(_day(booking.start), booking.id, owner)
        self._bookings.put(booking.booker_aad_id, booking.id, self._booking_doc(booking))
        return booking

    def import_bookings(self, bookings: Iterable[Booking]) -> int:
        """Record many bookings (an import, a migration): one write per partition touched. Bookings
        already recorded are replaced."""
        by_part: dict[tuple[Any, str], dict[str, dict[str, Any]]] = defaultdict(dict)
        for b in bookings:
            owner = {"id": b.id, "booker": b.booker_aad_id}
            by_part[(self._booking_index, _bucket(b.id))][b.id] = owner
            by_part[(self._booking_days, _day(b.start))][b.id] = owner
            by_part[(self._bookings, b.booker_aad_id)][b.id] = self._booking_doc(b)
        indexes_first = sorted(by_part.items(), key=lambda item: item[0][0] is self._bookings)  # as in add_booking
        for (collection, part), docs in indexes_first:
            collection.put_many(part, docs)
        return sum(len(docs) for (c, _), docs in by_part.items() if c is self._bookings)

    def get_booking_by_attempt(self, booker_aad_id: str, attempt_key: str) -> Booking | None:
        return next((b for b in self.list_bookings_for_user(booker_aad_id) if b.attempt_key == attempt_key), None)

    def last_booking_for(self, booker_aad_id: str) -> Booking | None:
        """The user's most recently made booking that went through (cancelled ones count: they
        still say where the user likes to meet)."""
        made = [b for b in self.list_bookings_for_user(booker_aad_id) if b.status != BOOKING_PENDING]
        return max(made, key=lambda b: (b.created_at or b.start), default=None)

    def update_booking(self, booking: Booking) -> Booking:
        current = self.get_booking(booking.id)
        if current is None or current.booker_aad_id != booking.booker_aad_id:
            raise NotFound("That booking does not exist.")
        moved_day = _day(current.start) != _day(booking.start)
        if moved_day:  # the new day's entry first, as in add_booking
            self._booking_days.put(_day(booking.start), booking.id, {"id": booking.id, "booker": booking.booker_aad_id})
        self._bookings.put(booking.booker_aad_id, booking.id, self._booking_doc(booking))
        if moved_day:
            self._booking_days.delete(_day(current.start), booking.id)
        return booking

    def get_booking(self, booking_id: str) -> Booking | None:
        if not isinstance(booking_id, str) or not booking_id:
            return None
        owner = self._booking_index.get(_bucket(booking_id), booking_id)
        doc = self._bookings.get(owner["booker"], booking_id) if owner else None
        return self._booking_from(doc) if doc else None

    def list_bookings_for_user(self, booker_aad_id: str) -> list[Booking]:
        docs = self._bookings.all(booker_aad_id) if booker_aad_id else []
        return sorted((self._booking_from(d) for d in docs), key=lambda b: b.start)

    def list_bookings(self, since: datetime | None = None) -> list[Booking]:
        """Every booking (whatever its status), soonest first; with `since`, only those still going
        on or to come then, reading the days from the day before `since` on (a booking lasts at most
        a day)."""
        first_day = _day(since - timedelta(days=1)) if since else ""
        found: list[Booking] = []
        for day in self._booking_days.parts():
            if day < first_day:
                continue
            for entry in self._booking_days.all(day):
                doc = self._bookings.get(entry["booker"], entry["id"])
                booking = self._booking_from(doc) if doc else None
                if booking is not None and _day(booking.start) == day and (since is None or booking.end > since):
                    found.append(booking)
        return sorted(found, key=lambda b: (b.start, b.id))

    def remove_booking(self, booking_id: str) -> None:
        booking = self.get_booking(booking_id)
        if booking is None:
            raise NotFound("That booking does not exist.")
        self._bookings.delete(booking.booker_aad_id, booking_id)
        self._booking_days.delete(_day(booking.start), booking_id)
        self._booking_index.delete(_bucket(booking_id), booking_id)

    @staticmethod
    def _booking_doc(booking: Booking) -> dict[str, Any]:
        return {"id": booking.id, "room_email": booking.room_email, "event_id": booking.event_id,
                "ical_uid": booking.ical_uid, "booker_aad_id": booking.booker_aad_id,
                "booker_email": booking.booker_email, "start": _dt_to_json(booking.start),
                "end": _dt_to_json(booking.end), "subject": booking.subject, "attendees": list(booking.attendees),
                "status": booking.status, "created_at": _dt_to_json(booking.created_at), "zone": booking.zone,
                "attempt_key": booking.attempt_key, "transaction_id": booking.transaction_id}

    @staticmethod
    def _booking_from(doc: dict[str, Any]) -> Booking:
        return Booking(**{**doc, "start": _dt_from_json(doc["start"]), "end": _dt_from_json(doc["end"]),
                          "created_at": _dt_from_json(doc.get("created_at")),
                          "attendees": tuple(doc.get("attendees", ()))})

    # --- audit log --------------------------------------------------------------------------

    def add_audit(self, actor: str, action: str, detail: str = "", outcome: str = "done") -> None:
        # Keys sort in the order entries were written (nanoseconds, then a per-process sequence).
        key = f"{time.time_ns():020d}-{next(self._audit_sequence):09d}"
        now = datetime.now(UTC)
        self._audit.put(_day(now), key, {"key": key, "at": now.isoformat(), "actor": actor, "action": action,
                                         "detail": detail[:500], "outcome": outcome})

    def list_audit(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest entries first (reading back day by day only as far as needed)."""
        entries: list[dict[str, Any]] = []
        for day in sorted(self._audit.parts(), reverse=True):
            entries += sorted(self._audit.all(day), key=lambda d: d["key"], reverse=True)
            if len(entries) >= limit:
                break
        return entries[:limit]

    # --- admin-consent requests (single use) -------------------------------------------------

    def put_consent_state(self, key: str, doc: dict[str, Any]) -> None:
        self._consent_states.put(key, doc)

    def take_consent_state(self, key: str) -> dict[str, Any] | None:
        """The request for that key, removed so it cannot be used again."""
        doc = self._consent_states.get(key)
        if doc is not None:
            self._consent_states.delete(key)
        return doc

    # --- conversation references (for proactive messages) ----------------------------------

    def save_conversation_reference(self, user_key: str, reference: dict[str, Any]) -> bool:
        """Store a user's conversation reference; returns False when nothing changed."""
        current = self._conversations.get(user_key, "reference")
        doc = {**(current or {}), "reference": reference}
        if current == doc:
            return False
        self._conversations.put(user_key, "reference", doc)
        return True

    def get_conversation_reference(self, user_key: str) -> dict[str, Any] | None:
        doc = self._conversations.get(user_key, "reference")
        return doc["reference"] if doc else None

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
        if self._welcomed.get(_bucket(conversation_id), conversation_id) is not None:
            return False
        self._welcomed.put(_bucket(conversation_id), conversation_id, {"welcomed": True})
        return True

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
