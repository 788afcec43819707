"""Admins' booking rules: a room's (`rooms` -> a room -> Rules), the organisation's defaults (the same
card with scope "org", also reached from settings), and a building's time zone. RoomBot lets only admins
reach these steps; the room and building are looked up again, whatever the card said."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cards.base import Card
from cards.rules import rules_card
from dialogs.turn import Step, Turn
from domain.errors import DomainError, NotFound
from domain.models import Room
from domain.rules import describe, effective_rules
from domain.timezones import first_zone
from services.rules import FIELDS, RulesService
from storage.repository import Repository

ORG = "org"


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return str(value).strip()[:4000] if isinstance(value, str | int | float) and not isinstance(value, bool) else ""


class RulesFlow:
    def __init__(self, service: RulesService, repo: Repository, default_zone: str, *,
                 floor: Callable[[str, str | None, bool], Card], plans: Callable[[str | None, bool], Card]) -> None:
        self._service = service
        self._repo = repo
        self._default_zone = default_zone
        self._floor = floor  # the floor card (floor id, note, good), as the admin flow shows it
        self._plans = plans  # the floor plans card (note, good)

    def actions(self) -> dict[str, Step]:
        return {"rules_edit": self.edit_step, "rules_save": self.save_step, "building_zone": self.zone_step}

    def _zone(self, room: Room) -> str:
        building = next((b for b in self._repo.list_buildings() if b.id == room.building_id), None)
        return first_zone(building.zone if building else "", self._default_zone)

    def _card(self, room: Room | None, note: str | None = None, good: bool = False,
              typed: dict[str, str] | None = None) -> Card:
        zone = self._zone(room) if room is not None else self._default_zone
        return rules_card(room, self._service.defaults(), zone, note, good, typed)

    async def edit_step(self, turn: Turn) -> Card:
        if _text(turn.data, "scope") == ORG:
            return self._card(None)
        try:
            return self._card(self._service.room(turn.data.get("room")))
        except NotFound as exc:
            return self._plans(exc.message, False)

    async def save_step(self, turn: Turn) -> Card:
        """Nothing is saved unless every value is valid; the card comes back with what was typed."""
        typed = {name: _text(turn.data, name) for name in FIELDS}
        if _text(turn.data, "scope") == ORG:
            try:
                rules = self._service.save_org(turn.user.key, typed)
            except DomainError as exc:
                return self._card(None, f"Nothing was saved: {exc.message}", typed=typed)
            return self._card(None, f"Saved. Rooms follow these unless they have their own: {describe(rules)}.",
                              good=True)
        try:
            room = self._service.room(turn.data.get("room"))
        except NotFound as exc:
            return self._plans(exc.message, False)
        try:
            room = self._service.save_room(turn.user.key, room.email, typed)
        except DomainError as exc:
            return self._card(room, f"Nothing was saved: {exc.message}", typed=typed)
        rules = effective_rules(self._service.defaults(), room.rules)
        return self._floor(room.floor_id, f"Saved {room.display_name}'s rules: {describe(rules)} "
                                          f"({self._zone(room)}).", True)

    async def zone_step(self, turn: Turn) -> Card:
        building_id = _text(turn.data, "building")
        try:
            building = self._service.set_zone(turn.user.key, building_id, _text(turn.data, f"zone-{building_id}"))
        except DomainError as exc:
            return self._plans(exc.message, False)
        return self._plans(f"{building.name} is in {building.zone or f'{self._default_zone} (the default)'}: its "
                           f"rooms' allowed hours are read there.", True)
