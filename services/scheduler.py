"""The durable scheduler: runs the repository's due jobs (reminders, releases) on an injected clock.

Jobs live in the repository, not in memory, so a restart or a crash loses none. A job that came due
while the bot was down runs when it is back, unless it is stale (its booking started, ended, moved or
was cancelled meanwhile): then it is dropped with a log line that says why (services.attendance).

Exactly once: a job is claimed (written with this run's id, in one statement that skips jobs another
run is claiming) before it runs and removed as soon as its wave of 20 has run, so no run takes it
twice. A claim is a lease: renewed while its batch runs; a claim left by a run that died (kill -9) is
taken over once it is older than the lease (with one process on TinyDB, at the next start). The one
window left is a crash after a reminder reached Teams and before its removal was written: on shared
data each reminder is written done as soon as Teams took it (services.attendance), so only the cards
then on the wire are sent again rather than lost; with one process on TinyDB, the waves under way (at
most WAVE x WAVES_AT_ONCE jobs)."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from domain.jobs import JOB_REMIND, Job
from services.attendance import Outcome
from storage.backends import StorageUnavailable
from storage.repository import Repository, one_turn

log = logging.getLogger(__name__)

BATCH = 200  # jobs taken at once (reminders of a batch are sent together, within Teams' limits)
WAVE = 20  # jobs of a batch run and written done together (one $batch read-back of 20 reminders)
WAVES_AT_ONCE = 4  # waves under way at once: enough to keep Teams' send rate busy
LOOKAHEAD = timedelta(minutes=2)  # how far ahead a burst of reminders is seen coming
TICK_S = 5.0  # the longest sleep: jobs written by another process are seen this soon
RETRY_AFTER = timedelta(seconds=30)  # first pause after a job could not run; doubles, with jitter
MAX_TRIES = 6  # then the job is dropped with a log line (about half an hour of trying)

Runner = Callable[[Sequence[Job]], Awaitable[list[Outcome]]]


class Scheduler:
    def __init__(self, repo: Repository, run: Runner, clock: Callable[[], datetime], *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, batch: int = BATCH,
                 tick_s: float = TICK_S, sends_per_s: float = 45.0, lease: timedelta = timedelta(0)) -> None:
        """`sends_per_s`: how many reminders Teams lets the bot send a second (TEAMS_SENDS_PER_SECOND):
        a burst of reminders due together starts as early as it needs to be sent by its due time.
        `lease`: how long another run's claim holds before this one takes the job over (0 with one
        process: a claim not this run's is a dead run's; with several instances, JOB_LEASE_S)."""
        self._repo = repo
        self._sends_per_s = sends_per_s
        self._run = run
        self._clock = clock
        self._sleep = sleep
        self._batch = batch
        self._tick_s = tick_s
        self._lease = lease
        self.run_id = uuid.uuid4().hex  # claims of this process
        self._unsettled: list[tuple[list[Job], list[Job]]] = []  # outcomes to write: (finished, to retry)

    async def run_due(self) -> int:
        """Run every job due now, batch after batch; returns how many were finished."""
        with one_turn():  # the organisation's data checked once a round, not on every read
            return await self._run_rounds()

    async def _run_rounds(self) -> int:
        finished = 0
        self._settle()  # what ran while the database was away, first (raises while it still is)
        while True:
            now = self._clock()
            claimed = self._claim(now)
            if not claimed:
                return finished
            for job in claimed:
                if job.taken_from:
                    log.warning("job %s was taken by a run that stopped before finishing it (%s); running it now",
                                job.key, job.taken_from[:12])
            heartbeat = asyncio.create_task(self._keep_claims(claimed)) if self._lease else None
            gate = asyncio.Semaphore(WAVES_AT_ONCE)
            try:
                done = await asyncio.gather(*(self._wave(claimed[i:i + WAVE], now, gate)
                                              for i in range(0, len(claimed), WAVE)))
            finally:
                if heartbeat is not None:
                    heartbeat.cancel()
            self._settle()  # a wave whose outcome met the database away: now, or at the next round
            finished += sum(done)
            if len(claimed) < self._batch:
                return finished

    async def _wave(self, jobs: list[Job], now: datetime, gate: asyncio.Semaphore) -> int:
        """Run a few of the claimed jobs and write their outcome as soon as they have run, so that a
        process killed in the middle of a burst repeats at most the waves under way, not the batch."""
        async with gate:
            try:
                outcomes = await self._run(jobs)
            except Exception:  # noqa: BLE001 - one bad wave must not stop every later job
                log.exception("a batch of %d jobs failed; trying them again later", len(jobs))
                outcomes = [Outcome.RETRY] * len(jobs)
        done = [j for j, o in zip(jobs, outcomes, strict=True) if o is Outcome.DONE]
        again = [j for j, o in zip(jobs, outcomes, strict=True) if o is Outcome.RETRY]
        given_up = [j for j in again if j.tries + 1 >= MAX_TRIES]
        for job in given_up:
            log.warning("dropped job %s after %d tries", job.key, job.tries + 1)
        self._unsettled.append((done + given_up, [j.retried(now + _pause(j.tries)) for j in again
                                                  if j not in given_up]))
        try:
            self._settle()
        except StorageUnavailable:
            log.warning("the outcome of %d jobs is written once the database is back", len(jobs))
        return len(done)

    def _settle(self) -> None:
        """Write the outcomes of the batches that ran. One that meets the database away is kept and written
        at the next round, before anything new is claimed: otherwise its jobs would stay under this run's
        claim (a run never takes its own claims again) until another instance took them over after the
        lease, and sent its reminders a second time."""
        while self._unsettled:
            finished, again = self._unsettled[0]
            self._repo.finish_jobs(finished)
            self._repo.retry_jobs(again)
            self._unsettled.pop(0)

    async def _keep_claims(self, jobs: list[Job]) -> None:
        """While a batch runs (many releases against a slow Graph can outlast the lease), renew its
        claims every third of the lease, so no other instance takes over a job still running here."""
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)  # real time, as the lease is the database's
            try:
                self._repo.renew_claims(jobs, self.run_id, self._clock())
            except Exception:  # noqa: BLE001 - a missed renewal only risks a takeover, logged there
                log.warning("could not renew the claims of %d running jobs", len(jobs), exc_info=True)

    def _claim(self, now: datetime) -> list[Job]:
        """Claim the jobs to run now: those due, and reminders of a burst early enough that all of them
        can be sent by their due time at Teams' rate (2,000 due at 09:45 start about 40 s before; a lone
        reminder goes at its time). Releases are never early: check-in is open until they are due.
        The claim is one statement, so of several instances each job goes to one."""
        coming = self._repo.due_jobs(now + LOOKAHEAD, limit=100_000)
        reminders_ahead = sum(1 for j in coming if j.kind == JOB_REMIND and j.due > now and not j.claim)
        lead = timedelta(seconds=reminders_ahead / self._sends_per_s) if reminders_ahead > 1 else timedelta(0)
        return self._repo.claim_jobs(now, owner=self.run_id, reminders_until=now + lead, lease=self._lease,
                                     limit=self._batch)

    async def run_forever(self) -> None:
        """Run due jobs until cancelled, sleeping until the next is due (at most `tick_s`)."""
        while True:
            try:
                await self.run_due()
                upcoming = self._repo.next_job_due(self._clock())
            except StorageUnavailable as exc:  # a restart or failover: expected now and then, no traceback
                log.warning("the scheduler skipped a round: %s", exc)
                upcoming = None
            except Exception:  # noqa: BLE001 - the loop must outlive anything else too
                log.exception("the scheduler failed a round; going on")
                upcoming = None
            wait = self._tick_s
            if upcoming is not None:
                wait = min(wait, max(0.0, (upcoming - self._clock()).total_seconds()))
            await self._sleep(max(wait, 0.05))


def _pause(tries: int) -> timedelta:
    """Exponential backoff with full jitter."""
    ceiling = RETRY_AFTER * (2 ** min(tries, 5))
    return timedelta(seconds=random.uniform(RETRY_AFTER.total_seconds(), ceiling.total_seconds()))
