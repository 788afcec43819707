"""Growth per person: what a person's booking and `my bookings` storage path costs with 10 and with
1,000 bookings behind them, in process, on the TinyDB backend syncing every write as the bot does.
With the archive (past bookings leave the person's own file) and, for comparison, without it."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.models import BOOKING_BOOKED, BOOKING_CANCELLED, BOOKING_PENDING, Booking
from sandbox.seed import bench_person
from storage.backends import TinyDbBackend
from storage.repository import Repository

RECENT = 5  # of a person's past bookings, those of the last month: the same few, whatever the history


def _past(n: int, person: str, email: str, now: datetime) -> Booking:
    """A person's past booking: RECENT of them in the last month, the others before (a week-day each)."""
    days = 2 + 5 * n if n < RECENT else 31 + n
    start = (now - timedelta(days=days)).replace(hour=9 + n % 8, minute=0, second=0, microsecond=0)
    return Booking(id=f"{person}-past-{n}", room_email=f"room{1 + n % 50:05d}@example.com", event_id=f"past-event-{n}",
                   ical_uid=f"past-uid-{n}", booker_aad_id=person, booker_email=email, start=start,
                   end=start + timedelta(minutes=30), subject="Weekly sync", attendees=(email,),
                   status=BOOKING_CANCELLED if n % 10 == 9 else BOOKING_BOOKED, created_at=start - timedelta(days=2),
                   zone="UTC", attempt_key=f"{person}:past-{n}")


def _turns(repo: Repository, person: str, email: str, rounds: int) -> tuple[list[float], list[float]]:
    """The storage calls of `rounds` booking turns and `my bookings` turns; ms each."""
    booking, listing = [], []
    now = datetime.now(UTC)
    for n in range(rounds):
        began = time.perf_counter()
        repo.last_booking_for(person)  # the search favours where the person last met
        attempt = f"{person}:bench-card-{n}"
        if repo.get_booking_by_attempt(person, attempt) is None:  # the card did not book already
            start = (now + timedelta(days=1 + n)).replace(minute=0, second=0, microsecond=0)
            made = repo.add_booking(Booking(
                id=f"bench-{n}", room_email="room00001@example.com", event_id="", ical_uid="", booker_aad_id=person,
                booker_email=email, start=start, end=start + timedelta(minutes=30), subject="Benchmark",
                attendees=(email,), status=BOOKING_PENDING, created_at=now, zone="UTC", attempt_key=attempt))
            repo.update_booking(replace(made, event_id=f"event-{n}", status=BOOKING_BOOKED))
        booking.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        repo.list_bookings_for_user(person)
        listing.append((time.perf_counter() - began) * 1000)
    return booking, listing


def measure(folder: Path, history: int, rounds: int, *, archive: bool) -> tuple[float, float, float]:
    """(booking path ms, my-bookings path ms, the first meeting's ms) for a person with `history`
    past bookings, medians over `rounds` turns."""
    data = folder / f"history-{history}-{'archive' if archive else 'kept'}"
    person, _name, _upn, email = bench_person(1)
    seed = Repository(TinyDbBackend(data, durable=False), archive_after_days=None)
    now = datetime.now(UTC)
    seed.import_bookings(_past(n, person, email, now) for n in range(history))
    seed.close()
    repo = Repository(TinyDbBackend(data), archive_after_days=30 if archive else None)
    try:
        began = time.perf_counter()
        repo.list_bookings_for_user(person)
        while archive and any(b.end < now - timedelta(days=30) for b in repo.list_bookings_for_user(person)):
            pass  # a long history leaves over a few turns
        first = (time.perf_counter() - began) * 1000
        booking, listing = _turns(repo, person, email, rounds)
    finally:
        repo.close()
    return sorted(booking)[len(booking) // 2], sorted(listing)[len(listing) // 2], first
