"""A bot data folder for an organisation of a chosen size: connected to the sandbox's tenant, booking
on, `rooms` generated rooms on their floor plans, `people` who have talked to the bot (a
conversation reference and a time zone each) and `past_bookings` bookings they made before."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.fair_use import highest_limits
from domain.models import BOOKING_BOOKED, BOOKING_CANCELLED, Booking
from sandbox.bootstrap import register_rooms
from sandbox.seed import TENANT_ID, bench_person, generated_rooms
from storage.backends import TinyDbBackend
from storage.repository import Repository


def conversation_reference(number: int, service_url: str) -> dict[str, object]:
    aad, name, _upn, _email = bench_person(number)
    return {"user": {"id": f"29:bench-{number}", "name": name, "aadObjectId": aad},
            "bot": {"id": "28:roombot", "name": "RoomBot"},
            "conversation": {"id": f"a:bench-conversation-{number}", "conversationType": "personal",
                             "tenantId": TENANT_ID},
            "channelId": "msteams", "locale": "en-US", "serviceUrl": service_url}


def past_booking(n: int, people: int, rooms: int, now: datetime) -> Booking:
    number = 1 + n % people
    aad, _name, _upn, email = bench_person(number)
    start = (now - timedelta(days=1 + n % 365)).replace(hour=8 + n % 9, minute=0, second=0, microsecond=0)
    return Booking(id=f"past-{n:08d}", room_email=f"room{1 + n % rooms:05d}@example.com", event_id=f"past-event-{n}",
                   ical_uid=f"past-uid-{n}", booker_aad_id=aad, booker_email=email, start=start,
                   end=start + timedelta(minutes=30), subject="Weekly sync", attendees=(email,),
                   status=BOOKING_CANCELLED if n % 10 == 0 else BOOKING_BOOKED, created_at=start - timedelta(days=2),
                   zone="UTC", attempt_key=f"{aad}:past-{n}", transaction_id=f"past-{n}")


def prepare_org(data_dir: Path, *, rooms: int, people: int, past_bookings: int,
                service_url: str = "http://127.0.0.1:1") -> None:
    """Write the organisation's data (without flushing each file; one sync at the end; org.json once)."""
    backend = TinyDbBackend(data_dir, durable=False)
    repo = Repository(backend)
    try:
        with backend.org_written_once():
            seed_org(repo, rooms=rooms, people=people, past_bookings=past_bookings, service_url=service_url)
    finally:
        repo.close()
    os.sync()


def seed_org(repo: Repository, *, rooms: int, people: int, past_bookings: int, service_url: str) -> None:
    """The organisation's data in any repository: the same for TinyDB and PostgreSQL, so that a
    benchmark comparing them compares the stores, not what is in them."""
    # The highest fair-use limits: simulated users book and search far more than one person would.
    repo.save_settings(highest_limits(replace(repo.get_settings(), tenant_id=TENANT_ID, connected=True,
                                              booking_enabled=True)))
    register_rooms(repo, generated_rooms(rooms))
    for number in range(1, people + 1):  # each person's file written while it is open
        repo.save_conversation_reference(bench_person(number)[0], conversation_reference(number, service_url))
        repo.save_user_zone(bench_person(number)[0], "UTC")
    now = datetime.now(UTC)
    repo.import_bookings(past_booking(n, people, rooms, now) for n in range(past_bookings))
