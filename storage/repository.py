"""The repository: RoomBot's persistent data, as domain objects, over any backend."""

from __future__ import annotations

import itertools
import re
import time
import uuid
from dataclasses import asdict, replace
from datetime import UTC, datetime
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


class Repository:
    """Organisation settings, the room registry, admins, bookings and conversation references."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._settings = backend.collection("settings")
        self._buildings = backend.collection("buildings")
        self._floors = backend.collection("floors")
        self._rooms = backend.collection("rooms")
        self._admins = backend.collection("admins")
        self._bookings = backend.collection("bookings")
        self._attempts = backend.collection("booking_attempts")
        self._audit = backend.collection("audit")
        self._audit_sequence = itertools.count()
        self._consent_states = backend.collection("consent_states")
        self._users = backend.collection("users")
        self._conversations = backend.collection("conversations")

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
        floor = self.get_floor(room.floor_id)
        if floor.building_id != room.building_id:
            raise ValidationFailed("That floor is not in that building.")
        if self._rooms.get(room.email) is not None:
            raise Conflict(f"{room.email} is already registered.")
        self._rooms.put(room.email, self._room_doc(room))
        return room

    def update_room(self, room: Room) -> Room:
        if self._rooms.get(room.email) is None:
            raise NotFound(f"{room.email} is not a registered room.")
        self._rooms.put(room.email, self._room_doc(room))
        return room

    def get_room(self, email: str) -> Room | None:
        """The registered room with that address, or None (also for malformed addresses)."""
        try:
            key = normalize_email(email)
        except ValidationFailed:
            return None
        doc = self._rooms.get(key)
        return self._room_from(doc) if doc else None

    def list_rooms(self, building_id: str | None = None, floor_id: str | None = None) -> list[Room]:
        fields = {k: v for k, v in (("building_id", building_id), ("floor_id", floor_id)) if v}
        docs = self._rooms.find(**fields) if fields else self._rooms.all()
        return sorted((self._room_from(d) for d in docs), key=lambda r: (r.building_id, r.floor_id, r.email))

    def remove_room(self, email: str) -> None:
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
        if self._bookings.get(booking.id) is not None:
            raise Conflict("That booking is already recorded.")
        if booking.attempt_key and self._attempts.get(booking.attempt_key) is not None:
            raise Conflict("That booking attempt is already recorded.")
        self._bookings.put(booking.id, self._booking_doc(booking))
        if booking.attempt_key:
            self._attempts.put(booking.attempt_key, {"booking_id": booking.id})
        return booking

    def get_booking_by_attempt(self, attempt_key: str) -> Booking | None:
        doc = self._attempts.get(attempt_key)
        return self.get_booking(doc["booking_id"]) if doc else None

    def last_booking_for(self, booker_aad_id: str) -> Booking | None:
        """The user's most recently made booking that went through (cancelled ones count: they
        still say where the user likes to meet)."""
        made = [b for b in self.list_bookings_for_user(booker_aad_id) if b.status != BOOKING_PENDING]
        return max(made, key=lambda b: (b.created_at or b.start), default=None)

    def update_booking(self, booking: Booking) -> Booking:
        if self._bookings.get(booking.id) is None:
            raise NotFound("That booking does not exist.")
        self._bookings.put(booking.id, self._booking_doc(booking))
        return booking

    def get_booking(self, booking_id: str) -> Booking | None:
        doc = self._bookings.get(booking_id) if isinstance(booking_id, str) else None
        return self._booking_from(doc) if doc else None

    def list_bookings_for_user(self, booker_aad_id: str) -> list[Booking]:
        docs = self._bookings.find(booker_aad_id=booker_aad_id)
        return sorted((self._booking_from(d) for d in docs), key=lambda b: b.start)

    def list_bookings(self) -> list[Booking]:
        """Every booking, soonest first."""
        return sorted((self._booking_from(d) for d in self._bookings.all()), key=lambda b: (b.start, b.id))

    def remove_booking(self, booking_id: str) -> None:
        booking = self.get_booking(booking_id)
        if booking is None:
            raise NotFound("That booking does not exist.")
        self._bookings.delete(booking_id)
        if booking.attempt_key:
            self._attempts.delete(booking.attempt_key)

    @staticmethod
    def _booking_doc(booking: Booking) -> dict[str, Any]:
        doc = asdict(booking)
        doc.update(start=_dt_to_json(booking.start), end=_dt_to_json(booking.end),
                   created_at=_dt_to_json(booking.created_at), attendees=list(booking.attendees))
        return doc

    @staticmethod
    def _booking_from(doc: dict[str, Any]) -> Booking:
        return Booking(**{**doc, "start": _dt_from_json(doc["start"]), "end": _dt_from_json(doc["end"]),
                          "created_at": _dt_from_json(doc.get("created_at")),
                          "attendees": tuple(doc.get("attendees", ()))})

    # --- audit log --------------------------------------------------------------------------

    def add_audit(self, actor: str, action: str, detail: str = "", outcome: str = "done") -> None:
        # Keys sort in the order entries were written (nanoseconds, then a per-process sequence).
        key = f"{time.time_ns():020d}-{next(self._audit_sequence):09d}"
        self._audit.put(key, {"key": key, "at": datetime.now(UTC).isoformat(), "actor": actor, "action": action,
                              "detail": detail[:500], "outcome": outcome})

    def list_audit(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest entries first."""
        return sorted(self._audit.all(), key=lambda d: d["key"], reverse=True)[:limit]

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
        current = self._conversations.get(user_key)
        doc = {**(current or {}), "reference": reference}
        if current == doc:
            return False
        self._conversations.put(user_key, doc)
        return True

    def get_conversation_reference(self, user_key: str) -> dict[str, Any] | None:
        doc = self._conversations.get(user_key)
        return doc["reference"] if doc else None

    def get_user_zone(self, user_key: str) -> str | None:
        doc = self._users.get(user_key)
        return doc.get("zone") if doc else None

    def save_user_zone(self, user_key: str, zone: str) -> None:
        """Remember the time zone a user's Teams client last reported (written only on change)."""
        doc = self._users.get(user_key) or {}
        if doc.get("zone") != zone:
            self._users.put(user_key, {**doc, "zone": zone})

    def mark_welcomed(self, conversation_id: str) -> bool:
        """Record that a conversation got its welcome card; False if it already had one."""
        key = f"welcomed:{conversation_id}"
        if self._conversations.get(key) is not None:
            return False
        self._conversations.put(key, {"welcomed": True})
        return True

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _new_id(prefix: str, name: str, collection: Any) -> str:
        base = f"{prefix}-{_slug(name)}"
        return base if collection.get(base) is None else f"{base}-{uuid.uuid4().hex[:6]}"
