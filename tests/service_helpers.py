"""Shared pieces of the service tests: an organisation with the demo rooms, slots, a booking."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.calendar import TimeSlot
from sandbox.bootstrap import register_rooms
from sandbox.seed import EXTRA_ROOMS, demo_mailboxes
from services.booking import Booker, BookingOutcome, BookingService
from storage.backends import Backend, MemoryBackend
from storage.repository import Repository

ALEX = Booker(key="00000000-0000-0000-0000-0000000000020", email="alexw@example.com", name="Alex Wilber")
MEGAN = Booker(key="00000000-0000-0000-0000-0000000000021", email="meganb@example.com", name="Megan Bowen")
ZONE = "Europe/Helsinki"


def org_repo(*, rooms: list[Any] | None = None, backend: Backend | None = None) -> Repository:
    repo = Repository(backend or MemoryBackend())
    settings = repo.get_settings()
    repo.save_settings(replace(settings, tenant_id="t", connected=True, booking_enabled=True))
    special = {e.email for e in EXTRA_ROOMS}
    register_rooms(repo, rooms if rooms is not None else
                   [b for b in demo_mailboxes() if b.kind == "room" and b.email not in special])
    return repo


def slot_at(days: int = 1, hour: int = 9, minutes: int = 60) -> TimeSlot:
    start = (datetime.now(UTC) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return TimeSlot(start, start + timedelta(minutes=minutes))


def floor_id(repo: Repository, building: str, name: str) -> str:
    [b] = [b for b in repo.list_buildings() if b.name == building]
    return next(f.id for f in repo.list_floors(b.id) if f.name == name)


async def book(service: BookingService, room: str, slot: TimeSlot, booker: Booker = ALEX,
              attempt: str = "attempt-0001", **extra: Any) -> BookingOutcome:
    return await service.book(booker, room_email=room, start=slot.start, end=slot.end, zone=ZONE,
                              subject=extra.get("subject", "Sync"), participants=extra.get("participants", ""),
                              attempt=attempt)
