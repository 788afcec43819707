"""Claims on jobs across scheduler runs: a live run keeps its claims, a dead run's are taken over."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from domain.jobs import JOB_RELEASE, Job
from services.attendance import Outcome
from services.scheduler import Scheduler
from storage.backends import MemoryBackend
from storage.repository import Repository


def _now() -> datetime:
    return datetime.now(UTC)


async def test_a_batch_that_outlasts_the_lease_keeps_its_claims_and_runs_once() -> None:
    repo = Repository(MemoryBackend(), clock=_now)
    start = _now() + timedelta(minutes=5)
    repo.put_jobs([Job(kind=JOB_RELEASE, booking_id=f"b{i}", due=_now() - timedelta(seconds=1), for_start=start)
                   for i in range(3)])
    runs: list[str] = []
    lease = timedelta(seconds=0.3)

    async def slow(jobs: Sequence[Job]) -> list[Outcome]:  # a slow Graph: three times the lease
        runs.extend(j.booking_id for j in jobs)
        await asyncio.sleep(0.9)
        return [Outcome.DONE] * len(jobs)

    async def quick(jobs: Sequence[Job]) -> list[Outcome]:
        runs.extend(j.booking_id for j in jobs)
        return [Outcome.DONE] * len(jobs)

    first = Scheduler(repo, slow, _now, lease=lease)
    second = Scheduler(repo, quick, _now, lease=lease)
    running = asyncio.create_task(first.run_due())
    for _ in range(8):  # the other instance keeps looking while the first runs
        await asyncio.sleep(0.1)
        assert await second.run_due() == 0
    assert await running == 3
    assert sorted(runs) == ["b0", "b1", "b2"]  # each once
    assert repo.due_jobs(_now()) == []


async def test_a_dead_runs_claims_are_taken_over_once_the_lease_runs_out() -> None:
    repo = Repository(MemoryBackend(), clock=_now)
    start = _now() + timedelta(minutes=5)
    repo.put_jobs([Job(kind=JOB_RELEASE, booking_id="b0", due=_now() - timedelta(seconds=1), for_start=start)])
    assert [j.booking_id for j in repo.claim_jobs(_now(), owner="dead run")] == ["b0"]  # then it died
    ran: list[Job] = []

    async def run(jobs: Sequence[Job]) -> list[Outcome]:
        ran.extend(jobs)
        return [Outcome.DONE] * len(jobs)

    survivor = Scheduler(repo, run, _now, lease=timedelta(seconds=0.3))
    assert await survivor.run_due() == 0  # the claim is fresh: the dead run might be alive
    await asyncio.sleep(0.4)
    assert await survivor.run_due() == 1
    assert [(j.booking_id, j.taken_from) for j in ran] == [("b0", "dead run")]


async def test_jobs_are_written_done_wave_by_wave_so_a_kill_repeats_only_the_waves_under_way() -> None:
    repo = Repository(MemoryBackend(), clock=_now)
    start = _now() + timedelta(minutes=5)
    repo.put_jobs([Job(kind=JOB_RELEASE, booking_id=f"b{i:02d}", due=_now() - timedelta(seconds=60 - i),
                       for_start=start) for i in range(60)])
    hang = asyncio.Event()

    async def run(jobs: Sequence[Job]) -> list[Outcome]:
        if jobs[0].booking_id != "b00":  # the later waves are still under way when the process dies
            await hang.wait()
        return [Outcome.DONE] * len(jobs)

    running = asyncio.create_task(Scheduler(repo, run, _now).run_due())
    await asyncio.sleep(0.2)
    running.cancel()  # as good as a kill -9 here: nothing after this point is written
    left = {j.booking_id for j in repo.due_jobs(_now())}
    assert left == {f"b{i:02d}" for i in range(20, 60)}  # the first wave of 20 is done and gone
