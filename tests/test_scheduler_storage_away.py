"""The database away while a batch of jobs runs: what the batch did is written once it is back, by the
same run, at its next round; the jobs are neither stuck under its claim nor run again by another."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from domain.jobs import JOB_REMIND, Job
from services.attendance import Outcome
from services.scheduler import Scheduler
from storage.backends import MemoryBackend, StorageUnavailable
from storage.repository import Repository


def _now() -> datetime:
    return datetime.now(UTC)


class AwayForARound(Repository):
    """A repository whose database is away for the rest of the round that ran the batch: the first two
    writes of its outcome (as its wave ends, and again as the round ends) fail."""

    away_for = 2

    def finish_jobs(self, jobs: object) -> None:
        if self.away_for:
            self.away_for -= 1
            raise StorageUnavailable("the database went away: server closed the connection unexpectedly")
        super().finish_jobs(jobs)  # type: ignore[arg-type]


@pytest.mark.parametrize("lease", [timedelta(0), timedelta(seconds=120)])  # one instance; several
async def test_a_batch_whose_outcome_meets_the_database_away_is_settled_when_it_is_back(lease: timedelta) -> None:
    repo = AwayForARound(MemoryBackend(), clock=_now)
    start = _now() + timedelta(minutes=1)
    repo.put_jobs([Job(kind=JOB_REMIND, booking_id=f"b{i}", due=_now() - timedelta(seconds=1), for_start=start)
                   for i in range(3)])
    sent: list[str] = []

    async def remind(jobs: Sequence[Job]) -> list[Outcome]:  # the reminders reach Teams
        sent.extend(j.booking_id for j in jobs)
        return [Outcome.DONE] * len(jobs)

    scheduler = Scheduler(repo, remind, _now, lease=lease)
    with pytest.raises(StorageUnavailable):
        await scheduler.run_due()  # sent; their removal could not be written
    assert await scheduler.run_due() == 0  # back: nothing runs again ...
    assert repo.due_jobs(_now() + timedelta(hours=1)) == []  # ... and the jobs are gone, not left claimed
    other = Scheduler(repo, remind, lambda: _now() + lease + timedelta(seconds=1), lease=lease)
    assert await other.run_due() == 0  # another instance, after the lease, finds nothing to take over
    assert sorted(sent) == ["b0", "b1", "b2"]  # each sent once
