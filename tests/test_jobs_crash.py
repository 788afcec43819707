"""Durable jobs survive kill -9: a process runs the scheduler over a TinyDB data folder and is killed
around the moment a job is due; a new process over the same folder then runs each job exactly once.

The child process sends "reminders" by appending a line to a file (flushed and fsynced), which is
what this test counts. Its clock is fake (given on the command line), so nothing sleeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DUE = datetime(2030, 1, 7, 8, 45, tzinfo=UTC)  # the reminder of a booking at 09:00

CHILD = textwrap.dedent('''
    import asyncio, os, signal, sys
    from datetime import datetime, timedelta
    from domain.jobs import JOB_REMIND, Job
    from services.attendance import Outcome
    from services.scheduler import Scheduler
    from storage.backends import TinyDbBackend
    from storage.repository import Repository

    folder, now, kill_at, sent_file = sys.argv[1], datetime.fromisoformat(sys.argv[2]), sys.argv[3], sys.argv[4]
    repo = Repository(TinyDbBackend(folder))
    start = datetime.fromisoformat("{start}")
    if not os.path.exists(os.path.join(folder, "seeded")):
        repo.put_jobs([Job(JOB_REMIND, "booking-1", start - timedelta(minutes=15), start),
                       Job(JOB_REMIND, "booking-2", start - timedelta(minutes=15), start)])
        open(os.path.join(folder, "seeded"), "w").close()
    if kill_at == "before-due":
        os.kill(os.getpid(), signal.SIGKILL)

    async def run(jobs):
        if kill_at == "after-claim":  # claimed (written), nothing sent yet
            os.kill(os.getpid(), signal.SIGKILL)
        with open(sent_file, "a") as f:
            for job in jobs:
                f.write(job.booking_id + "\\n")
            f.flush()
            os.fsync(f.fileno())
        return [Outcome.DONE for _ in jobs]

    scheduler = Scheduler(repo, run, lambda: now)
    print(asyncio.run(scheduler.run_due()))
    if kill_at == "after-finish":
        os.kill(os.getpid(), signal.SIGKILL)
''')


def _child(folder: Path, now: datetime, kill_at: str, sent: Path) -> subprocess.CompletedProcess[str]:
    code = CHILD.replace("{start}", (DUE + timedelta(minutes=15)).isoformat())
    return subprocess.run([sys.executable, "-c", code, str(folder), now.isoformat(), kill_at, str(sent)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def _sent(sent: Path) -> list[str]:
    return sorted(sent.read_text().split()) if sent.exists() else []


@pytest.mark.parametrize(("killed_at", "killed_when"), [
    ("before-due", DUE - timedelta(seconds=1)),  # killed just before the jobs came due
    ("after-claim", DUE),  # killed after taking them, before sending
    ("after-finish", DUE + timedelta(seconds=1)),  # killed right after they ran
])
def test_each_job_runs_exactly_once_across_a_kill_9(tmp_path: Path, killed_at: str, killed_when: datetime) -> None:
    folder, sent = tmp_path / "data", tmp_path / "sent.txt"
    folder.mkdir()
    first = _child(folder, killed_when, killed_at, sent)
    assert first.returncode == -signal.SIGKILL, first.stderr
    # The next start, a little later: whatever the first run left is run now, and only that.
    again = _child(folder, DUE + timedelta(minutes=2), "never", sent)
    assert again.returncode == 0, again.stderr
    assert _sent(sent) == ["booking-1", "booking-2"]
    # And a third start finds nothing left to do.
    third = _child(folder, DUE + timedelta(minutes=3), "never", sent)
    assert third.returncode == 0 and third.stdout.strip() == "0"
    assert _sent(sent) == ["booking-1", "booking-2"]


def test_a_claim_left_by_a_killed_run_is_logged_when_taken_again(tmp_path: Path) -> None:
    folder, sent = tmp_path / "data", tmp_path / "sent.txt"
    folder.mkdir()
    _child(folder, DUE, "after-claim", sent)
    again = _child(folder, DUE + timedelta(minutes=1), "never", sent)
    assert "taken by a run that stopped before finishing it" in again.stderr
    assert again.stdout.strip() == "2"
