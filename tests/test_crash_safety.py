"""A kill -9 at any moment leaves every TinyDB file loadable, with every acknowledged write in it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.models import Booking
from storage.backends import TinyDbBackend
from storage.repository import Repository

ROOT = Path(__file__).resolve().parent.parent

WRITER = """
import sys
from datetime import datetime, timedelta, timezone
sys.path.insert(0, {root!r})
from domain.models import Booking
from datetime import UTC, datetime, timedelta

from domain.models import Booking
from storage.backends import TinyDbBackend
from storage.repository import Repository

repo = Repository(TinyDbBackend({folder!r}))
start = int(sys.argv[1])
t0 = datetime(2026, 11, 25, 9, tzinfo=timezone.utc)
for i in range(start, start + 100000):
    repo.add_booking(Booking(id=f"b{{i}}", room_email="r@example.com", event_id=f"e{{i}}", ical_uid=f"u{{i}}",
                             booker_aad_id="aad-1", booker_email="a@example.com", start=t0,
                             end=t0 + timedelta(minutes=30), subject="x" * 200))
    repo.save_conversation_reference(f"user-{{i % 50}}", {{"n": i}})
    print(f"ack {{i}}", flush=True)
"""


def test_kill_during_writes_loses_no_acknowledged_booking(tmp_path: Path, report: Callable[[str], None]) -> None:
    folder = tmp_path / "data"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT), folder=str(folder)))
    rng = random.Random(7)
    acknowledged: set[str] = set()
    next_id = 0
    kills = 0
    for _round in range(6):
        proc = subprocess.Popen([sys.executable, str(script), str(next_id)], stdout=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.3, 0.9))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        kills += 1
        acks = [line.split()[1] for line in out.splitlines() if line.startswith("ack ")]
        acknowledged.update(f"b{n}" for n in acks)
        next_id += 100000
        # A fresh process can load every file, and nothing acknowledged is missing.
        repo = Repository(TinyDbBackend(folder))
        stored = {b.id for b in repo.list_bookings_for_user("aad-1")}
        missing = acknowledged - stored
        assert not missing, f"acknowledged bookings lost after kill {kills}: {sorted(missing)[:5]}"
        repo.close()
    report(f"storage crash safety: {kills} kills, {len(acknowledged)} acknowledged bookings, 0 lost")
    assert len(acknowledged) > 20, "the writer barely wrote anything; the test proves nothing"


class _Crash(BaseException):
    """The process dies here (a kill -9 between two writes)."""


def _crash_at_write(repo: Repository, crash_at: int) -> list[int]:
    """Make the repository's `crash_at`-th partition write raise _Crash; returns the write counter."""
    writes = [0]
    for collection in (repo._bookings, repo._archive, repo._booking_index, repo._booking_days, repo._users):  # noqa: SLF001
        for name in ("put", "put_many", "delete", "delete_many"):
            setattr(collection, name, _counted(getattr(collection, name), writes, crash_at))
    return writes


def _counted(real: Callable[..., object], writes: list[int], crash_at: int) -> Callable[..., object]:
    def write(*args: object) -> object:
        writes[0] += 1
        if writes[0] == crash_at:
            raise _Crash
        return real(*args)
    return write


def test_a_crash_at_any_step_of_a_move_to_the_archive_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """Moving past bookings out of a person's partition spans several files. Cut it after each of its
    writes in turn: afterwards every booking is found once, as it was, and the next move finishes."""
    t0 = datetime(2026, 11, 25, 9, tzinfo=UTC)
    now = lambda: t0  # noqa: E731
    history = [Booking(id=f"b{n}", room_email="r@example.com", event_id=f"e{n}", ical_uid=f"u{n}",
                       booker_aad_id="aad-1", booker_email="a@example.com", start=t0 - timedelta(days=20 * n),
                       end=t0 - timedelta(days=20 * n, minutes=-30), subject=f"s{n}",
                       created_at=t0 - timedelta(days=200 - n), status="cancelled" if n == 1 else "booked")
               for n in range(5)]
    crash_at, cuts = 1, 0
    while True:
        folder = tmp_path / f"cut-{crash_at}"
        repo = Repository(TinyDbBackend(folder), clock=now)
        repo.import_bookings(history)
        writes = _crash_at_write(repo, crash_at)
        try:
            repo.list_bookings_for_user("aad-1")
        except _Crash:
            cuts += 1
        repo._backend.close()  # noqa: SLF001 - no clean close after a crash
        reopened = Repository(TinyDbBackend(folder), clock=now)
        assert reopened.list_bookings() == sorted(history, key=lambda b: (b.start, b.id)), crash_at
        assert [reopened.get_booking(b.id) for b in history] == history, crash_at
        assert [b.id for b in reopened.list_bookings_for_user("aad-1")] == ["b0"], crash_at  # the move finishes
        assert reopened.list_bookings() == sorted(history, key=lambda b: (b.start, b.id)), crash_at
        assert reopened.last_booking_for("aad-1") == history[4]  # the last made, archived or not
        reopened.close()
        if writes[0] < crash_at:  # the move finished before the cut: every step was cut once
            break
        crash_at += 1
    assert cuts >= 4, cuts  # archive months, the index, the last booking, the person's partition
