"""Prepare the bot's own data for the sandbox: the demo tenant connected, booking on, and the
demo rooms registered on their floor plans, so a new user can book at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from domain.models import Room
from domain.rules import RoomRules
from sandbox.seed import EXTRA_ROOMS, TENANT_ID, Mailbox, demo_mailboxes
from storage.repository import Repository

DEMO_RULES = RoomRules(hours_start="00:00", hours_end="24:00", days=(0, 1, 2, 3, 4, 5, 6), bookers=(),
                       checkin_required=True, auto_release=True, release_after_min=10, never_release=False)


def prepare_demo_org(repo: Repository) -> None:
    settings = repo.get_settings()
    if settings.tenant_id != TENANT_ID:
        # First start on the sandbox: connect it and switch booking on, with the people picker (the demo
        # tenant consented to User.Read.All). Later starts keep what an admin changed (booking switched
        # off, say).
        # Check-in and auto-release are on, with rules that allow every hour of every day, so that the
        # demo works whenever someone tries it.
        repo.save_settings(replace(settings, tenant_id=TENANT_ID, connected=True, booking_enabled=True,
                                   people_picker=True, default_rules=DEMO_RULES))
    if repo.list_rooms():
        return
    # The special rooms (policy-denied, not in Places, no Exchange Online mailbox) are for admins to try by hand.
    special = {e.email for e in EXTRA_ROOMS}
    register_rooms(repo, (b for b in demo_mailboxes() if b.kind == "room" and b.email not in special))


def register_rooms(repo: Repository, boxes: Iterable[Mailbox]) -> int:
    """Register sandbox room mailboxes on floor plans named after their Places building and floor,
    as an admin would. Returns how many were added."""
    buildings = {b.name: b for b in repo.list_buildings()}
    floors = {(f.building_id, f.name): f for f in repo.list_floors()}
    rooms: dict[str, Room] = {}
    for box in boxes:
        if box.email in rooms or repo.get_room(box.email) is not None:
            continue
        building = buildings.get(box.building) or repo.add_building(box.building)
        buildings[building.name] = building
        key = (building.id, box.floor_label)
        floor = floors.get(key) or repo.add_floor(building.id, box.floor_label, box.floor_number or 0)
        floors[key] = floor
        features = [*box.tags, *(["video"] if box.video else []), *(["display"] if box.display else [])]
        rooms[box.email] = Room(email=box.email, display_name=box.display_name, building_id=building.id,
                                floor_id=floor.id, capacity=box.capacity, features=tuple(features))
    return repo.add_rooms(rooms.values())
