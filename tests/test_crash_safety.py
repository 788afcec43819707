"""A kill -9 at any moment leaves every TinyDB file loadable, with every acknowledged write in it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from storage.backends import TinyDbBackend
from storage.repository import Repository

ROOT = Path(__file__).resolve().parent.parent

WRITER = """
import sys
from datetime import datetime, timedelta, timezone
sys.path.insert(0, {root!r})
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
