"""Prepare the bot's own data for the sandbox: the demo tenant connected, booking on, and the
demo rooms registered on their floor plans, so a new user can book at once."""

from __future__ import annotations

from dataclasses import replace

from domain.errors import Conflict
from domain.models import Room
from sandbox.seed import BUILDINGS, TENANT_ID, demo_mailboxes
from storage.repository import Repository


def prepare_demo_org(repo: Repository) -> None:
    settings = repo.get_settings()
    if settings.tenant_id != TENANT_ID:
        # First start on the sandbox: connect it and switch booking on. Later starts keep what
        # an admin changed (booking switched off, say).
        repo.save_settings(replace(settings, tenant_id=TENANT_ID, connected=True, booking_enabled=True))
    if repo.list_rooms():
        return
    boxes = {b.email: b for b in demo_mailboxes()}
    for building_name, _room_list, floors in BUILDINGS:
        building = next((b for b in repo.list_buildings() if b.name == building_name), None) \
            or repo.add_building(building_name)
        for number, label, rooms in floors:
            floor = next((f for f in repo.list_floors(building.id) if f.name == label), None) \
                or repo.add_floor(building.id, label, number)
            for local, *_ in rooms:
                box = boxes[f"{local}@example.com"]
                features = [*box.tags, *(["video"] if box.video else []), *(["display"] if box.display else [])]
                try:
                    repo.add_room(Room(email=box.email, display_name=box.display_name, building_id=building.id,
                                       floor_id=floor.id, capacity=box.capacity, features=tuple(features)))
                except Conflict:
                    pass
