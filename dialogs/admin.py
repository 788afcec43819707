"""The admin conversation: connect, the booking switch, status, floor plans and rooms, imports,
admins. RoomBot lets only admins reach these handlers; each re-reads what it changes from storage."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from cards.admin import (
    admins_card,
    booking_switch_card,
    connect_card,
    disconnect_card,
    floor_card,
    floor_plans_card,
    import_preview_card,
    limits_card,
    room_remove_card,
    shown_as,
    status_card,
)
from cards.base import Card, card, heading, text
from dialogs.rules import RulesFlow
from dialogs.turn import Step, Turn
from domain.errors import DomainError, NotFound
from domain.fair_use import LIMIT_BOUNDS
from services.admin import CONSENT_TTL, AdminService
from services.rules import RulesService
from storage.repository import Repository

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ConsentLink:
    """Where admin consent is granted and where its answer comes back."""

    authority_host: str  # https://login.microsoftonline.com, or the sandbox
    tenant: str  # the tenant id, or "organizations"
    client_id: str
    redirect_uri: str  # the bot's GET /api/consent

    def url(self, state: str) -> str:
        query = urlencode({"client_id": self.client_id, "redirect_uri": self.redirect_uri, "state": state})
        return f"{self.authority_host.rstrip('/')}/{self.tenant}/adminconsent?{query}"


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return str(value).strip()[:20000] if isinstance(value, str | int | float) else ""


class AdminFlow:
    def __init__(self, service: AdminService, repo: Repository, consent: ConsentLink, *,
                 default_zone: str = "UTC") -> None:
        self._service = service
        self._repo = repo
        self._consent = consent
        self._default_zone = default_zone
        self._rules = RulesFlow(RulesService(repo), repo, default_zone, floor=self._floor, plans=self._plans)

    def commands(self) -> dict[str, Step]:
        """Typed admin commands, by command name."""
        return {"connect": self.connect_step, "disconnect": self.disconnect_step,
                "enable booking": self.booking_switch_step, "rooms": self.rooms_step,
                "admins": self.admins_step, "status": self.status_step}

    def actions(self) -> dict[str, Step]:
        """Admin card actions, by routing key."""
        return {"connect": self.connect_step, "disconnect": self.disconnect_step,
                "disconnect_confirm": self.disconnect_confirm_step,
                "booking_switch": self.booking_switch_step, "booking_save": self.booking_save_step,
                "status": self.status_step, "rooms": self.rooms_step, "building_add": self.building_add_step,
                "building_rename": self.building_rename_step, "building_remove": self.building_remove_step,
                "floor_add": self.floor_add_step, "floor_open": self.floor_open_step,
                "floor_rename": self.floor_rename_step, "floor_remove": self.floor_remove_step,
                "room_add": self.room_add_step, "room_save": self.room_save_step,
                "room_remove": self.room_remove_step, "room_remove_confirm": self.room_remove_confirm_step,
                "import_places": self.import_places_step,
                "import_csv": self.import_csv_step, "import_confirm": self.import_confirm_step,
                "admins": self.admins_step, "admin_add": self.admin_add_step,
                "admin_remove": self.admin_remove_step, "limits": self.limits_step,
                "limits_save": self.limits_save_step, **self._rules.actions()}

    # --- connection, booking, status ------------------------------------------------------

    async def connect_step(self, turn: Turn) -> Card:
        state = self._service.start_consent(turn.user.key, turn.user.key, turn.tenant)
        return connect_card(self._consent.url(state), self._repo.get_settings(),
                            int(CONSENT_TTL.total_seconds() // 60))

    async def disconnect_step(self, turn: Turn) -> Card:
        """Asks first: disconnecting stops all booking."""
        return disconnect_card(self._repo.get_settings())

    async def disconnect_confirm_step(self, turn: Turn) -> Card:
        self._service.disconnect(turn.user.key)
        return card([heading("Disconnected"),
                     text("RoomBot no longer uses your Microsoft 365 tenant: nobody can book until an admin runs "
                          "connect again. Existing bookings stay in the room calendars.")])

    async def booking_switch_step(self, turn: Turn) -> Card:
        return booking_switch_card(self._repo.get_settings())

    async def booking_save_step(self, turn: Turn) -> Card:
        enabled = _text(turn.data, "enabled").lower() == "true"
        settings = self._service.set_booking(turn.user.key, enabled)
        return booking_switch_card(settings, f"Saved: booking is {'on' if settings.booking_enabled else 'off'}.",
                                   saved=True)

    async def limits_step(self, turn: Turn) -> Card:
        return limits_card(self._repo.get_settings())

    async def limits_save_step(self, turn: Turn) -> Card:
        """Nothing is saved unless every value is valid; the card keeps what the admin typed."""
        values = {name: _text(turn.data, name) for name in (*LIMIT_BOUNDS, "guest_domains", "allow_any_guest")}
        try:
            settings = self._service.set_limits(turn.user.key, values)
        except DomainError as exc:
            return limits_card(self._repo.get_settings(), f"Nothing was saved: {exc.message}", typed=values)
        return limits_card(settings, "Saved.", saved=True)

    async def status_step(self, turn: Turn) -> Card:
        status = await self._service.status()
        s = status.settings
        return status_card(s.connected, s.tenant_id, s.booking_enabled, (status.buildings, status.floors,
                                                                         status.rooms), status.problems, status.facts)

    # --- floor plans ----------------------------------------------------------------------

    def _plans(self, note: str | None = None, good: bool = False) -> Card:
        counts: dict[str, int] = {}
        for room in self._repo.list_rooms():
            counts[room.floor_id] = counts.get(room.floor_id, 0) + 1
        return floor_plans_card(self._repo.list_buildings(), self._repo.list_floors(), counts, note, good,
                                default_zone=self._default_zone)

    def _floor(self, floor_id: object, note: str | None = None, good: bool = False) -> Card:
        if not isinstance(floor_id, str):
            raise NotFound("That floor does not exist.")
        floor = self._repo.get_floor(floor_id)
        return floor_card(self._repo.get_building(floor.building_id), floor,
                          self._repo.list_rooms(floor_id=floor.id), note, good)

    async def rooms_step(self, turn: Turn) -> Card:
        return self._plans()

    async def building_add_step(self, turn: Turn) -> Card:
        try:
            building = self._service.add_building(turn.user.key, _text(turn.data, "building_name"))
        except DomainError as exc:
            return self._plans(exc.message)
        return self._plans(f"Added {building.name}. Add its floors next.", good=True)

    async def building_rename_step(self, turn: Turn) -> Card:
        building_id = _text(turn.data, "building")
        try:
            building = self._service.rename_building(turn.user.key, building_id,
                                                     _text(turn.data, f"building_name-{building_id}"))
        except DomainError as exc:
            return self._plans(exc.message)
        return self._plans(f"Renamed to {building.name}.", good=True)

    async def building_remove_step(self, turn: Turn) -> Card:
        try:
            building = self._service.remove_building(turn.user.key, _text(turn.data, "building"))
        except DomainError as exc:
            return self._plans(exc.message)
        return self._plans(f"Removed {building.name}.", good=True)

    async def floor_add_step(self, turn: Turn) -> Card:
        building_id = _text(turn.data, "building")
        try:
            floor = self._service.add_floor(turn.user.key, building_id, _text(turn.data, f"floor_name-{building_id}"),
                                            _text(turn.data, f"floor_level-{building_id}"))
        except DomainError as exc:
            return self._plans(exc.message)
        return self._floor(floor.id, f"Added {floor.name}. Add its rooms below.", good=True)

    async def floor_open_step(self, turn: Turn) -> Card:
        try:
            return self._floor(turn.data.get("floor"))
        except DomainError as exc:
            return self._plans(exc.message)

    async def floor_rename_step(self, turn: Turn) -> Card:
        floor_id = _text(turn.data, "floor")
        try:
            floor = self._service.rename_floor(turn.user.key, floor_id, _text(turn.data, "floor_name"))
            return self._floor(floor.id, f"Renamed to {floor.name}.", good=True)
        except DomainError as exc:
            return self._plans(exc.message)

    async def floor_remove_step(self, turn: Turn) -> Card:
        floor_id = _text(turn.data, "floor")
        try:
            floor = self._service.remove_floor(turn.user.key, floor_id)
        except NotFound as exc:
            return self._plans(exc.message)
        except DomainError as exc:
            return self._floor(floor_id, exc.message)
        return self._plans(f"Removed {floor.name}.", good=True)

    # --- rooms ----------------------------------------------------------------------------

    async def room_add_step(self, turn: Turn) -> Card:
        floor_id = _text(turn.data, "floor")
        try:
            room = await self._service.add_room(
                turn.user.key, floor_id=floor_id, email=_text(turn.data, "email"), name=_text(turn.data, "name"),
                capacity=_text(turn.data, "capacity"), features=_text(turn.data, "features"),
                unlisted_ok=_text(turn.data, "unlisted").lower() == "true")
        except NotFound as exc:
            return self._plans(exc.message)
        except DomainError as exc:
            return self._floor(floor_id, f"{_text(turn.data, 'email')[:254]} was not added: {exc.message}")
        return self._floor(floor_id, f"Added {room.display_name} ({room.email}). People can book it now.",
                           good=True)

    async def room_save_step(self, turn: Turn) -> Card:
        email = _text(turn.data, "room")
        floor_id = _text(turn.data, "floor")
        try:
            room = self._service.update_room(turn.user.key, email, name=_text(turn.data, f"name-{email}"),
                                             capacity=_text(turn.data, f"capacity-{email}"),
                                             features=_text(turn.data, f"features-{email}"))
            return self._floor(room.floor_id, f"Saved {room.display_name}.", good=True)
        except DomainError as exc:
            return self._floor(floor_id, exc.message) if self._repo_has_floor(floor_id) else \
                self._plans(exc.message)

    async def room_remove_step(self, turn: Turn) -> Card:
        """Asks first: people can no longer book a removed room."""
        email, floor_id = _text(turn.data, "room"), _text(turn.data, "floor")
        room = self._repo.get_room(email)
        if room is None:
            note = f"{email[:254]} is not a registered room (any more)."
            return self._floor(floor_id, note) if self._repo_has_floor(floor_id) else self._plans(note)
        floor = self._repo.get_floor(room.floor_id) if self._repo_has_floor(room.floor_id) else None
        building = next((b for b in self._repo.list_buildings() if b.id == room.building_id), None)
        return room_remove_card(room, building, floor)

    async def room_remove_confirm_step(self, turn: Turn) -> Card:
        email, floor_id = _text(turn.data, "room"), _text(turn.data, "floor")
        try:
            self._service.remove_room(turn.user.key, email)
            note, good = f"Removed {email}. Its existing bookings stay in its calendar.", True
        except DomainError as exc:
            note, good = exc.message, False
        return self._floor(floor_id, note, good) if self._repo_has_floor(floor_id) else self._plans(note, good)

    def _repo_has_floor(self, floor_id: str) -> bool:
        try:
            self._repo.get_floor(floor_id)
        except NotFound:
            return False
        return True

    # --- imports --------------------------------------------------------------------------

    async def import_places_step(self, turn: Turn) -> Card:
        try:
            rows = await self._service.places_plan()
        except DomainError as exc:
            return self._plans(f"Could not read the rooms from Microsoft 365: {exc.message}")
        return import_preview_card(rows, "Microsoft 365 (Places)")

    async def import_csv_step(self, turn: Turn) -> Card:
        csv_text = _text(turn.data, "csv")
        try:
            rows = await self._service.csv_plan(csv_text)
        except DomainError as exc:
            return self._plans(exc.message)
        return import_preview_card(rows, "your CSV", csv_text)

    async def import_confirm_step(self, turn: Turn) -> Card:
        """Saves what the preview showed, computed again on the server (the card only says which source)."""
        source = _text(turn.data, "source")
        try:
            if source == "places":
                rows = await self._service.places_plan()
            elif source == "csv":
                rows = await self._service.csv_plan(_text(turn.data, "csv"))
            else:
                return self._plans("That import button is not valid any more.")
            added = self._service.apply_plan(turn.user.key, rows, source)
        except DomainError as exc:
            return self._plans(f"Nothing was imported: {exc.message}")
        return self._plans(f"Imported {added} room{'s' if added != 1 else ''}.", good=True)

    # --- admins ---------------------------------------------------------------------------

    async def admins_step(self, turn: Turn) -> Card:
        user = await turn.roster.resolve()  # with UPN and email: admins may be known by either
        self._service.remember_name(user.name, user.email or user.upn, user.key, user.upn, user.email)
        return admins_card(self._repo.list_admins())

    async def admin_add_step(self, turn: Turn) -> Card:
        key = _text(turn.data, "person")[:254]
        name, email = await self._who(turn, key)
        try:
            admin = self._service.add_admin(turn.user.key, key, _text(turn.data, "role") or "admin", name=name,
                                            email=email)
        except DomainError as exc:
            return admins_card(self._repo.list_admins(), exc.message)
        title, detail = shown_as(admin)
        who = f"{title} ({detail})" if admin.name else admin.email or admin.key
        return admins_card(self._repo.list_admins(), f"Added {who}.", good=True)

    async def admin_remove_step(self, turn: Turn) -> Card:
        key = _text(turn.data, "admin")
        gone = self._repo.find_admin(key)
        try:
            self._service.remove_admin(turn.user.key, key)
        except DomainError as exc:
            return admins_card(self._repo.list_admins(), exc.message)
        return admins_card(self._repo.list_admins(), f"Removed {shown_as(gone)[0] if gone else key}.", good=True)

    async def _who(self, turn: Turn, key: str) -> tuple[str, str]:
        """Name and email of the person an admin is adding: from the Teams roster (Teams takes an
        object id or a UPN), else from the chat they had with RoomBot; empty when neither knows."""
        if not key or len(key.split()) != 1:
            return "", ""
        member = await turn.roster.find(key)
        if member is not None and member.name:
            return member.name, member.email or member.upn
        reference = self._repo.get_conversation_reference(key.lower())
        person = reference.get("user") if isinstance(reference, dict) else None
        name = person.get("name") if isinstance(person, dict) else None
        return (name, "") if isinstance(name, str) else ("", "")
